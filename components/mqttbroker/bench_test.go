package mqttbroker

import (
	"context"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/mochi-mqtt/server/v2/packets"
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
