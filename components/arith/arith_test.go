package arith_test

import (
	"math"
	"strings"
	"testing"

	"github.com/metronome-rt/metronome/components/arith"
	"github.com/metronome-rt/metronome/internal/blockkit"
	"github.com/metronome-rt/metronome/internal/blocktest"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/runtime/runtimetest"
	"github.com/metronome-rt/metronome/signals"
)

// expect checks Out's value and quality after a step.
func expect(t *testing.T, h *runtimetest.Harness, want float64, q signals.Quality) {
	t.Helper()
	h.Step(1)
	got := h.Float("Out")
	if (got != want && !(math.IsNaN(got) && math.IsNaN(want))) || h.Quality("Out") != q {
		t.Fatalf("Out = %v (%v), want %v (%v)", got, h.Quality("Out"), want, q)
	}
}

func TestAddWithSigns(t *testing.T) {
	h := runtimetest.New(t, arith.Add, `config: {signs: "+-+"}`)
	h.Step(1)
	if h.Quality("Out") != signals.Initial {
		t.Fatalf("Out before any input: %v, want initial", h.Quality("Out"))
	}
	h.Set("In1", 10.0)
	h.Set("In2", 4.0)
	expect(t, h, 0, signals.Initial) // In3 has no value yet: Out holds
	h.Set("In3", 0.5)
	expect(t, h, 6.5, signals.Good)
	h.SetQ("In2", 1.0, signals.CommLost)
	expect(t, h, 9.5, signals.CommLost)
	h.Set("In2", math.Inf(1))
	h.Set("In1", math.Inf(1))
	expect(t, h, 9.5, signals.BadInput) // Inf - Inf = NaN: held
	h.Set("In1", 1.0)
	expect(t, h, 9.5, signals.BadInput) // 1 - Inf = -Inf: held
	h.Set("In2", 0.0)
	expect(t, h, 1.5, signals.Good)
}

func TestAddSignsAreValidated(t *testing.T) {
	for _, c := range []struct {
		signs string
		off   int
		msg   string
	}{
		{"+x-", 1, `got 'x'`},
		{"-- ", 2, `got ' '`},
		{"", 0, "want 1 to 64 signs, got 0"},
		{strings.Repeat("+", 65), 0, "got 65"},
	} {
		fes := runtime.AsFieldErrors((&arith.AddConfig{Signs: c.signs}).Validate())
		if len(fes) != 1 || fes[0].Path != "signs" || fes[0].Offset != c.off || !strings.Contains(fes[0].Msg, c.msg) {
			t.Errorf("signs %q: %v, want one error at signs, offset %d, saying %s", c.signs, fes, c.off, c.msg)
		}
	}
	h := runtimetest.New(t, arith.Add, `config: {signs: "-"}`)
	h.Set("In1", 2.0)
	expect(t, h, -2, signals.Good)
}

func TestFoldsOverThreeInputs(t *testing.T) {
	for _, c := range []struct {
		typ  *runtime.Type
		want float64
	}{
		{arith.Multiply, -24},
		{arith.Min, -4},
		{arith.Max, 3},
		{arith.Average, 1.0 / 3},
	} {
		h := runtimetest.New(t, c.typ, "config: {inputs: 3}")
		h.Set("In1", 2.0)
		h.Set("In2", 3.0)
		h.Set("In3", -4.0)
		h.Step(1)
		if got := h.Float("Out"); math.Abs(got-c.want) > 1e-15 || h.Quality("Out") != signals.Good {
			t.Errorf("%s(2, 3, -4) = %v (%v), want %v", c.typ.Name(), got, h.Quality("Out"), c.want)
		}
		// NaN never comes out good, whatever the operation.
		h.Set("In2", math.NaN())
		h.Step(1)
		if got := h.Float("Out"); math.Abs(got-c.want) > 1e-15 || h.Quality("Out") != signals.BadInput {
			t.Errorf("%s with a NaN input: %v (%v), want the held %v with bad input", c.typ.Name(), got, h.Quality("Out"), c.want)
		}
	}
}

func TestMinMaxOfInfinityAreFinite(t *testing.T) {
	h := runtimetest.New(t, arith.Min, "")
	h.Set("In1", math.Inf(1))
	h.Set("In2", 5.0)
	expect(t, h, 5, signals.Good)
	h = runtimetest.New(t, arith.Max, "")
	h.Set("In1", math.Inf(1))
	h.Set("In2", 5.0)
	expect(t, h, 0, signals.BadInput) // +Inf is not published; nothing was before
}

func TestInputsCountIsValidated(t *testing.T) {
	for _, n := range []int{1, 65, -1} {
		fes := runtime.AsFieldErrors((&blockkit.InputsConfig{Inputs: n}).Validate())
		if len(fes) != 1 || fes[0].Path != "inputs" {
			t.Errorf("inputs %d: %v", n, fes)
		}
	}
}

func TestOutputTakesTheNewestInputTime(t *testing.T) {
	h := runtimetest.New(t, arith.Multiply, "")
	h.Set("In1", 1.0)
	h.Set("In2", 1.0)
	h.Step(1)
	first := h.Port("In1").Stamp()
	h.Step(5)
	h.Set("In2", 2.0)
	h.Step(1)
	if got, want := h.Port("Out").Stamp(), h.Port("In2").Stamp(); got != want || want <= first {
		t.Fatalf("Out's time %d, want In2's %d (newer than In1's %d)", got, want, first)
	}
}

func TestDivideByZeroIsNeverGood(t *testing.T) {
	h := runtimetest.New(t, arith.Divide, "")
	h.Set("In1", 7.0)
	h.Set("In2", 2.0)
	expect(t, h, 3.5, signals.Good)
	h.Set("In2", 0.0)
	expect(t, h, 3.5, signals.BadInput)
	h.Set("In2", math.Copysign(0, -1))
	expect(t, h, 3.5, signals.BadInput)
	h.Set("In1", 0.0)
	h.Set("In2", 0.0)
	expect(t, h, 3.5, signals.BadInput) // 0/0
	h.Set("In1", 1e300)
	h.Set("In2", 1e-300)
	expect(t, h, 3.5, signals.BadInput) // overflow to +Inf
	h.Set("In2", math.Inf(1))
	expect(t, h, 0, signals.Good) // finite / Inf is 0, exactly
	h.SetQ("In2", 4.0, signals.Stale)
	expect(t, h, 2.5e299, signals.Stale)
}

func TestAbs(t *testing.T) {
	h := runtimetest.New(t, arith.Abs, "")
	h.Set("In", -2.5)
	expect(t, h, 2.5, signals.Good)
	h.Set("In", math.Inf(-1))
	expect(t, h, 2.5, signals.BadInput)
	h.SetQ("In", -1.0, signals.BadInput)
	expect(t, h, 2.5, signals.BadInput)
}

func TestMovingAverageWindow(t *testing.T) {
	h := runtimetest.New(t, arith.MovingAverage, "config: {samples: 4}")
	h.Set("In", 4.0)
	expect(t, h, 4, signals.Good) // one sample so far
	h.Set("In", 8.0)
	expect(t, h, 6, signals.Good)
	expect(t, h, 20.0/3, signals.Good) // 4, 8, 8: one sample per tick
	expect(t, h, 7, signals.Good)      // 4, 8, 8, 8
	expect(t, h, 8, signals.Good)      // the 4 has left the window
	h.SetQ("In", 0.0, signals.Stale)
	expect(t, h, 6, signals.Stale)
	h.Set("In", 0.0)
	expect(t, h, 4, signals.Stale) // the stale sample is still in the window
	expect(t, h, 2, signals.Stale)
	expect(t, h, 0, signals.Stale)
	expect(t, h, 0, signals.Good) // it has left
	h.Set("In", math.NaN())
	expect(t, h, 0, signals.BadInput) // not taken
	h.Set("In", 4.0)
	expect(t, h, 1, signals.Good) // 0, 0, 0, 4: the NaN tick took no sample
}

func TestMovingAverageDoesNotDrift(t *testing.T) {
	h := runtimetest.New(t, arith.MovingAverage, "config: {samples: 3}")
	for i := range 2000 {
		h.Set("In", 1e8+float64(i%7)*0.1)
		h.Step(1)
	}
	// The last three samples: i = 1997, 1998, 1999 -> i%7 = 2, 3, 4.
	want := 1e8 + 0.3
	if got := h.Float("Out"); math.Abs(got-want) > 1e-7 {
		t.Fatalf("Out = %.10f after 2000 samples, want %.10f", got, want)
	}
	if fes := runtime.AsFieldErrors((&arith.MovingAverageConfig{Samples: 0}).Validate()); len(fes) != 1 || fes[0].Path != "samples" {
		t.Fatalf("samples 0: %v", fes)
	}
}

var cases = []blocktest.Case{
	{Type: arith.Add, Entry: `config: {signs: "+-+"}`, Inputs: map[string]any{"In1": 1.0, "In2": 2.0, "In3": 3.0}, Alt: map[string]any{"In1": 2.0}},
	{Type: arith.Multiply, Inputs: map[string]any{"In1": 1.5, "In2": 2.0}, Alt: map[string]any{"In1": 2.0}},
	{Type: arith.Divide, Inputs: map[string]any{"In1": 1.0, "In2": 2.0}, Alt: map[string]any{"In2": 0.0}},
	{Type: arith.Min, Entry: "config: {inputs: 4}", Inputs: map[string]any{"In1": 1.0, "In2": 2.0, "In3": 3.0, "In4": 4.0}, Alt: map[string]any{"In1": 5.0}},
	{Type: arith.Max, Inputs: map[string]any{"In1": 1.0, "In2": 2.0}, Alt: map[string]any{"In1": 3.0}},
	{Type: arith.Average, Entry: "config: {inputs: 4}", Inputs: map[string]any{"In1": 1.0, "In2": 2.0, "In3": 3.0, "In4": 4.0}, Alt: map[string]any{"In1": 5.0}},
	{Type: arith.Abs, Inputs: map[string]any{"In": -1.0}, Alt: map[string]any{"In": 2.0}},
	{Type: arith.MovingAverage, Entry: "config: {samples: 100}", Inputs: map[string]any{"In": 1.0}, Alt: map[string]any{"In": 2.0}},
	{Type: arith.Expression, Entry: `config: {inputs: [T, RH], expression: "T > 25 && RH < 60 ? (T - 32) * 5 / 9 : max(T, RH, 0)"}`,
		Inputs: map[string]any{"T": 30.0, "RH": 50.0}, Alt: map[string]any{"T": 20.0}},
}

func TestTicksAllocateNothing(t *testing.T) { blocktest.ZeroAllocs(t, cases) }

func BenchmarkTick(b *testing.B) { blocktest.Bench(b, cases) }
