package passwd

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// errHashersBusy means too many logins wait for a password check.
var errHashersBusy = errors.New("too many logins waiting for a password check")

// hasher checks passwords on a few dedicated OS threads at the lowest
// scheduling priority (nice 19 on Linux). A PBKDF2 check costs about
// 150 ms of CPU at the default work factor; run on a connection's
// goroutine, a handful of parallel guessers would take every core from
// the rate groups. On these threads the operating system runs them only
// when nothing else wants the CPU, so a check can never delay a tick.
type hasher struct {
	jobs      chan hashJob
	stop      chan struct{}
	closeOnce sync.Once
	inline    bool          // check on the caller's goroutine (to measure the difference)
	hashes    atomic.Uint64 // password checks done
}

type hashJob struct {
	a        *Account
	password []byte
	done     chan bool
}

// hashQueue is how many password checks may wait for a worker; more
// logins at once are refused (Busy).
const hashQueue = 64

func newHasher(inline bool) *hasher {
	return &hasher{jobs: make(chan hashJob, hashQueue), stop: make(chan struct{}), inline: inline}
}

// start runs the workers: half the CPUs, at least one.
func (h *hasher) start() {
	for i := 0; i < max(1, runtime.NumCPU()/2); i++ {
		go h.work()
	}
}

func (h *hasher) work() {
	// The thread is never unlocked: when the goroutine ends, the thread,
	// with its lowered priority, ends with it.
	runtime.LockOSThread()
	lowerThreadPriority()
	for {
		select {
		case <-h.stop:
			return
		case j := <-h.jobs:
			j.done <- h.run(j.a, j.password)
		}
	}
}

func (h *hasher) run(a *Account, password []byte) bool {
	h.hashes.Add(1)
	return a.Check(string(password))
}

// check verifies a password, waiting for a worker.
func (h *hasher) check(a *Account, password []byte) (bool, error) {
	if h.inline {
		return h.run(a, password), nil
	}
	j := hashJob{a: a, password: password, done: make(chan bool, 1)}
	select {
	case <-h.stop:
		return false, errHashersBusy
	default:
	}
	select {
	case h.jobs <- j:
	default:
		return false, errHashersBusy
	}
	select {
	case ok := <-j.done:
		return ok, nil
	case <-h.stop:
		return false, errHashersBusy
	}
}

// wait sleeps for d, or until the hasher is closed.
func (h *hasher) wait(d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-h.stop:
	}
}

// close stops the workers; checks still waiting fail at once. It does not
// wait for a check in progress: on a busy machine a check at the lowest
// priority can take many seconds, and a broker's stop must not wait for
// it. The worker ends after that check (its answer goes to a buffered
// channel no one reads).
func (h *hasher) close() {
	h.closeOnce.Do(func() { close(h.stop) })
}
