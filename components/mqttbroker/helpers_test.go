package mqttbroker

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/rs/zerolog"

	"github.com/metronome-rt/metronome/internal/passwd"
)

// testTimeout bounds every network wait in the tests.
const testTimeout = 15 * time.Second

// testHashIterations keeps password hashing cheap in tests.
const testHashIterations = passwd.MinIterations

// testLogger writes broker logs to the test log when -v is given.
func testLogger(t testing.TB) zerolog.Logger {
	if testing.Verbose() && os.Getenv("BROKER_LOG") != "" {
		return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel)
	}
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel)
}

// openConfig is a loopback broker on a free port where anyone may do
// anything: the base for tests that are not about security.
func openConfig() Config {
	c := DefaultConfig()
	c.Listeners = []ListenerConfig{{Type: TypeTCP, Port: 0}}
	c.AllowAnonymous = true
	c.ACL = []ACLRule{{Topic: "#", Access: "readwrite"}, {Topic: "$SYS/#", Access: "read"}}
	return c
}

// startBroker validates cfg, starts a broker and stops it when the test
// ends.
func startBroker(t testing.TB, cfg Config) *Broker {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	b := NewBroker(cfg, testLogger(t))
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := b.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		if err := b.Stop(ctx); err != nil {
			// Where Close was stuck is the only clue to a hang that
			// shows once in hundreds of runs.
			var dump strings.Builder
			pprof.Lookup("goroutine").WriteTo(&dump, 1)
			t.Errorf("stop: %v\ngoroutines:\n%s", err, dump.String())
		}
	})
	return b
}

// client is a paho v5 client with a channel of received messages.
type client struct {
	*paho.Client
	msgs chan *paho.Publish
}

type clientOpts struct {
	id, user, pass string
	clean          bool
	expiry         uint32
	tls            *tls.Config
	conn           net.Conn
	will           *willOpt
	receiveMax     uint16 // announced Receive Maximum (0: none, as paho's default)
}

type willOpt struct{ topic, payload string }

// dial connects a paho client; a refused CONNECT is returned as an error.
func dial(t testing.TB, addr string, o clientOpts) (*client, *paho.Connack, error) {
	t.Helper()
	conn := o.conn
	if conn == nil {
		var err error
		d := &net.Dialer{Timeout: testTimeout}
		if o.tls != nil {
			conn, err = tls.DialWithDialer(d, "tcp", addr, o.tls)
		} else {
			conn, err = d.Dial("tcp", addr)
		}
		if err != nil {
			return nil, nil, err
		}
	}
	c := &client{msgs: make(chan *paho.Publish, 20000)}
	c.Client = paho.NewClient(paho.ClientConfig{
		ClientID: o.id,
		// paho writes a packet in several Writes on TLS and WebSocket
		// connections; without this its keep-alive PINGREQ can land in the
		// middle of another packet (which the broker rightly refuses).
		Conn: packets.NewThreadSafeConn(conn),
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(r paho.PublishReceived) (bool, error) {
			c.msgs <- r.Packet
			return true, nil
		}},
	})
	cp := &paho.Connect{ClientID: o.id, KeepAlive: 30, CleanStart: o.clean}
	if o.user != "" {
		cp.Username, cp.UsernameFlag = o.user, true
		cp.Password, cp.PasswordFlag = []byte(o.pass), true
	}
	if o.will != nil {
		cp.WillMessage = &paho.WillMessage{Topic: o.will.topic, Payload: []byte(o.will.payload), QoS: 1}
	}
	if o.expiry > 0 || o.receiveMax > 0 {
		cp.Properties = &paho.ConnectProperties{}
	}
	if o.expiry > 0 {
		e := o.expiry
		cp.Properties.SessionExpiryInterval = &e
	}
	if o.receiveMax > 0 {
		rm := o.receiveMax
		cp.Properties.ReceiveMaximum = &rm
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	ca, err := c.Connect(ctx, cp)
	if err != nil {
		conn.Close()
		return nil, ca, err
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{ReasonCode: 0}) })
	return c, ca, nil
}

// resume reconnects to a persistent session, failing the test if the
// broker did not keep it.
func resume(t testing.TB, addr string, o clientOpts) *client {
	t.Helper()
	o.clean = false
	c, ca, err := dial(t, addr, o)
	if err != nil {
		t.Fatalf("resume %q: %v", o.id, err)
	}
	if !ca.SessionPresent {
		t.Fatalf("resume %q: session not present", o.id)
	}
	return c
}

// startLoggedBroker starts a broker whose log (info and above) is kept.
func startLoggedBroker(t testing.TB, cfg Config) (*Broker, *syncBuf) {
	t.Helper()
	buf := &syncBuf{}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	b := NewBroker(cfg, zerolog.New(buf).Level(zerolog.InfoLevel))
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return b, buf
}

// median returns the middle of xs (which it sorts).
func median(xs []float64) float64 {
	sort.Float64s(xs)
	return xs[len(xs)/2]
}

func mustDial(t testing.TB, addr string, o clientOpts) *client {
	t.Helper()
	c, _, err := dial(t, addr, o)
	if err != nil {
		t.Fatalf("connect %s as %q: %v", addr, o.id, err)
	}
	return c
}

func (c *client) sub(t testing.TB, filter string, qos byte) byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	sa, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: qos}}})
	if err != nil && sa == nil {
		t.Fatalf("subscribe %s: %v", filter, err)
	}
	return sa.Reasons[0]
}

func (c *client) pub(t testing.TB, topic string, payload []byte, qos byte, retain bool) (*paho.PublishResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	return c.Publish(ctx, &paho.Publish{Topic: topic, Payload: payload, QoS: qos, Retain: retain})
}

// expect waits for the next message and checks its topic and payload.
func (c *client) expect(t testing.TB, topic, payload string) {
	t.Helper()
	select {
	case m := <-c.msgs:
		if m.Topic != topic || string(m.Payload) != payload {
			t.Fatalf("received %s %q, want %s %q", m.Topic, m.Payload, topic, payload)
		}
	case <-time.After(testTimeout):
		t.Fatalf("no message on %s within %v", topic, testTimeout)
	}
}

var idMu sync.Mutex
var idN int

func newID(prefix string) string {
	idMu.Lock()
	defer idMu.Unlock()
	idN++
	return fmt.Sprintf("%s-%d", prefix, idN)
}
