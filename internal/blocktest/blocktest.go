// Package blocktest measures what one tick of a standard block costs: its
// allocations (which must be zero) and its time, against a baseline block
// measured in the same run. Each block package lists its blocks as Cases and
// hands them to ZeroAllocs from a test and to Bench from a benchmark.
package blocktest

import (
	"testing"
	"time"

	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/runtime/runtimetest"
	"github.com/metronome-rt/metronome/signals"
)

// Case is one block set up for measurement.
type Case struct {
	// Name names the sub-test and the benchmark row (the type's name if empty).
	Name string
	// Type is the block's type.
	Type *runtime.Type
	// Entry is the YAML entry body, as for runtimetest.New.
	Entry string
	// Inputs are set, in two alternating sets, before the measured ticks:
	// Inputs on even ticks and Alt (if any) on odd ones, so that a block is
	// measured doing work rather than holding an unchanged value.
	Inputs, Alt map[string]any
}

func (c Case) name() string {
	if c.Name != "" {
		return c.Name
	}
	return c.Type.Name()
}

// start builds the block, sets its inputs and runs a few ticks so that
// everything lazy has happened before anything is measured.
func (c Case) start(tb testing.TB) *runtimetest.Harness {
	tb.Helper()
	h := runtimetest.New(tb, c.Type, c.Entry)
	set(h, c.Inputs)
	h.Step(3)
	return h
}

func set(h *runtimetest.Harness, in map[string]any) {
	for k, v := range in {
		h.Set(k, v)
	}
}

// ZeroAllocs checks that a whole tick of each block (latching its inputs,
// Process, publishing) allocates nothing, with its inputs changing between
// ticks when the case has Alt inputs.
func ZeroAllocs(t *testing.T, cases []Case) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name(), func(t *testing.T) {
			h := c.start(t)
			step := func() { h.Step(1) }
			if c.Alt != nil {
				// The harness's Set converts through signals.Value; that is
				// test plumbing, so the inputs are written directly here.
				even, odd := ports(t, h, c.Inputs), ports(t, h, c.Alt)
				i := 0
				step = func() {
					w := even
					if i%2 == 1 {
						w = odd
					}
					for _, x := range w {
						x.write()
					}
					i++
					h.Step(1)
				}
			}
			if n := testing.AllocsPerRun(200, step); n != 0 {
				t.Fatalf("%v allocations per tick, want 0", n)
			}
		})
	}
}

// write is one input value written straight to the hidden source's output.
type write struct {
	p signals.Port
	v signals.Value
	h *runtimetest.Harness
}

func (w write) write() { w.p.SetValue(w.v, signals.Good, w.h.Clock().Wall().UnixNano()) }

func ports(t *testing.T, h *runtimetest.Harness, in map[string]any) []write {
	t.Helper()
	var out []write
	for k, v := range in {
		p, ok := h.App().Signal("Test.Inputs." + k)
		if !ok {
			t.Fatalf("no input %q", k)
		}
		out = append(out, write{p: p, v: value(t, v), h: h})
	}
	return out
}

func value(t *testing.T, v any) signals.Value {
	switch x := v.(type) {
	case bool:
		return signals.BoolValue(x)
	case int:
		return signals.IntValue(int64(x))
	case float64:
		return signals.FloatValue(x)
	}
	t.Fatalf("unsupported input value %T", v)
	return signals.Value{}
}

// Bench reports the cost of one Process of each block, in ns per tick, after
// a baseline block (Out = In) measured the same way in the same run, so the
// figures can be compared on a busy machine.
func Bench(b *testing.B, cases []Case) {
	all := append([]Case{{Name: "Baseline", Type: baseline, Inputs: map[string]any{"In": 1.0}}}, cases...)
	for _, c := range all {
		b.Run(c.name(), func(b *testing.B) {
			h := c.start(b)
			comp := h.Component()
			period := h.Node().Rate.Period()
			tick := runtime.Tick{Mono: 10 * period, Period: period, Wall: time.Unix(0, 0)}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				comp.Process(tick)
				tick.Mono += period
				tick.Count++
			}
		})
	}
}

// baseline is the cheapest block there can be: Out = In with In's quality.
var baseline = runtime.Define(runtime.Spec[struct{}]{
	Name: "blocktest.Baseline",
	Build: func(b *runtime.Builder, _ *struct{}) (runtime.Component, error) {
		return &copyBlock{in: runtime.Input[float64](b, "In"), out: runtime.Output[float64](b, "Out")}, nil
	},
})

type copyBlock struct{ in, out *signals.Signal[float64] }

func (c *copyBlock) Process(runtime.Tick) { c.out.Put(c.in.Get(), c.in.Quality(), c.in.Stamp()) }

// Bool returns a bool signal's value, failing the test if it is not a bool
// (runtimetest's Harness has Float for numbers).
func Bool(tb testing.TB, h *runtimetest.Harness, name string) bool {
	tb.Helper()
	b, ok := signals.As[bool](h.Get(name))
	if !ok || h.Port(name).Kind() != signals.Bool {
		tb.Fatalf("%s = %s is not a bool", name, h.Get(name))
	}
	return b
}
