package runtime_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/metronome-rt/metronome/runtime"
)

// TestManyMistakesInOneRun loads a file with independent mistakes of
// every stage and checks that one run reports all of them: at least one
// per stage, at least 12 in all, and nothing else (the corpus compares the
// complete list, positions included).
func TestManyMistakesInOneRun(t *testing.T) {
	file := "testdata/invalid/many-mistakes.yaml"
	_, err := runtime.Load(file, corpusRegistry(), loadOpts())
	var ces runtime.ConfigErrors
	if !errors.As(err, &ces) {
		t.Fatalf("error %v", err)
	}
	want := wantLines(t, file)
	if len(ces) != len(want) || len(ces) < 12 {
		t.Fatalf("%d errors, want the %d of the file (at least 12):\n%v", len(ces), len(want), err)
	}
	stages := map[string]string{
		"syntax":     "mapping values are not allowed",
		"structure":  "unknown component type",
		"config":     "config.listeners[0].type",
		"build":      "is already a signal of Probe",
		"parameters": "parameters.K",
		"routes":     "has no component or signal named",
		"loops":      "routing loop without a delay",
	}
	for stage, text := range stages {
		if !strings.Contains(err.Error(), text) {
			t.Errorf("no error of the %s stage (%q) in:\n%v", stage, text, err)
		}
	}
	for _, quiet := range []string{"LatenessP99", "Plant.Box.Inside", "Plant.Pump.Out", "missing key"} {
		if strings.Contains(err.Error(), quiet) {
			t.Errorf("a secondary error mentions %s:\n%v", quiet, err)
		}
	}
}

// TestIncludeBudget: one small file included many times over (each level
// includes the next twice) is stopped by the budget of includes, not
// parsed 2^20 times.
func TestIncludeBudget(t *testing.T) {
	dir := t.TempDir()
	const levels = 20
	for i := 0; i < levels; i++ {
		body := fmt.Sprintf("- include: l%d.yaml\n- include: l%d.yaml\n", i+1, i+1)
		if i == levels-1 {
			body = "- {name: G, type: Gain}\n"
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("l%d.yaml", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	main := filepath.Join(dir, "app.yaml")
	os.WriteFile(main, []byte("application: A\ncomponents:\n  - {name: Box, type: Gain, components: [{include: l0.yaml}]}\n"), 0o644)
	err := loadWithin(t, 60*time.Second, func() error {
		_, err := runtime.Load(main, corpusRegistry(), loadOpts())
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "the application follows more than 4096 includes") {
		t.Fatalf("error %v", err)
	}
}

// TestLiteralSecretIsAWarning: a secret config field written into the file
// is a warning that says how to take it from the environment or a file;
// one taken from the environment is not; the application still loads.
func TestLiteralSecretIsAWarning(t *testing.T) {
	app := `application: A
components:
  - name: Literal
    type: Probe
    config:
      listeners: [{type: tcp, port: 1}]
      password: hunter2
      users:
        - {name: a, secret: "s3cr3t"}
        - {name: b, secret: "${B_SECRET}"}
        - {name: c, secret: "${C_SECRET:-fallback}"}
  - name: FromEnv
    type: Probe
    config:
      listeners: [{type: tcp, port: 1}]
      password: ${PROBE_PASSWORD}
`
	var got []string
	var log bytes.Buffer
	opts := loadOpts()
	opts.Env = testEnv(map[string]string{"PROBE_PASSWORD": "x", "B_SECRET": "y"})
	opts.OnWarning = func(w *runtime.ConfigError) { got = append(got, w.Error()) }
	opts.Log = zerolog.New(&log)
	if _, err := runtime.LoadBytes("s.yaml", []byte(app), corpusRegistry(), opts); err != nil {
		t.Fatalf("a warning must not fail the load: %v", err)
	}
	// What `runtime run` logs: every warning, with its place.
	if n := strings.Count(log.String(), `"level":"warn"`); n != 3 || !strings.Contains(log.String(), `"at":"s.yaml:7:17","node":"A.Literal: config.password"`) {
		t.Errorf("log has %d warnings:\n%s", n, log.String())
	}
	want := []string{
		"s.yaml:7:17: A.Literal: config.password: the password is written into the file, where anyone who can read the file can read it: write password: ${LITERAL_PASSWORD} to take it from the environment, or use password_file",
		"s.yaml:9:29: A.Literal: config.users[0].secret: the secret is written into the file, where anyone who can read the file can read it: write secret: ${LITERAL_SECRET} to take it from the environment",
		"s.yaml:11:29: A.Literal: config.users[2].secret: C_SECRET is not set, so the secret is the default written into the file: set C_SECRET, or drop the default so that an unset variable is an error",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings\n got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	// Warnings are reported with errors too, in one run.
	got = nil
	if _, err := runtime.LoadBytes("s.yaml", []byte(app+"  - {name: X, type: Gian}\n"), corpusRegistry(), opts); err == nil {
		t.Fatal("loaded an unknown type")
	}
	if len(got) != len(want) {
		t.Errorf("with an error as well: %d warnings, want %d", len(got), len(want))
	}
}

// loadWithin runs load and fails the test if it has not returned within
// limit: what is guarded here is a load that never ends.
func loadWithin(t *testing.T, limit time.Duration, load func() error) error {
	t.Helper()
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- load() }()
	select {
	case err := <-done:
		t.Logf("returned in %v", time.Since(start).Round(time.Microsecond))
		return err
	case <-time.After(limit):
		t.Fatalf("the load did not return within %v", limit)
		return nil
	}
}
