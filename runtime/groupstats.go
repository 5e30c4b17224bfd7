package runtime

import (
	"fmt"

	"github.com/metronome-rt/metronome/scheduler"
	"github.com/metronome-rt/metronome/signals"
)

// RateGroupsName is the top-level component that holds one statistics
// component per rate group, named <group>_<priority> (for example
// App.RateGroups.Default_normal.LatenessP99), so that the scheduler's timing
// can be routed, logged and alarmed on like any signal.
const RateGroupsName = "RateGroups"

// groupStatsFS is how often each rate group publishes its statistics.
const groupStatsFS = 1

type noConfig struct{}

var rateGroupsType = Define(Spec[noConfig]{
	Name:    "RateGroups",
	Summary: "holds the statistics component of every rate group (added by the runtime)",
	Build:   func(*Builder, *noConfig) (Component, error) { return nil, nil },
})

var groupStatsType = Define(Spec[noConfig]{
	Name:    "RateGroupStats",
	Summary: "timing statistics of one rate group (added by the runtime)",
	Build: func(b *Builder, _ *noConfig) (Component, error) {
		s := &groupStats{
			p50:    Output[float64](b, "LatenessP50", Unit("s"), Desc("median wake-up lateness over the last 10 s")),
			p99:    Output[float64](b, "LatenessP99", Unit("s"), Desc("99th percentile of wake-up lateness over the last 10 s")),
			p999:   Output[float64](b, "LatenessP999", Unit("s"), Desc("99.9th percentile of wake-up lateness over the last 10 s")),
			max:    Output[float64](b, "LatenessMax", Unit("s"), Desc("largest wake-up lateness over the last 10 s")),
			over:   Output[uint64](b, "TotalOverruns", Desc("overruns of the group's components since start")),
			cpu:    Output[float64](b, "CPUShare", Unit("%"), Desc("CPU time of the group's thread, percent of one core since start")),
			wakes:  Output[uint64](b, "Wakes", Desc("how many times the group's thread woke")),
			realtm: Output[bool](b, "RealTime", Desc("the group's thread runs under a real-time policy")),
		}
		return s, nil
	},
})

type groupStats struct {
	group               *scheduler.Group
	snap                scheduler.Histogram
	p50, p99, p999, max *signals.Signal[float64]
	over, wakes         *signals.Signal[uint64]
	cpu                 *signals.Signal[float64]
	realtm              *signals.Signal[bool]
}

// Process runs on the group's own goroutine, so it reads the group's
// statistics without locks; it allocates nothing.
func (s *groupStats) Process(Tick) {
	st := s.group.Stats()
	s.snap.Reset()
	st.Lateness.Snapshot(&s.snap)
	if s.snap.Count() > 0 {
		s.p50.Set(s.snap.Quantile(0.5).Seconds())
		s.p99.Set(s.snap.Quantile(0.99).Seconds())
		s.p999.Set(s.snap.Quantile(0.999).Seconds())
		s.max.Set(s.snap.Max().Seconds())
	}
	s.over.Set(st.Overruns)
	s.wakes.Set(st.Wakes)
	if st.Elapsed > 0 {
		s.cpu.Set(100 * st.CPU.Seconds() / st.Elapsed.Seconds())
	}
	s.realtm.Set(st.Bind.RealTime)
}

// addGroupStats adds RateGroups with one RateGroupStats child per rate group
// of the application's components (a component may not take the name: see
// the structure stage), so that routes from them resolve like any other.
func (l *loader) addGroupStats() {
	a := l.app
	parent := &Node{Name: RateGroupsName, Path: a.Name + "." + RateGroupsName, TypeName: rateGroupsType.name, byName: map[string]any{}}
	seen := map[string]bool{}
	for _, n := range a.all {
		name := fmt.Sprintf("%s_%s", n.Rate.Group, n.Rate.Priority)
		if seen[name] {
			continue
		}
		seen[name] = true
		rate := n.Rate
		rate.FS = groupStatsFS
		rate.Overrun = scheduler.OverrunPolicy{}
		child := &Node{Name: name, Path: parent.Path + "." + name, TypeName: groupStatsType.name, Parent: parent, Rate: rate}
		child.log = l.opts.Log.With().Str("component", child.Path).Logger()
		b := &Builder{node: child, path: child.Path, emit: a.emit}
		declareStd(b)
		comp, _ := groupStatsType.build(b, &noConfig{})
		if err := b.err(); err != nil {
			panic("runtime: rate group statistics: " + err.Error())
		}
		child.comp = comp
		parent.Children = append(parent.Children, child)
		parent.byName[name] = child
	}
	a.stats = parent
}

// bindGroupStats gives each statistics component its scheduler group.
func bindGroupStats(n *Node, g *scheduler.Group) {
	if s, ok := n.comp.(*groupStats); ok {
		s.group = g
	}
}
