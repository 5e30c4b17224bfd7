package control_test

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/metronome-rt/metronome/components/control"
	"github.com/metronome-rt/metronome/internal/blocktest"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/runtime/runtimetest"
	"github.com/metronome-rt/metronome/signals"
)

// outAfter sets In, steps once and returns Out.
func outAfter(t *testing.T, h *runtimetest.Harness, in float64) float64 {
	t.Helper()
	h.Set("In", in)
	h.Step(1)
	return h.Float("Out")
}

func TestGainNeverPublishesAGoodNaN(t *testing.T) {
	h := runtimetest.New(t, control.Gain, "parameters: {K: 2}")
	if got := outAfter(t, h, 3); got != 6 {
		t.Fatalf("Out = %v", got)
	}
	for _, bad := range []float64{math.NaN(), math.Inf(1)} {
		if got := outAfter(t, h, bad); got != 6 || h.Quality("Out") != signals.BadInput {
			t.Fatalf("In %v: Out %v (%v), want the held 6 with bad input", bad, got, h.Quality("Out"))
		}
	}
	h.SetParam("K", 0.0)
	if got := outAfter(t, h, math.Inf(1)); got != 6 || h.Quality("Out") != signals.BadInput {
		t.Fatalf("0 * Inf: Out %v (%v), want bad input", got, h.Quality("Out"))
	}
}

// switchTrace feeds In values and records Out as 0/1.
func switchTrace(t *testing.T, h *runtimetest.Harness, ins ...float64) string {
	t.Helper()
	var s strings.Builder
	for _, x := range ins {
		h.Set("In", x)
		h.Step(1)
		if blocktest.Bool(t, h, "Out") {
			s.WriteByte('1')
		} else {
			s.WriteByte('0')
		}
	}
	return s.String()
}

func TestTwoPointHysteresis(t *testing.T) {
	// Heating at 21 with a band of 1: on below 20.5, off above 21.5.
	h := runtimetest.New(t, control.TwoPoint, "parameters: {Setpoint: 21, Hysteresis: 1}")
	h.Set("SP", 21.0)
	if got := switchTrace(t, h, 21, 20.6, 20.5, 20.4, 21, 21.5, 21.6, 21, 20.4); got != "000111001" {
		t.Fatalf("heating: Out over the trace = %s, want 000111001", got)
	}
	// Cooling swaps the thresholds.
	h = runtimetest.New(t, control.TwoPoint, "config: {action: direct}\nparameters: {Hysteresis: 2}")
	h.Set("SP", 25.0)
	if got := switchTrace(t, h, 25, 26.1, 25, 23.9, 25); got != "01100" {
		t.Fatalf("cooling: Out = %s, want 01100", got)
	}
	// The setpoint input moves the band.
	h.Set("SP", 20.0)
	if got := switchTrace(t, h, 21.5); got != "1" {
		t.Fatalf("after SP 20: Out = %s", got)
	}
	// NaN or infinite measurements keep the switch where it is, as bad input.
	h.Set("In", math.NaN())
	h.Step(1)
	if !blocktest.Bool(t, h, "Out") || h.Quality("Out") != signals.BadInput {
		t.Fatalf("In NaN: %v (%v), want the held true with bad input", blocktest.Bool(t, h, "Out"), h.Quality("Out"))
	}
	h.SetQ("In", 10.0, signals.CommLost)
	h.Step(1)
	if blocktest.Bool(t, h, "Out") || h.Quality("Out") != signals.CommLost {
		t.Fatalf("comm lost: %v (%v), want false with comm lost", blocktest.Bool(t, h, "Out"), h.Quality("Out"))
	}
	if err := (&control.TwoPointConfig{Action: "heat"}).Validate(); err == nil {
		t.Fatal("action heat accepted")
	}
}

func TestComparatorHysteresis(t *testing.T) {
	h := runtimetest.New(t, control.Comparator, "parameters: {Threshold: 90, Hysteresis: 5}")
	if got := switchTrace(t, h, 89, 90, 90.1, 86, 85, 84.9, 90, math.Inf(1)); got != "00111000" {
		t.Fatalf("Out = %s, want 00111000", got)
	}
	if h.Quality("Out") != signals.BadInput {
		t.Fatalf("In +Inf: quality %v, want bad input", h.Quality("Out"))
	}
}

func TestLimiter(t *testing.T) {
	h := runtimetest.New(t, control.Limiter, "parameters: {Min: -1, Max: 2}")
	for _, c := range []struct {
		in, out   float64
		high, low bool
	}{{0.5, 0.5, false, false}, {3, 2, true, false}, {-4, -1, false, true}, {2, 2, false, false}, {math.Inf(1), 2, true, false}, {math.Inf(-1), -1, false, true}} {
		got := outAfter(t, h, c.in)
		if got != c.out || blocktest.Bool(t, h, "High") != c.high || blocktest.Bool(t, h, "Low") != c.low || h.Quality("Out") != signals.Good {
			t.Fatalf("In %v: Out %v High %v Low %v (%v), want %v %v %v", c.in, got, blocktest.Bool(t, h, "High"), blocktest.Bool(t, h, "Low"), h.Quality("Out"), c.out, c.high, c.low)
		}
	}
	if got := outAfter(t, h, math.NaN()); got != -1 || h.Quality("Out") != signals.BadInput || h.Quality("High") != signals.BadInput {
		t.Fatalf("In NaN: Out %v (%v), High quality %v", got, h.Quality("Out"), h.Quality("High"))
	}
	h.SetParam("Min", 5.0) // above Max: Max wins
	if got := outAfter(t, h, 0); got != 2 {
		t.Fatalf("Min 5 > Max 2: Out %v, want 2", got)
	}
}

func TestRateLimiter(t *testing.T) {
	h := runtimetest.New(t, control.RateLimiter, "fs: 10\nparameters: {Rise: 2, Fall: 10}")
	if got := outAfter(t, h, 5); got != 5 || blocktest.Bool(t, h, "Limited") {
		t.Fatalf("first value: %v, want it passed straight through", got)
	}
	var trace []float64
	for range 4 {
		trace = append(trace, math.Round(outAfter(t, h, 5.5)*1000)/1000)
	}
	if fmt.Sprint(trace) != "[5.2 5.4 5.5 5.5]" {
		t.Fatalf("rising at 2/s: %v", trace)
	}
	if got := outAfter(t, h, 0); math.Abs(got-4.5) > 1e-12 || !blocktest.Bool(t, h, "Limited") {
		t.Fatalf("falling at 10/s: %v (limited %v), want 4.5", got, blocktest.Bool(t, h, "Limited"))
	}
	if got := outAfter(t, h, math.NaN()); math.Abs(got-4.5) > 1e-12 || h.Quality("Out") != signals.BadInput {
		t.Fatalf("NaN: %v (%v)", got, h.Quality("Out"))
	}
	if got := outAfter(t, h, 0); math.Abs(got-3.5) > 1e-12 {
		t.Fatalf("after the NaN the ramp continues from 4.5: %v", got)
	}
}

func TestDeadBand(t *testing.T) {
	h := runtimetest.New(t, control.DeadBand, "parameters: {Band: 0.5}")
	for in, want := range map[float64]float64{0.2: 0, -0.5: 0, 0.5: 0, 0.75: 0.25, -2: -1.5} {
		if got := outAfter(t, h, in); got != want {
			t.Fatalf("In %v: Out %v, want %v", in, got, want)
		}
	}
	if got := outAfter(t, h, math.NaN()); h.Quality("Out") != signals.BadInput {
		t.Fatalf("In NaN: %v (%v)", got, h.Quality("Out"))
	}
}

func TestLowPassStepResponse(t *testing.T) {
	h := runtimetest.New(t, control.LowPass, "fs: 10\nparameters: {T: 1}")
	if got := outAfter(t, h, 2); got != 2 {
		t.Fatalf("first value %v, want it passed through", got)
	}
	// A step to 12: each tick closes dt/(T+dt) = 1/11 of the gap.
	y := 2.0
	for i := 0; i < 30; i++ {
		y += (12 - y) / 11
		near(t, fmt.Sprintf("tick %d", i+1), outAfter(t, h, 12), y, 1e-12)
	}
	outAfter(t, h, math.Inf(1))
	if h.Quality("Out") != signals.BadInput {
		t.Fatalf("In +Inf: quality %v", h.Quality("Out"))
	}
	near(t, "after the infinity the state is unchanged", outAfter(t, h, 12), y+(12-y)/11, 1e-12)
	h.SetParam("T", 0.0)
	near(t, "T 0 passes In on", outAfter(t, h, -3), -3, 0)
}

func TestFOPDTStepResponse(t *testing.T) {
	h := runtimetest.New(t, control.FOPDT, "fs: 10\nparameters: {K: 2, T: 5, L: 1.04, Offset: 15}")
	h.Step(3)
	if got := h.Float("Out"); got != 15 || h.Quality("Out") != signals.Good {
		t.Fatalf("at rest before In has a value: %v (%v), want 15 (good)", got, h.Quality("Out"))
	}
	// A step of 3 at tick 0: the dead time rounds to 10 ticks, then the
	// first-order response with a = exp(-0.1/5).
	a := math.Exp(-0.1 / 5)
	x := 0.0
	for k := 0; k <= 80; k++ {
		h.Set("In", 3.0)
		h.Step(1)
		if k >= 10 {
			x = a*x + (1-a)*2*3
		}
		near(t, fmt.Sprintf("tick %d", k), h.Float("Out"), 15+x, 1e-9)
	}
	// One time constant after the dead time: 63.2 % of the final 6.
	near(t, "x at L + T", x, 6*(1-math.Exp(-(80-10+1)*0.1/5)), 1e-9)
	h.SetQ("In", 3.0, signals.Stale)
	h.Step(1)
	if h.Quality("Out") != signals.Stale {
		t.Fatalf("quality %v, want stale", h.Quality("Out"))
	}
	if err := h.SetParam("L", 11.0); err == nil {
		t.Fatal("L 11 s accepted beyond max_dead_time 10 s")
	}
	if err := (&control.FOPDTConfig{MaxDeadTime: -1}).Validate(); err == nil {
		t.Fatal("negative max_dead_time accepted")
	}
}

func TestLinearScale(t *testing.T) {
	h := runtimetest.New(t, control.LinearScale, "parameters: {InLow: 0, InHigh: 100, OutLow: 32, OutHigh: 212}")
	near(t, "37 degC in degF", outAfter(t, h, 37), 98.6, 1e-12)
	near(t, "-40", outAfter(t, h, -40), -40, 1e-12)
	h.SetParam("Clamp", true)
	near(t, "clamped", outAfter(t, h, -40), 32, 0)
	h.SetParam("InHigh", 0.0)
	outAfter(t, h, 5)
	if h.Quality("Out") != signals.BadInput {
		t.Fatalf("InLow = InHigh: quality %v, want bad input", h.Quality("Out"))
	}
}

func TestTableScale(t *testing.T) {
	h := runtimetest.New(t, control.TableScale, "config: {points: [[0, 10], [1, 20], [3, 0]]}")
	for _, c := range []struct{ in, out float64 }{{-5, 10}, {0, 10}, {0.5, 15}, {1, 20}, {2, 10}, {3, 0}, {9, 0}, {math.Inf(1), 0}} {
		near(t, fmt.Sprintf("In %v", c.in), outAfter(t, h, c.in), c.out, 1e-12)
	}
	h = runtimetest.New(t, control.TableScale, "config: {points: [[0, 10], [1, 20], [3, 0]], extrapolate: true}")
	near(t, "extrapolated below", outAfter(t, h, -1), 0, 1e-12)
	near(t, "extrapolated above", outAfter(t, h, 4), -10, 1e-12)
	outAfter(t, h, math.Inf(1))
	if h.Quality("Out") != signals.BadInput {
		t.Fatalf("extrapolating +Inf: quality %v", h.Quality("Out"))
	}
	for _, c := range []struct {
		pts  [][]float64
		path string
	}{
		{[][]float64{{0, 1}}, "points"},
		{[][]float64{{0, 1}, {1}}, "points[1]"},
		{[][]float64{{0, 1}, {1, 2}, {1, 3}}, "points[2][0]"},
		{[][]float64{{0, 1}, {math.NaN(), 2}}, "points[1]"},
	} {
		fes := runtime.AsFieldErrors((&control.TableScaleConfig{Points: c.pts}).Validate())
		if len(fes) != 1 || fes[0].Path != c.path {
			t.Errorf("points %v: %v, want one error at %s", c.pts, fes, c.path)
		}
	}
}

var cases = []blocktest.Case{
	{Type: control.Gain, Inputs: map[string]any{"In": 1.0}, Alt: map[string]any{"In": 2.0}},
	{Type: control.PID, Entry: "parameters: {Kp: 2, Ki: 1, Kd: 1, Tf: 0.1, RateLimit: 10}", Inputs: map[string]any{"PV": 1.0, "SP": 5.0, "FF": 0.0, "Manual": false, "ManualValue": 0.0}, Alt: map[string]any{"PV": 2.0}},
	{Type: control.TwoPoint, Inputs: map[string]any{"In": 19.0, "SP": 20.0}, Alt: map[string]any{"In": 21.0}},
	{Type: control.Comparator, Inputs: map[string]any{"In": 1.0}, Alt: map[string]any{"In": -1.0}},
	{Type: control.Limiter, Inputs: map[string]any{"In": 50.0}, Alt: map[string]any{"In": 150.0}},
	{Type: control.RateLimiter, Inputs: map[string]any{"In": 0.0}, Alt: map[string]any{"In": 10.0}},
	{Type: control.DeadBand, Inputs: map[string]any{"In": 0.5}, Alt: map[string]any{"In": 2.0}},
	{Type: control.LowPass, Inputs: map[string]any{"In": 0.0}, Alt: map[string]any{"In": 1.0}},
	{Type: control.FOPDT, Entry: "parameters: {L: 5}", Inputs: map[string]any{"In": 0.0}, Alt: map[string]any{"In": 1.0}},
	{Type: control.LinearScale, Inputs: map[string]any{"In": 0.5}, Alt: map[string]any{"In": 0.7}},
	{Type: control.TableScale, Entry: "config: {points: [[0, 0], [1, 2], [2, 3], [4, 4], [8, 5], [16, 6], [32, 7], [64, 8]]}", Inputs: map[string]any{"In": 5.0}, Alt: map[string]any{"In": 40.0}},
}

func TestTicksAllocateNothing(t *testing.T) { blocktest.ZeroAllocs(t, cases) }

func BenchmarkTick(b *testing.B) { blocktest.Bench(b, cases) }
