package apptest

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/metronome-rt/metronome/runtime"
)

// file is a test file as written.
type file struct {
	name  string
	app   *yaml.Node // the application's path
	env   map[string]string
	tests []*test
}

// test is one entry of `tests:`.
type test struct {
	name  string
	pos   runtime.Pos
	steps []*step
}

// step is one entry of `steps:`: an action, and for step and advance the
// assertions checked after every tick on the way.
type step struct {
	n      int    // 1-based place in the test
	action string // set, inject, step, advance, expect, published, ack
	pos    runtime.Pos
	arg    *yaml.Node
	always *yaml.Node
}

var actions = []string{"set", "inject", "step", "advance", "expect", "published", "ack"}

// problems collects the mistakes of a test file, each at its place.
type problems struct {
	file  string
	list  []string // "file:line:col: message"
	nodes []*yaml.Node
	msgs  []string
}

func (p *problems) at(n *yaml.Node, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.list = append(p.list, fmt.Sprintf("%s: %s", p.pos(n), msg))
	p.nodes = append(p.nodes, n)
	p.msgs = append(p.msgs, msg)
}

func (p *problems) pos(n *yaml.Node) runtime.Pos {
	return runtime.Pos{File: p.file, Line: n.Line, Col: n.Column}
}

// keys checks that mapping m has only the given keys and returns them by
// name, reporting unknown and repeated keys.
func (p *problems) keys(m *yaml.Node, what string, known ...string) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	if m.Kind != yaml.MappingNode {
		p.at(m, "%s: want a mapping, got %s", what, describe(m))
		return out
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if _, dup := out[k.Value]; dup {
			p.at(k, "%s: %s is given twice", what, k.Value)
			continue
		}
		if !contains(known, k.Value) {
			p.at(k, "%s: unknown key %q%s", what, k.Value, hint(k.Value, known))
			continue
		}
		out[k.Value] = m.Content[i+1]
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// hint names the known key closest to a misspelt one, or all of them.
func hint(s string, known []string) string {
	if h := runtime.Suggest(s, known); h != "" {
		return h
	}
	sorted := append([]string(nil), known...)
	sort.Strings(sorted)
	return " (keys: " + strings.Join(sorted, ", ") + ")"
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	if n.Tag == "!!null" {
		return "nothing"
	}
	return fmt.Sprintf("%q", n.Value)
}

func scalar(n *yaml.Node) bool { return n != nil && n.Kind == yaml.ScalarNode && n.Tag != "!!null" }

// parse reads a test file. Mistakes in its form are reported here; what
// its paths and values mean is checked against the application.
func parse(name string, data []byte, p *problems) *file {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		p.list = append(p.list, fmt.Sprintf("%s:1:1: %v", name, err))
		return nil
	}
	if len(doc.Content) == 0 {
		p.list = append(p.list, name+":1:1: the file is empty")
		return nil
	}
	root := doc.Content[0]
	f := &file{name: name}
	top := p.keys(root, "test file", "app", "env", "tests")
	if root.Kind != yaml.MappingNode {
		return nil
	}
	switch app := top["app"]; {
	case app == nil:
		p.at(root, "missing key \"app\": the application under test, relative to this file")
	case !scalar(app) || app.Value == "":
		p.at(app, "app: want the application's file, got %s", describe(app))
	default:
		f.app = app
	}
	if env := top["env"]; env != nil {
		f.env = map[string]string{}
		for k, v := range p.keys(env, "env", mapKeys(env)...) {
			if !scalar(v) && !(v.Kind == yaml.ScalarNode && v.Value == "") {
				p.at(v, "env.%s: want a text value, got %s", k, describe(v))
				continue
			}
			f.env[k] = v.Value
		}
	}
	tests := top["tests"]
	switch {
	case tests == nil:
		p.at(root, "missing key \"tests\": a list of tests, each with a name and steps")
	case tests.Kind != yaml.SequenceNode || len(tests.Content) == 0:
		p.at(tests, "tests: want a list of tests, got %s", describe(tests))
	default:
		seen := map[string]*yaml.Node{}
		for _, tn := range tests.Content {
			t := parseTest(tn, p)
			if t == nil {
				continue
			}
			if prev, dup := seen[t.name]; dup {
				p.at(tn, "test %q: the name is taken by the test on line %d", t.name, prev.Line)
				continue
			}
			seen[t.name] = tn
			f.tests = append(f.tests, t)
		}
	}
	return f
}

func mapKeys(m *yaml.Node) []string {
	var out []string
	for i := 0; m.Kind == yaml.MappingNode && i+1 < len(m.Content); i += 2 {
		out = append(out, m.Content[i].Value)
	}
	return out
}

func parseTest(n *yaml.Node, p *problems) *test {
	k := p.keys(n, "test", "name", "steps")
	if n.Kind != yaml.MappingNode {
		return nil
	}
	t := &test{pos: p.pos(n)}
	switch name := k["name"]; {
	case name == nil:
		p.at(n, "test: missing key \"name\"")
		return nil
	case !scalar(name) || strings.TrimSpace(name.Value) == "":
		p.at(name, "test: name: want a text, got %s", describe(name))
		return nil
	default:
		t.name = name.Value
	}
	steps := k["steps"]
	if steps == nil || steps.Kind != yaml.SequenceNode || len(steps.Content) == 0 {
		at := n
		if steps != nil {
			at = steps
		}
		p.at(at, "test %q: steps: want a list of steps (%s)", t.name, strings.Join(actions, ", "))
		return t
	}
	for i, sn := range steps.Content {
		s := &step{n: i + 1, pos: p.pos(sn)}
		what := fmt.Sprintf("test %q: step %d", t.name, s.n)
		k := p.keys(sn, what, append(actions, "always")...)
		for _, a := range actions {
			if v, ok := k[a]; ok {
				if s.action != "" {
					p.at(sn, "%s: one action per step, got %s and %s", what, s.action, a)
					continue
				}
				s.action, s.arg = a, v
			}
		}
		s.always = k["always"]
		switch {
		case sn.Kind != yaml.MappingNode:
		case s.action == "":
			p.at(sn, "%s: no action (want one of %s)", what, strings.Join(actions, ", "))
			continue
		case s.always != nil && s.action != "step" && s.action != "advance":
			p.at(s.always, "%s: always goes with step or advance", what)
			continue
		}
		t.steps = append(t.steps, s)
	}
	return t
}

// ticks reads the argument of `step:`: a whole number of ticks, 1 or more.
func ticks(n *yaml.Node) (int, error) {
	var v int
	if !scalar(n) {
		return 0, fmt.Errorf("want a number of ticks, got %s", describe(n))
	}
	if _, err := fmt.Sscanf(n.Value, "%d", &v); err != nil || fmt.Sprint(v) != n.Value || v < 1 {
		return 0, fmt.Errorf("want a number of ticks (1 or more), got %q", n.Value)
	}
	return v, nil
}

// duration reads the argument of `advance:`.
func duration(n *yaml.Node) (time.Duration, error) {
	if !scalar(n) {
		return 0, fmt.Errorf("want a duration such as 2s or 1m30s, got %s", describe(n))
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("want a duration above 0 such as 2s or 1m30s, got %q", n.Value)
	}
	return d, nil
}
