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
// silently into an empty string.
func interpolate(n *yaml.Node, env Env, d *decoder) {
	if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "$") {
		out, err := expand(n.Value, env)
		if err != nil {
			d.fail(n, "", "%v", err)
			n.Tag = badTag
			return
		}
		if out != n.Value {
			n.Value = out
			if n.Tag == "!!null" {
				n.Tag = "!!str"
			}
		}
	}
	for _, c := range n.Content {
		interpolate(c, env, d)
	}
}

func expand(s string, env Env) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
			continue
		case '{':
		default:
			b.WriteByte(c)
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated ${ in %q", s)
		}
		expr := s[i+2 : i+end]
		name, def, hasDef := strings.Cut(expr, ":-")
		if !validEnvName(name) {
			return "", fmt.Errorf("invalid variable name %q in ${%s} (use letters, digits and _; write $$ for a literal $)", name, expr)
		}
		v, ok := env(name)
		switch {
		case ok && (v != "" || !hasDef):
			b.WriteString(v)
		case hasDef:
			b.WriteString(def)
		default:
			return "", fmt.Errorf("environment variable %s is not set (set it, or give a default: ${%s:-value})", name, name)
		}
		i += end
	}
	return b.String(), nil
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
