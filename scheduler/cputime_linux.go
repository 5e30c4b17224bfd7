package scheduler

import (
	"time"

	"golang.org/x/sys/unix"
)

// ThreadCPUTime returns the CPU time (user and system) used so far by the
// calling OS thread: CLOCK_THREAD_CPUTIME_ID. It means something only on a
// goroutine locked to its thread (runtime.LockOSThread, as Bind does); take
// differences between two calls on the same thread.
func ThreadCPUTime() time.Duration { return clockDuration(unix.CLOCK_THREAD_CPUTIME_ID) }

// ProcessCPUTime returns the CPU time used so far by the whole process, all
// threads: CLOCK_PROCESS_CPUTIME_ID.
func ProcessCPUTime() time.Duration { return clockDuration(unix.CLOCK_PROCESS_CPUTIME_ID) }

func clockDuration(id int32) time.Duration {
	var ts unix.Timespec
	if unix.ClockGettime(id, &ts) != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}
