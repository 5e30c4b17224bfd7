package lockfile

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const childEnv = "LOCKFILE_TEST_CHILD"

// TestHolderChild holds the lock named in the environment until killed.
func TestHolderChild(t *testing.T) {
	path := os.Getenv(childEnv)
	if path == "" {
		t.Skip("run by TestSecondHolderIsToldWhoAndSIGKILLFreesIt")
	}
	if _, err := Acquire(path); err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	fmt.Println("HELD")
	time.Sleep(time.Minute)
}

// TestSecondHolderIsToldWhoAndSIGKILLFreesIt: a second process is refused
// with the holder's PID; once the holder is killed with SIGKILL the lock is
// free at once (the kernel drops it), with no file to clean up.
func TestSecondHolderIsToldWhoAndSIGKILLFreesIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.lock")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHolderChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	buf := make([]byte, 64)
	n, _ := out.Read(buf)
	if !strings.HasPrefix(string(buf[:n]), "HELD") {
		t.Fatalf("child: %q", buf[:n])
	}
	_, err = Acquire(path)
	var busy *BusyError
	if !errors.As(err, &busy) || busy.PID != cmd.Process.Pid {
		t.Fatalf("second Acquire: %v, want the holder's PID %d", err, cmd.Process.Pid)
	}
	// Without the kernel's table the PID comes from the file.
	f, _ := os.Open(path)
	b := make([]byte, 16)
	k, _ := f.Read(b)
	f.Close()
	if strings.TrimSpace(string(b[:k])) != strconv.Itoa(cmd.Process.Pid) {
		t.Errorf("the lock file says %q", b[:k])
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	h, err := Acquire(path)
	if err != nil {
		t.Fatalf("after SIGKILL of the holder: %v", err)
	}
	defer h.Release()
	b, _ = os.ReadFile(path)
	if strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Errorf("the lock file says %q, want this process", b)
	}
}

func TestLockIsPerOpenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	h, err := Acquire(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Acquire(path); err == nil {
		t.Fatal("the same process took the lock twice")
	}
	h.Release()
	h2, err := Acquire(path)
	if err != nil {
		t.Fatalf("after Release: %v", err)
	}
	h2.Release()
}
