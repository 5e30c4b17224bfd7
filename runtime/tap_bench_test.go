package runtime_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/runtime/runtimetest"
)

// latencyProbeType records, on its rate group, how long after the tick's wake-up
// it runs: placed last, that is when the pass ends.
var latencyProbeType = runtime.Define(runtime.Spec[none]{
	Name: "Probe",
	Build: func(b *runtime.Builder, _ *none) (runtime.Component, error) {
		return &latencyProbe{}, nil
	},
})

type latencyProbe struct {
	lat []time.Duration // preallocated by the benchmark before the run
	n   int
}

func (p *latencyProbe) Process(t runtime.Tick) {
	if p.n < len(p.lat) {
		p.lat[p.n] = time.Since(t.Wall)
		p.n++
	}
}

var bankReg = runtime.MustRegistry(runtimetest.Bank, latencyProbeType)

// bankApp is banks x outputs signals changing every tick at fs, and a
// latencyProbe at the end of the pass.
func bankApp(banks, outputs int, fs float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "application: B\nfs: %g\ncomponents:\n", fs)
	for i := 0; i < banks; i++ {
		fmt.Fprintf(&b, "  - {name: K%d, type: runtimetest.Bank, config: {outputs: %d}}\n", i, outputs)
	}
	b.WriteString("  - {name: Probe, type: Probe}\n")
	return b.String()
}

func loadBank(t testing.TB, banks, outputs int, virtualClock bool) *runtime.App {
	t.Helper()
	opts := runtime.LoadOptions{Log: zerolog.Nop()}
	opts.Scheduler.Virtual = virtualClock
	app, err := runtime.LoadBytes("b.yaml", []byte(bankApp(banks, outputs, 1000)), bankReg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return app
}

// The tick path allocates nothing with 10,000 observed signals changing
// every tick, a consumer attached, a waker registered and a reader.
func TestTickWith10kObservedSignalsAllocatesNothing(t *testing.T) {
	app := loadBank(t, 10, 1000, true)
	tap := app.Tap()
	defer tap.Attach()()
	wake := make(chan struct{}, 1)
	defer tap.Wake(wake)()
	buf := make([]runtime.Sample, 0, 11000)
	var v uint64
	app.Advance(10 * time.Millisecond)
	buf, v = tap.Read(v, nil, buf[:0])
	n := testing.AllocsPerRun(50, func() {
		app.Advance(time.Millisecond)
		buf, v = tap.Read(v, nil, buf[:0])
	})
	if n != 0 {
		t.Fatalf("%v allocations per 1 ms tick of 10,000 observed signals, want 0", n)
	}
	if len(buf) < 10000 {
		t.Fatalf("a read after one tick returned %d samples, want every changed one (10,000+)", len(buf))
	}
}

// BenchmarkTick10k measures one 1 kHz tick of 10 components with 1,000
// outputs each, all changing: without observation (the baseline), and with
// a consumer attached (every changed value copied for it).
//
//	go test ./runtime -run '^$' -bench Tick10k -benchtime 2000x
func BenchmarkTick10k(b *testing.B) {
	for _, attached := range []bool{false, true} {
		name := "detached"
		if attached {
			name = "attached"
		}
		b.Run(name, func(b *testing.B) {
			app := loadBank(b, 10, 1000, true)
			tap := app.Tap()
			if attached {
				defer tap.Attach()()
			}
			app.Advance(10 * time.Millisecond)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				app.Advance(time.Millisecond)
				if attached && i%100 == 99 { // a 10 Hz viewer's read
					b.StopTimer()
					tap.Read(0, nil, nil)
					b.StartTimer()
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10000, "ns/signal")
		})
	}
}

// BenchmarkTapLinkLatency runs 1,000 or 10,000 signals, all changing, at
// 1 kHz on the real clock, and a consumer woken after every pass as a
// network link would be. It reports, from each tick's wake-up, when the
// pass ended (the baseline: the ticks' own work) and when the consumer held
// the pass's values; the difference is what handing values over costs.
//
//	go test ./runtime -run '^$' -bench TapLinkLatency -benchtime 1x
func BenchmarkTapLinkLatency(b *testing.B) {
	for _, banks := range []int{1, 10} {
		b.Run(fmt.Sprintf("signals=%d", banks*1000), func(b *testing.B) { linkLatency(b, banks) })
	}
}

func linkLatency(b *testing.B, banks int) {
	app := loadBank(b, banks, 1000, false)
	pn, _ := app.Find("B.Probe")
	pr := pn.Component().(*latencyProbe)
	pr.lat = make([]time.Duration, 10000)
	tap := app.Tap()
	defer tap.Attach()()
	wake := make(chan struct{}, 1)
	defer tap.Wake(wake)()
	id, _ := tap.Lookup(fmt.Sprintf("B.K%d.O999", banks-1)) // written last in each pass
	ctx, cancel := context.WithCancel(context.Background())
	if err := app.Start(ctx); err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { app.Run(ctx); close(done) }()
	var lat []time.Duration
	buf := make([]runtime.Sample, 0, banks*1000+100)
	var v uint64
	end := time.Now().Add(3 * time.Second)
	b.ResetTimer()
	for time.Now().Before(end) {
		<-wake
		buf, v = tap.Read(v, nil, buf[:0])
		now := time.Now()
		for i := range buf {
			if buf[i].ID == id {
				lat = append(lat, now.Sub(time.Unix(0, buf[i].Stamp)))
			}
		}
	}
	b.StopTimer()
	cancel()
	<-done
	app.Stop(context.Background())
	if len(lat) == 0 {
		b.Fatal("no passes read")
	}
	pass := pr.lat[:pr.n]
	q := func(d []time.Duration, p float64) time.Duration {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return d[int(p*float64(len(d)-1))]
	}
	b.ReportMetric(float64(q(pass, 0.5).Microseconds()), "pass-p50-µs")
	b.ReportMetric(float64(q(pass, 0.99).Microseconds()), "pass-p99-µs")
	b.ReportMetric(float64(q(lat, 0.5).Microseconds()), "read-p50-µs")
	b.ReportMetric(float64(q(lat, 0.99).Microseconds()), "read-p99-µs")
	b.Logf("%d signals at 1 kHz, from tick wake-up: pass ended p50 %v p99 %v; consumer held the values p50 %v p99 %v max %v (%d reads, %d passes deferred)",
		banks*1000, q(pass, 0.5), q(pass, 0.99), q(lat, 0.5), q(lat, 0.99), lat[len(lat)-1], len(lat), tap.Deferred())
}
