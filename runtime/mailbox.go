package runtime

import (
	"sync/atomic"
)

// The mailboxes between I/O goroutines and the tick are lock-free. A tick
// that had to take a mutex could wait for an I/O goroutine that holds it and
// has been preempted by the operating system, which on a busy machine costs
// milliseconds: a priority inversion that a flood of network traffic makes
// likely. Atomics never wait.

// Latest hands the most recent value from an I/O goroutine to the tick side,
// for states, where only the latest value matters. Put never waits: it
// replaces a value the tick has not taken yet and counts the replacement.
// Values travel by pointer, so the box itself never allocates; the sender
// must not change a value after putting it. The zero value is ready to use.
type Latest[T any] struct {
	p           atomic.Pointer[T]
	overwritten atomic.Uint64
}

// Put leaves v for the tick, counting the value it replaces, if any.
func (m *Latest[T]) Put(v *T) {
	if m.p.Swap(v) != nil {
		m.overwritten.Add(1)
	}
}

// Take returns the newest value and empties the box; ok is false if nothing
// was put since the last Take.
func (m *Latest[T]) Take() (v *T, ok bool) {
	v = m.p.Swap(nil)
	return v, v != nil
}

// Overwritten counts values replaced before the tick took them.
func (m *Latest[T]) Overwritten() uint64 { return m.overwritten.Load() }

// Queue is a bounded FIFO between one producer goroutine and one consumer
// goroutine (an I/O goroutine and the tick, in either direction), for
// messages where every one matters. A full queue refuses the new message
// and counts it, so a flood costs bounded memory and the counter tells the
// truth about what was lost. Slots are reused: a producer that fills a slot
// in place (Reserve, then Commit) keeps the slot's buffers and allocates
// nothing once warmed up.
type Queue[T any] struct {
	slots      []T
	head, tail atomic.Uint64 // head: next to take (consumer); tail: next to fill (producer)
	dropped    atomic.Uint64
	offered    atomic.Uint64
}

// NewQueue returns a queue holding at most capacity messages (minimum 1).
func NewQueue[T any](capacity int) *Queue[T] {
	return &Queue[T]{slots: make([]T, max(capacity, 1))}
}

// Reserve returns the next free slot for the producer to fill, keeping
// whatever the slot held before (reuse its buffers); Commit publishes it.
// ok is false, and the message counted as dropped, when the queue is full.
func (q *Queue[T]) Reserve() (slot *T, ok bool) {
	q.offered.Add(1)
	t := q.tail.Load()
	if t-q.head.Load() == uint64(len(q.slots)) {
		q.dropped.Add(1)
		return nil, false
	}
	return &q.slots[t%uint64(len(q.slots))], true
}

// Commit makes the slot from the last Reserve visible to the consumer.
func (q *Queue[T]) Commit() { q.tail.Add(1) }

// Put appends a copy of v; false if the queue was full and v was dropped.
func (q *Queue[T]) Put(v T) bool {
	s, ok := q.Reserve()
	if !ok {
		return false
	}
	*s = v
	q.Commit()
	return true
}

// Drain passes every waiting message to f in FIFO order; each slot is
// released only after f returns, so f may read it in place. It returns how
// many it passed and allocates nothing.
func (q *Queue[T]) Drain(f func(*T)) int {
	hd, t := q.head.Load(), q.tail.Load()
	n := int(t - hd)
	for ; hd < t; hd++ {
		f(&q.slots[hd%uint64(len(q.slots))])
		q.head.Store(hd + 1)
	}
	return n
}

// Len returns how many messages wait.
func (q *Queue[T]) Len() int { return int(q.tail.Load() - q.head.Load()) }

// Cap returns the capacity.
func (q *Queue[T]) Cap() int { return len(q.slots) }

// Dropped counts messages refused because the queue was full.
func (q *Queue[T]) Dropped() uint64 { return q.dropped.Load() }

// Offered counts every message offered, kept or not.
func (q *Queue[T]) Offered() uint64 { return q.offered.Load() }
