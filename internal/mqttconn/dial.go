package mqttconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

type netConn = net.Conn

// dialServer opens the network connection to one broker URL (canonical
// scheme, as ParseServer returns it) within ctx: TCP, TLS, or a WebSocket
// carrying MQTT in binary messages (subprotocol "mqtt").
func dialServer(ctx context.Context, u *url.URL, tlsCfg *tls.Config) (net.Conn, error) {
	cfg := func() *tls.Config {
		c := &tls.Config{}
		if tlsCfg != nil {
			c = tlsCfg.Clone()
		}
		if c.ServerName == "" {
			c.ServerName = u.Hostname()
		}
		return c
	}
	switch u.Scheme {
	case "mqtt", "tcp":
		var d net.Dialer
		return d.DialContext(ctx, "tcp", u.Host)
	case "mqtts", "ssl", "tls":
		d := tls.Dialer{Config: cfg()}
		nc, err := d.DialContext(ctx, "tcp", u.Host)
		if err != nil {
			return nil, err
		}
		return &lockedConn{Conn: nc}, nil
	case "ws", "wss":
		d := *websocket.DefaultDialer
		d.Subprotocols = []string{"mqtt"}
		if u.Scheme == "wss" {
			d.TLSClientConfig = cfg()
		}
		ws, _, err := d.DialContext(ctx, u.String(), nil)
		if err != nil {
			return nil, fmt.Errorf("websocket: %w", err)
		}
		return WebSocketConn(ws), nil
	}
	return nil, fmt.Errorf("scheme %q: want %s", u.Scheme, SchemeList)
}

// lockedConn serialises writes: paho.golang writes from several goroutines,
// and a TLS record must not be interleaved with another.
type lockedConn struct {
	net.Conn
	mu sync.Mutex
}

func (c *lockedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Conn.Write(p)
}

// WebSocketConn is a WebSocket as an MQTT byte stream, for both ends:
// MQTT packets may span binary messages and a message may hold several
// packets (MQTT 5, 6). A message of another type ends the stream with an
// error, as the protocol asks (MQTT-6.0.0-1). Reads and writes may run on
// two goroutines; each Write is one binary message.
func WebSocketConn(ws *websocket.Conn) net.Conn { return &wsConn{ws: ws} }

type wsConn struct {
	ws  *websocket.Conn
	rmu sync.Mutex
	r   io.Reader
	wmu sync.Mutex
}

func (c *wsConn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for {
		if c.r == nil {
			t, r, err := c.ws.NextReader()
			if err != nil {
				return 0, err
			}
			if t != websocket.BinaryMessage {
				return 0, fmt.Errorf("websocket: message of type %d, MQTT needs binary ones", t)
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) {
			c.r = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (c *wsConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *wsConn) Close() error                      { return c.ws.Close() }
func (c *wsConn) LocalAddr() net.Addr               { return c.ws.LocalAddr() }
func (c *wsConn) RemoteAddr() net.Addr              { return c.ws.RemoteAddr() }
func (c *wsConn) SetReadDeadline(t time.Time) error { return c.ws.SetReadDeadline(t) }

// SetWriteDeadline waits for a write in progress: gorilla's write
// deadline is not safe to change during a write (mochi sets deadlines on
// its reading goroutine while another writes).
func (c *wsConn) SetWriteDeadline(t time.Time) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.ws.SetWriteDeadline(t)
}

func (c *wsConn) SetDeadline(t time.Time) error {
	return errors.Join(c.SetReadDeadline(t), c.SetWriteDeadline(t))
}

// sniff keeps the first bytes the broker sent on one connection, so that
// a failed connection attempt can tell a refusal paho.golang cannot read.
type sniff struct {
	full  atomic.Bool // first is complete: reads no longer look
	mu    sync.Mutex
	first [4]byte
	n     int
}

func (s *sniff) note(p []byte) {
	if len(p) == 0 || s.full.Load() {
		return
	}
	s.mu.Lock()
	s.n += copy(s.first[s.n:], p)
	s.full.Store(s.n == len(s.first))
	s.mu.Unlock()
}

// sniffed wraps a connection's reads with s. A TCP connection stays a
// *net.TCPConn underneath, embedded, so that its writes keep going out as
// one writev per packet (net.Buffers): paho.golang writes a PUBLISH as
// four buffers, and a plain wrapper would cost four system calls.
func sniffed(nc net.Conn, s *sniff) net.Conn {
	if tc, ok := nc.(*net.TCPConn); ok {
		return &sniffTCP{TCPConn: tc, s: s}
	}
	return &sniffConn{Conn: nc, s: s}
}

type sniffTCP struct {
	*net.TCPConn
	s *sniff
}

func (c *sniffTCP) Read(p []byte) (int, error) {
	n, err := c.TCPConn.Read(p)
	c.s.note(p[:n])
	return n, err
}

type sniffConn struct {
	net.Conn
	s *sniff
}

func (c *sniffConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.s.note(p[:n])
	return n, err
}

// What a failed attempt's first bytes say.
const (
	noVerdict      = iota
	v3Refusal      // an MQTT 3.1.1 CONNACK refusing the protocol version
	closedSilently // nothing at all before the connection closed
)

func (c *sniff) verdict() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.n == 0:
		return closedSilently
	// An MQTT 5 CONNACK has at least three bytes after its header (flags,
	// reason code, property length); 3.1.1's has two, and return code 1 is
	// "unacceptable protocol level".
	case c.n == 4 && c.first[0] == 0x20 && c.first[1] == 2 && c.first[3] == 1:
		return v3Refusal
	}
	return noVerdict
}
