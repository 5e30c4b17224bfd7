//go:build unix && !linux

package scheduler

import (
	"syscall"
	"time"
)

// ThreadCPUTime returns the CPU time used so far by the process: off Linux a
// thread's own CPU time is not measured, so a rate group's CPU share counts
// the whole process.
func ThreadCPUTime() time.Duration { return ProcessCPUTime() }

// ProcessCPUTime returns the CPU time (user and system) used so far by the
// whole process, from getrusage.
func ProcessCPUTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
