// Package queue is the MQTT client's outgoing message store: an ordered,
// bounded FIFO of messages waiting for the broker's acknowledgement,
// optionally backed by an append-only log on disk so that messages accepted
// before a crash or a SIGKILL are sent, in order, after the restart.
//
// autopaho's own file queue orders entries by file modification time and so
// reorders messages written within one timestamp tick; this log is a single
// file replayed in write order, so it cannot.
//
// A Store is owned by one goroutine (the client's sender); only Len may be
// called from others.
package queue

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"

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

	f         *os.File
	path      string
	sync      bool
	size      int64
	rec       []byte
	compactN  int64 // log size that triggers a rewrite
	compactAt int64 // growth allowed beyond the live content
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
	s := &Store{limit: o.Limit, latest: map[string]uint64{}, sync: o.Sync, compactN: compactBytes, compactAt: compactBytes}
	s.ring = make([]Message, min(o.Limit, 1024))
	if o.Dir == "" {
		return s, nil
	}
	if o.Name == "" {
		return nil, errors.New("queue: a log needs a name")
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	s.path = filepath.Join(o.Dir, o.Name+".queue")
	f, err := os.OpenFile(s.path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("queue: %w", err)
	}
	// One writer per log: a second runtime with the same client ID and
	// directory would interleave records and corrupt both queues.
	if err := lockfile.Lock(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("queue: %s is in use by another process (same client_id and queue dir?): %w", s.path, err)
	}
	s.replaying = true
	good, err := s.replay(f)
	s.replaying = false
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("queue: replaying %s: %w", s.path, err)
	}
	// Cut a torn record left by a crash in the middle of a write.
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, fmt.Errorf("queue: %w", err)
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("queue: %w", err)
	}
	s.f, s.size = f, good
	return s, s.compact()
}

// Record layout: u32 body length, u32 CRC-32C of body, body.
// Body: kind u8; push: qos u8, flags u8, topic length u16, topic, payload;
// pop: nothing.
const (
	recPush = 1
	recPop  = 2

	flagRetain = 1
	flagLatest = 2
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// replay applies the log's records and returns the offset after the last
// whole one.
func (s *Store) replay(f *os.File) (int64, error) {
	r := bufio.NewReader(f)
	var off int64
	var hdr [8]byte
	var body []byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return off, nil // end, or a torn header
		}
		n := binary.LittleEndian.Uint32(hdr[:4])
		if n == 0 || n > 1<<28 {
			return off, nil
		}
		if cap(body) < int(n) {
			body = make([]byte, n)
		}
		body = body[:n]
		if _, err := io.ReadFull(r, body); err != nil {
			return off, nil
		}
		if crc32.Checksum(body, crcTable) != binary.LittleEndian.Uint32(hdr[4:]) {
			return off, nil
		}
		switch body[0] {
		case recPush:
			if len(body) < 5 {
				return off, nil
			}
			tl := int(binary.LittleEndian.Uint16(body[3:5]))
			if len(body) < 5+tl {
				return off, nil
			}
			m := Message{QoS: body[1], Retain: body[2]&flagRetain != 0, Latest: body[2]&flagLatest != 0,
				Topic: string(body[5 : 5+tl]), Payload: body[5+tl:]}
			s.push(m)
		case recPop:
			s.pop()
		default:
			return off, nil
		}
		off += 8 + int64(n)
	}
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
	if s.f == nil {
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
	if s.f == nil {
		return nil
	}
	s.rec = append(s.rec[:0], 0, 0, 0, 0, 0, 0, 0, 0, recPop)
	if err := s.write(); err != nil {
		return err
	}
	if s.n == 0 && s.size > 0 {
		return s.reset()
	}
	if s.size > s.compactN {
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
	s.rec = append(s.rec[:0], 0, 0, 0, 0, 0, 0, 0, 0, recPush, m.QoS, flags, byte(len(m.Topic)), byte(len(m.Topic)>>8))
	s.rec = append(s.rec, m.Topic...)
	s.rec = append(s.rec, m.Payload...)
	return s.write()
}

func (s *Store) write() error {
	body := s.rec[8:]
	binary.LittleEndian.PutUint32(s.rec[:4], uint32(len(body)))
	binary.LittleEndian.PutUint32(s.rec[4:8], crc32.Checksum(body, crcTable))
	if _, err := s.f.Write(s.rec); err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	s.size += int64(len(s.rec))
	if s.sync {
		return s.f.Sync()
	}
	return nil
}

// reset empties the log once nothing waits.
func (s *Store) reset() error {
	if err := s.f.Truncate(0); err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	s.size = 0
	return nil
}

// compact rewrites the log with only the waiting messages, through a
// temporary file renamed over the old one, so a crash leaves either log.
func (s *Store) compact() error {
	if s.f == nil {
		return nil
	}
	if s.n == 0 {
		return s.reset()
	}
	tmp := s.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("queue: %w", err)
	}
	// The new file takes the old one's place, and its lock with it.
	if err := lockfile.Lock(f); err != nil {
		f.Close()
		return fmt.Errorf("queue: locking %s: %w", tmp, err)
	}
	old, oldSize := s.f, s.size
	s.f, s.size = f, 0
	for i := 0; i < s.n && err == nil; i++ {
		err = s.writePush(&s.ring[(s.head+i)%len(s.ring)])
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = os.Rename(tmp, s.path)
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		s.f, s.size = old, oldSize
		return fmt.Errorf("queue: compacting: %w", err)
	}
	old.Close()
	s.compactN = s.compactAt + 2*s.size
	return nil
}

// Close closes the log; waiting messages stay in it for the next Open.
func (s *Store) Close() error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}
