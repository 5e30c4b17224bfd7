package logic

import (
	"github.com/metronome-rt/metronome/internal/blockkit"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// timerKind says which IEC timer a timer block is.
type timerKind uint8

const (
	kindTON timerKind = iota
	kindTOF
	kindTP
)

// timer is TON, TOF or TP. Time is the tick's monotonic time (Tick.Mono),
// so the timers measure what really passed, skipped periods included.
type timer struct {
	in      *signals.Signal[bool]
	q       *signals.Signal[bool]
	et      *signals.Signal[float64]
	pt      *runtime.Parameter[float64]
	kind    timerKind
	running bool  // timing
	start   int64 // Tick.Mono when timing started
	qv      bool
	etNs    int64
	prevIn  bool
}

func (tm *timer) Process(t runtime.Tick) {
	var m signals.Merge
	m.Add(tm.in)
	m.AddTime(t.Wall.UnixNano())
	if !m.Ready(tm.q, tm.et) {
		return
	}
	now, in, pt := int64(t.Mono), tm.in.Get(), blockkit.Nanos(tm.pt.Get())
	switch tm.kind {
	case kindTON:
		tm.on(now, in, pt)
	case kindTOF:
		tm.off(now, in, pt)
	case kindTP:
		tm.pulse(now, in, pt)
	}
	tm.prevIn = in
	signals.Set(m, tm.q, tm.qv)
	m.SetFloat(tm.et, float64(tm.etNs)/1e9)
}

// on: Q rises once IN has been true for PT and stays until IN falls. PT is
// read on every tick, so changing it while timing moves the deadline:
// lowered below the elapsed time, Q rises at once; raised, Q waits longer.
// Once Q is true it stays true, with ET = PT, until IN falls.
func (tm *timer) on(now int64, in bool, pt int64) {
	switch {
	case !in:
		tm.running, tm.qv, tm.etNs = false, false, 0
		return
	case !tm.running && !tm.qv:
		tm.running, tm.start = true, now
	}
	if tm.running {
		if el := now - tm.start; el >= pt {
			tm.running, tm.qv = false, true
		} else {
			tm.etNs = el
		}
	}
	if tm.qv {
		tm.etNs = pt
	}
}

// off: Q follows IN up, and falls once IN has been false for PT. ET counts
// while IN is false and Q still true, then stays at PT until IN rises.
func (tm *timer) off(now int64, in bool, pt int64) {
	switch {
	case in:
		tm.running, tm.qv, tm.etNs = false, true, 0
		return
	case !tm.qv:
		return
	case !tm.running:
		tm.running, tm.start = true, now
	}
	if el := now - tm.start; el >= pt {
		tm.running, tm.qv, tm.etNs = false, false, pt
	} else {
		tm.etNs = el
	}
}

// pulse: a rising IN starts a pulse of PT; edges during a pulse are
// ignored (not retriggerable). ET counts during the pulse, stays at PT
// while IN is still true after it, and returns to 0 when IN is false.
func (tm *timer) pulse(now int64, in bool, pt int64) {
	if !tm.running && in && !tm.prevIn {
		tm.running, tm.start, tm.qv = true, now, true
	}
	if tm.running {
		if el := now - tm.start; el >= pt {
			tm.running, tm.qv, tm.etNs = false, false, pt
		} else {
			tm.etNs = el
		}
	}
	if !tm.running && !in {
		tm.etNs = 0
	}
}

func timerType(a blockkit.About, kind timerKind) *runtime.Type {
	return a.Define(func(b *runtime.Builder) runtime.Component {
		return &timer{
			in:   runtime.Input[bool](b, "IN", runtime.Desc("the timer's input")),
			q:    runtime.Output[bool](b, "Q", runtime.Desc("the timer's output")),
			et:   runtime.Output[float64](b, "ET", runtime.Unit("s"), runtime.Desc("elapsed time, 0 to PT")),
			pt:   runtime.Param(b, "PT", 1.0, runtime.Min(0), runtime.PUnit("s"), runtime.PDesc("preset time")),
			kind: kind,
		}
	})
}

// TON is the TON type: the on-delay timer.
var TON = timerType(blockkit.About{Name: "TON", Summary: "on-delay: Q rises once IN has been true for PT seconds",
	Doc: `IEC 61131-3 TON. Q rises on the first tick at which IN has been true for at
least PT (time measured from the tick IN was seen rising) and falls with
IN; ET counts from 0 to PT. PT is read on every tick: lowered below the
elapsed time while timing, Q rises at once; raised, Q waits for the new PT.
Once Q is true it stays true (with ET = PT) until IN falls, whatever PT
does. PT 0 makes Q follow IN.`,
	Example: `name: Debounce
type: TON
parameters: {PT: 0.5}
inputs: {IN: App.Mqtt.DoorOpen}`}, kindTON)

// TOF is the TOF type: the off-delay timer.
var TOF = timerType(blockkit.About{Name: "TOF", Summary: "off-delay: Q follows IN up and falls once IN has been false for PT seconds",
	Doc: `IEC 61131-3 TOF. Q is true while IN is true and stays true for PT after
IN falls; a new rising IN during the delay cancels it. ET counts from 0 to
PT while the delay runs, stays at PT after Q falls and returns to 0 when IN
rises. PT is read on every tick.`,
	Example: `name: FanRunOn
type: TOF
parameters: {PT: 30}
inputs: {IN: App.Heater.Q1}`}, kindTOF)

// TP is the TP type: the pulse timer.
var TP = timerType(blockkit.About{Name: "TP", Summary: "pulse: a rising IN gives a pulse of PT seconds on Q, not retriggerable",
	Doc: `IEC 61131-3 TP. A rising IN starts a pulse: Q is true for PT. Edges of IN
during the pulse are ignored (not retriggerable). ET counts from 0 to PT
during the pulse, stays at PT while IN is still true afterwards, and
returns to 0 once the pulse is over and IN is false. PT 0 gives no pulse.`,
	Example: `name: Horn
type: TP
parameters: {PT: 2}
inputs: {IN: App.AlarmEdge.Q}`}, kindTP)
