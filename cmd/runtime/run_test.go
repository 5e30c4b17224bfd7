package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/metronome-rt/metronome/internal/mqtttest"
)

// TestRunFlagsBeforeAndAfterTheFile is issue 9 item 8: flags after the
// application file are flags, as the README writes them.
func TestRunFlagsBeforeAndAfterTheFile(t *testing.T) {
	code, _, errOut := runCmd("run", "../../apps/greenhouse.yaml", "--log-format", "xml")
	if code != 2 || !strings.Contains(errOut, `invalid --log-format "xml"`) {
		t.Errorf("a bad flag after the file: exit %d, %q", code, errOut)
	}
	code, _, errOut = runCmd("run", "../../apps/greenhouse.yaml", "--", "--log-format")
	if code != 2 || !strings.Contains(errOut, "want exactly one application file, got 2") {
		t.Errorf("after --: exit %d, %q", code, errOut)
	}
	p := start(t, nil, "run", "../../apps/greenhouse.yaml", "--log-format", "json", "--lock-dir", t.TempDir())
	p.waitLog("running;")
	p.stop()
	for _, l := range strings.Split(strings.TrimSpace(p.logs.String()), "\n") {
		if !strings.HasPrefix(l, "{") {
			t.Errorf("--log-format json after the file ignored: %q", l)
		}
	}
}

// TestRunHelpListsEveryFlag: the synopsis and --help name every flag.
func TestRunHelpListsEveryFlag(t *testing.T) {
	var sb strings.Builder
	fs, _ := runFlags(&sb)
	_, _, help := runCmd("run", "--help")
	_, top, _ := runCmd("--help")
	n := 0
	fs.VisitAll(func(f *flag.Flag) {
		n++
		if !strings.Contains(runSynopsis, "--"+f.Name) {
			t.Errorf("the synopsis lacks --%s", f.Name)
		}
		if !strings.Contains(help, "-"+f.Name) {
			t.Errorf("run --help lacks -%s", f.Name)
		}
		if !strings.Contains(top, "--"+f.Name) {
			t.Errorf("runtime --help lacks --%s", f.Name)
		}
	})
	if n < 5 {
		t.Fatalf("only %d flags", n)
	}
}

// TestRunIgnoresSIGHUP: SIGHUP is logged and the application goes on.
func TestRunIgnoresSIGHUP(t *testing.T) {
	p := start(t, nil, "run", "--log-format", "json", "--lock-dir", t.TempDir(), "../../apps/greenhouse.yaml")
	p.waitLog("running;")
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitLog("SIGHUP ignored")
	time.Sleep(100 * time.Millisecond)
	select {
	case <-p.done:
		t.Fatalf("SIGHUP ended the process: %v\n%s", p.err, p.logs.String())
	default:
	}
	p.stop()
}

// TestRunLogsHaveNoColourWhenRedirected: escape codes only on a terminal.
func TestRunLogsHaveNoColourWhenRedirected(t *testing.T) {
	p := start(t, nil, "run", "--lock-dir", t.TempDir(), "../../apps/greenhouse.yaml")
	p.waitLog("running;")
	p.stop()
	if strings.Contains(p.logs.String(), "\x1b[") {
		t.Errorf("colour codes in a redirected console log:\n%q", p.logs.String())
	}
	if !strings.Contains(p.logs.String(), "INF") {
		t.Errorf("not the console format:\n%s", p.logs.String())
	}
}

// TestSecondCopyIsRefused is issue 9 item 5: a second `runtime run` of an
// application already running on the host is refused at start, naming the
// process that runs it, and the first goes on undisturbed; once the first
// is killed with SIGKILL, a new copy starts (the kernel dropped the lock).
func TestSecondCopyIsRefused(t *testing.T) {
	sub := mqtttest.RequireTool(t, "mosquitto_sub")
	port := mqtttest.FreePort(t)
	locks := t.TempDir()
	env := []string{"PLANT_PORT=" + strconv.Itoa(port), "PLANT_STATE=" + t.TempDir()}
	args := []string{"run", "../../apps/plant.yaml", "--log-format", "json", "--lock-dir", locks}
	first := start(t, env, args...)
	first.waitLog("connected to the MQTT broker")
	before := first.logs.String()

	second := start(t, env, args...)
	if code := second.wait(15 * time.Second); code != 1 {
		t.Fatalf("second copy: exit %d, want 1:\n%s", code, second.logs.String())
	}
	msg := second.logs.String()
	want := fmt.Sprintf("application Plant is already running on this host (process %d)", first.cmd.Process.Pid)
	if !strings.Contains(msg, want) {
		t.Errorf("second copy said:\n%s\nwant it to contain %q", msg, want)
	}
	if strings.Contains(msg, "broker started") || strings.Contains(msg, "connected to the MQTT broker") {
		t.Errorf("the refused copy started something:\n%s", msg)
	}

	// The first copy still serves: its broker answers with its retained status.
	out, err := exec.Command(sub, "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-t", "plant/status", "-C", "1", "-W", "5").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "online" {
		t.Errorf("the first copy's broker: %v %q", err, out)
	}
	time.Sleep(300 * time.Millisecond)
	after := first.logs.String()[len(before):]
	sc := bufio.NewScanner(strings.NewReader(after))
	for sc.Scan() {
		if l := sc.Text(); strings.Contains(l, `"level":"warn"`) || strings.Contains(l, `"level":"error"`) || strings.Contains(l, "connected to the MQTT broker") {
			t.Errorf("the first copy was disturbed: %s", l)
		}
	}
	select {
	case <-first.done:
		t.Fatalf("the first copy ended: %v", first.err)
	default:
	}

	// SIGKILL leaves no stale lock: a new copy starts at once.
	first.cmd.Process.Signal(syscall.SIGKILL)
	<-first.done
	waitPortFree(t, port)
	third := start(t, env, args...)
	third.waitLog("running;")
	third.stop()
}

// waitPortFree waits until the killed runtime's listener port can be bound.
func waitPortFree(t *testing.T, port int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			l.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("port %d still taken: %v", port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
