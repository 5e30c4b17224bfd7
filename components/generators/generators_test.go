package generators_test

import (
	"math"
	"strings"
	"testing"

	"github.com/metronome-rt/metronome/components/generators"
	"github.com/metronome-rt/metronome/internal/blockkit"
	"github.com/metronome-rt/metronome/internal/blocktest"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/runtime/runtimetest"
	"github.com/metronome-rt/metronome/signals"
)

func TestConstantPublishesItsValueEveryTick(t *testing.T) {
	h := runtimetest.New(t, generators.Constant, "parameters: {Value: 21.5}")
	h.Step(1)
	if got, q := h.Float("Out"), h.Quality("Out"); got != 21.5 || q != signals.Good {
		t.Fatalf("Out = %v (%v), want 21.5 (good)", got, q)
	}
	first := h.Port("Out").Stamp()
	if err := h.SetParam("Value", -3.0); err != nil {
		t.Fatal(err)
	}
	h.Step(1)
	if got := h.Float("Out"); got != -3 {
		t.Fatalf("Out after Value = -3: %v", got)
	}
	if h.Port("Out").Stamp() <= first {
		t.Fatal("Out's time did not move with the tick")
	}
}

func TestConstantNaNOrInfiniteIsNeverGood(t *testing.T) {
	h := runtimetest.New(t, generators.Constant, "parameters: {Value: 1}")
	h.Step(1)
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if err := h.SetParam("Value", v); err != nil {
			t.Fatal(err)
		}
		h.Step(1)
		if got, q := h.Float("Out"), h.Quality("Out"); got != 1 || q != signals.BadInput {
			t.Fatalf("Value %v: Out = %v (%v), want the last good value 1 with bad input", v, got, q)
		}
	}
	h.SetParam("Value", 2.0)
	h.Step(1)
	if got, q := h.Float("Out"), h.Quality("Out"); got != 2 || q != signals.Good {
		t.Fatalf("Out = %v (%v) after a finite Value again, want 2 (good)", got, q)
	}
}

func TestConstantOfEveryType(t *testing.T) {
	for _, c := range []struct {
		typ, value string
		want       signals.Value
	}{
		{"bool", "true", signals.BoolValue(true)},
		{"int", "-7", signals.IntValue(-7)},
		{"uint", "7", signals.UintValue(7)},
		{"string", "auto", signals.StringValue("auto")},
		{"float", "0.25", signals.FloatValue(0.25)},
	} {
		h := runtimetest.New(t, generators.Constant, "config: {type: "+c.typ+"}\nparameters: {Value: "+c.value+"}")
		h.Step(1)
		if got := h.Get("Out"); !got.Equal(c.want) || h.Quality("Out") != signals.Good {
			t.Errorf("type %s: Out = %s (%v), want %s", c.typ, got, h.Quality("Out"), c.want)
		}
	}
}

func TestConstantRejectsAnUnknownType(t *testing.T) {
	err := (&blockkit.TypeConfig{Type: "complex"}).Validate()
	fes := runtime.AsFieldErrors(err)
	if len(fes) != 1 || fes[0].Path != "type" || !strings.Contains(fes[0].Msg, `"complex"`) {
		t.Fatalf("Validate = %v, want one error at type naming complex", err)
	}
}

func TestSquareLevelsAndDuty(t *testing.T) {
	// 1 Hz at 10 Hz ticks, 30 % duty: ticks 0.1, 0.2 high; 0.3 .. 1.0 low
	// (0.3 is not below 0.3); the period repeats from 1.0.
	h := runtimetest.New(t, generators.Square, "fs: 10\nparameters: {Amplitude: 2, Frequency: 1, Duty: 0.3, Offset: 1}")
	want := []float64{3, 3, -1, -1, -1, -1, -1, -1, -1, 3, 3, 3, -1}
	for i, w := range want {
		h.Step(1)
		if got := h.Float("Out"); got != w {
			t.Fatalf("tick %d (t=%.1f s): Out = %v, want %v", i+1, float64(i+1)/10, got, w)
		}
	}
	h.SetParam("Duty", 0.0)
	h.Step(1)
	if h.Float("Out") != -1 {
		t.Fatalf("Duty 0: Out = %v, want the low level", h.Float("Out"))
	}
	h.SetParam("Duty", 1.0)
	h.Step(1)
	if h.Float("Out") != 3 {
		t.Fatalf("Duty 1: Out = %v, want the high level", h.Float("Out"))
	}
	if err := h.SetParam("Duty", 1.5); err == nil {
		t.Fatal("Duty 1.5 accepted")
	}
}

func TestRampStartsAfterDelayAndStopsAtEnd(t *testing.T) {
	h := runtimetest.New(t, generators.Ramp, "fs: 10\nparameters: {Start: 20, End: 21, Slope: 0.5, Delay: 1}")
	check := func(at float64, want float64) {
		t.Helper()
		if got := h.Float("Out"); math.Abs(got-want) > 1e-9 {
			t.Fatalf("t=%.1f s: Out = %v, want %v", at, got, want)
		}
	}
	h.Step(10) // t = 1.0: the ramp starts now
	check(1.0, 20)
	h.Step(1)
	check(1.1, 20.05)
	h.Step(19) // t = 3.0: reaches End
	check(3.0, 21)
	h.Step(50)
	check(8.0, 21)
	// Falling ramp: End below Start.
	h.SetParam("End", 10.0)
	h.SetParam("Slope", 1.0)
	h.Step(1) // t = 8.1: 7.1 s after Delay
	check(8.1, 20-7.1)
	h.Step(100)
	check(18.1, 10)
	// Slope 0 holds Start.
	h.SetParam("Slope", 0.0)
	h.Step(1)
	check(18.2, 20)
}

func TestPulseEdgesFallOnExactTicks(t *testing.T) {
	// Period 0.5 s, width 0.2 s at 10 Hz: t mod 0.5 in {0, 0.1} is high.
	h := runtimetest.New(t, generators.Pulse, "fs: 10\nparameters: {Period: 0.5, Width: 0.2}")
	var got []bool
	for range 10 {
		h.Step(1)
		got = append(got, h.Get("Out").Text() == "true")
	}
	want := []bool{true, false, false, false, true, true, false, false, false, true}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Out over ticks 0.1..1.0 s = %v, want %v", got, want)
		}
	}
	h.SetParam("Width", 0.0)
	for range 5 {
		h.Step(1)
		if h.Get("Out").Text() != "false" {
			t.Fatal("Width 0 pulsed")
		}
	}
	h.SetParam("Width", 0.5)
	for range 5 {
		h.Step(1)
		if h.Get("Out").Text() != "true" {
			t.Fatal("Width = Period was not always true")
		}
	}
	if err := h.SetParam("Period", 0.0); err == nil {
		t.Fatal("Period 0 accepted")
	}
}

func noiseRun(t *testing.T, entry string, n int) []float64 {
	h := runtimetest.New(t, generators.Noise, entry)
	out := make([]float64, n)
	for i := range out {
		h.Step(1)
		out[i] = h.Float("Out")
	}
	return out
}

func TestNoiseRepeatsWithItsSeed(t *testing.T) {
	a := noiseRun(t, "config: {seed: 7}", 50)
	b := noiseRun(t, "config: {seed: 7}", 50)
	c := noiseRun(t, "config: {seed: 8}", 50)
	same := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("seed 7 gave %v then %v at tick %d", a[i], b[i], i)
		}
		if a[i] == c[i] {
			same++
		}
	}
	if same > 0 {
		t.Fatalf("seeds 7 and 8 agree on %d of 50 values", same)
	}
}

func TestNoiseDistributions(t *testing.T) {
	u := noiseRun(t, "config: {seed: 3}\nparameters: {Amplitude: 2, Offset: 10}", 5000)
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, x := range u {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	if lo < 8 || hi > 12 || lo > 8.05 || hi < 11.95 {
		t.Fatalf("uniform in 10 +- 2: range [%v, %v]", lo, hi)
	}
	n := noiseRun(t, "config: {seed: 3, distribution: normal}\nparameters: {Amplitude: 0.5, Offset: -1}", 5000)
	var sum, sq float64
	for _, x := range n {
		sum += x
	}
	mean := sum / float64(len(n))
	for _, x := range n {
		sq += (x - mean) * (x - mean)
	}
	sd := math.Sqrt(sq / float64(len(n)-1))
	if math.Abs(mean+1) > 0.03 || math.Abs(sd-0.5) > 0.03 {
		t.Fatalf("normal(-1, 0.5): mean %v, sd %v", mean, sd)
	}
	err := (&generators.NoiseConfig{Distribution: "gauss"}).Validate()
	if fes := runtime.AsFieldErrors(err); len(fes) != 1 || fes[0].Path != "distribution" {
		t.Fatalf("distribution gauss: %v", err)
	}
}

func TestWaveformsWithInfiniteParametersAreNeverGood(t *testing.T) {
	for _, c := range []struct {
		typ   *runtime.Type
		param string
		v     float64
	}{
		{generators.Sine, "Amplitude", math.Inf(1)},
		{generators.Square, "Offset", math.Inf(-1)},
		{generators.Ramp, "Start", math.NaN()},
		{generators.Noise, "Amplitude", math.Inf(1)},
	} {
		h := runtimetest.New(t, c.typ, "")
		h.Step(1)
		if err := h.SetParam(c.param, c.v); err != nil {
			t.Fatal(err)
		}
		h.Step(1)
		if q := h.Quality("Out"); q != signals.BadInput {
			t.Errorf("%s with %s = %v: quality %v, want bad input", c.typ.Name(), c.param, c.v, q)
		}
	}
}

var cases = []blocktest.Case{
	{Type: generators.Constant, Entry: "parameters: {Value: 1}"},
	{Type: generators.Sine},
	{Type: generators.Square},
	{Type: generators.Ramp},
	{Type: generators.Pulse},
	{Type: generators.Noise, Entry: "config: {distribution: normal}"},
}

func TestTicksAllocateNothing(t *testing.T) { blocktest.ZeroAllocs(t, cases) }

func BenchmarkTick(b *testing.B) { blocktest.Bench(b, cases) }

func TestPulseWithANaNPeriodDoesNotPanic(t *testing.T) {
	h := runtimetest.New(t, generators.Pulse, "")
	h.Step(1)
	if err := h.SetParam("Period", math.NaN()); err != nil {
		t.Skipf("NaN Period rejected (%v): nothing to check", err)
	}
	h.Step(1)
	if q := h.Quality("Out"); q != signals.BadInput {
		t.Fatalf("Period NaN: quality %v, want bad input", q)
	}
}
