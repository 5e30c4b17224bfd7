package mqttconn_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/metronome-rt/metronome/internal/mqttconn"
	"github.com/metronome-rt/metronome/internal/mqtttest"
)

// A flood of QoS 0 messages towards a Direct handler slower than the
// flood fills the socket buffers between broker and client: the broker's
// PINGRESP then waits behind seconds of messages. The connection is alive
// all that time (every message proves it), so it must not be dropped as a
// keep-alive timeout, on either protocol.
func TestFloodKeepsConnection(t *testing.T) {
	if testing.Short() {
		t.Skip("floods for several seconds")
	}
	for _, p := range []mqttconn.Protocol{mqttconn.V5, mqttconn.V311} {
		t.Run(p.String(), func(t *testing.T) {
			addr := mqtttest.Mosquitto(t, "")
			ups := make(chan struct{}, 8)
			var downs atomic.Int32
			var lastDown atomic.Value
			var got atomic.Uint64
			var lastAt atomic.Int64 // when the last message came, in ns since start
			start := time.Now()
			c, err := mqttconn.New(mqttconn.Options{Protocol: p, Servers: []string{"mqtt://" + addr}, ClientID: "flood-" + p.String(),
				KeepAlive: time.Second, RetryMin: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond, CleanStart: true,
				Direct: true, ReceiveMaximum: 64,
				OnUp: func() { ups <- struct{}{} },
				OnDown: func(err error) {
					if err != nil {
						downs.Add(1)
						lastDown.Store(err.Error())
					}
				}})
			if err != nil {
				t.Fatal(err)
			}
			// Slower than the broker can send: at most 1000 messages a
			// second, so the socket buffers hold seconds of them.
			if err := c.Subscribe("flood/#", 0, func(*mqttconn.Message) {
				got.Add(1)
				lastAt.Store(int64(time.Since(start)))
				time.Sleep(time.Millisecond)
			}); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			startUp(t, ctx, c, ups)
			pub, err := mqttconn.New(mqttconn.Options{Servers: []string{"mqtt://" + addr}, ClientID: "flooder-" + p.String(), CleanStart: true,
				OnUp: func() { ups <- struct{}{} }})
			if err != nil {
				t.Fatal(err)
			}
			startUp(t, ctx, pub, ups)
			// Flood for four keep-alive periods.
			payload := make([]byte, 2000)
			sent := 0
			for end := time.Now().Add(2 * time.Second); time.Now().Before(end); sent++ {
				if err := pub.Publish(ctx, "flood/"+strconv.Itoa(sent%8), payload, 0, false); err != nil {
					t.Fatal(err)
				}
			}
			floodEnd := time.Since(start)
			// Until the backlog has drained (nothing more for a while).
			for last := uint64(0); ; {
				time.Sleep(500 * time.Millisecond)
				n := got.Load()
				if n == last || ctx.Err() != nil {
					break
				}
				last = n
			}
			st := c.Stats()
			drain := time.Duration(lastAt.Load()) - floodEnd
			t.Logf("%d messages published, %d received, the last %v after the flood ended; %d connections", sent, got.Load(), drain.Round(time.Millisecond), st.Connections)
			// The PINGRESP of a PINGREQ sent as the flood ended waited
			// about as long behind the backlog.
			if drain < 2*time.Second {
				t.Errorf("the backlog drained in %v: too short to hold a PINGRESP back for longer than the keep-alive", drain)
			}
			if n := downs.Load(); n != 0 || st.Connections != 1 {
				t.Errorf("connection lost %d times under the flood (%d connections); last: %v", n, st.Connections, lastDown.Load())
			}
		})
	}
}

// startUp starts c within ctx, stops it when the test ends, and waits
// for its connection (ups hears of it).
func startUp(t *testing.T, ctx context.Context, c mqttconn.Conn, ups <-chan struct{}) {
	t.Helper()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop(context.Background()) })
	select {
	case <-ups:
	case <-ctx.Done():
		t.Fatal("not connected")
	}
}

// freezer is a TCP proxy that can stop forwarding in both directions while
// keeping its sockets open: a half-open link, or a broker that hangs.
type freezer struct {
	l      net.Listener
	frozen atomic.Bool
}

func newFreezer(t *testing.T, target string) *freezer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{l: l}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			t.Cleanup(func() { c.Close(); b.Close() })
			go f.pipe(c, b)
			go f.pipe(b, c)
		}
	}()
	return f
}

// pipe copies from src to dst until either closes; once frozen, what it
// reads is thrown away.
func (f *freezer) pipe(src, dst net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !f.frozen.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// The keep-alive that lets a flood through still notices a broker that
// went silent: nothing arrives after a PINGREQ for a keep-alive, and the
// connection is dropped and made again.
func TestKeepAliveNoticesSilentBroker(t *testing.T) {
	for _, p := range []mqttconn.Protocol{mqttconn.V5, mqttconn.V311} {
		t.Run(p.String(), func(t *testing.T) {
			m := mqtttest.StartMochi(t)
			fz := newFreezer(t, m.Addr)
			ups := make(chan struct{}, 8)
			downs := make(chan error, 8)
			c, err := mqttconn.New(mqttconn.Options{Protocol: p, Servers: []string{"mqtt://" + fz.l.Addr().String()}, ClientID: "silent-" + p.String(),
				KeepAlive: time.Second, ConnectTimeout: 2 * time.Second, RetryMin: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond, CleanStart: true,
				OnUp:   func() { ups <- struct{}{} },
				OnDown: func(err error) { downs <- err }})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			startUp(t, ctx, c, ups)
			fz.frozen.Store(true)
			select {
			case err := <-downs:
				if err == nil || !strings.Contains(err.Error(), "keep-alive") {
					t.Errorf("dropped with %v, want a keep-alive timeout", err)
				}
			case <-ctx.Done():
				t.Fatal("a silent broker was never noticed")
			}
			fz.frozen.Store(false)
			select {
			case <-ups:
			case <-ctx.Done():
				t.Fatal("no new connection once the broker answered again")
			}
		})
	}
}
