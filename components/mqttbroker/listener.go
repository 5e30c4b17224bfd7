package mqttbroker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/rs/zerolog"

	"github.com/metronome-rt/metronome/internal/mqttconn"
)

// listener is one configured socket, handed to mochi as a
// listeners.Listener. It owns binding (with retries while the application
// runs), TLS, the WebSocket origin check, the packet guard on every
// connection, and a recover() around mochi's per-connection handler.
type listener struct {
	id    string
	cfg   ListenerConfig
	retry time.Duration
	b     *Broker
	log   zerolog.Logger

	mu     sync.Mutex
	ln     net.Listener // what Serve accepts from (a chanListener for ws)
	raw    net.Listener // the bound socket
	http   *http.Server
	addr   string
	closed bool
	conns  map[*guardConn]struct{}
	done   chan struct{}

	failure atomic.Pointer[string] // why the listener is down; nil when up
}

func newListener(b *Broker, i int, cfg ListenerConfig, retry time.Duration) *listener {
	id := fmt.Sprintf("%s-%d", cfg.Type, i)
	return &listener{
		id: id, cfg: cfg, retry: retry, b: b,
		log:   b.log.With().Str("listener", id).Logger(),
		conns: map[*guardConn]struct{}{},
		done:  make(chan struct{}),
		addr:  net.JoinHostPort(cfg.host(), strconv.Itoa(cfg.Port)),
	}
}

// ID identifies the listener to mochi.
func (l *listener) ID() string { return l.id }

// Protocol is the listener type (tcp, tls, ws, wss).
func (l *listener) Protocol() string { return l.cfg.Type }

// Address returns the bound address (with the real port after binding port
// 0), or the configured one while the listener is down.
func (l *listener) Address() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.addr
}

// Init is a no-op: binding happens in open so that it can be retried.
func (l *listener) Init(*slog.Logger) error { return nil }

// Failure returns why the listener is down, or "" when it is up.
func (l *listener) Failure() string {
	if p := l.failure.Load(); p != nil {
		return *p
	}
	return ""
}

func (l *listener) fail(err error) {
	s := fmt.Sprintf("listener %s on %s: %v", l.id, l.addr, err)
	l.failure.Store(&s)
	msg := "listener " + l.id + " failed" // retried every listener_retry: sampled
	if ev := l.b.logs.at(zerolog.ErrorLevel, msg); ev != nil {
		ev.Err(err).Str("listener", l.id).Str("address", l.addr).Msg(msg)
	}
}

// open loads certificates and binds the socket.
func (l *listener) open() error {
	var tcfg *tls.Config
	if l.cfg.TLS != nil {
		var err error
		if tcfg, err = loadTLS(l.cfg.TLS); err != nil {
			return err
		}
	}
	raw, err := net.Listen("tcp", net.JoinHostPort(l.cfg.host(), strconv.Itoa(l.cfg.Port)))
	if err != nil {
		return err
	}
	var ln net.Listener = raw
	if tcfg != nil {
		ln = tls.NewListener(raw, tcfg)
	}
	var srv *http.Server
	if l.cfg.Type == TypeWS || l.cfg.Type == TypeWSS {
		ch := newChanListener(raw.Addr())
		srv = &http.Server{
			Handler:           l.wsHandler(ch),
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          nil,
		}
		go func(inner net.Listener) { _ = srv.Serve(inner) }(ln)
		ln = ch
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		_ = raw.Close()
		if srv != nil {
			_ = srv.Close()
		}
		return errors.New("listener closed")
	}
	l.ln, l.raw, l.http = ln, raw, srv
	l.addr = raw.Addr().String()
	l.failure.Store(nil)
	l.log.Info().Str("address", l.addr).Msg("listening")
	return nil
}

// loadTLS builds a server TLS configuration from PEM files.
func loadTLS(c *TLSConfig) (*tls.Config, error) {
	cert, err := mqttconn.KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pool, err := mqttconn.CAPool(c.CAFile)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
		if c.RequireClientCert {
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	return cfg, nil
}

// Serve accepts clients until Close; while the socket is not bound (start
// failed, or it broke) it retries every listener_retry.
func (l *listener) Serve(establish listeners.EstablishFn) {
	var backoff time.Duration
	for {
		l.mu.Lock()
		ln, closed := l.ln, l.closed
		l.mu.Unlock()
		if closed {
			return
		}
		if ln == nil {
			select {
			case <-l.done:
				return
			case <-time.After(l.retry):
			}
			if err := l.open(); err != nil {
				l.fail(err)
			}
			continue
		}
		conn, err := ln.Accept()
		if err != nil {
			l.mu.Lock()
			closed = l.closed
			l.mu.Unlock()
			if closed {
				return
			}
			// Out of file descriptors and the like: report, back off and
			// keep the socket, as net/http does; clients already connected
			// are not affected.
			if backoff == 0 {
				backoff = 5 * time.Millisecond
				l.fail(fmt.Errorf("accept: %w", err))
			} else {
				backoff = min(2*backoff, time.Second)
			}
			select {
			case <-l.done:
				return
			case <-time.After(backoff):
			}
			continue
		}
		if backoff != 0 {
			backoff = 0
			l.failure.Store(nil)
			l.log.Info().Msg("accepting again")
		}
		l.handle(conn, establish)
	}
}

// handle runs mochi's connection handler for one client behind the guard.
func (l *listener) handle(conn net.Conn, establish listeners.EstablishFn) {
	if limit := l.b.cfg.MaxConnections; limit > 0 && l.b.conns.Load() >= int64(limit) {
		l.b.connsOver.Add(1)
		l.log.Debug().Str("remote", conn.RemoteAddr().String()).Int("max_connections", limit).Msg("connection refused: max_connections reached")
		_ = conn.Close()
		return
	}
	st := &l.b.guard
	g := newGuardConn(conn, l.b.cfg.MaxPacketSize, l.b.cfg.ReadBufferSize, st, l.badPacket)
	if !l.b.enter() {
		_ = conn.Close()
		return
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		l.b.srv.Listeners.ClientsWg.Done()
		_ = conn.Close()
		return
	}
	l.conns[g] = struct{}{}
	l.mu.Unlock()
	l.b.conns.Add(1)
	// mochi sets no deadline before CONNECT, so a socket that never speaks
	// would hold a goroutine and buffers forever. mochi replaces this
	// deadline with the keep-alive one once the client has connected.
	_ = conn.SetDeadline(time.Now().Add(l.b.cfg.ConnectTimeout))
	go func() {
		defer l.b.srv.Listeners.ClientsWg.Done()
		defer func() {
			if r := recover(); r != nil {
				st.panics.Add(1)
				const msg = "recovered a panic in the client handler; connection closed"
				if ev := l.b.logs.at(zerolog.ErrorLevel, msg); ev != nil {
					ev.Str("listener", l.id).Str("remote", conn.RemoteAddr().String()).Str("panic", clipTo(fmt.Sprint(r), 4*clipLen)).Msg(msg)
				}
			}
			_ = g.Close()
			l.mu.Lock()
			delete(l.conns, g)
			l.mu.Unlock()
			l.b.conns.Add(-1)
		}()
		err := establish(l.id, g)
		if err != nil {
			const msg = "client connection ended"
			var ev *zerolog.Event
			if quietError(err) {
				ev = l.log.Debug()
			} else {
				ev = l.b.logs.at(zerolog.InfoLevel, msg)
			}
			if ev != nil {
				ev.Str("listener", l.id).Str("remote", conn.RemoteAddr().String()).Str("error", clipTo(err.Error(), 4*clipLen)).Msg(msg)
			}
		}
	}()
}

func (l *listener) badPacket(c net.Conn, reason error) {
	const msg = "malformed packet; connection closed"
	if ev := l.b.logs.warn(msg); ev != nil {
		ev.Str("listener", l.id).Str("remote", c.RemoteAddr().String()).Str("error", clipTo(reason.Error(), 4*clipLen)).Msg(msg)
	}
}

// closeSockets closes the bound sockets; l.mu is held.
func (l *listener) closeSockets() {
	if l.http != nil {
		_ = l.http.Close()
	}
	if l.ln != nil {
		_ = l.ln.Close()
	}
	if l.raw != nil {
		_ = l.raw.Close()
	}
	l.ln, l.raw, l.http = nil, nil, nil
}

// Close stops accepting and asks mochi to disconnect this listener's
// clients.
func (l *listener) Close(closeClients listeners.CloseFn) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	close(l.done)
	l.closeSockets()
	l.mu.Unlock()
	closeClients(l.id)
}

// dropConns force-closes every client socket; used when mochi's Close
// does not finish in time.
func (l *listener) dropConns() {
	l.mu.Lock()
	cs := make([]*guardConn, 0, len(l.conns))
	for c := range l.conns {
		cs = append(cs, c)
	}
	l.mu.Unlock()
	for _, c := range cs {
		_ = c.Close()
	}
}

// quietError reports whether a connection error is routine (the peer went
// away, a probe closed before CONNECT) and belongs at debug level.
func quietError(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, errRefused) || errors.Is(err, context.Canceled) || isNetOpError(err)
}

// isNetOpError reports socket errors (reset, timeout, broken pipe): the
// peer or the network went away, which is routine for a broker.
func isNetOpError(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne)
}

// chanListener is a net.Listener fed by the WebSocket HTTP handler.
type chanListener struct {
	addr net.Addr
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, ch: make(chan net.Conn), done: make(chan struct{})}
}

func (c *chanListener) Accept() (net.Conn, error) {
	select {
	case conn := <-c.ch:
		return conn, nil
	case <-c.done:
		return nil, net.ErrClosed
	}
}

func (c *chanListener) Close() error {
	c.once.Do(func() { close(c.done) })
	return nil
}

func (c *chanListener) Addr() net.Addr { return c.addr }

// wsHandler upgrades allowed requests to WebSocket connections carrying
// MQTT. Unlike mochi's own WebSocket listener, it checks the Origin header
// against allowed_origins, so a web page from another site cannot use a
// visitor's browser to reach the broker.
func (l *listener) wsHandler(ch *chanListener) http.Handler {
	allowed := map[string]bool{}
	anyOrigin := false
	for _, o := range l.cfg.AllowedOrigins {
		if o == "*" {
			anyOrigin = true
		}
		allowed[o] = true
	}
	up := &websocket.Upgrader{
		Subprotocols:    []string{"mqtt", "mqttv3.1"},
		ReadBufferSize:  l.b.cfg.ReadBufferSize,
		WriteBufferSize: l.b.cfg.WriteBufferSize,
		CheckOrigin: func(r *http.Request) bool {
			o := r.Header.Get("Origin")
			return o == "" || anyOrigin || allowed[o]
		},
	}
	path := l.cfg.path()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path {
			http.NotFound(w, r)
			return
		}
		if !up.CheckOrigin(r) {
			l.b.wsRefused.Add(1)
			const msg = "WebSocket origin not allowed"
			if ev := l.b.logs.warn(msg); ev != nil {
				ev.Str("listener", l.id).Str("remote", r.RemoteAddr).Str("origin", clip(r.Header.Get("Origin"))).Msg(msg)
			}
			http.Error(w, "origin not allowed", http.StatusForbidden)
			return
		}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			l.log.Debug().Err(err).Str("remote", r.RemoteAddr).Msg("WebSocket upgrade failed")
			return
		}
		select {
		case ch.ch <- mqttconn.WebSocketConn(c):
		case <-ch.done:
			_ = c.Close()
		}
	})
}
