package mqttclient

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	"github.com/rs/zerolog"

	"github.com/metronome-rt/metronome/components/mqttclient/payload"
	"github.com/metronome-rt/metronome/components/mqttclient/queue"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// ioSide is everything that runs off the tick: the connection, the
// receive handler and the sender. The tick side reads its atomics and
// exchanges messages through the hand-off buffer and the topics' boxes.
type ioSide struct {
	cfg  *Config
	log  *zerolog.Logger
	subs []*subTopic
	devs []*device

	connected   atomic.Bool
	epoch       atomic.Uint64 // connections made so far
	in, out     atomic.Uint64
	decodeErrs  atomic.Uint64
	dropped     atomic.Uint64
	queued      atomic.Int64
	rttNs       atomic.Int64
	sendFailing atomic.Bool
	upSince     atomic.Int64 // Unix ns of the last connection
	flaps       atomic.Int32 // connections in a row that dropped before stableAfter

	handoff *runtime.Queue[queue.Message] // the ticks hand outgoing messages to the sender
	wake    chan struct{}                 // tick -> sender: something to send
	up      chan struct{}                 // connection up -> sender
	store   *queue.Store
	cm      *autopaho.ConnectionManager
	filters []string
	fqos    []byte
	runCtx  context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	// conn is cancelled when the connection it belongs to drops, so a
	// publish waiting for an acknowledgement on a dead connection returns at
	// once instead of after publish_timeout.
	conn atomic.Pointer[connScope]
	pub  paho.Publish // reused by the sender for every message

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

// decodeLogInterval is the most often a decode warning is logged.
const decodeLogInterval = 10 * time.Second

// connScope is the lifetime of one connection.
type connScope struct {
	ctx    context.Context
	cancel context.CancelFunc
}

func (io *ioSide) wakeSender() {
	select {
	case io.wake <- struct{}{}:
	default:
	}
}

// stableID derives a client ID from the host name and the component path,
// so that an empty client_id names the same session on every start.
func stableID(path string) string {
	host, _ := os.Hostname()
	sum := sha256.Sum256([]byte(host + "/" + path))
	return "metronome-" + hex.EncodeToString(sum[:6])
}

// backoff returns the wait before connection attempt n after a drop: none
// for the first, then RetryMin doubling up to RetryMax, each with up to 50%
// jitter so a fleet restarted together does not reconnect in step.
// autopaho counts attempts from zero after every drop; flaps() adds the
// connections that lasted less than stableAfter, so a broker that accepts
// and then drops us at once (a client ID taken over by a twin, an ACL
// kick) gets the growing wait too instead of a reconnect storm.
func backoff(min, max time.Duration, flaps func() int) func(int) time.Duration {
	return func(n int) time.Duration {
		n += flaps()
		if n <= 0 {
			return 0
		}
		d := min
		for i := 1; i < n && d < max; i++ {
			d *= 2
		}
		d = time.Duration(float64(d) * (0.5 + rand.Float64()/2))
		if d > max {
			d = max
		}
		return d
	}
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
	password := []byte(cfg.Password)
	if cfg.PasswordFile != "" {
		b, err := os.ReadFile(cfg.PasswordFile)
		if err != nil {
			return fmt.Errorf("password_file: %w", err)
		}
		password = []byte(strings.TrimRight(string(b), "\r\n"))
	}
	var urls []*url.URL
	for _, s := range cfg.Servers {
		u, perr := parseServer(s)
		if perr != nil {
			return perr
		}
		urls = append(urls, u)
	}
	tlsCfg, err := cfg.TLS.build()
	if err != nil {
		return err
	}
	store, err := queue.Open(queue.Options{Limit: cfg.Queue.Limit, Dir: cfg.Queue.Dir, Name: safeName(clientID), Sync: cfg.Queue.Sync})
	if err != nil {
		return err
	}
	io.store = store
	io.queued.Store(int64(store.Len()))
	var filters []string
	var qos []byte
	for _, s := range c.subs {
		filters, qos = append(filters, s.filter), append(qos, s.qos)
	}
	for _, d := range c.devs {
		filters, qos = append(filters, d.topic), append(qos, 1)
	}
	io.decodeLog.interval = decodeLogInterval
	io.filters, io.fqos = brokerFilters(filters, qos)
	io.wake = make(chan struct{}, 1)
	io.up = make(chan struct{}, 1)
	io.done = make(chan struct{})

	ac := autopaho.ClientConfig{
		ServerUrls:                    urls,
		TlsCfg:                        tlsCfg,
		KeepAlive:                     uint16(cfg.KeepAlive / time.Second),
		CleanStartOnInitialConnection: cfg.CleanStart,
		SessionExpiryInterval:         uint32(cfg.SessionExpiry / time.Second),
		ReconnectBackoff:              backoff(cfg.RetryMin, cfg.RetryMax, func() int { return int(io.flaps.Load()) }),
		ConnectTimeout:                cfg.ConnectTimeout,
		ConnectUsername:               cfg.Username,
		ConnectPassword:               password,
		OnConnectionUp:                io.onUp,
		OnConnectionDown:              io.onDown,
		OnConnectError:                io.onConnectError,
		ClientConfig: paho.ClientConfig{
			ClientID:          clientID,
			PacketTimeout:     cfg.PublishTimeout,
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){io.onPublish},
			OnClientError:     func(err error) { io.noteErr("client error", err) },
			OnServerDisconnect: func(d *paho.Disconnect) {
				io.noteErr("broker disconnected", fmt.Errorf("reason code %#x", d.ReasonCode))
			},
		},
	}
	// Receive Maximum bounds the QoS 1/2 messages the broker sends ahead of
	// our acknowledgements, and paho sizes its receive buffer by it, so a
	// flood costs bounded memory here and waits at the broker instead.
	rm := uint16(cfg.ReceiveMaximum)
	ac.ConnectPacketBuilder = func(cp *paho.Connect, _ *url.URL) (*paho.Connect, error) {
		if cp.Properties == nil {
			cp.Properties = &paho.ConnectProperties{}
		}
		cp.Properties.ReceiveMaximum = &rm
		return cp, nil
	}
	if st := cfg.Status; st.Topic != "" {
		ac.WillMessage = &paho.WillMessage{Topic: st.Topic, Payload: []byte(st.Offline), QoS: byte(st.QoS), Retain: true}
	}
	runCtx, cancel := context.WithCancel(ctx)
	io.runCtx, io.cancel = runCtx, cancel
	cm, err := autopaho.NewConnection(runCtx, ac)
	if err != nil {
		cancel()
		store.Close()
		return fmt.Errorf("connection: %w", err)
	}
	io.cm = cm
	go io.send(runCtx)
	return nil
}

// Stop sends what is queued while the connection lasts (bounded by ctx),
// publishes the offline status and disconnects. What is still queued stays
// in the queue's log, when it has one, for the next start.
func (c *client) Stop(ctx context.Context) error {
	io := c.io
	if io.cm == nil {
		return nil
	}
	for io.connected.Load() && (io.queued.Load() > 0 || io.handoff.Len() > 0) && ctx.Err() == nil {
		io.wakeSender()
		time.Sleep(2 * time.Millisecond)
	}
	if st := c.cfg.Status; st.Topic != "" && io.connected.Load() {
		if _, err := io.cm.Publish(ctx, &paho.Publish{Topic: st.Topic, Payload: []byte(st.Offline), QoS: byte(st.QoS), Retain: true}); err != nil {
			io.noteErr("offline status", err)
		}
	}
	var err error
	if io.connected.Load() {
		err = io.cm.Disconnect(ctx)
	}
	io.cancel()
	select {
	case <-io.done:
	case <-ctx.Done():
		return errors.Join(err, ctx.Err())
	}
	select {
	case <-io.cm.Done():
	case <-ctx.Done():
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

func (t *TLSConfig) build() (*tls.Config, error) {
	c := &tls.Config{ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls: ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls: ca_file %s: no PEM certificate in it", t.CAFile)
		}
		c.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls: cert_file/key_file: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
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

// stableAfter is how long a connection must last before a drop counts as
// an ordinary outage rather than a flap.
const stableAfter = 10 * time.Second

func (io *ioSide) onUp(cm *autopaho.ConnectionManager, ack *paho.Connack) {
	io.upSince.Store(time.Now().UnixNano())
	cctx, ccancel := context.WithCancel(io.runCtx)
	if old := io.conn.Swap(&connScope{cctx, ccancel}); old != nil {
		old.cancel()
	}
	io.connected.Store(true)
	io.epoch.Add(1)
	io.errMu.Lock()
	io.lastErr = ""
	io.errMu.Unlock()
	io.log.Info().Bool("session_present", ack.SessionPresent).Msg("connected to the MQTT broker")
	select {
	case io.up <- struct{}{}:
	default:
	}
	// Subscriptions and the birth message come from the configuration on
	// every connection; a broker that lost the session gets them back.
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), io.cfg.PublishTimeout)
		defer cancel()
		if len(io.filters) > 0 {
			sub := &paho.Subscribe{}
			for i, f := range io.filters {
				sub.Subscriptions = append(sub.Subscriptions, paho.SubscribeOptions{Topic: f, QoS: io.fqos[i]})
			}
			ack, err := cm.Subscribe(ctx, sub)
			if err != nil {
				io.noteErr("subscribe", err)
			} else {
				for i, rc := range ack.Reasons {
					if rc >= 0x80 && i < len(io.filters) {
						io.noteErr("subscribe "+io.filters[i], fmt.Errorf("refused with reason code %#x", rc))
					}
				}
			}
		}
		if st := io.cfg.Status; st.Topic != "" {
			start := time.Now()
			if _, err := cm.Publish(ctx, &paho.Publish{Topic: st.Topic, Payload: []byte(st.Online), QoS: byte(st.QoS), Retain: true}); err != nil {
				io.noteErr("online status", err)
			} else if st.QoS > 0 {
				io.rttNs.Store(int64(time.Since(start)))
			}
		}
	}()
}

func (io *ioSide) onDown() bool {
	io.connected.Store(false)
	if sc := io.conn.Load(); sc != nil {
		sc.cancel()
	}
	if time.Since(time.Unix(0, io.upSince.Load())) < stableAfter {
		if io.flaps.Load() < 30 {
			io.flaps.Add(1)
		}
	} else {
		io.flaps.Store(0)
	}
	io.log.Warn().Msg("connection to the MQTT broker lost; reconnecting")
	return true
}

func (io *ioSide) onConnectError(err error) { io.noteErr("connect", err) }

// onPublish runs on paho's receive goroutine for every incoming message. It
// decodes for each configured topic that matches and leaves the result in
// the topic's box; it never waits for the tick, so keep-alives and acks go
// on whatever the application does.
func (io *ioSide) onPublish(pr paho.PublishReceived) (bool, error) {
	p := pr.Packet
	io.receive(p.Topic, p.Payload, p.Retain)
	return true, nil
}

// receive takes one message, from the broker or from a test (Deliver); it
// reports whether a device or a subscription matched its topic.
func (io *ioSide) receive(topic string, p []byte, retained bool) bool {
	io.in.Add(1)
	matched := false
	for _, d := range io.devs {
		if d.topic != topic {
			continue
		}
		matched = true
		if !d.receive(p) {
			io.decodeErrs.Add(1)
			io.warnDecode(topic, len(p), fmt.Errorf("availability of %s: want %q or %q, got %s", d.name, d.onText, d.offText, payload.Quote(string(p))))
		}
	}
	for _, s := range io.subs {
		if !match(s.filter, topic) {
			continue
		}
		matched = true
		m := &rxMsg{topic: topic, vals: make([]signals.Value, len(s.outs)), bad: make([]bool, len(s.outs)), retained: retained}
		var err error
		if m.meta, err = s.codec.Decode(p, m.vals, m.bad); err != nil {
			io.decodeErrs.Add(1)
			io.warnDecode(topic, len(p), err)
		}
		s.nCount.Add(1)
		s.nBytes.Add(uint64(len(p)))
		s.box.Put(m)
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
		sc := io.conn.Load()
		if !io.connected.Load() || sc == nil || sc.ctx.Err() != nil {
			select {
			case <-io.wake:
			case <-io.up:
			case <-ctx.Done():
			}
			continue
		}
		p := &io.pub
		p.Topic, p.Payload, p.QoS, p.Retain = m.Topic, m.Payload, m.QoS, m.Retain
		start := time.Now()
		resp, err := io.cm.Publish(sc.ctx, p)
		switch {
		case err == nil && (resp == nil || resp.ReasonCode < 0x80):
			if m.QoS > 0 {
				io.rttNs.Store(int64(time.Since(start)))
			}
			io.sendFailing.Store(false)
			io.out.Add(1)
			if err := io.store.Pop(); err != nil {
				io.noteErr("queue", err)
			}
		case resp != nil && resp.ReasonCode >= 0x80:
			// The broker refused this message (not authorised, quota, ...):
			// sending it again would be refused again.
			io.dropped.Add(1)
			io.noteErr("publish "+m.Topic, fmt.Errorf("refused with reason code %#x", resp.ReasonCode))
			io.store.Pop()
		case ctx.Err() != nil:
			return
		default:
			// The connection dropped or the acknowledgement timed out: keep
			// the message and send it again on the next connection.
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
