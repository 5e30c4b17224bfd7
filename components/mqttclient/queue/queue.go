// Package queue is the MQTT client's outgoing message store: an ordered,
// bounded FIFO of messages waiting for the broker's acknowledgement,
// optionally backed by an append-only log on disk so that messages accepted
// before a crash or a SIGKILL are sent, in order, after the restart.
//
// autopaho's own file queue orders entries by file modification time and so
// reorders messages written within one timestamp tick; this log (an
// internal/applog log, locked to one process) is a single file replayed in
// write order, so it cannot.
//
// A Store is owned by one goroutine (the client's sender); only Len may be
// called from others.
package queue

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"

	"github.com/metronome-rt/metronome/internal/applog"
	"github.com/metronome-rt/metronome/internal/lockfile"
)

// Message is one outgoing publication.
type Message struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
	// Latest marks a message whose topic keeps only its newest value while
	// it waits: a newer message for the same topic replaces it in place.
	Latest bool
	seq    uint64
}

// Store is the ordered outgoing queue.
type Store struct {
	ring    []Message
	head, n int
	limit   int
	seq     uint64
	latest  map[string]uint64 // topic -> seq of its waiting Latest message
	// replaying is set while Open replays the log: the log is applied as
	// written, even beyond a limit lowered since, so a restart loses nothing.
	replaying bool
	length    atomic.Int64

	log       *applog.Log
	path      string
	rec       []byte // the record being written
	compactN  int64  // log size that triggers a rewrite
	compactAt int64  // growth allowed beyond the live content
}

// Options configure a Store.
type Options struct {
	Limit int    // most messages held; Push refuses more (minimum 1)
	Dir   string // directory for the log; "" keeps messages in memory only
	Name  string // log file name without extension, e.g. the client ID
	Sync  bool   // fsync after every write: survive power loss, not only a process kill
}

// compactBytes is how large the log may grow beyond its live content before
// it is rewritten.
const compactBytes = 4 << 20

// Open returns a store; with a Dir, it replays the log found there, so the
// messages still unacknowledged when the last process ended come first.
func Open(o Options) (*Store, error) {
	if o.Limit < 1 {
		o.Limit = 1
	}
	s := &Store{limit: o.Limit, latest: map[string]uint64{}, compactN: compactBytes, compactAt: compactBytes}
	s.ring = make([]Message, min(o.Limit, 1024))
	if o.Dir == "" {
		return s, nil
	}
	if o.Name == "" {
		return nil, errors.New("queue: a log needs a name")
	}
	s.path = filepath.Join(o.Dir, o.Name+".queue")
	// One writer per log: a second runtime with the same client ID and
	// directory would interleave records and corrupt both queues.
	s.replaying = true
	log, err := applog.Open(s.path, applog.Options{Kind: logKind, Lock: true, SyncEach: o.Sync}, s.replay)
	s.replaying = false
	if errors.Is(err, lockfile.ErrLocked) {
		return nil, fmt.Errorf("queue: %s is in use by another process (same client_id and queue dir?): %w", s.path, lockfile.ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	s.log = log
	if err := s.compact(); err != nil {
		log.Close()
		return nil, err
	}
	return s, nil
}

// Record bodies (in an internal/applog log of kind logKind): kind u8;
// push: qos u8, flags u8, topic length u16 (little-endian), topic, payload;
// pop: nothing.
const (
	logKind = "mqttclient queue v1"

	recPush = 1
	recPop  = 2

	flagRetain = 1
	flagLatest = 2
)

// replay applies one record of the log; false stops the replay there.
func (s *Store) replay(body []byte) bool {
	switch body[0] {
	case recPush:
		if len(body) < 5 {
			return false
		}
		tl := int(binary.LittleEndian.Uint16(body[3:5]))
		if len(body) < 5+tl {
			return false
		}
		m := Message{QoS: body[1], Retain: body[2]&flagRetain != 0, Latest: body[2]&flagLatest != 0,
			Topic: string(body[5 : 5+tl]), Payload: body[5+tl:]}
		s.push(m)
	case recPop:
		s.pop()
	default:
		return false
	}
	return true
}

// Len returns how many messages wait; safe from any goroutine.
func (s *Store) Len() int { return int(s.length.Load()) }

// Limit returns the most messages the store holds.
func (s *Store) Limit() int { return s.limit }

// Push appends m (copying its payload). A Latest message replaces the
// waiting message of its topic, keeping that one's place, unless that one is
// at the front (it may be on the wire already). Push returns false, and
// keeps nothing, when the store holds Limit messages (or more: a log
// replayed at Open is kept whole even if the limit was lowered since).
func (s *Store) Push(m Message) (bool, error) {
	if !s.push(m) {
		return false, nil
	}
	if s.log == nil {
		return true, nil
	}
	return true, s.writePush(&m)
}

func (s *Store) push(m Message) bool {
	if m.Latest {
		if seq, ok := s.latest[m.Topic]; ok && s.n > 1 {
			front := s.ring[s.head].seq
			if seq != front {
				i := (s.head + int(seq-front)) % len(s.ring)
				slot := &s.ring[i]
				slot.Payload = append(slot.Payload[:0], m.Payload...)
				slot.QoS, slot.Retain = m.QoS, m.Retain
				return true
			}
		}
	}
	if s.n >= s.limit && !s.replaying {
		return false
	}
	if s.n == len(s.ring) {
		s.grow()
	}
	s.seq++
	slot := &s.ring[(s.head+s.n)%len(s.ring)]
	slot.Topic, slot.QoS, slot.Retain, slot.Latest, slot.seq = m.Topic, m.QoS, m.Retain, m.Latest, s.seq
	slot.Payload = append(slot.Payload[:0], m.Payload...)
	s.n++
	s.length.Store(int64(s.n))
	if m.Latest {
		s.latest[m.Topic] = s.seq
	}
	return true
}

// grow doubles the ring (up to the limit, except while replaying), keeping
// order; slot sequence numbers stay contiguous, which Push's in-place
// replacement relies on.
func (s *Store) grow() {
	size := 2 * len(s.ring)
	if size > s.limit && !s.replaying {
		size = max(s.limit, s.n+1)
	}
	nr := make([]Message, size)
	for i := 0; i < s.n; i++ {
		nr[i] = s.ring[(s.head+i)%len(s.ring)]
	}
	s.ring, s.head = nr, 0
}

// Front returns the oldest message without removing it. The returned
// message is valid until the next Push or Pop.
func (s *Store) Front() (*Message, bool) {
	if s.n == 0 {
		return nil, false
	}
	return &s.ring[s.head], true
}

// Pop removes the front message, once the broker has acknowledged it.
func (s *Store) Pop() error {
	if s.n == 0 {
		return nil
	}
	s.pop()
	if s.log == nil {
		return nil
	}
	s.rec = append(s.rec[:0], recPop)
	if err := s.write(); err != nil {
		return err
	}
	if s.n == 0 {
		return s.reset()
	}
	if s.log.Size() > s.compactN {
		return s.compact()
	}
	return nil
}

func (s *Store) pop() {
	if s.n == 0 {
		return
	}
	m := &s.ring[s.head]
	if m.Latest && s.latest[m.Topic] == m.seq {
		delete(s.latest, m.Topic)
	}
	m.Topic = ""
	s.head = (s.head + 1) % len(s.ring)
	s.n--
	s.length.Store(int64(s.n))
}

func (s *Store) writePush(m *Message) error {
	if err := s.encodePush(m); err != nil {
		return err
	}
	return s.write()
}

// encodePush puts m's record into s.rec.
func (s *Store) encodePush(m *Message) error {
	if len(m.Topic) > 0xffff {
		return fmt.Errorf("queue: topic of %d bytes", len(m.Topic))
	}
	var flags byte
	if m.Retain {
		flags |= flagRetain
	}
	if m.Latest {
		flags |= flagLatest
	}
	s.rec = append(s.rec[:0], recPush, m.QoS, flags, byte(len(m.Topic)), byte(len(m.Topic)>>8))
	s.rec = append(s.rec, m.Topic...)
	s.rec = append(s.rec, m.Payload...)
	return nil
}

// write appends s.rec to the log: one write(2), and an fsync with
// Options.Sync.
func (s *Store) write() error {
	if err := s.log.Append(s.rec); err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	return nil
}

// reset empties the log once nothing waits.
func (s *Store) reset() error {
	if s.log.Size() == 0 {
		return nil
	}
	if err := s.log.Reset(); err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	return nil
}

// compact rewrites the log with only the waiting messages, through a
// temporary file renamed over the old one, so a crash leaves either log.
func (s *Store) compact() error {
	if s.log == nil {
		return nil
	}
	if s.n == 0 {
		return s.reset()
	}
	err := s.log.Rewrite(func(add func([]byte) error) error {
		for i := 0; i < s.n; i++ {
			if err := s.encodePush(&s.ring[(s.head+i)%len(s.ring)]); err != nil {
				return err
			}
			if err := add(s.rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("queue: compacting: %w", err)
	}
	s.compactN = s.compactAt + 2*s.log.Size()
	return nil
}

// Close closes the log; waiting messages stay in it for the next Open.
func (s *Store) Close() error {
	if s.log == nil {
		return nil
	}
	err := s.log.Close()
	s.log = nil
	return err
}
