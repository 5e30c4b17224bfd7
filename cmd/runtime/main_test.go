package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer that a child process's output may be
// copied into while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

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

// TestRunStopsCleanlyOnSIGTERM builds the binary, runs an example, sends
// SIGTERM and expects a clean stop with exit 0.
func TestRunStopsCleanlyOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "runtime")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "run", "--log-format", "json", "../../apps/greenhouse.yaml")
	var logs lockedBuffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "running;") {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("never started:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // let it tick
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, logs.String())
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("did not stop within 10 s of SIGTERM:\n%s", logs.String())
	}
	for _, want := range []string{`"application Greenhouse: 4 components`, `"stopping at a tick boundary"`, `"stopped"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs.String())
		}
	}
}
