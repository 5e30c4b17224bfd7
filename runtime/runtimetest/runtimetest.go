// Package runtimetest lets a component author test a component type the way
// net/http/httptest tests handlers: build it from YAML, set its inputs, step
// it N ticks on a virtual clock and read its outputs, parameters, quality
// and alarms, with no sleeping.
//
//	h := runtimetest.New(t, control.Gain, "parameters: {K: 2}")
//	h.Set("In", 1.5)
//	h.Step(1)
//	if got := h.Float("Out"); got != 3 { ... }
package runtimetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/scheduler"
	"github.com/metronome-rt/metronome/signals"
)

// Harness runs one component on a virtual clock. Its inputs are routed from
// a hidden source component, so they are latched exactly as in a real
// application: a value set before Step arrives at the next tick, with the
// input's Fresh flag raised on that tick only.
type Harness struct {
	t      testing.TB
	app    *runtime.App
	node   *runtime.Node
	src    *runtime.Node
	period time.Duration

	mu     sync.Mutex
	events []runtime.AlarmEvent
}

// New builds the component of type typ from entry, the body of a YAML
// component entry without `name` and `type` (config, fs, parameters,
// alarms). It starts the component if it is a Starter and stops it when the
// test ends. A YAML mistake fails the test with every error.
func New(t testing.TB, typ *runtime.Type, entry string) *Harness {
	t.Helper()
	h := &Harness{t: t}
	reg, err := runtime.NewRegistry(typ, source)
	if err != nil {
		t.Fatalf("runtimetest: %v", err)
	}
	// First load: learn the component's inputs and rate.
	probe, err := runtime.LoadBytes("test.yaml", []byte(appYAML(typ.Name(), entry, nil, 0)), reg, h.options())
	if err != nil {
		t.Fatalf("runtimetest: %v", err)
	}
	comp, _ := probe.Find("C")
	var ins []*signals.Info
	for _, p := range comp.Ports() {
		if p.Info().Dir == signals.Input {
			ins = append(ins, p.Info())
		}
	}
	app, err := runtime.LoadBytes("test.yaml", []byte(appYAML(typ.Name(), entry, ins, comp.Rate.FS)), reg, h.options())
	if err != nil {
		t.Fatalf("runtimetest: %v", err)
	}
	h.app = app
	h.node, _ = app.Find("C")
	h.src, _ = app.Find("Inputs")
	h.period = h.node.Rate.Period()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatalf("runtimetest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := app.Stop(ctx); err != nil {
			t.Errorf("runtimetest: stop: %v", err)
		}
	})
	return h
}

func (h *Harness) options() runtime.LoadOptions {
	return runtime.LoadOptions{
		Log:       zerolog.New(zerolog.NewTestWriter(h.t)).Level(zerolog.WarnLevel),
		Scheduler: scheduler.Options{Virtual: true},
		OnAlarm: func(ev runtime.AlarmEvent) {
			h.mu.Lock()
			h.events = append(h.events, ev)
			h.mu.Unlock()
		},
	}
}

func appYAML(typ, entry string, inputs []*signals.Info, fs float64) string {
	var b strings.Builder
	b.WriteString("application: Test\ncomponents:\n")
	if len(inputs) > 0 {
		fmt.Fprintf(&b, "  - name: Inputs\n    type: runtimetest.Source\n    fs: %v\n    config:\n      signals:\n", fs)
		for _, in := range inputs {
			fmt.Fprintf(&b, "        - {name: %s, type: %s}\n", in.Name, in.Kind)
		}
	}
	fmt.Fprintf(&b, "  - name: C\n    type: %s\n", typ)
	for _, line := range strings.Split(entry, "\n") {
		if strings.TrimSpace(line) != "" {
			b.WriteString("    " + line + "\n")
		}
	}
	if len(inputs) > 0 {
		b.WriteString("    inputs:\n")
		for _, in := range inputs {
			fmt.Fprintf(&b, "      %s: Test.Inputs.%s\n", in.Name, in.Name)
		}
	}
	return b.String()
}

// Step runs n ticks of the component on the virtual clock.
func (h *Harness) Step(n int) {
	h.t.Helper()
	h.app.Advance(time.Duration(n) * h.period)
}

// Advance runs the virtual clock for d.
func (h *Harness) Advance(d time.Duration) { h.app.Advance(d) }

// StepUntil steps one tick at a time, letting about a millisecond of real
// time pass between ticks so that the component's I/O goroutines progress,
// until cond returns true (true) or timeout of real time has passed (false).
func (h *Harness) StepUntil(cond func() bool, timeout time.Duration) bool {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		h.Step(1)
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
}

// Set gives an input a value (bool, any integer or float type, or string),
// with quality Good, to be latched at the next tick.
func (h *Harness) Set(input string, v any) { h.SetQ(input, v, signals.Good) }

// SetQ gives an input a value and a quality, to be latched at the next tick.
func (h *Harness) SetQ(input string, v any, q signals.Quality) {
	h.t.Helper()
	p := h.source(input)
	val, err := toValue(v)
	if err != nil {
		h.t.Fatalf("runtimetest: Set(%q): %v", input, err)
	}
	if !p.SetValue(val, q, h.src.Clock().Now+1) {
		h.t.Fatalf("runtimetest: Set(%q): %s does not convert to %s", input, val, p.Kind())
	}
}

func (h *Harness) source(input string) signals.Port {
	h.t.Helper()
	if h.src != nil {
		if p, ok := h.src.Port(input); ok {
			return p
		}
	}
	h.t.Fatalf("runtimetest: %s has no input %q", h.node.TypeName, input)
	return nil
}

func toValue(v any) (signals.Value, error) {
	switch x := v.(type) {
	case signals.Value:
		return x, nil
	case bool:
		return signals.BoolValue(x), nil
	case int:
		return signals.IntValue(int64(x)), nil
	case int32:
		return signals.IntValue(int64(x)), nil
	case int64:
		return signals.IntValue(x), nil
	case uint:
		return signals.UintValue(uint64(x)), nil
	case uint32:
		return signals.UintValue(uint64(x)), nil
	case uint64:
		return signals.UintValue(x), nil
	case float32:
		return signals.FloatValue(float64(x)), nil
	case float64:
		return signals.FloatValue(x), nil
	case string:
		return signals.StringValue(x), nil
	}
	return signals.Value{}, fmt.Errorf("unsupported value type %T", v)
}

// Port returns one of the component's signals, failing the test if there is
// no such signal.
func (h *Harness) Port(name string) signals.Port {
	h.t.Helper()
	p, ok := h.node.Port(name)
	if !ok {
		h.t.Fatalf("runtimetest: %s has no signal %q", h.node.TypeName, name)
	}
	return p
}

// Get returns a signal's current value.
func (h *Harness) Get(name string) signals.Value { h.t.Helper(); return h.Port(name).Value() }

// Float returns a signal's value converted to float64.
func (h *Harness) Float(name string) float64 {
	h.t.Helper()
	f, ok := h.Get(name).Float()
	if !ok {
		h.t.Fatalf("runtimetest: %s = %s is not a number", name, h.Get(name))
	}
	return f
}

// Quality returns a signal's quality.
func (h *Harness) Quality(name string) signals.Quality { h.t.Helper(); return h.Port(name).Quality() }

// Param returns a parameter, failing the test if there is none.
func (h *Harness) Param(name string) runtime.AnyParam {
	h.t.Helper()
	p, ok := h.node.Param(name)
	if !ok {
		h.t.Fatalf("runtimetest: %s has no parameter %q", h.node.TypeName, name)
	}
	return p
}

// SetParam sets a parameter from any Go scalar, failing the test on error.
func (h *Harness) SetParam(name string, v any) error {
	h.t.Helper()
	val, err := toValue(v)
	if err != nil {
		h.t.Fatalf("runtimetest: SetParam(%q): %v", name, err)
	}
	return h.Param(name).SetValue(val)
}

// Alarm returns an alarm, failing the test if there is none.
func (h *Harness) Alarm(name string) *runtime.Alarm {
	h.t.Helper()
	a, ok := h.node.Alarm(name)
	if !ok {
		h.t.Fatalf("runtimetest: %s has no alarm %q", h.node.TypeName, name)
	}
	return a
}

// Events returns the alarm events so far, oldest first.
func (h *Harness) Events() []runtime.AlarmEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]runtime.AlarmEvent(nil), h.events...)
}

// Node returns the component's node.
func (h *Harness) Node() *runtime.Node { return h.node }

// Component returns the component itself, for white-box tests in its package.
func (h *Harness) Component() runtime.Component { return h.node.Component() }

// App returns the application the harness built around the component.
func (h *Harness) App() *runtime.App { return h.app }

// Clock returns the virtual clock.
func (h *Harness) Clock() *scheduler.VirtualTimer { return h.app.Scheduler().Virtual() }
