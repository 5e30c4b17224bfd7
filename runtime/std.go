package runtime

import (
	"fmt"

	"github.com/metronome-rt/metronome/scheduler"
	"github.com/metronome-rt/metronome/signals"
)

// stdSignals are the timing signals and the alarm every component has, as
// CDP's Process Timer, Process Period and Component Suspended.
type stdSignals struct {
	processTime   *signals.Signal[float64]
	processPeriod *signals.Signal[float64]
	overruns      *signals.Signal[uint64]
	overrun       *Alarm
}

// Names of the standard members every component has.
const (
	StdProcessTime   = "ProcessTime"
	StdProcessPeriod = "ProcessPeriod"
	StdOverruns      = "Overruns"
	StdOverrunAlarm  = "Overrun"
)

func declareStd(b *Builder) {
	s := &b.node.std
	s.processTime = Output[float64](b, StdProcessTime, Unit("s"), Desc("how long the last Process took (CDP Process Timer)"))
	s.processPeriod = Output[float64](b, StdProcessPeriod, Unit("s"), Desc("time between the starts of the last two runs (CDP Process Period)"))
	s.overruns = Output[uint64](b, StdOverruns, Desc("runs after which the next deadline had already passed"))
	s.overrun = b.Alarm(StdOverrunAlarm, Warning, "consecutive overruns")
}

// isStd reports whether a member name is one of the standard ones, so that
// documentation can list them once rather than on every type.
func isStd(name string) bool {
	switch name {
	case StdProcessTime, StdProcessPeriod, StdOverruns, StdOverrunAlarm:
		return true
	}
	return false
}

// Run is one tick of the component: latch inputs, Process, publish outputs
// for other rate groups. It allocates nothing.
func (n *Node) Run(t scheduler.Tick) {
	n.clock.Now = t.Wall.UnixNano()
	n.clock.Mono = int64(t.Mono)
	if m := n.member; m != nil {
		st := m.Stats()
		if st.Runs > 0 {
			n.std.processTime.Set(st.ProcessTime.Seconds())
			n.std.processPeriod.Set(st.ActualPeriod.Seconds())
		}
		if st.Consecutive == 0 && n.std.overrun.active {
			n.std.overrun.Clear()
		}
	}
	for _, l := range n.links {
		l.Latch()
	}
	n.comp.Process(t)
	n.runOutputOps()
	n.shared.Publish()
}

// Overran raises the Overrun alarm once the policy's count of consecutive
// overruns is reached, and says whether the component was suspended.
func (n *Node) Overran(s *scheduler.MemberStats) {
	n.std.overruns.Set(s.Overruns)
	if s.Alarm {
		text := fmt.Sprintf("%d consecutive overruns (period %s, last run %s)", s.Consecutive, n.member.Period(), s.ProcessTime)
		if s.Suspended {
			text = fmt.Sprintf("suspended after %d consecutive overruns (period %s, last run %s)", s.Consecutive, n.member.Period(), s.ProcessTime)
		}
		if !n.std.overrun.active || s.Suspended {
			n.std.overrun.SetText(text)
		}
	}
	n.shared.Publish()
}
