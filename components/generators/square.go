package generators

import (
	"math"

	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// SquareConfig has no keys: the wave is set by its parameters.
type SquareConfig struct{}

// Square is the SquareGenerator type: a square wave between Offset+Amplitude
// and Offset-Amplitude.
var Square = runtime.Define(runtime.Spec[SquareConfig]{
	Name:    "SquareGenerator",
	Summary: "square wave from the tick time: Offset+Amplitude for the first Duty of each period, then Offset-Amplitude",
	Doc: `Out = Offset + Amplitude while frac(Frequency*t) < Duty, else
Offset - Amplitude, with t the scheduled tick time. Frequency 0 holds the
high level when Duty > 0.`,
	Example: `name: Square
type: SquareGenerator
fs: 100
parameters: {Amplitude: 1, Frequency: 0.2, Duty: 0.25, Offset: 1}`,
	Build: func(b *runtime.Builder, _ *SquareConfig) (runtime.Component, error) {
		return &square{
			out:       runtime.Output[float64](b, "Out", runtime.Desc("the wave")),
			amplitude: runtime.Param(b, "Amplitude", 1.0, runtime.PDesc("half the distance between the levels")),
			frequency: runtime.Param(b, "Frequency", 1.0, runtime.Min(0), runtime.PUnit("Hz"), runtime.PDesc("cycles per second")),
			duty:      runtime.Param(b, "Duty", 0.5, runtime.Range(0, 1), runtime.PDesc("fraction of each period at the high level")),
			offset:    runtime.Param(b, "Offset", 0.0, runtime.PDesc("value between the levels")),
		}, nil
	},
})

type square struct {
	out                                *signals.Signal[float64]
	amplitude, frequency, duty, offset *runtime.Parameter[float64]
}

func (s *square) Process(t runtime.Tick) {
	x := s.frequency.Get() * t.Seconds()
	v := s.offset.Get() - s.amplitude.Get()
	if x-math.Floor(x) < s.duty.Get() {
		v = s.offset.Get() + s.amplitude.Get()
	}
	emit(s.out, v, t)
}
