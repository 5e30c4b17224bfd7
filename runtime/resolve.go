package runtime

import (
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/metronome-rt/metronome/scheduler"
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
}

// resolve turns every `inputs:` entry into a link, checking that the source
// exists and is a signal; it records remote and delayed routes.
func (l *loader) resolve() {
	for _, e := range l.entries {
		if l.failed[e.node.Path] {
			continue // its inputs are unknown: the build failed
		}
		m := e.inputs
		if m.Kind == 0 || isNull(m) || isBad(m) {
			continue
		}
		if m.Kind != yaml.MappingNode {
			e.d.fail(m, "inputs", "want a mapping of input names to routes, got %s", describe(m))
			continue
		}
		for i := 0; i+1 < len(m.Content); i += 2 {
			k, v := m.Content[i], m.Content[i+1]
			l.route(e, k, v)
		}
	}
}

func (l *loader) route(e *entry, k, v *yaml.Node) {
	node, d := e.node, e.d
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
	if isBad(v) {
		return // already reported: a failed ${...}
	}
	var ir inputRoute
	switch v.Kind {
	case yaml.ScalarNode:
		ir.Route = v.Value
	case yaml.MappingNode:
		d.decode(v, reflect.ValueOf(&ir).Elem(), key)
	default:
		d.fail(v, key, "want a routing path such as %s.Comp.Out, or {route: ..., delay: true}, got %s", l.app.Name, describe(v))
		return
	}
	r := &route{sink: k.Value, text: strings.TrimSpace(ir.Route), delayed: ir.Delay, pos: d.pos(v)}
	if v.Kind == yaml.MappingNode {
		r.pos = keyPos(d, v, "route") // point at the path, not the braces
	}
	if r.text == "" {
		if v.Kind == yaml.MappingNode && valueAt(v, "route") == nil {
			d.errs.add(r.pos, d.join(key), "missing key \"route\": the routing path, for example %s.Comp.Out", l.app.Name)
			return
		}
		d.errs.add(r.pos, d.join(key), "empty route")
		return
	}
	node.routes = append(node.routes, r)
	target, srcNode, remote, err := l.app.lookup(node, r.text)
	if err != nil {
		if !l.intoFailed(node, r.text) {
			d.errs.add(r.pos, d.join(key), "%v", err)
		}
		return
	}
	if remote {
		r.remote = true
		l.app.Remote = append(l.app.Remote, RemoteRoute{Sink: dst.Info().Path, Source: r.text, Pos: r.pos})
		return
	}
	src, isPort := target.(signals.Port)
	if !isPort {
		d.fail(v, key, "%s is %s, not a signal; only signals can be routed", r.text, whatIs(target))
		return
	}
	if srcNode == node && src == dst {
		d.fail(v, key, "an input cannot be routed from itself")
		return
	}
	l.edges = append(l.edges, &edge{from: srcNode, to: node, r: r, src: src, dst: dst})
}

// intoFailed reports whether a route names something inside a component
// that could not be built, whose mistake is already reported.
func (l *loader) intoFailed(from *Node, text string) bool {
	if len(l.failed) == 0 {
		return false
	}
	abs := text
	if strings.HasPrefix(text, ".") {
		dots := len(text) - len(strings.TrimLeft(text, "."))
		base := from
		for i := 1; i < dots && base != nil; i++ {
			base = base.Parent
		}
		prefix := l.app.Name
		if base != nil {
			prefix = base.Path
		}
		abs = prefix + "." + text[dots:]
	}
	for p := range l.failed {
		if abs == p || strings.HasPrefix(abs, p+".") {
			return true
		}
	}
	return false
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

// lookup finds what a routing path names, from the component holding the
// route. Absolute paths start with the application's name; relative paths
// start with dots: "." is the component holding the route, and each further
// dot goes one level up (".Out" is the component's own Out, "..Wave.Out" is
// the Out of its sibling Wave). A path starting with another name is a
// route from another application.
func (a *App) lookup(from *Node, path string) (target any, owner *Node, remote bool, err error) {
	var segs []string
	var base *Node // nil: the application root
	if strings.HasPrefix(path, ".") {
		dots := len(path) - len(strings.TrimLeft(path, "."))
		base = from
		for i := 1; i < dots; i++ {
			if base == nil {
				return nil, nil, false, fmt.Errorf("route %q climbs above the application (%d dots from %s)", path, dots, from.Path)
			}
			base = base.Parent
		}
		segs = strings.Split(path[dots:], ".")
	} else {
		segs = strings.Split(path, ".")
		if segs[0] != a.Name {
			for _, n := range a.Nodes {
				if n.Name == segs[0] {
					return nil, nil, false, fmt.Errorf("route %q must start with the application name: did you mean %s.%s?", path, a.Name, path)
				}
			}
			if len(segs) < 3 || checkName(segs[0]) != nil {
				return nil, nil, false, fmt.Errorf("route %q is not a routing path: write Application.Component.Signal, or a relative path starting with a dot", path)
			}
			return nil, nil, true, nil
		}
		segs = segs[1:]
	}
	if len(segs) == 0 || (len(segs) == 1 && segs[0] == "") {
		return nil, nil, false, fmt.Errorf("route %q names no signal", path)
	}
	var cur any // nil: the application root
	if base != nil {
		cur = base
	}
	owner = base
	walked := a.Name
	if base != nil {
		walked = base.Path
	}
	for _, s := range segs {
		if s == "" {
			return nil, nil, false, fmt.Errorf("route %q has an empty name between dots", path)
		}
		next, ok := a.child(cur, s)
		if !ok {
			hint := suggest(s, a.childNames(cur))
			if n, isNode := cur.(*Node); isNode && hint == "" {
				hint = outputsHint(n)
			}
			return nil, nil, false, fmt.Errorf("route %q: %s has no component or signal named %q%s", path, walked, s, hint)
		}
		if n, isNode := next.(*Node); isNode {
			owner = n
		} else if _, isNode := cur.(*Node); !isNode && cur != nil {
			return nil, nil, false, fmt.Errorf("route %q: %s is not a component", path, walked)
		}
		cur = next
		walked += "." + s
	}
	return cur, owner, false, nil
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

// schedule orders each rate group's components in data-flow order, rejects
// routing loops without a delay, compiles the links and adds every
// component to the scheduler.
func (l *loader) schedule() {
	a := l.app
	type gk struct {
		group string
		prio  scheduler.Priority
	}
	key := func(n *Node) gk { return gk{n.Rate.Group, n.Rate.Priority} }
	var order []gk
	members := map[gk][]*Node{}
	scheduled := a.all
	if a.stats != nil {
		scheduled = append(append([]*Node(nil), a.all...), a.stats.Children...)
	}
	for _, n := range scheduled {
		k := key(n)
		if _, ok := members[k]; !ok {
			order = append(order, k)
		}
		members[k] = append(members[k], n)
	}
	// Compile links: direct within a group, through a published copy across.
	delayed := map[gk][]signals.Link{}
	deps := map[*Node][]*edge{} // same-group, undelayed edges into a node
	for _, e := range l.edges {
		src := e.src
		cross := key(e.from) != key(e.to)
		if cross {
			src = e.from.shared.Share(e.src)
		}
		link, err := signals.Connect(e.dst, src, e.r.delayed)
		if err != nil {
			l.errs.add(e.r.pos, e.to.Path+": inputs."+e.r.sink, "%v", err)
			continue
		}
		if cross {
			link = e.from.shared.Locked(link)
		}
		e.to.links = append(e.to.links, link)
		switch {
		case e.r.delayed:
			delayed[key(e.to)] = append(delayed[key(e.to)], link)
			a.Delayed = append(a.Delayed, e.dst.Info().Path+" <- "+e.src.Info().Path)
		case !cross:
			deps[e.to] = append(deps[e.to], e)
		}
	}
	for _, k := range order {
		sorted, loop := topoSort(members[k], deps)
		if loop != nil {
			last := loop[len(loop)-1]
			var hops []string
			for _, e := range loop {
				hops = append(hops, e.src.Info().Path+" -> "+e.dst.Info().Path)
			}
			l.errs.add(last.r.pos, last.to.Path+": inputs."+last.r.sink,
				"routing loop without a delay: %s; break it by marking one route {route: ..., delay: true}", strings.Join(hops, ", "))
			continue
		}
		members[k] = sorted
	}
	if len(l.errs.list) > 0 {
		return
	}
	a.sched = scheduler.New(l.opts.Scheduler)
	for _, k := range order {
		g := a.sched.Group(k.group, k.prio)
		for _, n := range members[k] {
			if n.comp == nil {
				continue
			}
			n.member = g.Add(n, n.Rate.Period(), n.Rate.Overrun)
			bindGroupStats(n, g)
		}
		if links := delayed[k]; len(links) > 0 {
			g.AfterPass = func() {
				for _, l := range links {
					l.Capture()
				}
			}
		}
	}
}

// topoSort orders nodes so that every source runs before its sinks, keeping
// the YAML order where routes leave it free. A decoupled component (see
// Builder.Decoupled) is ordered after its sources when possible and before
// them when only that breaks a cycle. If the routes form a real loop it
// returns the loop's edges instead.
func topoSort(nodes []*Node, deps map[*Node][]*edge) ([]*Node, []*edge) {
	in := map[*Node]bool{}
	for _, n := range nodes {
		in[n] = true
	}
	done := map[*Node]bool{}
	var out []*Node
	ready := func(n *Node) bool {
		for _, e := range deps[n] {
			if e.from == n || (in[e.from] && !done[e.from]) {
				return false
			}
		}
		return true
	}
	for len(out) < len(nodes) {
		progress := false
		for _, n := range nodes {
			if !done[n] && ready(n) {
				done[n] = true
				out = append(out, n)
				progress = true
			}
		}
		if progress {
			continue
		}
		for _, n := range nodes { // stuck: let the first decoupled component go first
			if !done[n] && n.decoupled {
				done[n] = true
				out = append(out, n)
				progress = true
				break
			}
		}
		if !progress {
			return nil, findLoop(nodes, deps, done)
		}
	}
	return out, nil
}

// findLoop walks back along undelayed routes from a node that could not be
// ordered until it meets itself, returning the loop in data-flow order.
func findLoop(nodes []*Node, deps map[*Node][]*edge, done map[*Node]bool) []*edge {
	var start *Node
	for _, n := range nodes {
		if !done[n] {
			start = n
			break
		}
	}
	seen := map[*Node]int{}
	var path []*edge
	cur := start
	for {
		if i, ok := seen[cur]; ok {
			loop := path[i:]
			// reverse: path was built from sink to source
			for a, b := 0, len(loop)-1; a < b; a, b = a+1, b-1 {
				loop[a], loop[b] = loop[b], loop[a]
			}
			return loop
		}
		seen[cur] = len(path)
		var next *edge
		for _, e := range deps[cur] {
			if !done[e.from] && !e.to.decoupled {
				next = e
				break
			}
		}
		if next == nil {
			return nil
		}
		path = append(path, next)
		cur = next.from
	}
}
