package mqttclient_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// broker is an in-process mochi broker on 127.0.0.1 with an inline client
// that records every message published to it.
type broker struct {
	t    testing.TB
	srv  *mqtt.Server
	addr string

	mu   sync.Mutex
	msgs []msg
	cond chan struct{}
}

type msg struct {
	topic   string
	payload string
	retain  bool
}

// startBroker starts a broker on addr ("127.0.0.1:0" for a free port).
func startBroker(t testing.TB, addr string) *broker {
	t.Helper()
	b := &broker{t: t, cond: make(chan struct{}, 1)}
	b.start(addr)
	t.Cleanup(b.stop)
	return b
}

func (b *broker) start(addr string) {
	b.t.Helper()
	srv := mqtt.New(&mqtt.Options{InlineClient: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		b.t.Fatal(err)
	}
	var err error
	for i := 0; i < 100; i++ { // the port of a just-closed broker may take a moment to free
		tcp := listeners.NewTCP(listeners.Config{ID: "t", Address: addr})
		if err = srv.AddListener(tcp); err == nil {
			b.addr = tcp.Address()
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		b.t.Fatal(err)
	}
	// Subscribed before Serve, so not one message published after a restart is missed.
	if err := srv.Subscribe("#", 1, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
		b.mu.Lock()
		b.msgs = append(b.msgs, msg{pk.TopicName, string(pk.Payload), pk.FixedHeader.Retain})
		b.mu.Unlock()
		select {
		case b.cond <- struct{}{}:
		default:
		}
	}); err != nil {
		b.t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		b.t.Fatal(err)
	}
	b.srv = srv
}

// stop closes the broker, bounded in time (mochi's Close can hang).
func (b *broker) stop() {
	if b.srv == nil {
		return
	}
	done := make(chan struct{})
	go func() { b.srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		b.t.Log("broker Close did not return in 5s")
	}
	b.srv = nil
}

func (b *broker) url() string { return "mqtt://" + b.addr }

// publish sends a message from the broker's inline client.
func (b *broker) publish(topic, payload string, retain bool) {
	b.t.Helper()
	if err := b.srv.Publish(topic, []byte(payload), retain, 1); err != nil {
		b.t.Fatal(err)
	}
}

// on returns the payloads received on topic so far.
func (b *broker) on(topic string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, m := range b.msgs {
		if m.topic == topic {
			out = append(out, m.payload)
		}
	}
	return out
}

// waitFor waits until cond holds or the timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	return true
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// startAuthBroker starts a mochi broker that admits only user with pass.
func startAuthBroker(t testing.TB, user, pass string) string {
	_, addr := startLedgerBroker(t, &auth.Ledger{
		Auth: auth.AuthRules{{Username: auth.RString(user), Password: auth.RString(pass), Allow: true}},
		ACL:  auth.ACLRules{{Filters: auth.Filters{"#": auth.ReadWrite}}},
	}, "", nil)
	return addr
}

// startLedgerBroker starts a mochi broker with an inline client that
// admits and authorises by ledger; inline, when given, is subscribed to
// filter before the broker serves.
func startLedgerBroker(t testing.TB, ledger *auth.Ledger, filter string, inline func(topic string, payload []byte)) (*mqtt.Server, string) {
	srv := mqtt.New(&mqtt.Options{InlineClient: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := srv.AddHook(new(auth.Hook), &auth.Options{Ledger: ledger}); err != nil {
		t.Fatal(err)
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "t", Address: "127.0.0.1:0"})
	if err := srv.AddListener(tcp); err != nil {
		t.Fatal(err)
	}
	if inline != nil {
		if err := srv.Subscribe(filter, 1, func(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
			inline(pk.TopicName, pk.Payload)
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		done := make(chan struct{})
		go func() { srv.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	})
	return srv, tcp.Address()
}

var _ = fmt.Sprint
