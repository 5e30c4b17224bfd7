package mqttbroker

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
)

// TestQueuedMessagesInOrder: a subscriber with a persistent session goes
// offline, 1,000 QoS 1 (or 300 QoS 2) messages are published, the broker restarts (or,
// without persistence, just keeps running), the subscriber returns and
// receives all 1,000 in publish order.
func TestQueuedMessagesInOrder(t *testing.T) {
	for _, tc := range []struct {
		restart bool
		qos     byte
		n       int
	}{{true, 1, 1000}, {false, 1, 1000}, {true, 2, 300}} {
		restart, qos, n := tc.restart, tc.qos, tc.n
		t.Run("restart="+strconv.FormatBool(restart)+"/qos="+strconv.Itoa(int(qos)), func(t *testing.T) {
			cfg := openConfig()
			if restart {
				cfg.Persistence = &PersistenceConfig{Dir: t.TempDir(), SyncInterval: 50 * time.Millisecond}
			}
			b := startBroker(t, cfg)
			subOpts := clientOpts{id: "field-sub", clean: true, expiry: 3600}
			sub := mustDial(t, b.Addrs()[0], subOpts)
			sub.sub(t, "field/#", qos)
			sub.sub(t, "other/#", qos)
			if err := sub.Disconnect(&paho.Disconnect{ReasonCode: 0}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the subscriber to go offline", func() bool { return b.Stats().Clients == 0 })

			pub := mustDial(t, b.Addrs()[0], clientOpts{id: "field-pub", clean: true})
			for i := 0; i < n; i++ {
				if _, err := pub.pub(t, "field/seq", []byte(strconv.Itoa(i)), qos, false); err != nil {
					t.Fatalf("publish %d: %v", i, err)
				}
			}
			if _, err := pub.pub(t, "field/state", []byte("retained"), qos, true); err != nil {
				t.Fatal(err)
			}
			// mochi acknowledges a QoS 1 publish before it routes it, so
			// wait until all are queued for the offline session.
			waitFor(t, "all messages queued", func() bool {
				cl, ok := b.Server().Clients.Get("field-sub")
				return ok && cl.State.Inflight.Len() == n+1
			})
			if restart {
				ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
				if err := b.Stop(ctx); err != nil {
					t.Fatalf("stop: %v", err)
				}
				cancel()
				b = startBroker(t, cfg)
				pub = mustDial(t, b.Addrs()[0], clientOpts{id: "field-pub", clean: true})
				if got := b.Stats().Retained; got != 1 {
					t.Fatalf("retained after restart = %d, want 1", got)
				}
			}
			subOpts.clean = false
			sub, ca, err := dial(t, b.Addrs()[0], subOpts)
			if err != nil {
				t.Fatal(err)
			}
			if !ca.SessionPresent {
				t.Fatal("session not present after reconnect")
			}
			next := 0
			deadline := time.After(testTimeout)
			for next < n+1 {
				select {
				case m := <-sub.msgs:
					if m.Topic == "field/state" {
						if next != n {
							t.Fatalf("retained-flagged message arrived after %d of %d", next, n)
						}
						next++
						continue
					}
					if string(m.Payload) != strconv.Itoa(next) {
						t.Fatalf("message %d: got payload %q (out of order or lost)", next, m.Payload)
					}
					next++
				case <-deadline:
					t.Fatalf("received %d of %d messages", next, n+1)
				}
			}
			// Subscriptions survived too: a new message is routed.
			if _, err := pub.pub(t, "other/x", []byte("after"), 1, false); err != nil {
				t.Fatal(err)
			}
			sub.expect(t, "other/x", "after")
		})
	}
}
