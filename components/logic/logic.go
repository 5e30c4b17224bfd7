// Package logic holds boolean and sequencing blocks in the IEC 61131-3 mould:
// gates (And, Or, Xor, Not), latches (SR, RS), edge detectors (R_TRIG,
// F_TRIG), timers (TON, TOF, TP), the up/down counter (CTUD), and the
// selectors Select and Mux.
//
// Every block follows the quality rule (signals.Merge): an output takes the
// worst quality of the inputs it depends on and the newest of their times
// (timers and edge detectors, whose outputs change with ticks alone, also
// count the tick's time); an input without a value (initial, bad input)
// holds the outputs and the block's state. Timers measure time on the
// tick's monotonic clock, so a virtual-clock test sees exactly what a real
// run does.
package logic

import (
	"github.com/metronome-rt/metronome/internal/blockkit"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// gateOp says how a gate combines its inputs.
type gateOp uint8

const (
	gateAnd gateOp = iota
	gateOr
	gateXor
)

type gate struct {
	in  []*signals.Signal[bool]
	out *signals.Signal[bool]
	op  gateOp
}

func (g *gate) Process(runtime.Tick) {
	var m signals.Merge
	for _, in := range g.in {
		m.Add(in)
	}
	if !m.Ready(g.out) {
		return
	}
	v := g.op == gateAnd
	for _, in := range g.in {
		switch g.op {
		case gateAnd:
			v = v && in.Get()
		case gateOr:
			v = v || in.Get()
		case gateXor:
			v = v != in.Get()
		}
	}
	signals.Set(m, g.out, v)
}

func gateType(name, summary, doc, example string, op gateOp) *runtime.Type {
	return runtime.Define(runtime.Spec[blockkit.InputsConfig]{
		Name:     name,
		Summary:  summary,
		Doc:      doc + " config.inputs sets the number of inputs (In1 .. InN, default 2).",
		Example:  example,
		Defaults: blockkit.TwoInputs,
		Build: func(b *runtime.Builder, cfg *blockkit.InputsConfig) (runtime.Component, error) {
			return &gate{
				in:  blockkit.Inputs[bool](b, "In", 1, cfg.Inputs, "operand"),
				out: runtime.Output[bool](b, "Out", runtime.Desc(summary)),
				op:  op,
			}, nil
		},
	})
}

// And is the And type: Out = In1 AND ... AND InN.
var And = gateType("And", "true when every input is true", "IEC 61131-3 AND.", `name: Permit
type: And
config: {inputs: 3}
inputs: {In1: App.DoorClosed.Out, In2: App.NotEStop.Out, In3: App.Enable.Out}`, gateAnd)

// Or is the Or type: Out = In1 OR ... OR InN.
var Or = gateType("Or", "true when any input is true", "IEC 61131-3 OR.", `name: AnyAlarm
type: Or
inputs: {In1: App.High.Out, In2: App.Low.Out}`, gateOr)

// Xor is the Xor type: true when an odd number of inputs is true.
var Xor = gateType("Xor", "true when an odd number of inputs is true", "IEC 61131-3 XOR, extended to N inputs as odd parity.", `name: Changed
type: Xor
inputs: {In1: App.A.Out, In2: App.B.Out}`, gateXor)

// Not is the Not type: Out = NOT In.
var Not = blockkit.About{
	Name:    "Not",
	Summary: "negation: Out = NOT In",
	Example: `name: Open
type: Not
inputs: {In: App.Closed.Out}`,
}.Define(func(b *runtime.Builder) runtime.Component {
	return &not{
		in:  runtime.Input[bool](b, "In", runtime.Desc("operand")),
		out: runtime.Output[bool](b, "Out", runtime.Desc("NOT In")),
	}
})

type not struct{ in, out *signals.Signal[bool] }

func (n *not) Process(runtime.Tick) {
	var m signals.Merge
	m.Add(n.in)
	if m.Ready(n.out) {
		signals.Set(m, n.out, !n.in.Get())
	}
}

// latch is SR (set-dominant) or RS (reset-dominant).
type latch struct {
	set, reset *signals.Signal[bool]
	q          *signals.Signal[bool]
	state      bool
	setWins    bool
}

func (l *latch) Process(runtime.Tick) {
	var m signals.Merge
	m.Add(l.set)
	m.Add(l.reset)
	if !m.Ready(l.q) {
		return
	}
	s, r := l.set.Get(), l.reset.Get()
	if l.setWins {
		l.state = s || (!r && l.state)
	} else {
		l.state = !r && (s || l.state)
	}
	signals.Set(m, l.q, l.state)
}

func latchType(name, set, reset, summary, example string, setWins bool) *runtime.Type {
	return blockkit.About{
		Name:    name,
		Summary: summary,
		Doc: `IEC 61131-3 ` + name + `. Q1 starts false and keeps its state while both inputs
are false.`,
		Example: example,
	}.Define(func(b *runtime.Builder) runtime.Component {
		return &latch{
			set:     runtime.Input[bool](b, set, runtime.Desc("sets Q1")),
			reset:   runtime.Input[bool](b, reset, runtime.Desc("resets Q1")),
			q:       runtime.Output[bool](b, "Q1", runtime.Desc("the latched state")),
			setWins: setWins,
		}
	})
}

// SR is the SR type: a set-dominant latch, Q1 = S1 OR (NOT R AND Q1).
var SR = latchType("SR", "S1", "R", "set-dominant latch: Q1 := S1 OR (NOT R AND Q1)", `name: Run
type: SR
inputs: {S1: App.Start.Out, R: App.Stop.Out}`, true)

// RS is the RS type: a reset-dominant latch, Q1 = NOT R1 AND (S OR Q1).
var RS = latchType("RS", "S", "R1", "reset-dominant latch: Q1 := NOT R1 AND (S OR Q1)", `name: Run
type: RS
inputs: {S: App.Start.Out, R1: App.Stop.Out}`, false)

// edge is R_TRIG or F_TRIG.
type edge struct {
	clk, q  *signals.Signal[bool]
	m       bool // CLK at the previous evaluation; starts false
	falling bool
}

func (e *edge) Process(t runtime.Tick) {
	var m signals.Merge
	m.Add(e.clk)
	m.AddTime(t.Wall.UnixNano())
	if !m.Ready(e.q) {
		return
	}
	clk := e.clk.Get()
	q := clk && !e.m
	if e.falling {
		q = !clk && e.m
	}
	e.m = clk
	signals.Set(m, e.q, q)
}

func edgeType(a blockkit.About, falling bool) *runtime.Type {
	return a.Define(func(b *runtime.Builder) runtime.Component {
		return &edge{
			clk:     runtime.Input[bool](b, "CLK", runtime.Desc("signal whose edges are detected")),
			q:       runtime.Output[bool](b, "Q", runtime.Desc("true for one tick at each edge")),
			falling: falling,
		}
	})
}

// RTrig is the R_TRIG type: Q is true for one tick when CLK rises.
var RTrig = edgeType(blockkit.About{Name: "R_TRIG", Summary: "rising edge: Q is true for one tick when CLK goes from false to true",
	Doc: `IEC 61131-3 R_TRIG: Q := CLK AND NOT M; M := CLK, with M starting false, so a
CLK that is true on the first evaluation is a rising edge. The first
evaluation is the first tick on which CLK has a value.`,
	Example: `name: StartPressed
type: R_TRIG
inputs: {CLK: App.Mqtt.StartButton}`}, false)

// FTrig is the F_TRIG type: Q is true for one tick when CLK falls.
var FTrig = edgeType(blockkit.About{Name: "F_TRIG", Summary: "falling edge: Q is true for one tick when CLK goes from true to false",
	Doc: `IEC 61131-3 Edition 3 (2013) F_TRIG: Q := NOT CLK AND M; M := CLK, with M
starting false, so a CLK that is false on the first evaluation is NOT a
falling edge (Edition 2's Q := NOT CLK AND NOT M; M := NOT CLK fires on that
first call; CODESYS's Standard library, like Edition 3, does not). The first
evaluation is the first tick on which CLK has a value.`,
	Example: `name: Released
type: F_TRIG
inputs: {CLK: App.Mqtt.Button}`}, true)
