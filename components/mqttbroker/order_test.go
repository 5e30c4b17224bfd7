package mqttbroker

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// seqPublisher publishes QoS 1 messages whose payloads are 0, 1, 2, ... in
// order. When a publish fails (the broker went away) it reconnects and
// sends the same number again, remembering it: that message may arrive
// twice, since its acknowledgement may be what was lost.
type seqPublisher struct {
	t     testing.TB
	addr  func() string
	id    string
	topic string

	mu      sync.Mutex
	c       *client
	next    int          // the next number to publish
	retried map[int]bool // numbers sent again after a failed publish

	stop chan struct{}
	done chan struct{}
}

func newSeqPublisher(t testing.TB, addr func() string, id, topic string) *seqPublisher {
	return &seqPublisher{t: t, addr: addr, id: id, topic: topic, retried: map[int]bool{}}
}

// acked returns how many messages were acknowledged: all numbers below it.
func (p *seqPublisher) acked() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.next
}

func (p *seqPublisher) wasRetried(n int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.retried[n]
}

// one publishes the next number, reconnecting and retrying until it is
// acknowledged or the publisher is stopped; it reports whether it was.
func (p *seqPublisher) one() bool {
	for {
		if p.c == nil {
			c, _, err := dial(p.t, p.addr(), clientOpts{id: p.id, clean: true})
			if err != nil {
				select {
				case <-p.stop:
					return false
				case <-time.After(20 * time.Millisecond):
				}
				continue
			}
			p.c = c
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := p.c.Publish(ctx, &paho.Publish{Topic: p.topic, QoS: 1, Payload: []byte(strconv.Itoa(p.next))})
		cancel()
		if err == nil {
			p.mu.Lock()
			p.next++
			p.mu.Unlock()
			return true
		}
		p.mu.Lock()
		p.retried[p.next] = true
		p.mu.Unlock()
		_ = p.c.Disconnect(&paho.Disconnect{})
		p.c = nil
		select {
		case <-p.stop:
			return false
		default:
		}
	}
}

// burst publishes n messages back to back.
func (p *seqPublisher) burst(n int) {
	p.stop = make(chan struct{})
	for i := 0; i < n; i++ {
		if !p.one() {
			p.t.Fatal("publisher stopped during a burst")
		}
	}
}

// run publishes one message per period (never bursting to catch up) until
// halt.
func (p *seqPublisher) run(period time.Duration) {
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(p.done)
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
				if !p.one() {
					return
				}
			}
		}
	}()
}

// halt stops run after the publish in progress.
func (p *seqPublisher) halt() {
	close(p.stop)
	<-p.done
}

// orderChecker follows the numbers a subscriber receives, across its
// connections. Each must be the next one; a number already received is a
// duplicate, allowed only when it was received on an earlier connection
// (its acknowledgement to the broker may have been lost) or the publisher
// sent it twice.
type orderChecker struct {
	next   int
	conn   int
	firstC map[int]int
	dups   int
}

func newOrderChecker() *orderChecker { return &orderChecker{firstC: map[int]int{}} }

func (o *orderChecker) add(payload []byte, retried func(int) bool) error {
	n, err := strconv.Atoi(string(payload))
	if err != nil {
		return fmt.Errorf("payload %q is not a number", payload)
	}
	switch {
	case n == o.next:
		o.firstC[n] = o.conn
		o.next++
	case n < o.next:
		if o.firstC[n] == o.conn && !retried(n) {
			return fmt.Errorf("message %d arrived twice on one connection without being sent twice", n)
		}
		o.dups++
	default:
		return fmt.Errorf("received message %d while %d is next: out of order or lost", n, o.next)
	}
	return nil
}

// drain checks messages from c until want have been received in order.
func (o *orderChecker) drain(t testing.TB, c *client, want int, retried func(int) bool) {
	t.Helper()
	deadline := time.After(testTimeout)
	for o.next < want {
		select {
		case m := <-c.msgs:
			if err := o.add(m.Payload, retried); err != nil {
				t.Fatal(err)
			}
		case <-deadline:
			t.Fatalf("received %d of %d messages", o.next, want)
		}
	}
}

// TestResumeKeepsPublishOrder: 200 QoS 1 messages queue for an offline
// session; it reconnects while a publisher keeps sending 400 a second. The
// subscriber receives every message, the backlog first, in publish order.
// mosquitto does the same.
func TestResumeKeepsPublishOrder(t *testing.T) {
	users := []refUser{{rules: []refRule{{"o/#", "readwrite"}}}}
	forEachBroker(t, users, "", nil, func(t *testing.T, tg target) {
		for trial := 0; trial < 3; trial++ {
			id := fmt.Sprintf("ord-sub-%d", trial)
			sub := mustDial(t, tg.addr, clientOpts{id: id, clean: true, expiry: 3600})
			sub.sub(t, "o/#", 1)
			if err := sub.Disconnect(&paho.Disconnect{}); err != nil {
				t.Fatal(err)
			}
			pub := newSeqPublisher(t, func() string { return tg.addr }, fmt.Sprintf("ord-pub-%d", trial), "o/seq")
			pub.burst(200)
			waitQueued(t, tg, id, 200)
			pub.run(2500 * time.Microsecond)
			waitFor(t, "live traffic", func() bool { return pub.acked() >= 240 })
			sub = resume(t, tg.addr, clientOpts{id: id, expiry: 3600})
			oc := newOrderChecker()
			oc.conn = 1
			waitFor(t, "more live traffic", func() bool { return pub.acked() >= 440 })
			pub.halt()
			oc.drain(t, sub, pub.acked(), pub.wasRetried)
		}
	})
}

// TestResumeDrill: 1,000 QoS 1 messages queued for an offline session
// plus live traffic at 1 kHz, then the session resumes (and, in the second
// case, the broker restarts first, state on disk, while the traffic goes
// on). Every acknowledged message arrives, in publish order; duplicates are
// counted and allowed only for messages whose acknowledgement was lost.
//
// The subscriber also runs announcing a Receive Maximum of 64, as
// Metronome's MQTT client does, so that the broker must hold messages back
// and send them as acknowledgements come in.
func TestResumeDrill(t *testing.T) {
	for _, tc := range []struct {
		name       string
		restart    bool
		receiveMax uint16
	}{{"resume", false, 0}, {"restart", true, 0}, {"resume/receive_maximum=64", false, 64}, {"restart/receive_maximum=64", true, 64}} {
		restart := tc.restart
		t.Run(tc.name, func(t *testing.T) {
			cfg := openConfig()
			cfg.Persistence = &PersistenceConfig{Dir: t.TempDir(), SyncInterval: 100 * time.Millisecond}
			b := NewBroker(cfg, testLogger(t))
			if err := b.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			cur := b
			t.Cleanup(func() {
				mu.Lock()
				defer mu.Unlock()
				ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
				defer cancel()
				_ = cur.Stop(ctx)
			})
			addr := b.Addrs()[0]
			const id = "drill-sub"
			sub := mustDial(t, addr, clientOpts{id: id, clean: true, expiry: 3600, receiveMax: tc.receiveMax})
			sub.sub(t, "d/#", 1)
			if err := sub.Disconnect(&paho.Disconnect{}); err != nil {
				t.Fatal(err)
			}
			pub := newSeqPublisher(t, func() string { return addr }, "drill-pub", "d/seq")
			pub.burst(1000)
			waitQueued(t, target{embedded: b}, id, 1000)
			pub.run(time.Millisecond)
			waitFor(t, "live traffic", func() bool { return pub.acked() >= 1100 })
			if restart {
				ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
				if err := b.Stop(ctx); err != nil {
					t.Fatalf("stop: %v", err)
				}
				cancel()
				_, port, _ := net.SplitHostPort(addr)
				cfg.Listeners[0].Port, _ = strconv.Atoi(port)
				nb := NewBroker(cfg, testLogger(t))
				if err := nb.Start(context.Background()); err != nil {
					t.Fatalf("restart: %v", err)
				}
				mu.Lock()
				cur = nb
				mu.Unlock()
				waitFor(t, "live traffic after the restart", func() bool { return pub.acked() >= 1300 })
			}
			sub = resume(t, addr, clientOpts{id: id, expiry: 3600, receiveMax: tc.receiveMax})
			oc := newOrderChecker()
			oc.conn = 1
			start := pub.acked()
			waitFor(t, "live traffic during the resume", func() bool { return pub.acked() >= start+500 })
			pub.halt()
			oc.drain(t, sub, pub.acked(), pub.wasRetried)
			t.Logf("%d messages in order, %d duplicates (publishes retried: %d)", oc.next, oc.dups, len(pub.retried))
		})
	}
}

// readPublish reads the next packet from a raw MQTT 5 client, which must
// be a QoS 1 PUBLISH, and returns its packet ID, payload and DUP flag.
func (rc *rawClient) readPublish() (id uint16, payload string, dup bool) {
	rc.t.Helper()
	h, body := rc.read()
	if h&0xf0 != 0x30 || h&0x06 != 0x02 {
		rc.t.Fatalf("want a QoS 1 PUBLISH, got % x % x", h, body)
	}
	tl := int(body[0])<<8 | int(body[1])
	rest := body[2+tl:]
	id = uint16(rest[0])<<8 | uint16(rest[1])
	pl := int(rest[2]) // property length; small here, one byte
	return id, string(rest[3+pl:]), h&0x08 != 0
}

// TestHeldMessagesStayInFlight: a client that allows 2 unacknowledged
// messages (Receive Maximum 2) gets them, acknowledges one, gets the third,
// and drops the connection without acknowledging the other two. On
// reconnecting it gets those two again, then the rest, in order: a message
// held back for quota and sent later is still the broker's to redeliver
// (mochi dropped it from its in-flight table when it sent it).
func TestHeldMessagesStayInFlight(t *testing.T) {
	b := startBroker(t, openConfig())
	addr := b.Addrs()[0]
	// CONNECT v5, client ID "rm2", properties: session expiry 3600,
	// receive maximum 2; flags: clean start (first) or not.
	connect := func(flags byte) []byte {
		return []byte{0x10, 24, 0, 4, 'M', 'Q', 'T', 'T', 5, flags, 0, 60, 8, 0x11, 0, 0, 0x0e, 0x10, 0x21, 0, 2, 0, 3, 'r', 'm', '2'}
	}
	c := dialRaw(t, addr, connect(0x02))
	if h, _ := c.read(); h != 0x20 {
		t.Fatalf("want CONNACK, got % x", h)
	}
	c.write([]byte{0x82, 9, 0, 1, 0, 0, 3, 'h', '/', '#', 1})
	if h, _ := c.read(); h != 0x90 {
		t.Fatalf("want SUBACK, got % x", h)
	}
	pub := mustDial(t, addr, clientOpts{id: newID("pub"), clean: true})
	for i := 0; i < 5; i++ {
		if _, err := pub.pub(t, "h/x", []byte(fmt.Sprintf("m%d", i)), 1, false); err != nil {
			t.Fatal(err)
		}
	}
	id0, p0, _ := c.readPublish()
	_, p1, _ := c.readPublish()
	if p0 != "m0" || p1 != "m1" {
		t.Fatalf("got %s, %s; want m0, m1", p0, p1)
	}
	c.write([]byte{0x40, 2, byte(id0 >> 8), byte(id0)})
	if _, p2, _ := c.readPublish(); p2 != "m2" {
		t.Fatalf("after acknowledging m0 got %s, want m2", p2)
	}
	c.c.Close()
	waitFor(t, "the client to go offline", func() bool { return b.Stats().Clients == 1 })

	c = dialRaw(t, addr, connect(0x00))
	if h, body := c.read(); h != 0x20 || body[0] != 1 {
		t.Fatalf("CONNACK % x % x: want session present", h, body)
	}
	for _, want := range []string{"m1", "m2", "m3", "m4"} {
		id, p, dup := c.readPublish()
		if p != want {
			t.Fatalf("after reconnecting got %s, want %s (dup %v)", p, want, dup)
		}
		if (want == "m1" || want == "m2") && !dup {
			t.Errorf("%s was resent without DUP", want)
		}
		c.write([]byte{0x40, 2, byte(id >> 8), byte(id)})
	}
}
