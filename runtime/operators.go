package runtime

import (
	"fmt"
	"math"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/metronome-rt/metronome/signals"
)

// Signal operators, as in CDP: small stateless transforms attached to an
// input (`inputs: {In: {route: ..., ops: [...]}}`) or an output
// (`outputs: {Out: {ops: [...]}}`), so that a unit conversion or a clamp
// needs no component of its own. Input operators run after the input is
// latched and before Process; output operators run after Process, before
// the value reaches any sink. The operators of one signal are applied in
// the order listed, to the value in the signal's own type, and they keep
// to the quality rule (signals.Merge):
//
//   - a value with no reading (initial, bad input) is not transformed: the
//     signal keeps its last value and time and takes that quality;
//   - stale, comm lost and last known values are transformed and keep
//     their quality;
//   - a NaN or infinite result is never passed on: the signal keeps its
//     last value and time with quality bad input;
//   - substitute replaces a value that is not good (or not finite) with its
//     own value, good, stamped with the tick's time: like SafeValue, it is
//     a deliberate value.

// operatorKind names one operator.
type operatorKind uint8

const (
	opScale operatorKind = iota + 1
	opOffset
	opClamp
	opDeadband
	opInvert
	opSubstitute
)

var opNames = map[string]operatorKind{
	"scale": opScale, "offset": opOffset, "clamp": opClamp,
	"deadband": opDeadband, "invert": opInvert, "substitute": opSubstitute,
}

func (k operatorKind) String() string {
	for name, o := range opNames {
		if o == k {
			return name
		}
	}
	return "operator"
}

// numeric reports whether the operator computes on numbers only.
func (k operatorKind) numeric() bool { return k != opInvert && k != opSubstitute }

// op is one bound operator: scale and offset use a, deadband a as the
// half-width, clamp [a, b] (infinite where a side is open).
type op struct {
	kind operatorKind
	a, b float64
}

// opSpec is an operator as written, checked for its own form; which
// signal type it fits is checked when it is bound to a signal.
type opSpec struct {
	op
	name *yaml.Node // the operator's name, where errors about it point
	arg  *yaml.Node // substitute: its value, parsed in the signal's type
	key  string     // its key path, "inputs.In.ops[1]"
}

// opsValue is the YAML of `outputs:` entries: {ops: [...]}.
type opsValue struct {
	Ops yaml.Node `yaml:"ops"`
}

// clampArgs is the argument of clamp.
type clampArgs struct {
	Min *float64 `yaml:"min"`
	Max *float64 `yaml:"max"`
}

// parseOps reads an `ops:` list. It reports every mistake and returns
// false if there was one.
func parseOps(d *decoder, n *yaml.Node, key string) ([]opSpec, bool) {
	n = deref(n)
	if n == nil || n.Kind == 0 || isNull(n) {
		return nil, true
	}
	if isBad(n) {
		return nil, false
	}
	if n.Kind != yaml.SequenceNode {
		d.fail(n, key, "want a list of operators such as [{scale: 1.8}, {offset: 32}], got %s", describe(n))
		return nil, false
	}
	ok := true
	var out []opSpec
	for i, item := range n.Content {
		if s, good := parseOp(d, deref(item), fmt.Sprintf("%s[%d]", key, i)); good {
			out = append(out, s)
		} else {
			ok = false
		}
	}
	return out, ok // the good ones too, so that binding checks them
}

func opHint(name string) string {
	names := make([]string, 0, len(opNames))
	for n := range opNames {
		names = append(names, n)
	}
	if h := suggest(name, names); h != "" {
		return h
	}
	return " (operators: scale, offset, clamp, deadband, invert, substitute)"
}

func parseOp(d *decoder, item *yaml.Node, key string) (opSpec, bool) {
	if isBad(item) {
		return opSpec{}, false
	}
	var name, val *yaml.Node
	switch item.Kind {
	case yaml.ScalarNode:
		name = item
	case yaml.MappingNode:
		if len(item.Content) != 2 {
			if len(item.Content) == 0 {
				d.fail(item, key, "empty operator: write one such as {scale: 1.8}")
			} else {
				d.fail(item.Content[2], key, "one operator per list item: put %s in an item of its own", item.Content[2].Value)
			}
			return opSpec{}, false
		}
		name, val = item.Content[0], deref(item.Content[1])
	default:
		d.fail(item, key, "want an operator such as {scale: 1.8} or invert, got %s", describe(item))
		return opSpec{}, false
	}
	kind, known := opNames[name.Value]
	if !known {
		d.fail(name, key, "unknown operator %q%s", name.Value, opHint(name.Value))
		return opSpec{}, false
	}
	s := opSpec{op: op{kind: kind}, name: name, key: key}
	key += "." + name.Value
	if kind == opInvert {
		if val != nil {
			d.fail(val, key, "invert takes no value: write the item as `- invert`")
			return s, false
		}
		return s, true
	}
	if val == nil {
		d.fail(name, key, "%s needs a value, for example {%s}", name.Value, opExample(kind))
		return s, false
	}
	if isBad(val) {
		return s, false
	}
	number := func(n *yaml.Node, key string) (float64, bool) {
		if n.Kind != yaml.ScalarNode || isNull(n) {
			d.fail(n, key, "want a number, got %s", describe(n))
			return 0, false
		}
		f, err := parseYAMLFloat(n.Value)
		if err != nil {
			d.fail(n, key, "want a number, got %q", n.Value)
			return 0, false
		}
		if !signals.Finite(f) {
			d.fail(n, key, "want a finite number, got %s", n.Value)
			return 0, false
		}
		return f, true
	}
	switch kind {
	case opScale, opOffset:
		f, ok := number(val, key)
		s.a = f
		return s, ok
	case opDeadband:
		f, ok := number(val, key)
		if ok && f < 0 {
			d.fail(val, key, "the dead band's half-width must be 0 or more, got %v", f)
			ok = false
		}
		s.a = f
		return s, ok
	case opClamp:
		if val.Kind != yaml.MappingNode {
			d.fail(val, key, "want {min: ..., max: ...} (either may be left out), got %s", describe(val))
			return s, false
		}
		var c clampArgs
		before := len(d.errs.list)
		d.decode(val, reflect.ValueOf(&c).Elem(), key)
		if len(d.errs.list) > before {
			return s, false
		}
		s.a, s.b = math.Inf(-1), math.Inf(1)
		ok := true
		for _, side := range []struct {
			name string
			v    *float64
			to   *float64
		}{{"min", c.Min, &s.a}, {"max", c.Max, &s.b}} {
			if side.v == nil {
				continue
			}
			if !signals.Finite(*side.v) {
				d.fail(valueAt(val, side.name), key+"."+side.name, "want a finite number, got %v (leave the key out for no limit)", *side.v)
				ok = false
				continue
			}
			*side.to = *side.v
		}
		switch {
		case c.Min == nil && c.Max == nil:
			d.fail(val, key, "clamp needs min, max or both")
			ok = false
		case ok && s.a > s.b:
			d.fail(valueAt(val, "min"), key+".min", "min %v is above max %v", s.a, s.b)
			ok = false
		}
		return s, ok
	case opSubstitute:
		if val.Kind != yaml.ScalarNode || isNull(val) {
			d.fail(val, key, "want the value to put in place of one that is not good, got %s", describe(val))
			return s, false
		}
		s.arg = val
		return s, true
	}
	return s, false
}

func opExample(k operatorKind) string {
	switch k {
	case opScale:
		return "scale: 1.8"
	case opOffset:
		return "offset: 32"
	case opClamp:
		return "clamp: {min: 0, max: 100}"
	case opDeadband:
		return "deadband: 0.5"
	}
	return "substitute: 0"
}

// opRunner applies the operators of one signal.
type opRunner interface {
	run()
	// passOver tells the chain on input p that p's current value is not a
	// route's but a force's (or the real value put back on release), which
	// the chain must not transform again.
	passOver(p signals.Port)
}

// bindOps checks the operators against the kind of the signal they are on
// and compiles them into a chain from src into dst (the same signal for an
// input, transformed in place). It reports every mistake and returns nil if
// there was one.
func bindOps(d *decoder, specs []opSpec, src, dst signals.Port, clock *signals.Clock) opRunner {
	k := src.Kind()
	ok := true
	var ops []op
	var sub signals.Value
	var subNode *yaml.Node
	for _, s := range specs {
		switch {
		case s.kind.numeric() && k != signals.Float && k != signals.Int && k != signals.Uint:
			d.fail(s.name, s.key, "%s works on numbers; %s is a %s", s.kind, src.Info().Name, k)
			ok = false
			continue
		case s.kind == opInvert && (k == signals.Uint || k == signals.String):
			d.fail(s.name, s.key, "invert works on bool (not) and on double and int (negation); %s is a %s", src.Info().Name, k)
			ok = false
			continue
		case s.kind == opSubstitute:
			if subNode != nil {
				d.fail(s.name, s.key, "a second substitute (the first is on line %d): one is enough", subNode.Line)
				ok = false
				continue
			}
			v, err := signals.ParseValue(k, s.arg.Value)
			if err != nil {
				d.fail(s.arg, s.key+".substitute", "want a %s, got %q", k, s.arg.Value)
				ok = false
				continue
			}
			if f, isF := v.Float(); k == signals.Float && isF && !signals.Finite(f) {
				d.fail(s.arg, s.key+".substitute", "want a finite number, got %s", s.arg.Value)
				ok = false
				continue
			}
			sub, subNode = v, s.arg
		}
		ops = append(ops, s.op)
	}
	if !ok || len(ops) == 0 {
		return nil
	}
	switch k {
	case signals.Bool:
		return newChain[bool](src, dst, ops, sub, subNode != nil, clock)
	case signals.Int:
		return newChain[int64](src, dst, ops, sub, subNode != nil, clock)
	case signals.Uint:
		return newChain[uint64](src, dst, ops, sub, subNode != nil, clock)
	case signals.Float:
		return newChain[float64](src, dst, ops, sub, subNode != nil, clock)
	case signals.String:
		return newChain[string](src, dst, ops, sub, subNode != nil, clock)
	}
	return nil
}

// chain is the compiled operators of one signal of type T. It runs when
// src has been written since it last ran, so a value is transformed once
// however often the chain runs, and allocates nothing.
type chain[T signals.Scalar] struct {
	src, dst *signals.Signal[T]
	ops      []op
	numeric  bool // T is a number: the operators compute in float64
	sub      T
	subF     float64
	hasSub   bool
	not      func(T) T // bool: logical not
	// numbers to float64 and back, by the route conversion table
	toF       func(T) float64
	fromF     func(float64) (T, bool)
	seen      uint64 // src's Seq when the chain last ran
	last      T      // the last value the chain passed on, and its time
	lastStamp int64
	clock     *signals.Clock
	// feed and feedLink write an input (src == dst), see write.
	feed     *signals.Signal[T]
	feedLink signals.Link
}

func newChain[T signals.Scalar](src, dst signals.Port, ops []op, sub signals.Value, hasSub bool, clock *signals.Clock) *chain[T] {
	c := &chain[T]{src: src.(*signals.Signal[T]), dst: dst.(*signals.Signal[T]), ops: ops, hasSub: hasSub, clock: clock}
	k := signals.KindOf[T]()
	c.numeric = k == signals.Float || k == signals.Int || k == signals.Uint
	switch k {
	case signals.Bool:
		c.not, _ = any(func(b bool) bool { return !b }).(func(T) T)
	case signals.Float:
		c.toF, _ = any(func(x float64) float64 { return x }).(func(T) float64)
		c.fromF, _ = any(func(x float64) (float64, bool) { return x, true }).(func(float64) (T, bool))
	case signals.Int, signals.Uint:
		c.toF = func(v T) float64 { f, _ := signals.As[float64](signals.ValueOf(v)); return f }
		c.fromF = func(x float64) (T, bool) { return signals.As[T](signals.FloatValue(x)) }
	}
	if src == dst {
		c.feed = signals.New[T](signals.Info{Name: dst.Info().Name, Path: dst.Info().Path, Dir: signals.Output}, clock)
		c.feedLink, _ = signals.Connect(dst, c.feed, false)
	}
	if hasSub {
		c.sub, _ = signals.As[T](sub)
		c.subF, _ = sub.Float()
		// A signal that is never written still gets the substitute, on the
		// first tick: seen starts at a Seq no signal has.
		c.seen = math.MaxUint64
	}
	return c
}

func (c *chain[T]) run() {
	seq := c.src.Seq()
	if seq == c.seen {
		return
	}
	q, stamp := c.src.Quality(), c.src.Stamp()
	var out T
	var has bool
	if c.numeric {
		out, q, stamp, has = c.runNumeric(q, stamp)
	} else {
		out, q, stamp, has = c.runPlain(q, stamp)
	}
	if has {
		c.last, c.lastStamp = out, stamp
		c.write(out, q, stamp)
	} else {
		c.write(c.last, q, c.lastStamp)
	}
	c.seen = c.src.Seq() // for an input, the write above is one of its own
}

func (c *chain[T]) passOver(p signals.Port) {
	if p == signals.Port(c.src) {
		c.seen = c.src.Seq()
	}
}

// write passes a result on. An input is written through a link of its
// own, as a route would write it, so that the component sees it as new
// (Fresh) even where no route brought it: a substitute for a value never
// received.
func (c *chain[T]) write(v T, q signals.Quality, stamp int64) {
	if c.feed == nil {
		c.dst.Put(v, q, stamp)
		return
	}
	c.feed.Put(v, q, stamp)
	c.feedLink.Latch()
}

// runNumeric folds the operators over the value as a float64. has is false
// when there is no value to pass on (q says why).
func (c *chain[T]) runNumeric(q signals.Quality, stamp int64) (T, signals.Quality, int64, bool) {
	x := c.toF(c.src.Get())
	has := signals.HasValue(q)
	for _, o := range c.ops {
		if o.kind == opSubstitute {
			if q != signals.Good || !signals.Finite(x) {
				x, q, stamp, has = c.subF, signals.Good, c.clock.Now, true
			}
			continue
		}
		if !has {
			continue
		}
		switch o.kind {
		case opScale:
			x *= o.a
		case opOffset:
			x += o.a
		case opClamp:
			// NaN stays NaN (and is refused below); ±Inf meets the limit.
			if x < o.a {
				x = o.a
			} else if x > o.b {
				x = o.b
			}
		case opDeadband:
			switch {
			case x > o.a:
				x -= o.a
			case x < -o.a:
				x += o.a
			case x == x: // not NaN: inside the band
				x = 0
			}
		case opInvert:
			x = -x
		}
	}
	var zero T
	if !has {
		return zero, q, stamp, false
	}
	if !signals.Finite(x) {
		return zero, signals.Worst(q, signals.BadInput), stamp, false
	}
	v, ok := c.fromF(x)
	if !ok {
		return zero, signals.Worst(q, signals.BadInput), stamp, false
	}
	return v, q, stamp, true
}

// runPlain folds the operators over a bool or string value.
func (c *chain[T]) runPlain(q signals.Quality, stamp int64) (T, signals.Quality, int64, bool) {
	v := c.src.Get()
	has := signals.HasValue(q)
	for _, o := range c.ops {
		switch {
		case o.kind == opSubstitute && q != signals.Good:
			v, q, stamp, has = c.sub, signals.Good, c.clock.Now, true
		case o.kind == opInvert && has && c.not != nil:
			v = c.not(v)
		}
	}
	return v, q, stamp, has
}

// inputOps runs the operators of a component's inputs as the last of its
// links, so that they see every route latched and run before Process.
type inputOps []opRunner

func (ops inputOps) Latch() {
	for _, c := range ops {
		c.run()
	}
}

func (inputOps) Capture() {}

func (ops inputOps) passOver(p signals.Port) {
	for _, c := range ops {
		c.passOver(p)
	}
}

// runOutputOps passes the values Process wrote through the operators of
// the component's outputs, before anything reads them.
func (n *Node) runOutputOps() {
	for _, c := range n.outOps {
		c.run()
	}
}

// outputOps binds the operators of an entry's `outputs:`. An output with
// operators becomes two signals: the one the component writes, and the one
// every route, viewer and test reads, which the operators fill.
func (l *loader) outputOps(e *entry) {
	d, node, m := e.d, e.node, &e.ce.Outputs
	if m.Kind == 0 || isNull(m) || isBad(m) {
		return
	}
	if m.Kind != yaml.MappingNode {
		d.fail(m, "outputs", "want a mapping of output names to {ops: [...]}, got %s", describe(m))
		return
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], deref(m.Content[i+1])
		key := "outputs." + k.Value
		var spec opsValue
		before := len(l.errs.list)
		if v.Kind != yaml.MappingNode && !isBad(v) {
			d.fail(v, key, "want {ops: [...]}, got %s", describe(v))
			continue
		}
		d.decode(v, reflect.ValueOf(&spec).Elem(), key)
		if len(l.errs.list) > before {
			continue
		}
		specs, ok := parseOps(d, &spec.Ops, key+".ops")
		if l.failed[node] {
			continue
		}
		if ok && len(specs) == 0 {
			// Nothing a user writes here may do nothing without a word.
			d.fail(v, key, "no operators: give ops: [...] (scale, offset, clamp, invert, deadband, substitute) or leave %s out", k.Value)
			continue
		}
		l.bindOutput(e, k, specs, ok, key+".ops")
	}
}

// bindOutput checks an output's operators against it and, when every one
// is right (ok: their forms were), installs them.
func (l *loader) bindOutput(e *entry, k *yaml.Node, specs []opSpec, formsOK bool, key string) {
	d, node := e.d, e.node
	name := k.Value
	p, ok := node.Port(name)
	switch {
	case !ok || p.Info().Dir != signals.Output:
		var names []string
		for _, q := range node.ports {
			if q.Info().Dir == signals.Output && !isStd(q.Info().Name) {
				names = append(names, q.Info().Name)
			}
		}
		hint := suggest(name, names)
		if ok {
			hint = "; operators on an input go with its route: {route: ..., ops: [...]}"
		} else if hint == "" {
			hint = " (outputs: " + strings.Join(names, ", ") + ")"
		}
		what := "unknown output"
		if ok {
			what = "not an output:"
		}
		d.fail(k, "outputs", "%s %q%s", what, name, hint)
		return
	case isStd(name):
		d.fail(k, "outputs", "%s is a standard signal of every component; operators go on the component's own outputs", name)
		return
	}
	owner := node
	if o := node.aliasOwner(name); o != nil {
		owner = o
	}
	info := *p.Info()
	pub := signals.NewPort(p.Kind(), info, &owner.clock)
	c := bindOps(d, specs, p, pub, &owner.clock)
	if c == nil || !formsOK {
		return
	}
	owner.outOps = append(owner.outOps, c)
	node.byName[name] = pub
	for i, q := range node.ports {
		if q == p {
			node.ports[i] = pub
		}
	}
}

// inputOps binds the operators of one routed input; they run as the last
// link of the component that owns the input.
func (l *loader) inputOps(e *entry, in *inputSpec, owner *Node, dst signals.Port) {
	if len(in.ops) == 0 {
		return
	}
	c := bindOps(e.d, in.ops, dst, dst, &owner.clock)
	if c == nil || in.opsBad {
		return
	}
	if l.inOps == nil {
		l.inOps = map[*Node]inputOps{}
	}
	l.inOps[owner] = append(l.inOps[owner], c)
}

// aliasOwner returns the component that owns a member a model instance
// exposes under name, or nil when name is the node's own.
func (n *Node) aliasOwner(name string) *Node {
	if n == nil {
		return nil
	}
	return n.aliases[name]
}
