package scheduler

import (
	"errors"
	"testing"
)

func TestCgroupMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  int64
	}{
		{"no cgroup files", map[string]string{}, 0},
		{"v2 limit", map[string]string{"/proc/self/cgroup": "0::/app\n", "/sys/fs/cgroup/app/memory.max": "536870912\n"}, 512 << 20},
		{"v2 unlimited", map[string]string{"/proc/self/cgroup": "0::/\n", "/sys/fs/cgroup/memory.max": "max\n"}, 0},
		{"v1 limit", map[string]string{"/proc/self/cgroup": "4:memory:/docker/x\n0::/\n", "/sys/fs/cgroup/memory/docker/x/memory.limit_in_bytes": "268435456"}, 256 << 20},
		{"v1 unlimited", map[string]string{"/proc/self/cgroup": "4:memory:/\n", "/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712"}, 0},
		{"container root mount", map[string]string{"/proc/self/cgroup": "4:memory:/host/path\n", "/sys/fs/cgroup/memory/memory.limit_in_bytes": "134217728"}, 128 << 20},
		{"lowest wins", map[string]string{"/proc/self/cgroup": "4:cpu,memory:/a\n0::/b\n", "/sys/fs/cgroup/memory/a/memory.limit_in_bytes": "300000000", "/sys/fs/cgroup/b/memory.max": "200000000"}, 200000000},
	} {
		read := func(p string) ([]byte, error) {
			if s, ok := tc.files[p]; ok {
				return []byte(s), nil
			}
			return nil, errors.New("no such file")
		}
		if got := cgroupMemoryLimit(read); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}
