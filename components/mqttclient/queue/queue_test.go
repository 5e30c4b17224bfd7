package queue

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/metronome-rt/metronome/internal/applog"
)

func drain(t *testing.T, s *Store) []string {
	t.Helper()
	var out []string
	for {
		m, ok := s.Front()
		if !ok {
			return out
		}
		out = append(out, m.Topic+"="+string(m.Payload))
		if err := s.Pop(); err != nil {
			t.Fatal(err)
		}
	}
}

func push(t *testing.T, s *Store, topic, payload string, latest bool) bool {
	t.Helper()
	ok, err := s.Push(Message{Topic: topic, Payload: []byte(payload), QoS: 1, Latest: latest})
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestOrderLimitAndLatest(t *testing.T) {
	for _, dir := range []string{"", t.TempDir()} {
		s, err := Open(Options{Limit: 5, Dir: dir, Name: "c"})
		if err != nil {
			t.Fatal(err)
		}
		push(t, s, "ev", "1", false)
		push(t, s, "sp", "a", true)
		push(t, s, "ev", "2", false)
		push(t, s, "sp", "b", true) // replaces "a" in its place
		push(t, s, "ev", "3", false)
		push(t, s, "ev", "4", false)
		if push(t, s, "ev", "5", false) {
			t.Error("push beyond the limit accepted")
		}
		if !push(t, s, "sp", "c", true) {
			t.Error("latest replacement refused when full")
		}
		got := fmt.Sprint(drain(t, s))
		if want := "[ev=1 sp=c ev=2 ev=3 ev=4]"; got != want {
			t.Errorf("dir %q: got %s, want %s", dir, got, want)
		}
		if s.Len() != 0 {
			t.Errorf("len %d after drain", s.Len())
		}
		s.Close()
	}
}

func TestFrontLatestIsNotReplaced(t *testing.T) {
	s, _ := Open(Options{Limit: 10})
	push(t, s, "sp", "a", true)
	push(t, s, "sp", "b", true) // "a" is at the front, possibly on the wire
	push(t, s, "sp", "c", true) // replaces "b"
	if got := fmt.Sprint(drain(t, s)); got != "[sp=a sp=c]" {
		t.Errorf("got %s", got)
	}
}

func TestReplayAfterRestart(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Limit: 1000, Dir: dir, Name: "c"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 300; i++ {
		push(t, s, "t", strconv.Itoa(i), false)
		if i%7 == 0 {
			push(t, s, "sp", strconv.Itoa(i), true)
		}
	}
	for i := 0; i < 100; i++ {
		s.Pop()
	}
	want := fmt.Sprint(snapshot(s))
	s.Close() // as a killed process would leave it: no flush beyond write(2)

	// A torn record at the tail (a crash mid-write) is cut off.
	f, _ := os.OpenFile(filepath.Join(dir, "c.queue"), os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte{40, 0, 0, 0, 1, 2, 3, 4, recPush, 1})
	f.Close()

	s2, err := Open(Options{Limit: 1000, Dir: dir, Name: "c"})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(snapshot(s2)); got != want {
		t.Fatalf("after replay:\n got %s\nwant %s", got, want)
	}
	push(t, s2, "t", "after", false)
	s2.Close()
	s3, _ := Open(Options{Limit: 1000, Dir: dir, Name: "c"})
	all := drain(t, s3)
	if all[len(all)-1] != "t=after" || len(all) != s2.n {
		t.Errorf("append after a torn tail lost: %d messages, last %s", len(all), all[len(all)-1])
	}
	s3.Close()
	if st, _ := os.Stat(filepath.Join(dir, "c.queue")); st.Size() != 0 {
		t.Errorf("empty queue leaves a log of %d bytes", st.Size())
	}
}

func snapshot(s *Store) []string {
	var out []string
	for i := 0; i < s.n; i++ {
		m := s.ring[(s.head+i)%len(s.ring)]
		out = append(out, m.Topic+"="+string(m.Payload))
	}
	return out
}

func TestReplayKeepsAllWhenTheLimitWasLowered(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(Options{Limit: 100, Dir: dir, Name: "c"})
	for i := 0; i < 50; i++ {
		push(t, s, "t", strconv.Itoa(i), false)
	}
	s.Pop()
	s.Close()
	s2, _ := Open(Options{Limit: 10, Dir: dir, Name: "c"})
	if s2.Len() != 49 {
		t.Fatalf("replayed %d of 49 with a lower limit", s2.Len())
	}
	if push(t, s2, "t", "more", false) {
		t.Error("push accepted above the limit")
	}
	got := drain(t, s2)
	if len(got) != 49 || got[0] != "t=1" || got[48] != "t=49" {
		t.Errorf("got %d: %v...", len(got), got[:3])
	}
}

func TestOneWriterPerLog(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Limit: 10, Dir: dir, Name: "c"})
	if err != nil {
		t.Fatal(err)
	}
	push(t, s, "t", "1", false)
	if _, err := Open(Options{Limit: 10, Dir: dir, Name: "c"}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second open of a log in use: %v", err)
	}
	s.compact() // the rewritten log is locked too
	if _, err := Open(Options{Limit: 10, Dir: dir, Name: "c"}); err == nil {
		t.Error("second open after compaction succeeded")
	}
	s.Close()
	s2, err := Open(Options{Limit: 10, Dir: dir, Name: "c"})
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	s2.Close()
}

func TestCompaction(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(Options{Limit: 100, Dir: dir, Name: "c"})
	s.compactN, s.compactAt = 4096, 4096
	payload := make([]byte, 100)
	for i := 0; i < 1000; i++ {
		s.Push(Message{Topic: "t", Payload: append(payload[:0:0], strconv.Itoa(i)...), QoS: 1})
		if i >= 2 {
			s.Pop() // two always wait: the log never empties by itself
		}
	}
	st, _ := os.Stat(filepath.Join(dir, "c.queue"))
	if st.Size() > 3*4096 {
		t.Errorf("log grew to %d bytes with 2 messages waiting", st.Size())
	}
	s.Close()
	s2, _ := Open(Options{Limit: 100, Dir: dir, Name: "c"})
	if got := fmt.Sprint(drain(t, s2)); got != "[t=998 t=999]" {
		t.Errorf("after compaction: %s", got)
	}
}

func TestPushPopAllocatesNothing(t *testing.T) {
	s, _ := Open(Options{Limit: 64})
	p := []byte("12.5")
	n := testing.AllocsPerRun(1000, func() {
		s.Push(Message{Topic: "a/b", Payload: p, QoS: 1})
		s.Pop()
	})
	if n != 0 {
		t.Errorf("%v allocations per push+pop", n)
	}
}

// FuzzReplay opens arbitrary bytes as a queue log: whatever a crash or a
// disk error left, Open never panics; a file that is not a queue log is
// refused with a clear error and left as it was, and of a queue log only
// whole records are kept, and the store works afterwards.
//
// Fuzz it for a count of inputs (-fuzztime 20000x) rather than a
// duration: with a duration, Go 1.26's fuzzing coordinator can fail a
// run as it ends, with a bare "context deadline exceeded" and no failing
// input (golang/go#75804, fixed in Go 1.27). Each input costs a few
// milliseconds (Open compacts the log with fsyncs), so the coordinator's
// minimising of a new input can hold the exec count still for up to a
// minute; that is not a hang.
func FuzzReplay(f *testing.F) {
	dir := f.TempDir()
	s, _ := Open(Options{Limit: 10, Dir: dir, Name: "seed"})
	s.Push(Message{Topic: "a", Payload: []byte("1"), QoS: 1})
	s.Push(Message{Topic: "b", Payload: []byte("2"), QoS: 2, Latest: true, Retain: true})
	s.Push(Message{Topic: "b", Payload: []byte("3"), QoS: 2, Latest: true})
	s.Pop()
	s.Close()
	seed, _ := os.ReadFile(filepath.Join(dir, "seed.queue"))
	header := seed[:bytes.IndexByte(seed, '\n')+1]
	f.Add(seed)
	f.Add(seed[:len(seed)-3])
	f.Add([]byte{})
	f.Add(header[:5])
	f.Add(append(header[:len(header):len(header)], 1, 0, 0, 0, 0, 0, 0, 0, 9))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 9})
	f.Fuzz(func(t *testing.T, log []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "q.queue")
		os.WriteFile(path, log, 0o600)
		s, err := Open(Options{Limit: 5, Dir: dir, Name: "q"})
		if err != nil {
			var fe *applog.FormatError
			if !errors.As(err, &fe) || !strings.Contains(err.Error(), "move it away") {
				t.Fatalf("refused with an unclear error: %v", err)
			}
			if b, _ := os.ReadFile(path); !bytes.Equal(b, log) {
				t.Fatal("a refused file was changed")
			}
			return
		}
		before := snapshot(s)
		if ok, err := s.Push(Message{Topic: "new", Payload: []byte("x"), QoS: 1}); err != nil {
			t.Fatal(err)
		} else if ok {
			before = append(before, "new=x")
		}
		s.Close()
		s2, err := Open(Options{Limit: 5, Dir: dir, Name: "q"})
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(snapshot(s2)); got != fmt.Sprint(before) {
			t.Fatalf("reopened %s, want %s", got, fmt.Sprint(before))
		}
		s2.Close()
	})
}

// A log from before the format had a header (or from anything else) is
// refused at Open with an error that names it and says what to do, and
// is left as it was: it is not replayed as garbage nor emptied.
func TestOldFormatIsRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.queue")
	// A push record of the old, headerless format (length, CRC-32C, body):
	// QoS 1, topic "t", payload "12".
	old := []byte{8, 0, 0, 0, 0x26, 0x9d, 0x6f, 0xdf, recPush, 1, 0, 1, 0, 't', '1', '2'}
	os.WriteFile(path, old, 0o600)
	_, err := Open(Options{Limit: 10, Dir: dir, Name: "c"})
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "move it away") {
		t.Fatalf("old format: %v", err)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, old) {
		t.Fatal("the refused log was changed")
	}
}
