// Package scheduler runs tasks at fixed rates on an absolute timeline: rate
// groups (one goroutine per scheduling group and priority, as in CDP), the
// precise periodic timer, the virtual clock for tests, the overrun policy
// and timing statistics. It knows nothing of YAML, MQTT or components.
package scheduler

import (
	"fmt"
	"strings"
	"time"
)

// Priority is a rate group's priority, as in CDP: each (scheduling group,
// priority) pair runs on its own goroutine.
type Priority uint8

// Priorities. Low may miss its rate under load; High may ask the operating
// system for a real-time policy for its thread.
const (
	Low Priority = iota
	Normal
	High
)

func (p Priority) String() string {
	switch p {
	case Low:
		return "low"
	case High:
		return "high"
	}
	return "normal"
}

// ParsePriority parses "low", "normal" or "high".
func ParsePriority(s string) (Priority, error) {
	switch strings.ToLower(s) {
	case "low":
		return Low, nil
	case "normal", "":
		return Normal, nil
	case "high":
		return High, nil
	}
	return Normal, fmt.Errorf("unknown priority %q (want low, normal or high)", s)
}

// Timer waits for absolute deadlines on a monotonic timeline that starts at
// zero when the timer is made. Deadlines are absolute (start + k*period), so
// a late wake-up never shifts later ticks and nothing drifts; a wall-clock
// jump changes nothing.
type Timer interface {
	// Now returns the current time on the timer's timeline.
	Now() time.Duration
	// Wait blocks until Now() >= deadline; it returns false early if stop is
	// closed.
	Wait(deadline time.Duration, stop <-chan struct{}) bool
}

// BindInfo reports how a rate group's thread was set up for timing.
type BindInfo struct {
	Locked   bool   // the goroutine is locked to its OS thread
	Slack    bool   // the thread's timer slack was lowered
	RealTime bool   // a real-time policy (SCHED_FIFO) was granted
	Note     string // why something was not granted, for the logs
}

// Binder is implemented by timers that tune the calling goroutine's thread.
// A rate group calls Bind once from its own goroutine before its first wait.
type Binder interface {
	Bind(p Priority) BindInfo
}

// SleepTimer is the portable timer: time.Sleep to the deadline. It is late
// by about a millisecond on Linux (the Go runtime rounds shorter timer waits
// up), which is fine below about 100 Hz.
type SleepTimer struct{ epoch time.Time }

// NewSleepTimer returns a SleepTimer whose timeline starts now.
func NewSleepTimer() *SleepTimer { return &SleepTimer{epoch: time.Now()} }

// Now returns the time since the timer was made (monotonic).
func (t *SleepTimer) Now() time.Duration { return time.Since(t.epoch) }

// Wait sleeps until deadline or until stop is closed.
func (t *SleepTimer) Wait(deadline time.Duration, stop <-chan struct{}) bool {
	d := deadline - t.Now()
	if d <= 0 {
		return true
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-stop:
		return false
	}
}
