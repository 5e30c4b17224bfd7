package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/metronome-rt/metronome/internal/mqtttest"
)

// openPTY returns a new pseudo-terminal's master and slave ends.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err == nil {
		if err = unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err == nil {
			var n int
			if n, err = unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN); err == nil {
				slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
			}
		}
	}
	if err != nil {
		if mqtttest.InCI() {
			t.Fatalf("no pseudo-terminal: %v", err)
		}
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { m.Close(); slave.Close() })
	return m, slave
}

// TestRunLogsColourOnlyOnATerminal is issue 9 item 8: on a terminal the
// console log is coloured, unless NO_COLOR is set.
func TestRunLogsColourOnlyOnATerminal(t *testing.T) {
	for _, noColor := range []bool{false, true} {
		t.Run(fmt.Sprintf("NO_COLOR=%v", noColor), func(t *testing.T) {
			master, slave := openPTY(t)
			var env []string
			if noColor {
				env = append(env, "NO_COLOR=1")
			} else {
				env = append(env, "NO_COLOR=")
			}
			p := startWith(t, env, slave, "run", "--lock-dir", t.TempDir(), "../../apps/greenhouse.yaml")
			out := make(chan string, 1)
			go func() {
				var sb strings.Builder
				buf := make([]byte, 4096)
				deadline := time.Now().Add(15 * time.Second)
				for !strings.Contains(sb.String(), "running;") && time.Now().Before(deadline) {
					master.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
					n, err := master.Read(buf)
					sb.Write(buf[:n])
					if err != nil && err != io.EOF && !os.IsTimeout(err) {
						break
					}
				}
				out <- sb.String()
			}()
			logs := <-out
			p.stop()
			if !strings.Contains(logs, "running;") {
				t.Fatalf("nothing on the terminal: %q", logs)
			}
			if colour := strings.Contains(logs, "\x1b["); colour == noColor {
				t.Errorf("NO_COLOR set %v: colour codes %v in %q", noColor, colour, logs)
			}
		})
	}
}
