package runtime_test

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/metronome-rt/metronome/components/all"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/scheduler"
)

// testEnv is the environment every corpus file is loaded with, so that the
// expected errors do not depend on the machine running the tests.
func testEnv(vars map[string]string) runtime.Env {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

var corpusEnv = map[string]string{
	"PLANT_FS":    "50",
	"EMPTY_VAR":   "",
	"GAIN_FACTOR": "2.5",
}

func loadOpts() runtime.LoadOptions {
	return runtime.LoadOptions{
		Env:       testEnv(corpusEnv),
		Scheduler: scheduler.Options{Virtual: true},
	}
}

// wantLines reads the leading `# want: ` comment lines of a corpus file.
func wantLines(t *testing.T, file string) []string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		w, ok := strings.CutPrefix(line, "# want:")
		if !ok {
			break
		}
		if w = strings.TrimSpace(w); w != "" {
			want = append(want, w)
		}
	}
	return want
}

// TestInvalidCorpus loads every broken application under testdata/invalid
// and compares the complete list of errors with the file's `# want:` lines,
// in the order they are reported. Positions are part of the comparison.
func TestInvalidCorpus(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 30 {
		t.Fatalf("the corpus has %d files, want at least 30", len(files))
	}
	reg := all.Registry()
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			want := wantLines(t, file)
			if len(want) == 0 {
				t.Errorf("%s has no `# want:` line", file)
			}
			app, err := runtime.Load(file, reg, loadOpts())
			if err == nil {
				t.Fatalf("loaded %s without error (application %s)", file, app.Name)
			}
			var ces runtime.ConfigErrors
			if !errors.As(err, &ces) {
				t.Fatalf("error is %T, not ConfigErrors: %v", err, err)
			}
			var got []string
			for _, e := range ces {
				got = append(got, strings.TrimPrefix(e.Error(), "testdata/"))
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("errors differ\n got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
		})
	}
}
