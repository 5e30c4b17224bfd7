// Package arith holds arithmetic blocks: sums with signs, products,
// quotients, minimum, maximum and mean over any number of inputs, absolute
// value, a moving average, and an expression block for small formulas.
//
// Every block follows the quality rule (signals.Merge): its output takes the
// worst quality of its inputs and the newest of their times; an input
// without a value (initial, bad input) holds the output; a NaN or infinite
// result is never published as good.
package arith

import (
	"fmt"
	"math"

	"github.com/metronome-rt/metronome/internal/blockkit"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// foldOp says how a fold combines its inputs.
type foldOp uint8

const (
	foldSum foldOp = iota // weighted sum
	foldProduct
	foldMin
	foldMax
	foldMean
)

// fold reduces its inputs to one output.
type fold struct {
	in     []*signals.Signal[float64]
	weight []float64 // foldSum: +1 or -1 per input
	out    *signals.Signal[float64]
	op     foldOp
}

func (f *fold) Process(runtime.Tick) {
	var m signals.Merge
	for _, in := range f.in {
		m.Add(in)
	}
	if !m.Ready(f.out) {
		return
	}
	var acc float64
	switch f.op {
	case foldSum:
		for i, in := range f.in {
			acc += f.weight[i] * in.Get()
		}
	case foldMean:
		for _, in := range f.in {
			acc += in.Get()
		}
		acc /= float64(len(f.in))
	case foldProduct:
		acc = 1
		for _, in := range f.in {
			acc *= in.Get()
		}
	case foldMin:
		acc = math.Inf(1)
		for _, in := range f.in {
			acc = math.Min(acc, in.Get())
		}
	case foldMax:
		acc = math.Inf(-1)
		for _, in := range f.in {
			acc = math.Max(acc, in.Get())
		}
	}
	m.SetFloat(f.out, acc)
}

// foldType defines a block over N inputs configured by InputsConfig.
func foldType(name, summary, example string, o foldOp, outDesc string) *runtime.Type {
	return runtime.Define(runtime.Spec[blockkit.InputsConfig]{
		Name:     name,
		Summary:  summary,
		Doc:      "config.inputs sets the number of inputs (In1 .. InN, default 2).",
		Example:  example,
		Defaults: blockkit.TwoInputs,
		Build: func(b *runtime.Builder, cfg *blockkit.InputsConfig) (runtime.Component, error) {
			return &fold{
				in:  blockkit.Inputs[float64](b, "In", 1, cfg.Inputs, "operand"),
				out: runtime.Output[float64](b, "Out", runtime.Desc(outDesc)),
				op:  o,
			}, nil
		},
	})
}

// Multiply is the Multiply type: Out = In1 * In2 * ... * InN.
var Multiply = foldType("Multiply", "product of its inputs: Out = In1 * In2 * ... * InN",
	`name: Power
type: Multiply
inputs: {In1: App.Volts.Out, In2: App.Amps.Out}`, foldProduct, "the product")

// Min is the Min type: Out = the smallest input.
var Min = foldType("Min", "smallest of its inputs", `name: Lowest
type: Min
config: {inputs: 3}
inputs: {In1: App.T1.Out, In2: App.T2.Out, In3: App.T3.Out}`, foldMin, "the smallest input")

// Max is the Max type: Out = the largest input.
var Max = foldType("Max", "largest of its inputs", `name: Highest
type: Max
inputs: {In1: App.T1.Out, In2: App.T2.Out}`, foldMax, "the largest input")

// Average is the Average type: Out = (In1 + ... + InN) / N.
var Average = foldType("Average", "mean of its inputs: Out = (In1 + ... + InN) / N", `name: Mean
type: Average
config: {inputs: 3}
inputs: {In1: App.T1.Out, In2: App.T2.Out, In3: App.T3.Out}`, foldMean, "the mean")

// AddConfig sets the inputs of an Add and the sign of each.
type AddConfig struct {
	// Signs has one sign, + or -, per input In1, In2, ... (1 to 64 of
	// them): "+-" gives Out = In1 - In2.
	Signs string `yaml:"signs"`
}

// Validate checks the signs, pointing at the first character that is not a sign.
func (c *AddConfig) Validate() error {
	var errs runtime.FieldErrors
	for i := 0; i < len(c.Signs); i++ {
		if c.Signs[i] != '+' && c.Signs[i] != '-' {
			errs = append(errs, &runtime.FieldError{Path: "signs", Offset: i, Msg: fmt.Sprintf("want + or - for each input, got %q", c.Signs[i])})
			return errs
		}
	}
	if len(c.Signs) < 1 || len(c.Signs) > blockkit.MaxInputs {
		errs.Add("signs", "want 1 to %d signs, got %d", blockkit.MaxInputs, len(c.Signs))
	}
	return errs.Err()
}

// Add is the Add type: a sum of inputs with signs, which also subtracts.
var Add = runtime.Define(runtime.Spec[AddConfig]{
	Name:    "Add",
	Summary: "sum of its inputs with signs: Out = ±In1 ±In2 ... (subtracts with config.signs \"+-\")",
	Doc: `config.signs has one + or - per input (In1, In2, ...): the default "++"
adds two inputs, "+-" is In1 - In2, "+-+" is In1 - In2 + In3.`,
	Example: `name: Error
type: Add
config: {signs: "+-"}
inputs: {In1: App.Setpoint.Out, In2: App.Sensor.Out}`,
	Defaults: func() AddConfig { return AddConfig{Signs: "++"} },
	Build: func(b *runtime.Builder, cfg *AddConfig) (runtime.Component, error) {
		f := &fold{
			in:     blockkit.Inputs[float64](b, "In", 1, len(cfg.Signs), "operand, with the sign config.signs gives it"),
			out:    runtime.Output[float64](b, "Out", runtime.Desc("the signed sum")),
			weight: make([]float64, len(cfg.Signs)),
			op:     foldSum,
		}
		for i := range cfg.Signs {
			f.weight[i] = 1
			if cfg.Signs[i] == '-' {
				f.weight[i] = -1
			}
		}
		return f, nil
	},
})

// Divide is the Divide type: Out = In1 / In2, never infinite.
var Divide = blockkit.About{
	Name:    "Divide",
	Summary: "quotient: Out = In1 / In2; a zero divisor holds Out with quality bad input",
	Doc: `A division by zero (or any quotient that is not finite) is not published:
Out keeps its last value with quality bad input until the quotient is
finite again.`,
	Example: `name: Ratio
type: Divide
inputs: {In1: App.Flow.Out, In2: App.Area.Out}`,
}.Define(func(b *runtime.Builder) runtime.Component {
	return &divide{
		num: runtime.Input[float64](b, "In1", runtime.Desc("dividend")),
		den: runtime.Input[float64](b, "In2", runtime.Desc("divisor")),
		out: runtime.Output[float64](b, "Out", runtime.Desc("In1 / In2")),
	}
})

type divide struct {
	num, den, out *signals.Signal[float64]
}

func (d *divide) Process(runtime.Tick) {
	var m signals.Merge
	m.Add(d.num)
	m.Add(d.den)
	if !m.Ready(d.out) {
		return
	}
	m.SetFloat(d.out, d.num.Get()/d.den.Get()) // x/0 is ±Inf or NaN: held as bad input
}

// Abs is the Abs type: Out = |In|.
var Abs = blockkit.About{
	Name:    "Abs",
	Summary: "absolute value: Out = |In|",
	Example: `name: Magnitude
type: Abs
inputs: {In: App.Error.Out}`,
}.Define(func(b *runtime.Builder) runtime.Component {
	return &abs{
		in:  runtime.Input[float64](b, "In", runtime.Desc("value")),
		out: runtime.Output[float64](b, "Out", runtime.Desc("|In|")),
	}
})

type abs struct{ in, out *signals.Signal[float64] }

func (a *abs) Process(runtime.Tick) {
	var m signals.Merge
	m.Add(a.in)
	if !m.Ready(a.out) {
		return
	}
	m.SetFloat(a.out, math.Abs(a.in.Get()))
}
