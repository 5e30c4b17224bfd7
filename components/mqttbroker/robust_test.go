package mqttbroker

import (
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// Raw packets for robustness tests.
var (
	connectV5 = []byte{0x10, 0x0e, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 60, 0, 0, 1, 'x'}
	connectV4 = []byte{0x10, 0x0d, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 1, 'y'}
	connectV3 = []byte{0x10, 0x0f, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 3, 0x02, 0, 60, 0, 1, 'z'}
	// truncatedSubscribeV5 is mochi-mqtt/server#501: a v5 SUBSCRIBE whose
	// filter "a" lacks its subscription options byte.
	truncatedSubscribeV5 = []byte{0x82, 0x06, 0, 1, 0, 0, 1, 'a'}
	publishQoS1V5        = []byte{0x32, 0x08, 0, 3, 'a', '/', 'b', 0, 7, 0}
	subscribeV5          = []byte{0x82, 0x07, 0, 2, 0, 0, 1, 'a', 1}
	pingreq              = []byte{0xc0, 0x00}
	disconnect           = []byte{0xe0, 0x00}
)

// TestMochiDecoderStillPanics documents why the guard exists: mochi's
// own decoder panics on the truncated SUBSCRIBE. If a mochi upgrade fixes
// it this test says so, and the guard remains as defence in depth.
func TestMochiDecoderStillPanics(t *testing.T) {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1, Remaining: 6}, ProtocolVersion: 5}
	panicked := func() (p bool) {
		defer func() { p = recover() != nil }()
		_ = pk.SubscribeDecode(truncatedSubscribeV5[2:])
		return false
	}()
	if !panicked {
		t.Fatal("mochi's SubscribeDecode no longer panics on the truncated v5 SUBSCRIBE: the upgrade fixed #501; update this test and keep the guard as defence in depth")
	}
}

// sendRaw connects, writes the given packets and reads until the broker
// closes the connection or a second passes; it returns what was read.
func sendRaw(t testing.TB, addr string, pkts ...[]byte) ([]byte, bool) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, p := range pkts {
		if _, err := c.Write(p); err != nil {
			break
		}
	}
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	b, err := io.ReadAll(c)
	// EOF or a reset: the broker closed the connection; a timeout: it did not.
	var ne net.Error
	closed := err == nil || !(errors.As(err, &ne) && ne.Timeout())
	return b, closed
}

// goodClient is a well-behaved client that must keep working while others
// misbehave.
type goodClient struct {
	c *client
	n int
}

func newGoodClient(t testing.TB, addr string) *goodClient {
	c := mustDial(t, addr, clientOpts{id: newID("good"), clean: true})
	c.sub(t, "good/#", 1)
	return &goodClient{c: c}
}

// roundTrip publishes a QoS 1 message and waits for it.
func (g *goodClient) roundTrip(t testing.TB) {
	t.Helper()
	g.n++
	msg := fmt.Sprint(g.n)
	if _, err := g.c.pub(t, "good/x", []byte(msg), 1, false); err != nil {
		t.Fatalf("good client publish %d: %v", g.n, err)
	}
	g.c.expect(t, "good/x", msg)
}

func TestTruncatedSubscribeDoesNotCrash(t *testing.T) {
	b := startBroker(t, openConfig())
	addr := b.Addrs()[0]
	good := newGoodClient(t, addr)
	good.roundTrip(t)
	for i := 0; i < 3; i++ {
		reply, closed := sendRaw(t, addr, connectV5, truncatedSubscribeV5)
		if !closed {
			t.Fatal("the broker kept a connection that sent a malformed SUBSCRIBE")
		}
		if len(reply) == 0 || reply[0] != 0x20 {
			t.Fatalf("want a CONNACK before the close, got % x", reply)
		}
		good.roundTrip(t)
	}
	if s := b.Stats(); s.Malformed != 3 {
		t.Fatalf("Malformed = %d, want 3", s.Malformed)
	}
	// The same bytes in a well-formed SUBSCRIBE are served.
	reply, _ := sendRaw(t, addr, connectV5, subscribeV5, disconnect)
	if len(reply) < 2 || len(reply) < 2+int(reply[1])+5 || reply[2+int(reply[1])] != 0x90 {
		t.Fatalf("want CONNACK then SUBACK, got % x", reply)
	}
}

func TestOversizedPacketClosesOnlyThatClient(t *testing.T) {
	cfg := openConfig()
	cfg.MaxPacketSize = 1024
	b := startBroker(t, cfg)
	addr := b.Addrs()[0]
	good := newGoodClient(t, addr)
	big := append([]byte{0x30, 0x80, 0x10, 0, 1, 'a'}, make([]byte, 2045)...) // 2048-byte body
	_, closed := sendRaw(t, addr, connectV4, big)
	if !closed {
		t.Fatal("oversized packet did not close the connection")
	}
	good.roundTrip(t)
	if s := b.Stats(); s.Malformed != 1 {
		t.Fatalf("Malformed = %d, want 1", s.Malformed)
	}
}

// TestSilentClientDoesNotStallOthers holds connections that announce a
// packet and never finish it, while a good client keeps working.
func TestSilentClientDoesNotStallOthers(t *testing.T) {
	b := startBroker(t, openConfig())
	addr := b.Addrs()[0]
	var conns []net.Conn
	for i := 0; i < 20; i++ {
		c, err := net.DialTimeout("tcp", addr, testTimeout)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		_, _ = c.Write(connectV4)
		_, _ = c.Write([]byte{0x30, 0xff, 0x7f, 0, 1}) // a 16 KiB PUBLISH that never comes
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	good := newGoodClient(t, addr)
	for i := 0; i < 10; i++ {
		good.roundTrip(t)
	}
}

// FuzzPackets sends random and mutated packets over TCP (raw, or after a
// valid MQTT 3.1, 3.1.1 or 5 CONNECT chosen by the first byte) and checks
// after each input that the broker is alive and a well-behaved client
// still publishes and receives. `go test` runs the seed corpus; run
// `go test -fuzz FuzzPackets -run ^$ ./components/mqttbroker` for longer.
func FuzzPackets(f *testing.F) {
	for _, seed := range [][]byte{
		append([]byte{1}, truncatedSubscribeV5...),
		append([]byte{1}, subscribeV5...),
		append([]byte{1}, publishQoS1V5...),
		append([]byte{2}, publishQoS1V5...),
		append([]byte{3}, subscribeV5...),
		append([]byte{0}, connectV5...),
		append(append([]byte{0}, connectV4...), pingreq...),
		{1, 0x30, 0xff, 0xff, 0xff, 0xff, 0x7f},
		{1, 0xa2, 0x03, 0, 1, 0},
		{1, 0xf0, 0x02, 0, 0},
		{2, 0x62, 0x02, 0, 1, 0x70, 0x02, 0, 1},
		{1, 0x82, 0x04, 0, 1, 0x05, 0x0b},
		{1, 0x32, 0x05, 0, 1, 'a', 0, 1, 0x1f},
		{0, 0x10, 0x03, 0, 4, 'M'},
	} {
		f.Add(seed)
	}
	cfg := openConfig()
	cfg.MaxPacketSize = 64 << 10
	b := startBroker(f, cfg)
	addr := b.Addrs()[0]
	good := newGoodClient(f, addr)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		var pre []byte
		switch data[0] % 4 {
		case 1:
			pre = connectV5
		case 2:
			pre = connectV4
		case 3:
			pre = connectV3
		}
		c, err := net.DialTimeout("tcp", addr, testTimeout)
		if err != nil {
			t.Fatalf("broker not accepting: %v", err)
		}
		_ = c.SetDeadline(time.Now().Add(50 * time.Millisecond))
		_, _ = c.Write(append(append([]byte{}, pre...), data[1:]...))
		_, _ = io.Copy(io.Discard, c)
		c.Close()
		good.roundTrip(t)
	})
}

// TestSilentSocketIsClosed: a socket that never sends CONNECT is closed
// after connect_timeout instead of holding resources forever.
func TestSilentSocketIsClosed(t *testing.T) {
	cfg := openConfig()
	cfg.ConnectTimeout = 200 * time.Millisecond
	b := startBroker(t, cfg)
	c, err := net.DialTimeout("tcp", b.Addrs()[0], testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(testTimeout))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("silent socket: read returned %v, want EOF (closed by the broker)", err)
	}
	// A client that connects in time keeps its connection past the timeout
	// (its keep-alive deadline replaced the CONNECT one).
	good := newGoodClient(t, b.Addrs()[0])
	time.Sleep(400 * time.Millisecond)
	good.roundTrip(t)
}
