//go:build !linux

package scheduler

import (
	"runtime"
	"sync"
	"time"
)

// sleepTimers holds stopped or fired Go timers for reuse, so that Wait
// allocates nothing once warm (since Go 1.23 a stopped or reset timer
// delivers no stale tick).
var sleepTimers sync.Pool

// DefaultSpinMargin is how long before a deadline the portable timer stops
// sleeping and spins. Off Linux a Go timer is late by up to a millisecond or
// two, so the sleep ends earlier there, and only the spin is precise.
const DefaultSpinMargin = 2 * time.Millisecond

// FIFOPriority is the SCHED_FIFO priority Bind asks for High on Linux;
// elsewhere no real-time policy is asked for.
const FIFOPriority = 40

// PreciseTimer is the portable timer used off Linux: a Go timer to
// SpinMargin before the deadline, then a spin on the monotonic clock. It is
// as precise as the Linux timer only when the Go timer is on time, and
// spins for SpinMargin of every period, so prefer it below about 100 Hz.
type PreciseTimer struct {
	epoch time.Time
	// SpinMargin is how long before each deadline Wait stops sleeping and
	// spins; set it before the first Wait. 0 means never spin.
	SpinMargin time.Duration
}

var (
	_ Timer  = (*PreciseTimer)(nil)
	_ Binder = (*PreciseTimer)(nil)
)

// NewPreciseTimer returns a PreciseTimer whose timeline starts now.
func NewPreciseTimer() Timer { return newPreciseTimer() }

func newPreciseTimer() *PreciseTimer {
	return &PreciseTimer{epoch: time.Now(), SpinMargin: DefaultSpinMargin}
}

// Now returns the time since the timer was made (monotonic).
func (t *PreciseTimer) Now() time.Duration { return time.Since(t.epoch) }

// Wait blocks until Now() >= deadline; it returns false early if stop is
// closed (at once during the sleep, not during the spin).
func (t *PreciseTimer) Wait(deadline time.Duration, stop <-chan struct{}) bool {
	if rem := deadline - t.Now() - t.SpinMargin; rem > 0 {
		tm, _ := sleepTimers.Get().(*time.Timer)
		if tm == nil {
			tm = time.NewTimer(rem)
		} else {
			tm.Reset(rem)
		}
		select {
		case <-tm.C:
		case <-stop:
			tm.Stop()
			sleepTimers.Put(tm)
			return false
		}
		sleepTimers.Put(tm)
	}
	select {
	case <-stop:
		return false
	default:
	}
	for t.Now() < deadline {
	}
	return true
}

// Bind locks the calling goroutine to its OS thread. Timer slack and a
// real-time policy are Linux-only; the Note says so.
func (t *PreciseTimer) Bind(p Priority) BindInfo {
	runtime.LockOSThread()
	return BindInfo{Locked: true, Note: "timer slack and real-time policy are set on Linux only"}
}
