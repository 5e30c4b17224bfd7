package mqttclient_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/metronome-rt/metronome/components/mqttclient"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/runtime/runtimetest"
	"github.com/metronome-rt/metronome/signals"
)

const wait = 10 * time.Second

func connect(t *testing.T, h *runtimetest.Harness) {
	t.Helper()
	if !h.StepUntil(func() bool { b, _ := h.Get("Connected").Bool(); return b }, wait) {
		t.Fatal("not connected")
	}
}

func TestPublishEveryTypeAndFormat(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	h := runtimetest.New(t, mqttclient.Type, fmt.Sprintf(`fs: 100
config:
  servers: [%s]
  publish:
    - {name: B, topic: p/b, type: bool, qos: 1}
    - {name: I, topic: p/i, type: int, qos: 1}
    - {name: U, topic: p/u, type: uint, qos: 1}
    - {name: D, topic: p/d, type: double, qos: 1}
    - {name: S, topic: p/s, type: string, qos: 1}
    - {name: J, topic: p/j, type: double, format: json, field: temp, qos: 1}
    - {name: T, topic: p/t, type: string, format: json, template: '{"msg": {{value}}}', qos: 1}
    - {name: M, topic: p/m, type: bool, value_map: {true: "ON", false: "OFF"}, qos: 1}
    - name: Multi
      topic: p/multi
      format: json
      qos: 1
      values: [{name: MA, type: int}, {name: MB, type: string, field: b}]
    - name: Csv
      topic: p/csv
      format: csv
      qos: 1
      values: [{name: CA, type: double}, {name: CB, type: bool, value_map: {true: "1", false: "0"}}]
`, b.url()))
	connect(t, h)
	h.Set("B", true)
	h.Set("I", -7)
	h.Set("U", uint64(7))
	h.Set("D", 2.5)
	h.Set("S", "héllo")
	h.Set("J", 21.5)
	h.Set("T", `say "hi"`)
	h.Set("M", true)
	h.Set("MA", 3)
	h.Set("MB", "x")
	h.Set("CA", 0.25)
	h.Set("CB", true)
	want := map[string]string{
		"p/b": "true", "p/i": "-7", "p/u": "7", "p/d": "2.5", "p/s": "héllo", "p/j": `{"temp":21.5}`,
		"p/t": `{"msg": "say \"hi\""}`, "p/m": "ON", "p/multi": `{"MA":3,"b":"x"}`, "p/csv": "0.25,1",
	}
	ok := h.StepUntil(func() bool {
		for topic := range want {
			if len(b.on(topic)) == 0 {
				return false
			}
		}
		return true
	}, wait)
	if !ok {
		t.Fatalf("not every topic published: got %v", b.msgs)
	}
	for topic, p := range want {
		if got := b.on(topic); got[0] != p {
			t.Errorf("%s: payload %q, want %q", topic, got[0], p)
		}
	}
	if n, _ := h.Get("MultiCount").Uint(); n != 1 {
		t.Errorf("MultiCount = %d, want 1", n)
	}
	if n, _ := h.Get("JBytes").Uint(); n != uint64(len(`{"temp":21.5}`)) {
		t.Errorf("JBytes = %d", n)
	}
}

func TestTriggers(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	h := runtimetest.New(t, mqttclient.Type, fmt.Sprintf(`fs: 100
config:
  servers: [%s]
  publish:
    - {name: Change, topic: t/change, type: double, qos: 1, deadband: 1, on_connect: false}
    - {name: Period, topic: t/period, type: int, qos: 1, on_change: false, on_connect: false, interval: 100ms}
    - {name: Limited, topic: t/limited, type: int, qos: 1, min_interval: 200ms, on_connect: false}
    - {name: Conn, topic: t/conn, type: int, qos: 1, on_change: false}
`, b.url()))
	// Before connecting: values known, so the connect trigger fires once connected.
	h.Set("Conn", 5)
	h.Set("Period", 1)
	connect(t, h)
	flush := func() { h.StepUntil(func() bool { q, _ := h.Get("Queued").Uint(); return q == 0 }, wait) }

	// on change with a deadband of 1: 10 (first), 10.5 (within), 11.2 (out), 11.0 (within of 11.2).
	for _, v := range []float64{10, 10.5, 11.2, 11.0} {
		h.Set("Change", v)
		h.Step(1)
	}
	// Rate limited: 30 changes in 300 ms of ticks: the first at once, then one per 200 ms with the latest value.
	for i := 1; i <= 30; i++ {
		h.Set("Limited", i)
		h.Step(1)
	}
	h.Step(30)
	// Periodic: exactly one message per 100 ms of ticks on the virtual clock.
	before, _ := h.Get("PeriodCount").Uint()
	h.Step(100)
	after, _ := h.Get("PeriodCount").Uint()
	if after-before != 10 {
		t.Errorf("interval 100ms: %d messages in 1 s of ticks, want 10", after-before)
	}
	flush()
	waitFor(wait, func() bool { return len(b.on("t/limited")) >= 3 })
	if got := b.on("t/change"); !slices.Equal(got, []string{"10", "11.2"}) {
		t.Errorf("on change with deadband: %v", got)
	}
	if got := b.on("t/limited"); !slices.Equal(got, []string{"1", "21", "30"}) {
		t.Errorf("min_interval: %v, want [1 21 30]", got)
	}
	if got := b.on("t/conn"); !slices.Equal(got, []string{"5"}) {
		t.Errorf("on connect: %v", got)
	}
	n, _ := h.Get("PeriodCount").Uint()
	if !waitFor(wait, func() bool { return len(b.on("t/period")) >= int(n) }) || len(b.on("t/period")) != int(n) {
		t.Errorf("periodic: %d published, %d received", n, len(b.on("t/period")))
	}
}

func TestSubscribeEveryTypeAndFormat(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	b.publish("s/retained", "41", true)
	h := runtimetest.New(t, mqttclient.Type, fmt.Sprintf(`fs: 100
config:
  servers: [%s]
  subscribe:
    - {name: B, topic: s/b, type: bool}
    - {name: I, topic: s/i, type: int}
    - {name: U, topic: s/u, type: uint}
    - {name: D, topic: s/d, type: double, max_age: 500ms}
    - {name: S, topic: s/s, type: string}
    - {name: J, topic: s/+/j, type: double, format: json, field: a.b.1}
    - {name: M, topic: s/m, type: bool, value_map: {true: "ON", false: "OFF"}}
    - {name: R, topic: s/retained, type: int}
    - name: Multi
      topic: s/multi
      format: json
      values: [{name: MA, type: int}, {name: MB, type: string, field: x.y}]
    - name: Csv
      topic: s/csv
      format: csv
      values: [{name: CA, type: double, column: 1}, {name: CB, type: bool, column: 0}]
`, b.url()))
	if q := h.Quality("D"); q != signals.Initial {
		t.Fatalf("D quality before any message: %v", q)
	}
	connect(t, h)
	if !h.StepUntil(func() bool { n, _ := h.Get("RCount").Uint(); return n == 1 }, wait) {
		t.Fatal("retained message not received")
	}
	if v, _ := h.Get("R").Int(); v != 41 || h.Quality("R") != signals.LastKnown {
		t.Errorf("retained R = %v (%v), want 41, last known", h.Get("R"), h.Quality("R"))
	}
	// Subscriptions are made asynchronously after connecting; wait for the status of one.
	time.Sleep(100 * time.Millisecond)
	pubs := map[string]string{
		"s/b": "true", "s/i": "-3", "s/u": "18446744073709551615", "s/d": "1e-3", "s/s": " spaced ",
		"s/dev7/j": `{"a":{"b":[0, 4.5]}}`, "s/m": "ON", "s/multi": `{"MA": 9, "x": {"y": "deep"}}`, "s/csv": "off,2.75",
	}
	for topic, p := range pubs {
		b.publish(topic, p, false)
	}
	if !h.StepUntil(func() bool { n, _ := h.Get("CsvCount").Uint(); m, _ := h.Get("SCount").Uint(); return n == 1 && m == 1 }, wait) {
		t.Fatal("messages not received")
	}
	h.StepUntil(func() bool { n, _ := h.Get("MessagesIn").Uint(); return n >= uint64(len(pubs)+1) }, wait)
	checks := []struct {
		sig  string
		want signals.Value
	}{
		{"B", signals.BoolValue(true)}, {"I", signals.IntValue(-3)}, {"U", signals.UintValue(18446744073709551615)},
		{"D", signals.FloatValue(0.001)}, {"S", signals.StringValue(" spaced ")}, {"J", signals.FloatValue(4.5)},
		{"M", signals.BoolValue(true)}, {"MA", signals.IntValue(9)}, {"MB", signals.StringValue("deep")},
		{"CA", signals.FloatValue(2.75)}, {"CB", signals.BoolValue(false)}, {"JTopic", signals.StringValue("s/dev7/j")},
	}
	for _, c := range checks {
		if got := h.Get(c.sig); !got.Equal(c.want) {
			t.Errorf("%s = %s, want %s", c.sig, got, c.want)
		}
		if q := h.Quality(c.sig); q != signals.Good {
			t.Errorf("%s quality %v", c.sig, q)
		}
	}
	// The new flag lasts one tick.
	b.publish("s/i", "5", false)
	if !h.StepUntil(func() bool { v, _ := h.Get("INew").Bool(); return v }, wait) {
		t.Fatal("INew never raised")
	}
	h.Step(1)
	if v, _ := h.Get("INew").Bool(); v {
		t.Error("INew still true on the next tick")
	}
	// Stale after max_age (500 ms = 50 ticks) without messages.
	h.Step(60)
	if q := h.Quality("D"); q != signals.Stale {
		t.Errorf("D quality after max_age: %v", q)
	}
	// Undecodable payload: counted, quality bad, previous value kept.
	b.publish("s/i", "five", false)
	if !h.StepUntil(func() bool { n, _ := h.Get("DecodeErrors").Uint(); return n == 1 }, wait) {
		t.Fatal("decode error not counted")
	}
	h.Step(1)
	if v, _ := h.Get("I").Int(); v != 5 || h.Quality("I") != signals.BadInput {
		t.Errorf("after a bad payload I = %v (%v), want 5 (bad input)", h.Get("I"), h.Quality("I"))
	}
	b.publish("s/multi", `{"MA": "nine", "x": {"y": "still"}}`, false)
	h.StepUntil(func() bool { return h.Get("MB").Text() == "still" }, wait)
	if h.Quality("MA") != signals.BadInput || h.Quality("MB") != signals.Good {
		t.Errorf("one bad value of a multi-value topic: MA %v, MB %v", h.Quality("MA"), h.Quality("MB"))
	}
}

func TestDynamicPublisher(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	h := runtimetest.New(t, mqttclient.Type, fmt.Sprintf(`fs: 100
config:
  servers: [%s]
  publishers:
    - {name: Ev, qos: 1}
    - {name: Edge, qos: 1, trigger: edge}
`, b.url()))
	connect(t, h)
	h.Set("EvTopic", "dyn/a")
	h.Set("EvPayload", "one")
	h.Step(1)
	h.Set("EvTopic", "dyn/b")
	h.Set("EvPayload", "two")
	h.Step(1)
	h.Set("EdgeTopic", "dyn/e")
	h.Set("EdgePayload", "edge")
	h.Step(1)
	h.Set("EdgeTrigger", true)
	h.Step(3)
	h.Set("EdgeTrigger", false)
	h.Step(1)
	h.Set("EdgeTrigger", true)
	h.Step(1)
	h.Set("EvTopic", "bad/+")
	h.Set("EvPayload", "x")
	h.Step(1)
	if !waitFor(wait, func() bool { return len(b.on("dyn/e")) == 2 && len(b.on("dyn/b")) == 1 }) {
		t.Fatalf("got %v", b.msgs)
	}
	if got := strings.Join(append(b.on("dyn/a"), b.on("dyn/b")...), ","); got != "one,two" {
		t.Errorf("dynamic payloads %s", got)
	}
	h.Step(1)
	if n, _ := h.Get("Dropped").Uint(); n != 1 {
		t.Errorf("a wildcard topic was not counted as dropped: %d", n)
	}
}

func TestBrokerMissingAtStart(t *testing.T) {
	addr := freeAddr(t)
	h := runtimetest.New(t, mqttclient.Type, fmt.Sprintf(`fs: 100
config:
  servers: [mqtt://%s]
  retry_min: 50ms
  retry_max: 200ms
  signal_timeout: 300ms
  subscribe: [{name: X, topic: x, type: int}]
`, addr))
	h.Step(50)
	if c, _ := h.Get("Connected").Bool(); c {
		t.Fatal("connected to nothing")
	}
	if !h.Alarm("TransmissionError").Active() {
		t.Error("alarm not raised while the broker is missing")
	}
	if q := h.Quality("X"); q != signals.CommLost {
		t.Errorf("X quality %v, want comm lost", q)
	}
	b := startBroker(t, addr)
	connect(t, h)
	h.Step(1)
	if h.Alarm("TransmissionError").Active() {
		t.Error("alarm not cleared after connecting")
	}
	if q := h.Quality("X"); q != signals.Initial {
		t.Errorf("X quality after connecting %v, want initial", q)
	}
	_ = b
}

func TestStatusTopic(t *testing.T) { testStatusTopic(t, "5") }

// TestStatusTopic311: the birth and the will over MQTT 3.1.1.
func TestStatusTopic311(t *testing.T) { testStatusTopic(t, "3.1.1") }

func testStatusTopic(t *testing.T, protocol string) {
	b := startBroker(t, "127.0.0.1:0")
	h := runtimetest.New(t, mqttclient.Type, fmt.Sprintf(`fs: 100
config:
  servers: [%s]
  protocol: %s
  status: {topic: dev/status, online: up, offline: down}
`, b.url(), protocol))
	connect(t, h)
	if !waitFor(wait, func() bool { return len(b.on("dev/status")) == 1 }) {
		t.Fatal("no birth message")
	}
	// The birth message (QoS 1) gives the first round-trip time.
	if !h.StepUntil(func() bool { return h.Float("RoundTrip") > 0 }, wait) {
		t.Error("RoundTrip not measured from the birth message")
	}
	// A dropped connection: the broker publishes the will, the client the birth again.
	for _, cl := range b.srv.Clients.GetAll() {
		if !cl.Net.Inline {
			cl.Stop(fmt.Errorf("test"))
		}
	}
	if !waitFor(wait, func() bool { return len(b.on("dev/status")) >= 3 }) {
		t.Fatalf("status after a drop: %v", b.on("dev/status"))
	}
	if got := b.on("dev/status")[:3]; !slices.Equal(got, []string{"up", "down", "up"}) {
		t.Errorf("status sequence %v", got)
	}
	_ = runtime.Error
}
