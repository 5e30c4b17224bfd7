package mqttclient_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/hooks/auth"

	"github.com/metronome-rt/metronome/components/mqttclient"
	"github.com/metronome-rt/metronome/internal/mqtttest"
	"github.com/metronome-rt/metronome/runtime/runtimetest"
	"github.com/metronome-rt/metronome/signals"
)

// TestLinkQuality311 is the quality table's link rows over MQTT 3.1.1, on
// mochi, Debian's mosquitto and NATS: a value received is good; the broker
// gone, it is comm lost (its value kept) and the alarm rises; the broker
// back, the subscription is made again and the value is last known until a
// new message makes it good. The client's own publication comes back to it
// on 3.1.1 (no no-local), which is how the value is fed here.
func TestLinkQuality311(t *testing.T) {
	t.Run("mochi", func(t *testing.T) {
		b := startBroker(t, "127.0.0.1:0")
		testLinkQuality311(t, b.url(), b.stop, func() { b.start(b.addr) })
	})
	t.Run("mosquitto", func(t *testing.T) {
		m := newMosquitto(t)
		testLinkQuality311(t, "mqtt://"+m.addr, m.stop, m.start)
	})
	t.Run("nats", func(t *testing.T) {
		n := mqtttest.NATS(t, 1)[0]
		testLinkQuality311(t, n.MQTTURL(), n.Kill, func() { n.Restart(t) })
	})
}

func testLinkQuality311(t *testing.T, url string, stop, start func()) {
	h := runtimetest.New(t, mqttclient.Type, fmt.Sprintf(`fs: 100
config:
  servers: [%s]
  protocol: 3.1.1
  retry_min: 50ms
  retry_max: 200ms
  signal_timeout: 300ms
  publish: [{name: Out, topic: lq/x, type: int, qos: 1, on_connect: false}]
  subscribe: [{name: In, topic: lq/x, type: int, qos: 1}]
`, url))
	connect(t, h)
	value := func(v int64, q signals.Quality) bool {
		got, _ := h.Get("In").Int()
		return got == v && h.Quality("In") == q
	}
	h.Set("Out", 1)
	if !h.StepUntil(func() bool { return value(1, signals.Good) }, wait) {
		t.Fatalf("live value: In = %v (%v), want 1 good", h.Get("In"), h.Quality("In"))
	}
	stop()
	if !h.StepUntil(func() bool { return h.Quality("In") == signals.CommLost && h.Alarm("TransmissionError").Active() }, wait) {
		t.Fatalf("broker gone: In %v, alarm %v; want comm lost and the alarm", h.Quality("In"), h.Alarm("TransmissionError").Active())
	}
	if v, _ := h.Get("In").Int(); v != 1 {
		t.Errorf("comm lost replaced the value: %d", v)
	}
	start()
	if !h.StepUntil(func() bool { c, _ := h.Get("Connected").Bool(); return c }, 30*time.Second) {
		t.Fatal("not reconnected after the broker came back")
	}
	h.Step(2)
	if !value(1, signals.LastKnown) {
		t.Errorf("back: In = %v (%v), want 1 last known", h.Get("In"), h.Quality("In"))
	}
	h.Set("Out", 2)
	if !h.StepUntil(func() bool { return value(2, signals.Good) }, wait) {
		t.Fatalf("after the restart: In = %v (%v), want 2 good: subscription not made again", h.Get("In"), h.Quality("In"))
	}
	if !h.StepUntil(func() bool { return !h.Alarm("TransmissionError").Active() }, wait) {
		t.Error("TransmissionError still active")
	}
}

// TestRefusedPublishIsDropped: a message the broker refuses leaves the
// queue, counted in Dropped, and the messages behind it go out in order.
// MQTT 5 refuses with a reason code (0x87); mochi refuses an MQTT 3.1.1
// client's message by closing the connection, every time it is sent, and
// without a limit the message would block the queue for ever.
func TestRefusedPublishIsDropped(t *testing.T) {
	for _, protocol := range []string{"5", "3.1.1"} {
		t.Run(protocol, func(t *testing.T) {
			got := make(chan string, 16)
			_, addr := startLedgerBroker(t, &auth.Ledger{
				Auth: auth.AuthRules{{Allow: true}},
				ACL:  auth.ACLRules{{Filters: auth.Filters{"acl/denied": auth.Deny}}},
			}, "acl/#", func(topic string, payload []byte) { got <- topic + "=" + string(payload) })
			h := runtimetest.New(t, mqttclient.Type, fmt.Sprintf(`fs: 100
config:
  servers: [mqtt://%s]
  protocol: %s
  retry_min: 20ms
  retry_max: 100ms
  publish:
    - {name: A, topic: acl/ok, type: int, qos: 1, on_connect: false}
    - {name: D, topic: acl/denied, type: int, qos: 1, on_connect: false}
`, addr, protocol))
			connect(t, h)
			h.Set("A", 1)
			h.Step(1)
			h.Set("D", 1)
			h.Step(1)
			h.Set("A", 2)
			h.Step(1)
			if !h.StepUntil(func() bool { n, _ := h.Get("MessagesOut").Uint(); return n == 2 }, 20*time.Second) {
				t.Fatalf("MessagesOut = %v, Queued = %v: the refused message blocks the queue", h.Get("MessagesOut"), h.Get("Queued"))
			}
			var seen []string
			for len(seen) < 2 {
				select {
				case m := <-got:
					seen = append(seen, m)
				case <-time.After(wait):
					t.Fatalf("broker received %v", seen)
				}
			}
			if strings.Join(seen, " ") != "acl/ok=1 acl/ok=2" {
				t.Errorf("broker received %v, want acl/ok=1 acl/ok=2", seen)
			}
			h.Step(1)
			if d, _ := h.Get("Dropped").Uint(); d != 1 {
				t.Errorf("Dropped = %d, want the 1 refused message", d)
			}
			if q, _ := h.Get("Queued").Uint(); q != 0 {
				t.Errorf("Queued = %d", q)
			}
		})
	}
}

// TestNATS311 runs the client against NATS's MQTT, which speaks only
// 3.1.1: protocol 5 is refused with a message that says what to do; with
// protocol 3.1.1 the birth, QoS 1 messages in order and the subscriptions
// work, and after a NATS restart the queue is delivered, in order.
func TestNATS311(t *testing.T) {
	n := mqtttest.NATS(t, 1)[0]
	var logs mqtttest.LockedBuffer
	a := startAppLog(t, fmt.Sprintf(`application: T
fs: 100
components:
  - name: V5
    type: MQTTClient
    config: {servers: [%s], retry_min: 50ms, retry_max: 200ms}
`, n.MQTTURL()), &logs)
	const want = "broker does not speak MQTT 5: set protocol: 3.1.1"
	if !a.run(func() bool { return strings.Contains(logs.String(), want) }, wait) {
		t.Errorf("connecting with MQTT 5 to NATS: log %q, want it to say %q", logs.String(), want)
	}
	if c, _ := a.sig("T.V5.Connected").Value().Bool(); c {
		t.Error("connected over MQTT 5 to a broker that speaks only 3.1.1")
	}

	// A subscriber with a persistent session, so that NATS keeps what is
	// published while it is away.
	sub := runtimetest.New(t, mqttclient.Type, fmt.Sprintf(`fs: 1000
config:
  servers: [%s]
  protocol: 3.1.1
  client_id: nats-sub
  clean_start: false
  retry_min: 50ms
  retry_max: 300ms
  subscribe:
    - {name: Seq, topic: nats/seq, type: int, qos: 1}
    - {name: Status, topic: nats/status, type: string, qos: 1}
`, n.MQTTURL()))
	connect(t, sub)
	pub := runtimetest.New(t, mqttclient.Type, fmt.Sprintf(`fs: 1000
config:
  servers: [%s]
  protocol: 3.1.1
  client_id: nats-pub
  retry_min: 50ms
  retry_max: 300ms
  status: {topic: nats/status}
  publish:
    - {name: Seq, topic: nats/seq, type: int, qos: 1, on_connect: false}
`, n.MQTTURL()))
	connect(t, pub)
	if !sub.StepUntil(func() bool { return sub.Get("Status").Text() == "online" }, wait) {
		t.Fatalf("status %v, want the birth online", sub.Get("Status"))
	}
	// Every message the subscriber's ticks see, in order.
	var seen []int64
	take := func() {
		if v, _ := sub.Get("SeqNew").Bool(); v {
			n, _ := sub.Get("Seq").Int()
			seen = append(seen, n)
		}
	}
	const total = 300
	for i := 1; i <= total; i++ {
		pub.Set("Seq", i)
		pub.Step(1)
		switch {
		case i == total/2:
			n.Restart(t) // NATS gone and back: the rest waits in the queue
		case i < total/2:
			// One message per subscriber tick at most: let each arrive.
			if !sub.StepUntil(func() bool { take(); return len(seen) > 0 && seen[len(seen)-1] >= int64(i) }, wait) {
				t.Fatalf("message %d not received; seen up to %v", i, seen[max(0, len(seen)-3):])
			}
		}
	}
	if !pub.StepUntil(func() bool { out, _ := pub.Get("MessagesOut").Uint(); return out >= total }, 60*time.Second) {
		t.Fatalf("MessagesOut = %v, want every one of the %d acknowledged", pub.Get("MessagesOut"), total)
	}
	// After the restart the queue drains faster than the subscriber's
	// ticks take values: each tick sees the newest, and SeqCount counts
	// them all (QoS 1: a message cut off by the restart may come twice).
	if !sub.StepUntil(func() bool {
		take()
		c, _ := sub.Get("SeqCount").Uint()
		return c >= total && seen[len(seen)-1] == total
	}, 60*time.Second) {
		t.Fatalf("after the restart: SeqCount %v, seen up to %v", sub.Get("SeqCount"), seen[max(0, len(seen)-3):])
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] < seen[i-1] {
			t.Fatalf("out of order: %d after %d", seen[i], seen[i-1])
		}
	}
}
