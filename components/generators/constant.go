package generators

import (
	"github.com/metronome-rt/metronome/internal/blockkit"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// Constant is the Constant type: Out = Value, a setpoint or a fixed input
// that an operator may change at run time.
var Constant = runtime.Define(runtime.Spec[blockkit.TypeConfig]{
	Name:    "Constant",
	Summary: "a value set by a parameter: Out = Value (double, int, uint, bool or string)",
	Doc: `Publishes its parameter Value on every tick, with good quality and the
tick's time. config.type picks the type (default double); a double Value that
is NaN or infinite is published with quality bad input.`,
	Example: `name: Setpoint
type: Constant
config: {unit: degC}
parameters: {Value: 21.5}`,
	Defaults: blockkit.DoubleType,
	Build: func(b *runtime.Builder, cfg *blockkit.TypeConfig) (runtime.Component, error) {
		switch cfg.Kind() {
		case signals.Bool:
			return newConstant(b, cfg, false), nil
		case signals.Int:
			return newConstant(b, cfg, int64(0)), nil
		case signals.Uint:
			return newConstant(b, cfg, uint64(0)), nil
		case signals.String:
			return newConstant(b, cfg, ""), nil
		}
		return &constantFloat{*newConstant(b, cfg, 0.0)}, nil
	},
})

type constant[T signals.Scalar] struct {
	out   *signals.Signal[T]
	value *runtime.Parameter[T]
}

func newConstant[T signals.Scalar](b *runtime.Builder, cfg *blockkit.TypeConfig, def T) *constant[T] {
	return &constant[T]{
		out:   runtime.Output[T](b, "Out", runtime.Unit(cfg.Unit), runtime.Desc("Value")),
		value: runtime.Param(b, "Value", def, runtime.PUnit(cfg.Unit), runtime.PDesc("the value to publish")),
	}
}

func (c *constant[T]) Process(runtime.Tick) { c.out.Set(c.value.Get()) }

// constantFloat applies the quality rule to a double Value.
type constantFloat struct{ constant[float64] }

func (c *constantFloat) Process(t runtime.Tick) { emit(c.out, c.value.Get(), t) }
