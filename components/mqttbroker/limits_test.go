package mqttbroker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/rs/zerolog"
)

func TestSysTopics(t *testing.T) {
	b := startBroker(t, openConfig())
	c := mustDial(t, b.Addrs()[0], clientOpts{id: newID("sys"), clean: true})
	c.sub(t, "$SYS/broker/version", 0)
	c.expect(t, "$SYS/broker/version", "2.7.9")
}

func TestMaxClients(t *testing.T) {
	cfg := openConfig()
	cfg.MaxClients = 1
	b := startBroker(t, cfg)
	mustDial(t, b.Addrs()[0], clientOpts{id: "first", clean: true})
	_, ca, err := dial(t, b.Addrs()[0], clientOpts{id: "second", clean: true})
	if err == nil || ca == nil || ca.ReasonCode != 0x89 {
		t.Fatalf("second client: want CONNACK 0x89 (server busy), got %v, %v", ca, err)
	}
}

// TestStopFlushesEvenPastTheDeadline stops with a context that has already
// ended: Stop must not wait for mochi and must still flush the state.
func TestStopFlushesEvenPastTheDeadline(t *testing.T) {
	cfg := openConfig()
	cfg.Persistence = &PersistenceConfig{Dir: t.TempDir(), SyncInterval: 3600e9}
	b := startBroker(t, cfg)
	c := mustDial(t, b.Addrs()[0], clientOpts{id: newID("p"), clean: true})
	if _, err := c.pub(t, "keep/me", []byte("v"), 1, true); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = b.Stop(ctx) // may report that Close did not finish in time
	b2 := startBroker(t, cfg)
	if got := b2.Stats().Retained; got != 1 {
		t.Fatalf("retained after a stop past its deadline = %d, want 1", got)
	}
	s := mustDial(t, b2.Addrs()[0], clientOpts{id: newID("s"), clean: true})
	s.sub(t, "keep/#", 1)
	s.expect(t, "keep/me", "v")
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestProbeBeforeConnectIsNotAWarning: a health probe that opens and
// closes a socket logs nothing at info or above; a malformed packet warns.
func TestProbeBeforeConnectIsNotAWarning(t *testing.T) {
	b, buf := startLoggedBroker(t, openConfig())
	defer b.Stop(context.Background())
	start := len(buf.String())
	for i := 0; i < 5; i++ {
		c, err := net.Dial("tcp", b.Addrs()[0])
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	// A client that completes a round trip after the probes proves they
	// were handled.
	good := newGoodClient(t, b.Addrs()[0])
	good.roundTrip(t)
	if logs := buf.String()[start:]; strings.Contains(logs, `"level":"warn"`) || strings.Contains(logs, `"level":"error"`) || strings.Contains(logs, "EOF") {
		t.Fatalf("probes logged at info or above:\n%s", logs)
	}
	sendRaw(t, b.Addrs()[0], connectV5, truncatedSubscribeV5)
	waitFor(t, "the malformed packet warning", func() bool {
		return strings.Contains(buf.String(), `"level":"warn"`) && strings.Contains(buf.String(), "malformed packet")
	})
}

func TestSlogHandlerLevels(t *testing.T) {
	var buf syncBuf
	h := newSlogHandler(zerolog.New(&buf).Level(zerolog.InfoLevel), nil)
	log := slog.New(h).With("listener", "t1")
	log.Warn("", "error", fmt.Errorf("read connection: %w", io.EOF))
	log.Warn("client store quota reached", "client", "c")
	log.Info("mochi mqtt starting", "version", "2.7.9")
	if s := buf.String(); s != "" {
		t.Fatalf("routine mochi records logged at info or above: %s", s)
	}
	log.Warn("error processing packet", "error", errors.New("decoder exploded"), "pk", "...")
	log.Error("listener failed", "error", errors.New("boom"))
	s := buf.String()
	if !strings.Contains(s, `"level":"warn"`) || !strings.Contains(s, "decoder exploded") || !strings.Contains(s, `"listener":"t1"`) ||
		!strings.Contains(s, `"level":"error"`) || strings.Contains(s, `"pk"`) {
		t.Fatalf("real problems not logged as expected:\n%q", s)
	}
}

// TestLimitsAdvertised: MQTT 5 clients learn the topic alias and packet
// size limits from the CONNACK, and an alias above the limit is refused.
func TestLimitsAdvertised(t *testing.T) {
	cfg := openConfig()
	cfg.TopicAliasMaximum = 3
	cfg.MaxPacketSize = 4096
	b := startBroker(t, cfg)
	c, ca, err := dial(t, b.Addrs()[0], clientOpts{id: newID("lim"), clean: true})
	if err != nil {
		t.Fatal(err)
	}
	p := ca.Properties
	if p == nil || p.TopicAliasMaximum == nil || *p.TopicAliasMaximum != 3 || p.MaximumPacketSize == nil || *p.MaximumPacketSize != 4096 {
		t.Fatalf("CONNACK properties %+v: want topic alias maximum 3 and maximum packet size 4096", p)
	}
	c.sub(t, "alias/#", 0)
	alias := uint16(2)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if _, err := c.Publish(ctx, &paho.Publish{Topic: "alias/x", Payload: []byte("via alias"), Properties: &paho.PublishProperties{TopicAlias: &alias}}); err != nil {
		t.Fatalf("publish with alias 2: %v", err)
	}
	c.expect(t, "alias/x", "via alias")
	// A raw client using alias 4 (above 3) is disconnected.
	pub := []byte{0x30, 0x0a, 0, 1, 'a', 3, 0x23, 0, 4, 'x', 'y', 'z'}
	reply, closed := sendRaw(t, b.Addrs()[0], connectV5, pub)
	if !closed {
		t.Fatalf("client using topic alias 4 (maximum 3) was not disconnected; got % x", reply)
	}
}

func TestMaxSessionExpiry(t *testing.T) {
	cfg := openConfig()
	cfg.MaxSessionExpiry = time.Second
	b := startBroker(t, cfg)
	c, ca, err := dial(t, b.Addrs()[0], clientOpts{id: "short", clean: true, expiry: 3600})
	if err != nil {
		t.Fatal(err)
	}
	if p := ca.Properties; p == nil || p.SessionExpiryInterval == nil || *p.SessionExpiryInterval != 1 {
		t.Fatalf("CONNACK session expiry %+v, want capped to 1", p)
	}
	c.sub(t, "s/#", 1)
	if err := c.Disconnect(&paho.Disconnect{}); err != nil {
		t.Fatal(err)
	}
	pub := mustDial(t, b.Addrs()[0], clientOpts{id: newID("p"), clean: true})
	if _, err := pub.pub(t, "s/queued", []byte("x"), 1, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the session to expire", func() bool {
		_, ok := b.Server().Clients.Get("short")
		return !ok
	})
	if s := b.Stats(); s.Subscriptions != 0 || s.Dropped != 1 {
		t.Fatalf("after expiry: %d subscriptions, %d dropped; want 0 and the 1 queued message", s.Subscriptions, s.Dropped)
	}
}

func TestMaxConnections(t *testing.T) {
	cfg := openConfig()
	cfg.MaxConnections = 3
	b := startBroker(t, cfg)
	var idle []net.Conn
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", b.Addrs()[0])
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	waitFor(t, "three open sockets", func() bool { return b.Stats().Connections == 3 })
	_, closed := sendRaw(t, b.Addrs()[0], connectV4)
	if !closed || b.Stats().OverLimit != 1 {
		t.Fatalf("fourth socket: closed %v, over limit %d; want closed and counted", closed, b.Stats().OverLimit)
	}
	idle[0].Close()
	waitFor(t, "a free slot", func() bool { return b.Stats().Connections == 2 })
	good := newGoodClient(t, b.Addrs()[0])
	good.roundTrip(t)
}

// TestTopicAliasUnderANarrowACL: under a rule for x/# only, an MQTT 5
// client publishes x/alias with topic alias 3, then a message with an
// empty topic and alias 3. The second is x/alias too: it is allowed and
// delivered (the ACL is checked on the topic the alias stands for).
// mosquitto does the same.
func TestTopicAliasUnderANarrowACL(t *testing.T) {
	users := []refUser{{name: "dev", pass: "dev-pw", rules: []refRule{{"x/#", "readwrite"}}}}
	forEachBroker(t, users, "", nil, func(t *testing.T, tg target) {
		sub := mustDial(t, tg.addr, clientOpts{id: newID("asub"), user: "dev", pass: "dev-pw", clean: true})
		sub.sub(t, "x/#", 1)
		c := mustDial(t, tg.addr, clientOpts{id: newID("alias"), user: "dev", pass: "dev-pw", clean: true})
		alias := uint16(3)
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		defer cancel()
		for i, topic := range []string{"x/alias", ""} {
			payload := fmt.Sprintf("via alias %d", i)
			resp, err := c.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(payload), Properties: &paho.PublishProperties{TopicAlias: &alias}})
			if err != nil {
				t.Fatalf("publish %q with alias 3: %v (%+v)", topic, err, resp)
			}
			sub.expect(t, "x/alias", payload)
		}
	})
}

// TestUnknownTopicAliasClosesTheConnection: a PUBLISH with an empty topic
// and an alias the client never set is a protocol error.
func TestUnknownTopicAliasClosesTheConnection(t *testing.T) {
	b := startBroker(t, openConfig())
	good := newGoodClient(t, b.Addrs()[0])
	// QoS 0 PUBLISH, empty topic, properties: topic alias (0x23) 5.
	pub := []byte{0x30, 0x07, 0, 0, 3, 0x23, 0, 5, 'x'}
	if _, closed := sendRaw(t, b.Addrs()[0], connectV5, pub); !closed {
		t.Fatal("a publish by an unknown topic alias did not close the connection")
	}
	good.roundTrip(t)
}
