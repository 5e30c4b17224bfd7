package generators

import (
	"math"

	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// RampConfig has no keys: the ramp is set by its parameters.
type RampConfig struct{}

// Ramp is the RampGenerator type: a setpoint ramp from Start to End.
var Ramp = runtime.Define(runtime.Spec[RampConfig]{
	Name:    "RampGenerator",
	Summary: "ramp from the tick time: Start until Delay, then towards End at Slope per second, then End",
	Doc: `Out = Start while t < Delay; then it moves from Start towards End at
Slope units per second and holds End once it gets there (t is the scheduled
tick time since the application started). Slope 0 holds Start.`,
	Example: `name: Profile
type: RampGenerator
parameters: {Start: 20, End: 60, Slope: 0.5, Delay: 10}`,
	Build: func(b *runtime.Builder, _ *RampConfig) (runtime.Component, error) {
		return &ramp{
			out:   runtime.Output[float64](b, "Out", runtime.Desc("the ramp")),
			start: runtime.Param(b, "Start", 0.0, runtime.PDesc("value until Delay")),
			end:   runtime.Param(b, "End", 1.0, runtime.PDesc("value the ramp stops at")),
			slope: runtime.Param(b, "Slope", 1.0, runtime.Min(0), runtime.PUnit("1/s"), runtime.PDesc("rate of change, units per second")),
			delay: runtime.Param(b, "Delay", 0.0, runtime.Min(0), runtime.PUnit("s"), runtime.PDesc("time the ramp starts at")),
		}, nil
	},
})

type ramp struct {
	out                      *signals.Signal[float64]
	start, end, slope, delay *runtime.Parameter[float64]
}

func (r *ramp) Process(t runtime.Tick) {
	start, end := r.start.Get(), r.end.Get()
	v := start
	if dt := t.Seconds() - r.delay.Get(); dt > 0 {
		step := r.slope.Get() * dt
		if end >= start {
			v = math.Min(start+step, end)
		} else {
			v = math.Max(start-step, end)
		}
	}
	emit(r.out, v, t)
}
