package mqtttest

import (
	"io"
	"log/slog"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// Mochi is an in-process mochi-mqtt broker on 127.0.0.1 that admits every
// client, for tests that need the embedded broker without the broker
// component. It can be stopped and started again on the same port, as a
// broker restart.
type Mochi struct {
	t    testing.TB
	srv  *mqtt.Server
	Addr string // host:port, fixed at the first start
}

// StartMochi starts a broker on a free port; it is closed in t.Cleanup.
func StartMochi(t testing.TB) *Mochi {
	t.Helper()
	m := &Mochi{t: t, Addr: "127.0.0.1:0"}
	m.Start()
	t.Cleanup(m.Stop)
	return m
}

// URL is the broker's mqtt:// URL.
func (m *Mochi) URL() string { return "mqtt://" + m.Addr }

// Running reports whether the broker is up.
func (m *Mochi) Running() bool { return m.srv != nil }

// Server returns the running broker, for tests that use its inline client.
func (m *Mochi) Server() *mqtt.Server { return m.srv }

// Start starts the broker (again) on its address.
func (m *Mochi) Start() {
	m.t.Helper()
	if m.srv != nil {
		return
	}
	srv := mqtt.New(&mqtt.Options{InlineClient: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		m.t.Fatal(err)
	}
	var err error
	// The port of a just-closed broker may take a moment to free.
	for i := 0; i < 250; i++ {
		tcp := listeners.NewTCP(listeners.Config{ID: "t", Address: m.Addr})
		if err = srv.AddListener(tcp); err == nil {
			m.Addr = tcp.Address()
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		m.t.Fatalf("mqtttest: mochi cannot listen on %s: %v", m.Addr, err)
	}
	if err := srv.Serve(); err != nil {
		m.t.Fatal(err)
	}
	m.srv = srv
}

// Stop closes the broker, bounded in time (mochi's Close can hang).
func (m *Mochi) Stop() {
	if m.srv == nil {
		return
	}
	srv := m.srv
	m.srv = nil
	done := make(chan struct{})
	go func() { srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		m.t.Log("mqtttest: mochi Close did not return in 5s")
	}
}
