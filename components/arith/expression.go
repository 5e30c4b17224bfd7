package arith

import (
	"errors"
	"fmt"
	"strings"

	"github.com/metronome-rt/metronome/internal/blockkit"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// ExpressionConfig names the inputs of an Expression and gives its formula.
type ExpressionConfig struct {
	// Inputs are the names of the formula's inputs, double signals, each
	// used in the formula.
	Inputs []string `yaml:"inputs"`
	// Expression is the formula: + - * / % ^, comparisons, && || !, ?:,
	// functions, pi and e (see "The formula language" in the arith README).
	Expression string `yaml:"expression"`
	// Unit is the engineering unit of Out.
	Unit string `yaml:"unit"`
}

// Validate checks the input names and compiles the formula: a mistake in
// the formula is reported at the byte offset of the character it starts at.
func (c *ExpressionConfig) Validate() error {
	var errs runtime.FieldErrors
	seen := map[string]bool{}
	for i, name := range c.Inputs {
		path := fmt.Sprintf("inputs[%d]", i)
		switch {
		case !validName(name):
			errs.Add(path, "invalid input name %q: use letters, digits and _, starting with a letter", name)
		case reserved(name):
			errs.Add(path, "input name %q is taken by the formula language (functions %s; constants pi, e, true, false)", name, functionNames())
		case seen[name]:
			errs.Add(path, "input %q is listed twice", name)
		}
		seen[name] = true
	}
	if len(c.Inputs) > blockkit.MaxInputs {
		errs.Add("inputs", "want at most %d inputs, got %d", blockkit.MaxInputs, len(c.Inputs))
	}
	if len(errs) > 0 {
		return errs
	}
	if strings.TrimSpace(c.Expression) == "" {
		errs.Add("expression", "missing: write the formula, for example \"(In1 - 32) * 5 / 9\"")
		return errs
	}
	prog, err := compile(c.Expression, c.Inputs)
	var ee *exprError
	if errors.As(err, &ee) {
		return append(errs, &runtime.FieldError{Path: "expression", Offset: ee.off, Msg: ee.msg})
	}
	for i, used := range prog.used {
		if !used {
			errs.Add(fmt.Sprintf("inputs[%d]", i), "input %q is not used in the expression", c.Inputs[i])
		}
	}
	return errs.Err()
}

// validName is the runtime's rule for signal names: letters, digits and _,
// starting with a letter.
func validName(s string) bool {
	if s == "" || !isLetter(s[0]) || s[0] == '_' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isLetter(s[i]) && !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// Expression is the Expression type: Out = a formula over named inputs.
var Expression = runtime.Define(runtime.Spec[ExpressionConfig]{
	Name:    "Expression",
	Summary: "a small formula over named inputs, checked at load: Out = f(inputs), a double or a bool",
	Doc: `config.inputs names the inputs (double signals) and config.expression
is the formula over them. The formula is parsed and type-checked when the
application loads; a mistake is reported at the file, line and column of
the character it is at. Out is a double, or a bool when the formula is a
comparison or a logical expression. Numbers: + - * / % (remainder) ^
(power), unary -; comparisons < <= > >= == != give bools; && || ! on bools;
c ? a : b; functions abs sqrt exp ln log10 sin cos tan asin acos atan floor
ceil round trunc sign (one argument), pow atan2 hypot (two), min max (one or
more), clamp(x, lo, hi); constants pi, e, true, false.

Out follows the quality rule: a NaN or infinite result, a NaN input meeting
a comparison, or a division by zero holds Out with quality bad input.`,
	Example: `name: Fahrenheit
type: Expression
config:
  inputs: [Celsius]
  expression: "Celsius * 9 / 5 + 32"
  unit: degF
inputs: {Celsius: App.Sensor.Out}`,
	Build: func(b *runtime.Builder, cfg *ExpressionConfig) (runtime.Component, error) {
		if strings.TrimSpace(cfg.Expression) == "" {
			return nil, errors.New("config.expression is missing")
		}
		prog, err := compile(cfg.Expression, cfg.Inputs)
		if err != nil {
			return nil, fmt.Errorf("config.expression: %w", err)
		}
		e := &expression{prog: prog, vals: make([]float64, len(cfg.Inputs))}
		for _, name := range cfg.Inputs {
			e.in = append(e.in, runtime.Input[float64](b, name, runtime.Desc("input of the formula")))
		}
		desc := runtime.Desc("the formula's value")
		if prog.out == tBool {
			e.outB = runtime.Output[bool](b, "Out", desc)
			e.out = e.outB
		} else {
			e.outF = runtime.Output[float64](b, "Out", desc, runtime.Unit(cfg.Unit))
			e.out = e.outF
		}
		return e, nil
	},
})

type expression struct {
	in   []*signals.Signal[float64]
	vals []float64
	prog *program
	outF *signals.Signal[float64]
	outB *signals.Signal[bool]
	out  signals.Port
}

func (e *expression) Process(runtime.Tick) {
	var m signals.Merge
	for i, in := range e.in {
		m.Add(in)
		e.vals[i] = in.Get()
	}
	if !m.Ready(e.out) {
		return
	}
	v, bad := e.prog.run(e.vals)
	if bad {
		m.AddQ(signals.BadInput, 0)
		m.Hold(e.out)
		return
	}
	if e.outB != nil {
		signals.Set(m, e.outB, v != 0)
		return
	}
	m.SetFloat(e.outF, v)
}
