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

// Run is one tick of the component: apply writes waiting in its mailbox,
// latch inputs, apply forces to inputs, Process, apply forces to outputs,
// hand changed values to observers, publish outputs for other rate groups.
// It allocates nothing.
func (n *Node) Run(t scheduler.Tick) {
	n.clock.Now = t.Wall.UnixNano()
	n.clock.Mono = int64(t.Mono)
	if m := n.member; m != nil {
		st := m.Stats()
		if st.Runs > 0 {
			n.std.processTime.Set(st.ProcessTime.Seconds())
			n.std.processPeriod.Set(st.ActualPeriod.Seconds())
		}
		// The last run was on time (or only made late by others): the
		// overruns that raised the alarm are over.
		if st.Consecutive == 0 && n.std.overrun.active {
			n.std.overrun.Clear()
		}
	}
	x := n.x
	if x != nil && x.in.Len() > 0 {
		x.applyRequests()
	}
	for _, l := range n.links {
		l.Latch()
	}
	if x != nil && x.nforced > 0 {
		x.applyForces(signals.Input)
	}
	n.comp.Process(t)
	n.runOutputOps()
	if x != nil {
		if x.nforced > 0 {
			x.applyForces(signals.Output)
		}
		x.observe()
	}
	n.shared.Publish()
}

// Overran keeps the Overrun alarm from the scheduler's counts, which this
// node alone turns into alarm state: raised once the component's own runs
// have taken longer than their period alarm_after times in a row, cleared
// (in Run) after a run that did not. An overrun the component did not cause
// (its neighbours on the thread made it late) resets the count, so it never
// raises or keeps the alarm.
func (n *Node) Overran(s *scheduler.MemberStats) {
	n.std.overruns.Set(s.Overruns)
	after := n.member.Policy().AlarmAfter
	switch {
	case s.Suspended:
		n.std.overrun.SetText(fmt.Sprintf("suspended after %d consecutive overruns (period %s, last run %s)", s.Consecutive, n.member.Period(), s.ProcessTime))
	case s.Consecutive >= after && !n.std.overrun.active:
		n.std.overrun.SetText(fmt.Sprintf("%d consecutive overruns (period %s, last run %s)", s.Consecutive, n.member.Period(), s.ProcessTime))
	case s.Consecutive == 0 && n.std.overrun.active:
		n.std.overrun.Clear()
	}
	if n.x != nil {
		n.x.observe()
	}
	n.shared.Publish()
}
