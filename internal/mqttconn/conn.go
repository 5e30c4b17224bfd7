// Package mqttconn is Metronome's MQTT transport: one small interface over
// two client libraries, MQTT 5 on paho.golang's autopaho and MQTT 3.1.1 on
// eclipse/paho.mqtt.golang, with the same connection options (a server list
// tried in order, credentials, TLS, keep-alive, capped exponential backoff
// with jitter, a will chosen afresh for every connection attempt).
//
// Both implementations behave the same way towards their user:
//
//   - Subscriptions are registered once and made on every connection, in one
//     SUBSCRIBE, before OnUp runs; a broker that lost the session (or never
//     keeps one) gets them back. Overlapping filters are merged into
//     pairwise disjoint ones, so the broker sends each message once, and
//     every handler whose filter matches gets it.
//   - Received messages are copied off the network goroutine into a bounded
//     queue and handed, in arrival order, to the handlers on one dispatch
//     goroutine. A full queue drops the message and counts it: a slow handler
//     never stalls keep-alives or acknowledgements. With Options.Direct the
//     handlers run on the network goroutine instead, before the message is
//     acknowledged, so that a flood waits at the broker.
//   - Connection up and down events travel through the same dispatch
//     goroutine, in order with the messages, so a user needs no locking
//     between its handlers and its connection callbacks.
//   - Publish never queues inside the client library: while disconnected it
//     fails at once with ErrNotConnected, and a publication waiting for its
//     acknowledgement when the connection drops fails at once the same way,
//     so a caller that must not lose a message keeps it in its own ordered
//     queue and sends it again (paho.mqtt.golang's store resends in map
//     order after a reconnect; this transport never gives it anything to
//     resend). A publication the broker refuses is a *RefusedError (MQTT 5
//     reason code 0x80 or above); an MQTT 3.1.1 broker has no way to refuse
//     but to close the connection.
package mqttconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Protocol selects the MQTT protocol version, and with it the client library.
type Protocol int

const (
	// V5 is MQTT 5 on paho.golang's autopaho.
	V5 Protocol = iota
	// V311 is MQTT 3.1.1 on eclipse/paho.mqtt.golang, for brokers that do not
	// speak MQTT 5 (NATS, RabbitMQ before 3.13, Azure IoT Hub, ...).
	V311
)

// String names the protocol as configuration spells it.
func (p Protocol) String() string {
	if p == V311 {
		return "3.1.1"
	}
	return "5"
}

// ParseProtocol reads "5" (also "5.0", "" for the default) or "3.1.1".
func ParseProtocol(s string) (Protocol, error) {
	switch strings.TrimSpace(s) {
	case "", "5", "5.0":
		return V5, nil
	case "3.1.1", "311", "4":
		return V311, nil
	}
	return V5, fmt.Errorf("protocol %q: want 5 or 3.1.1", s)
}

// ErrNotConnected is returned by Publish while no connection is up, or when
// the connection a publication was sent on dropped before its
// acknowledgement came.
var ErrNotConnected = errors.New("not connected to an MQTT broker")

// ErrConnectionLost is the ErrNotConnected of a publication that was sent
// and whose connection dropped before its acknowledgement came: the broker
// may or may not have it. errors.Is(ErrConnectionLost, ErrNotConnected)
// holds.
var ErrConnectionLost = fmt.Errorf("%w: the connection dropped before the acknowledgement came", ErrNotConnected)

// ErrNotMQTT5 is the connection error (wrapped) when an MQTT 5 CONNECT is
// answered with an MQTT 3.1.1 CONNACK refusing the protocol version, as
// NATS, RabbitMQ before 3.13 and Azure IoT Hub do.
var ErrNotMQTT5 = errors.New("broker does not speak MQTT 5: set protocol: 3.1.1")

// RefusedError is a publication the broker refused with an MQTT 5 reason
// code of 0x80 or above (not authorised, quota exceeded, ...): sending it
// again would be refused again, so a caller drops it and counts it.
type RefusedError struct {
	Topic      string
	ReasonCode byte
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("publish %s: refused by the broker with reason code %#x (%s)", e.Topic, e.ReasonCode, ReasonText(e.ReasonCode))
}

// ReasonText names an MQTT 5 reason code of CONNACK, PUBACK or DISCONNECT,
// so that a log line says why and not just a number.
func ReasonText(rc byte) string {
	if t, ok := reasons[rc]; ok {
		return t
	}
	return "unknown reason"
}

var reasons = map[byte]string{
	0x04: "disconnect with will message", 0x10: "no matching subscribers",
	0x80: "unspecified error", 0x81: "malformed packet", 0x82: "protocol error", 0x83: "implementation specific error",
	0x84: "unsupported protocol version", 0x85: "client identifier not valid", 0x86: "bad user name or password",
	0x87: "not authorized", 0x88: "server unavailable", 0x89: "server busy", 0x8A: "banned",
	0x8B: "server shutting down", 0x8C: "bad authentication method", 0x8D: "keep alive timeout",
	0x8E: "session taken over", 0x8F: "topic filter invalid", 0x90: "topic name invalid",
	0x91: "packet identifier in use", 0x93: "receive maximum exceeded", 0x94: "topic alias invalid",
	0x95: "packet too large", 0x96: "message rate too high", 0x97: "quota exceeded", 0x98: "administrative action",
	0x99: "payload format invalid", 0x9A: "retain not supported", 0x9B: "QoS not supported",
	0x9C: "use another server", 0x9D: "server moved", 0x9F: "connection rate exceeded",
}

// Will is the message the broker publishes for the client when its
// connection ends without a DISCONNECT.
type Will struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
}

// Message is a received publication. The handler owns it: its payload is a
// copy that no one else touches (with Options.Direct, only until the
// handler returns).
type Message struct {
	Topic    string
	Payload  []byte
	QoS      byte
	Retained bool
}

// Handler receives the messages of one subscription. It runs on the
// dispatch goroutine, one message at a time in arrival order; while it runs,
// further messages wait in the bounded queue (and are dropped when it is
// full), so it should hand slow work elsewhere.
type Handler func(m *Message)

// Options configure a connection. Servers and ClientID are required.
type Options struct {
	// Protocol is V5 (default) or V311.
	Protocol Protocol
	// Servers are broker URLs, each tried once per round of connection
	// attempts: mqtt://host:1883, mqtts://host:8883 (tcp, ssl, tls too),
	// ws://, wss://. MQTT 5 starts every round with the first; MQTT 3.1.1
	// starts with the server after the one whose connection was lost, so a
	// cluster node that just died is tried last.
	Servers []string
	// ClientID identifies the session at the broker.
	ClientID string
	// Username and Password authenticate the client; empty: none.
	Username string
	Password []byte
	// TLS is used for encrypted servers; nil uses the system's roots.
	TLS *tls.Config
	// KeepAlive is the MQTT keep-alive; a silent broker is noticed within
	// about twice this. Any packet from the broker counts as a sign of
	// life, not only a PINGRESP, which an incoming flood can hold back for
	// longer (see livePinger). Default 30 s.
	KeepAlive time.Duration
	// ConnectTimeout bounds one connection attempt to one server, from the
	// dial to the CONNACK; a server that accepts the socket and never
	// answers costs no more than this. Default 10 s.
	ConnectTimeout time.Duration
	// RetryMin and RetryMax bound the wait between attempts: none for the
	// first after a drop, then RetryMin doubling up to RetryMax, with
	// jitter. Defaults 500 ms and 30 s.
	RetryMin, RetryMax time.Duration
	// CleanStart starts every connection with a fresh session (MQTT 3.1.1
	// clean session); SessionExpiry (MQTT 5 only) keeps the session that long
	// after a disconnection. Sparkplug needs CleanStart and SessionExpiry 0.
	// MQTT 3.1.1 has no expiry: CleanStart false is a persistent session the
	// broker keeps until a clean connection.
	CleanStart    bool
	SessionExpiry time.Duration
	// CleanStartOnce (MQTT 5, with CleanStart) starts only the first
	// connection after Start with a fresh session; later ones resume it, so
	// what the broker kept for SessionExpiry during an outage arrives. A
	// 3.1.1 clean session ends with its connection, so there it cannot be
	// had and is refused.
	CleanStartOnce bool
	// ReceiveMaximum (MQTT 5) is how many QoS 1/2 messages the broker may
	// send ahead of their acknowledgements; paho.golang also sizes its
	// receive buffer by it. 0: the library's default (65535).
	ReceiveMaximum uint16
	// Direct runs the handlers on the client library's receive goroutine,
	// in arrival order, before each message is acknowledged, instead of on
	// the dispatch goroutine: nothing is copied or dropped, and a flood
	// waits at the broker (MQTT 5 Receive Maximum, the broker's in-flight
	// window on 3.1.1) instead of filling the inbound queue. A handler must
	// then do only short work that never waits, and keep no reference to
	// the message's payload after it returns.
	Direct bool
	// Will, when set, is called before every connection attempt for the will
	// that connection carries, so a will can change between connections
	// (Sparkplug's bdSeq). nil: no will.
	Will func() *Will
	// OnUp runs on the dispatch goroutine once a connection is up and its
	// subscriptions are acknowledged.
	OnUp func()
	// OnDown runs on the dispatch goroutine when an established connection
	// is lost (err says why) or closed by Stop (err nil).
	OnDown func(err error)
	// OnConnectError runs (on a connection goroutine) for every failed
	// connection attempt.
	OnConnectError func(err error)
	// InboundQueue is how many received messages may wait for the dispatch
	// goroutine; default 4096.
	InboundQueue int
	// PublishTimeout bounds Publish when its context has no deadline, and
	// the wait for the SUBACK on each new connection (MQTT 3.1.1 drops a
	// connection whose SUBSCRIBE goes unanswered and tries the next
	// server). Default 10 s.
	PublishTimeout time.Duration
}

// Conn is a connection to an MQTT broker that reconnects by itself.
type Conn interface {
	// Start begins connecting in the background; an unreachable broker is
	// not an error (it is retried), only options that cannot work are.
	Start(ctx context.Context) error
	// Publish sends one message. QoS 0 returns once the message is handed to
	// the network, QoS 1 and 2 once the broker acknowledged it. While
	// disconnected it returns ErrNotConnected at once.
	Publish(ctx context.Context, topic string, payload []byte, qos byte, retain bool) error
	// Subscribe adds a subscription made on every connection (and at once,
	// when connected). Messages matching several filters reach each handler.
	Subscribe(filter string, qos byte, h Handler) error
	// Connected reports whether a connection is up.
	Connected() bool
	// Stop disconnects cleanly (the broker discards the will) and stops
	// reconnecting; OnDown runs with a nil error.
	Stop(ctx context.Context) error
	// Stats returns the counters.
	Stats() Stats
}

// Stats are a connection's counters.
type Stats struct {
	Connections    uint64 // connections made
	Received       uint64 // messages received
	Dropped        uint64 // received messages dropped because the inbound queue was full
	ConnectErrors  uint64 // failed connection attempts
	SessionPresent bool   // the broker resumed a session on the last connection
}

// New returns an unstarted connection.
func New(o Options) (Conn, error) {
	if err := o.normalise(); err != nil {
		return nil, err
	}
	b := newBase(o)
	if o.Protocol == V311 {
		return &conn311{base: b}, nil
	}
	return &conn5{base: b}, nil
}

func (o *Options) normalise() error {
	if len(o.Servers) == 0 {
		return errors.New("mqttconn: no server: at least one broker URL is needed")
	}
	for _, s := range o.Servers {
		if _, err := ParseServer(s); err != nil {
			return fmt.Errorf("mqttconn: %w", err)
		}
	}
	if o.ClientID == "" {
		return errors.New("mqttconn: client ID is empty")
	}
	if o.KeepAlive == 0 {
		o.KeepAlive = 30 * time.Second
	}
	if o.KeepAlive < time.Second || o.KeepAlive > 65535*time.Second {
		return fmt.Errorf("mqttconn: keep-alive %v: want 1s to 65535s", o.KeepAlive)
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.RetryMin <= 0 {
		o.RetryMin = 500 * time.Millisecond
	}
	if o.RetryMax < o.RetryMin {
		o.RetryMax = max(30*time.Second, o.RetryMin)
	}
	if o.InboundQueue <= 0 {
		o.InboundQueue = 4096
	}
	if o.PublishTimeout <= 0 {
		o.PublishTimeout = 10 * time.Second
	}
	if o.Protocol != V5 && o.Protocol != V311 {
		return fmt.Errorf("mqttconn: protocol %d unknown", o.Protocol)
	}
	if o.Protocol == V311 && o.SessionExpiry != 0 {
		return fmt.Errorf("mqttconn: session expiry %v needs MQTT 5; MQTT 3.1.1 has only clean or persistent sessions", o.SessionExpiry)
	}
	if o.Protocol == V311 && o.CleanStartOnce {
		return errors.New("mqttconn: a clean start on the first connection only needs MQTT 5; an MQTT 3.1.1 clean session ends with its connection")
	}
	return nil
}

// TLSFiles are a client's TLS settings as files: the `tls:` key of
// MQTTClient and of an application's `system:` broker, one type so that
// both take the same keys and read them the same way.
type TLSFiles struct {
	// CAFile is a PEM file of certificate authorities that sign the
	// broker's certificate; empty uses the system pool.
	CAFile string `yaml:"ca_file"`
	// CertFile is the client certificate (PEM) for brokers that require one.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the client certificate's private key (PEM).
	KeyFile string `yaml:"key_file"`
	// ServerName overrides the name checked in the broker's certificate.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify accepts any broker certificate. For tests only: it
	// makes the connection open to interception.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// ReadPassword returns the password a configuration gives: the file's
// content without its trailing newline when file is set (read now, so a
// missing secret fails the start rather than connecting without it),
// else password.
func ReadPassword(password, file string) ([]byte, error) {
	if file == "" {
		return []byte(password), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("password_file: %w", err)
	}
	return []byte(strings.TrimRight(string(b), "\r\n")), nil
}

// Config reads the files into a tls.Config.
func (t TLSFiles) Config() (*tls.Config, error) {
	c := &tls.Config{ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pool, err := CAPool(t.CAFile)
		if err != nil {
			return nil, err
		}
		c.RootCAs = pool
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, errors.New("tls: cert_file and key_file go together")
	}
	if t.CertFile != "" {
		cert, err := KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, err
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// Backoff returns the wait before connection attempt n (0 = the first after
// a drop): none, then min doubling up to max, each with up to 50% jitter so
// that a fleet restarted together does not reconnect in step. flaps counts
// connections that dropped soon after they were made, so a broker that
// accepts and then kicks a client gets a growing wait too.
func Backoff(min, max time.Duration, n, flaps int) time.Duration {
	n += flaps
	if n <= 0 {
		return 0
	}
	d := min
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	d = time.Duration(float64(d) * (0.5 + rand.Float64()/2))
	return min2(d, max)
}

func min2(a, b time.Duration) time.Duration {
	if a < b {
		return a
	}
	return b
}

// stableAfter is how long a connection must last before its drop counts as
// an ordinary outage rather than a flap.
const stableAfter = 10 * time.Second

// event is one item for the dispatch goroutine.
type event struct {
	kind int // evMsg, evUp, evDown
	err  error
}

const (
	evMsg = iota
	evUp
	evDown
)

type sub struct {
	filter string
	qos    byte
	h      Handler
}

// scope is the lifetime of one connection: cancelled when it drops, so a
// publication waiting for its acknowledgement on it returns at once.
type scope struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// base is what both implementations share: options, subscriptions, the
// dispatch goroutine and the counters.
type base struct {
	o Options

	mu   sync.Mutex
	subs []sub
	// view is subs for the receive path, replaced (never changed) by addSub.
	view atomic.Pointer[[]sub]

	// stateMu orders connection events: gen counts connections begun and
	// lost, so that a connection lost while its subscriptions were being
	// made is never reported up afterwards.
	stateMu sync.Mutex
	gen     uint64
	scope   atomic.Pointer[scope]
	present atomic.Bool

	msgs       chan *Message // network goroutine -> dispatch; bounded, drops when full
	ctrl       chan event    // connection events; never dropped
	done       chan struct{}
	dispCancel context.CancelFunc

	connected              atomic.Bool
	upSince                atomic.Int64
	flaps                  atomic.Int32
	nConn, nRecv, nDropped atomic.Uint64
	nConnErr               atomic.Uint64
}

func newBase(o Options) *base {
	return &base{
		o:    o,
		msgs: make(chan *Message, o.InboundQueue),
		ctrl: make(chan event, 64),
		done: make(chan struct{}),
	}
}

func (b *base) Stats() Stats {
	return Stats{Connections: b.nConn.Load(), Received: b.nRecv.Load(), Dropped: b.nDropped.Load(), ConnectErrors: b.nConnErr.Load(),
		SessionPresent: b.present.Load()}
}

func (b *base) Connected() bool { return b.connected.Load() }

// addSub registers a subscription.
func (b *base) addSub(filter string, qos byte, h Handler) error {
	if err := ValidFilter(filter); err != nil {
		return err
	}
	if qos > 2 {
		return fmt.Errorf("subscribe %s: qos %d: want 0, 1 or 2", filter, qos)
	}
	if h == nil {
		return fmt.Errorf("subscribe %s: no handler", filter)
	}
	b.mu.Lock()
	b.subs = append(b.subs, sub{filter, qos, h})
	view := append([]sub(nil), b.subs...)
	b.view.Store(&view)
	b.mu.Unlock()
	return nil
}

// filters returns the filters to subscribe to: pairwise disjoint, covering
// every registered one, each with the highest QoS asked for what it covers.
func (b *base) filters() ([]string, []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	fs, qs := make([]string, len(b.subs)), make([]byte, len(b.subs))
	for i, s := range b.subs {
		fs[i], qs[i] = s.filter, s.qos
	}
	return disjoint(fs, qs)
}

// received is called on the library's network goroutine. Without Direct it
// copies the message and leaves it for the dispatch goroutine without ever
// waiting; with Direct it hands it to the handlers there and then.
func (b *base) received(topic string, payload []byte, qos byte, retained bool) {
	b.nRecv.Add(1)
	if b.o.Direct {
		b.deliver(&Message{Topic: topic, Payload: payload, QoS: qos, Retained: retained})
		return
	}
	m := &Message{Topic: topic, Payload: append([]byte(nil), payload...), QoS: qos, Retained: retained}
	select {
	case b.msgs <- m:
	default:
		b.nDropped.Add(1)
	}
}

// deliver gives m to every handler whose filter matches it.
func (b *base) deliver(m *Message) {
	subs := b.view.Load()
	if subs == nil {
		return
	}
	for _, s := range *subs {
		if Match(s.filter, m.Topic) {
			s.h(m)
		}
	}
}

// begin starts a connection attempt's generation; the connection is
// reported up only if nothing was lost since.
func (b *base) begin() uint64 {
	b.stateMu.Lock()
	defer b.stateMu.Unlock()
	b.gen++
	return b.gen
}

// up marks the connection of generation gen up, with a new scope, and
// tells the dispatch goroutine; it reports false when that connection was
// lost meanwhile.
func (b *base) up(gen uint64, sessionPresent bool) bool {
	b.stateMu.Lock()
	defer b.stateMu.Unlock()
	if gen != b.gen {
		return false
	}
	ctx, cancel := context.WithCancel(context.Background())
	if old := b.scope.Swap(&scope{ctx, cancel}); old != nil {
		old.cancel()
	}
	b.present.Store(sessionPresent)
	b.upSince.Store(time.Now().UnixNano())
	b.connected.Store(true)
	b.nConn.Add(1)
	b.ctrl <- event{kind: evUp}
	return true
}

// current returns the scope of the connection that is up, or nil.
func (b *base) current() *scope {
	sc := b.scope.Load()
	if sc == nil || !b.connected.Load() || sc.ctx.Err() != nil {
		return nil
	}
	return sc
}

// down marks the connection down, ending its scope and counting a flap
// when it was short.
func (b *base) down(err error) {
	b.stateMu.Lock()
	b.gen++
	if sc := b.scope.Load(); sc != nil {
		sc.cancel()
	}
	was := b.connected.Swap(false)
	b.stateMu.Unlock()
	if !was {
		return
	}
	if time.Since(time.Unix(0, b.upSince.Load())) < stableAfter {
		if b.flaps.Load() < 30 {
			b.flaps.Add(1)
		}
	} else {
		b.flaps.Store(0)
	}
	b.ctrl <- event{kind: evDown, err: err}
}

func (b *base) connectError(err error) {
	b.nConnErr.Add(1)
	if b.o.OnConnectError != nil {
		b.o.OnConnectError(err)
	}
}

// startDispatch runs the dispatch goroutine until stopDispatch (or ctx).
func (b *base) startDispatch(ctx context.Context) {
	dctx, cancel := context.WithCancel(ctx)
	b.dispCancel = cancel
	go b.dispatch(dctx)
}

// stopDispatch delivers the events still waiting, then ends the dispatch
// goroutine.
func (b *base) stopDispatch(ctx context.Context) error {
	b.dispCancel()
	select {
	case <-b.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// dispatch delivers messages and connection events in order until ctx ends.
// Connection events are taken first when both wait.
func (b *base) dispatch(ctx context.Context) {
	defer close(b.done)
	handle := b.deliver
	for {
		select {
		case e := <-b.ctrl:
			b.control(e)
			continue
		default:
		}
		select {
		case e := <-b.ctrl:
			b.control(e)
		case m := <-b.msgs:
			handle(m)
		case <-ctx.Done():
			for {
				select {
				case e := <-b.ctrl:
					b.control(e)
				default:
					return
				}
			}
		}
	}
}

func (b *base) control(e event) {
	switch e.kind {
	case evUp:
		if b.o.OnUp != nil {
			b.o.OnUp()
		}
	case evDown:
		if b.o.OnDown != nil {
			b.o.OnDown(e.err)
		}
	}
}

// publishCtx applies the default publish timeout to a context without one.
func (b *base) publishCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, b.o.PublishTimeout)
}
