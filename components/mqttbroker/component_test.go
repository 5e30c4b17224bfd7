package mqttbroker

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/runtime/runtimetest"
	"github.com/metronome-rt/metronome/signals"
)

func brokerOf(t testing.TB, h *runtimetest.Harness) *Broker {
	t.Helper()
	c, ok := h.Component().(*component)
	if !ok {
		t.Fatalf("component is %T", h.Component())
	}
	return c.b
}

func uintOut(t testing.TB, h *runtimetest.Harness, name string) uint64 {
	t.Helper()
	v, ok := h.Get(name).Uint()
	if !ok {
		t.Fatalf("%s is not a uint: %v", name, h.Get(name))
	}
	return v
}

const openEntry = `fs: 10
config:
  listeners: [{type: tcp, port: 0}]
  allow_anonymous: true
  acl: [{topic: "#", access: readwrite}]
  max_pending_writes: 2
  write_buffer_size: 1024
parameters: {RateWindow: 0.5}
`

func TestComponentSignals(t *testing.T) {
	h := runtimetest.New(t, Type, openEntry)
	b := brokerOf(t, h)
	addr := b.Addrs()[0]
	h.Step(1)
	if q := h.Quality("Clients"); q != signals.Good {
		t.Fatalf("Clients quality %v after the first tick", q)
	}
	if n := uintOut(t, h, "Clients"); n != 0 {
		t.Fatalf("Clients = %d before anyone connected", n)
	}
	sub := mustDial(t, addr, clientOpts{id: "s", clean: true})
	sub.sub(t, "a/#", 1)
	pub := mustDial(t, addr, clientOpts{id: "p", clean: true})
	for i := 0; i < 20; i++ {
		if _, err := pub.pub(t, "a/b", []byte("x"), 1, i == 0); err != nil {
			t.Fatal(err)
		}
	}
	if !h.StepUntil(func() bool { return uintOut(t, h, "Clients") == 2 && uintOut(t, h, "Retained") == 1 }, testTimeout) {
		t.Fatalf("Clients = %d, Retained = %d; want 2 and 1", uintOut(t, h, "Clients"), uintOut(t, h, "Retained"))
	}
	// 20 messages in, within the last windows of 0.5 s of virtual time.
	h.Step(5)
	if r := h.Float("MessagesInPerSecond"); r != 40 {
		t.Fatalf("MessagesInPerSecond = %v, want 20 messages / 0.5 s = 40", r)
	}
	h.Step(5)
	if r := h.Float("MessagesInPerSecond"); r != 0 {
		t.Fatalf("MessagesInPerSecond = %v in a quiet window, want 0", r)
	}
	if a := h.Alarm("MessagesDropped"); a.Active() {
		t.Fatal("MessagesDropped alarm set without drops")
	}
	if a := h.Alarm("ListenerFailed"); a.Active() {
		t.Fatal("ListenerFailed set with the listener up")
	}
}

// TestSlowSubscriberDropsAreCounted holds a QoS 0 subscriber that never
// reads its socket; messages to it overflow its queue and every drop shows
// in MessagesDropped and raises the alarm.
func TestSlowSubscriberDropsAreCounted(t *testing.T) {
	h := runtimetest.New(t, Type, openEntry)
	b := brokerOf(t, h)
	addr := b.Addrs()[0]
	slow, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if _, err := slow.Write(append(append([]byte{}, connectV4...), 0x82, 0x0b, 0, 1, 0, 6, 's', 'l', 'o', 'w', '/', '#', 0)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the slow subscription", func() bool { return b.Stats().Subscriptions == 1 })
	pub := mustDial(t, addr, clientOpts{id: "fast", clean: true})
	payload := make([]byte, 64<<10)
	sent := 0
	for b.Stats().Dropped == 0 && sent < 5000 {
		if _, err := pub.pub(t, "slow/x", payload, 0, false); err != nil {
			t.Fatal(err)
		}
		sent++
	}
	waitFor(t, "mochi to count the drops", func() bool { return b.Stats().Dropped > 0 })
	if !h.StepUntil(func() bool { return uintOut(t, h, "MessagesDroppedTotal") > 0 && h.Alarm("MessagesDropped").Active() }, testTimeout) {
		t.Fatalf("MessagesDropped = %d, alarm active %v after %d messages to a stalled subscriber",
			uintOut(t, h, "MessagesDroppedTotal"), h.Alarm("MessagesDropped").Active(), sent)
	}
	if got, sys := b.Stats().Dropped, uint64(b.Server().Info.MessagesDropped); got < sys {
		t.Fatalf("Dropped %d below mochi's own count %d", got, sys)
	}
	// The alarm clears one window after the drops stop (the subscriber
	// goes away).
	slow.Close()
	waitFor(t, "the slow client to go", func() bool { return b.Stats().Clients == 1 })
	if !h.StepUntil(func() bool { return !h.Alarm("MessagesDropped").Active() }, testTimeout) {
		t.Fatal("MessagesDropped alarm still active after the drops stopped")
	}
}

func TestListenerFailedAlarm(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := taken.Addr().(*net.TCPAddr).Port
	entry := strings.Replace(openEntry, "listeners: [{type: tcp, port: 0}]",
		"listeners: [{type: tcp, port: 0}, {type: tcp, port: "+itoa(port)+", optional: true}]\n  listener_retry: 100ms", 1)
	h := runtimetest.New(t, Type, entry)
	b := brokerOf(t, h)
	h.Step(1)
	a := h.Alarm("ListenerFailed")
	if !a.Active() || !strings.Contains(a.Text(), itoa(port)) {
		t.Fatalf("ListenerFailed active=%v text=%q, want set naming port %d", a.Active(), a.Text(), port)
	}
	if n := uintOut(t, h, "ListenersDown"); n != 1 {
		t.Fatalf("ListenersDown = %d, want 1", n)
	}
	// The first listener serves meanwhile.
	mustDial(t, b.Addrs()[0], clientOpts{id: "c", clean: true})
	// The port becomes free: the listener is retried and the alarm clears.
	taken.Close()
	if !h.StepUntil(func() bool { return !h.Alarm("ListenerFailed").Active() }, testTimeout) {
		t.Fatalf("ListenerFailed still active after the port was freed: %v", b.ListenerFailures())
	}
	mustDial(t, b.Addrs()[1], clientOpts{id: "d", clean: true})
	var kinds []runtime.AlarmEventKind
	for _, e := range h.Events() {
		if e.Alarm == a {
			kinds = append(kinds, e.Kind)
		}
	}
	if len(kinds) < 2 || kinds[0] != runtime.AlarmSet || kinds[len(kinds)-1] != runtime.AlarmCleared {
		t.Fatalf("ListenerFailed events %v, want set ... cleared", kinds)
	}
}

func TestProcessAllocatesNothing(t *testing.T) {
	h := runtimetest.New(t, Type, openEntry)
	c := h.Component().(*component)
	mustDial(t, c.b.Addrs()[0], clientOpts{id: "c", clean: true})
	tick := runtime.Tick{Period: 100 * time.Millisecond}
	allocs := testing.AllocsPerRun(1000, func() {
		tick.Mono += tick.Period
		tick.Count++
		c.Process(tick)
	})
	if allocs != 0 {
		t.Fatalf("Process allocates %v times per tick", allocs)
	}
}

// The ACL decides every delivered message, so it allocates nothing.
func TestACLCheckAllocatesNothing(t *testing.T) {
	cfg := openConfig()
	cfg.ACL = []ACLRule{{User: "op", Topic: "$SYS/#", Access: "read"}, {Client: "pump-*", Topic: "plant/+/state/#", Access: "readwrite"}, {Topic: "#", Access: "deny"}}
	h := newAuthHook(&cfg, nil, nil)
	user := []byte("op")
	allocs := testing.AllocsPerRun(1000, func() {
		if !h.allowed(user, "pump-1", "plant/pump1/state/x/y", accessRead) || h.allowed(user, "pump-1", "other", accessRead) || !h.allowed(user, "x", "$SYS/x", accessRead) {
			t.Fatal("allowed")
		}
	})
	if allocs != 0 {
		t.Fatalf("the ACL check allocates %v times", allocs)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestListenerThatCannotBindFailsStart: a second broker configured on a
// port the first holds does not start, and says which listener, which
// address and why; the first is undisturbed.
func TestListenerThatCannotBindFailsStart(t *testing.T) {
	first := startBroker(t, openConfig())
	_, port, _ := net.SplitHostPort(first.Addrs()[0])
	cfg := openConfig()
	cfg.Listeners = []ListenerConfig{{Type: TypeTCP, Port: 0}, {Type: TypeTCP, Port: atoi(t, port)}}
	second := NewBroker(cfg, testLogger(t))
	err := second.Start(context.Background())
	if err == nil {
		_ = second.Stop(context.Background())
		t.Fatal("a broker whose listener cannot bind started")
	}
	for _, want := range []string{"listeners[1]", "127.0.0.1:" + port, "address already in use"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("start error %q does not name %q", err, want)
		}
	}
	// The listener that did open was closed again, and the first broker
	// still serves.
	newGoodClient(t, first.Addrs()[0]).roundTrip(t)
}

func atoi(t testing.TB, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
