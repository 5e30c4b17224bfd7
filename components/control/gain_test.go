package control_test

import (
	"testing"

	"github.com/metronome-rt/metronome/components/control"
	"github.com/metronome-rt/metronome/runtime/runtimetest"
	"github.com/metronome-rt/metronome/signals"
)

func TestGainScalesAndPassesQuality(t *testing.T) {
	h := runtimetest.New(t, control.Gain, "parameters: {K: 2.5}")
	h.Step(1)
	if q := h.Quality("Out"); q != signals.Initial {
		t.Fatalf("Out quality before any input = %v, want initial", q)
	}
	h.Set("In", 4.0)
	h.Step(1)
	if got := h.Float("Out"); got != 10 {
		t.Fatalf("Out = %v, want 10", got)
	}
	if q := h.Quality("Out"); q != signals.Good {
		t.Fatalf("Out quality = %v, want good", q)
	}
	h.SetQ("In", 1.0, signals.Stale)
	h.Step(1)
	if got, q := h.Float("Out"), h.Quality("Out"); got != 2.5 || q != signals.Stale {
		t.Fatalf("Out = %v (%v), want 2.5 (stale)", got, q)
	}
	if err := h.SetParam("K", -1); err != nil {
		t.Fatal(err)
	}
	h.Step(1)
	if got := h.Float("Out"); got != -1 {
		t.Fatalf("Out after K=-1 = %v, want -1", got)
	}
}
