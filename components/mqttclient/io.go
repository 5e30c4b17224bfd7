package mqttclient

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/metronome-rt/metronome/components/mqttclient/payload"
	"github.com/metronome-rt/metronome/components/mqttclient/queue"
	"github.com/metronome-rt/metronome/internal/mqttconn"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// ioSide is everything that runs off the tick: the connection (Metronome's
// MQTT transport, internal/mqttconn, on MQTT 5 or 3.1.1), the receive
// handlers and the sender. The tick side reads its atomics and exchanges
// messages through the hand-off buffer and the topics' boxes.
type ioSide struct {
	cfg  *Config
	log  *zerolog.Logger
	subs []*subTopic
	devs []*device

	connected   atomic.Bool
	simulated   atomic.Uint64 // messages delivered by an application test (receive)
	epoch       atomic.Uint64 // connections made so far
	out         atomic.Uint64
	decodeErrs  atomic.Uint64
	dropped     atomic.Uint64
	queued      atomic.Int64
	rttNs       atomic.Int64
	sendFailing atomic.Bool

	handoff *runtime.Queue[queue.Message] // the ticks hand outgoing messages to the sender
	wake    chan struct{}                 // tick -> sender: something to send
	up      chan struct{}                 // connection up -> sender
	store   *queue.Store
	conn    mqttconn.Conn
	cancel  context.CancelFunc
	done    chan struct{}

	errMu      sync.Mutex
	lastErr    string
	lastLog    time.Time
	suppressed int

	decodeLog sampler // payloads that did not decode
}

// sampler lets one line through, then at most one per interval, each saying
// how many were held back since the last: a flood of bad payloads costs a
// line every few seconds, not one per message.
type sampler struct {
	mu       sync.Mutex
	last     time.Time
	held     int
	interval time.Duration
}

// allow reports whether to log now, and how many were held back before.
func (s *sampler) allow(now time.Time) (bool, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.last.IsZero() && now.Sub(s.last) < s.interval {
		s.held++
		return false, 0
	}
	n := s.held
	s.last, s.held = now, 0
	return true, n
}

// defaultReceiveMaximum is MQTT 5's Receive Maximum when the
// configuration leaves it out: enough to keep a link busy, small enough to
// bound paho's receive buffer. MQTT 3.1.1 accepts only this value.
const defaultReceiveMaximum = 64

// decodeLogInterval is the most often a decode warning is logged.
const decodeLogInterval = 10 * time.Second

// poisonStrikes is how many connections in a row may drop while one QoS
// 1/2 message waits for its acknowledgement before the message is taken
// for one the broker refuses: an MQTT 3.1.1 broker has no way to refuse a
// message but to close the connection (mochi does so), and such a message
// would otherwise stay at the front of the queue for ever, blocking every
// message behind it.
const poisonStrikes = 3

func (io *ioSide) wakeSender() {
	select {
	case io.wake <- struct{}{}:
	default:
	}
}

// received returns how many messages the connection has received (or an
// application test has delivered).
func (io *ioSide) received() uint64 {
	n := io.simulated.Load()
	if io.conn != nil {
		n += io.conn.Stats().Received
	}
	return n
}

// isRefused reports whether the broker refused a publication.
func isRefused(err error) bool {
	var r *mqttconn.RefusedError
	return errors.As(err, &r)
}

// stableID derives a client ID from the host name and the component path,
// so that an empty client_id names the same session on every start.
func stableID(path string) string {
	host, _ := os.Hostname()
	sum := sha256.Sum256([]byte(host + "/" + path))
	return "metronome-" + hex.EncodeToString(sum[:6])
}

// Start connects in the background; an unreachable broker is a degraded
// state shown by Connected and the alarm, not an error. Only configuration
// that cannot work (an unreadable password file or certificate, a queue
// directory that cannot be written) fails Start.
func (c *client) Start(ctx context.Context) error {
	io := c.io
	cfg := &c.cfg
	clientID := cfg.ClientID
	if clientID == "" {
		clientID = stableID(c.path)
	}
	o, err := cfg.Options(clientID)
	if err != nil {
		return err
	}
	proto := o.Protocol
	o.CleanStart = cfg.CleanStart
	o.PublishTimeout = cfg.PublishTimeout
	// The handlers only decode into the topics' boxes: they run on the
	// library's receive goroutine, before the acknowledgement, so an
	// incoming flood waits at the broker instead of queueing here.
	o.Direct = true
	o.OnUp, o.OnDown = io.onUp, io.onDown
	o.OnConnectError = func(err error) { io.noteErr("connect", err) }
	if proto == mqttconn.V5 {
		// Receive Maximum bounds the QoS 1/2 messages the broker sends ahead
		// of our acknowledgements, and paho sizes its receive buffer by it.
		o.ReceiveMaximum = uint16(cfg.ReceiveMaximum)
		o.SessionExpiry = cfg.SessionExpiry
		o.CleanStartOnce = true
	}
	if st := cfg.Status; st.Topic != "" {
		will := mqttconn.Will{Topic: st.Topic, Payload: []byte(st.Offline), QoS: byte(st.QoS), Retain: true}
		o.Will = func() *mqttconn.Will { w := will; return &w }
	}
	conn, err := mqttconn.New(o)
	if err != nil {
		return err
	}
	// Devices first: a message on an availability topic updates the device
	// before the topics naming it take their values.
	for _, d := range c.devs {
		if err := conn.Subscribe(d.topic, 1, io.deviceHandler(d)); err != nil {
			return err
		}
	}
	for _, s := range c.subs {
		if err := conn.Subscribe(s.filter, s.qos, io.subHandler(s)); err != nil {
			return err
		}
	}
	store, err := queue.Open(queue.Options{Limit: cfg.Queue.Limit, Dir: cfg.Queue.Dir, Name: safeName(clientID), Sync: cfg.Queue.Sync})
	if err != nil {
		return err
	}
	io.store = store
	io.queued.Store(int64(store.Len()))
	io.decodeLog.interval = decodeLogInterval
	io.wake = make(chan struct{}, 1)
	io.up = make(chan struct{}, 1)
	io.done = make(chan struct{})
	io.conn = conn
	runCtx, cancel := context.WithCancel(ctx)
	io.cancel = cancel
	if err := conn.Start(runCtx); err != nil {
		cancel()
		store.Close()
		return fmt.Errorf("connection: %w", err)
	}
	go io.send(runCtx)
	return nil
}

// Stop sends what is queued while the connection lasts (bounded by ctx),
// publishes the offline status and disconnects. What is still queued stays
// in the queue's log, when it has one, for the next start.
func (c *client) Stop(ctx context.Context) error {
	io := c.io
	if io.conn == nil {
		return nil
	}
	for io.connected.Load() && (io.queued.Load() > 0 || io.handoff.Len() > 0) && ctx.Err() == nil {
		io.wakeSender()
		time.Sleep(2 * time.Millisecond)
	}
	if st := c.cfg.Status; st.Topic != "" && io.connected.Load() {
		if err := io.conn.Publish(ctx, st.Topic, []byte(st.Offline), byte(st.QoS), true); err != nil {
			io.noteErr("offline status", err)
		}
	}
	// The connection first, with a DISCONNECT so that the broker discards
	// the will; then the sender, whose publication in flight has ended.
	err := io.conn.Stop(ctx)
	io.cancel()
	select {
	case <-io.done:
	case <-ctx.Done():
		return errors.Join(err, ctx.Err())
	}
	return errors.Join(err, io.store.Close())
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 || r == ':' {
			return '_'
		}
		return r
	}, s)
}

// noteErr logs an error once per distinct text, and at most one a second,
// so a broker that refuses every attempt or a flood of bad payloads does not
// flood the log; what was left out is counted in the next line.
func (io *ioSide) noteErr(what string, err error) {
	msg := what + ": " + err.Error()
	now := time.Now()
	io.errMu.Lock()
	if msg == io.lastErr || now.Sub(io.lastLog) < time.Second {
		if msg != io.lastErr {
			io.suppressed++
		}
		io.errMu.Unlock()
		return
	}
	n := io.suppressed
	io.lastErr, io.lastLog, io.suppressed = msg, now, 0
	io.errMu.Unlock()
	ev := io.log.Warn()
	if n > 0 {
		ev = ev.Int("suppressed", n)
	}
	ev.Msg(msg)
}

// onUp runs once a connection is up and its subscriptions are made.
func (io *ioSide) onUp() {
	io.connected.Store(true)
	io.epoch.Add(1)
	io.errMu.Lock()
	io.lastErr = ""
	io.errMu.Unlock()
	io.log.Info().Bool("session_present", io.conn.Stats().SessionPresent).Msg("connected to the MQTT broker")
	select {
	case io.up <- struct{}{}:
	default:
	}
	// The birth message comes from the configuration on every connection.
	if st := io.cfg.Status; st.Topic != "" {
		go func() {
			start := time.Now()
			if err := io.conn.Publish(context.Background(), st.Topic, []byte(st.Online), byte(st.QoS), true); err != nil {
				io.noteErr("online status", err)
			} else if st.QoS > 0 {
				io.rttNs.Store(int64(time.Since(start)))
			}
		}()
	}
}

// onDown runs when the connection is lost (err says why) or closed by Stop.
func (io *ioSide) onDown(err error) {
	io.connected.Store(false)
	if err != nil {
		io.log.Warn().Err(err).Msg("connection to the MQTT broker lost; reconnecting")
	}
}

// deviceHandler reads a device's availability. Like subHandler it runs on
// the connection's receive goroutine and never waits.
func (io *ioSide) deviceHandler(d *device) mqttconn.Handler {
	return func(m *mqttconn.Message) {
		if !d.receive(m.Payload) {
			io.decodeErrs.Add(1)
			io.warnDecode(m.Topic, len(m.Payload), fmt.Errorf("availability of %s: want %q or %q, got %s", d.name, d.onText, d.offText, payload.Quote(string(m.Payload))))
		}
	}
}

// subHandler decodes the messages of one subscribe topic and leaves each
// in the topic's box; it never waits for the tick, so keep-alives and acks
// go on whatever the application does.
func (io *ioSide) subHandler(s *subTopic) mqttconn.Handler {
	return func(p *mqttconn.Message) {
		m := &rxMsg{topic: p.Topic, vals: make([]signals.Value, len(s.outs)), bad: make([]bool, len(s.outs)), retained: p.Retained}
		meta, err := s.codec.Decode(p.Payload, m.vals, m.bad)
		m.meta = meta
		s.nCount.Add(1)
		s.nBytes.Add(uint64(len(p.Payload)))
		// In the box before it is counted as a decode error: a tick that
		// sees the count finds the message too.
		s.box.Put(m)
		if err != nil {
			io.decodeErrs.Add(1)
			io.warnDecode(p.Topic, len(p.Payload), err)
		}
	}
}

// receive hands one message to every device and subscribe topic whose
// filter matches, as the connection's handlers would: how an application
// test (Deliver) gives the client a message without a broker. It reports
// whether any matched.
func (io *ioSide) receive(topic string, payload []byte, retained bool) bool {
	io.simulated.Add(1)
	m := &mqttconn.Message{Topic: topic, Payload: payload, Retained: retained}
	matched := false
	for _, d := range io.devs {
		if d.topic == topic {
			matched = true
			io.deviceHandler(d)(m)
		}
	}
	for _, s := range io.subs {
		if mqttconn.Match(s.filter, topic) {
			matched = true
			io.subHandler(s)(m)
		}
	}
	return matched
}

// warnDecode logs a payload that did not decode, sampled: the error quotes
// at most a short prefix of the payload (payload.Quote), and after one line
// the next comes no sooner than decodeLogInterval, with the count of those
// held back meanwhile.
func (io *ioSide) warnDecode(topic string, size int, err error) {
	ok, held := io.decodeLog.allow(time.Now())
	if !ok {
		return
	}
	ev := io.log.Warn().Str("topic", payload.Short(topic)).Int("bytes", size)
	if held > 0 {
		ev = ev.Int("suppressed", held)
	}
	ev.Err(err).Msg("payload did not decode; the signals it was for have quality bad input")
}

// send moves messages from the hand-off buffer into the queue and sends the
// queue's front, one at a time, in order: a QoS 1/2 message leaves the queue
// only when the broker acknowledged it, so none is lost in an outage and
// order is kept across reconnections.
func (io *ioSide) send(ctx context.Context) {
	defer close(io.done)
	take := func(m *queue.Message) {
		ok, err := io.store.Push(*m)
		if err != nil {
			io.noteErr("queue", err)
		}
		if !ok {
			io.dropped.Add(1)
		}
	}
	strikes := 0 // connections lost in a row while the front message waited for its acknowledgement
	drop := func(m *queue.Message, err error) {
		io.dropped.Add(1)
		io.noteErr("publish "+m.Topic, err)
		if err := io.store.Pop(); err != nil {
			io.noteErr("queue", err)
		}
		strikes = 0
	}
	for ctx.Err() == nil {
		io.handoff.Drain(take)
		io.queued.Store(int64(io.store.Len()))
		m, ok := io.store.Front()
		if !ok {
			select {
			case <-io.wake:
			case <-ctx.Done():
			}
			continue
		}
		if !io.connected.Load() {
			select {
			case <-io.wake:
			case <-io.up:
			case <-ctx.Done():
			}
			continue
		}
		start := time.Now()
		err := io.conn.Publish(context.Background(), m.Topic, m.Payload, m.QoS, m.Retain)
		switch {
		case err == nil:
			if m.QoS > 0 {
				io.rttNs.Store(int64(time.Since(start)))
			}
			io.sendFailing.Store(false)
			io.out.Add(1)
			strikes = 0
			if err := io.store.Pop(); err != nil {
				io.noteErr("queue", err)
			}
		case isRefused(err):
			// Sending it again would be refused again.
			drop(m, err)
		case ctx.Err() != nil:
			return
		case errors.Is(err, mqttconn.ErrConnectionLost) && m.QoS > 0 && strikes+1 >= poisonStrikes:
			drop(m, fmt.Errorf("the broker closed the connection each of the %d times this message was sent (it refuses it; an MQTT 3.1.1 broker can say so no other way): dropped", poisonStrikes))
		default:
			// The connection dropped or the acknowledgement timed out: keep
			// the message and send it again on the next connection.
			if errors.Is(err, mqttconn.ErrConnectionLost) && m.QoS > 0 {
				strikes++
			}
			io.sendFailing.Store(io.connected.Load())
			io.noteErr("publish", err)
			select {
			case <-io.up:
			case <-time.After(50 * time.Millisecond):
			case <-ctx.Done():
			}
		}
	}
}
