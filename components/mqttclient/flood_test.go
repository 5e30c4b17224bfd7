package mqttclient

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	rtm "runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/metronome-rt/metronome/internal/mqtttest"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/scheduler"
	"github.com/metronome-rt/metronome/signals"
)

// probe counts the ticks on which its input brought a new value, so a test
// can check the client's drop counter against what the ticks really saw.
type probe struct {
	in    *signals.Signal[int64]
	fresh uint64
	last  int64
}

func (p *probe) Process(runtime.Tick) {
	if p.in.Fresh() {
		p.fresh++
		p.last = p.in.Get()
	}
}

var probeType = runtime.Define(runtime.Spec[struct{}]{
	Name: "test.Probe",
	Build: func(b *runtime.Builder, _ *struct{}) (runtime.Component, error) {
		return &probe{in: runtime.Input[int64](b, "In")}, nil
	},
})

type floodRun struct {
	p99, p50   time.Duration
	ticks      uint64
	in         uint64
	overwrites uint64
	fresh      uint64
	taken      uint64
	left       uint64
	dropped    uint64
	last       int64
	heapGrowth uint64 // peak heap, garbage included (the GC runs near its memory limit)
	liveGrowth uint64 // heap still live after a collection at the end
	reconnects uint64
}

func heapBytes() uint64 {
	s := []rtm.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	rtm.Read(s)
	return s[0].Value.Uint64()
}

// runFlood runs an application with the client at 1 kHz on the real clock
// for about d; with flood set, mosquitto_pub floods the subscribed topic
// with n messages at full speed meanwhile. The keep-alive is short: the
// socket buffers hold seconds of the flood, and the broker's PINGRESP waits
// behind them, so the connection must stay up on a keep-alive that takes
// any packet as proof of life, not only a PINGRESP in time.
func runFlood(t *testing.T, addr string, d time.Duration, flood bool, n int) floodRun {
	t.Helper()
	reg := runtime.MustRegistry(Type, probeType)
	app, err := runtime.LoadBytes("flood.yaml", []byte(fmt.Sprintf(`application: Flood
priority: high
components:
  - name: Mqtt
    type: MQTTClient
    fs: 1000
    config:
      servers: [mqtt://%s]
      keep_alive: 3s
      subscribe: [{name: X, topic: flood/x, type: int}]
  - name: Probe
    type: test.Probe
    fs: 1000
    inputs: {In: Flood.Mqtt.X}
`, addr)), reg, runtime.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Start(ctxFor(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	node, _ := app.Find("Flood.Mqtt")
	c := node.Component().(*client)
	pnode, _ := app.Find("Flood.Probe")
	pr := pnode.Component().(*probe)
	if !waitUntil(10*time.Second, c.io.connected.Load) {
		t.Fatal("not connected")
	}
	time.Sleep(200 * time.Millisecond) // subscription made

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { app.Run(ctx); close(done) }()
	goruntime.GC()
	heap0 := heapBytes()
	epoch0 := c.io.epoch.Load()
	var heapMax uint64
	sample := func() { heapMax = max(heapMax, heapBytes()) }
	if flood {
		lines := filepath.Join(t.TempDir(), "lines")
		var sb strings.Builder
		for i := 1; i <= n; i++ {
			sb.WriteString(strconv.Itoa(i))
			sb.WriteByte('\n')
		}
		os.WriteFile(lines, []byte(sb.String()), 0o600)
		host, port, _ := strings.Cut(addr, ":")
		f, _ := os.Open(lines)
		defer f.Close()
		cmd := exec.Command(mqtttest.RequireTool(t, "mosquitto_pub"), "-h", host, "-p", port, "-t", "flood/x", "-q", "0", "-l")
		cmd.Stdin = f
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		deadline := time.After(d)
	wait:
		for {
			select {
			case <-exited:
				break wait
			case <-deadline:
				cmd.Process.Kill()
				<-exited
				break wait
			case <-time.After(50 * time.Millisecond):
				sample()
			}
		}
		// Let the broker's backlog drain, until nothing more comes in.
		for last := uint64(0); ; {
			time.Sleep(300 * time.Millisecond)
			sample()
			if in := c.io.received(); in == last {
				break
			} else {
				last = in
			}
		}
	} else {
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			sample()
		}
	}
	time.Sleep(20 * time.Millisecond) // a few ticks to latch the last message
	cancel()
	<-done
	var h scheduler.Histogram
	g := app.Scheduler().Groups()[0]
	g.Stats().Lateness.Snapshot(&h)
	r := floodRun{p99: h.Quantile(0.99), p50: h.Quantile(0.5), ticks: h.Count(), in: c.io.received(),
		fresh: pr.fresh, last: pr.last}
	for _, s := range c.subs {
		r.overwrites += s.box.Overwritten()
		r.taken += s.taken
		if _, ok := s.box.Take(); ok {
			r.left++ // arrived after the last tick
		}
	}
	r.dropped = c.dropped.Get()
	r.reconnects = c.io.epoch.Load() - epoch0
	if heapMax > heap0 {
		r.heapGrowth = heapMax - heap0
	}
	goruntime.GC() // what is still live: a queue that grew without bound would show here
	if live := heapBytes(); live > heap0 {
		r.liveGrowth = live - heap0
	}
	if err := app.Stop(ctxFor(t, 10*time.Second)); err != nil {
		t.Error(err)
	}
	return r
}

// TestFloodKeepsTicksOnTime floods a subscribed topic at full speed
// through Debian's mosquitto while the client ticks at 1 kHz, and compares
// the ticks' lateness with an unloaded run in the same test.
func TestFloodKeepsTicksOnTime(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for several seconds")
	}
	addr := mqtttest.Mosquitto(t, "")
	// The garbage collector as `runtime run` sets it up: paho allocates
	// several kB per received message, and collecting at every doubling of a
	// small heap delays ticks by milliseconds.
	gcDesc, restoreGC := scheduler.ControlGC(scheduler.DefaultMemoryLimit())
	defer restoreGC()
	t.Log(gcDesc)
	const n = 1_000_000
	idle := runFlood(t, addr, 2*time.Second, false, 0)
	load := runFlood(t, addr, 4*time.Second, true, n)
	t.Logf("unloaded: %d ticks, lateness p50 %v p99 %v", idle.ticks, idle.p50, idle.p99)
	t.Logf("flooded:  %d ticks, lateness p50 %v p99 %v; %d messages in, %d latched by ticks, %d overwritten, peak heap growth %d KiB (live %d KiB)",
		load.ticks, load.p50, load.p99, load.in, load.fresh, load.overwrites, load.heapGrowth/1024, load.liveGrowth/1024)
	if load.in < n/10 {
		t.Fatalf("the flood delivered only %d messages", load.in)
	}
	// Tick lateness depends on the machine's other load, so the 1.5x
	// comparison is enforced only where asked for (a quiet, dedicated host).
	if load.p99 > idle.p99*3/2 {
		msg := fmt.Sprintf("lateness p99 %v under the flood, more than 1.5x the unloaded %v", load.p99, idle.p99)
		if os.Getenv("METRONOME_STRICT_TIMING") != "" {
			t.Error(msg)
		} else {
			t.Log(msg + " (set METRONOME_STRICT_TIMING=1 to fail on it)")
		}
	}
	// Every received message was either latched by a tick or counted as dropped.
	if load.taken+load.overwrites+load.left != load.in {
		t.Errorf("latched %d + dropped %d + waiting %d != received %d", load.taken, load.overwrites, load.left, load.in)
	}
	if load.dropped != load.overwrites && load.dropped+1 != load.overwrites {
		t.Errorf("Dropped signal %d, box overwrites %d", load.dropped, load.overwrites)
	}
	if load.fresh > load.taken {
		t.Errorf("downstream saw %d new values, more than the %d latched", load.fresh, load.taken)
	}
	if load.last != int64(load.in) && load.in == n {
		t.Errorf("last latched value %d, want %d", load.last, n)
	}
	if load.reconnects != 0 {
		t.Errorf("the connection was lost %d times during the flood (keep-alive not answered?)", load.reconnects)
	}
	if load.liveGrowth > 64<<20 {
		t.Errorf("live heap grew by %d MiB during the flood", load.liveGrowth>>20)
	}
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func waitUntil(d time.Duration, cond func() bool) bool {
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	return true
}
