package mqttconn_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/metronome-rt/metronome/internal/mqttconn"
	"github.com/metronome-rt/metronome/internal/mqtttest"
)

// silentServer accepts TCP connections and never answers: a broker that
// hangs (a NATS node waiting for a JetStream leader, a stuck proxy) or a
// TLS port that never completes a handshake.
type silentServer struct {
	l        net.Listener
	mu       sync.Mutex
	accepted int
	open     int
}

func newSilentServer(t *testing.T) *silentServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &silentServer{l: l}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.accepted++
			s.open++
			s.mu.Unlock()
			go func() {
				// Read until the client closes its end.
				_, _ = io.Copy(io.Discard, c)
				c.Close()
				s.mu.Lock()
				s.open--
				s.mu.Unlock()
			}()
		}
	}()
	return s
}

func (s *silentServer) counts() (accepted, open int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted, s.open
}

func waitFor(t *testing.T, d time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// MQTT 3.1.1: a server that accepts the socket but never answers, in plain
// MQTT or in the TLS handshake, costs one attempt: the attempt closes its
// socket when the connect timeout runs out and the next server of the list
// gets the connection. (Before, a TLS handshake had no deadline at all and
// its socket stayed open for ever.)
func TestV311SilentServerAttemptEnds(t *testing.T) {
	for _, scheme := range []string{"mqtt", "mqtts"} {
		t.Run(scheme, func(t *testing.T) {
			silent := newSilentServer(t)
			m := mqtttest.StartMochi(t)
			up := make(chan struct{}, 1)
			var mu sync.Mutex
			var errs []error
			c, err := mqttconn.New(mqttconn.Options{Protocol: mqttconn.V311, ClientID: "silent-" + scheme,
				Servers:        []string{scheme + "://" + silent.l.Addr().String(), m.URL()},
				TLS:            &tls.Config{InsecureSkipVerify: true},
				ConnectTimeout: 300 * time.Millisecond, KeepAlive: 2 * time.Second,
				RetryMin: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond, CleanStart: true,
				OnUp: func() { up <- struct{}{} },
				OnConnectError: func(err error) {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			defer c.Stop(context.Background())
			select {
			case <-up:
			case <-time.After(15 * time.Second):
				t.Fatal("no connection to the second server")
			}
			waitFor(t, 15*time.Second, func() bool { a, o := silent.counts(); return a >= 1 && o == 0 },
				"the attempt on the silent server to close its socket")
			mu.Lock()
			defer mu.Unlock()
			if len(errs) == 0 {
				t.Fatal("the silent server's attempt was not reported as a connect error")
			}
		})
	}
}

// MQTT 3.1.1: Stop ends an attempt that is waiting for a silent server at
// once, however long the connect timeout.
func TestV311StopEndsHangingAttempt(t *testing.T) {
	silent := newSilentServer(t)
	c, err := mqttconn.New(mqttconn.Options{Protocol: mqttconn.V311, ClientID: "hang",
		Servers: []string{"mqtt://" + silent.l.Addr().String()}, ConnectTimeout: time.Hour, CleanStart: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, func() bool { a, _ := silent.counts(); return a >= 1 }, "the connection attempt")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Stop(ctx); err != nil {
		t.Fatalf("stop during a hanging attempt: %v", err)
	}
	waitFor(t, 15*time.Second, func() bool { _, o := silent.counts(); return o == 0 }, "the attempt's socket to close")
}

// MQTT 3.1.1: after a connection is lost, the next round of attempts starts
// with the next server of the list, so a cluster node that just died is
// tried last.
func TestV311RotatesAfterLoss(t *testing.T) {
	a, b := mqtttest.StartMochi(t), mqtttest.StartMochi(t)
	const id = "rotate"
	ups := make(chan struct{}, 8)
	c, err := mqttconn.New(mqttconn.Options{Protocol: mqttconn.V311, ClientID: id,
		Servers: []string{a.URL(), b.URL()}, KeepAlive: 2 * time.Second, ConnectTimeout: 2 * time.Second,
		RetryMin: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond, CleanStart: true,
		OnUp: func() { ups <- struct{}{} }})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer c.Stop(context.Background())
	on := func(m *mqtttest.Mochi) bool {
		cl, ok := m.Server().Clients.Get(id)
		return ok && !cl.Closed()
	}
	for i, want := range []*mqtttest.Mochi{a, b, a} {
		select {
		case <-ups:
		case <-time.After(15 * time.Second):
			t.Fatalf("connection %d not made", i+1)
		}
		waitFor(t, 5*time.Second, func() bool { return on(want) }, "the client on the expected broker")
		mqttconn.DropForTest(c)
	}
}
