package mqttconn

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync/atomic"
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
}

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
		ReconnectBackoff: func(n int) time.Duration {
			return Backoff(o.RetryMin, o.RetryMax, n, int(c.flaps.Load()))
		},
		OnConnectionUp: func(cm *autopaho.ConnectionManager, _ *paho.Connack) {
			// Subscribing waits for the broker: not on autopaho's goroutine.
			c.cm.Store(cm)
			go c.subscribeAll(runCtx, cm)
		},
		OnConnectionDown: func() bool {
			c.down(errors.New("connection to the MQTT broker lost"))
			return true
		},
		OnConnectError: c.connectError,
		ClientConfig: paho.ClientConfig{
			ClientID:      o.ClientID,
			PacketTimeout: o.PublishTimeout,
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
				p := pr.Packet
				c.received(p.Topic, p.Payload, p.QoS, p.Retain)
				return true, nil
			}},
		},
	}
	// The will and the clean-start flag are decided per CONNECT packet:
	// autopaho would otherwise clear Clean Start after the first connection
	// and keep one will for ever.
	ac.ConnectPacketBuilder = func(cp *paho.Connect, _ *url.URL) (*paho.Connect, error) {
		cp.CleanStart = o.CleanStart
		cp.WillMessage, cp.WillProperties = nil, nil
		if o.Will != nil {
			if w := o.Will(); w != nil {
				cp.WillMessage = &paho.WillMessage{Topic: w.Topic, Payload: w.Payload, QoS: w.QoS, Retain: w.Retain}
				cp.WillProperties = &paho.WillProperties{}
			}
		}
		return cp, nil
	}
	cm, err := autopaho.NewConnection(runCtx, ac)
	if err != nil {
		cancel()
		return fmt.Errorf("mqttconn: %w", err)
	}
	c.cm.Store(cm)
	return nil
}

func (c *conn5) subscribeAll(ctx context.Context, cm *autopaho.ConnectionManager) {
	fs := c.filters()
	if len(fs) > 0 {
		sub := &paho.Subscribe{}
		var names []string
		for f, q := range fs {
			sub.Subscriptions = append(sub.Subscriptions, paho.SubscribeOptions{Topic: f, QoS: q})
			names = append(names, f)
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
			if rc >= 0x80 && i < len(names) {
				c.connectError(fmt.Errorf("subscribe %s: refused with reason code %#x", names[i], rc))
			}
		}
	}
	c.up()
}

func (c *conn5) Publish(ctx context.Context, topic string, payload []byte, qos byte, retain bool) error {
	cm := c.cm.Load()
	if cm == nil || !c.connected.Load() {
		return ErrNotConnected
	}
	ctx, cancel := c.publishCtx(ctx)
	defer cancel()
	resp, err := cm.Publish(ctx, &paho.Publish{Topic: topic, Payload: payload, QoS: qos, Retain: retain})
	if err != nil {
		if errors.Is(err, autopaho.ConnectionDownError) {
			return ErrNotConnected
		}
		return fmt.Errorf("publish %s: %w", topic, err)
	}
	if resp != nil && resp.ReasonCode >= 0x80 {
		return fmt.Errorf("publish %s: refused with reason code %#x", topic, resp.ReasonCode)
	}
	return nil
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
