package scheduler

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// totalMemory returns the memory the process may use: the machine's RAM,
// or its control group's memory limit when that is lower (a container's
// limit; sysinfo reports the host's RAM inside a container).
func totalMemory() int64 {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return 0
	}
	ram := int64(si.Totalram) * int64(si.Unit)
	if lim := cgroupMemoryLimit(os.ReadFile); lim > 0 && (ram <= 0 || lim < ram) {
		return lim
	}
	return ram
}

// cgroupMemoryLimit returns the memory limit of the process's control
// group (v2 memory.max, or v1 memory.limit_in_bytes; the lowest found),
// or 0 if there is none. read reads a file (os.ReadFile; tests pass
// their own).
func cgroupMemoryLimit(read func(string) ([]byte, error)) int64 {
	var paths []string
	if b, err := read("/proc/self/cgroup"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			parts := strings.SplitN(line, ":", 3)
			if len(parts) != 3 {
				continue
			}
			switch {
			case parts[0] == "0" && parts[1] == "": // v2
				paths = append(paths, "/sys/fs/cgroup"+strings.TrimSuffix(parts[2], "/")+"/memory.max")
			case strings.Contains(","+parts[1]+",", ",memory,"): // v1
				paths = append(paths, "/sys/fs/cgroup/memory"+strings.TrimSuffix(parts[2], "/")+"/memory.limit_in_bytes")
			}
		}
	}
	// Inside a container the group is usually mounted at the root.
	paths = append(paths, "/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")
	var limit int64
	for _, p := range paths {
		b, err := read(p)
		if err != nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		// "max" (v2) fails to parse; v1 reports no limit as a huge number
		// (page-rounded MaxInt64), and nothing real is above 1 EiB.
		if err != nil || n <= 0 || n >= 1<<60 {
			continue
		}
		if limit == 0 || n < limit {
			limit = n
		}
	}
	return limit
}
