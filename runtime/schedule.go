package runtime

import (
	"strings"

	"github.com/metronome-rt/metronome/scheduler"
	"github.com/metronome-rt/metronome/signals"
)

// Stage 5, loops: each rate group's components are ordered in data-flow
// order and routing loops without a delay reported. Routes that may mean
// another source (through a component with a namesake) are left out, so a
// loop is only reported where the routes surely form one. With no mistake
// left, the links are compiled and the components given to the scheduler.

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
		case !cross && !e.unsure:
			deps[e.to] = append(deps[e.to], e)
		}
	}
	for n, ops := range l.inOps {
		n.links = append(n.links, ops) // after every route of n
	}
	for _, k := range order {
		// Report every loop of the group: each one found is cut at the
		// route it is reported at, and the group sorted again.
		for range len(l.edges) + 1 {
			sorted, loop := topoSort(members[k], deps)
			if loop == nil {
				members[k] = sorted
				break
			}
			last := loop[len(loop)-1]
			var hops []string
			for _, e := range loop {
				hops = append(hops, e.src.Info().Path+" -> "+e.dst.Info().Path)
			}
			l.errs.add(last.r.pos, last.to.Path+": inputs."+last.r.sink,
				"routing loop without a delay: %s; break it by marking one route {route: ..., delay: true}", strings.Join(hops, ", "))
			cut := deps[last.to][:0]
			for _, e := range deps[last.to] {
				if e != last {
					cut = append(cut, e)
				}
			}
			deps[last.to] = cut
		}
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
