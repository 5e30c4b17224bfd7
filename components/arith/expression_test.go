package arith_test

import (
	"math"
	"strings"
	"testing"

	"github.com/metronome-rt/metronome/components/arith"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/runtime/runtimetest"
	"github.com/metronome-rt/metronome/scheduler"
	"github.com/metronome-rt/metronome/signals"
)

func exprEntry(inputs, expr string) string {
	return "config: {inputs: [" + inputs + "], expression: \"" + expr + "\"}"
}

func TestExpressionValues(t *testing.T) {
	for _, c := range []struct {
		expr string
		want float64
	}{
		{"a + b * 2", 7},
		{"(a + b) * 2", 8},
		{"a - b - 1", -3},
		{"a / b * 3", 1},
		{"-a ^ 2", -1},
		{"2 ^ 3 ^ 2", 512},
		{"2 ^ -1", 0.5},
		{"b % 2", 1},
		{"1.5e1 + .5 + a", 16.5},
		{"pi * 0 + e * 0 + a", 1},
		{"min(a, b, -2) + max(a) + clamp(b, 0, 2.5)", 1.5},
		{"abs(-b) + sqrt(b + 1) + pow(b, 2) + hypot(3, 4) + sign(-a) + round(2.5) + floor(-0.5) + trunc(-1.5)", 3 + 2 + 9 + 5 - 1 + 3 - 1 - 1},
		{"a < b ? 10 : 20", 10},
		{"a > b ? 10 : b > 2 ? 30 : 40", 30},
		{"true ? a : b", 1},
		{"ln(exp(b)) + log10(100) + atan2(0, 1) + sin(0) + cos(0) + tan(0) + asin(0) + acos(1) + atan(0) + ceil(0.2)", 3 + 2 + 1 + 1},
	} {
		h := runtimetest.New(t, arith.Expression, exprEntry("a, b", c.expr+" + 0*a + 0*b"))
		h.Set("a", 1.0)
		h.Set("b", 3.0)
		h.Step(1)
		if got := h.Float("Out"); math.Abs(got-c.want) > 1e-12 || h.Quality("Out") != signals.Good {
			t.Errorf("%s = %v (%v), want %v", c.expr, got, h.Quality("Out"), c.want)
		}
	}
}

func TestExpressionBoolResult(t *testing.T) {
	h := runtimetest.New(t, arith.Expression, exprEntry("T, RH", "T > 25 && !(RH >= 60) || T == 99"))
	if k := h.Port("Out").Kind(); k != signals.Bool {
		t.Fatalf("Out is %s, want bool", k)
	}
	for _, c := range []struct {
		t, rh float64
		want  string
	}{{30, 50, "true"}, {30, 60, "false"}, {20, 10, "false"}, {99, 99, "true"}} {
		h.Set("T", c.t)
		h.Set("RH", c.rh)
		h.Step(1)
		if got := h.Get("Out").Text(); got != c.want || h.Quality("Out") != signals.Good {
			t.Errorf("T=%v RH=%v: Out = %s (%v), want %s", c.t, c.rh, got, h.Quality("Out"), c.want)
		}
	}
	// A NaN meeting a comparison decides nothing: Out holds as bad input.
	h.Set("T", math.NaN())
	h.Step(1)
	if got := h.Get("Out").Text(); got != "true" || h.Quality("Out") != signals.BadInput {
		t.Fatalf("T = NaN: Out = %s (%v), want the held true with bad input", got, h.Quality("Out"))
	}
	// Short-circuit: the right side of && is not evaluated, so its NaN does not count.
	h2 := runtimetest.New(t, arith.Expression, exprEntry("x", "x > 0 && sqrt(x) > 1"))
	h2.Set("x", -4.0)
	h2.Step(1)
	if got := h2.Get("Out").Text(); got != "false" || h2.Quality("Out") != signals.Good {
		t.Fatalf("x = -4: Out = %s (%v), want false (good)", got, h2.Quality("Out"))
	}
}

func TestExpressionNeverPublishesAGoodNaNOrInfinity(t *testing.T) {
	h := runtimetest.New(t, arith.Expression, exprEntry("a, b", "a / b"))
	h.Set("a", 1.0)
	h.Set("b", 4.0)
	expect(t, h, 0.25, signals.Good)
	h.Set("b", 0.0)
	expect(t, h, 0.25, signals.BadInput)
	h2 := runtimetest.New(t, arith.Expression, exprEntry("a", "sqrt(a)"))
	h2.Set("a", -1.0)
	expect(t, h2, 0, signals.BadInput)
	// An untaken branch's NaN or infinity does not matter.
	h3 := runtimetest.New(t, arith.Expression, exprEntry("a", "a != 0 ? 1 / a : 0"))
	h3.SetQ("a", 0.0, signals.Stale)
	expect(t, h3, 0, signals.Stale)
}

func TestExpressionErrorsPointAtTheCharacter(t *testing.T) {
	for _, c := range []struct {
		inputs []string
		expr   string
		path   string
		off    int
		msg    string
	}{
		{[]string{"T"}, "T * 9 / 5 + 32 + Tx", "expression", 17, `unknown name "Tx"`},
		{[]string{"T"}, "T + (T > 1)", "expression", 4, "+ needs a number here, got a bool"},
		{[]string{"T"}, "T && true", "expression", 0, "&& needs a bool here, got a number"},
		{[]string{"T"}, "T > 1 ? 1 : false", "expression", 12, "the branches of ?: differ"},
		{[]string{"T"}, "T ? 1 : 2", "expression", 0, "the condition of ?: needs a bool"},
		{[]string{"T"}, "(T + 1", "expression", 6, "want ) to close a (, got end of the formula"},
		{[]string{"T"}, "T $ 2", "expression", 2, `unexpected character "$"`},
		{[]string{"T"}, "T 2", "expression", 2, "missing an operator before number 2"},
		{[]string{"T"}, "1.2.3 + T", "expression", 0, `malformed number "1.2.3"`},
		{[]string{"T"}, "pow(T)", "expression", 0, "pow takes 2 arguments, got 1"},
		{[]string{"T"}, "sqrt(T, 1)", "expression", 0, "sqrt takes 1 argument, got 2"},
		{[]string{"T"}, "T + foo(1)", "expression", 4, `unknown function "foo"`},
		{[]string{"T"}, "T + sqrt", "expression", 4, "sqrt is a function"},
		{[]string{"T"}, "1 < T < 3", "expression", 6, "comparisons do not chain"},
		{[]string{"T"}, "T == (T > 1)", "expression", 5, "== compares a number with a bool"},
		{[]string{"T"}, "!T", "expression", 1, "! needs a bool here"},
		{[]string{"T"}, "T +", "expression", 3, "want a number, an input or (, got end of the formula"},
		{[]string{"T"}, "   ", "expression", 0, "missing"},
		{[]string{"T", "U"}, "T + 1", "inputs[1]", 0, `input "U" is not used`},
		{[]string{"T", "T"}, "T", "inputs[1]", 0, `input "T" is listed twice`},
		{[]string{"sqrt"}, "1", "inputs[0]", 0, `input name "sqrt" is taken`},
		{[]string{"9x"}, "1", "inputs[0]", 0, `invalid input name "9x"`},
		{[]string{"_x"}, "1", "inputs[0]", 0, `invalid input name "_x"`},
	} {
		err := (&arith.ExpressionConfig{Inputs: c.inputs, Expression: c.expr}).Validate()
		fes := runtime.AsFieldErrors(err)
		if len(fes) != 1 || fes[0].Path != c.path || fes[0].Offset != c.off || !strings.Contains(fes[0].Msg, c.msg) {
			t.Errorf("%q over %v: %v (path %q offset %d), want %s at offset %d: %s", c.expr, c.inputs, err, first(fes).Path, first(fes).Offset, c.path, c.off, c.msg)
		}
	}
}

func first(fes runtime.FieldErrors) *runtime.FieldError {
	if len(fes) == 0 {
		return &runtime.FieldError{}
	}
	return fes[0]
}

// TestExpressionErrorNamesItsLine checks the loader's report of a formula
// mistake: the file and the line of the expression key.
func TestExpressionErrorNamesItsLine(t *testing.T) {
	yaml := `application: A
components:
  - name: F
    type: Expression
    config:
      inputs: [T]
      expression: "T * 9 / 5 + 32 + Tx"
`
	_, err := runtime.LoadBytes("f.yaml", []byte(yaml), runtime.MustRegistry(arith.Expression), runtime.LoadOptions{Scheduler: scheduler.Options{Virtual: true}})
	if err == nil || !strings.Contains(err.Error(), "f.yaml:7:") || !strings.Contains(err.Error(), `unknown name "Tx"`) {
		t.Fatalf("load error %v, want one at f.yaml:7 naming Tx", err)
	}
}
