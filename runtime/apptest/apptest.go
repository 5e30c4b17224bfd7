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
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
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

// check is one assertion, evaluated when its step runs (or after every
// tick, for always).
type check struct {
	at   *yaml.Node
	path string
	eval func() string // "" when it holds; else what is wrong
}

func (r *run) checks(m *yaml.Node) []*check {
	if m.Kind != yaml.MappingNode || len(m.Content) == 0 {
		r.fail(m, "want a mapping of paths to what they must be, such as {%s.Comp.Out: 1.5}, got %s", r.app.Name, describe(m))
		return nil
	}
	var out []*check
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		mem, ok := r.find(k)
		if !ok {
			continue
		}
		var c *check
		if mem.alarm != nil {
			c = r.alarmCheck(mem, v)
		} else {
			c = r.valueCheck(mem, v)
		}
		if c != nil {
			c.at, c.path = k, mem.path
			out = append(out, c)
		}
	}
	return out
}

func (r *run) alarmCheck(m member, v *yaml.Node) *check {
	var active, acked *bool
	boolean := func(n *yaml.Node, key string) *bool {
		b, err := strconv.ParseBool(n.Value)
		if !scalar(n) || err != nil {
			r.fail(n, "%s: %s: want true or false, got %s", m.path, key, describe(n))
			return nil
		}
		return &b
	}
	if scalar(v) {
		active = boolean(v, "active")
	} else {
		p := &problems{file: r.f.name}
		k := p.keys(v, m.path, "active", "acked")
		r.report(p)
		if n := k["active"]; n != nil {
			active = boolean(n, "active")
		}
		if n := k["acked"]; n != nil {
			acked = boolean(n, "acked")
		}
		if active == nil && acked == nil && len(p.list) == 0 {
			r.fail(v, "%s: an alarm check says active, acked or both", m.path)
		}
	}
	a := m.alarm
	return &check{eval: func() string {
		var wrong []string
		if active != nil && a.Active() != *active {
			wrong = append(wrong, fmt.Sprintf("want active %v, got %v", *active, a.Active()))
		}
		if acked != nil && !a.Unacked() != *acked {
			wrong = append(wrong, fmt.Sprintf("want acked %v, got %v", *acked, !a.Unacked()))
		}
		return strings.Join(wrong, ", ")
	}}
}

// parseQuality reads a quality's name as signals prints it; case and the
// separator between words do not matter.
func parseQuality(s string) (signals.Quality, bool) {
	norm := func(s string) string {
		return strings.NewReplacer(" ", "", "_", "", "-", "").Replace(strings.ToLower(strings.TrimSpace(s)))
	}
	for q := signals.Quality(0); q < 32; q++ {
		if name := q.String(); name != "unknown" && norm(name) == norm(s) {
			return q, true
		}
	}
	return 0, false
}

func qualityNames() string {
	var names []string
	for q := signals.Quality(0); q < 32; q++ {
		if name := q.String(); name != "unknown" {
			names = append(names, name)
		}
	}
	return strings.Join(names, ", ")
}

// valueCheck reads what a signal or parameter must be: a value (a double
// within 1e-9 of it, relatively), or {value, tolerance, min, max, quality}.
// A value given without a quality must be good: a number that is not
// live never passes for one.
func (r *run) valueCheck(m member, v *yaml.Node) *check {
	var kind signals.Kind
	var read func() (signals.Value, signals.Quality)
	if m.port != nil {
		kind = m.port.Kind()
		read = func() (signals.Value, signals.Quality) { return m.port.Value(), m.port.Quality() }
	} else {
		kind = m.param.Info().Kind
		read = func() (signals.Value, signals.Quality) { return m.param.Value(), signals.Good }
	}
	spec := map[string]*yaml.Node{}
	if scalar(v) {
		spec["value"] = v
	} else {
		p := &problems{file: r.f.name}
		spec = p.keys(v, m.path, "value", "tolerance", "min", "max", "quality")
		r.report(p)
		if len(spec) == 0 && len(p.list) == 0 {
			r.fail(v, "%s: say what it must be: value, min, max or quality", m.path)
		}
	}
	numeric := kind == signals.Float || kind == signals.Int || kind == signals.Uint
	number := func(key string) (float64, bool) {
		n := spec[key]
		if n == nil {
			return 0, false
		}
		f, err := strconv.ParseFloat(n.Value, 64)
		if !scalar(n) || err != nil || math.IsNaN(f) {
			r.fail(n, "%s: %s: want a number, got %s", m.path, key, describe(n))
			return 0, false
		}
		if !numeric {
			r.fail(n, "%s: %s: works on numbers; %s is a %s", m.path, key, m.path, kind)
			return 0, false
		}
		return f, true
	}
	var want signals.Value
	hasWant := false
	if n := spec["value"]; n != nil {
		val, err := signals.ParseValue(kind, n.Value)
		if !scalar(n) || err != nil {
			r.fail(n, "%s: value: want a %s, got %s", m.path, kind, describe(n))
		} else {
			want, hasWant = val, true
		}
	}
	tol, hasTol := number("tolerance")
	lo, hasLo := number("min")
	hi, hasHi := number("max")
	if hasTol && !hasWant {
		r.fail(spec["tolerance"], "%s: tolerance goes with value", m.path)
	}
	quality, hasQ := signals.Good, false
	if n := spec["quality"]; n != nil {
		q, ok := parseQuality(n.Value)
		switch {
		case !scalar(n) || !ok:
			r.fail(n, "%s: quality: want one of %s, got %s", m.path, qualityNames(), describe(n))
		case m.param != nil:
			r.fail(n, "%s: a parameter has no quality", m.path)
		default:
			quality, hasQ = q, true
		}
	}
	if !hasQ && (hasWant || hasLo || hasHi) {
		hasQ = true // a value must be a live one unless the test says otherwise
	}
	return &check{eval: func() string {
		got, q := read()
		gotText := fmt.Sprintf("%s (%s)", got, q)
		var wrong []string
		if hasWant && !equal(got, want, tol, hasTol) {
			w := want.String()
			if hasTol {
				w += fmt.Sprintf(" ± %v", tol)
			}
			wrong = append(wrong, "want "+w)
		}
		if hasLo || hasHi {
			f, ok := got.Float()
			switch {
			case !ok:
				wrong = append(wrong, "want a number")
			case hasLo && f < lo:
				wrong = append(wrong, fmt.Sprintf("want at least %v", lo))
			case hasHi && f > hi:
				wrong = append(wrong, fmt.Sprintf("want at most %v", hi))
			}
		}
		if hasQ && q != quality {
			wrong = append(wrong, "want quality "+quality.String())
		}
		if len(wrong) == 0 {
			return ""
		}
		return strings.Join(wrong, ", ") + ", got " + gotText
	}}
}

// equal compares a value with the one wanted: doubles within tol (or
// 1e-9 relative), anything else exactly.
func equal(got, want signals.Value, tol float64, hasTol bool) bool {
	if want.Kind() != signals.Float {
		return got.Equal(want)
	}
	g, ok1 := got.Float()
	w, _ := want.Float()
	if !ok1 || got.Kind() != signals.Float {
		return false
	}
	if !hasTol {
		tol = 1e-9 * math.Max(1, math.Abs(w))
	}
	return g == w || math.Abs(g-w) <= tol
}

func (r *run) compileSet(m *yaml.Node) func() {
	if m.Kind != yaml.MappingNode || len(m.Content) == 0 {
		r.fail(m, "want a mapping of paths to values, such as {%s.Comp.In: 1.5}, got %s", r.app.Name, describe(m))
		return nil
	}
	var sets []func()
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		mem, ok := r.find(k)
		if !ok {
			continue
		}
		if mem.alarm != nil {
			r.fail(k, "%s is an alarm: it cannot be set (acknowledge it with ack:)", mem.path)
			continue
		}
		spec := map[string]*yaml.Node{"value": v}
		if !scalar(v) {
			p := &problems{file: r.f.name}
			spec = p.keys(v, mem.path, "value", "quality")
			for _, msg := range p.list {
				r.fail(nil, "%s", msg)
			}
		}
		kind := signals.Invalid
		if mem.port != nil {
			kind = mem.port.Kind()
		} else {
			kind = mem.param.Info().Kind
		}
		vn := spec["value"]
		if vn == nil {
			r.fail(v, "%s: missing key \"value\"", mem.path)
			continue
		}
		val, err := signals.ParseValue(kind, vn.Value)
		if !scalar(vn) || err != nil {
			r.fail(vn, "%s: want a %s, got %s", mem.path, kind, describe(vn))
			continue
		}
		q := signals.Good
		if qn := spec["quality"]; qn != nil {
			var ok bool
			if q, ok = parseQuality(qn.Value); !ok || mem.param != nil {
				if mem.param != nil {
					r.fail(qn, "%s: a parameter has no quality", mem.path)
				} else {
					r.fail(qn, "%s: quality: want one of %s, got %s", mem.path, qualityNames(), describe(qn))
				}
				continue
			}
		}
		if mem.param != nil {
			p, at := mem.param, k
			sets = append(sets, func() {
				if err := p.SetValue(val); err != nil {
					r.fail(at, "%v", err)
				}
			})
			continue
		}
		port := mem.port
		if port.Info().Dir == signals.Input {
			// Through a link of its own, as a route writes an input, so
			// that the component sees the value as new (Fresh).
			feed := signals.NewPort(kind, signals.Info{Name: port.Info().Name, Dir: signals.Output}, nil)
			link, err := signals.Connect(port, feed, false)
			if err != nil {
				r.fail(k, "%v", err)
				continue
			}
			sets = append(sets, func() {
				feed.SetValue(val, q, r.app.Scheduler().Virtual().Wall().UnixNano())
				link.Latch()
			})
			continue
		}
		sets = append(sets, func() { port.SetValue(val, q, r.app.Scheduler().Virtual().Wall().UnixNano()) })
	}
	return func() {
		for _, s := range sets {
			s()
		}
	}
}

// msgSpec is a message as a test writes it, to inject or to expect.
type msgSpec struct {
	at       *yaml.Node
	topic    string
	payload  *string
	contains *string
	qos      *byte
	retain   *bool
}

func (r *run) msg(n *yaml.Node, what string, keys ...string) (msgSpec, bool) {
	s := msgSpec{at: n}
	if scalar(n) && !contains(keys, "topic") {
		v := n.Value
		s.payload = &v
		return s, true
	}
	p := &problems{file: r.f.name}
	k := p.keys(n, what, keys...)
	r.report(p)
	ok := len(p.list) == 0
	if t := k["topic"]; t != nil {
		if !scalar(t) || t.Value == "" || strings.ContainsAny(t.Value, "+#") {
			r.fail(t, "%s: topic: want a topic name (no wildcards), got %s", what, describe(t))
			ok = false
		}
		s.topic = t.Value
	} else if contains(keys, "topic") {
		r.fail(n, "%s: missing key \"topic\"", what)
		ok = false
	}
	for _, key := range []string{"payload", "contains"} {
		if v := k[key]; v != nil {
			if v.Kind != yaml.ScalarNode {
				r.fail(v, "%s: %s: want text, got %s", what, key, describe(v))
				ok = false
				continue
			}
			text := v.Value
			if key == "payload" {
				s.payload = &text
			} else {
				s.contains = &text
			}
		}
	}
	if v := k["qos"]; v != nil {
		q, err := strconv.Atoi(v.Value)
		if !scalar(v) || err != nil || q < 0 || q > 2 {
			r.fail(v, "%s: qos: want 0, 1 or 2, got %s", what, describe(v))
			ok = false
		}
		b := byte(q)
		s.qos = &b
	}
	if v := k["retain"]; v != nil {
		b, err := strconv.ParseBool(v.Value)
		if !scalar(v) || err != nil {
			r.fail(v, "%s: retain: want true or false, got %s", what, describe(v))
			ok = false
		}
		s.retain = &b
	}
	return s, ok
}

func (r *run) compileInject(n *yaml.Node) func() {
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	}
	var msgs []msgSpec
	for _, it := range items {
		s, ok := r.msg(it, "inject", "topic", "payload", "qos", "retain")
		if !ok {
			continue
		}
		if s.payload == nil {
			r.fail(it, "inject: missing key \"payload\"")
			continue
		}
		msgs = append(msgs, s)
	}
	return func() {
		for _, s := range msgs {
			m := runtime.Message{Topic: s.topic, Payload: []byte(*s.payload)}
			if s.qos != nil {
				m.QoS = *s.qos
			}
			if s.retain != nil {
				m.Retain = *s.retain
			}
			if !r.broker.deliver(m) {
				r.fail(s.at, "inject: no subscription of the application matches %s", s.topic)
			}
		}
	}
}

func (r *run) compilePublished(n *yaml.Node) func() {
	if n.Kind != yaml.MappingNode || len(n.Content) == 0 {
		r.fail(n, "want a mapping of topics to the messages published on them since the last check, such as {plant/heater: [\"ON\"]}, got %s", describe(n))
		return nil
	}
	var checks []topicCheck
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if strings.ContainsAny(k.Value, "+#") || k.Value == "" {
			r.fail(k, "published: want a topic name (no wildcards), got %q", k.Value)
			continue
		}
		tc := topicCheck{at: k, topic: k.Value}
		if v.Kind == yaml.MappingNode {
			if c, ok := r.countCheck(k.Value, v); ok {
				tc.count, tc.lo, tc.hi, tc.last = true, c.lo, c.hi, c.last
				checks = append(checks, tc)
			}
			continue
		}
		if v.Kind != yaml.SequenceNode {
			r.fail(v, "published: %s: want a list of messages (payloads, or {payload, contains, qos, retain}), [] for none, or {count, min, max, last}, got %s", k.Value, describe(v))
			continue
		}
		ok := true
		for _, it := range v.Content {
			s, good := r.msg(it, "published: "+k.Value, "payload", "contains", "qos", "retain")
			if s.payload != nil && s.contains != nil {
				r.fail(it, "published: %s: payload or contains, not both", k.Value)
				good = false
			}
			ok = ok && good
			tc.want = append(tc.want, s)
		}
		if ok {
			checks = append(checks, tc)
		}
	}
	return func() {
		for _, c := range checks {
			got := r.broker.take(c.topic)
			if c.count {
				if msg := c.countMsg(got); msg != "" {
					r.fail(c.at, "published on %s since the last check: %s (at %s)", c.topic, msg, r.now())
				}
				continue
			}
			if matches(got, c.want) {
				continue
			}
			var ws, gs []string
			for _, w := range c.want {
				ws = append(ws, w.String())
			}
			for _, g := range got {
				gs = append(gs, fmtMessage(g))
			}
			r.fail(c.at, "published on %s since the last check: want [%s], got [%s] (at %s)", c.topic, strings.Join(ws, ", "), strings.Join(gs, ", "), r.now())
		}
	}
}

// topicCheck is what `published:` says of one topic.
type topicCheck struct {
	at    *yaml.Node
	topic string
	want  []msgSpec // exactly these, in order
	// or how many, and what the last one is
	count  bool
	lo, hi int
	last   *msgSpec
}

// countMsg says what is wrong with the messages got, for a count check.
func (c topicCheck) countMsg(got []runtime.Message) string {
	var wrong []string
	switch {
	case c.lo == c.hi && len(got) != c.lo:
		wrong = append(wrong, fmt.Sprintf("want %s, got %d", apCount(c.lo), len(got)))
	case len(got) < c.lo:
		wrong = append(wrong, fmt.Sprintf("want at least %s, got %d", apCount(c.lo), len(got)))
	case len(got) > c.hi:
		wrong = append(wrong, fmt.Sprintf("want at most %s, got %d", apCount(c.hi), len(got)))
	}
	if c.last != nil {
		switch {
		case len(got) == 0:
			wrong = append(wrong, fmt.Sprintf("want the last %s, got none", c.last))
		case !matches(got[len(got)-1:], []msgSpec{*c.last}):
			wrong = append(wrong, fmt.Sprintf("want the last %s, got %s", c.last, fmtMessage(got[len(got)-1])))
		}
	}
	return strings.Join(wrong, ", ")
}

func apCount(n int) string { return Count(n, "message") }

// countSpec is a check of how many messages were published, and of the
// last one.
type countSpec struct {
	lo, hi int
	last   *msgSpec
}

// countCheck reads {count: N} or {min: N, max: N}, with an optional last:
// message.
func (r *run) countCheck(topic string, v *yaml.Node) (countSpec, bool) {
	p := &problems{file: r.f.name}
	k := p.keys(v, "published: "+topic, "count", "min", "max", "last")
	r.report(p)
	c := countSpec{lo: 0, hi: math.MaxInt}
	ok := len(p.list) == 0
	number := func(key string) (int, bool) {
		n := k[key]
		if n == nil {
			return 0, false
		}
		i, err := strconv.Atoi(n.Value)
		if !scalar(n) || err != nil || i < 0 {
			r.fail(n, "published: %s: %s: want a number of messages, got %s", topic, key, describe(n))
			ok = false
			return 0, false
		}
		return i, true
	}
	if n, has := number("count"); has {
		c.lo, c.hi = n, n
		if k["min"] != nil || k["max"] != nil {
			r.fail(k["count"], "published: %s: count, or min and max, not both", topic)
			ok = false
		}
	}
	if n, has := number("min"); has {
		c.lo = n
	}
	if n, has := number("max"); has {
		c.hi = n
	}
	if k["count"] == nil && k["min"] == nil && k["max"] == nil && ok {
		r.fail(v, "published: %s: say how many: count, min or max", topic)
		ok = false
	}
	if n := k["last"]; n != nil {
		s, good := r.msg(n, "published: "+topic+": last", "payload", "contains", "qos", "retain")
		ok = ok && good
		c.last = &s
	}
	return c, ok
}

func matches(got []runtime.Message, want []msgSpec) bool {
	if len(got) != len(want) {
		return false
	}
	for i, w := range want {
		g := got[i]
		switch {
		case w.payload != nil && string(g.Payload) != *w.payload,
			w.contains != nil && !bytes.Contains(g.Payload, []byte(*w.contains)),
			w.qos != nil && g.QoS != *w.qos,
			w.retain != nil && g.Retain != *w.retain:
			return false
		}
	}
	return true
}

func (s msgSpec) String() string {
	var parts []string
	switch {
	case s.payload != nil:
		parts = append(parts, strconv.Quote(*s.payload))
	case s.contains != nil:
		parts = append(parts, "containing "+strconv.Quote(*s.contains))
	default:
		parts = append(parts, "any payload")
	}
	if s.qos != nil {
		parts = append(parts, fmt.Sprintf("qos %d", *s.qos))
	}
	if s.retain != nil {
		parts = append(parts, fmt.Sprintf("retain %v", *s.retain))
	}
	return strings.Join(parts, " ")
}

func fmtMessage(m runtime.Message) string {
	return fmt.Sprintf("%q qos %d retain %v", m.Payload, m.QoS, m.Retain)
}

func (r *run) compileAck(n *yaml.Node) func() {
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	}
	var alarms []*runtime.Alarm
	for _, it := range items {
		if !scalar(it) {
			r.fail(it, "ack: want the path of an alarm, got %s", describe(it))
			continue
		}
		m, ok := r.find(it)
		if !ok {
			continue
		}
		if m.alarm == nil {
			r.fail(it, "ack: %s is not an alarm", m.path)
			continue
		}
		alarms = append(alarms, m.alarm)
	}
	return func() {
		for _, a := range alarms {
			a.Ack()
		}
	}
}

// broker stands in for the MQTT broker of a test: it keeps what the
// application publishes, by topic, and delivers it to every simulating
// component whose subscription matches, as a broker forwards a live
// message (retain false); inject delivers a message from outside.
type broker struct {
	sims []runtime.Simulator
	log  map[string][]runtime.Message
	read map[string]int // per topic, how many messages a check has taken
}

func (b *broker) publish(_ *runtime.Node, m runtime.Message) {
	m.Payload = bytes.Clone(m.Payload)
	b.log[m.Topic] = append(b.log[m.Topic], m)
	live := m
	live.Retain = false
	b.deliver(live)
}

func (b *broker) deliver(m runtime.Message) bool {
	matched := false
	for _, s := range b.sims {
		if s.Deliver(runtime.Message{Topic: m.Topic, Payload: bytes.Clone(m.Payload), QoS: m.QoS, Retain: m.Retain}) {
			matched = true
		}
	}
	return matched
}

// take returns the messages published on topic since the last take.
func (b *broker) take(topic string) []runtime.Message {
	all := b.log[topic]
	got := all[b.read[topic]:]
	b.read[topic] = len(all)
	return got
}
