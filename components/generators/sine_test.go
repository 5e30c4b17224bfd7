package generators_test

import (
	"math"
	"testing"

	"github.com/metronome-rt/metronome/components/generators"
	"github.com/metronome-rt/metronome/runtime/runtimetest"
)

func TestSineFollowsTickTime(t *testing.T) {
	h := runtimetest.New(t, generators.Sine, "fs: 100\nparameters: {Amplitude: 2, Frequency: 0.5, Offset: 1}")
	for i := 1; i <= 250; i++ {
		h.Step(1)
		want := 1 + 2*math.Sin(2*math.Pi*0.5*float64(i)/100)
		if got := h.Float("Out"); math.Abs(got-want) > 1e-12 {
			t.Fatalf("tick %d: Out = %v, want %v", i, got, want)
		}
	}
}

func TestSineRejectsNegativeFrequency(t *testing.T) {
	h := runtimetest.New(t, generators.Sine, "")
	if err := h.SetParam("Frequency", -1.0); err == nil {
		t.Fatal("Frequency -1 accepted, want a range error")
	}
}
