package mqttbroker

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/rs/zerolog"

	"github.com/metronome-rt/metronome/scheduler"
)

// childEnv holds, in a child process of the test binary, the JSON of the
// Config to serve: the crash drills SIGKILL such a child.
const childEnv = "METRONOME_BROKER_TEST_CHILD"

func TestMain(m *testing.M) {
	if cfg := os.Getenv(childEnv); cfg != "" {
		os.Exit(serveChild(cfg))
	}
	os.Exit(m.Run())
}

// childGCEnv sets, in a child, the garbage collector the way `runtime run
// --memory-limit` does: "auto" for the default limit, or a size.
const childGCEnv = "METRONOME_BROKER_TEST_GC"

// childTickEnv, when set in a child, runs a 1 kHz rate group beside the
// broker at that priority (low, normal or high); its lateness is printed
// as JSON when stdin closes.
const childTickEnv = "METRONOME_BROKER_TEST_TICK"

// serveChild starts a broker, prints its address and serves until stdin
// closes (or the process is killed).
func serveChild(js string) int {
	var cfg Config
	if err := json.Unmarshal([]byte(js), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "child config:", err)
		return 2
	}
	if gc := os.Getenv(childGCEnv); gc != "" {
		limit := scheduler.DefaultMemoryLimit()
		if gc != "auto" {
			var err error
			if limit, err = scheduler.ParseBytes(gc); err != nil {
				fmt.Fprintln(os.Stderr, "child gc:", err)
				return 2
			}
		}
		_, restore := scheduler.ControlGC(limit)
		defer restore()
	}
	b := NewBroker(cfg, zerolog.New(os.Stderr).Level(zerolog.WarnLevel))
	if err := b.Start(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "child start:", err)
		return 1
	}
	fmt.Println(b.Addrs()[0])
	var late chan tickLateness
	ctx, stopTick := context.WithCancel(context.Background())
	defer stopTick()
	if p := os.Getenv(childTickEnv); p != "" {
		prio, err := scheduler.ParsePriority(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, "child tick:", err)
			return 2
		}
		late = make(chan tickLateness, 1)
		go func() { late <- lateness1kHz(ctx, prio) }()
	}
	_, _ = io.Copy(io.Discard, os.Stdin)
	stopTick()
	if late != nil {
		_ = json.NewEncoder(os.Stdout).Encode(<-late)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = b.Stop(sctx)
	return 0
}

// childBroker is a broker in a child process.
type childBroker struct {
	cmd    *exec.Cmd
	addr   string
	stdin  io.WriteCloser
	out    *bufio.Reader
	done   chan struct{}
	stderr *syncBuf
}

// startChild runs a broker for cfg in a child process of the test binary;
// env adds variables (childGCEnv, childTickEnv).
func startChild(t testing.TB, cfg Config, env ...string) *childBroker {
	t.Helper()
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := &childBroker{cmd: exec.Command(os.Args[0], "-test.run=^$"), done: make(chan struct{}), stderr: &syncBuf{}}
	c.cmd.Env = append(append(os.Environ(), "GOGC=", "GOMEMLIMIT=", childEnv+"="+string(js)), env...)
	c.cmd.Stderr = c.stderr
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(c.kill)
	c.out = bufio.NewReader(out)
	line := make(chan string, 1)
	go func() {
		s, _ := c.out.ReadString('\n')
		line <- strings.TrimSpace(s)
	}()
	select {
	case c.addr = <-line:
	case <-time.After(testTimeout):
		t.Fatalf("child broker did not start: %s", c.stderr.String())
	}
	if _, _, err := net.SplitHostPort(c.addr); err != nil {
		t.Fatalf("child broker did not start: %q %s", c.addr, c.stderr.String())
	}
	return c
}

// finish closes the child's stdin, so it stops cleanly, and returns what
// it printed after its address.
func (c *childBroker) finish(t testing.TB) []byte {
	t.Helper()
	_ = c.stdin.Close()
	b, _ := io.ReadAll(c.out)
	select {
	case <-c.done:
	case <-time.After(testTimeout):
		t.Fatalf("child broker did not stop: %s", c.stderr.String())
	}
	return b
}

// kill ends the child with SIGKILL: no flush, no clean stop.
func (c *childBroker) kill() {
	_ = c.cmd.Process.Kill()
	<-c.done
}

// TestAcknowledgedMessagesSurviveSIGKILL: a publisher sends QoS 1 messages
// as fast as they are acknowledged to a broker in a child process, with one
// persistent subscriber offline and one online; the child is killed with
// SIGKILL mid-traffic and started again on the same directory. Both
// subscribers then receive every message the publisher had an
// acknowledgement for, in order, at each sync_interval.
func TestAcknowledgedMessagesSurviveSIGKILL(t *testing.T) {
	for _, every := range []time.Duration{0, 100 * time.Millisecond, time.Second} {
		t.Run("sync_interval="+every.String(), func(t *testing.T) {
			cfg := openConfig()
			cfg.Persistence = &PersistenceConfig{Dir: t.TempDir(), SyncInterval: every}
			child := startChild(t, cfg)
			addr := child.addr
			off := mustDial(t, addr, clientOpts{id: "crash-off", clean: true, expiry: 3600})
			off.sub(t, "c/#", 1)
			if err := off.Disconnect(&paho.Disconnect{}); err != nil {
				t.Fatal(err)
			}
			on := mustDial(t, addr, clientOpts{id: "crash-on", clean: true, expiry: 3600})
			on.sub(t, "c/#", 1)
			onOrder := newOrderChecker()

			pub := newSeqPublisher(t, func() string { return addr }, "crash-pub", "c/seq")
			pub.run(100 * time.Microsecond)
			waitFor(t, "traffic", func() bool { return pub.acked() >= 300 })
			child.kill()
			pub.halt()
			acked := pub.acked()
			// What the online subscriber got before the crash counts as
			// its first connection.
			for drained := false; !drained; {
				select {
				case m := <-on.msgs:
					if err := onOrder.add(m.Payload, pub.wasRetried); err != nil {
						t.Fatal(err)
					}
				default:
					drained = true
				}
			}
			before := onOrder.next

			child = startChild(t, cfg)
			off = resume(t, child.addr, clientOpts{id: "crash-off", expiry: 3600})
			offOrder := newOrderChecker()
			offOrder.conn = 1
			offOrder.drain(t, off, acked, pub.wasRetried)

			on = resume(t, child.addr, clientOpts{id: "crash-on", expiry: 3600})
			onOrder.conn = 1
			onOrder.drain(t, on, acked, pub.wasRetried)
			t.Logf("%d acknowledged before SIGKILL; online subscriber had %d of them; duplicates: offline %d, online %d",
				acked, before, offOrder.dups, onOrder.dups)
		})
	}
}

// lateness1kHz runs a 1 kHz rate group on the real clock at the given
// priority, as an application's would, until ctx ends, and returns its
// wake-up lateness.
func lateness1kHz(ctx context.Context, prio scheduler.Priority) tickLateness {
	s := scheduler.New(scheduler.Options{})
	g := s.Group("fast", prio)
	g.Add(scheduler.TaskFunc(func(scheduler.Tick) {}), time.Millisecond, scheduler.OverrunPolicy{})
	g.Stats().Lateness.SetSpan(24 * time.Hour)
	_ = s.Run(ctx)
	var h scheduler.Histogram
	g.Stats().Lateness.Snapshot(&h)
	r := latenessOf(&h)
	r.RealTime = g.Stats().Bind.RealTime
	return r
}

// tickLateness is the summary of a rate group's lateness, in µs.
type tickLateness struct {
	Wakes uint64  `json:"wakes"`
	P50   float64 `json:"p50_us"`
	P99   float64 `json:"p99_us"`
	P999  float64 `json:"p999_us"`
	Max   float64 `json:"max_us"`
	// RealTime says whether the rate group's thread got SCHED_FIFO.
	RealTime bool `json:"realtime"`
}

func latenessOf(h *scheduler.Histogram) tickLateness {
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	return tickLateness{Wakes: h.Count(), P50: us(h.Quantile(0.5)), P99: us(h.Quantile(0.99)), P999: us(h.Quantile(0.999)), Max: us(h.Max())}
}
