package mqttclient

import (
	"sync/atomic"

	"github.com/metronome-rt/metronome/components/mqttclient/queue"
)

// The two mailboxes between the tick and the I/O side are lock-free. A tick
// that had to take a mutex could wait for an I/O goroutine that holds it
// and has been preempted by the operating system, which on a busy machine
// costs milliseconds: a priority inversion a flood of incoming messages
// makes likely. Atomics never wait.

// latestBox hands the newest received message of a topic to the tick; a
// message replaced before a tick took it is counted.
type latestBox struct {
	p           atomic.Pointer[rxMsg]
	overwritten atomic.Uint64
}

// Put leaves m for the tick, counting the message it replaces, if any.
func (b *latestBox) Put(m *rxMsg) {
	if b.p.Swap(m) != nil {
		b.overwritten.Add(1)
	}
}

// Take returns the newest message and empties the box.
func (b *latestBox) Take() (*rxMsg, bool) {
	m := b.p.Swap(nil)
	return m, m != nil
}

// Overwritten counts messages replaced before a tick took them.
func (b *latestBox) Overwritten() uint64 { return b.overwritten.Load() }

// handoff is the bounded single-producer (the tick), single-consumer (the
// sender) ring from the ticks to the sender. Slots keep their payload
// buffers, so a put allocates nothing once warmed up.
type handoff struct {
	slots      []queue.Message
	head, tail atomic.Uint64 // head: next to take (sender); tail: next to fill (tick)
}

func newHandoff(n int) *handoff { return &handoff{slots: make([]queue.Message, n)} }

// put copies a message in; false when the ring is full.
func (h *handoff) put(topic string, p []byte, qos byte, retain, latest bool) bool {
	t := h.tail.Load()
	if t-h.head.Load() == uint64(len(h.slots)) {
		return false
	}
	s := &h.slots[t%uint64(len(h.slots))]
	s.Topic, s.QoS, s.Retain, s.Latest = topic, qos, retain, latest
	s.Payload = append(s.Payload[:0], p...)
	h.tail.Store(t + 1)
	return true
}

// drain passes every waiting message to f, in order; a slot is released
// only after f returns.
func (h *handoff) drain(f func(*queue.Message)) {
	for hd, t := h.head.Load(), h.tail.Load(); hd < t; hd++ {
		f(&h.slots[hd%uint64(len(h.slots))])
		h.head.Store(hd + 1)
	}
}

// len returns how many messages wait.
func (h *handoff) len() int { return int(h.tail.Load() - h.head.Load()) }
