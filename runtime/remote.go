package runtime

import (
	"strings"
	"sync/atomic"

	"github.com/metronome-rt/metronome/signals"
)

// RemoteInput is the tick side of a route from another application: a
// mailbox that a link fills from its network goroutine with the source's
// samples (value, the source's time stamp and quality), and that the sink
// component's tick latches into the input, before its local routes, as any
// route's latch. Neither side waits or allocates: samples that arrive
// between two ticks replace each other (the input carries a state, and the
// newest wins). Until a link delivers anything the input stays Initial.
//
// The link checks types where it learns them (the source's announcement);
// the latch never converts: a sample of another kind than the input's
// makes the input BadInput (see signals.Feed).
type RemoteInput struct {
	RemoteRoute
	// App is the source's application, the first name of Source; Path is
	// the rest of Source, the source's path inside that application.
	App, Path string
	port      signals.Port
	box       Box[remoteSample]
	puts      atomic.Uint64
}

type remoteSample struct {
	v     signals.Value
	q     signals.Quality
	stamp int64
}

// Port returns the sink input.
func (r *RemoteInput) Port() signals.Port { return r.port }

// Kind returns the sink input's kind: what the route expects the source to
// be.
func (r *RemoteInput) Kind() signals.Kind { return r.port.Kind() }

// Put leaves a sample for the sink's next tick: v (kind Invalid for no
// value: never received, or lost), its quality, and the time the source
// produced it (Unix ns). It never waits and allocates nothing. Calls must
// not overlap (one link goroutine, or calls serialised by a lock).
func (r *RemoteInput) Put(v signals.Value, q signals.Quality, stamp int64) {
	r.box.Put(remoteSample{v: v, q: q, stamp: stamp})
	r.puts.Add(1)
}

// Puts counts the samples put; Overwritten those replaced before a tick
// took them.
func (r *RemoteInput) Puts() uint64 { return r.puts.Load() }

// Overwritten counts samples replaced by a newer one before the sink's
// tick latched them.
func (r *RemoteInput) Overwritten() uint64 { return r.box.Overwritten() }

// RemoteInputs returns the mailboxes of the application's remote routes,
// one per route, in the order of App.Remote.
func (a *App) RemoteInputs() []*RemoteInput { return a.remoteIn }

// remoteLatch is a RemoteInput as a link of its sink node.
type remoteLatch struct{ r *RemoteInput }

func (l remoteLatch) Latch() {
	if s, ok := l.r.box.Take(); ok {
		signals.Feed(l.r.port, s.v, s.q, s.stamp)
		return
	}
	signals.Unfed(l.r.port)
}

func (remoteLatch) Capture() {}

// remoteInputs gives every remote route its mailbox and latch.
func (l *loader) remoteInputs() {
	a := l.app
	for _, rr := range a.Remote {
		p, ok := a.Signal(rr.Sink)
		if !ok {
			continue
		}
		n, _ := a.Find(rr.Sink[:strings.LastIndexByte(rr.Sink, '.')])
		app, path, _ := strings.Cut(rr.Source, ".")
		r := &RemoteInput{RemoteRoute: rr, App: app, Path: path, port: p}
		a.remoteIn = append(a.remoteIn, r)
		n.links = append(n.links, remoteLatch{r})
	}
}
