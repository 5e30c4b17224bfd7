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
			sub, ca, err := dial(t, tg.addr, clientOpts{id: id, expiry: 3600})
			if err != nil {
				t.Fatal(err)
			}
			if !ca.SessionPresent {
				t.Fatal("session not present on reconnect")
			}
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
func TestResumeDrill(t *testing.T) {
	for _, restart := range []bool{false, true} {
		t.Run(map[bool]string{false: "resume", true: "restart"}[restart], func(t *testing.T) {
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
			sub := mustDial(t, addr, clientOpts{id: id, clean: true, expiry: 3600})
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
			sub, ca, err := dial(t, addr, clientOpts{id: id, expiry: 3600})
			if err != nil {
				t.Fatal(err)
			}
			if !ca.SessionPresent {
				t.Fatal("session not present on reconnect")
			}
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
