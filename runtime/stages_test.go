package runtime_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
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
