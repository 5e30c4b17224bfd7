package mqttbroker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/rs/zerolog"
)

// Broker is the embedded MQTT broker behind the MQTTBroker component:
// mochi-mqtt with Metronome's listeners, packet guard, authentication,
// ordered persistence and drop accounting. The component drives it; tests
// and the bench command use it directly.
type Broker struct {
	cfg Config
	log zerolog.Logger

	srv   *mqtt.Server
	logs  *sampledLog // warnings clients can cause, sampled
	lns   []*listener
	auth  *authHook
	stats *statsHook
	ids   *idHook
	store *fileStore

	guard     guardStats
	wsRefused atomic.Uint64
	conns     atomic.Int64  // open client sockets, all listeners
	connsOver atomic.Uint64 // sockets closed at once for max_connections

	mu      sync.Mutex
	started bool
	stopped bool

	gate     sync.Mutex // orders new connections before mochi's Close
	stopping bool

	// inlineAuth checks passwords on the connection's goroutine instead
	// of the guard's low-priority threads: for the benchmark that
	// measures the difference.
	inlineAuth bool
}

// enter admits a new connection unless the broker is stopping. It adds the
// connection to mochi's client WaitGroup itself, before mochi's handler
// runs: mochi adds inside the handler, which races with the Wait in its
// Close when a client connects during shutdown (mochi-mqtt/server#541).
func (b *Broker) enter() bool {
	b.gate.Lock()
	defer b.gate.Unlock()
	if b.stopping {
		return false
	}
	b.srv.Listeners.ClientsWg.Add(1)
	return true
}

// Stats is a snapshot of the broker's counters. Totals count from start.
type Stats struct {
	Clients       int64  // connected clients
	MessagesIn    uint64 // PUBLISH packets received from clients
	MessagesOut   uint64 // PUBLISH packets sent to clients
	Dropped       uint64 // messages dropped: full client queues, discarded queued QoS 1/2, in-flight quota
	Retained      int64  // retained messages held
	Subscriptions int64  // subscriptions held
	Malformed     uint64 // connections closed for a malformed or oversized packet
	AuthFailures  uint64 // CONNECTs refused for bad credentials
	AuthThrottled uint64 // CONNECTs refused unchecked: login backoff after failures, or too many logins waiting
	ACLDenied     uint64 // publishes, subscriptions and deliveries refused by the ACL
	ListenersDown int    // configured listeners not accepting connections
	Connections   int64  // open client sockets, including those not yet connected
	OverLimit     uint64 // sockets closed at once because max_connections was reached
	StoreErrors   uint64 // failed writes to the persistence directory
}

// NewBroker prepares a broker for a validated configuration; nothing is
// opened until Start.
func NewBroker(cfg Config, log zerolog.Logger) *Broker {
	return &Broker{cfg: cfg, log: log}
}

// Start loads credentials and persisted state, opens the listeners and
// starts serving. A listener that cannot open fails Start, naming the
// listener, its address and the system's error, unless it is marked
// optional: then it is logged, reported by ListenerFailures and retried
// every listener_retry while the others serve. Unreadable password files
// or persistence directories fail Start too: the broker would run without
// its configured security or state.
func (b *Broker) Start(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.started {
		return errors.New("broker already started")
	}
	guard, err := newGuard(&b.cfg, b.inlineAuth)
	if err != nil {
		return err
	}
	served := false
	defer func() {
		if !served {
			guard.Close()
		}
	}()
	b.logs = newSampledLog(b.log, logEvery)
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumClients = math.MaxInt64
	if b.cfg.MaxClients > 0 {
		caps.MaximumClients = int64(b.cfg.MaxClients)
	}
	caps.MaximumPacketSize = uint32(b.cfg.MaxPacketSize)
	caps.TopicAliasMaximum = uint16(b.cfg.TopicAliasMaximum)
	caps.MaximumMessageExpiryInterval = int64(b.cfg.MessageExpiry.Seconds())
	caps.MaximumClientWritesPending = int32(b.cfg.MaxPendingWrites)
	if b.cfg.MaxSessionExpiry > 0 {
		caps.MaximumSessionExpiryInterval = uint32(b.cfg.MaxSessionExpiry / time.Second)
	}
	caps.MaximumInflight = uint16(b.cfg.MaxInflight)
	b.srv = mqtt.New(&mqtt.Options{
		Capabilities:             caps,
		ClientNetWriteBufferSize: b.cfg.WriteBufferSize,
		ClientNetReadBufferSize:  b.cfg.ReadBufferSize,
		Logger:                   slog.New(newSlogHandler(b.log, b.logs)),
		SysTopicResendInterval:   int64(max(1, b.cfg.SysInterval.Seconds())),
	})
	b.auth = newAuthHook(&b.cfg, guard, b.logs)
	b.stats = &statsHook{}
	b.ids = &idHook{srv: b.srv}
	hooks := []mqtt.Hook{&aliasHook{max: caps.TopicAliasMaximum}, b.auth, b.stats, b.ids, &expiryHook{srv: b.srv}, &connackHook{aliasMax: caps.TopicAliasMaximum, maxPacket: caps.MaximumPacketSize}}
	if p := b.cfg.Persistence; p != nil {
		st, err := openStore(p.Dir, p.SyncInterval)
		if err != nil {
			return err
		}
		b.store = st
		hooks = append(hooks, newStoreHook(st, b.auth, b.log))
	}
	for _, h := range hooks {
		if err := b.srv.AddHook(h, nil); err != nil {
			b.closeStore()
			return fmt.Errorf("add hook %s: %w", h.ID(), err)
		}
	}
	for i, lc := range b.cfg.Listeners {
		l := newListener(b, i, lc, b.cfg.ListenerRetry)
		if err := l.open(); err != nil {
			if !lc.Optional {
				b.closeListeners()
				b.closeStore()
				return fmt.Errorf("listener %s (listeners[%d]) on %s: %w (mark it optional: true to start without it)", l.id, i, l.addr, err)
			}
			l.fail(err)
		}
		if err := b.srv.AddListener(l); err != nil {
			l.Close(func(string) {})
			b.closeListeners()
			b.closeStore()
			return err
		}
		b.lns = append(b.lns, l)
	}
	if err := b.srv.Serve(); err != nil {
		b.closeListeners()
		b.closeStore()
		return fmt.Errorf("start broker: %w", err)
	}
	// mochi counts its own $SYS topics as retained messages; count the
	// clients' ones (restored from persistence so far) instead.
	for topic := range b.srv.Topics.Retained.GetAll() {
		b.stats.setRetained(topic, true)
	}
	b.started, served = true, true
	b.log.Info().Int("listeners", len(b.lns)).Bool("persistence", b.store != nil).Msg("broker started")
	return nil
}

// Addrs returns each listener's address (the real port after binding 0),
// in configuration order.
func (b *Broker) Addrs() []string {
	out := make([]string, len(b.lns))
	for i, l := range b.lns {
		out[i] = l.Address()
	}
	return out
}

// ListenerFailures returns, per failed listener, why it is down.
func (b *Broker) ListenerFailures() []string {
	var out []string
	for _, l := range b.lns {
		if f := l.Failure(); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// firstFailure returns the first failed listener's reason and the number
// of failed listeners, without allocating.
func (b *Broker) firstFailure() (string, int) {
	var first string
	n := 0
	for _, l := range b.lns {
		if p := l.failure.Load(); p != nil {
			if n == 0 {
				first = *p
			}
			n++
		}
	}
	return first, n
}

// Stats returns the current counters; it allocates nothing.
func (b *Broker) Stats() Stats {
	var s Stats
	if b.srv == nil {
		return s
	}
	in := b.srv.Info
	s.Clients = atomic.LoadInt64(&in.ClientsConnected)
	s.MessagesIn = uint64(atomic.LoadInt64(&in.MessagesReceived))
	s.MessagesOut = uint64(atomic.LoadInt64(&in.MessagesSent))
	s.Retained = b.stats.retained.Load()
	s.Subscriptions = atomic.LoadInt64(&in.Subscriptions)
	s.Dropped = b.stats.publishDropped.Load() + b.stats.qosDropped.Load() + uint64(atomic.LoadInt64(&in.InflightDropped))
	s.Malformed = b.guard.malformed.Load() + b.guard.tooLarge.Load()
	s.AuthFailures = b.auth.authFailures.Load()
	s.AuthThrottled = b.auth.throttled.Load()
	s.ACLDenied = b.auth.aclDenied.Load()
	_, s.ListenersDown = b.firstFailure()
	s.Connections = b.conns.Load()
	s.OverLimit = b.connsOver.Load()
	if b.store != nil {
		s.StoreErrors = b.store.errs.Load()
	}
	return s
}

// Server exposes the mochi server, for tests and tools that inspect it.
func (b *Broker) Server() *mqtt.Server { return b.srv }

// Stop disconnects clients, stops the listeners and flushes persistence.
// mochi's Close can block forever on a stuck client, so it is bounded by
// ctx: when ctx ends first, every client socket is closed by force and
// the state is flushed anyway.
func (b *Broker) Stop(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.started || b.stopped {
		return nil
	}
	b.stopped = true
	b.gate.Lock()
	b.stopping = true
	b.gate.Unlock()
	// Logins waiting for a password check are refused now rather than
	// keeping mochi's Close waiting for them.
	b.auth.guard.Close()
	done := make(chan error, 1)
	go func() { done <- b.srv.Close() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		for _, l := range b.lns {
			l.dropConns()
		}
		err = fmt.Errorf("broker close did not finish before the stop deadline; client connections closed by force: %w", ctx.Err())
		b.log.Warn().Err(err).Msg("broker stop")
	}
	if serr := b.closeStore(); serr != nil {
		err = errors.Join(err, fmt.Errorf("persistence: %w", serr))
	}
	b.logs.flush()
	b.log.Info().Msg("broker stopped")
	return err
}

func (b *Broker) closeListeners() {
	for _, l := range b.lns {
		l.Close(func(string) {})
	}
}

func (b *Broker) closeStore() error {
	if b.store == nil {
		return nil
	}
	err := b.store.Close()
	return err
}
