// Package applog is the append-only log beneath Metronome's state on disk:
// the embedded broker's persistence and the MQTT client's outgoing queue.
// A log is one file of checksummed records, written in order and replayed
// in that order, so what a process appended before a crash or a SIGKILL is
// there, in order, after the restart. The records' bodies are the user's;
// this package frames, checks, syncs, compacts and locks them.
//
// File format (version 1): a header line naming what the records hold,
// "metronome log v1: <kind>\n", then records, each a 4-byte little-endian
// body length (at least 1), the 4-byte little-endian CRC-32C of the body,
// and the body. The header is written with the first record, so an empty
// log is an empty file. Replay stops at the first record that is cut short,
// fails its checksum or is refused by the user: that is where a crash in
// the middle of a write left the file, and the rest is cut off. A file
// that does not start with the header of the expected kind is refused with
// a *FormatError rather than read as garbage or emptied.
//
// A Log is safe for concurrent use.
package applog

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/metronome-rt/metronome/internal/lockfile"
)

// Overhead is what a record adds to its body on disk (length and checksum),
// for users that weigh live records against the file's size.
const Overhead = 8

// MaxBody is the largest record body. The broker's largest record, a
// retained message of the protocol's largest packet in JSON, stays below.
const MaxBody = 1<<30 - 1

// maxKeptBuffer is the largest framing buffer kept for the next Append.
const maxKeptBuffer = 1 << 20

// magic starts every log's header; what follows it names the version and
// the kind.
const magic = "metronome log "

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ErrNotSynced wraps the error of an Append whose record was written but
// whose fsync (Options.SyncEach) failed: the record is in the file, and
// survives a crash of the process, but maybe not a power loss.
var ErrNotSynced = errors.New("written but not synced to the device")

// FormatError is why Open refused a file: it is not a log of this kind in
// this format (from an older version of Metronome, another kind of log, or
// not a log at all). The file is left as it was.
type FormatError struct {
	Path  string
	Want  string // the header expected
	Found string // the header found, when the file has one of ours
}

func (e *FormatError) Error() string {
	if e.Found == "" {
		return fmt.Sprintf("%s is not a log in the format this version writes (it does not start with %q; a file from an older version, or another program's): move it away to start with an empty one", e.Path, strings.TrimSuffix(e.Want, "\n"))
	}
	return fmt.Sprintf("%s holds %q, not %q: move it away to start with an empty one", e.Path, e.Found, strings.TrimSuffix(e.Want, "\n"))
}

// Options configure a Log.
type Options struct {
	// Kind names what the records hold, with the version of their encoding
	// ("mqttclient queue v1"): a log of another kind, or of another version,
	// is refused. Required; one line of printable text.
	Kind string
	// Lock keeps one process per log with an flock(2) lock, held until
	// Close (or the process's death) and carried over to the file that
	// Rewrite puts in the log's place. Open fails with an error wrapping
	// lockfile.ErrLocked while another process holds it.
	Lock bool
	// SyncEach fsyncs after every Append, so an appended record survives a
	// power loss, not only a crash of the process.
	SyncEach bool
	// SyncInterval, when SyncEach is off and it is above 0, fsyncs what was
	// appended every interval on a goroutine of the log's own. With
	// neither, only Rewrite and Close fsync.
	SyncInterval time.Duration
	// OnSyncError, if set, hears of each failed fsync of the SyncInterval
	// goroutine, which has no caller to return it to.
	OnSyncError func(error)
}

// Log is an open log file.
type Log struct {
	path   string
	o      Options
	header []byte

	mu     sync.Mutex
	f      *os.File
	size   int64 // bytes in the file
	dirty  bool  // written since the last fsync
	closed bool
	buf    []byte // the record being appended, framed

	stop chan struct{}
	wg   sync.WaitGroup
}

// Open opens the log at path, creating it (and its directory) if missing,
// and hands each whole record's body, in order, to replay; the body is only
// valid during the call. Replay stops where a record is torn or corrupt,
// or where replay returns false, and the file is cut there.
func Open(path string, o Options, replay func(body []byte) bool) (*Log, error) {
	if o.Kind == "" || strings.ContainsAny(o.Kind, "\n\r") {
		return nil, fmt.Errorf("log %s: kind %q must be one non-empty line", path, o.Kind)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	l := &Log{path: path, o: o, header: []byte(magic + "v1: " + o.Kind + "\n")}
	f, err := l.openFile()
	if err != nil {
		return nil, err
	}
	size, err := l.replay(f, replay)
	if err == nil {
		err = f.Truncate(size)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	l.f, l.size = f, size
	if !o.SyncEach && o.SyncInterval > 0 {
		l.stop = make(chan struct{})
		l.wg.Add(1)
		go l.syncer(o.SyncInterval)
	}
	return l, nil
}

// openFile opens the log file for reading and appending, locked if asked.
func (l *Log) openFile() (*os.File, error) {
	for tries := 0; ; tries++ {
		f, err := os.OpenFile(l.path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil || !l.o.Lock {
			return f, err
		}
		current, err := lockCurrent(f, l.path)
		if err != nil {
			f.Close()
			if errors.Is(err, lockfile.ErrLocked) {
				return nil, fmt.Errorf("%s is in use by another process: %w", l.path, err)
			}
			return nil, fmt.Errorf("locking %s: %w", l.path, err)
		}
		if current {
			return f, nil
		}
		f.Close()
		if tries == 10 {
			return nil, fmt.Errorf("%s is in use by another process: %w (it keeps rewriting the log)", l.path, lockfile.ErrLocked)
		}
	}
}

// lockCurrent locks f, opened at path, and reports whether f is still the
// file at path. The holder of the lock may have renamed a rewritten log
// over path between the open and the lock, then closed (and so unlocked)
// the file f is: that file is no longer the log, and locking it keeps no
// one out.
func lockCurrent(f *os.File, path string) (bool, error) {
	if err := lockfile.Lock(f); err != nil {
		return false, err
	}
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	pi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return os.SameFile(fi, pi), nil
}

// replay checks the header and applies the records, returning the size of
// the whole part of the file.
func (l *Log) replay(f *os.File, apply func(body []byte) bool) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := st.Size()
	if size == 0 {
		return 0, nil
	}
	r := bufio.NewReaderSize(f, 64<<10)
	head := make([]byte, min(size, int64(len(l.header))))
	if _, err := io.ReadFull(r, head); err != nil {
		return 0, fmt.Errorf("reading %s: %w", l.path, err)
	}
	if !bytes.Equal(head, l.header[:len(head)]) {
		return 0, l.formatError(f)
	}
	if len(head) < len(l.header) {
		return 0, nil // the first write was cut short within the header
	}
	off := int64(len(l.header))
	var hdr [Overhead]byte
	var body []byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				break // the end, or a torn header
			}
			return 0, fmt.Errorf("reading %s: %w", l.path, err)
		}
		n := int64(binary.LittleEndian.Uint32(hdr[:4]))
		if n == 0 || n > MaxBody || n > size-off-Overhead {
			break // a torn or corrupt length
		}
		if int64(cap(body)) < n {
			body = make([]byte, n)
		}
		body = body[:n]
		if _, err := io.ReadFull(r, body); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				break
			}
			return 0, fmt.Errorf("reading %s: %w", l.path, err)
		}
		if crc32.Checksum(body, crcTable) != binary.LittleEndian.Uint32(hdr[4:]) || !apply(body) {
			break
		}
		off += Overhead + n
	}
	if off == int64(len(l.header)) {
		return 0, nil // no whole record: an empty log is an empty file
	}
	return off, nil
}

// formatError describes a file that does not start with the header.
func (l *Log) formatError(f *os.File) error {
	e := &FormatError{Path: l.path, Want: string(l.header)}
	first := make([]byte, 128)
	n, _ := f.ReadAt(first, 0)
	first = first[:n]
	if bytes.HasPrefix(first, []byte(magic)) {
		line, _, _ := bytes.Cut(first, []byte("\n"))
		e.Found = string(line)
	}
	return e
}

// Append writes one record with a single write(2), so a crash leaves it
// whole or torn, never interleaved. When Append returns nil the record is
// in the kernel: it survives the death of the process. With SyncEach it is
// on the device too; if only that fsync fails, the error wraps ErrNotSynced.
func (l *Log) Append(body []byte) error {
	if len(body) == 0 || len(body) > MaxBody {
		return fmt.Errorf("log %s: record of %d bytes (want 1 to %d)", l.path, len(body), MaxBody)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("log %s is closed", l.path)
	}
	l.buf = l.buf[:0]
	if l.size == 0 {
		l.buf = append(l.buf, l.header...)
	}
	l.buf = frame(l.buf, body)
	n, err := l.f.Write(l.buf)
	if cap(l.buf) > maxKeptBuffer {
		l.buf = nil // do not hold a rare huge record's size for good
	}
	if err != nil {
		return err
	}
	l.size += int64(n)
	l.dirty = true
	if l.o.SyncEach {
		if err := l.syncLocked(); err != nil {
			return fmt.Errorf("%w: %w", ErrNotSynced, err)
		}
	}
	return nil
}

// frame appends a record of body to b.
func frame(b, body []byte) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(body)))
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(body, crcTable))
	return append(b, body...)
}

// Size is the file's size in bytes: header and records, live or dead.
func (l *Log) Size() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.size
}

// Sync fsyncs what was appended since the last fsync.
func (l *Log) Sync() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	return l.syncLocked()
}

func (l *Log) syncLocked() error {
	if !l.dirty {
		return nil
	}
	if err := l.f.Sync(); err != nil {
		return err
	}
	l.dirty = false
	return nil
}

func (l *Log) syncer(every time.Duration) {
	defer l.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			if err := l.Sync(); err != nil && l.o.OnSyncError != nil {
				l.o.OnSyncError(err)
			}
		}
	}
}

// Rewrite replaces the log by the records write hands to add, in that
// order: the user's live state, so that dead records stop costing disk and
// replay time. The new file is written beside the log, fsynced and renamed
// over it (and the directory fsynced), so a crash at any moment leaves
// either the old log or the new one, whole. Appends wait meanwhile. On an
// error the old log stays in use.
func (l *Log) Rewrite(write func(add func(body []byte) error) error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("log %s is closed", l.path)
	}
	tmp := l.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if l.o.Lock {
		// The new file takes the old one's place, and its lock with it.
		if err := lockfile.Lock(f); err != nil {
			return fail(fmt.Errorf("locking %s: %w", tmp, err))
		}
	}
	w := bufio.NewWriterSize(f, 64<<10)
	var size int64
	var rec []byte
	add := func(body []byte) error {
		if len(body) == 0 || len(body) > MaxBody {
			return fmt.Errorf("log %s: record of %d bytes (want 1 to %d)", l.path, len(body), MaxBody)
		}
		rec = rec[:0]
		if size == 0 {
			rec = append(rec, l.header...)
		}
		rec = frame(rec, body)
		size += int64(len(rec))
		_, err := w.Write(rec)
		return err
	}
	if err := write(add); err != nil {
		return fail(err)
	}
	if err := w.Flush(); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, l.path); err != nil {
		return fail(err)
	}
	if d, err := os.Open(filepath.Dir(l.path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	l.f.Close()
	l.f, l.size, l.dirty = f, size, false
	return nil
}

// Reset empties the log, as when nothing in it is live any more.
func (l *Log) Reset() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return fmt.Errorf("log %s is closed", l.path)
	}
	if err := l.f.Truncate(0); err != nil {
		return err
	}
	l.size, l.dirty = 0, true
	return nil
}

// Close fsyncs what is not yet synced and closes the file (releasing its
// lock); the records stay for the next Open. Later calls do nothing.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	err := l.syncLocked()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.mu.Unlock()
	if l.stop != nil {
		close(l.stop)
		l.wg.Wait()
	}
	return err
}
