package mqttconn_test

import (
	"context"
	"testing"
	"time"

	"github.com/metronome-rt/metronome/internal/mqttconn"
	"github.com/metronome-rt/metronome/internal/mqtttest"
)

// Both protocols: messages arrive in order on the dispatch goroutine,
// subscriptions come back after a broker restart, and Publish fails at once
// while disconnected.
func TestOrderAndResubscribe(t *testing.T) {
	for _, p := range []mqttconn.Protocol{mqttconn.V5, mqttconn.V311} {
		t.Run(p.String(), func(t *testing.T) {
			m := mqtttest.StartMochi(t)
			ups := make(chan struct{}, 8)
			downs := make(chan struct{}, 8)
			got := make(chan string, 2000)
			c, err := mqttconn.New(mqttconn.Options{Protocol: p, Servers: []string{m.URL()}, ClientID: "c-" + p.String(),
				KeepAlive: 2 * time.Second, RetryMin: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond, CleanStart: true,
				OnUp: func() { ups <- struct{}{} }, OnDown: func(error) { downs <- struct{}{} }})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Subscribe("t/#", 1, func(m *mqttconn.Message) { got <- string(m.Payload) }); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := c.Start(ctx); err != nil {
				t.Fatal(err)
			}
			defer c.Stop(context.Background())
			wait := func(ch chan struct{}, what string) {
				select {
				case <-ch:
				case <-ctx.Done():
					t.Fatalf("no %s", what)
				}
			}
			wait(ups, "connection")
			for i := 0; i < 1000; i++ {
				if err := c.Publish(ctx, "t/x", []byte{byte(i >> 8), byte(i)}, 0, false); err != nil {
					t.Fatal(err)
				}
			}
			for i := 0; i < 1000; i++ {
				select {
				case s := <-got:
					if n := int(s[0])<<8 | int(s[1]); n != i {
						t.Fatalf("message %d arrived as number %d: out of order", n, i)
					}
				case <-ctx.Done():
					t.Fatalf("%d of 1000 received", i)
				}
			}
			m.Stop()
			wait(downs, "down event")
			if err := c.Publish(ctx, "t/x", []byte("x"), 1, false); err != mqttconn.ErrNotConnected {
				t.Errorf("publish while down: %v, want ErrNotConnected", err)
			}
			m.Start()
			wait(ups, "reconnection")
			if err := c.Publish(ctx, "t/y", []byte("after"), 1, false); err != nil {
				t.Fatal(err)
			}
			select {
			case s := <-got:
				if s != "after" {
					t.Errorf("got %q", s)
				}
			case <-ctx.Done():
				t.Fatal("subscription not restored after the broker restart")
			}
		})
	}
}
