package runtime_test

import (
	"testing"
	"time"

	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// offsetType adds an optional input to a parameter: Out = In + Off, with Off
// 100 when absent.
var offsetType = runtime.Define(runtime.Spec[none]{
	Name: "Offset",
	Build: func(b *runtime.Builder, _ *none) (runtime.Component, error) {
		return &offset{
			in:  runtime.Input[float64](b, "In"),
			off: runtime.OptionalInput[float64](b, "Off"),
			out: runtime.Output[float64](b, "Out"),
		}, nil
	},
})

type offset struct {
	in  *signals.Signal[float64]
	off *runtime.Optional[float64]
	out *signals.Signal[float64]
}

func (o *offset) Process(runtime.Tick) {
	var m signals.Merge
	m.Add(o.in)
	o.off.AddTo(&m)
	if !m.HasValue() {
		m.Hold(o.out)
		return
	}
	m.SetFloat(o.out, o.in.Get()+o.off.Or(100))
}

var optionalReg = runtime.MustRegistry(offsetType, counterType)

func TestOptionalInputTakesPartOnlyWhenRoutedOrWritten(t *testing.T) {
	app, err := runtime.LoadBytes("opt.yaml", []byte(`application: A
fs: 10
components:
  - name: C
    type: Counter
  - name: Never
    type: Offset
    inputs: {In: A.C.Out}
  - name: Free
    type: Offset
    inputs: {In: A.C.Out}
  - name: Silent
    type: Offset
    inputs: {In: A.C.Out, Off: A.Never.Off}
  - name: Routed
    type: Offset
    inputs: {In: A.C.Out, Off: A.C.Out}
`), optionalReg, runtime.LoadOptions{Scheduler: virtual()})
	if err != nil {
		t.Fatal(err)
	}
	app.Advance(300 * time.Millisecond)
	get := func(path string) (float64, signals.Quality) {
		p, ok := app.Signal(path)
		if !ok {
			t.Fatalf("no %s", path)
		}
		f, _ := p.Value().Float()
		return f, p.Quality()
	}
	c, _ := get("A.C.Out")
	if v, q := get("A.Free.Out"); v != c+100 || q != signals.Good {
		t.Fatalf("unrouted Off: Out = %v (%v), want In + 100 = %v (good)", v, q, c+100)
	}
	if _, q := get("A.Silent.Out"); q != signals.Initial {
		t.Fatalf("Off routed from a signal that never had a value: Out quality %v, want initial", q)
	}
	if v, q := get("A.Routed.Out"); v != 2*c || q != signals.Good {
		t.Fatalf("routed Off: Out = %v (%v), want %v (good)", v, q, 2*c)
	}
	// Writing an unrouted optional input (a test, a forced value) makes it present.
	free, _ := app.Find("A.Free")
	off, _ := free.Port("Off")
	off.SetValue(signals.FloatValue(1), signals.Stale, 1)
	app.Advance(100 * time.Millisecond)
	c, _ = get("A.C.Out")
	if v, q := get("A.Free.Out"); v != c+1 || q != signals.Stale {
		t.Fatalf("written Off: Out = %v (%v), want %v (stale)", v, q, c+1)
	}
}
