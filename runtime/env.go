package runtime

import (
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// Env looks up variables for ${NAME} interpolation; os.LookupEnv by default.
type Env func(name string) (string, bool)

// interpolate replaces ${NAME} and ${NAME:-default} in every scalar of the
// tree; $$ stands for a literal $. An unset variable without a default is an
// error at the scalar that names it: a secret or address must never turn
// silently into an empty string. Every scalar that named a variable is
// recorded, with whether any of its text still came from the file, so that
// errors inside it are not placed by offsets into text the file does not
// hold, and a secret written into the file is told from one taken from the
// environment.
func (l *loader) interpolate(n *yaml.Node, d *decoder) {
	if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "$") {
		out, x, named, err := expand(n.Value, l.opts.Env)
		if err != nil {
			d.fail(n, "", "%v", err)
			n.Tag = badTag
			return
		}
		if named {
			if l.expanded == nil {
				l.expanded = map[*yaml.Node]expansion{}
			}
			l.expanded[n] = x
		}
		if out != n.Value {
			n.Value = out
			if n.Tag == "!!null" {
				n.Tag = "!!str"
			}
		}
	}
	for _, c := range n.Content {
		l.interpolate(c, d)
	}
}

// expansion is what ${...} made of a scalar: whether some of its text is
// still the file's (outside ${...}), and which variable's default written
// in the file was used, if any.
type expansion struct {
	literal   bool
	defaulted string
}

// expand interpolates s; named reports whether s names a variable at all.
func expand(s string, env Env) (out string, x expansion, named bool, err error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			x.literal = true
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			x.literal = true
			i++
			continue
		case '{':
		default:
			b.WriteByte(c)
			x.literal = true
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", x, false, fmt.Errorf("unterminated ${ in %q", s)
		}
		named = true
		expr := s[i+2 : i+end]
		name, def, hasDef := strings.Cut(expr, ":-")
		if !validEnvName(name) {
			return "", x, false, fmt.Errorf("invalid variable name %q in ${%s} (use letters, digits and _; write $$ for a literal $)", name, expr)
		}
		v, ok := env(name)
		switch {
		case ok && (v != "" || !hasDef):
			b.WriteString(v)
		case hasDef:
			b.WriteString(def)
			if def != "" {
				x.defaulted = name
			}
		default:
			return "", x, false, fmt.Errorf("environment variable %s is not set (set it, or give a default: ${%s:-value})", name, name)
		}
		i += end
	}
	return b.String(), x, named, nil
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z') || (i > 0 && r >= '0' && r <= '9')) {
			return false
		}
	}
	return true
}

// OSEnv is the process environment.
func OSEnv(name string) (string, bool) { return os.LookupEnv(name) }
