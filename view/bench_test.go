package view_test

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"

	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/runtime/runtimetest"
	"github.com/metronome-rt/metronome/view"
)

// latencyProbe records each tick's wall-clock wake-up minus its deadline
// on the monotonic timeline: the lateness plus a constant (the wall time
// at the timeline's origin), which the analysis removes.
var latencyProbe = runtime.Define(runtime.Spec[none]{
	Name: "test.LatenessProbe",
	Build: func(b *runtime.Builder, _ *none) (runtime.Component, error) {
		return &lprobe{rel: make([]int64, 200_000)}, nil
	},
})

type lprobe struct {
	rel []int64
	n   atomic.Int64
}

func (p *lprobe) Process(t runtime.Tick) {
	if n := p.n.Load(); n < int64(len(p.rel)) {
		p.rel[n] = t.Wall.UnixNano() - int64(t.Mono)
		p.n.Store(n + 1)
	}
}

// BenchmarkViewerLoad runs a 1 kHz rate group of 10,000 doubles that all
// change every tick, and alternates, in one run, phases without the live
// view and phases with 10 WebSocket clients each subscribed to 1,000 of the
// signals at 10 Hz. It reports the rate group's wake-up lateness (p50, p99,
// max) in both, and their p99 ratio.
//
//	go test ./view -run '^$' -bench ViewerLoad -benchtime 1x
func BenchmarkViewerLoad(b *testing.B) {
	const (
		clients = 10
		phase   = 3 * time.Second
		rounds  = 3
	)
	reg := runtime.MustRegistry(runtimetest.Bank, latencyProbe)
	var y strings.Builder
	y.WriteString("application: B\nfs: 1000\ncomponents:\n")
	for i := 0; i < clients; i++ {
		fmt.Fprintf(&y, "  - {name: K%d, type: runtimetest.Bank, config: {outputs: 1000}}\n", i)
	}
	y.WriteString("  - {name: Probe, type: test.LatenessProbe}\n")
	app, err := runtime.LoadBytes("b.yaml", []byte(y.String()), reg, runtime.LoadOptions{Log: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	pn, _ := app.Find("B.Probe")
	pr := pn.Component().(*lprobe)
	ctx, cancel := context.WithCancel(context.Background())
	if err := app.Start(ctx); err != nil {
		b.Fatal(err)
	}
	runDone := make(chan struct{})
	go func() { app.Run(ctx); close(runDone) }()
	time.Sleep(500 * time.Millisecond) // let the group settle

	type span struct {
		viewers  bool
		from, to int64
	}
	var spans []span
	var frames, bytes atomic.Int64
	b.ResetTimer()
	for r := 0; r < rounds; r++ {
		// Without the live view: nothing observes the ticks.
		from := pr.n.Load()
		time.Sleep(phase)
		spans = append(spans, span{false, from, pr.n.Load()})

		// With it: 10 clients, 1,000 signals each, 10 Hz.
		srv, err := view.New(app, runtime.ViewConfig{Listen: "127.0.0.1:0"}, view.Options{Log: zerolog.Nop()})
		if err != nil {
			b.Fatal(err)
		}
		if err := srv.Start(); err != nil {
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		var conns []*websocket.Conn
		ready := make(chan struct{}, clients)
		for i := 0; i < clients; i++ {
			ws, _, err := websocket.DefaultDialer.Dial("ws://"+srv.Addr()+"/api", nil)
			if err != nil {
				b.Fatal(err)
			}
			conns = append(conns, ws)
			ws.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(`{"type":"subscribe","sub":"s","paths":["B.K%d.O*"],"max_rate":10}`, i)))
			wg.Add(1)
			go func() {
				defer wg.Done()
				snap := false
				for {
					_, rd, err := ws.NextReader()
					if err != nil {
						return
					}
					n, _ := io.Copy(io.Discard, rd)
					frames.Add(1)
					bytes.Add(n)
					if !snap && n > 50_000 { // the snapshot of 1,000 values
						snap = true
						ready <- struct{}{}
					}
				}
			}()
		}
		for i := 0; i < clients; i++ {
			<-ready
		}
		from = pr.n.Load()
		f0, b0 := frames.Load(), bytes.Load()
		time.Sleep(phase)
		spans = append(spans, span{true, from, pr.n.Load()})
		if r == 0 {
			b.Logf("viewers: %.0f frames/s, %.1f MB/s to 10 clients", float64(frames.Load()-f0)/phase.Seconds(), float64(bytes.Load()-b0)/phase.Seconds()/1e6)
		}
		for _, ws := range conns {
			ws.Close()
		}
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
		srv.Close(cctx)
		ccancel()
		wg.Wait()
	}
	b.StopTimer()
	cancel()
	<-runDone
	app.Stop(context.Background())

	// The run is over: the probe's samples are safe to read.
	rel := pr.rel[:pr.n.Load()]
	base := rel[0]
	for _, x := range rel {
		base = min(base, x)
	}
	var without, with []time.Duration
	for _, s := range spans {
		for _, x := range rel[s.from:s.to] {
			if s.viewers {
				with = append(with, time.Duration(x-base))
			} else {
				without = append(without, time.Duration(x-base))
			}
		}
	}
	q := func(d []time.Duration, p float64) time.Duration {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return d[int(p*float64(len(d)-1))]
	}
	p99a, p99b := q(without, 0.99), q(with, 0.99)
	b.ReportMetric(float64(p99a.Microseconds()), "p99-without-µs")
	b.ReportMetric(float64(p99b.Microseconds()), "p99-with-µs")
	b.ReportMetric(float64(p99b)/float64(p99a), "p99-ratio")
	b.Logf("1 kHz rate group with 10,000 changing signals; lateness without the live view: p50 %v p99 %v max %v (%d ticks); with 10 clients x 1,000 signals at 10 Hz: p50 %v p99 %v max %v (%d ticks); p99 ratio %.2f",
		q(without, 0.5), p99a, without[len(without)-1], len(without), q(with, 0.5), p99b, with[len(with)-1], len(with), float64(p99b)/float64(p99a))
}
