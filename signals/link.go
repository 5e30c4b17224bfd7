package signals

import (
	"fmt"
	"sync"
)

// A Link copies a source signal into a sink signal, converting its type: the
// compiled form of one route. Latch runs on the sink's goroutine before the
// sink's Process.
type Link interface {
	// Latch copies the source's latest write into the sink. If the source has
	// not been written since the last latch, the sink is left as it is and its
	// Fresh flag is cleared.
	Latch()
	// Capture is called on delayed links at the end of every tick of the
	// sink's rate group, to take the value the next tick will latch.
	Capture()
}

// Connect compiles a route from src into dst. A delayed link delivers the
// value the source had at the end of the previous tick, which is how a
// routing loop is broken. Types are converted by the conversion table.
func Connect(dst, src Port, delayed bool) (Link, error) {
	if dst.Info().Dir != Input {
		return nil, fmt.Errorf("cannot route into %s: it is an output", dst.Info().Path)
	}
	l, ok := dst.newLink(src, delayed)
	if !ok {
		return nil, fmt.Errorf("cannot route %s into %s", src.Kind(), dst.Kind())
	}
	return l, nil
}

// Shared is a consistent copy of a set of signals that another rate group
// reads. The owning group calls Publish after each tick; readers latch from
// the copy under the read lock, so no reader sees a torn value.
type Shared struct {
	mu     sync.RWMutex
	pairs  [][2]Port // {live, copy}
	byLive map[Port]Port
}

// Share returns the published copy of p, creating it on first use.
func (s *Shared) Share(p Port) Port {
	if s.byLive == nil {
		s.byLive = map[Port]Port{}
	}
	if c, ok := s.byLive[p]; ok {
		return c
	}
	c := p.shadow()
	s.byLive[p] = c
	s.pairs = append(s.pairs, [2]Port{p, c})
	return c
}

// Len reports how many signals are shared.
func (s *Shared) Len() int { return len(s.pairs) }

// Publish copies every shared signal into its published copy, under the
// write lock. It allocates nothing.
func (s *Shared) Publish() {
	if len(s.pairs) == 0 {
		return
	}
	s.mu.Lock()
	for _, p := range s.pairs {
		p[1].copyFrom(p[0])
	}
	s.mu.Unlock()
}

// Locked wraps a link whose source is a Shared copy so that it latches under
// the read lock.
func (s *Shared) Locked(l Link) Link { return &lockedLink{l: l, mu: &s.mu} }

type lockedLink struct {
	l  Link
	mu *sync.RWMutex
}

func (l *lockedLink) Latch() {
	l.mu.RLock()
	l.l.Latch()
	l.mu.RUnlock()
}

func (l *lockedLink) Capture() {
	l.mu.RLock()
	l.l.Capture()
	l.mu.RUnlock()
}

// link is a typed route from S to D.
type link[S, D Scalar] struct {
	src     *Signal[S]
	dst     *Signal[D]
	lastSeq uint64
	delayed bool
	held    Signal[S] // delayed links: the source as captured at the last tick end
}

func (l *link[S, D]) Latch() {
	src := l.src
	if l.delayed {
		src = &l.held
	}
	if src.seq == l.lastSeq {
		l.dst.fresh = false
		return
	}
	l.lastSeq = src.seq
	d, ok := convert[S, D](src.v)
	q := src.q
	if !ok {
		d, q = l.dst.v, BadInput
	}
	l.dst.v, l.dst.q, l.dst.stamp = d, q, src.stamp
	l.dst.seq++
	l.dst.fresh = true
}

func (l *link[S, D]) Capture() {
	if l.delayed {
		l.held.v, l.held.q, l.held.stamp, l.held.seq = l.src.v, l.src.q, l.src.stamp, l.src.seq
	}
}

func (s *Signal[T]) newLink(src Port, delayed bool) (Link, bool) {
	switch p := src.(type) {
	case *Signal[bool]:
		return linkTo(p, s, delayed), true
	case *Signal[int64]:
		return linkTo(p, s, delayed), true
	case *Signal[uint64]:
		return linkTo(p, s, delayed), true
	case *Signal[float64]:
		return linkTo(p, s, delayed), true
	case *Signal[string]:
		return linkTo(p, s, delayed), true
	}
	return nil, false
}

func linkTo[S, D Scalar](src *Signal[S], dst *Signal[D], delayed bool) Link {
	return &link[S, D]{src: src, dst: dst, delayed: delayed}
}

func (s *Signal[T]) shadow() Port {
	info := *s.info
	c := &Signal[T]{q: s.q, info: &info}
	return c
}

func (s *Signal[T]) copyFrom(src Port) {
	o := src.(*Signal[T])
	s.v, s.q, s.stamp, s.seq = o.v, o.q, o.stamp, o.seq
}
