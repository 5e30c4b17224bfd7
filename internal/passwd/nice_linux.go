package passwd

import "golang.org/x/sys/unix"

// lowerThreadPriority gives the calling OS thread the lowest priority of
// the normal scheduling class (nice 19): Linux sets nice per thread.
func lowerThreadPriority() {
	_ = unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), 19)
}
