//go:build unix

package runtime_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/metronome-rt/metronome/runtime"
)

// TestIncludesAreBounded includes what would never end or fill memory if
// read: a device that never ends, a FIFO nobody writes to, and a 100 MB
// file. Each is refused with a clear error, without reading it, in well
// under a second.
func TestIncludesAreBounded(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.yaml")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(100 << 20); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	f.Close()
	cases := []struct{ include, want string }{
		{"/dev/zero", "cannot read /dev/zero: a character device, not a regular file"},
		{fifo, "cannot read " + fifo + ": a named pipe (FIFO), not a regular file"},
		{big, "cannot read " + big + ": 100 MiB is more than the 4 MiB an application file may hold"},
		{dir, "cannot read " + dir + ": a directory, not a regular file"},
	}
	for _, c := range cases {
		app := fmt.Sprintf("application: A\ncomponents:\n  - include: %s\n", c.include)
		want := fmt.Sprintf("a.yaml:3:14: include: %s", c.want)
		err := loadWithin(t, time.Second, func() error {
			_, err := runtime.LoadBytes("a.yaml", []byte(app), corpusRegistry(), loadOpts())
			return err
		})
		if err == nil || err.Error() != want {
			t.Errorf("include %s: error\n %v\nwant\n %s", c.include, err, want)
		}
	}
	// The application file itself may be a pipe, but not an endless one.
	err = loadWithin(t, 5*time.Second, func() error {
		_, err := runtime.Load("/dev/zero", corpusRegistry(), loadOpts())
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "read application: /dev/zero: 4 MiB is more than the 4 MiB") {
		t.Errorf("Load(/dev/zero) = %v", err)
	}
	// Bytes already in memory are bounded too.
	_, err = runtime.LoadBytes("a.yaml", make([]byte, 5<<20), corpusRegistry(), loadOpts())
	if err == nil || err.Error() != "a.yaml:1:1: 5 MiB is more than the 4 MiB an application file may hold" {
		t.Errorf("LoadBytes(5 MiB) = %v", err)
	}
}
