package runtimetest_test

import (
	"testing"

	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/runtime/runtimetest"
	"github.com/metronome-rt/metronome/signals"
)

type freshConfig struct {
	Scale float64 `yaml:"scale"`
}

// freshType counts the ticks on which its input brought a new value.
var freshType = runtime.Define(runtime.Spec[freshConfig]{
	Name:     "Fresh",
	Defaults: func() freshConfig { return freshConfig{Scale: 1} },
	Build: func(b *runtime.Builder, cfg *freshConfig) (runtime.Component, error) {
		return &fresh{
			in:    runtime.Input[float64](b, "In"),
			n:     runtime.Output[int64](b, "NewValues"),
			out:   runtime.Output[float64](b, "Out"),
			scale: cfg.Scale,
		}, nil
	},
})

type fresh struct {
	in    *signals.Signal[float64]
	n     *signals.Signal[int64]
	out   *signals.Signal[float64]
	scale float64
	count int64
}

func (f *fresh) Process(runtime.Tick) {
	if f.in.Fresh() {
		f.count++
	}
	f.n.Set(f.count)
	f.out.SetQ(f.in.Get()*f.scale, f.in.Quality())
}

func TestInputsAreLatchedLikeRoutes(t *testing.T) {
	h := runtimetest.New(t, freshType, "fs: 50\nconfig: {scale: 3}")
	h.Step(3)
	if got := h.Get("NewValues"); !got.Equal(signals.IntValue(0)) {
		t.Fatalf("NewValues = %s before any Set, want 0", got)
	}
	h.Set("In", 2)
	h.Step(5)
	if got := h.Get("NewValues"); !got.Equal(signals.IntValue(1)) {
		t.Fatalf("NewValues = %s after one Set and 5 ticks, want 1 (fresh on one tick only)", got)
	}
	if h.Float("Out") != 6 || h.Quality("Out") != signals.Good {
		t.Fatalf("Out = %v (%v), want 6 (good)", h.Float("Out"), h.Quality("Out"))
	}
	h.SetQ("In", 1, signals.CommLost)
	h.Step(1)
	if h.Quality("Out") != signals.CommLost {
		t.Fatalf("quality %v, want comm lost", h.Quality("Out"))
	}
	if h.Node().Rate.FS != 50 {
		t.Fatalf("fs %v, want 50", h.Node().Rate.FS)
	}
}
