package runtime_test

import (
	"fmt"
	goruntime "runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// fanType has ten inputs and one output, the sum of the inputs.
var fanType = runtime.Define(runtime.Spec[none]{
	Name: "Fan",
	Build: func(b *runtime.Builder, _ *none) (runtime.Component, error) {
		f := &fan{out: runtime.Output[float64](b, "Out")}
		for i := range f.in {
			f.in[i] = runtime.Input[float64](b, fmt.Sprintf("In%d", i))
		}
		return f, nil
	},
})

type fan struct {
	in  [10]*signals.Signal[float64]
	out *signals.Signal[float64]
}

func (f *fan) Process(t runtime.Tick) {
	sum := float64(t.Count)
	for _, in := range f.in {
		sum += in.Get()
	}
	f.out.Set(sum * 0.5)
}

var benchReg = runtime.MustRegistry(fanType, counterType, passType)

// fanApp builds n Fan components in one rate group, each with its ten
// inputs routed from the ten components before it (wrapping around with a
// delay where that would form a loop).
func fanApp(n int) string {
	var b strings.Builder
	b.WriteString("application: B\nfs: 1000\ncomponents:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - name: F%d\n    type: Fan\n    inputs:\n", i)
		for k := 0; k < 10; k++ {
			src := i - 1 - k
			if src < 0 {
				fmt.Fprintf(&b, "      In%d: {route: B.F%d.Out, delay: true}\n", k, src+n)
				continue
			}
			fmt.Fprintf(&b, "      In%d: B.F%d.Out\n", k, src)
		}
	}
	return b.String()
}

// BenchmarkTick1000x10 runs one tick of 1,000 components with 10 routed
// inputs each (10,000 routes) on the virtual clock.
func BenchmarkTick1000x10(b *testing.B) {
	app := loadFanVirtual(b, 1000)
	app.Advance(10 * time.Millisecond)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		app.Advance(time.Millisecond)
	}
	b.StopTimer()
	perTick := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(perTick/10000, "ns/route")
	b.ReportMetric(perTick/1000, "ns/component")
}

func loadFanVirtual(tb testing.TB, n int) *runtime.App {
	tb.Helper()
	app, err := runtime.LoadBytes("fan.yaml", []byte(fanApp(n)), benchReg, runtime.LoadOptions{Scheduler: virtual()})
	if err != nil {
		tb.Fatal(err)
	}
	return app
}

func TestTick1000x10AllocatesNothing(t *testing.T) {
	app := loadFanVirtual(t, 1000)
	app.Advance(10 * time.Millisecond)
	if n := testing.AllocsPerRun(20, func() { app.Advance(time.Millisecond) }); n != 0 {
		t.Fatalf("%v allocations per tick of 1,000 components x 10 routes, want 0", n)
	}
}

// BenchmarkLoad1000 loads, validates and builds a 1,000-component
// application with 10,000 routes (the target is under 100 ms here).
func BenchmarkLoad1000(b *testing.B) {
	data := []byte(fanApp(1000))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := runtime.LoadBytes("fan.yaml", data, benchReg, runtime.LoadOptions{Scheduler: virtual()}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/load")
}

// BenchmarkHeapPerComponent reports the live heap a component costs once
// loaded (the target is under 16 KiB), with its ten routed inputs.
func BenchmarkHeapPerComponent(b *testing.B) {
	const n = 1000
	for i := 0; i < b.N; i++ {
		before := heapInUse()
		app := loadFanVirtual(b, n)
		after := heapInUse()
		b.ReportMetric(float64(after-before)/n, "B/component")
		goruntime.KeepAlive(app)
	}
}

func heapInUse() uint64 {
	goruntime.GC()
	debug.FreeOSMemory()
	var m goruntime.MemStats
	goruntime.ReadMemStats(&m)
	return m.HeapAlloc
}
