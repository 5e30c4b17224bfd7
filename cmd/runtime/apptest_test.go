package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testedApp = `application: T
components:
  - {name: Set, type: Constant, parameters: {Value: 2}}
  - {name: Double, type: Gain, parameters: {K: 2}, inputs: {In: T.Set.Out}}
`

// TestTestCommand runs `runtime test` on a passing and a failing file: the
// failure names file:line:col, the test, the step, what was expected and
// what was found, and the exit code is 1; all passing exits 0.
func TestTestCommand(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("app.yaml", testedApp)
	pass := write("pass_test.yaml", `app: app.yaml
tests:
  - name: doubles
    steps:
      - step: 1
      - expect: {T.Double.Out: 4}
`)
	fail := write("fail_test.yaml", `app: app.yaml
tests:
  - name: doubles
    steps:
      - step: 1
      - expect: {T.Double.Out: 4}
  - name: triples
    steps:
      - set: {T.Set.Value: 3}
      - step: 1
      - expect:
          T.Double.Out: 9
`)
	code, out, errOut := runCmd("test", "-v", pass)
	if code != 0 || errOut != "" || !strings.Contains(out, "pass_test.yaml:3:5: ok: doubles (2 steps, 100ms of virtual time)") || !strings.Contains(out, "ok   "+pass+": 1 test") {
		t.Errorf("passing file: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	code, out, errOut = runCmd("test", pass, fail)
	wantErr := fail + `:12:11: test "triples": step 3 (expect): T.Double.Out: want 9, got 6 (good) (at 100ms)` + "\n"
	if code != 1 || errOut != wantErr || !strings.Contains(out, "FAIL "+fail+": 1 of 2 tests failed") {
		t.Errorf("failing file: exit %d\nstdout:\n%s\nstderr:\n%s\nwant stderr:\n%s", code, out, errOut, wantErr)
	}
	if code, out, _ = runCmd("test", "-run", "doubles", fail); code != 0 || !strings.Contains(out, ": 1 test\n") {
		t.Errorf("-run doubles: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{{"test"}, {"test", "-run", "(", pass}, {"test", "--nope", pass}} {
		if code, _, _ := runCmd(args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if code, _, errOut := runCmd("test", filepath.Join(dir, "missing_test.yaml")); code != 1 || !strings.Contains(errOut, "no such file") {
		t.Errorf("a missing file: exit %d, %s", code, errOut)
	}
}

// TestTestCommandLoadsASystemApplication: `runtime test` knows the
// binary's sections, so an application with a `system:` section is tested
// as `runtime run` would load it (without its link).
func TestTestCommandLoadsASystemApplication(t *testing.T) {
	code, out, errOut := runCmd("test", "../../apps/line2_test.yaml")
	if code != 0 || errOut != "" || !strings.Contains(out, "ok   ../../apps/line2_test.yaml: 3 tests") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}
