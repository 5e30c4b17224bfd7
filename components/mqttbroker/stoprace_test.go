package mqttbroker

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"
)

// Clients that connect while the broker stops: the stop finishes within
// its deadline, every connection is counted before Close waits for the
// clients or closed at once (the closeMu change in third_party/mochi).
// The race that change removes (mochi-mqtt/server#541, Add racing with
// Close's Wait) shows only under the race detector and not on every run:
// this test exercises that window, it does not catch the race reliably.
func TestStopWhileClientsConnect(t *testing.T) {
	for round := 0; round < 5; round++ {
		cfg := openConfig()
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		b := NewBroker(cfg, testLogger(t))
		if err := b.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		addr := b.Addrs()[0]
		connect := []byte{0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 1, 'a'}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					c, err := net.DialTimeout("tcp", addr, time.Second)
					if err != nil {
						continue
					}
					c.Write(connect)
					c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
					c.Read(make([]byte, 4))
					c.Close()
				}
			}()
		}
		time.Sleep(20 * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		err := b.Stop(ctx)
		cancel()
		close(stop)
		wg.Wait()
		if err != nil {
			t.Fatalf("round %d: stop while clients connect: %v", round, err)
		}
	}
}
