package mqttconn

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho/log"
)

// livePinger is the keep-alive of both protocols. paho.golang's default
// pinger (and paho.mqtt.golang's, after its ping timeout) drops
// a connection whose PINGRESP is late by one keep-alive, even while other
// packets keep arriving. Under an incoming flood that a Direct handler
// cannot keep up with, the socket buffers between broker and client hold
// seconds of messages, the broker's PINGRESP waits behind them, and the
// default pinger drops a connection that is visibly alive (every message
// proves it); the reconnection then loses what the buffers held and turns
// the signals comm lost for nothing. This pinger takes any packet from the
// broker as proof of life: it fails only when nothing at all came for a
// keep-alive after a PINGREQ, which is what a dead broker or a half-open
// link looks like. It still sends a PINGREQ whenever nothing was sent for
// a keep-alive (the broker drops a client silent for 1.5 keep-alives) and
// whenever nothing was received for one (to notice a half-open link).
type livePinger struct {
	// Monotonic times (since pingEpoch) of the last packet sent and
	// received, of the last PINGREQ sent (0: none on this connection).
	sent, recv, ping atomic.Int64
	writing          atomic.Bool // a PINGREQ write has not returned yet
	running          atomic.Bool
	// onFail, if set, hears why the keep-alive gave up before Run
	// returns, and so before the library closes the connection and its
	// reads fail with errors that would hide the reason.
	onFail func(error)
}

var pingEpoch = time.Now()

func pingNow() int64 { return int64(time.Since(pingEpoch)) }

// minPingWake keeps the pinger's loop from spinning on due times that are
// a hair in the future.
const minPingWake = 10 * time.Millisecond

// Run keeps the connection alive until ctx ends or the broker is silent
// for a keep-alive after a PINGREQ.
func (p *livePinger) Run(ctx context.Context, conn net.Conn, keepAlive uint16) error {
	if keepAlive == 0 {
		return nil
	}
	if conn == nil {
		return fmt.Errorf("keep-alive: no connection")
	}
	if !p.running.CompareAndSwap(false, true) {
		return fmt.Errorf("keep-alive: already running")
	}
	defer p.running.Store(false)
	k := int64(time.Duration(keepAlive) * time.Second)
	// The CONNECT was just sent and its CONNACK just received.
	now := pingNow()
	p.sent.Store(now)
	p.recv.Store(now)
	p.ping.Store(0)
	errCh := make(chan error, 1)
	timer := time.NewTimer(time.Duration(k))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errCh:
			return err
		case <-timer.C:
		}
		now := pingNow()
		sent, recv, ping := p.sent.Load(), p.recv.Load(), p.ping.Load()
		outstanding := ping != 0 && recv < ping
		if outstanding && now-ping >= k {
			err := fmt.Errorf("keep-alive: nothing from the broker for %v after a PINGREQ", time.Duration(now-ping).Round(time.Millisecond))
			if p.onFail != nil {
				p.onFail(err)
			}
			return err
		}
		due := sent + k
		if !outstanding {
			due = min(due, recv+k)
		}
		if now >= due && p.writing.CompareAndSwap(false, true) {
			p.ping.Store(now)
			p.sent.Store(now)
			outstanding, ping, due = true, now, now+k
			go func() {
				// A write may wait behind a large publication on a slow
				// link; closing the connection ends it.
				defer p.writing.Store(false)
				if _, err := packets.NewControlPacket(packets.PINGREQ).WriteTo(conn); err != nil {
					select {
					case errCh <- fmt.Errorf("keep-alive: sending PINGREQ: %w", err):
					default:
					}
				}
			}()
		}
		next := due
		if outstanding {
			next = min(next, ping+k)
		}
		timer.Reset(max(time.Duration(next-now), minPingWake))
	}
}

func (p *livePinger) PacketSent()         { p.sent.Store(pingNow()) }
func (p *livePinger) PacketReceived()     { p.recv.Store(pingNow()) }
func (p *livePinger) PingResp()           {}
func (p *livePinger) SetDebug(log.Logger) {}

// pingedConn tells a livePinger of the bytes that cross a connection, for
// MQTT 3.1.1, whose library has no pinger to replace: the livePinger runs
// beside the library's own keep-alive, whose ping timeout is then turned
// off. Each of the library's packets is one Write, and a net.Conn keeps
// each Write whole, so a PINGREQ never lands inside another packet.
type pingedConn struct {
	net.Conn
	p *livePinger
}

func (c *pingedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.p.PacketReceived()
	}
	return n, err
}

func (c *pingedConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if n > 0 {
		c.p.PacketSent()
	}
	return n, err
}
