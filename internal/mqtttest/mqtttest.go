// Package mqtttest holds helpers shared by Metronome's MQTT tests: real
// brokers on the loopback interface, and the rule for optional Debian tools
// (skip locally when missing, fail in CI where they must be installed).
package mqtttest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// StartTimeout bounds how long Mosquitto waits for the broker to accept
// connections; a broker that is not up by then fails the test rather than
// hanging it.
const StartTimeout = 10 * time.Second

// stopTimeout bounds how long a stopped mosquitto gets to exit after SIGTERM
// before it is killed, so cleanup never hangs a test run.
const stopTimeout = 5 * time.Second

// InCI reports whether the tests run in CI (env CI non-empty), where every
// optional tool is installed and a missing one is a failure, not a skip.
func InCI() bool { return os.Getenv("CI") != "" }

// RequireTool returns the path of the named executable (for example
// "mosquitto_pub"). When it is not installed the test is skipped locally and
// fails in CI, so a CI image without the tool cannot pass silently.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := lookTool(name)
	if err != nil {
		if InCI() {
			t.Fatalf("mqtttest: %s is required in CI (env CI is set) but not found: %v", name, err)
		}
		t.Skipf("mqtttest: %s not installed (%v); skipping (.ci/run installs what the tests need)", name, err)
	}
	return p
}

// lookTool finds a tool on PATH, falling back to /usr/sbin and /usr/bin,
// where Debian installs mosquitto even when sbin is not on a user's PATH.
func lookTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%q not on PATH nor in /usr/sbin, /usr/bin", name)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. Prefer
// listening on port 0 directly; this is for external processes (mosquitto)
// that must be told a port number.
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := freePort()
	if err != nil {
		t.Fatalf("mqtttest: no free port on 127.0.0.1: %v", err)
	}
	return p
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// MosquittoDir returns a new directory that mosquitto can keep its
// persistence database in. Started as root, mosquitto drops to the user
// mosquitto, which cannot write below t.TempDir (mode 0700): it then logs
// "Error saving in-memory database" at shutdown, keeps nothing, and a test
// of what survives a restart tests nothing. Removed in t.Cleanup.
func MosquittoDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "mqtttest-mosquitto-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Mosquitto starts Debian's mosquitto on a free 127.0.0.1 port and returns
// its address ("127.0.0.1:port"). conf holds extra mosquitto.conf lines that
// apply to that listener (per_listener_settings is off), for example
// "password_file /path" or "set_tcp_nodelay true"; anonymous access is allowed
// unless conf sets allow_anonymous itself. The broker is stopped in
// t.Cleanup. Missing mosquitto skips the test locally and fails it in CI.
func Mosquitto(t testing.TB, conf string) string {
	t.Helper()
	bin := RequireTool(t, "mosquitto")
	dir := t.TempDir()
	var lastErr error
	// The port can be taken between FreePort and mosquitto's bind; retry.
	for attempt := 0; attempt < 3; attempt++ {
		addr, stop, err := startMosquitto(bin, dir, conf)
		if err == nil {
			t.Cleanup(stop)
			return addr
		}
		lastErr = err
	}
	t.Fatalf("mqtttest: mosquitto did not start: %v", lastErr)
	return ""
}

// LockedBuffer collects what a child process or another goroutine writes
// (its output, a log) so that a test can read it while the writing goes on.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startMosquitto runs one start attempt; stop terminates the broker.
func startMosquitto(bin, dir, conf string) (addr string, stop func(), err error) {
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "listener %d 127.0.0.1\n", port)
	if !strings.Contains(conf, "allow_anonymous") {
		sb.WriteString("allow_anonymous true\n")
	}
	sb.WriteString("persistence false\n")
	sb.WriteString(conf)
	sb.WriteString("\n")
	cfgPath := filepath.Join(dir, "mosquitto-"+strconv.Itoa(port)+".conf")
	if err := os.WriteFile(cfgPath, []byte(sb.String()), 0o600); err != nil {
		return "", nil, err
	}
	out := &LockedBuffer{}
	cmd := exec.Command(bin, "-c", cfgPath)
	cmd.Stdout = out
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop = func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(stopTimeout):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	var d net.Dialer
	for {
		c, derr := d.DialContext(ctx, "tcp", addr)
		if derr == nil {
			c.Close()
			return addr, stop, nil
		}
		select {
		case <-exited:
			return "", nil, fmt.Errorf("mosquitto exited during start-up on port %d: %s", port, strings.TrimSpace(out.String()))
		case <-ctx.Done():
			stop()
			return "", nil, fmt.Errorf("mosquitto not accepting on %s after %v: %s", addr, StartTimeout, strings.TrimSpace(out.String()))
		case <-time.After(20 * time.Millisecond):
		}
	}
}
