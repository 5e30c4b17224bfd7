// Package apptest runs application tests written in YAML (`runtime test
// FILE_test.yaml`): it loads the application on a virtual clock with no
// network, sets signals and parameters, delivers MQTT messages by topic to
// the application's MQTT components, steps ticks, and checks values,
// qualities, alarms and the messages the application published. See
// docs/yaml.md, "Application tests".
//
// MQTT components take part through runtime.Simulator: instead of
// connecting, they hand what they publish to the test's broker, which keeps
// it for `published:` checks and delivers it to every subscription that
// matches, as a broker would; `inject:` delivers a message from outside.
package apptest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/scheduler"
	"github.com/metronome-rt/metronome/signals"
)

// Options configure a run.
type Options struct {
	// Registry holds the component types the applications use.
	Registry *runtime.Registry
	// Run, if set, runs only the tests whose name it matches.
	Run *regexp.Regexp
	// Sections are the application-level keys the binary defines outside
	// the runtime (link/system's `system:`), so that an application that
	// is one of a system of runtimes loads in a test as it does in `runtime
	// run`. The test starts no link: inputs routed from other applications
	// stay initial until a `set:` step writes them, and keep what it wrote
	// (see docs/yaml.md, Application tests).
	Sections []runtime.Section
}

// Result is what one test file came to.
type Result struct {
	File string
	// Problems are mistakes of the file itself; its tests did not run.
	Problems []string
	Tests    []TestResult
}

// TestResult is what one test came to.
type TestResult struct {
	Name string
	Pos  runtime.Pos
	// Failures, each "file:line:col: test "name": step N (action): what
	// was expected and what was found".
	Failures []string
	Steps    int           // steps run
	Time     time.Duration // virtual time the test ran for
}

// Failed reports whether a test failed or the file could not be run.
func (r *Result) Failed() bool {
	if len(r.Problems) > 0 {
		return true
	}
	for _, t := range r.Tests {
		if len(t.Failures) > 0 {
			return true
		}
	}
	return false
}

// Print writes the failures and problems, one per line, and with verbose
// a line for every test that passed.
func (r *Result) Print(w io.Writer, verbose bool) {
	for _, p := range r.Problems {
		fmt.Fprintln(w, p)
	}
	for _, t := range r.Tests {
		for _, f := range t.Failures {
			fmt.Fprintln(w, f)
		}
		if verbose && len(t.Failures) == 0 {
			fmt.Fprintf(w, "%s: ok: %s (%s, %s)\n", t.Pos, t.Name, Count(t.Steps, "step"), t.Time)
		}
	}
}

// Count says how many of a thing there are: "1 step", "3 steps".
func Count(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// maxFileSize bounds a test file, as the loader bounds an application's.
const maxFileSize = 4 << 20

// RunFile runs every test of a test file, each on a freshly loaded
// application.
func RunFile(name string, opts Options) *Result {
	res := &Result{File: name}
	data, err := readFile(name)
	if err != nil {
		res.Problems = append(res.Problems, fmt.Sprintf("%s: %v", name, err))
		return res
	}
	p := &problems{file: name}
	f := parse(name, data, p)
	if f == nil || len(p.list) > 0 {
		res.Problems = p.list
		return res
	}
	appFile := f.app.Value
	if !filepath.IsAbs(appFile) {
		appFile = filepath.Join(filepath.Dir(name), appFile)
	}
	ran := 0
	for _, t := range f.tests {
		if opts.Run != nil && !opts.Run.MatchString(t.name) {
			continue
		}
		ran++
		res.Tests = append(res.Tests, runTest(f, t, appFile, p.pos(f.app), opts))
	}
	if ran == 0 && opts.Run != nil {
		res.Problems = append(res.Problems, fmt.Sprintf("%s: no test matches %q", name, opts.Run))
	}
	return res
}

func readFile(name string) ([]byte, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file")
	}
	if fi.Size() > maxFileSize {
		return nil, fmt.Errorf("%d bytes is more than the %d a test file may hold", fi.Size(), maxFileSize)
	}
	return os.ReadFile(name)
}

// run is one test running.
type run struct {
	f      *file
	t      *test
	app    *runtime.App
	broker *broker
	res    *TestResult
	cur    *step
}

// fail records a failure at node n (nil: at the step).
func (r *run) fail(n *yaml.Node, format string, args ...any) {
	pos := r.cur.pos
	if n != nil {
		pos = runtime.Pos{File: r.f.name, Line: n.Line, Col: n.Column}
	}
	r.res.Failures = append(r.res.Failures, fmt.Sprintf("%s: test %q: step %d (%s): %s", pos, r.t.name, r.cur.n, r.cur.action, fmt.Sprintf(format, args...)))
}

// report turns the mistakes a step's form has into failures at their place.
func (r *run) report(p *problems) {
	for i, n := range p.nodes {
		r.fail(n, "%s", p.msgs[i])
	}
}

// now is the virtual time since the application started.
func (r *run) now() time.Duration { return r.app.Scheduler().Virtual().Now() }

func runTest(f *file, t *test, appFile string, appPos runtime.Pos, opts Options) TestResult {
	res := TestResult{Name: t.name, Pos: t.pos}
	env := func(name string) (string, bool) {
		v, ok := f.env[name]
		return v, ok
	}
	app, err := runtime.Load(appFile, opts.Registry, runtime.LoadOptions{
		Env:       env,
		Scheduler: scheduler.Options{Virtual: true},
		OnAlarm:   func(runtime.AlarmEvent) {},
		Sections:  opts.Sections,
	})
	if err != nil {
		msg := err.Error()
		var ces runtime.ConfigErrors
		if errors.As(err, &ces) {
			msg = fmt.Sprintf("the application does not load:\n  %s", strings.ReplaceAll(ces.Error(), "\n", "\n  "))
		}
		res.Failures = append(res.Failures, fmt.Sprintf("%s: test %q: %s", appPos, t.name, msg))
		return res
	}
	b := &broker{log: map[string][]runtime.Message{}, read: map[string]int{}}
	sims, err := app.Simulate(b.publish)
	if err != nil {
		res.Failures = append(res.Failures, fmt.Sprintf("%s: test %q: %v", appPos, t.name, err))
		return res
	}
	for _, n := range sims {
		b.sims = append(b.sims, n.Component().(runtime.Simulator))
	}
	r := &run{f: f, t: t, app: app, broker: b, res: &res}
	// Check every step against the application before running any, so
	// that all the test's mistakes are reported at once.
	var compiled []func()
	for _, s := range t.steps {
		r.cur = s
		before := len(res.Failures)
		do := r.compile(s)
		if len(res.Failures) == before {
			compiled = append(compiled, do)
		}
	}
	if len(res.Failures) > 0 {
		return res
	}
	for i, s := range t.steps {
		r.cur = s
		compiled[i]()
		res.Steps++
		if len(res.Failures) > 0 {
			break
		}
	}
	res.Time = r.now()
	return res
}

// compile checks a step against the application and returns what runs it.
func (r *run) compile(s *step) func() {
	switch s.action {
	case "step", "advance":
		var d time.Duration
		if s.action == "step" {
			n, err := ticks(s.arg)
			if err != nil {
				r.fail(s.arg, "%v", err)
				return nil
			}
			d = time.Duration(n) * r.tick()
		} else {
			var err error
			if d, err = duration(s.arg); err != nil {
				r.fail(s.arg, "%v", err)
				return nil
			}
		}
		var always []*check
		if s.always != nil {
			always = r.checks(s.always)
		}
		return func() { r.advance(d, always) }
	case "expect":
		checks := r.checks(s.arg)
		return func() {
			for _, c := range checks {
				if msg := c.eval(); msg != "" {
					r.fail(c.at, "%s: %s (at %s)", c.path, msg, r.now())
				}
			}
		}
	case "set":
		return r.compileSet(s.arg)
	case "inject":
		return r.compileInject(s.arg)
	case "published":
		return r.compilePublished(s.arg)
	case "ack":
		return r.compileAck(s.arg)
	}
	return nil
}

// tick is the application's period: its own fs (default 10 Hz).
func (r *run) tick() time.Duration { return r.app.Rate.Period() }

// advance runs the clock for d, checking always after every tick.
func (r *run) advance(d time.Duration, always []*check) {
	if len(always) == 0 {
		r.app.Advance(d)
		return
	}
	end := r.now() + d
	for r.now() < end {
		r.app.Advance(min(r.tick(), end-r.now()))
		for _, c := range always {
			if msg := c.eval(); msg != "" {
				r.fail(c.at, "always: %s: %s (at %s)", c.path, msg, r.now())
			}
		}
		if len(r.res.Failures) > 0 {
			return
		}
	}
}

// member is what a path in a test names.
type member struct {
	path  string
	port  signals.Port
	param runtime.AnyParam
	alarm *runtime.Alarm
}

// find resolves a path, with or without the application's name.
func (r *run) find(at *yaml.Node) (member, bool) {
	path := at.Value
	i := strings.LastIndexByte(path, '.')
	if i < 0 {
		r.fail(at, "%q: want the path of a signal, parameter or alarm, such as %s.Comp.Out", path, r.app.Name)
		return member{}, false
	}
	n, ok := r.app.Find(path[:i])
	if !ok {
		r.fail(at, "%q: the application has no component %s", path, path[:i])
		return member{}, false
	}
	m := member{path: path}
	name := path[i+1:]
	if p, ok := n.Port(name); ok {
		m.port = p
	} else if p, ok := n.Param(name); ok {
		m.param = p
	} else if a, ok := n.Alarm(name); ok {
		m.alarm = a
	} else {
		r.fail(at, "%q: %s has no signal, parameter or alarm %q", path, n.Path, name)
		return member{}, false
	}
	return m, true
}
