package runtime_test

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/metronome-rt/metronome/components/all"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/scheduler"
	"github.com/metronome-rt/metronome/signals"
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
	reg := corpusRegistry()
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".yaml"), func(t *testing.T) {
			want := wantLines(t, file)
			if len(want) == 0 {
				t.Errorf("%s has no `# want:` line", file)
			}
			for _, w := range want {
				checkPlaced(t, w)
			}
			if *update {
				want = rewriteWant(t, file, reg)
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

var update = flag.Bool("update", false, "rewrite the `# want:` lines of the invalid corpus from what the loader reports (review the diff)")

// rewriteWant replaces a corpus file's `# want:` lines with the errors the
// loader reports, until they agree (the lines move what follows them).
func rewriteWant(t *testing.T, file string, reg *runtime.Registry) []string {
	t.Helper()
	for range 5 {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitAfter(string(data), "\n")
		i := 0
		for i < len(lines) && strings.HasPrefix(lines[i], "# want:") {
			i++
		}
		_, lerr := runtime.Load(file, reg, loadOpts())
		var ces runtime.ConfigErrors
		errors.As(lerr, &ces)
		var head strings.Builder
		var got []string
		for _, e := range ces {
			w := strings.TrimPrefix(e.Error(), "testdata/")
			got = append(got, w)
			head.WriteString("# want: " + w + "\n")
		}
		out := head.String() + strings.Join(lines[i:], "")
		if out == string(data) {
			return got
		}
		if err := os.WriteFile(file, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatalf("%s: the want lines do not settle", file)
	return nil
}

// wholeFile are the messages about a file as a whole, which point at its
// first line and column; every other error names the exact place.
var wholeFile = []string{
	"the file is empty",
	"the file's aliases (*name) expand it by more than",
	"an included file holds a list of components or one component",
}

// checkPlaced fails unless a `# want:` line names a line and a column, and
// names 1:1 only for a mistake of the file as a whole.
func checkPlaced(t *testing.T, want string) {
	t.Helper()
	m := placed.FindStringSubmatch(want)
	if m == nil {
		t.Errorf("want line %q names no file:line:col", want)
		return
	}
	if m[1] == "1" && m[2] == "1" {
		for _, w := range wholeFile {
			if strings.HasPrefix(m[3], w) {
				return
			}
		}
		t.Errorf("want line %q points at 1:1: name the exact key or value", want)
	}
}

var placed = regexp.MustCompile(`^invalid/[^:]+\.yaml:([1-9][0-9]*):([1-9][0-9]*): (.*)$`)

// TestEmptyInput checks the messages for input that has no YAML document at
// all, which the corpus cannot hold (its files carry a comment).
func TestEmptyInput(t *testing.T) {
	for _, in := range []string{"", "\n\n", "# only a comment\n", "---\n"} {
		_, err := runtime.LoadBytes("x.yaml", []byte(in), all.Registry(), loadOpts())
		if err == nil || err.Error() != "x.yaml:1:1: the file is empty" {
			t.Errorf("LoadBytes(%q) = %v, want x.yaml:1:1: the file is empty", in, err)
		}
	}
}

// nodePaths lists the components the application's files declare, leaving
// out those the runtime adds of its own (their types are not registered).
func nodePaths(app *runtime.App) []string {
	reg := all.Registry()
	var out []string
	for _, n := range app.All() {
		if _, ok := reg.Lookup(n.TypeName); ok {
			out = append(out, n.Path)
		}
	}
	return out
}

func mustLoad(t *testing.T, file string, env map[string]string) *runtime.App {
	t.Helper()
	opts := loadOpts()
	opts.Env = testEnv(env)
	app, err := runtime.Load(file, all.Registry(), opts)
	if err != nil {
		t.Fatalf("load %s:\n%v", file, err)
	}
	return app
}

// TestValidPlant loads an application split across files and checks the
// tree, the rates taken from the environment, the parameters and that
// relative routes reach the right signals.
func TestValidPlant(t *testing.T) {
	app := mustLoad(t, "testdata/valid/plant.yaml", map[string]string{"GAIN_FACTOR": "4"})
	if app.Name != "Plant" || app.Description != "costs $5 a day to run" {
		t.Errorf("name %q, description %q", app.Name, app.Description)
	}
	want := []string{
		"Plant.Sensor", "Plant.Reference", "Plant.Control",
		"Plant.Control.Trim", "Plant.Control.Stage", "Plant.Control.Stage.Inner",
		"Plant.Monitor",
	}
	if got := nodePaths(app); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("components\n got %v\nwant %v", got, want)
	}
	rates := map[string]float64{
		"Plant.Sensor": 100, "Plant.Reference": 20, "Plant.Control": 20,
		"Plant.Control.Trim": 20, "Plant.Control.Stage.Inner": 20, "Plant.Monitor": 1,
	}
	for path, fs := range rates {
		n, ok := app.Find(path)
		if !ok {
			t.Fatalf("%s not found", path)
		}
		if n.Rate.FS != fs {
			t.Errorf("%s: fs %v, want %v", path, n.Rate.FS, fs)
		}
	}
	ctrl, _ := app.Find("Control")
	if ctrl.Rate.Priority != scheduler.High {
		t.Errorf("Control priority %v, want high", ctrl.Rate.Priority)
	}
	if inner, _ := app.Find("Control.Stage.Inner"); inner.Rate.Priority != scheduler.High {
		t.Errorf("subcomponents inherit the parent's priority; Inner has %v", inner.Rate.Priority)
	}
	if mon, _ := app.Find("Monitor"); mon.Rate.Group != "Slow" {
		t.Errorf("Monitor group %q, want Slow", mon.Rate.Group)
	}
	checkParam := func(path, name string, want float64) {
		t.Helper()
		n, _ := app.Find(path)
		p, ok := n.Param(name)
		if !ok {
			t.Fatalf("%s has no parameter %s", path, name)
		}
		if got, _ := p.Value().Float(); got != want {
			t.Errorf("%s.%s = %v, want %v", path, name, got, want)
		}
	}
	checkParam("Control", "K", 4)           // from GAIN_FACTOR
	checkParam("Reference", "Offset", 21.5) // ${SETPOINT:-21.5}
	checkParam("Control.Stage", "K", 3)
	if len(app.Remote) != 0 || len(app.Delayed) != 0 {
		t.Errorf("remote %v, delayed %v: want none", app.Remote, app.Delayed)
	}

	// Run Control's group for one tick and follow the values along the
	// relative routes: Sensor -> Control (x4) -> Trim (x0.5) -> Inner (x1)
	// -> Stage (x3). Stage is declared before Inner but reads it, so this
	// also checks the data-flow order within the group.
	if err := app.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer app.Stop(t.Context())
	app.Advance(50 * time.Millisecond) // one period of Control (20 Hz)
	get := func(path string) float64 {
		t.Helper()
		p, ok := app.Signal(path)
		if !ok {
			t.Fatalf("no signal %s", path)
		}
		if p.Quality() != signals.Good {
			t.Errorf("%s has quality %v after one tick, want good", path, p.Quality())
		}
		f, _ := p.Value().Float()
		return f
	}
	s := get("Plant.Control.In")
	if s < 18 || s > 22 { // Offset 20, Amplitude 2
		t.Errorf("Control.In = %v, want a value of the Sensor's wave (18..22)", s)
	}
	for path, want := range map[string]float64{
		"Plant.Control.Out":             4 * s,
		"Plant.Control.Trim.Out":        2 * s,
		"Plant.Control.Stage.Inner.Out": 2 * s,
		"Plant.Control.Stage.Out":       6 * s,
	} {
		if got := get(path); got != want {
			t.Errorf("%s = %v after one tick, want %v", path, got, want)
		}
	}
}

// TestValidEnvOverride checks that a set variable wins over the default and
// that an empty one falls back to it, as ${NAME:-default} does in a shell.
func TestValidEnvOverride(t *testing.T) {
	app := mustLoad(t, "testdata/valid/plant.yaml", map[string]string{"PLANT_FS": "50", "SENSOR_FS": ""})
	for path, fs := range map[string]float64{"Plant.Control": 50, "Plant.Sensor": 100} {
		if n, _ := app.Find(path); n.Rate.FS != fs {
			t.Errorf("%s: fs %v, want %v", path, n.Rate.FS, fs)
		}
	}
}

// TestValidFeedback checks that delayed routes break loops, are listed, and
// deliver the previous tick's value; and that a route from another
// application is accepted and reported as remote.
func TestValidFeedback(t *testing.T) {
	app := mustLoad(t, "testdata/valid/feedback.yaml", nil)
	wantDelayed := []string{
		"Loop.Lag.In <- Loop.Source.Out",
		"Loop.Sum.In <- Loop.Feedback.Out",
		"Loop.Hold.In <- Loop.Hold.Out",
	}
	if strings.Join(app.Delayed, "\n") != strings.Join(wantDelayed, "\n") {
		t.Errorf("delayed routes\n got %q\nwant %q", app.Delayed, wantDelayed)
	}
	if len(app.Remote) != 1 {
		t.Fatalf("remote routes %v, want one", app.Remote)
	}
	r := app.Remote[0]
	if r.Sink != "Loop.Far.In" || r.Source != "Boiler.Pump.Flow" || r.Pos.String() != "testdata/valid/feedback.yaml:28:11" {
		t.Errorf("remote route %+v", r)
	}

	if err := app.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer app.Stop(t.Context())
	src, _ := app.Signal("Loop.Source.Out")
	lag, _ := app.Signal("Loop.Lag.Out")
	far, _ := app.Signal("Loop.Far.In")
	period := 100 * time.Millisecond
	var prev float64 // Source.Out before the first tick
	for i := 1; i <= 8; i++ {
		app.Advance(period)
		cur, _ := src.Value().Float()
		got, _ := lag.Value().Float()
		if got != prev {
			t.Errorf("tick %d: Lag.Out = %v, want the previous Source.Out %v", i, got, prev)
		}
		if cur == prev {
			t.Fatalf("tick %d: Source.Out did not change (%v); the test cannot tell ticks apart", i, cur)
		}
		prev = cur
	}
	if far.Quality() != signals.Initial {
		t.Errorf("a remote input with no link keeps quality initial, got %v", far.Quality())
	}
}

// TestValidAll loads every application under testdata/valid with the
// corpus environment: none of them may fail.
func TestValidAll(t *testing.T) {
	files, _ := filepath.Glob("testdata/valid/*.yaml")
	if len(files) < 3 {
		t.Fatalf("%d valid applications, want at least 3", len(files))
	}
	for _, f := range files {
		if _, err := runtime.Load(f, all.Registry(), loadOpts()); err != nil {
			t.Errorf("%s:\n%v", f, err)
		}
	}
}

// TestValidAnchors: aliases that reuse a mapping are expanded, not rejected
// by the check against aliases that would repeat forever.
func TestValidAnchors(t *testing.T) {
	app := mustLoad(t, "testdata/valid/anchors.yaml", nil)
	b, _ := app.Find("WaveB")
	p, ok := b.Param("Amplitude")
	if !ok {
		t.Fatal("WaveB has no Amplitude")
	}
	if !p.Value().Equal(signals.FloatValue(3)) {
		t.Errorf("WaveB.Amplitude = %v, want 3 from the anchor", p.Value())
	}
	c, _ := app.Find("GainC")
	if err := app.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer app.Stop(t.Context())
	app.Advance(100 * time.Millisecond)
	in, _ := c.Port("In")
	src, _ := app.Signal("Shared.WaveB.Out")
	if in.Quality() != signals.Good || !in.Value().Equal(src.Value()) {
		t.Errorf("GainC.In = %v (%v), want WaveB.Out %v through the aliased inputs", in.Value(), in.Quality(), src.Value())
	}
}
