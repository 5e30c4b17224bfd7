package runtime

import (
	"sync"
	"sync/atomic"
)

// Latest hands the most recent value from an I/O goroutine to the tick side.
// Put never waits for the tick: it overwrites a value the tick has not taken
// yet and counts the overwrite. Use it for states, where only the latest
// value matters. The zero value is ready to use.
type Latest[T any] struct {
	mu          sync.Mutex
	v           T
	full        bool
	overwritten atomic.Uint64
}

// Put stores v, replacing (and counting) a value not yet taken.
func (m *Latest[T]) Put(v T) {
	m.mu.Lock()
	if m.full {
		m.overwritten.Add(1)
	}
	m.v, m.full = v, true
	m.mu.Unlock()
}

// Take returns the stored value and empties the box; ok is false if nothing
// was put since the last Take.
func (m *Latest[T]) Take() (v T, ok bool) {
	m.mu.Lock()
	v, ok = m.v, m.full
	var zero T
	m.v, m.full = zero, false
	m.mu.Unlock()
	return v, ok
}

// Overwritten counts values replaced before the tick took them.
func (m *Latest[T]) Overwritten() uint64 { return m.overwritten.Load() }

// Queue is a bounded FIFO between an I/O goroutine and the tick side, for
// messages where every one matters. Put never blocks: when the queue is full
// it drops a message (the new one, or the oldest if DropOldest was chosen)
// and counts it, so a flood costs bounded memory and the counter tells the
// truth about what was lost.
type Queue[T any] struct {
	mu         sync.Mutex
	buf        []T
	head, n    int
	dropOldest bool
	dropped    atomic.Uint64
	put        atomic.Uint64
}

// NewQueue returns a queue holding at most capacity messages (minimum 1).
func NewQueue[T any](capacity int, dropOldest bool) *Queue[T] {
	if capacity < 1 {
		capacity = 1
	}
	return &Queue[T]{buf: make([]T, capacity), dropOldest: dropOldest}
}

// Put appends v; it returns false if a message was dropped to make room or
// v itself was dropped.
func (q *Queue[T]) Put(v T) bool {
	q.put.Add(1)
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == len(q.buf) {
		q.dropped.Add(1)
		if !q.dropOldest {
			return false
		}
		q.buf[q.head] = v
		q.head = (q.head + 1) % len(q.buf)
		return false
	}
	q.buf[(q.head+q.n)%len(q.buf)] = v
	q.n++
	return true
}

// Drain removes up to max messages (all if max <= 0) in FIFO order and
// passes each to f, outside the lock, so f may take its time. It returns how
// many it passed. It allocates nothing.
func (q *Queue[T]) Drain(max int, f func(T)) int {
	done := 0
	var zero T
	for max <= 0 || done < max {
		q.mu.Lock()
		if q.n == 0 {
			q.mu.Unlock()
			break
		}
		v := q.buf[q.head]
		q.buf[q.head] = zero
		q.head = (q.head + 1) % len(q.buf)
		q.n--
		q.mu.Unlock()
		f(v)
		done++
	}
	return done
}

// Len returns how many messages wait.
func (q *Queue[T]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

// Cap returns the capacity.
func (q *Queue[T]) Cap() int { return len(q.buf) }

// Dropped counts messages lost because the queue was full.
func (q *Queue[T]) Dropped() uint64 { return q.dropped.Load() }

// Offered counts every Put, kept or not.
func (q *Queue[T]) Offered() uint64 { return q.put.Load() }
