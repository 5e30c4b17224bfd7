// Package control holds basic control blocks.
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
never presented as a fresh result.`,
	Example: `name: Gain
type: Gain
parameters: {K: 10}
inputs: {In: App.Wave.Out}`,
	Build: func(b *runtime.Builder, _ *GainConfig) (runtime.Component, error) {
		return &gain{
			in:  runtime.Input[float64](b, "In", runtime.Desc("value to scale")),
			out: runtime.Output[float64](b, "Out", runtime.Desc("K * In")),
			k:   runtime.Param(b, "K", 1.0, runtime.PDesc("gain")),
		}, nil
	},
})

type gain struct {
	in, out *signals.Signal[float64]
	k       *runtime.Parameter[float64]
}

func (g *gain) Process(runtime.Tick) {
	g.out.Put(g.k.Get()*g.in.Get(), g.in.Quality(), g.in.Stamp())
}
