package mqttbroker

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/rs/zerolog"

	"github.com/metronome-rt/metronome/internal/passwd"
	"github.com/metronome-rt/metronome/scheduler"
)

// benchPubSub measures publish-to-receive throughput through the broker
// with paho clients, as `runtime bench broker` does.
func benchPubSub(b *testing.B, qos byte) { benchPubSubCfg(b, qos, openConfig()) }

func benchPubSubCfg(b *testing.B, qos byte, cfg Config) {
	br := startBroker(b, cfg)
	addr := br.Addrs()[0]
	var got atomic.Int64
	window := make(chan struct{}, 1000)
	recv := func(p *paho.Publish) {
		got.Add(1)
		<-window
	}
	sub := benchDial(b, addr, "bsub", recv)
	pub := benchDial(b, addr, "bpub", nil)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if _, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "b/#", QoS: qos}}}); err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, 64)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		window <- struct{}{}
		if _, err := pub.PublishWithOptions(ctx, &paho.Publish{Topic: "b/x", QoS: qos, Payload: payload}, paho.PublishOptions{Method: paho.PublishMethod_AsyncSend}); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(testTimeout)
	for got.Load() < int64(b.N) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got.Load() != int64(b.N) {
		b.Fatalf("received %d of %d", got.Load(), b.N)
	}
}

func benchDial(b *testing.B, addr, id string, onMsg func(*paho.Publish)) *paho.Client {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	cfg := paho.ClientConfig{ClientID: id, Conn: conn}
	if onMsg != nil {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){func(r paho.PublishReceived) (bool, error) { onMsg(r.Packet); return true, nil }}
	}
	c := paho.NewClient(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 60}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return c
}

func BenchmarkPubSubQoS0(b *testing.B) { benchPubSub(b, 0) }
func BenchmarkPubSubQoS1(b *testing.B) { benchPubSub(b, 1) }

// BenchmarkGuardPublish measures the packet guard's check of one PUBLISH.
func BenchmarkGuardPublish(b *testing.B) {
	g := &guardConn{version: 5, stats: &guardStats{}}
	fh := packets.FixedHeader{Type: packets.Publish, Qos: 1, Remaining: len(publishQoS1V5) - 2}
	if err := fh.Decode(publishQoS1V5[0]); err != nil {
		b.Fatal(err)
	}
	fh.Remaining = len(publishQoS1V5) - 2
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if err := g.check(fh, publishQoS1V5[2:]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPubSubQoS1Persistent is BenchmarkPubSubQoS1 with the state
// written to disk (fsync once a second).
func BenchmarkPubSubQoS1Persistent(b *testing.B) {
	cfg := openConfig()
	cfg.Persistence = &PersistenceConfig{Dir: b.TempDir(), SyncInterval: time.Second}
	benchPubSubCfg(b, 1, cfg)
}

// BenchmarkGuardFraming measures the guard reading one small PUBLISH from a
// socket-like stream: framing, size check and decode.
func BenchmarkGuardFraming(b *testing.B) {
	stream := &repeatReader{p: publishQoS1V5}
	g := newGuardConn(&readOnlyConn{r: stream}, 1<<20, 4096, &guardStats{}, nil)
	g.version = 5
	buf := make([]byte, 4096)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		n := 0
		for n < len(publishQoS1V5) {
			k, err := g.Read(buf[:len(publishQoS1V5)-n])
			if err != nil {
				b.Fatal(err)
			}
			n += k
		}
	}
}

// repeatReader yields p over and over.
type repeatReader struct {
	p   []byte
	off int
}

func (r *repeatReader) Read(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		k := copy(b[n:], r.p[r.off:])
		n += k
		r.off = (r.off + k) % len(r.p)
	}
	return n, nil
}

// readOnlyConn is a net.Conn whose reads come from r.
type readOnlyConn struct {
	net.Conn
	r io.Reader
}

func (c *readOnlyConn) Read(b []byte) (int, error) { return c.r.Read(b) }

// rawConnect is an MQTT 3.1.1 CONNECT with a username and password.
func rawConnect(id, user, pass string) []byte {
	str := func(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }
	body := []byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0xc2, 0, 60}
	body = append(body, str(id)...)
	body = append(body, str(user)...)
	body = append(body, str(pass)...)
	return append(append([]byte{0x10}, varInt(len(body))...), body...)
}

// guess connects with a wrong password and waits for the refusal.
func guess(addr string, connect []byte) {
	c, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		return
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(testTimeout))
	if _, err := c.Write(connect); err != nil {
		return
	}
	var ack [4]byte
	_, _ = io.ReadFull(c, ack[:])
}

// BenchmarkAuthGuessersTickLateness measures how late a 1 kHz rate group
// in the broker's process wakes while four clients guess a password
// hashed at the default work factor (600,000 PBKDF2 iterations) as fast
// as the broker answers. It compares, in one run and in alternating
// rounds: no guessers; the password checked on the connection's goroutine
// without throttling (as before); on the low-priority hasher threads
// without throttling; and with the default throttling as well.
//
//	go test ./components/mqttbroker -run '^$' -bench AuthGuessersTickLateness -benchtime 1x
func BenchmarkAuthGuessersTickLateness(b *testing.B) {
	h, err := passwd.New("right", passwd.DefaultIterations)
	if err != nil {
		b.Fatal(err)
	}
	type variant struct {
		name     string
		guessers int
		inline   bool
		backoff  time.Duration
	}
	variants := []variant{
		{"idle", 0, false, time.Second},
		{"inline-unthrottled", 4, true, 0},
		{"hasher-unthrottled", 4, false, 0},
		{"hasher-throttled", 4, false, time.Second},
	}
	const rounds = 3
	const each = 2 * time.Second
	results := map[string][]tickLateness{}
	checked := map[string]uint64{}
	for i := 0; i < b.N; i++ {
		for r := 0; r < rounds; r++ {
			for _, v := range variants {
				cfg := DefaultConfig()
				cfg.Listeners = []ListenerConfig{{Type: TypeTCP, Port: 0}}
				cfg.Users = []UserConfig{{Name: "plant", PasswordHash: h}}
				cfg.ACL = []ACLRule{{User: "plant", Topic: "#", Access: "readwrite"}}
				cfg.AuthBackoff = v.backoff
				br := NewBroker(cfg, zerolog.Nop())
				br.inlineAuth = v.inline
				if err := br.Start(context.Background()); err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), each)
				done := make(chan tickLateness, 1)
				go func() { done <- lateness1kHz(ctx, scheduler.Normal) }()
				var wg sync.WaitGroup
				for g := 0; g < v.guessers; g++ {
					wg.Add(1)
					go func(g int) {
						defer wg.Done()
						connect := rawConnect(fmt.Sprintf("guesser-%d", g), "plant", "wrong")
						for ctx.Err() == nil {
							guess(br.Addrs()[0], connect)
						}
					}(g)
				}
				late := <-done
				cancel()
				wg.Wait()
				checked[v.name] += br.auth.guard.Checks()
				_ = br.Stop(context.Background())
				results[v.name] = append(results[v.name], late)
			}
		}
	}
	for _, v := range variants {
		rs := results[v.name]
		med := func(f func(tickLateness) float64) float64 {
			x := make([]float64, len(rs))
			for i, r := range rs {
				x[i] = f(r)
			}
			return median(x)
		}
		b.Logf("%-20s lateness p50 %7.1f µs  p99 %8.1f µs  p99.9 %8.1f µs  max %8.1f µs  (median of %d rounds of %v; %d passwords checked)",
			v.name, med(func(r tickLateness) float64 { return r.P50 }), med(func(r tickLateness) float64 { return r.P99 }),
			med(func(r tickLateness) float64 { return r.P999 }), med(func(r tickLateness) float64 { return r.Max }), len(rs), each, checked[v.name])
		b.ReportMetric(med(func(r tickLateness) float64 { return r.P99 }), v.name+"-p99-µs")
	}
}
