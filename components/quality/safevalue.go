// Package quality holds blocks that act on a signal's quality rather than
// its value: SafeValue, which puts a configured safe value in place of one
// that cannot be trusted, and Discrepancy, which alarms when a device's
// feedback does not confirm its command.
package quality

import (
	"github.com/metronome-rt/metronome/internal/blockkit"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// SafeValue is the SafeValue type: Out = In while In is good, else Fallback.
var SafeValue = runtime.Define(runtime.Spec[blockkit.TypeConfig]{
	Name:    "SafeValue",
	Summary: "Out = In while In is good; the parameter Fallback while In is stale, comm lost, bad or never received, with Substituted true",
	Doc: `While In's quality is good (and, for a double, its value is finite) Out
passes In on with its quality and time. Otherwise (initial, stale, comm
lost, bad input, or any quality other than good) Out is Fallback, with good
quality and the tick's time: it is a deliberate value, and Substituted says
that it is in use, as does the alarm Substituting (delay it with
alarms: {Substituting: {delay: 5s}} to ride through short gaps). Put it
between a measurement that crosses a network and a block that must get a
safe value, or before an actuator: a heater's command falls back to off
when the thermostat's temperature is lost.`,
	Example: `name: HeaterSafe
type: SafeValue
config: {type: bool}
parameters: {Fallback: false}
inputs: {In: App.Thermostat.Out}`,
	Defaults: blockkit.DoubleType,
	Build: func(b *runtime.Builder, cfg *blockkit.TypeConfig) (runtime.Component, error) {
		switch cfg.Kind() {
		case signals.Bool:
			return newSafe(b, cfg, false), nil
		case signals.Int:
			return newSafe(b, cfg, int64(0)), nil
		case signals.Uint:
			return newSafe(b, cfg, uint64(0)), nil
		case signals.String:
			return newSafe(b, cfg, ""), nil
		}
		return &safeFloat{*newSafe(b, cfg, 0.0)}, nil
	},
})

// shared are the members every SafeValue has whatever its type.
type shared struct {
	substituted *signals.Signal[bool]
	alarm       *runtime.Alarm
}

type safe[T signals.Scalar] struct {
	shared
	in, out  *signals.Signal[T]
	fallback *runtime.Parameter[T]
}

func newSafe[T signals.Scalar](b *runtime.Builder, cfg *blockkit.TypeConfig, def T) *safe[T] {
	u := runtime.Unit(cfg.Unit)
	return &safe[T]{
		in:  runtime.Input[T](b, "In", u, runtime.Desc("the value to check")),
		out: runtime.Output[T](b, "Out", u, runtime.Desc("In, or Fallback while In cannot be trusted")),
		shared: shared{
			substituted: runtime.Output[bool](b, "Substituted", runtime.Desc("Out is Fallback because In cannot be trusted")),
			alarm:       b.Alarm("Substituting", runtime.Warning, "the input cannot be trusted: the fallback value is in use"),
		},
		fallback: runtime.Param(b, "Fallback", def, runtime.PUnit(cfg.Unit), runtime.PDesc("the safe value")),
	}
}

func (s *safe[T]) Process(t runtime.Tick) { s.apply(t, s.in.Quality() == signals.Good) }

// apply passes In on when it can be trusted, and Fallback otherwise.
func (s *safe[T]) apply(t runtime.Tick, trusted bool) {
	if trusted {
		s.out.Put(s.in.Get(), s.in.Quality(), s.in.Stamp())
	} else {
		s.out.Put(s.fallback.Get(), signals.Good, t.Wall.UnixNano())
	}
	s.substituted.Set(!trusted)
	s.alarm.Update(!trusted)
}

// safeFloat also distrusts a good NaN or infinity.
type safeFloat struct{ safe[float64] }

func (s *safeFloat) Process(t runtime.Tick) {
	s.apply(t, s.in.Quality() == signals.Good && signals.Finite(s.in.Get()))
}
