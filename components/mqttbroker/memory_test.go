package mqttbroker

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/metronome-rt/metronome/internal/mqtttest"
)

// peakRSS returns a process's peak resident set (VmHWM), in bytes.
func peakRSS(t testing.TB, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// flood publishes n QoS 0 messages of size bytes through the broker at
// addr to one subscriber, as fast as the broker takes them, and waits
// until the subscriber has them (or until it stops receiving).
func flood(t testing.TB, addr string, n, size int) {
	t.Helper()
	sub := mustDial(t, addr, clientOpts{id: newID("fsub"), clean: true})
	sub.sub(t, "f/#", 0)
	got := make(chan struct{}, n)
	go func() {
		for range sub.msgs {
			got <- struct{}{}
		}
	}()
	pub := mustDial(t, addr, clientOpts{id: newID("fpub"), clean: true})
	payload := make([]byte, size)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	for i := 0; i < n; i++ {
		if _, err := pub.Publish(ctx, &paho.Publish{Topic: "f/x", Payload: payload}); err != nil {
			t.Fatalf("flood publish %d: %v", i, err)
		}
	}
	for received := 0; received < n; received++ {
		select {
		case <-got:
		case <-time.After(2 * time.Second):
			t.Logf("flood: %d of %d delivered (QoS 0 may be dropped)", received, n)
			return
		}
	}
}

// buildRuntime builds the runtime binary without the race detector
// (whatever this test was built with), so that its memory is the real one.
func buildRuntime(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "runtime")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "../../cmd/runtime").CombinedOutput(); err != nil {
		t.Fatalf("build cmd/runtime: %v\n%s", err, out)
	}
	return bin
}

// TestDefaultMemoryLimitHoldsUnderFlood: `runtime run` of an application
// with a broker, with the default --memory-limit, takes a flood of 64 kB
// messages (about 200 MB in all) without its resident memory passing
// 320 MiB (the largest default limit, 256 MiB, and room for what is not
// heap), so a controller with 512 MB of RAM is not killed.
func TestDefaultMemoryLimitHoldsUnderFlood(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildRuntime(t)
	addr := fmt.Sprintf("127.0.0.1:%d", mqtttest.FreePort(t))
	_, port, _ := net.SplitHostPort(addr)
	app := filepath.Join(t.TempDir(), "flood.yaml")
	if err := os.WriteFile(app, []byte(`application: Flood
fs: 10
components:
  - name: Broker
    type: MQTTBroker
    config:
      listeners: [{type: tcp, address: 127.0.0.1, port: `+port+`}]
      allow_anonymous: true
      acl: [{topic: "#", access: readwrite}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--log-format", "json", app)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOGC=") && !strings.HasPrefix(kv, "GOMEMLIMIT=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	logs := &syncBuf{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(testTimeout):
			_ = cmd.Process.Kill()
		}
	}()
	waitFor(t, "the runtime to run", func() bool { return strings.Contains(logs.String(), "running;") })
	flood(t, addr, 3000, 64<<10)
	rss := peakRSS(t, cmd.Process.Pid)
	var limit string
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "garbage collection when the heap nears") {
			limit = line
		}
	}
	t.Logf("peak RSS %d MiB; %s", rss>>20, limit)
	if rss > 320<<20 {
		t.Fatalf("peak RSS %d MiB under the flood, above 320 MiB", rss>>20)
	}
}

// BenchmarkMemoryLimitUnderFlood measures, for each memory limit, how late
// a 1 kHz rate group wakes, and the peak RSS of the broker's process, while
// a client floods the broker with 64 kB messages for 5 s; the rate group
// and the broker share the process, the flooding client runs in the test
// process. Go's default collector is the baseline; limits and baseline
// take turns in three rounds (medians reported). The rate group runs at
// priority high (SCHED_FIFO when permitted), as a controller's control
// loops would, so what remains is the garbage collector's share;
// METRONOME_BENCH_PRIORITY=normal measures at normal priority.
//
//	go test ./components/mqttbroker -run '^$' -bench MemoryLimitUnderFlood -benchtime 1x
func BenchmarkMemoryLimitUnderFlood(b *testing.B) {
	if runtime.GOOS != "linux" {
		b.Skip("reads /proc")
	}
	prio := "high"
	if p := os.Getenv("METRONOME_BENCH_PRIORITY"); p != "" {
		prio = p
	}
	limits := []string{"0", "64MiB", "128MiB", "256MiB", "1GiB"}
	type result struct {
		late tickLateness
		rss  int64
	}
	res := map[string][]result{}
	for i := 0; i < b.N; i++ {
		for round := 0; round < 3; round++ {
			for _, limit := range limits {
				child := startChild(b, openConfig(), childGCEnv+"="+limit, childTickEnv+"="+prio)
				time.Sleep(300 * time.Millisecond) // the rate group settles
				for start := time.Now(); time.Since(start) < 5*time.Second; {
					flood(b, child.addr, 1000, 64<<10)
				}
				rss := peakRSS(b, child.cmd.Process.Pid)
				out := child.finish(b)
				var r result
				if err := json.Unmarshal(out, &r.late); err != nil {
					b.Fatalf("child result %q: %v", out, err)
				}
				r.rss = rss
				res[limit] = append(res[limit], r)
			}
		}
	}
	for _, limit := range limits {
		rs := res[limit]
		med := func(f func(result) float64) float64 {
			x := make([]float64, len(rs))
			for i, r := range rs {
				x[i] = f(r)
			}
			return median(x)
		}
		name := limit
		if limit == "0" {
			name = "Go default (GOGC=100)"
		}
		p50, p99, p999 := med(func(r result) float64 { return r.late.P50 }), med(func(r result) float64 { return r.late.P99 }), med(func(r result) float64 { return r.late.P999 })
		mx, rss := med(func(r result) float64 { return r.late.Max }), med(func(r result) float64 { return float64(r.rss >> 20) })
		b.Logf("%-22s lateness p50 %6.1f µs  p99 %8.1f µs  p99.9 %8.1f µs  max %8.1f µs  peak RSS %4.0f MiB  (priority %s, real-time %v, median of %d rounds)",
			name, p50, p99, p999, mx, rss, prio, rs[0].late.RealTime, len(rs))
		b.ReportMetric(p99, limit+"-p99-µs")
		b.ReportMetric(rss, limit+"-RSS-MiB")
	}
}
