// Package generators holds signal sources: blocks with no inputs that
// produce a value or a waveform from the tick time, for setpoints, tests,
// demos and simulations. Waveforms are computed from the scheduled tick
// time, not from a running sum, so they have no drift and no jitter, and a
// virtual-clock test sees exactly what a real run does.
package generators

import (
	"math"

	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// SineConfig has no keys: a sine is set entirely by its parameters, which
// can be changed at run time.
type SineConfig struct{}

// Sine is the SineGenerator type: Out = Offset + Amplitude * sin(2*pi*Frequency*t + Phase).
var Sine = runtime.Define(runtime.Spec[SineConfig]{
	Name:    "SineGenerator",
	Summary: "sine wave from the tick time: Out = Offset + Amplitude*sin(2*pi*Frequency*t + Phase)",
	Doc: `Computes the wave from the scheduled tick time, not from a running sum,
so it has no drift and no jitter: the same tick gives the same value on the
real and the virtual clock.`,
	Example: `name: Wave
type: SineGenerator
fs: 100
parameters: {Amplitude: 2.0, Frequency: 0.5}`,
	Build: func(b *runtime.Builder, _ *SineConfig) (runtime.Component, error) {
		return &sine{
			out:       runtime.Output[float64](b, "Out", runtime.Desc("the wave")),
			amplitude: runtime.Param(b, "Amplitude", 1.0, runtime.PDesc("peak deviation from Offset")),
			frequency: runtime.Param(b, "Frequency", 1.0, runtime.Min(0), runtime.PUnit("Hz"), runtime.PDesc("cycles per second")),
			phase:     runtime.Param(b, "Phase", 0.0, runtime.PUnit("rad"), runtime.PDesc("phase at t = 0")),
			offset:    runtime.Param(b, "Offset", 0.0, runtime.PDesc("value the wave oscillates around")),
		}, nil
	},
})

type sine struct {
	out                                 *signals.Signal[float64]
	amplitude, frequency, phase, offset *runtime.Parameter[float64]
}

func (s *sine) Process(t runtime.Tick) {
	w := 2 * math.Pi * s.frequency.Get()
	emit(s.out, s.offset.Get()+s.amplitude.Get()*math.Sin(w*t.Seconds()+s.phase.Get()), t)
}

// emit writes a source's value stamped with the tick's time, by the quality
// rule: a NaN or infinite value (from an infinite parameter, say) is never
// published as good.
func emit(out *signals.Signal[float64], v float64, t runtime.Tick) {
	var m signals.Merge
	m.AddTime(t.Wall.UnixNano())
	m.SetFloat(out, v)
}
