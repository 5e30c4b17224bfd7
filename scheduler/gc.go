package scheduler

import (
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// ControlGC sets the garbage collector up for a control runtime. Go's
// default collects each time the heap doubles; under a flood of network
// traffic that is many collections a second, and each can delay a waking
// rate group by milliseconds (measured: tick lateness p99 of 3-4 ms at 1 kHz
// during an MQTT flood, against 5 µs with this setting). Instead the heap may
// grow to limit before a collection runs, as with GOGC=off GOMEMLIMIT=limit.
// The process then holds up to limit bytes of heap, so limit must fit the
// machine. GOGC or GOMEMLIMIT set in the environment win: nothing is changed
// then. It returns a description for the log and a function that restores
// the previous settings.
func ControlGC(limit int64) (desc string, restore func()) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return "garbage collector as set by GOGC/GOMEMLIMIT in the environment", func() {}
	}
	if limit <= 0 {
		return "garbage collector at Go's defaults", func() {}
	}
	prevPercent := debug.SetGCPercent(-1)
	prevLimit := debug.SetMemoryLimit(limit)
	return fmt.Sprintf("garbage collection when the heap nears %s", FormatBytes(limit)), func() {
		debug.SetMemoryLimit(prevLimit)
		debug.SetGCPercent(prevPercent)
	}
}

// DefaultMemoryLimit is the heap a control runtime may grow to before the
// garbage collector runs: a quarter of the memory the process may use (the
// machine's, or its container's limit when lower), between 64 MiB and
// 256 MiB. The process's resident memory settles near the limit under
// network load, so the cap keeps a flood from taking a small controller's
// memory, while a 1 kHz rate group's lateness under a flood was about the
// same at 256 MiB as at 1 GiB (figures in README.md, from
// BenchmarkMemoryLimitUnderFlood in components/mqttbroker).
func DefaultMemoryLimit() int64 {
	const lo, hi = 64 << 20, 256 << 20
	total := totalMemory()
	if total <= 0 {
		return hi
	}
	return min(max(total/4, lo), hi)
}

// ParseBytes parses a size such as 512MiB, 1GiB, 300MB or 1048576; "0"
// means no limit.
func ParseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid size %q (want a whole number with an optional unit: 512MiB, 1GiB, 300MB)", s)
	}
	return n * mult, nil
}

// FormatBytes prints a size in the largest binary unit that divides it.
func FormatBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}
