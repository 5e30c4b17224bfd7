package mqttconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
)

// conn5 is MQTT 5 on autopaho.
type conn5 struct {
	*base
	// cm is set once NewConnection returns, which may be after the first
	// connection is up and a user publishes from OnUp.
	cm     atomic.Pointer[autopaho.ConnectionManager]
	cancel context.CancelFunc
	// attempt is the socket of the latest connection attempt, read when
	// the attempt fails to tell why.
	attempt atomic.Pointer[sniff]
	// why is what the broker or the library said last about a connection
	// that is going down, for the error OnDown gets.
	whyMu sync.Mutex
	why   string
}

// pubs recycles the publish packets handed to autopaho, which keeps none
// of them after Publish returns.
var pubs = sync.Pool{New: func() any { return new(paho.Publish) }}

func (c *conn5) Start(ctx context.Context) error {
	o := &c.o
	var urls []*url.URL
	for _, s := range o.Servers {
		u, err := ParseServer(s)
		if err != nil {
			return err
		}
		urls = append(urls, u)
	}
	runCtx, cancel := context.WithCancel(ctx)
	c.cancel = cancel
	c.startDispatch(ctx)
	expiry := uint32(o.SessionExpiry / time.Second)
	ac := autopaho.ClientConfig{
		ServerUrls:                    urls,
		TlsCfg:                        o.TLS,
		KeepAlive:                     uint16(o.KeepAlive / time.Second),
		CleanStartOnInitialConnection: o.CleanStart,
		SessionExpiryInterval:         expiry,
		ConnectTimeout:                o.ConnectTimeout,
		ConnectUsername:               o.Username,
		ConnectPassword:               o.Password,
		AttemptConnection:             c.dial,
		ReconnectBackoff: func(n int) time.Duration {
			return Backoff(o.RetryMin, o.RetryMax, n, int(c.flaps.Load()))
		},
		OnConnectionUp: func(cm *autopaho.ConnectionManager, ack *paho.Connack) {
			// Subscribing waits for the broker: not on autopaho's goroutine.
			c.cm.Store(cm)
			c.setWhy("")
			go c.subscribeAll(runCtx, cm, c.begin(), ack != nil && ack.SessionPresent)
		},
		OnConnectionDown: func() bool {
			err := errors.New("connection to the MQTT broker lost")
			if w := c.takeWhy(); w != "" {
				err = fmt.Errorf("connection to the MQTT broker lost: %s", w)
			}
			c.down(err)
			return true
		},
		OnConnectError: func(err error) { c.connectError(c.explain(err)) },
		ClientConfig: paho.ClientConfig{
			ClientID:      o.ClientID,
			PacketTimeout: o.PublishTimeout,
			// Any packet from the broker proves the connection alive, not
			// only a PINGRESP that an incoming flood holds back.
			PingHandler: &livePinger{onFail: func(err error) { c.setWhy(err.Error()) }},
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
				p := pr.Packet
				c.received(p.Topic, p.Payload, p.QoS, p.Retain)
				return true, nil
			}},
			OnServerDisconnect: func(d *paho.Disconnect) {
				w := fmt.Sprintf("the broker disconnected with reason code %#x (%s)", d.ReasonCode, ReasonText(d.ReasonCode))
				if d.Properties != nil && d.Properties.ReasonString != "" {
					w += ": " + d.Properties.ReasonString
				}
				c.setWhy(w)
			},
			OnClientError: func(err error) { c.setWhy(err.Error()) },
		},
	}
	// The will and the clean-start flag are decided per CONNECT packet:
	// autopaho would otherwise clear Clean Start after the first connection
	// and keep one will for ever.
	var made atomic.Bool // a connection was made since Start
	ac.ConnectPacketBuilder = func(cp *paho.Connect, _ *url.URL) (*paho.Connect, error) {
		cp.CleanStart = o.CleanStart && (!made.Load() || !o.CleanStartOnce)
		cp.WillMessage, cp.WillProperties = nil, nil
		if o.Will != nil {
			if w := o.Will(); w != nil {
				cp.WillMessage = &paho.WillMessage{Topic: w.Topic, Payload: w.Payload, QoS: w.QoS, Retain: w.Retain}
				cp.WillProperties = &paho.WillProperties{}
			}
		}
		if o.ReceiveMaximum > 0 {
			if cp.Properties == nil {
				cp.Properties = &paho.ConnectProperties{}
			}
			rm := o.ReceiveMaximum
			cp.Properties.ReceiveMaximum = &rm
		}
		return cp, nil
	}
	// A clean start once is spent by the first connection that is made,
	// not by the first attempt.
	up := ac.OnConnectionUp
	ac.OnConnectionUp = func(cm *autopaho.ConnectionManager, ack *paho.Connack) {
		made.Store(true)
		up(cm, ack)
	}
	cm, err := autopaho.NewConnection(runCtx, ac)
	if err != nil {
		cancel()
		return fmt.Errorf("mqttconn: %w", err)
	}
	c.cm.Store(cm)
	return nil
}

func (c *conn5) setWhy(w string) {
	c.whyMu.Lock()
	if w == "" || c.why == "" {
		c.why = w
	}
	c.whyMu.Unlock()
}

func (c *conn5) takeWhy() string {
	c.whyMu.Lock()
	defer c.whyMu.Unlock()
	w := c.why
	c.why = ""
	return w
}

// explain adds to a failed attempt's error what the broker's first bytes
// say: an MQTT 3.1.1 CONNACK refusing the protocol version means a broker
// that does not speak MQTT 5, which paho.golang can only report as an
// unreadable packet.
func (c *conn5) explain(err error) error {
	sc := c.attempt.Load()
	if sc == nil {
		return err
	}
	switch sc.verdict() {
	case v3Refusal:
		return fmt.Errorf("%w (it answered the MQTT 5 CONNECT with an MQTT 3.1.1 CONNACK, return code 1: unacceptable protocol version)", ErrNotMQTT5)
	case closedSilently:
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, syscall.ECONNRESET) {
			return err // a timeout, not a refusal
		}
		return fmt.Errorf("%w: the broker closed the connection without a CONNACK (a broker that does not speak MQTT 5 may do so: then set protocol: 3.1.1)", err)
	}
	return err
}

// dial opens one attempt's connection, bounded by the connect timeout
// (autopaho hands the attempt only its outer context), and keeps its
// socket to read the broker's first bytes if the attempt fails.
func (c *conn5) dial(ctx context.Context, _ autopaho.ClientConfig, u *url.URL) (nc netConn, err error) {
	dctx, cancel := context.WithTimeout(ctx, c.o.ConnectTimeout)
	defer cancel()
	raw, err := dialServer(dctx, u, c.o.TLS)
	if err != nil {
		c.attempt.Store(nil)
		return nil, err
	}
	s := &sniff{}
	c.attempt.Store(s)
	return sniffed(raw, s), nil
}

func (c *conn5) subscribeAll(ctx context.Context, cm *autopaho.ConnectionManager, gen uint64, present bool) {
	fs, qs := c.filters()
	if len(fs) > 0 {
		sub := &paho.Subscribe{}
		for i, f := range fs {
			sub.Subscriptions = append(sub.Subscriptions, paho.SubscribeOptions{Topic: f, QoS: qs[i]})
		}
		sctx, cancel := context.WithTimeout(ctx, c.o.PublishTimeout)
		ack, err := cm.Subscribe(sctx, sub)
		cancel()
		if err != nil {
			// The connection dropped under us, or the broker did not answer:
			// the next connection tries again.
			c.connectError(fmt.Errorf("subscribe: %w", err))
			return
		}
		for i, rc := range ack.Reasons {
			if rc >= 0x80 && i < len(fs) {
				c.connectError(fmt.Errorf("subscribe %s: refused with reason code %#x (%s)", fs[i], rc, ReasonText(rc)))
			}
		}
	}
	c.up(gen, present)
}

func (c *conn5) Publish(ctx context.Context, topic string, payload []byte, qos byte, retain bool) error {
	cm := c.cm.Load()
	sc := c.current()
	if cm == nil || sc == nil {
		return ErrNotConnected
	}
	// The wait ends with the connection. A caller's context that can end
	// ends it too; one that cannot (Background) costs nothing more.
	pctx := sc.ctx
	if ctx.Done() != nil {
		var cancel context.CancelFunc
		pctx, cancel = context.WithCancel(ctx)
		defer cancel()
		stop := context.AfterFunc(sc.ctx, cancel)
		defer stop()
	}
	p := pubs.Get().(*paho.Publish)
	p.Topic, p.Payload, p.QoS, p.Retain = topic, payload, qos, retain
	resp, err := cm.Publish(pctx, p)
	*p = paho.Publish{}
	pubs.Put(p)
	switch {
	case err == nil && resp != nil && resp.ReasonCode >= 0x80:
		return &RefusedError{Topic: topic, ReasonCode: resp.ReasonCode}
	case err == nil:
		return nil
	case sc.ctx.Err() != nil:
		return ErrConnectionLost
	case errors.Is(err, autopaho.ConnectionDownError):
		return ErrNotConnected
	case resp != nil && resp.ReasonCode >= 0x80:
		return &RefusedError{Topic: topic, ReasonCode: resp.ReasonCode}
	}
	return fmt.Errorf("publish %s: %w", topic, err)
}

func (c *conn5) Subscribe(filter string, qos byte, h Handler) error {
	if err := c.addSub(filter, qos, h); err != nil {
		return err
	}
	if cm := c.cm.Load(); cm != nil && c.connected.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), c.o.PublishTimeout)
		defer cancel()
		if _, err := cm.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: qos}}}); err != nil {
			return fmt.Errorf("subscribe %s: %w", filter, err)
		}
	}
	return nil
}

func (c *conn5) Stop(ctx context.Context) error {
	cm := c.cm.Load()
	if cm == nil {
		return nil
	}
	var err error
	if c.connected.Load() {
		err = cm.Disconnect(ctx)
	}
	c.down(nil)
	c.cancel()
	select {
	case <-cm.Done():
	case <-ctx.Done():
		return errors.Join(err, ctx.Err())
	}
	return errors.Join(err, c.stopDispatch(ctx))
}

// terminate drops the network connection without a DISCONNECT, so the broker
// publishes the will; for tests.
func (c *conn5) terminate() {
	if cm := c.cm.Load(); cm != nil {
		cm.TerminateConnectionForTest()
	}
}
