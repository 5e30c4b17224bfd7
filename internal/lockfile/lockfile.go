// Package lockfile holds the file locks Metronome uses to keep one process
// per resource: one writer per MQTT queue log, one running copy per
// application on a host. The locks are flock(2) locks, so the kernel drops
// them when their holder dies, even by SIGKILL: no stale lock is ever left
// to clean up.
package lockfile

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ErrLocked is what Lock returns when another open file holds the lock.
var ErrLocked = errors.New("locked by another process")

// Held is a lock this process holds until Release or its exit.
type Held struct {
	f    *os.File
	Path string
}

// Release drops the lock. The file stays: removing it could let a third
// process lock a new file while a second still waits on the old one.
func (h *Held) Release() error { return h.f.Close() }

// BusyError says which process holds a lock.
type BusyError struct {
	Path string
	PID  int // 0 when it cannot be told
}

func (e *BusyError) Error() string {
	if e.PID == 0 {
		return fmt.Sprintf("%s is locked by another process", e.Path)
	}
	return fmt.Sprintf("%s is locked by process %d", e.Path, e.PID)
}

// Acquire locks the file at path (creating it) for this process and writes
// the process's PID into it. When another process holds it, the error is a
// *BusyError naming that process: from the kernel's table of locks where
// there is one (/proc/locks), else from the PID the holder wrote.
func Acquire(path string) (*Held, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	writable := err == nil
	if errors.Is(err, os.ErrPermission) {
		// Another user's lock file: it can still be locked, read-only.
		f, err = os.Open(path)
	}
	if err != nil {
		return nil, err
	}
	if err := Lock(f); err != nil {
		pid := holder(f)
		f.Close()
		if errors.Is(err, ErrLocked) {
			return nil, &BusyError{Path: path, PID: pid}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if writable {
		if err := f.Truncate(0); err == nil {
			f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		}
	}
	return &Held{f: f, Path: path}, nil
}

// holder returns the PID of the process holding f's lock, or 0.
func holder(f *os.File) int {
	if ino, ok := inode(f); ok {
		if pid := lockTableHolder(ino); pid > 0 {
			return pid
		}
	}
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n])))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// lockTableHolder finds the holder of an flock on inode ino in Linux's
// /proc/locks ("1: FLOCK  ADVISORY  WRITE 4242 08:02:1234 0 EOF").
func lockTableHolder(ino uint64) int {
	f, err := os.Open("/proc/locks")
	if err != nil {
		return 0
	}
	defer f.Close()
	want := ":" + strconv.FormatUint(ino, 10)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 6 || fs[1] != "FLOCK" || !strings.HasSuffix(fs[5], want) {
			continue
		}
		if pid, err := strconv.Atoi(fs[4]); err == nil && pid > 0 {
			return pid
		}
	}
	return 0
}
