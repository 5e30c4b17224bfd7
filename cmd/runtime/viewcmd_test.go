package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/rs/zerolog"

	"github.com/metronome-rt/metronome/components/all"
	"github.com/metronome-rt/metronome/internal/mqtttest"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/view"
)

// startViewApp builds the binary and runs an application with a writable
// live view on a port chosen by the system; it returns the view's address.
func startViewApp(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	dir := t.TempDir()
	code, hash, errOut := runCmdIn("secret\n", "passwd", "--iterations", "10000")
	if code != 0 {
		t.Fatalf("passwd: %s", errOut)
	}
	app := fmt.Sprintf(`application: T
fs: 20
view:
  listen: 127.0.0.1:0
  writes: true
  users: [{name: op, password_hash: %q}]
components:
  - {name: Wave, type: SineGenerator, parameters: {Amplitude: 5}}
  - {name: Gain, type: Gain, inputs: {In: T.Wave.Out}}
  - name: Mqtt
    type: MQTTClient
    config: {servers: ["mqtt://127.0.0.1:1"], signal_timeout: 100ms}
`, strings.TrimSpace(hash))
	file := filepath.Join(dir, "app.yaml")
	os.WriteFile(file, []byte(app), 0o600)
	bin := filepath.Join(dir, "runtime")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "run", "--log-format", "json", file)
	var logs mqtttest.LockedBuffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run exited with %v:\n%s", err, logs.String())
			}
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			t.Errorf("run did not stop on SIGTERM")
		}
	})
	urlRE := regexp.MustCompile(`"url":"http://([^/"]+)/"`)
	deadline := time.Now().Add(15 * time.Second)
	for {
		if m := urlRE.FindStringSubmatch(logs.String()); m != nil && strings.Contains(logs.String(), "running;") {
			return m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no live view in the log:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func runCmdIn(stdin string, args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, strings.NewReader(stdin), &o, &e)
	return code, o.String(), e.String()
}

func TestTerminalCommandsAgainstARunningApplication(t *testing.T) {
	addr := startViewApp(t)
	v := "--view=" + addr
	code, out, errOut := runCmd("get", v, "T.Wave.Out", "T.Gain.*")
	if code != 0 || !strings.Contains(out, "T.Wave.Out") || !strings.Contains(out, "T.Gain.K") {
		t.Fatalf("get: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := runCmd("set", v, "T.Gain.K", "3"); code != 1 || !strings.Contains(errOut, "writes need a user") {
		t.Fatalf("set without a user: exit %d: %s", code, errOut)
	}
	if code, _, errOut := runCmdIn("wrong\n", "set", v, "--user=op", "T.Gain.K", "3"); code != 1 || !strings.Contains(errOut, "wrong user or password") {
		t.Fatalf("set with a wrong password: exit %d: %s", code, errOut)
	}
	t.Setenv(envPassword, "secret")
	if code, out, errOut := runCmd("set", v, "--user=op", "T.Gain.K", "3"); code != 0 || out != "T.Gain.K: 1 -> 3\n" {
		t.Fatalf("set: exit %d: %q %s", code, out, errOut)
	}
	if code, _, errOut := runCmd("set", v, "--user=op", "T.Wave.Frequency", "-1"); code != 1 || !strings.Contains(errOut, "refused (out_of_range)") {
		t.Fatalf("out-of-range set: exit %d: %s", code, errOut)
	}
	if code, _, errOut := runCmd("set", v, "--user=op", "T.Wave.Out", "1"); code != 1 || !strings.Contains(errOut, "refused (not_writable)") {
		t.Fatalf("set of a signal: exit %d: %s", code, errOut)
	}
	if code, out, errOut := runCmd("force", v, "--user=op", "T.Gain.In", "5"); code != 0 || !strings.Contains(out, "forced to 5") {
		t.Fatalf("force: exit %d: %s%s", code, out, errOut)
	}
	if code, out, _ := runCmd("force", v, "--list"); code != 0 || !regexp.MustCompile(`T\.Gain\.In\s+5\s+op@127\.0\.0\.1`).MatchString(out) {
		t.Fatalf("force --list: exit %d:\n%s", code, out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, out, _ := runCmd("get", v, "T.Gain.In", "T.Gain.Out")
		if strings.Contains(out, "5 [FORCED; real") && regexp.MustCompile(`T\.Gain\.Out\s+15\s`).MatchString(out) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("forced input not shown, or its output not 3 x 5:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, out, errOut := runCmd("unforce", v, "--user=op", "--all"); code != 0 || out != "1 force(s) released\n" {
		t.Fatalf("unforce --all: exit %d: %q %s", code, out, errOut)
	}
	// The MQTT client's broker does not exist: its alarm is raised, and
	// ForcesActive was raised and cleared; both await acknowledgement.
	deadline = time.Now().Add(10 * time.Second)
	for {
		code, out, errOut := runCmd("ack", v, "--user=op", "--all")
		if code != 0 {
			t.Fatalf("ack --all: exit %d: %s", code, errOut)
		}
		n := 0
		fmt.Sscanf(out, "%d alarm(s)", &n)
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ack --all acknowledged too little: %s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, _, errOut := runCmd("ack", v, "--user=op", "T.Nope.X"); code != 1 || !strings.Contains(errOut, "not_found") {
		t.Fatalf("ack of a missing alarm: exit %d: %s", code, errOut)
	}
	code, out, errOut = runCmd("watch", v, "--plain", "--count=2", "--rate=10", "T.Wave.*")
	if code != 0 || strings.Count(out, "T.Wave.Out") != 2 || !strings.Contains(out, "TransmissionError") {
		t.Fatalf("watch --plain: exit %d:\n%s%s", code, out, errOut)
	}
	if code, _, _ := runCmd("get", "--view=127.0.0.1:1", "T.Wave.Out"); code != 1 {
		t.Fatal("get from a closed port succeeded")
	}
}

// The full-screen table is drawn from the same frames; check it shows
// quality, forces and alarms.
func TestWatchScreen(t *testing.T) {
	frames := []string{
		`{"type":"snapshot","sub":"watch","values":[{"id":1,"path":"A.B.X","v":1.5,"t":1700000000000,"q":"good","s":3},{"id":2,"path":"A.B.Y","v":null,"q":"initial","s":0},{"id":3,"path":"A.B.Z","v":7,"t":1700000000000,"q":"stale","s":9,"f":true,"r":2,"rq":"good"}]}`,
		`{"type":"delta","sub":"watch","values":[{"id":1,"v":2.5,"t":1700000000001,"q":"good","s":4}]}`,
		`{"type":"alarms","alarms":[{"path":"A.B.High","level":"error","text":"too high","active":true,"unacked":true}]}`,
		`{"type":"forces","forces":[{"path":"A.B.Z","dir":"output","value":"7","by":"op","since":1}]}`,
		`{"type":"throttled","sub":"watch","active":true,"rate":2,"skipped":3,"reason":"the client is slow","requested":4}`,
	}
	w := &watchState{app: "A", units: map[string]string{"A.B.X": "bar"}, rows: map[int32]*watchRow{}}
	m := &watchModel{w: w}
	for _, f := range frames {
		var fr view.Frame
		json.Unmarshal([]byte(f), &fr)
		fr.Raw = []byte(f)
		m.Update(frameMsg(fr))
	}
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 30})
	screen := m.View()
	for _, want := range []string{"A.B.X", "2.5 bar", "A.B.Y", "initial", "7 [FORCED; real 2, good]", "stale", "FORCES ACTIVE: 1", "A.B.High: too high (active, unacknowledged)", "the client is slow"} {
		if !strings.Contains(screen, want) {
			t.Errorf("screen lacks %q:\n%s", want, screen)
		}
	}
	if !regexp.MustCompile(`A\.B\.Y\s+-\s`).MatchString(screen) {
		t.Errorf("a never-received value does not show as -:\n%s", screen)
	}
}

func TestHTTPFlagTurnsTheViewOnOffOrMovesIt(t *testing.T) {
	app, err := runtime.Load("../../apps/plant.yaml", all.Registry(), runtime.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if srv, stop, err := startView(app, "off", zerolog.Nop()); err != nil || srv != nil {
		t.Fatalf("--http off with a view: key: %v, %v", srv, err)
	} else {
		stop()
	}
	srv, stop, err := startView(app, "127.0.0.1:0", zerolog.Nop())
	if err != nil || srv == nil || !strings.HasPrefix(srv.Addr(), "127.0.0.1:") || strings.HasSuffix(srv.Addr(), ":7689") {
		t.Fatalf("--http moves the view: %v, %v", srv, err)
	}
	stop()
	stop() // twice is fine
	if _, _, err := startView(app, "0.0.0.0:0", zerolog.Nop()); err == nil {
		t.Fatal("--http on all interfaces without tls or insecure accepted")
	}
	app.View = nil
	if srv, _, err := startView(app, "", zerolog.Nop()); err != nil || srv != nil {
		t.Fatalf("no view: key and no --http started a view: %v, %v", srv, err)
	}
}
