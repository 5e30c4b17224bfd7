package signals

// Feed writes a sample that arrived from outside the application (a route
// from another application) into input dst, as a route's Latch does: value,
// quality and the source's time at once, with the input marked fresh. It
// runs on the input's rate group, at the tick boundary.
//
// Nothing is converted: a value of another kind than the input's leaves the
// input's value as it was, with quality BadInput, since a remote source
// that announces another type is a mistake to see, not a value to guess
// at. A sample without a value (kind Invalid: never received, or lost)
// changes only the quality. Either way the input keeps its value's time
// (0 if it never had one), so a signal that never got a reading is known
// as such whatever its quality. It allocates nothing.
func Feed(dst Port, v Value, q Quality, stamp int64) {
	switch s := dst.(type) {
	case *Signal[bool]:
		feed(s, v, q, stamp)
	case *Signal[int64]:
		feed(s, v, q, stamp)
	case *Signal[uint64]:
		feed(s, v, q, stamp)
	case *Signal[float64]:
		feed(s, v, q, stamp)
	case *Signal[string]:
		feed(s, v, q, stamp)
	}
}

func feed[T Scalar](s *Signal[T], v Value, q Quality, stamp int64) {
	// Without a usable value the signal keeps its value and that value's
	// time: a time stamp belongs to a reading, so a signal that never got
	// one keeps stamp 0 whatever its quality.
	switch {
	case v.kind == Invalid:
	case v.kind != s.info.Kind:
		q = BadInput
	default:
		s.v, _ = As[T](v)
		s.stamp = stamp
	}
	s.q = q
	s.seq++
	s.fresh = true
}

// Unfed clears the fresh flag of an input fed by Feed on a tick when
// nothing arrived, as a route's Latch does when its source did not change.
func Unfed(dst Port) {
	switch s := dst.(type) {
	case *Signal[bool]:
		s.fresh = false
	case *Signal[int64]:
		s.fresh = false
	case *Signal[uint64]:
		s.fresh = false
	case *Signal[float64]:
		s.fresh = false
	case *Signal[string]:
		s.fresh = false
	}
}
