// Package control holds control blocks: the PID controller, two-point
// (hysteresis) control and comparison, limiters, dead band, filters, a
// first-order-plus-dead-time process model for simulation and tests, and
// linear and table scaling.
//
// Every block follows the quality rule (signals.Merge): an output takes the
// worst quality of the inputs it depends on and the newest of their times
// (blocks with dynamics also count the tick's time); an input without a
// value (initial, bad input) holds the outputs and the block's state; a NaN
// or infinite input never enters a block's state and a NaN or infinite
// result is never published as good. Blocks with dynamics take their time
// step from the component's period (fixed-cycle), as PLC practice advises.
package control

import (
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// GainConfig has no keys: the gain is a parameter.
type GainConfig struct{}

// Gain is the Gain type: Out = K * In, with In's quality and time passed on.
var Gain = runtime.Define(runtime.Spec[GainConfig]{
	Name:    "Gain",
	Summary: "multiplies its input by K: Out = K * In",
	Doc: `Out keeps the time and the quality of In, so a stale or missing input is
never presented as a fresh result; a NaN or infinite product holds Out with
quality bad input.`,
	Example: `name: Gain
type: Gain
parameters: {K: 10}
inputs: {In: App.Wave.Out}`,
	Build: func(b *runtime.Builder, _ *GainConfig) (runtime.Component, error) {
		return &gain{
			unary: newUnary(b, "value to scale", "K * In", ""),
			k:     runtime.Param(b, "K", 1.0, runtime.PDesc("gain")),
		}, nil
	},
})

type gain struct {
	unary
	k *runtime.Parameter[float64]
}

func (g *gain) Process(runtime.Tick) {
	if m, ok := g.begin(); ok {
		m.SetFloat(g.out, g.k.Get()*g.in.Get())
	}
}

// unary is the In and Out of a block that maps one double to another.
type unary struct {
	in, out *signals.Signal[float64]
}

func newUnary(b *runtime.Builder, inDesc, outDesc, unit string) unary {
	return unary{
		in:  runtime.Input[float64](b, "In", runtime.Desc(inDesc), runtime.Unit(unit)),
		out: runtime.Output[float64](b, "Out", runtime.Desc(outDesc), runtime.Unit(unit)),
	}
}

// begin merges In and reports whether the block may compute: In has a
// value. If not, Out and the extra outputs are held.
func (u *unary) begin(extra ...signals.Port) (signals.Merge, bool) {
	var m signals.Merge
	m.Add(u.in)
	return m, ready(m, u.out, extra)
}

// beginState is begin for blocks with state, which let only finite values
// in: a NaN or infinite In holds the outputs with quality bad input.
func (u *unary) beginState(t runtime.Tick, extra ...signals.Port) (signals.Merge, bool) {
	var m signals.Merge
	m.Add(u.in)
	m.AddTime(t.Wall.UnixNano())
	if m.HasValue() && !signals.Finite(u.in.Get()) {
		m.AddQ(signals.BadInput, 0)
	}
	return m, ready(m, u.out, extra)
}

func ready(m signals.Merge, out signals.Port, extra []signals.Port) bool {
	if m.HasValue() {
		return true
	}
	m.Hold(out)
	m.Ready(extra...)
	return false
}
