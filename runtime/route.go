package runtime

// route is one `inputs:` entry: a sink signal and the path of its source.
type route struct {
	sink    string // input name
	text    string // source path as written
	delayed bool
	pos     Pos
	remote  bool // the source is in another application
}
