//go:build unix

package queue

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive, non-blocking lock on f, held until f closes.
func lockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}
