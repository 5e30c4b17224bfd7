package system

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/rs/zerolog"

	"github.com/metronome-rt/metronome/internal/mqttconn"
	"github.com/metronome-rt/metronome/link"
	"github.com/metronome-rt/metronome/link/sparkplug"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// Options tune a Runner.
type Options struct {
	// Log receives the link's events.
	Log zerolog.Logger
	// Delivered, if set, is called after every sample is put into a remote
	// input, on the host's goroutine; it must not block. Benchmarks measure
	// the transport's latency there.
	Delivered func(in *runtime.RemoteInput, v signals.Value, q signals.Quality, stamp int64)
}

// Runner is an application's link to its system while it runs: the edge
// node that publishes its exports and applies writes from other
// applications, and the host that feeds its remote inputs, follows its
// peers and writes to them.
type Runner struct {
	app  *runtime.App
	cfg  *Config
	o    Options
	st   *state
	edge *link.EdgeNode
	host *link.Host

	tap      *runtime.Tap
	detach   func()
	unwake   func()
	wake     chan struct{}
	ids      []int32
	ver      uint64
	buf      []runtime.Sample
	exp      []exported
	exportOf []int32 // by tap ID: export index, or -1
	writeOf  []int32 // by tap ID: write index, or -1

	// Writes from outside wait until their new value is handed to the edge
	// node, so it is published no later than the write's result.
	fed     []atomic.Uint64 // by export: samples handed over
	waiting atomic.Int32
	fedMu   sync.Mutex
	fedCh   chan struct{}

	remote   []*runtime.RemoteInput
	wantPeer []int    // by want: peer index
	wantErr  []string // by want: why its value cannot be used; host goroutine
	peerIdx  map[string]int

	edgeUp, hostUp atomic.Bool
	writers        []*writer
	cancel         context.CancelFunc
	wg             sync.WaitGroup
	stopOnce       sync.Once
}

// Start links a started application to its system: nil, nil when the
// application has no system: section. Call it after App.Start (so that
// parameters and signals exist and I/O components run) and Stop before
// App.Stop, so that the application's death (NDEATH) is announced while
// its values are still current.
func Start(ctx context.Context, app *runtime.App, o Options) (*Runner, error) {
	cfg := Of(app)
	if cfg == nil {
		return nil, nil
	}
	tap := app.Tap()
	if tap == nil {
		return nil, errors.New("system: the application is not scheduled")
	}
	r := &Runner{app: app, cfg: cfg, o: o, tap: tap, wake: make(chan struct{}, 1), fedCh: make(chan struct{}), peerIdx: map[string]int{}}
	if n, ok := app.Find(ComponentName); ok {
		if c, ok := n.Component().(*component); ok {
			r.st = c.st
		}
	}
	if r.st == nil {
		r.st = &state{peers: make([]peerState, len(cfg.Peers)), writes: make([]writeState, len(cfg.Writes))}
	}
	for i, p := range cfg.Peers {
		r.peerIdx[p] = i
		r.st.peers[i].online.Store(stDown)
	}
	if err := r.prepare(); err != nil {
		return nil, err
	}
	if err := r.build(); err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.cancel = cancel
	for _, w := range r.writers {
		r.wg.Add(1)
		go func() { defer r.wg.Done(); w.loop(wctx) }()
	}
	r.detach = tap.Attach()
	r.unwake = tap.Wake(r.wake)
	r.st.connected.Store(stDown)
	if r.host != nil {
		// The host's connection lives until Stop; ctx bounds the start only.
		if err := r.host.Start(context.WithoutCancel(ctx)); err != nil {
			r.Stop(ctx)
			return nil, err
		}
	}
	if err := r.edge.Start(ctx); err != nil {
		r.Stop(ctx)
		return nil, err
	}
	return r, nil
}

// prepare maps the application's members onto exports, write sources and
// remote inputs.
func (r *Runner) prepare() error {
	app, cfg := r.app, r.cfg
	entries := r.tap.Entries()
	r.exportOf = make([]int32, len(entries))
	r.writeOf = make([]int32, len(entries))
	for i := range entries {
		r.exportOf[i], r.writeOf[i] = -1, -1
	}
	r.exp, _, _ = exports(app, cfg)
	r.fed = make([]atomic.Uint64, len(r.exp))
	for i, x := range r.exp {
		id, ok := r.tap.Lookup(x.Path)
		if !ok {
			return fmt.Errorf("system: export %s is not observable", x.Path)
		}
		r.exportOf[id] = int32(i)
		r.ids = append(r.ids, id)
	}
	for i, w := range cfg.Writes {
		_, full, ok := member(app, w.From)
		if !ok {
			return fmt.Errorf("system: writes[%d]: no signal or parameter %s", i, w.From)
		}
		id, ok := r.tap.Lookup(full)
		if !ok {
			return fmt.Errorf("system: writes[%d]: %s is not observable", i, full)
		}
		if r.exportOf[id] < 0 {
			r.ids = append(r.ids, id)
		}
		r.writeOf[id] = int32(i)
		node, metric, _ := strings.Cut(w.To, ".")
		r.writers = append(r.writers, &writer{r: r, idx: i, to: w.To, node: node, metric: MetricName(metric), kick: make(chan struct{}, 1)})
	}
	r.remote = r.app.RemoteInputs()
	r.wantErr = make([]string, len(r.remote))
	for _, in := range r.remote {
		p, ok := r.peerIdx[in.App]
		if !ok {
			return fmt.Errorf("system: route %s: %s is not a peer", in.Source, in.App)
		}
		r.wantPeer = append(r.wantPeer, p)
	}
	return nil
}

// build makes the edge node and, when the application follows anyone, the
// host.
func (r *Runner) build() error {
	app, cfg := r.app, r.cfg
	id := cfg.clientID(app.Name)
	et, err := cfg.Broker.Options(id)
	if err != nil {
		return fmt.Errorf("system: broker: %w", err)
	}
	et.OnUp = func() { r.edgeUp.Store(true); r.linkState() }
	et.OnDown = func(error) { r.edgeUp.Store(false); r.linkState() }
	xs := make([]link.Export, len(r.exp))
	for i, x := range r.exp {
		xs[i] = link.Export{Name: x.Metric, Kind: x.Kind, Props: x.Props, Deadband: x.Deadband, MinInterval: x.MinInterval}
	}
	log := r.o.Log
	r.edge, err = link.NewEdgeNode(link.EdgeConfig{
		Group: cfg.Name, Node: app.Name, Exports: xs, Transport: et,
		Write: r.apply, WriteTimeout: cfg.WriteTimeout, Log: &log,
		Wake: r.wake, Pull: r.pull,
	})
	if err != nil {
		return fmt.Errorf("system: %w", err)
	}
	if len(cfg.Peers) == 0 && cfg.HostID == "" {
		r.hostUp.Store(true)
		return nil
	}
	ht, err := cfg.Broker.Options(id + "-host")
	if err != nil {
		return fmt.Errorf("system: broker: %w", err)
	}
	ht.OnUp = func() {
		r.hostUp.Store(true)
		r.linkState()
		for _, w := range r.writers {
			w.retry() // a write that found the host's connection down
		}
	}
	ht.OnDown = func(error) { r.hostUp.Store(false); r.linkState() }
	wants := make([]link.Want, len(r.remote))
	for i, in := range r.remote {
		wants[i] = link.Want{Node: in.App, Metric: MetricName(in.Path), Kind: in.Kind()}
	}
	r.host, err = link.NewHost(link.HostConfig{
		Group: cfg.Name, HostID: cfg.HostID, Wants: wants, Sink: r.sink, Follow: cfg.Peers, OnNode: r.onNode, OnlyFollowed: true,
		Transport: ht, WriteTimeout: cfg.WriteTimeout, Log: &log,
	})
	if err != nil {
		return fmt.Errorf("system: %w", err)
	}
	return nil
}

// linkState shows whether both connections are up.
func (r *Runner) linkState() {
	if r.edgeUp.Load() && r.hostUp.Load() {
		r.st.connected.Store(stUp)
	} else {
		r.st.connected.Store(stDown)
	}
}

// Stop announces the application's death (NDEATH) and ends the link.
func (r *Runner) Stop(ctx context.Context) error {
	if r == nil {
		return nil
	}
	var errs []error
	r.stopOnce.Do(func() {
		if r.edge != nil {
			if err := r.edge.Stop(ctx); err != nil {
				// The broker is gone: the others learn of the death from
				// their own loss of it. Nothing here failed to stop.
				r.o.Log.Warn().Err(err).Msg("system: the application's death could not be announced")
			}
		}
		if r.host != nil {
			errs = append(errs, r.host.Stop(ctx))
		}
		if r.cancel != nil {
			r.cancel()
		}
		r.wg.Wait()
		if r.unwake != nil {
			r.unwake()
		}
		if r.detach != nil {
			r.detach()
		}
	})
	return errors.Join(errs...)
}

// Exports returns the paths of the members the application publishes, in
// the order of its birth.
func (r *Runner) Exports() []string {
	out := make([]string, len(r.exp))
	for i, x := range r.exp {
		out[i] = x.Path
	}
	return out
}

// Edge returns the edge node, for its counters.
func (r *Runner) Edge() *link.EdgeNode { return r.edge }

// Host returns the host, or nil when the application follows no peer.
func (r *Runner) Host() *link.Host { return r.host }

// pull runs on the edge node's goroutine after every pass that changed
// something: it reads the changed exports and write sources from the tap.
// It allocates nothing once its buffer has grown.
func (r *Runner) pull(add func(link.Change)) {
	r.buf, r.ver = r.tap.Read(r.ver, r.ids, r.buf[:0])
	fed := false
	for k := range r.buf {
		s := &r.buf[k]
		if i := r.exportOf[s.ID]; i >= 0 {
			add(link.Change{Index: int(i), Sample: sparkplug.Sample{Value: s.Value, Quality: s.Quality, Stamp: s.Stamp}})
			r.fed[i].Add(1)
			fed = true
		}
		if w := r.writeOf[s.ID]; w >= 0 {
			r.writers[w].offer(s.Value, s.Quality)
		}
	}
	if fed && r.waiting.Load() > 0 {
		r.fedMu.Lock()
		close(r.fedCh)
		r.fedCh = make(chan struct{})
		r.fedMu.Unlock()
	}
}

// apply is the edge node's write function: a write from another
// application, the command line or any Sparkplug host sets the parameter
// through App.SetParam (type and range checked, applied at the
// component's tick), and returns once the new value is on its way to the
// edge node.
func (r *Runner) apply(ctx context.Context, i int, v signals.Value) error {
	x := &r.exp[i]
	r.waiting.Add(1)
	defer r.waiting.Add(-1)
	before := r.fed[i].Load()
	if _, err := r.app.SetParam(ctx, x.Path, v, "sparkplug"); err != nil {
		var we *runtime.WriteError
		if errors.As(err, &we) {
			return errors.New(we.Msg)
		}
		return err
	}
	for r.fed[i].Load() == before {
		r.fedMu.Lock()
		ch := r.fedCh
		r.fedMu.Unlock()
		if r.fed[i].Load() != before {
			break
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil // applied; its value follows with the next pass
		}
	}
	return nil
}

// sink takes the host's deliveries, on the host's goroutine.
func (r *Runner) sink(d link.Delivery) {
	in := r.remote[d.Want]
	in.Put(d.Value, d.Quality, d.Stamp)
	if r.o.Delivered != nil {
		r.o.Delivered(in, d.Value, d.Quality, d.Stamp)
	}
	var why string
	if d.Err != nil {
		why = d.Err.Error()
	}
	if why == r.wantErr[d.Want] {
		return
	}
	r.wantErr[d.Want] = why
	p := r.wantPeer[d.Want]
	var whys []string
	for i, e := range r.wantErr {
		if e != "" && r.wantPeer[i] == p {
			whys = append(whys, r.remote[i].Sink+" <- "+r.remote[i].Source+": "+e)
		}
	}
	if len(whys) == 0 {
		r.st.peers[p].mismatch.Store(nil)
		return
	}
	text := strings.Join(whys, "; ")
	r.st.peers[p].mismatch.Store(&text)
	r.o.Log.Error().Str("peer", r.cfg.Peers[p]).Msg(text)
}

// onNode follows the peers' state, on the host's goroutine.
func (r *Runner) onNode(node string, online bool) {
	p, ok := r.peerIdx[node]
	if !ok {
		return
	}
	s := stDown
	if online {
		s = stUp
	}
	r.st.peers[p].online.Store(s)
	r.o.Log.Info().Str("peer", node).Bool("online", online).Msg("system: peer state")
	if online {
		for _, w := range r.writers {
			if w.node == node {
				w.resend()
			}
		}
	}
}

// writer keeps one remote parameter equal to a local member.
type writer struct {
	r                *Runner
	idx              int
	to, node, metric string
	kick             chan struct{}

	mu      sync.Mutex
	want    signals.Value
	have    bool
	done    signals.Value // last value accepted
	isDone  bool
	again   bool // write even if done: the peer came back
	waiting bool // the last attempt found the peer or the broker away
}

// offer takes the source's sample; values that are not usable are never
// written.
func (w *writer) offer(v signals.Value, q signals.Quality) {
	if (q != signals.Good && q != signals.LastKnown) || v.Kind() == signals.Invalid {
		return
	}
	w.mu.Lock()
	changed := !w.have || !v.Equal(w.want)
	w.want, w.have = v, true
	w.mu.Unlock()
	if changed {
		w.poke()
	}
}

// resend writes the value again: the peer came (back) online, with its
// parameters perhaps back at their defaults.
func (w *writer) resend() {
	w.mu.Lock()
	w.again = w.have
	w.mu.Unlock()
	w.poke()
}

// retry writes again if the last attempt found the peer or the broker
// away: the host's connection is back.
func (w *writer) retry() {
	w.mu.Lock()
	again := w.waiting
	w.mu.Unlock()
	if again {
		w.poke()
	}
}

func (w *writer) poke() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

func (w *writer) loop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.kick:
		}
		w.mu.Lock()
		v, have := w.want, w.have
		skip := !have || (w.isDone && v.Equal(w.done) && !w.again && !w.waiting)
		w.again, w.waiting = false, false
		w.mu.Unlock()
		if skip {
			continue
		}
		if w.r.host == nil || !w.r.host.Online(w.node) {
			w.wait(v)
			continue // written when it comes online (onNode)
		}
		wctx, cancel := context.WithTimeout(ctx, w.r.cfg.WriteTimeout)
		err := w.r.host.Write(wctx, w.node, w.metric, v)
		cancel()
		var refused *link.WriteRefused
		switch {
		case err == nil:
			w.mu.Lock()
			w.done, w.isDone = v, true
			w.mu.Unlock()
			w.report(fmt.Sprintf("%s = %s: accepted", w.to, v), false)
		case errors.As(err, &refused):
			w.report(fmt.Sprintf("%s = %s: refused: %s", w.to, v, refused.Reason), true)
		case errors.Is(err, link.ErrNodeOffline), errors.Is(err, mqttconn.ErrNotConnected):
			w.wait(v)
		case errors.Is(err, link.ErrWriteTimeout):
			w.unknown()
			w.report(fmt.Sprintf("%s = %s: no answer from %s within %v", w.to, v, w.node, w.r.cfg.WriteTimeout), true)
		default:
			w.unknown()
			w.report(fmt.Sprintf("%s = %s: %v", w.to, v, err), true)
		}
	}
}

// unknown forgets the last accepted value: after a write that got no
// answer the peer may hold either value, so the next one is written even
// if it equals the last accepted.
func (w *writer) unknown() {
	w.mu.Lock()
	w.isDone = false
	w.mu.Unlock()
}

// wait notes that v could not be written for now: it is written when the
// peer comes online or the broker's connection comes back.
func (w *writer) wait(v signals.Value) {
	w.mu.Lock()
	w.waiting = true
	w.mu.Unlock()
	w.report(fmt.Sprintf("%s = %s: waiting for %s to come online", w.to, v, w.node), false)
	if h := w.r.host; h != nil && h.Conn().Connected() && h.Online(w.node) {
		w.poke() // it came back while this attempt failed: its events may be past
	}
}

func (w *writer) report(text string, failed bool) {
	w.r.st.writes[w.idx].result.Store(&writeOutcome{text: text, failed: failed})
	ev := w.r.o.Log.Info()
	if failed {
		ev = w.r.o.Log.Warn()
	}
	ev.Str("write", w.to).Msg(text)
}
