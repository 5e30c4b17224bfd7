// Package view serves a running application to people and tools: a web
// page, a WebSocket API that the page and the terminal client (`runtime
// watch`, `get`, `set`, `ack`, `force`, `unforce`) share, Prometheus
// metrics, and health checks.
//
// It reads the application only through the runtime's seams: values
// through the Tap (the ticks never wait for a viewer), writes through the
// components' mailboxes, alarms and audit through the event history. A slow
// client costs the ticks nothing: the Tap coalesces values, each connection
// sends at most at the rate it asked for, a client that cannot keep up is
// throttled (and told so) and one whose writes stall is dropped; all of it
// is counted in the metrics.
package view

import (
	"context"
	"crypto/tls"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/metronome-rt/metronome/internal/passwd"
	"github.com/metronome-rt/metronome/runtime"
)

//go:embed web
var webFS embed.FS

// Options configure a Server beyond the application's `view:` setting.
type Options struct {
	// Log receives connection, login and write records.
	Log zerolog.Logger
	// Version is shown in the hello frame and the build-info metric.
	Version string
	// Ready, if set, says whether the application is ready (/readyz);
	// besides it, the server is ready once every rate group reported that
	// it ticks.
	Ready func() error
	// WriteTimeout bounds how long a write waits for its component's
	// tick (default 2s).
	WriteTimeout time.Duration
	// SendTimeout is how long one frame may take to reach a client before
	// the client is dropped (default 5s).
	SendTimeout time.Duration
	// LoginBackoff is how long logins from an address, or for a user, are
	// refused unchecked after passwd.FreeFailures failed ones; it doubles
	// with each further failure up to LoginBackoffMax, and a successful
	// login clears it (defaults 1s and 1m, as the embedded broker's).
	LoginBackoff, LoginBackoffMax time.Duration
}

// Server is the live view of one application.
type Server struct {
	app    *runtime.App
	cfg    runtime.ViewConfig
	opts   Options
	log    zerolog.Logger
	guard  *passwd.Guard // nil without users
	st     *Structure
	stat   *statusIDs
	reg    *prometheus.Registry
	http   *http.Server
	ln     net.Listener
	done   chan struct{}
	detach func()

	mu    sync.Mutex
	conns map[*conn]struct{}
	wg    sync.WaitGroup

	// counters for /metrics
	clients         atomic.Int64
	dropped         atomic.Uint64 // clients dropped for not reading
	throttled       atomic.Uint64 // throttle episodes
	skipped         atomic.Uint64 // deltas coalesced into later ones
	badFrames       atomic.Uint64
	loginFails      atomic.Uint64 // passwords checked and wrong, or unknown users
	loginsThrottled atomic.Uint64 // logins refused unchecked (throttled or busy)
	writes          atomic.Uint64
	refused         atomic.Uint64
}

// New prepares the server: it reads the users' password files and builds
// the application's structure. It does not listen yet.
func New(app *runtime.App, cfg runtime.ViewConfig, opts Options) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("view: %w", err)
	}
	if app.Tap() == nil {
		return nil, errors.New("view: the application was not scheduled")
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 2 * time.Second
	}
	if opts.SendTimeout <= 0 {
		opts.SendTimeout = 5 * time.Second
	}
	if opts.LoginBackoff <= 0 {
		opts.LoginBackoff = time.Second
	}
	if opts.LoginBackoffMax < opts.LoginBackoff {
		opts.LoginBackoffMax = max(time.Minute, opts.LoginBackoff)
	}
	s := &Server{app: app, cfg: cfg, opts: opts, log: opts.Log,
		conns: map[*conn]struct{}{}, done: make(chan struct{})}
	if len(cfg.Users) > 0 {
		// Passwords are checked as the embedded broker checks them: the
		// same work for unknown users, on low-priority threads, throttled
		// after failures.
		g, err := passwd.NewGuard(cfg.Users, passwd.GuardOptions{Backoff: opts.LoginBackoff, BackoffMax: opts.LoginBackoffMax})
		if err != nil {
			return nil, fmt.Errorf("view: %w", err)
		}
		s.guard = g
	}
	s.st = buildStructure(app)
	s.stat = newStatusIDs(app)
	s.reg = prometheus.NewRegistry()
	s.reg.MustRegister(&collector{s: s})
	return s, nil
}

// Handler returns the server's routes: / (the page), /api (WebSocket),
// /metrics, /healthz, /readyz.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	web, _ := fs.Sub(webFS, "web")
	files := http.FileServer(http.FS(web))
	mux.Handle("/", noCache(files))
	mux.HandleFunc("/api", s.serveWS)
	mux.Handle("/metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{ErrorLog: nil}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := s.ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return securityHeaders(mux)
}

// ready is the caller's readiness and then the application's own: every
// rate group has reported that it ticks.
func (s *Server) ready() error {
	if s.opts.Ready != nil {
		if err := s.opts.Ready(); err != nil {
			return err
		}
	}
	m := s.statusValues()
	for _, g := range s.stat.groups {
		if v, ok := num(m, g.wakes); !ok || v == 0 {
			return fmt.Errorf("rate group %s has not reported ticking yet", g.name)
		}
	}
	return nil
}

func noCache(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}

// securityHeaders keeps the page from being framed or loading anything
// from elsewhere: it is self-contained, so nothing else is needed.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("X-Frame-Options", "DENY")
		h.ServeHTTP(w, r)
	})
}

// Start listens on the configured address and serves until Close.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Addr())
	if err != nil {
		return fmt.Errorf("view: listen on %s: %w", s.cfg.Addr(), err)
	}
	if s.cfg.TLS != nil {
		cert, err := tls.LoadX509KeyPair(s.cfg.TLS.CertFile, s.cfg.TLS.KeyFile)
		if err != nil {
			ln.Close()
			return fmt.Errorf("view: tls: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	s.ln = ln
	// Observe from now on, so that a client's first snapshot and the
	// first scrape already hold current values.
	s.detach = s.app.Tap().Attach()
	s.http = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go s.http.Serve(ln)
	ev := s.log.Info().Str("url", s.URL()).Bool("writes", s.cfg.Writes)
	if !runtime.IsLoopbackHost(hostOf(ln.Addr().String())) && s.cfg.TLS == nil {
		ev = s.log.Warn().Str("url", s.URL()).Bool("writes", s.cfg.Writes).Str("note", "plain http off loopback (insecure: true)")
	}
	ev.Msg("live view")
	return nil
}

func hostOf(addr string) string {
	h, _, _ := net.SplitHostPort(addr)
	return h
}

// Addr returns the address the server listens on (with the port chosen
// when the setting asked for port 0).
func (s *Server) Addr() string {
	if s.ln == nil {
		return s.cfg.Addr()
	}
	return s.ln.Addr().String()
}

// URL returns the page's address.
func (s *Server) URL() string {
	scheme := "http"
	if s.cfg.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + s.Addr() + "/"
}

// Close stops accepting, closes every connection and waits for them, by
// ctx's deadline.
func (s *Server) Close(ctx context.Context) error {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	var err error
	if s.http != nil {
		err = s.http.Shutdown(ctx)
	}
	s.mu.Lock()
	for c := range s.conns {
		c.ws.Close()
	}
	s.mu.Unlock()
	if s.detach != nil {
		s.detach()
	}
	if s.guard != nil {
		s.guard.Close() // logins waiting for a check end now
	}
	wait := make(chan struct{})
	go func() { s.wg.Wait(); close(wait) }()
	select {
	case <-wait:
	case <-ctx.Done():
		return ctx.Err()
	}
	return err
}

// sendBuffer bounds what the kernel holds for one client that does not
// read: past it the server's writes block, the client is throttled and,
// if it still does not read, dropped; the memory a slow client costs stays
// bounded whatever the system's TCP tuning.
const sendBuffer = 64 << 10

func limitSendBuffer(c net.Conn) {
	if t, ok := c.(*tls.Conn); ok {
		c = t.NetConn()
	}
	if t, ok := c.(*net.TCPConn); ok {
		t.SetWriteBuffer(sendBuffer)
	}
}

var upgrader = websocket.Upgrader{
	ReadBufferSize:  4096,
	WriteBufferSize: 16384,
	// The default CheckOrigin refuses a page from another site, so a page
	// elsewhere cannot drive writes with a logged-in user's browser.
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered already
	}
	limitSendBuffer(ws.NetConn())
	c := newConn(s, ws, r.RemoteAddr)
	s.mu.Lock()
	select {
	case <-s.done:
		s.mu.Unlock()
		ws.Close()
		return
	default:
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.clients.Add(1)
	defer func() {
		s.clients.Add(-1)
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.wg.Done()
	}()
	c.run()
}
