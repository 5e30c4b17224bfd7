package scheduler

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// How the precise timer waits on Linux, from far to near the deadline:
//
//   - More than coarseAbove away, the goroutine parks on a Go timer until
//     coarseLead before the deadline. Parked, it holds no P and costs
//     nothing, and a closed stop channel ends the wait at once. A Go timer
//     may be a millisecond or two late; coarseLead absorbs that.
//   - Then the thread sleeps with clock_nanosleep(TIMER_ABSTIME) on
//     CLOCK_MONOTONIC until SpinMargin before the deadline, in slices of at
//     most sliceMax (a closed stop channel is noticed between slices).
//   - The last SpinMargin it spins on the clock.
//
// The Go runtime's sysmon preempts a goroutine that has not been through
// the scheduler for 10 ms, and takes the P of one in a system call; for a
// goroutine locked to its thread a preemption means handing the P to
// another thread and back, tens of microseconds or more, at whatever point
// the goroutine is, possibly just before a deadline. So the timer yields
// (runtime.Gosched) on its own every 7 ms while the deadline is far
// enough away for that to be harmless, and sysmon never needs to.
const (
	// DefaultSpinMargin is how long before a deadline the precise timer
	// stops sleeping and spins. A wake-up from clock_nanosleep on a non-RT
	// kernel is late by tens of microseconds at p50 and 100 µs or more at
	// p99; spinning the last 50 µs takes most of that off for about 5% of a
	// core at 1 kHz and 50% at 10 kHz, and nearly nothing at slow rates.
	DefaultSpinMargin = 50 * time.Microsecond
	coarseAbove       = 6 * time.Millisecond
	coarseLead        = 4 * time.Millisecond
	// sliceMax stays under 10 ms, after which sysmon takes the P of a
	// thread in a system call.
	sliceMax = 8 * time.Millisecond
	// yieldEvery leaves room under sysmon's 10 ms preemption limit for a
	// tick's work between two waits.
	yieldEvery = 7 * time.Millisecond
	// yieldSlack is how far beyond the spin a deadline must be for a
	// voluntary yield (a hand-off between threads, ~25 µs at p50, which
	// the spin margin mostly absorbs). Small enough that 10 kHz groups
	// yield too: a yield they choose costs less than a preemption sysmon
	// chooses.
	yieldSlack = 20 * time.Microsecond
	// FIFOPriority is the SCHED_FIFO priority Bind asks for High: below
	// the kernel's threaded interrupt handlers (50), which it must not
	// starve, and above every SCHED_OTHER thread.
	FIFOPriority = 40
	// latencySlice is the time slice Bind asks the kernel's fair scheduler
	// (EEVDF, Linux 6.12 and later) to give a normal or high priority
	// thread left at SCHED_OTHER: the shortest it allows. A thread with a
	// short slice gets an early virtual deadline, so on waking it preempts
	// a busy thread at once instead of waiting for that thread's slice
	// (3 ms by default) to end; it still gets only its fair share of the
	// CPU. No privilege is needed; older kernels ignore it.
	latencySlice = 100 * time.Microsecond
)

// PreciseTimer is the timer for rate groups on Linux: absolute deadlines on
// CLOCK_MONOTONIC (the clock the Go runtime's monotonic time reads); a long
// wait parks on a Go timer, the last few milliseconds sleep in
// clock_nanosleep(TIMER_ABSTIME) to SpinMargin before the deadline, then it
// spins on the clock. Now reads the vDSO clock through the Go runtime, with
// no system call. Wait allocates nothing when one goroutine uses the timer,
// as a rate group does (others may, at the cost of a Go timer each long
// wait). Call Bind from the waiting goroutine first: the precise part
// depends on the thread's timer slack.
type PreciseTimer struct {
	epoch     time.Time // Go's monotonic reading at timeline zero
	epochMono int64     // CLOCK_MONOTONIC in ns at timeline zero
	// SpinMargin is how long before each deadline Wait stops sleeping and
	// spins; set it before the first Wait. 0 means never spin.
	SpinMargin time.Duration

	lastYield atomic.Int64 // timeline ns of the last trip through the scheduler
	coarse    *time.Timer  // reused for the coarse part while busy is held
	busy      atomic.Bool
}

var (
	_ Timer  = (*PreciseTimer)(nil)
	_ Binder = (*PreciseTimer)(nil)
)

// NewPreciseTimer returns a PreciseTimer whose timeline starts now, with
// DefaultSpinMargin.
func NewPreciseTimer() Timer { return newPreciseTimer() }

func newPreciseTimer() *PreciseTimer {
	t := &PreciseTimer{SpinMargin: DefaultSpinMargin}
	// Tie Go's monotonic clock to CLOCK_MONOTONIC: both count the same
	// nanoseconds, so one pair of readings, taken as close together as
	// possible, converts one to the other for good.
	var a, b unix.Timespec
	best := int64(-1)
	for range 5 {
		_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &a)
		now := time.Now()
		_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &b)
		if gap := b.Nano() - a.Nano(); best < 0 || gap < best {
			best = gap
			t.epoch = now
			t.epochMono = a.Nano() + gap/2
		}
	}
	return t
}

// Now returns the time since the timer was made, on the monotonic clock.
func (t *PreciseTimer) Now() time.Duration { return time.Since(t.epoch) }

// Wait blocks until Now() >= deadline; it returns false early if stop is
// closed (at once during a long wait, within 6 ms near the deadline, not
// during the final spin).
func (t *PreciseTimer) Wait(deadline time.Duration, stop <-chan struct{}) bool {
	for {
		now := t.Now()
		rem := deadline - now
		if rem <= 0 {
			return true
		}
		select {
		case <-stop:
			return false
		default:
		}
		if rem <= t.SpinMargin {
			break
		}
		if rem > coarseAbove {
			if !t.park(rem-coarseLead, stop) {
				return false
			}
			t.lastYield.Store(int64(t.Now()))
			continue
		}
		if now-time.Duration(t.lastYield.Load()) >= yieldEvery && rem > t.SpinMargin+yieldSlack {
			runtime.Gosched()
			t.lastYield.Store(int64(t.Now()))
			continue
		}
		wake := deadline - t.SpinMargin
		if wake-now > sliceMax {
			wake = now + sliceMax
		}
		ts := unix.NsecToTimespec(t.epochMono + int64(wake))
		// EINTR (a signal, such as the Go runtime's preemption signal)
		// only cuts the sleep short: the loop sleeps again.
		_ = unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &ts, nil)
	}
	for t.Now() < deadline {
	}
	return true
}

// park blocks the goroutine on a Go timer for d; false if stop closed first.
func (t *PreciseTimer) park(d time.Duration, stop <-chan struct{}) bool {
	if !t.busy.CompareAndSwap(false, true) {
		// Another goroutine waits on this timer: use a timer of our own.
		tm := time.NewTimer(d)
		defer tm.Stop()
		select {
		case <-tm.C:
			return true
		case <-stop:
			return false
		}
	}
	defer t.busy.Store(false)
	if t.coarse == nil {
		t.coarse = time.NewTimer(d)
	} else {
		t.coarse.Reset(d) // since Go 1.23 no stale tick survives a Reset
	}
	select {
	case <-t.coarse.C:
		return true
	case <-stop:
		t.coarse.Stop()
		return false
	}
}

// Bind locks the calling goroutine to its OS thread, lowers the thread's
// timer slack to 1 ns (the kernel's default 50 µs would add up to that to
// every wake-up) and, for High, asks for SCHED_FIFO for this thread only.
// A Normal or High thread left at SCHED_OTHER gets the fair scheduler's
// shortest slice (100 µs), so that it preempts busy threads when it wakes.
// A refused real-time policy (EPERM without CAP_SYS_NICE or an RTPRIO
// limit) is reported in the Note, never an error. The goroutine must stay
// locked until it exits: the Go runtime then ends the thread (or parks it
// for good if it is the process's main thread), so neither the slack nor
// the policy passes to other goroutines; and threads the runtime starts
// later do not inherit them.
func (t *PreciseTimer) Bind(p Priority) BindInfo {
	return bindThread(p)
}

// setLatencySlice shortens the calling thread's fair-scheduler slice,
// keeping its policy and nice value.
func setLatencySlice() error {
	attr, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		return err
	}
	if attr.Policy != unix.SCHED_NORMAL {
		return nil // SCHED_BATCH or SCHED_IDLE chosen by the user: leave it
	}
	attr.Size = unix.SizeofSchedAttr
	attr.Flags &= unix.SCHED_FLAG_RESET_ON_FORK
	attr.Runtime = uint64(latencySlice)
	return unix.SchedSetAttr(0, attr, 0)
}

func bindThread(p Priority) BindInfo {
	runtime.LockOSThread()
	info := BindInfo{Locked: true}
	var notes []string
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0); err == nil {
		info.Slack = true
	} else {
		notes = append(notes, fmt.Sprintf("timer slack not lowered: %v", err))
	}
	if p == High {
		attr := unix.SchedAttr{
			Size:     unix.SizeofSchedAttr,
			Policy:   unix.SCHED_FIFO,
			Priority: FIFOPriority,
			// Threads this one creates start at SCHED_OTHER.
			Flags: unix.SCHED_FLAG_RESET_ON_FORK,
		}
		switch err := unix.SchedSetAttr(0, &attr, 0); {
		case err == nil:
			info.RealTime = true
		case errors.Is(err, unix.EPERM):
			notes = append(notes, "SCHED_FIFO not permitted (needs CAP_SYS_NICE or an RLIMIT_RTPRIO); running at SCHED_OTHER")
		default:
			notes = append(notes, fmt.Sprintf("SCHED_FIFO refused: %v; running at SCHED_OTHER", err))
		}
	}
	if p != Low && !info.RealTime {
		if err := setLatencySlice(); err != nil {
			notes = append(notes, fmt.Sprintf("scheduler slice not shortened: %v", err))
		}
	}
	info.Note = strings.Join(notes, "; ")
	return info
}
