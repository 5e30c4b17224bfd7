//go:build !unix

package scheduler

import "time"

// ThreadCPUTime returns 0: CPU time is measured on Unix systems only, so off
// them a rate group's CPU share reads 0.
func ThreadCPUTime() time.Duration { return 0 }

// ProcessCPUTime returns 0: CPU time is measured on Unix systems only.
func ProcessCPUTime() time.Duration { return 0 }
