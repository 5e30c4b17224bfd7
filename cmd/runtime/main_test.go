package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/metronome-rt/metronome/internal/mqtttest"
)

func runCmd(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, strings.NewReader(""), &o, &e)
	return code, o.String(), e.String()
}

func TestEveryExampleAppValidates(t *testing.T) {
	files, err := filepath.Glob("../../apps/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no apps found: %v", err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.yaml") {
			continue // an application test (TestEveryExampleAppTestPasses)
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			code, out, errOut := runCmd("validate", f)
			if code != 0 {
				t.Fatalf("runtime validate %s: exit %d\n%s%s", f, code, out, errOut)
			}
		})
	}
}

func TestValidateReportsEveryErrorWithPosition(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte(`application: A
components:
  - name: W
    type: SineGenrator
  - name: G
    type: Gain
    parameters: {K: abc}
`), 0o644)
	code, _, errOut := runCmd("validate", bad)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	want := bad + `:4:11: A.W: unknown component type "SineGenrator" (did you mean "SineGenerator"?)
` + bad + `:7:21: A.G: parameters.K: want a double, got "abc"
`
	if errOut != want {
		t.Fatalf("stderr:\n%s\nwant:\n%s", errOut, want)
	}
}

func TestUsageMistakesExit2(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"run"},
		{"run", "--no-such-flag", "x.yaml"},
		{"validate"},
		{"types", "--bogus"},
		{"bench"},
		{"bench", "nothing"},
		{"run", "--log-format", "xml", "../../apps/greenhouse.yaml"},
		{"run", "../../apps/greenhouse.yaml", "--no-such-flag"},
		{"run", "../../apps/greenhouse.yaml", "../../apps/plant.yaml"},
	} {
		if code, _, _ := runCmd(args...); code != 2 {
			t.Errorf("runtime %s: exit %d, want 2", strings.Join(args, " "), code)
		}
	}
	for _, args := range [][]string{{"--help"}, {"run", "--help"}, {"validate", "-h"}, {"types", "--help"}, {"bench", "--help"}} {
		if code, _, _ := runCmd(args...); code != 0 {
			t.Errorf("runtime %s: exit %d, want 0", strings.Join(args, " "), code)
		}
	}
}

func TestTypesJSONListsBuiltins(t *testing.T) {
	code, out, errOut := runCmd("types", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var doc struct {
		Types []struct {
			Name    string `json:"name"`
			Signals []struct {
				Name string `json:"name"`
			} `json:"signals"`
			Parameters []struct {
				Name string `json:"name"`
			} `json:"parameters"`
		} `json:"types"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("types --json: %v\n%s", err, out)
	}
	found := map[string]bool{}
	for _, ty := range doc.Types {
		found[ty.Name] = true
		if ty.Name == "Gain" && (len(ty.Parameters) != 1 || ty.Parameters[0].Name != "K") {
			t.Errorf("Gain parameters %+v", ty.Parameters)
		}
	}
	for _, n := range []string{"SineGenerator", "Gain"} {
		if !found[n] {
			t.Errorf("types --json lacks %s", n)
		}
	}
	if code, _, _ := runCmd("types", "NoSuchType"); code != 1 {
		t.Errorf("types NoSuchType: exit %d, want 1", code)
	}
}

// runtimeBinary builds the runtime once per test run.
var runtimeBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "metronome-cmd-test")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "runtime")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		return "", fmt.Errorf("build: %v\n%s", err, out)
	}
	return bin, nil
})

func TestMain(m *testing.M) {
	code := m.Run()
	if bin, err := runtimeBinary(); err == nil && bin != "" {
		os.RemoveAll(filepath.Dir(bin))
	}
	os.Exit(code)
}

// proc is a runtime started from the built binary.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	logs mqtttest.LockedBuffer
	done chan struct{}
	err  error
}

// start runs the binary with args (and extra environment), its stderr
// collected; it is killed when the test ends.
func start(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	return startWith(t, env, nil, args...)
}

// startWith is start with stderr going to a given file (a terminal).
func startWith(t *testing.T, env []string, stderr *os.File, args ...string) *proc {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin, err := runtimeBinary()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stderr = &p.logs
	if stderr != nil {
		p.cmd.Stderr = stderr
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.cmd.Process.Kill(); <-p.done })
	return p
}

// waitLog waits until the log holds s.
func (p *proc) waitLog(s string) {
	p.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(p.logs.String(), s) {
		select {
		case <-p.done:
			p.t.Fatalf("exited (%v) before logging %q:\n%s", p.err, s, p.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no %q in 15 s:\n%s", s, p.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.cmd.Process.Kill()
		p.t.Fatalf("still running after %v:\n%s", timeout, p.logs.String())
	}
	return p.cmd.ProcessState.ExitCode()
}

// stop sends SIGTERM and expects a clean exit.
func (p *proc) stop() {
	p.t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(15 * time.Second); code != 0 {
		p.t.Fatalf("exit %d after SIGTERM:\n%s", code, p.logs.String())
	}
}

// TestRunStopsCleanlyOnSIGTERM builds the binary, runs an example, sends
// SIGTERM and expects a clean stop with exit 0.
func TestRunStopsCleanlyOnSIGTERM(t *testing.T) {
	p := start(t, nil, "run", "--log-format", "json", "--lock-dir", t.TempDir(), "../../apps/greenhouse.yaml")
	p.waitLog("running;")
	time.Sleep(200 * time.Millisecond) // let it tick
	p.stop()
	for _, want := range []string{`"application Greenhouse: 4 components`, `"stopping at a tick boundary"`, `"stopped"`} {
		if !strings.Contains(p.logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, p.logs.String())
		}
	}
}
