//go:build !linux

package scheduler

func totalMemory() int64 { return 0 }
