package mqttclient_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/metronome-rt/metronome/components/mqttclient"
	"github.com/metronome-rt/metronome/internal/mqtttest"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/runtime/runtimetest"
)

// sequenceFaults compares got with 1..n in order.
func sequenceFaults(t *testing.T, got []string, n int) (missing []int, dups, inversions int) {
	t.Helper()
	seen := map[string]int{}
	last := 0
	for _, p := range got {
		seen[p]++
		if seen[p] == 2 {
			dups++
		}
		v, err := strconv.Atoi(p)
		if err != nil {
			t.Fatalf("payload %q", p)
		}
		if v < last {
			inversions++
		}
		last = v
	}
	for i := 1; i <= n; i++ {
		if seen[strconv.Itoa(i)] == 0 {
			missing = append(missing, i)
		}
	}
	return missing, dups, inversions
}

// distinct counts the different payloads in got.
func distinct(got []string) int {
	seen := make(map[string]bool, len(got))
	for _, p := range got {
		seen[p] = true
	}
	return len(seen)
}

// checkSequence verifies that got is exactly 1..n in order.
func checkSequence(t *testing.T, got []string, n int) {
	t.Helper()
	checkResent(t, got, n, 0)
}

// checkResent verifies that got is 1..n in order, except that up to
// drops messages may come twice in a row: QoS 1 is at least once, and the
// client sends one message at a time, so a connection that drops while a
// message waits for its acknowledgement (the broker may have it already)
// costs that one message a second delivery, right after the first.
func checkResent(t *testing.T, got []string, n, drops int) {
	t.Helper()
	missing, dups, inversions := sequenceFaults(t, got, n)
	resent := 0
	for i := 1; i < len(got); i++ {
		if got[i] == got[i-1] {
			resent++
		}
	}
	if len(missing)+inversions > 0 || dups != resent || resent > drops || len(got) != n+resent {
		t.Errorf("%d messages for 1..%d: %d missing (first %v), %d twice (%d of them resent at once, %d allowed), %d out of order",
			len(got), n, len(missing), missing[:min(5, len(missing))], dups, resent, drops, inversions)
	}
}

// TestBrokerOutageAt1kHz stops the broker for several seconds while the
// client publishes a QoS 1 sequence at 1 kHz, then restarts it.
func TestBrokerOutageAt1kHz(t *testing.T) { testBrokerOutage(t, "5") }

// TestBrokerOutageAt1kHz311 is TestBrokerOutageAt1kHz over MQTT 3.1.1.
func TestBrokerOutageAt1kHz311(t *testing.T) { testBrokerOutage(t, "3.1.1") }

func testBrokerOutage(t *testing.T, protocol string) {
	if testing.Short() {
		t.Skip("runs for about 8 s")
	}
	b := startBroker(t, "127.0.0.1:0")
	h := runtimetest.New(t, mqttclient.Type, fmt.Sprintf(`fs: 1000
config:
  servers: [%s]
  protocol: %s
  retry_min: 100ms
  retry_max: 500ms
  signal_timeout: 500ms
  publish:
    - {name: Seq, topic: outage/seq, type: int, qos: 1, on_connect: false}
  subscribe:
    - {name: Back, topic: outage/back, type: int}
`, b.url(), protocol))
	connect(t, h)
	const upMs, downMs, afterMs = 1000, 3000, 1000
	n := upMs + downMs + afterMs
	start := time.Now()
	var stopped chan struct{}
	downTicks := 0
	for i := 1; i <= n; i++ {
		h.Set("Seq", i)
		h.Step(1)
		if c, _ := h.Get("Connected").Bool(); !c {
			downTicks++
		}
		switch i {
		case upMs:
			stopped = make(chan struct{})
			go func() { b.stop(); close(stopped) }()
		case upMs + downMs:
			<-stopped
			b.start(b.addr)
		}
		// Pace at 1 kHz of real time.
		if d := time.Duration(i)*time.Millisecond - time.Since(start); d > 0 {
			time.Sleep(d)
		}
	}
	// Wait for n different messages: one may come twice (below), so n
	// deliveries can end before the last message.
	if !h.StepUntil(func() bool { return distinct(b.on("outage/seq")) >= n }, 60*time.Second) {
		t.Logf("only %d of %d delivered", distinct(b.on("outage/seq")), n)
	}
	h.Step(1)
	// The stop may cut off the acknowledgement of the message in flight.
	checkResent(t, b.on("outage/seq"), n, 1)
	if downTicks < 1000 {
		t.Errorf("the client saw the broker down for only %d ticks of a %d ms outage", downTicks, downMs)
	}
	if d, _ := h.Get("Dropped").Uint(); d != 0 {
		t.Errorf("Dropped = %d with a queue big enough for the outage", d)
	}
	// Subscriptions are back on the new broker.
	if !h.StepUntil(func() bool {
		b.publish("outage/back", "7", false)
		v, _ := h.Get("Back").Int()
		return v == 7
	}, wait) {
		t.Error("subscription not restored after the broker restart")
	}
	var set, cleared bool
	for _, ev := range h.Events() {
		if ev.Alarm.Info().Name == "TransmissionError" {
			set = set || ev.Kind == runtime.AlarmSet
			cleared = cleared || (set && ev.Kind == runtime.AlarmCleared)
		}
	}
	if !set || !cleared {
		t.Errorf("TransmissionError: raised %v, cleared %v", set, cleared)
	}
	if h.Alarm("TransmissionError").Active() {
		t.Error("alarm still active")
	}
}

const killEnv = "MQTTCLIENT_KILL_CHILD"

func killConfig(dir, addr string) string {
	return fmt.Sprintf(`fs: 1000
config:
  servers: [mqtt://%s]
  client_id: kill-test
  retry_min: 50ms
  retry_max: 200ms
  queue: {dir: %s}
  publish:
    - {name: Seq, topic: kill/seq, type: int, qos: 1, on_connect: false}
`, addr, dir)
}

// TestKillChild is the process that TestSIGKILLWithQueueOnDisk kills.
func TestKillChild(t *testing.T) {
	env := os.Getenv(killEnv)
	if env == "" {
		t.Skip("run by TestSIGKILLWithQueueOnDisk")
	}
	dir, addr, _ := strings.Cut(env, ",")
	n, _ := strconv.Atoi(os.Getenv(killEnv + "_N"))
	h := runtimetest.New(t, mqttclient.Type, killConfig(dir, addr))
	for i := 1; i <= n; i++ {
		h.Set("Seq", i)
		h.Step(1)
	}
	if !h.StepUntil(func() bool { q, _ := h.Get("Queued").Uint(); return q == uint64(n) }, wait) {
		t.Fatalf("queued %v", h.Get("Queued"))
	}
	fmt.Println("QUEUED")
	time.Sleep(time.Minute) // killed here
}

// TestSIGKILLWithQueueOnDisk kills a runtime with messages queued on disk
// and checks that a restarted one delivers them all, in order.
func TestSIGKILLWithQueueOnDisk(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	const n = 2000
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), killEnv+"="+dir+","+addr, killEnv+"_N="+strconv.Itoa(n))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "QUEUED" {
				ready <- true
				return
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			cmd.Wait()
			t.Fatal("child ended without queueing")
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("child did not queue in 30 s")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	b := startBroker(t, addr)
	h := runtimetest.New(t, mqttclient.Type, killConfig(dir, addr))
	if !h.StepUntil(func() bool { return len(b.on("kill/seq")) >= n }, 60*time.Second) {
		t.Logf("only %d of %d delivered", len(b.on("kill/seq")), n)
	}
	checkSequence(t, b.on("kill/seq"), n)
}

// overlapConfig subscribes overlapping filters on one connection.
func overlapConfig(url, protocol string) string {
	return fmt.Sprintf(`fs: 100
config:
  servers: [%s]
  protocol: %s
  publish:
    - {name: P1, topic: ov/b/c, type: int, qos: 1}
    - {name: P2, topic: ov/x/c, type: int, qos: 1}
    - {name: P3, topic: ov/b/z, type: int, qos: 1}
  subscribe:
    - {name: All, topic: "ov/#", type: int, qos: 1}
    - {name: PlusC, topic: ov/+/c, type: int, qos: 1}
    - {name: Exact, topic: ov/b/c, type: int, qos: 1}
    - {name: BPlus, topic: ov/b/+, type: int}
    - {name: Same, topic: ov/b/c, type: int}
`, url, protocol)
}

func testOverlap(t *testing.T, url, protocol string) {
	h := runtimetest.New(t, mqttclient.Type, overlapConfig(url, protocol))
	connect(t, h)
	time.Sleep(200 * time.Millisecond) // let the subscription settle
	h.Set("P1", 1)
	h.Set("P2", 2)
	h.Set("P3", 3)
	if !h.StepUntil(func() bool { n, _ := h.Get("MessagesIn").Uint(); return n >= 3 }, wait) {
		t.Fatal("messages did not come back")
	}
	time.Sleep(200 * time.Millisecond) // a duplicate would arrive now
	h.Step(2)
	want := map[string]uint64{"AllCount": 3, "PlusCCount": 2, "ExactCount": 1, "BPlusCount": 2, "SameCount": 1, "MessagesIn": 3}
	for sig, n := range want {
		if got, _ := h.Get(sig).Uint(); got != n {
			t.Errorf("%s = %d, want %d", sig, got, n)
		}
	}
}

func TestOverlappingWildcardsNoDuplicates(t *testing.T) {
	for _, p := range []string{"5", "3.1.1"} {
		t.Run("mochi/"+p, func(t *testing.T) { testOverlap(t, startBroker(t, "127.0.0.1:0").url(), p) })
		t.Run("mosquitto/"+p, func(t *testing.T) { testOverlap(t, "mqtt://"+mqtttest.Mosquitto(t, ""), p) })
	}
}

// TestRoundTripMosquitto publishes every type and format to Debian's
// mosquitto and receives them back through subscribe topics.
func TestRoundTripMosquitto(t *testing.T) {
	addr := mqtttest.Mosquitto(t, "")
	h := runtimetest.New(t, mqttclient.Type, fmt.Sprintf(`fs: 100
config:
  servers: [mqtt://%s]
  publish:
    - {name: OB, topic: rt/b, type: bool, qos: 1, value_map: {true: "ON", false: "OFF"}}
    - {name: OI, topic: rt/i, type: int, qos: 2}
    - {name: OU, topic: rt/u, type: uint, qos: 0}
    - {name: OD, topic: rt/d, type: double, qos: 1, format: json, field: v}
    - {name: OS, topic: rt/s, type: string, qos: 1, format: json}
    - name: OM
      topic: rt/m
      format: csv
      qos: 1
      values: [{name: OMA, type: int}, {name: OMB, type: double}]
  subscribe:
    - {name: B, topic: rt/b, type: bool, qos: 1, value_map: {true: "ON", false: "OFF"}}
    - {name: I, topic: rt/i, type: int, qos: 2}
    - {name: U, topic: rt/u, type: uint}
    - {name: D, topic: rt/d, type: double, qos: 1, format: json, field: v}
    - {name: S, topic: rt/s, type: string, qos: 1, format: json}
    - name: M
      topic: rt/m
      format: csv
      values: [{name: MA, type: int}, {name: MB, type: double}]
`, addr))
	connect(t, h)
	time.Sleep(200 * time.Millisecond)
	h.Set("OB", true)
	h.Set("OI", -9)
	h.Set("OU", uint64(1)<<63)
	h.Set("OD", -0.5)
	h.Set("OS", "tab\there")
	h.Set("OMA", 4)
	h.Set("OMB", 1e10)
	if !h.StepUntil(func() bool { n, _ := h.Get("MessagesIn").Uint(); return n >= 6 }, wait) {
		t.Fatalf("received %v", h.Get("MessagesIn"))
	}
	h.Step(1)
	for sig, want := range map[string]string{"B": "true", "I": "-9", "U": "9223372036854775808", "D": "-0.5", "S": "tab\there", "MA": "4", "MB": "10000000000"} {
		if got := h.Get(sig).Text(); got != want {
			t.Errorf("%s = %q, want %q", sig, got, want)
		}
	}
}

// TestTwinClientIDsDoNotStorm runs two clients with one client ID: each
// connection takes the session over and drops the other. The drops come
// right after connecting, so the backoff must grow anyway rather than
// reconnect at once in a storm.
func TestTwinClientIDsDoNotStorm(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	cfg := fmt.Sprintf(`fs: 100
config:
  servers: [%s]
  client_id: twin
  retry_min: 50ms
  retry_max: 5s
`, b.url())
	h1 := runtimetest.New(t, mqttclient.Type, cfg)
	h2 := runtimetest.New(t, mqttclient.Type, cfg)
	connects := func() int {
		n := 0
		for _, h := range []*runtimetest.Harness{h1, h2} {
			n += int(h.Component().(interface{ Connections() uint64 }).Connections())
		}
		return n
	}
	time.Sleep(3 * time.Second)
	// With waits of 50 ms doubling per flap (jittered down to half), two
	// clients make at most 14 connections (waits of 25, 50, ... 1600 ms) in
	// 3 s; reconnecting at once after each takeover makes more.
	if n := connects(); n > 16 {
		t.Errorf("%d connections in 3 s: a reconnect storm", n)
	} else {
		t.Logf("%d connections in 3 s", n)
	}
}

// TestKeepAliveWithoutTicks freezes the ticks (as a stuck application
// would) for several keep-alive periods: the connection stays up, and the
// newest message waits for the next tick.
func TestKeepAliveWithoutTicks(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	h := runtimetest.New(t, mqttclient.Type, fmt.Sprintf(`fs: 100
config:
  servers: [%s]
  keep_alive: 1s
  subscribe: [{name: X, topic: ka/x, type: int, qos: 1}]
`, b.url()))
	connect(t, h)
	time.Sleep(100 * time.Millisecond)
	conns := h.Component().(interface{ Connections() uint64 })
	for i := 1; i <= 40; i++ { // 4 s, four keep-alive periods, no tick
		b.publish("ka/x", strconv.Itoa(i), false)
		time.Sleep(100 * time.Millisecond)
	}
	if n := conns.Connections(); n != 1 {
		t.Errorf("%d connections: the link dropped while the ticks were frozen", n)
	}
	h.Step(1)
	if v, _ := h.Get("X").Int(); v != 40 {
		t.Errorf("X = %d after the freeze, want the newest, 40", v)
	}
	if n, _ := h.Get("XCount").Uint(); n != 40 {
		t.Errorf("XCount = %d, want 40", n)
	}
	if d, _ := h.Get("Dropped").Uint(); d != 39 {
		t.Errorf("Dropped = %d, want the 39 replaced before a tick took them", d)
	}
}
