package applog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/metronome-rt/metronome/internal/lockfile"
)

const testKind = "test records v1"

// open opens the log at path and returns the bodies it replayed.
func open(t testing.TB, path string, o Options) (*Log, []string) {
	t.Helper()
	if o.Kind == "" {
		o.Kind = testKind
	}
	var got []string
	l, err := Open(path, o, func(b []byte) bool { got = append(got, string(b)); return true })
	if err != nil {
		t.Fatal(err)
	}
	return l, got
}

func appendAll(t testing.TB, l *Log, bodies ...string) {
	t.Helper()
	for _, b := range bodies {
		if err := l.Append([]byte(b)); err != nil {
			t.Fatal(err)
		}
	}
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// Whatever a crash in the middle of a write leaves at the end (part of a
// record's header, part of its body, a body whose checksum does not match,
// a zero length), replay keeps the whole records before it, in order, and
// cuts the rest off, so the next append is found after the next restart.
func TestTornTailIsCutOff(t *testing.T) {
	whole := []string{"one", "two", strings.Repeat("3", 1000)}
	for _, tc := range []struct {
		name string
		tail func(last []byte) []byte
	}{
		{"half a record header", func([]byte) []byte { return []byte{9, 0, 0} }},
		{"header without body", func([]byte) []byte { return frame(nil, []byte("four"))[:Overhead] }},
		{"half a body", func([]byte) []byte { r := frame(nil, []byte("four")); return r[:len(r)-2] }},
		{"bad checksum", func([]byte) []byte { r := frame(nil, []byte("four")); r[len(r)-1] ^= 1; return r }},
		{"zero length", func([]byte) []byte { return make([]byte, 12) }},
		{"length beyond the file", func([]byte) []byte { return []byte{0xff, 0xff, 0xff, 0x0f, 1, 2, 3, 4, 5} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.log")
			l, got := open(t, path, Options{})
			if len(got) != 0 {
				t.Fatalf("a new log replayed %q", got)
			}
			appendAll(t, l, whole...)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			good := fileSize(t, path)
			f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			f.Write(tc.tail(nil))
			f.Close()

			l, got = open(t, path, Options{})
			if fmt.Sprint(got) != fmt.Sprint(whole) {
				t.Fatalf("replayed %d records, want the %d whole ones", len(got), len(whole))
			}
			if s := fileSize(t, path); s != good || l.Size() != good {
				t.Fatalf("file is %d bytes (Size %d) after the torn tail was cut, want %d", s, l.Size(), good)
			}
			appendAll(t, l, "after")
			l.Close()
			_, got = open(t, path, Options{})
			if len(got) != 4 || got[3] != "after" {
				t.Fatalf("the append after a cut tail was lost: %q", got)
			}
		})
	}
}

// An empty log is an empty file: the header comes with the first record,
// and a crash in the middle of writing it leaves an empty log, not an
// unreadable one.
func TestEmptyLogIsAnEmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.log")
	l, _ := open(t, path, Options{})
	l.Close()
	if s := fileSize(t, path); s != 0 {
		t.Fatalf("an empty log is %d bytes", s)
	}
	l, _ = open(t, path, Options{})
	appendAll(t, l, "a")
	l.Close()
	b, _ := os.ReadFile(path)
	header := "metronome log v1: " + testKind + "\n"
	if !strings.HasPrefix(string(b), header) {
		t.Fatalf("log starts %q, want %q", b, header)
	}
	for _, n := range []int{1, 10, len(header) - 1, len(header), len(header) + 3} {
		os.WriteFile(path, b[:n], 0o600)
		l, got := open(t, path, Options{})
		if len(got) != 0 || l.Size() != 0 || fileSize(t, path) != 0 {
			t.Errorf("a first write cut at %d bytes: replayed %q, size %d", n, got, l.Size())
		}
		l.Close()
	}
	l, _ = open(t, path, Options{})
	appendAll(t, l, "a", "b")
	if err := l.Reset(); err != nil {
		t.Fatal(err)
	}
	if l.Size() != 0 || fileSize(t, path) != 0 {
		t.Fatalf("reset left %d bytes", fileSize(t, path))
	}
	appendAll(t, l, "c")
	l.Close()
	if _, got := open(t, path, Options{}); fmt.Sprint(got) != "[c]" {
		t.Fatalf("after a reset: %q", got)
	}
}

// A file in another format (no header: an older version's log, or not a
// log), or a log of another kind or version, is refused with an error
// that names the file and what to do, and is left untouched.
func TestOtherFormatsAreRefused(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "other.log")
	l, _ := open(t, other, Options{Kind: "other records v2"})
	appendAll(t, l, "x")
	l.Close()
	otherBytes, _ := os.ReadFile(other)
	for _, tc := range []struct {
		name    string
		content []byte
		found   string
	}{
		{"headerless records", append(frame(nil, []byte("old")), frame(nil, []byte("older"))...), ""},
		{"text", []byte("hello\n"), ""},
		{"one byte", []byte("x"), ""},
		{"another kind", otherBytes, "metronome log v1: other records v2"},
		{"another version", []byte("metronome log v9: " + testKind + "\nxxxx"), "metronome log v9: " + testKind},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			os.WriteFile(path, tc.content, 0o600)
			_, err := Open(path, Options{Kind: testKind}, func([]byte) bool { t.Fatal("replayed"); return false })
			var fe *FormatError
			if !errors.As(err, &fe) || fe.Found != tc.found || fe.Path != path {
				t.Fatalf("got %v, want a FormatError finding %q", err, tc.found)
			}
			if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, "move it away") {
				t.Errorf("unclear error: %s", msg)
			}
			if b, _ := os.ReadFile(path); !bytes.Equal(b, tc.content) {
				t.Error("the refused file was changed")
			}
		})
	}
}

// The user's replay function decides which records make sense: where it
// says no, replay stops and the file is cut, as for a torn record.
func TestReplayStopsWhereTheUserRefuses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.log")
	l, _ := open(t, path, Options{})
	appendAll(t, l, "ok1", "ok2", "bad", "ok3")
	l.Close()
	var got []string
	l, err := Open(path, Options{Kind: testKind}, func(b []byte) bool {
		if string(b) == "bad" {
			return false
		}
		got = append(got, string(b))
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if fmt.Sprint(got) != "[ok1 ok2]" {
		t.Fatalf("replayed %q", got)
	}
	if _, all := open(t, path, Options{}); fmt.Sprint(all) != "[ok1 ok2]" {
		t.Fatalf("after the cut: %q", all)
	}
}

// Rewrite replaces the log by the live records; a failure half-way leaves
// the old log in use and whole, and no temporary file behind.
func TestRewrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.log")
	l, _ := open(t, path, Options{})
	for i := 0; i < 100; i++ {
		appendAll(t, l, strconv.Itoa(i))
	}
	before := l.Size()
	err := l.Rewrite(func(add func([]byte) error) error {
		for _, s := range []string{"97", "98", "99"} {
			if err := add([]byte(s)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if l.Size() >= before || l.Size() != fileSize(t, path) {
		t.Fatalf("size %d after rewriting %d bytes (file %d)", l.Size(), before, fileSize(t, path))
	}
	appendAll(t, l, "100")
	boom := errors.New("boom")
	if err := l.Rewrite(func(add func([]byte) error) error { add([]byte("lost")); return boom }); !errors.Is(err, boom) {
		t.Fatalf("failed rewrite: %v", err)
	}
	if _, err := os.Stat(path + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary file left: %v", err)
	}
	appendAll(t, l, "101")
	if err := l.Rewrite(func(add func([]byte) error) error { return add(nil) }); err == nil {
		t.Error("rewrite accepted an empty record")
	}
	l.Close()
	if _, got := open(t, path, Options{}); fmt.Sprint(got) != "[97 98 99 100 101]" {
		t.Fatalf("after rewrites: %q", got)
	}
	l, _ = open(t, path, Options{})
	if err := l.Rewrite(func(func([]byte) error) error { return nil }); err != nil || fileSize(t, path) != 0 {
		t.Fatalf("rewriting to nothing: %v, %d bytes", err, fileSize(t, path))
	}
	l.Close()
}

// With Lock, one process (one open Log) per file, also after a Rewrite has
// put a new file in the log's place.
func TestLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.log")
	l, _ := open(t, path, Options{Lock: true})
	appendAll(t, l, "a")
	if _, err := Open(path, Options{Kind: testKind, Lock: true}, func([]byte) bool { return true }); !errors.Is(err, lockfile.ErrLocked) || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second open: %v", err)
	}
	if err := l.Rewrite(func(add func([]byte) error) error { return add([]byte("a")) }); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, Options{Kind: testKind, Lock: true}, func([]byte) bool { return true }); !errors.Is(err, lockfile.ErrLocked) {
		t.Fatalf("second open after a rewrite: %v", err)
	}
	l.Close()
	l, got := open(t, path, Options{Lock: true})
	if fmt.Sprint(got) != "[a]" {
		t.Fatalf("replayed %q", got)
	}
	l.Close()
}

// A process that opened the log just before its holder renamed a rewritten
// file over it, and locks after the holder let go of the old file, holds a
// lock on a file that is no longer the log: it must not take that for the
// log's lock.
func TestLockOnAReplacedFileDoesNotCount(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.log")
	l, _ := open(t, path, Options{Lock: true})
	appendAll(t, l, "a")
	late, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	if err := l.Rewrite(func(add func([]byte) error) error { return add([]byte("a")) }); err != nil {
		t.Fatal(err)
	}
	current, err := lockCurrent(late, path)
	if err != nil {
		t.Fatalf("the old file is unlocked now: %v", err)
	}
	if current {
		t.Fatal("a lock on the replaced file was taken for the log's")
	}
	l.Close()
}

// SyncEach leaves nothing unsynced after an Append; SyncInterval syncs on
// its own goroutine, which Close ends.
func TestSyncPolicies(t *testing.T) {
	dir := t.TempDir()
	l, _ := open(t, filepath.Join(dir, "each.log"), Options{SyncEach: true})
	appendAll(t, l, "a")
	l.mu.Lock()
	dirty := l.dirty
	l.mu.Unlock()
	if dirty {
		t.Error("SyncEach: the record is not synced after Append")
	}
	l.Close()

	l, _ = open(t, filepath.Join(dir, "interval.log"), Options{SyncInterval: 5 * time.Millisecond})
	appendAll(t, l, "a")
	deadline := time.Now().Add(10 * time.Second)
	for {
		l.mu.Lock()
		dirty := l.dirty
		l.mu.Unlock()
		if !dirty {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("SyncInterval: not synced within 10 s")
		}
		time.Sleep(time.Millisecond)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Append([]byte("late")); err == nil {
		t.Error("append after Close accepted")
	}

	l, _ = open(t, filepath.Join(dir, "never.log"), Options{})
	appendAll(t, l, "a")
	if l.stop != nil {
		t.Error("a syncer runs without a sync policy")
	}
	l.Close()
}

func TestAppendRefusesEmptyAndAllocatesNothing(t *testing.T) {
	l, _ := open(t, filepath.Join(t.TempDir(), "x.log"), Options{})
	defer l.Close()
	if err := l.Append(nil); err == nil {
		t.Error("empty record accepted")
	}
	body := []byte("twelve bytes")
	appendAll(t, l, "warm up")
	if n := testing.AllocsPerRun(1000, func() { l.Append(body) }); n != 0 {
		t.Errorf("%v allocations per Append", n)
	}
}

// crashEnv makes the test binary the child that TestSIGKILLKeepsEveryAppend
// kills: it appends numbered records to the log named by the variable,
// printing each number once Append returned.
const crashEnv = "METRONOME_APPLOG_CRASH_CHILD"

func TestMain(m *testing.M) {
	if path := os.Getenv(crashEnv); path != "" {
		l, err := Open(path, Options{Kind: testKind, Lock: true}, func([]byte) bool { return true })
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		payload := bytes.Repeat([]byte("x"), 300)
		for i := 0; ; i++ {
			rec := append(strconv.AppendInt(nil, int64(i), 10), ' ')
			if err := l.Append(append(rec, payload[:i%300]...)); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			fmt.Println(i)
		}
	}
	os.Exit(m.Run())
}

// A process killed with SIGKILL while appending loses no record whose
// Append returned: the restart replays all of them, in order, and at most
// the one being written when it died is cut off.
func TestSIGKILLKeepsEveryAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crash.log")
	for round := 0; round < 3; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashEnv+"="+path)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		acked := -1
		sc := bufio.NewScanner(out)
		for acked < 2000 && sc.Scan() {
			acked, _ = strconv.Atoi(sc.Text())
		}
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		if acked < 0 {
			t.Fatal("the child appended nothing")
		}
		l, got := open(t, path, Options{Lock: true})
		// Each child numbers from 0 and appends after what the last one
		// left, so the log holds round+1 runs of 0, 1, 2, ...
		runs, next := 0, 0
		for i, rec := range got {
			n, err := strconv.Atoi(strings.Fields(rec)[0])
			if err != nil || len(rec) != len(strconv.Itoa(n))+1+n%300 {
				t.Fatalf("record %d is damaged: %.40q", i, rec)
			}
			if n == 0 {
				runs++
			} else if n != next {
				t.Fatalf("record %d is number %d, want %d: out of order or lost", i, n, next)
			}
			next = n + 1
		}
		if runs != round+1 || next-1 < acked {
			t.Fatalf("round %d: %d runs, last record %d; the child had appended %d", round, runs, next-1, acked)
		}
		l.Close()
	}
}

// FuzzOpen opens arbitrary bytes as a log: Open never panics; it refuses
// a file that is not a log of its kind and leaves it as it was, or it
// keeps the whole records and works afterwards.
func FuzzOpen(f *testing.F) {
	dir := f.TempDir()
	seedPath := filepath.Join(dir, "seed.log")
	l, _ := open(f, seedPath, Options{})
	appendAll(f, l, "a", "bb", "ccc")
	l.Close()
	seed, _ := os.ReadFile(seedPath)
	f.Add(seed)
	f.Add(seed[:len(seed)-2])
	f.Add(seed[:7])
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 9})
	f.Fuzz(func(t *testing.T, content []byte) {
		path := filepath.Join(t.TempDir(), "x.log")
		os.WriteFile(path, content, 0o600)
		var got []string
		l, err := Open(path, Options{Kind: testKind}, func(b []byte) bool { got = append(got, string(b)); return true })
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("not a FormatError: %v", err)
			}
			if b, _ := os.ReadFile(path); !bytes.Equal(b, content) {
				t.Fatal("a refused file was changed")
			}
			return
		}
		appendAll(t, l, "new")
		l.Close()
		_, again := open(t, path, Options{})
		if want := fmt.Sprint(append(got, "new")); fmt.Sprint(again) != want {
			t.Fatalf("reopened %q, want %s", again, want)
		}
	})
}
