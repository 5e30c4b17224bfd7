package generators

import (
	"github.com/metronome-rt/metronome/internal/blockkit"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// PulseConfig has no keys: the train is set by its parameters.
type PulseConfig struct{}

// Pulse is the PulseGenerator type: a pulse train, the PLC blinker.
var Pulse = runtime.Define(runtime.Spec[PulseConfig]{
	Name:    "PulseGenerator",
	Summary: "pulse train from the tick time: Out is true for Width at the start of every Period",
	Doc: `Out = true while (t mod Period) < Width, with t the scheduled tick time
in nanoseconds, so edges fall on exact ticks. Width 0 never pulses; Width >=
Period is always true. A pulse shorter than the component's period may fall
between two ticks and not be seen: keep Width at least one period.`,
	Example: `name: Blink
type: PulseGenerator
parameters: {Period: 2, Width: 0.5}`,
	Build: func(b *runtime.Builder, _ *PulseConfig) (runtime.Component, error) {
		return &pulse{
			out:    runtime.Output[bool](b, "Out", runtime.Desc("the pulse train")),
			period: runtime.Param(b, "Period", 1.0, runtime.Min(1e-9), runtime.PUnit("s"), runtime.PDesc("time from one pulse's start to the next")),
			width:  runtime.Param(b, "Width", 0.5, runtime.Min(0), runtime.PUnit("s"), runtime.PDesc("how long each pulse lasts")),
		}, nil
	},
})

type pulse struct {
	out           *signals.Signal[bool]
	period, width *runtime.Parameter[float64]
}

func (p *pulse) Process(t runtime.Tick) {
	period := blockkit.Nanos(p.period.Get())
	if period <= 0 { // a NaN Period passes the parameter's range check
		p.out.SetQuality(signals.BadInput)
		return
	}
	p.out.Set(int64(t.Mono)%period < blockkit.Nanos(p.width.Get()))
}
