package scheduler

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A thread given SCHED_FIFO by Bind(High) must not pass the policy on:
// threads the Go runtime starts meanwhile are not clones of it, and the
// thread itself ends with its goroutine.
func TestPreciseTimerRealTimeStaysOnItsThread(t *testing.T) {
	granted := make(chan bool)
	release := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		info := NewPreciseTimer().(Binder).Bind(High)
		granted <- info.RealTime
		<-release
	}()
	if !<-granted {
		close(release)
		<-exited
		t.Skip("SCHED_FIFO not permitted here")
	}
	// Make the runtime start more threads while the FIFO thread lives.
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			time.Sleep(10 * time.Millisecond)
		}()
	}
	wg.Wait()
	if n, _ := fifoThreads(t); n != 1 {
		t.Errorf("%d SCHED_FIFO threads while the bound goroutine lives, want 1", n)
	}
	close(release)
	<-exited
	// The runtime ends the thread; if it was the process's main thread,
	// which cannot end, it parks it for good instead.
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, main := fifoThreads(t)
		if n == 0 || n == 1 && main {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d SCHED_FIFO threads left after the bound goroutine ended", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// fifoThreads counts this process's threads whose policy is SCHED_FIFO (1),
// from field 41 of /proc/self/task/*/stat, and says whether the main thread
// is one of them.
func fifoThreads(t *testing.T) (n int, main bool) {
	t.Helper()
	dirs, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		b, err := os.ReadFile("/proc/self/task/" + d.Name() + "/stat")
		if err != nil {
			continue // the thread ended
		}
		// The command name (field 2) may hold spaces; fields restart after ')'.
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 38 && fields[38] == "1" { // field 41 overall
			n++
			main = main || d.Name() == strconv.Itoa(os.Getpid())
		}
	}
	return n, main
}

// Bind keeps a thread at SCHED_OTHER at its nice value while it shortens
// the fair-scheduler slice.
func TestPreciseTimerBindKeepsNice(t *testing.T) {
	done := make(chan string)
	go func() {
		// Ends locked: the thread, niced, ends with the goroutine.
		runtime.LockOSThread()
		tid := syscall.Gettid()
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, 5); err != nil {
			done <- "setpriority: " + err.Error()
			return
		}
		info := NewPreciseTimer().(Binder).Bind(Normal)
		// getpriority returns 20 - nice.
		prio, err := syscall.Getpriority(syscall.PRIO_PROCESS, tid)
		if err != nil || 20-prio != 5 {
			done <- fmt.Sprintf("nice after Bind: %d (%v), want 5; note %q", 20-prio, err, info.Note)
			return
		}
		if info.Note != "" {
			done <- "note: " + info.Note
			return
		}
		done <- ""
	}()
	if msg := <-done; msg != "" {
		t.Fatal(msg)
	}
}
