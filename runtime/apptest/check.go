package apptest

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

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
// 1e-9 relative), integers within tol when one is given, anything else
// exactly.
func equal(got, want signals.Value, tol float64, hasTol bool) bool {
	if k := want.Kind(); hasTol && (k == signals.Int || k == signals.Uint) && got.Kind() == k {
		g, _ := got.Float()
		w, _ := want.Float()
		return math.Abs(g-w) <= tol
	}
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
