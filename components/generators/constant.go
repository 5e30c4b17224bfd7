package generators

import (
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// ConstantConfig chooses the type of a Constant's value.
type ConstantConfig struct {
	// Type is the value's type: double, int, uint, bool or string.
	Type string `yaml:"type" doc:"type of Value and Out: double, int, uint, bool or string"`
	// Unit is the engineering unit shown on Value and Out.
	Unit string `yaml:"unit" doc:"engineering unit of Value and Out"`
}

// Validate checks the type name.
func (c *ConstantConfig) Validate() error {
	var errs runtime.FieldErrors
	if _, err := signals.ParseKind(c.Type); err != nil {
		errs.Add("type", "%v", err)
	}
	return errs.Err()
}

// Constant is the Constant type: Out = Value, a setpoint or a fixed input
// that an operator may change at run time.
var Constant = runtime.Define(runtime.Spec[ConstantConfig]{
	Name:    "Constant",
	Summary: "a value set by a parameter: Out = Value (double, int, uint, bool or string)",
	Doc: `Publishes its parameter Value on every tick, with good quality and the
tick's time. config.type picks the type (default double); a double Value that
is NaN or infinite is published with quality bad input.`,
	Example: `name: Setpoint
type: Constant
config: {unit: degC}
parameters: {Value: 21.5}`,
	Defaults: func() ConstantConfig { return ConstantConfig{Type: "double"} },
	Build: func(b *runtime.Builder, cfg *ConstantConfig) (runtime.Component, error) {
		k, err := signals.ParseKind(cfg.Type)
		if err != nil {
			return nil, err
		}
		switch k {
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

func newConstant[T signals.Scalar](b *runtime.Builder, cfg *ConstantConfig, def T) *constant[T] {
	return &constant[T]{
		out:   runtime.Output[T](b, "Out", runtime.Unit(cfg.Unit), runtime.Desc("Value")),
		value: runtime.Param(b, "Value", def, runtime.PUnit(cfg.Unit), runtime.PDesc("the value to publish")),
	}
}

func (c *constant[T]) Process(runtime.Tick) { c.out.Set(c.value.Get()) }

// constantFloat applies the quality rule to a double Value.
type constantFloat struct{ constant[float64] }

func (c *constantFloat) Process(t runtime.Tick) { emit(c.out, c.value.Get(), t) }
