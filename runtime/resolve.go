package runtime

import (
	"fmt"
	"strings"

	"github.com/metronome-rt/metronome/signals"
)

// RemoteRoute is an input routed from another application. The loader
// accepts it and reports it; the input keeps quality Initial until a link
// to the other application delivers values.
type RemoteRoute struct {
	Sink   string // full path of the input
	Source string // path as written, starting with the other application's name
	Pos    Pos
}

// edge is a resolved route between two nodes, for ordering.
type edge struct {
	from, to *Node
	r        *route
	src      signals.Port
	dst      signals.Port
	// unsure: the path went through a component that has a namesake, so
	// it may mean another source; such an edge is not used to find loops.
	unsure bool
}

// Stage 4, routes and types: every `inputs:` entry of a built component
// is checked against the inputs the build declared and its source found;
// remote and delayed routes are recorded. A source that cannot be found
// where names are unknown (in a component that could not be built, a
// scope with an unreadable include, the rate groups while some rate is
// wrong) is not reported: the earlier mistake is.
func (l *loader) resolve() {
	// Model instances last: a route into an input the model routes
	// already is the instance's mistake, not the model's.
	for _, instances := range []bool{false, true} {
		for _, e := range l.entries {
			if l.failed[e.node] || (e.inst != nil) != instances {
				continue // its inputs are unknown: the build failed
			}
			for i := range e.inputs {
				l.route(e, &e.inputs[i])
			}
		}
	}
}

func (l *loader) route(e *entry, in *inputSpec) {
	node, d := e.node, e.d
	k, v := in.k, in.v
	key := "inputs." + k.Value
	dst, ok := node.Port(k.Value)
	if !ok || dst.Info().Dir != signals.Input {
		var names []string
		for _, p := range node.ports {
			if p.Info().Dir == signals.Input {
				names = append(names, p.Info().Name)
			}
		}
		switch {
		case ok:
			d.fail(k, "inputs", "%s is an output of %s; routes are set on the sink (the input that receives the value)", k.Value, node.TypeName)
		case len(names) == 0:
			d.fail(k, "inputs", "%s has no inputs to route into (got %q)", node.TypeName, k.Value)
		default:
			hint := suggest(k.Value, names)
			if hint == "" {
				hint = " (inputs: " + strings.Join(names, ", ") + ")"
			}
			d.fail(k, "inputs", "unknown input %q%s", k.Value, hint)
		}
		return
	}
	r := &route{sink: k.Value, text: in.route.Route, delayed: in.route.Delay, pos: in.pos}
	sink := node // the component whose input it is
	if owner := node.aliasOwner(k.Value); owner != nil {
		// An input a model instance exposes: the route is its component's.
		sink, r.sink = owner, dst.Info().Name
	}
	for _, prev := range sink.routes {
		if prev.sink == r.sink {
			d.fail(k, "inputs", "%s is routed twice: here and at %s (an input a model exposes is routed either by the instance or inside the model)", dst.Info().Path, prev.pos)
			return
		}
	}
	sink.routes = append(sink.routes, r)
	l.inputOps(e, in, sink, dst)
	if l.nameFailed && !strings.HasPrefix(r.text, ".") {
		return // without the application's name, absolute and remote routes look alike
	}
	f := l.lookupIn(node, r.text)
	if f.err != nil {
		if !l.unsure(f) {
			d.errs.add(r.pos, d.join(key), "%v", f.err)
		}
		return
	}
	if f.remote {
		r.remote = true
		l.app.Remote = append(l.app.Remote, RemoteRoute{Sink: dst.Info().Path, Source: r.text, Pos: r.pos})
		return
	}
	src, isPort := f.target.(signals.Port)
	if !isPort {
		d.fail(v, key, "%s is %s, not a signal; only signals can be routed", r.text, whatIs(f.target))
		return
	}
	if f.owner == sink && src == dst {
		d.fail(v, key, "an input cannot be routed from itself")
		return
	}
	l.edges = append(l.edges, &edge{from: f.owner, to: sink, r: r, src: src, dst: dst, unsure: f.via != nil})
}

// unsure reports whether a route that was not found may name something
// the load could not see because of a mistake already reported.
func (l *loader) unsure(f found) bool {
	if f.via != nil {
		// Wrong whichever of the namesakes it means: a mistake of its own.
		for _, alt := range l.namesakes[f.via] {
			swap := map[*Node]*Node{f.via: alt}
			for k, v := range f.swap {
				swap[k] = v
			}
			if g := l.app.lookup(f.from, f.path, l.namesakes, swap); g.err == nil || l.unsure(g) {
				return true
			}
		}
	}
	if !f.missing {
		return false
	}
	if f.scope == nil {
		return l.unknownScope[nil]
	}
	if f.scope == l.app.stats {
		return l.rateFailed || len(l.unknownScope) > 0
	}
	return l.failed[f.scope] || l.unknownScope[f.scope]
}

// outputsHint lists a component's own outputs (not the standard timing
// signals every component has), for a route that names none of them.
func outputsHint(n *Node) string {
	var names []string
	for _, p := range n.ports {
		if p.Info().Dir == signals.Output && !isStd(p.Info().Name) {
			names = append(names, p.Info().Name)
		}
	}
	if len(names) == 0 {
		return ""
	}
	return " (" + n.TypeName + " outputs: " + strings.Join(names, ", ") + ")"
}

func whatIs(x any) string {
	switch t := x.(type) {
	case *Node:
		return "a component (" + t.TypeName + ")"
	case AnyParam:
		return "a parameter"
	case *Alarm:
		return "an alarm"
	}
	return "not a signal"
}

// found is what a routing path names, or why it names nothing.
type found struct {
	target any   // signals.Port, AnyParam, *Alarm or *Node
	owner  *Node // the component holding target
	remote bool  // the path starts with another application's name
	err    error
	// missing: a name was not found in scope (nil: the application root).
	missing bool
	scope   *Node
	// via is the first component with namesakes that the path went
	// through: it may mean one of those instead.
	via  *Node
	from *Node
	path string
	swap map[*Node]*Node
}

// lookup finds what a routing path names, from the component holding the
// route. Absolute paths start with the application's name; relative paths
// start with dots: "." is the component holding the route, and each further
// dot goes one level up (".Out" is the component's own Out, "..Wave.Out" is
// the Out of its sibling Wave). A path starting with another name is a
// route from another application.
// namesakes lists the components that share a name with an earlier
// sibling; swap, when the lookup tries one of those instead, maps the
// first to it.
func (l *loader) lookupIn(from *Node, path string) found {
	return l.app.lookup(from, path, l.namesakes, nil)
}

func (a *App) lookup(from *Node, path string, namesakes map[*Node][]*Node, swap map[*Node]*Node) (f found) {
	f.from, f.path, f.swap = from, path, swap
	fail := func(format string, args ...any) found {
		f.err = fmt.Errorf(format, args...)
		return f
	}
	var segs []string
	var base *Node // nil: the application root
	if strings.HasPrefix(path, ".") {
		dots := len(path) - len(strings.TrimLeft(path, "."))
		base = from
		for i := 1; i < dots; i++ {
			if base == nil {
				return fail("route %q climbs above the application (%d dots from %s)", path, dots, from.Path)
			}
			base = base.Parent
		}
		segs = strings.Split(path[dots:], ".")
	} else {
		segs = strings.Split(path, ".")
		if segs[0] != a.Name {
			for _, n := range a.Nodes {
				if n.Name == segs[0] {
					return fail("route %q must start with the application name: did you mean %s.%s?", path, a.Name, path)
				}
			}
			if len(segs) < 3 || checkName(segs[0]) != nil {
				return fail("route %q is not a routing path: write Application.Component.Signal, or a relative path starting with a dot", path)
			}
			f.remote = true
			return f
		}
		segs = segs[1:]
	}
	if len(segs) == 0 || (len(segs) == 1 && segs[0] == "") {
		return fail("route %q names no signal", path)
	}
	var cur any // nil: the application root
	if base != nil {
		cur = base
	}
	f.owner = base
	walked := a.Name
	if base != nil {
		walked = base.Path
	}
	for _, s := range segs {
		if s == "" {
			return fail("route %q has an empty name between dots", path)
		}
		next, ok := a.child(cur, s)
		if !ok {
			hint := suggest(s, a.childNames(cur))
			n, isNode := cur.(*Node)
			if isNode && hint == "" {
				hint = outputsHint(n)
			}
			f.missing = true
			f.scope = n
			return fail("route %q: %s has no component or signal named %q%s", path, walked, s, hint)
		}
		if n, isNode := next.(*Node); isNode {
			if alt, ok := swap[n]; ok {
				n, next = alt, alt
			}
			f.owner = n
			if len(namesakes[n]) > 0 && f.via == nil {
				f.via = n
			}
		} else if cn, isNode := cur.(*Node); !isNode && cur != nil {
			return fail("route %q: %s is not a component", path, walked)
		} else if owner := cn.aliasOwner(s); isNode && owner != nil {
			f.owner = owner // a member a model instance exposes
		}
		cur = next
		walked += "." + s
	}
	f.target = cur
	return f
}

// child finds a named component, signal, parameter or alarm under cur
// (nil: the application root).
func (a *App) child(cur any, name string) (any, bool) {
	switch c := cur.(type) {
	case nil:
		if a.top == nil {
			a.top = make(map[string]*Node, len(a.Nodes))
			for _, n := range a.Nodes {
				a.top[n.Name] = n
			}
		}
		if n, ok := a.top[name]; ok {
			return n, true
		}
		if name == RateGroupsName && a.stats != nil {
			return a.stats, true
		}
	case *Node:
		if v, ok := c.byName[name]; ok {
			return v, true
		}
		for _, n := range c.Children {
			if n.Name == name {
				return n, true
			}
		}
	}
	return nil, false
}

func (a *App) childNames(cur any) []string {
	var out []string
	switch c := cur.(type) {
	case nil:
		for _, n := range a.Nodes {
			out = append(out, n.Name)
		}
	case *Node:
		for _, n := range c.Children {
			out = append(out, n.Name)
		}
		for k := range c.byName {
			out = append(out, k)
		}
	}
	return out
}
