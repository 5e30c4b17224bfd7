package mqttconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// conn311 is MQTT 3.1.1 on eclipse/paho.mqtt.golang. The library's own
// reconnection is off: this loop makes a fresh client for every CONNECT, so
// that each CONNECT carries the will of its moment, servers are tried in
// turn with Metronome's backoff, each attempt has a hard time limit,
// subscriptions are made on every connection, and nothing is left in the
// library's store to be resent out of order.
//
// Messages are routed with OrderMatters(true): the library then calls the
// handler on its router goroutine in arrival order. With OrderMatters(false)
// it starts one goroutine per message, which reorders them (a Sparkplug
// consumer would see sequence gaps that are not there). The well-known
// hazard of OrderMatters(true), a handler that blocks and stalls the client
// (paho.mqtt.golang#427, #474), does not apply: the handler only copies the
// message into the bounded inbound queue and never waits.
type conn311 struct {
	*base
	cancel context.CancelFunc
	loop   chan struct{}

	mu     sync.Mutex
	client mqtt.Client
	netc   net.Conn
	lost   chan error
}

func (c *conn311) Start(ctx context.Context) error {
	var urls []*url.URL
	for _, s := range c.o.Servers {
		u, err := ParseServer(s)
		if err != nil {
			return err
		}
		urls = append(urls, u)
	}
	runCtx, cancel := context.WithCancel(ctx)
	c.cancel = cancel
	c.loop = make(chan struct{})
	c.startDispatch(ctx)
	go c.run(runCtx, urls)
	return nil
}

// run connects, waits for the connection to end and reconnects, until ctx
// ends. A round of attempts starts with the server after the one whose
// connection was lost (or whose subscriptions failed), so a node that just
// died is tried last rather than first: behind a black hole it would cost a
// whole connect timeout on every round.
func (c *conn311) run(ctx context.Context, urls []*url.URL) {
	defer close(c.loop)
	attempt, start := 0, 0
	for ctx.Err() == nil {
		if d := Backoff(c.o.RetryMin, c.o.RetryMax, attempt, int(c.flaps.Load())); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return
			}
		}
		attempt++
		cl, lost, at, present, err := c.connectAny(ctx, urls, start)
		if err != nil {
			continue
		}
		gen := c.begin()
		attempt = 0
		start = (at + 1) % len(urls)
		if !c.subscribeAll(cl) {
			cl.Disconnect(0)
			continue
		}
		c.up(gen, present)
		select {
		case err := <-lost:
			c.down(err)
		case <-ctx.Done():
			return
		}
	}
}

// connectAny tries every server once, from start on in list order, with a
// fresh client each, and returns the index of the one that answered.
func (c *conn311) connectAny(ctx context.Context, urls []*url.URL, start int) (mqtt.Client, chan error, int, bool, error) {
	var last error
	for k := range urls {
		if ctx.Err() != nil {
			return nil, nil, 0, false, ctx.Err()
		}
		i := (start + k) % len(urls)
		u := urls[i]
		cl, lost, present, err := c.connect(ctx, u)
		if err == nil {
			return cl, lost, i, present, nil
		}
		if ctx.Err() != nil {
			return nil, nil, 0, false, ctx.Err()
		}
		last = fmt.Errorf("%s: %w", u.Redacted(), err)
		c.connectError(last)
	}
	return nil, nil, 0, false, last
}

// connect makes one connection attempt. ConnectTimeout bounds all of it,
// from the dial through the TLS handshake to the CONNACK: the library
// starts its own handshake deadline only after the socket is open and
// knows no deadline for a TLS handshake, so the attempt keeps its own
// clock and closes the socket when it runs out (or ctx ends). The
// library's connect goroutine then fails at once instead of waiting on a
// broker that accepted the socket but does not answer; a NATS node holds a
// CONNECT while JetStream has no leader for its MQTT streams, for example.
func (c *conn311) connect(ctx context.Context, u *url.URL) (mqtt.Client, chan error, bool, error) {
	o := &c.o
	deadline := time.Now().Add(o.ConnectTimeout)
	lost := make(chan error, 1)
	// The socket of this attempt, once dialled; closing it ends the attempt.
	var (
		sockMu sync.Mutex
		sock   net.Conn
		closed bool
	)
	abort := func() {
		sockMu.Lock()
		defer sockMu.Unlock()
		closed = true
		if sock != nil {
			sock.Close()
		}
	}
	// On TCP and TLS the keep-alive is a livePinger's, which takes any
	// packet from the broker as proof of life; the library's own gives up
	// when a PINGRESP is late, even while an incoming flood holds it back
	// behind seconds of messages, so its timeout is off there. Over a
	// WebSocket, which the library dials itself, its keep-alive stays.
	pinger := &livePinger{}
	pingCtx, stopPing := context.WithCancel(ctx)
	var pinged net.Conn // the connection the pinger writes to, once dialled
	pingTimeout := min2(o.KeepAlive, 10*time.Second)
	if tcpScheme(u.Scheme) {
		pingTimeout = 1 << 62
	}
	opts := mqtt.NewClientOptions().
		AddBroker(brokerURL(u)).
		SetClientID(o.ClientID).
		SetProtocolVersion(4).
		SetCleanSession(o.CleanStart).
		SetKeepAlive(o.KeepAlive).
		SetPingTimeout(pingTimeout).
		SetConnectTimeout(o.ConnectTimeout).
		SetWriteTimeout(o.PublishTimeout).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetResumeSubs(false).
		SetOrderMatters(true).
		SetMessageChannelDepth(uint(o.InboundQueue)).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			c.received(m.Topic(), m.Payload(), m.Qos(), m.Retained())
		}).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			stopPing()
			select {
			case lost <- fmt.Errorf("connection to the MQTT broker lost: %w", err):
			default:
			}
		})
	if o.Username != "" {
		opts.SetUsername(o.Username)
	}
	if len(o.Password) > 0 {
		opts.SetPassword(string(o.Password))
	}
	if o.TLS != nil {
		opts.SetTLSConfig(o.TLS)
	}
	if o.Will != nil {
		if w := o.Will(); w != nil {
			opts.SetBinaryWill(w.Topic, w.Payload, w.QoS, w.Retain)
		}
	}
	if tcpScheme(u.Scheme) {
		// Dial here to keep the socket: the attempt closes it when its time
		// is up, and a test can drop it the way a network fault would (the
		// broker then publishes the will).
		tlsCfg := o.TLS
		opts.SetCustomOpenConnectionFn(func(uri *url.URL, _ mqtt.ClientOptions) (net.Conn, error) {
			dctx, cancel := context.WithDeadline(ctx, deadline)
			defer cancel()
			d := net.Dialer{}
			nc, err := d.DialContext(dctx, "tcp", uri.Host)
			if err != nil {
				return nil, err
			}
			sockMu.Lock()
			sock = nc
			gone := closed
			sockMu.Unlock()
			if gone {
				nc.Close()
				return nil, errors.New("connection attempt abandoned")
			}
			if uri.Scheme != "tcp" && uri.Scheme != "mqtt" {
				cfg := &tls.Config{}
				if tlsCfg != nil {
					cfg = tlsCfg.Clone()
				}
				if cfg.ServerName == "" {
					cfg.ServerName = uri.Hostname()
				}
				tc := tls.Client(nc, cfg)
				if err := tc.HandshakeContext(dctx); err != nil {
					nc.Close()
					return nil, err
				}
				nc = tc
			}
			nc = &pingedConn{Conn: nc, p: pinger}
			sockMu.Lock()
			pinged = nc
			sockMu.Unlock()
			return nc, nil
		})
	}
	cl := mqtt.NewClient(opts)
	tok := cl.Connect()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case <-tok.Done():
	case <-timer.C:
		stopPing()
		abort()
		cl.Disconnect(0)
		return nil, nil, false, fmt.Errorf("no CONNACK within the connect timeout %v", o.ConnectTimeout)
	case <-ctx.Done():
		stopPing()
		abort()
		cl.Disconnect(0)
		return nil, nil, false, ctx.Err()
	}
	if err := tok.Error(); err != nil {
		stopPing()
		abort()
		return nil, nil, false, err
	}
	present := false
	if ct, ok := tok.(*mqtt.ConnectToken); ok {
		present = ct.SessionPresent()
	}
	sockMu.Lock()
	nc, pc := sock, pinged
	sockMu.Unlock()
	if pc != nil {
		go func() {
			err := pinger.Run(pingCtx, pc, uint16(o.KeepAlive/time.Second))
			if err == nil {
				return
			}
			select {
			case lost <- fmt.Errorf("connection to the MQTT broker lost: %w", err):
			default:
			}
			// Failing the reads makes the library drop the connection.
			_ = nc.SetReadDeadline(time.Unix(1, 0))
		}()
	} else {
		stopPing()
	}
	c.mu.Lock()
	c.client, c.lost, c.netc = cl, lost, nc
	c.mu.Unlock()
	return cl, lost, present, nil
}

func tcpScheme(s string) bool {
	switch s {
	case "mqtt", "tcp", "mqtts", "ssl", "tls":
		return true
	}
	return false
}

// brokerURL spells a server URL the way paho.mqtt.golang expects.
func brokerURL(u *url.URL) string {
	v := *u
	switch v.Scheme {
	case "mqtt":
		v.Scheme = "tcp"
	case "mqtts", "tls":
		v.Scheme = "ssl"
	}
	return v.String()
}

func (c *conn311) subscribeAll(cl mqtt.Client) bool {
	list, qs := c.filters()
	if len(list) == 0 {
		return true
	}
	fs := make(map[string]byte, len(list))
	for i, f := range list {
		fs[f] = qs[i]
	}
	tok := cl.SubscribeMultiple(fs, nil)
	if !tok.WaitTimeout(c.o.PublishTimeout) {
		c.connectError(errors.New("subscribe: no answer from the broker"))
		return false
	}
	if err := tok.Error(); err != nil {
		c.connectError(fmt.Errorf("subscribe: %w", err))
		return false
	}
	if st, ok := tok.(*mqtt.SubscribeToken); ok {
		for f, rc := range st.Result() {
			if rc >= 0x80 {
				c.connectError(fmt.Errorf("subscribe %s: refused with return code %#x", f, rc))
			}
		}
	}
	return true
}

func (c *conn311) client311() mqtt.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.client
}

// Publish waits for the acknowledgement, the end of the connection, ctx,
// or PublishTimeout when ctx has no deadline. The library keeps the
// payload until the packet is written (and acknowledged), so it gets a
// copy: the caller may reuse its buffer as soon as Publish returns, even
// when it returns early.
func (c *conn311) Publish(ctx context.Context, topic string, payload []byte, qos byte, retain bool) error {
	cl := c.client311()
	sc := c.current()
	if cl == nil || sc == nil {
		return ErrNotConnected
	}
	ctx, cancel := c.publishCtx(ctx)
	defer cancel()
	tok := cl.Publish(topic, qos, retain, append([]byte(nil), payload...))
	select {
	case <-tok.Done():
	case <-sc.ctx.Done():
		return ErrConnectionLost
	case <-ctx.Done():
		return fmt.Errorf("publish %s: %w", topic, ctx.Err())
	}
	if err := tok.Error(); err != nil {
		if sc.ctx.Err() != nil || !c.connected.Load() || !cl.IsConnectionOpen() {
			return ErrConnectionLost
		}
		return fmt.Errorf("publish %s: %w", topic, err)
	}
	return nil
}

func (c *conn311) Subscribe(filter string, qos byte, h Handler) error {
	if err := c.addSub(filter, qos, h); err != nil {
		return err
	}
	if cl := c.client311(); cl != nil && c.connected.Load() {
		tok := cl.Subscribe(filter, qos, nil)
		if !tok.WaitTimeout(c.o.PublishTimeout) {
			return fmt.Errorf("subscribe %s: no answer from the broker", filter)
		}
		return tok.Error()
	}
	return nil
}

func (c *conn311) Stop(ctx context.Context) error {
	if c.cancel == nil {
		return nil
	}
	c.cancel()
	select {
	case <-c.loop:
	case <-ctx.Done():
		return ctx.Err()
	}
	if cl := c.client311(); cl != nil {
		// Sends DISCONNECT, so the broker discards the will.
		cl.Disconnect(100)
	}
	c.down(nil)
	return c.stopDispatch(ctx)
}

// terminate fails the socket's reads: the library then drops the
// connection as lost and closes the socket without a DISCONNECT. Closing
// the socket here instead would look deliberate to the library (it ignores
// "use of closed network connection"), and only the keep-alive would notice.
func (c *conn311) terminate() {
	c.mu.Lock()
	nc := c.netc
	c.mu.Unlock()
	if nc != nil {
		_ = nc.SetReadDeadline(time.Unix(1, 0))
	}
}

// DropForTest closes the network connection without a DISCONNECT, as a
// network fault would: the broker publishes the will and the connection
// reconnects by itself. For tests of what peers see.
func DropForTest(c Conn) {
	switch x := c.(type) {
	case *conn5:
		x.terminate()
	case *conn311:
		x.terminate()
	}
}
