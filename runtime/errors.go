package runtime

import (
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Pos is a place in a YAML file.
type Pos struct {
	File      string
	Line, Col int
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// ConfigError is one mistake in an application's YAML: where it is, which
// node it concerns and what is wrong.
type ConfigError struct {
	Pos  Pos
	Path string // the node: a component path and/or a key path, e.g. "Plant.Pump: parameters.K"
	Msg  string
	// Instance, for a mistake in a model file, names the model instance
	// it was found in and where that instance is written, since the
	// model's line is the same for all of them.
	Instance string
}

func (e *ConfigError) Error() string {
	s := fmt.Sprintf("%s: %s", e.Pos, e.Msg)
	if e.Path != "" {
		s = fmt.Sprintf("%s: %s: %s", e.Pos, e.Path, e.Msg)
	}
	if e.Instance != "" {
		s += " (" + e.Instance + ")"
	}
	return s
}

// ConfigErrors is every mistake found in one load, in file order. Loading
// does not stop at the first mistake, so a user fixes them all in one pass.
type ConfigErrors []*ConfigError

func (es ConfigErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// sorted orders errors by file, line and column and drops exact duplicates.
func (es ConfigErrors) sorted() ConfigErrors {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i].Pos, es[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	out := es[:0]
	for i, e := range es {
		if i > 0 && e.Error() == es[i-1].Error() {
			continue
		}
		out = append(out, e)
	}
	return out
}

// errs collects ConfigErrors during a load.
type errs struct {
	list ConfigErrors
	// guessed holds, per mapping, the keys an unknown key was taken for
	// ("typ" for "type"): that key is then not reported missing as well.
	guessed map[guess]bool
}

type guess struct {
	m   *yaml.Node
	key string
}

func (c *errs) guess(m *yaml.Node, key string) {
	if c.guessed == nil {
		c.guessed = map[guess]bool{}
	}
	c.guessed[guess{m, key}] = true
}

// misspelt reports whether an unknown key of m was taken for key.
func (c *errs) misspelt(m *yaml.Node, key string) bool { return c.guessed[guess{m, key}] }

func (c *errs) add(pos Pos, path, format string, args ...any) {
	c.list = append(c.list, &ConfigError{Pos: pos, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (c *errs) err() error {
	if len(c.list) == 0 {
		return nil
	}
	return c.list.sorted()
}

// suggest returns ` (did you mean "x"?)` when a known name is close to the
// unknown one, so a typo is fixed without opening the docs.
func suggest(unknown string, known []string) string {
	return suggestion(closest(unknown, known))
}

// Suggest is suggest for tools built on the runtime (the YAML test runner),
// so that they correct a typo the way the loader does.
func Suggest(unknown string, known []string) string { return suggest(unknown, known) }

// closest returns the known name within two edits of unknown, or "".
func closest(unknown string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := editDistance(strings.ToLower(unknown), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	return best
}

func suggestion(best string) string {
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
