package quality_test

import (
	"math"
	"testing"

	"github.com/metronome-rt/metronome/components/quality"
	"github.com/metronome-rt/metronome/internal/blockkit"
	"github.com/metronome-rt/metronome/internal/blocktest"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/runtime/runtimetest"
	"github.com/metronome-rt/metronome/signals"
)

func TestSafeValueSubstitutesUntrustedValues(t *testing.T) {
	h := runtimetest.New(t, quality.SafeValue, "parameters: {Fallback: -1}")
	h.Step(1)
	if h.Float("Out") != -1 || h.Quality("Out") != signals.Good || !blocktest.Bool(t, h, "Substituted") {
		t.Fatalf("before any input: Out %v (%v), substituted %v; want the fallback", h.Float("Out"), h.Quality("Out"), blocktest.Bool(t, h, "Substituted"))
	}
	if !h.Alarm("Substituting").Active() {
		t.Fatal("alarm Substituting not set while substituting")
	}
	h.Set("In", 21.5)
	h.Step(1)
	if h.Float("Out") != 21.5 || h.Quality("Out") != signals.Good || blocktest.Bool(t, h, "Substituted") || h.Port("Out").Stamp() != h.Port("In").Stamp() {
		t.Fatalf("good In: Out %v (%v) at %d, In at %d, substituted %v", h.Float("Out"), h.Quality("Out"), h.Port("Out").Stamp(), h.Port("In").Stamp(), blocktest.Bool(t, h, "Substituted"))
	}
	if h.Alarm("Substituting").Active() {
		t.Fatal("alarm still set with a good input")
	}
	for _, q := range []signals.Quality{signals.Stale, signals.CommLost, signals.BadInput, signals.Initial} {
		h.SetQ("In", 30.0, q)
		h.Step(1)
		if h.Float("Out") != -1 || h.Quality("Out") != signals.Good || !blocktest.Bool(t, h, "Substituted") {
			t.Fatalf("In %v: Out %v (%v), substituted %v; want the fallback", q, h.Float("Out"), h.Quality("Out"), blocktest.Bool(t, h, "Substituted"))
		}
		h.Set("In", 1.0)
		h.Step(1)
	}
	for _, v := range []float64{math.NaN(), math.Inf(-1)} {
		h.Set("In", v)
		h.Step(1)
		if h.Float("Out") != -1 || !blocktest.Bool(t, h, "Substituted") {
			t.Fatalf("good %v: Out %v, want the fallback", v, h.Float("Out"))
		}
	}
	h.SetParam("Fallback", 5.0)
	h.Step(1)
	if h.Float("Out") != 5 {
		t.Fatalf("new Fallback: Out %v", h.Float("Out"))
	}
}

func TestSafeValueBoolForAnActuator(t *testing.T) {
	h := runtimetest.New(t, quality.SafeValue, "config: {type: bool}\nparameters: {Fallback: false}")
	h.Set("In", true)
	h.Step(1)
	if got := h.Get("Out"); !got.Equal(signals.BoolValue(true)) || blocktest.Bool(t, h, "Substituted") {
		t.Fatalf("good true: Out %s", got)
	}
	h.SetQ("In", true, signals.CommLost)
	h.Step(1)
	if got := h.Get("Out"); !got.Equal(signals.BoolValue(false)) || !blocktest.Bool(t, h, "Substituted") {
		t.Fatalf("comm lost: Out %s, want the fallback false", got)
	}
	if fes := runtime.AsFieldErrors((&blockkit.TypeConfig{Type: "float128"}).Validate()); len(fes) != 1 || fes[0].Path != "type" {
		t.Fatalf("type float128: %v", fes)
	}
}

func TestSafeValueAlarmDelay(t *testing.T) {
	h := runtimetest.New(t, quality.SafeValue, "fs: 10\nalarms: {Substituting: {delay: 1s}}")
	h.Set("In", 1.0)
	h.Step(1)
	h.SetQ("In", 1.0, signals.Stale)
	h.Step(5)
	if !blocktest.Bool(t, h, "Substituted") || h.Alarm("Substituting").Active() {
		t.Fatal("the substitution must be at once, the alarm only after its delay")
	}
	h.Step(6)
	if !h.Alarm("Substituting").Active() {
		t.Fatal("alarm not set after its delay")
	}
}

var cases = []blocktest.Case{
	{Type: quality.SafeValue, Inputs: map[string]any{"In": 1.0}, Alt: map[string]any{"In": math.NaN()}},
	{Name: "SafeValue(bool)", Type: quality.SafeValue, Entry: "config: {type: bool}", Inputs: map[string]any{"In": true}, Alt: map[string]any{"In": false}},
	{Type: quality.Discrepancy, Entry: "alarms: {Discrepancy: {delay: 50ms}}", Inputs: map[string]any{"Command": 1.0, "Feedback": 1.0}, Alt: map[string]any{"Feedback": 0.0}},
}

func TestTicksAllocateNothing(t *testing.T) { blocktest.ZeroAllocs(t, cases) }

func BenchmarkTick(b *testing.B) { blocktest.Bench(b, cases) }
