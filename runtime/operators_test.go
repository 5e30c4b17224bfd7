package runtime_test

import (
	"context"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// opKindConfig picks the type of the test types' signals.
type opKindConfig struct {
	Type string `yaml:"type"`
}

func (c *opKindConfig) kind() signals.Kind {
	if c.Type == "" {
		return signals.Float
	}
	k, _ := signals.ParseKind(c.Type)
	return k
}

// opSrcType has one output, Out, that a test writes directly.
var opSrcType = runtime.Define(runtime.Spec[opKindConfig]{
	Name: "OpSrc",
	Build: func(b *runtime.Builder, c *opKindConfig) (runtime.Component, error) {
		b.Port(c.kind(), "Out", signals.Output)
		return idleComp{}, nil
	},
})

type idleComp struct{}

func (idleComp) Process(runtime.Tick) {}

// opPassType copies In to Out when In brings a new write: a value with its
// quality and time, or (no value) a hold that keeps Out's value and time.
// It counts its runs and records the raw Out it wrote, so that a test can
// see the operators leave what the component itself reads alone.
var opPassType = runtime.Define(runtime.Spec[opKindConfig]{
	Name: "OpPass",
	Build: func(b *runtime.Builder, c *opKindConfig) (runtime.Component, error) {
		return &opPass{in: b.Port(c.kind(), "In", signals.Input), out: b.Port(c.kind(), "Out", signals.Output)}, nil
	},
})

type opPass struct {
	in, out signals.Port
	seen    []signals.Value // In as Process saw it, per run
}

func (p *opPass) Process(runtime.Tick) {
	p.seen = append(p.seen, p.in.Value())
	if !p.in.Fresh() {
		return
	}
	if signals.HasValue(p.in.Quality()) {
		p.out.SetValue(p.in.Value(), p.in.Quality(), p.in.Stamp())
		return
	}
	p.out.SetQuality(p.in.Quality())
}

var opReg = runtime.MustRegistry(opSrcType, opPassType, counterType)

// opApp is an application with a source S (of typ) and a pass-through P
// whose input carries inOps and whose output carries outOps; a second
// pass-through Q reads P's output on another rate group.
func opApp(t testing.TB, typ, inOps, outOps string) *runtime.App {
	t.Helper()
	y := "application: A\nfs: 10\ncomponents:\n" +
		"  - {name: S, type: OpSrc, config: {type: " + typ + "}}\n" +
		"  - name: P\n    type: OpPass\n    config: {type: " + typ + "}\n"
	if inOps != "" {
		y += "    inputs: {In: {route: A.S.Out, ops: " + inOps + "}}\n"
	} else {
		y += "    inputs: {In: A.S.Out}\n"
	}
	if outOps != "" {
		y += "    outputs: {Out: {ops: " + outOps + "}}\n"
	}
	y += "  - {name: Q, type: OpPass, group: Other, config: {type: " + typ + "}, inputs: {In: A.P.Out}}\n"
	app, err := runtime.LoadBytes("ops.yaml", []byte(y), opReg, runtime.LoadOptions{Scheduler: virtual()})
	if err != nil {
		t.Fatalf("%v\n%s", err, y)
	}
	return app
}

type opHarness struct {
	t   *testing.T
	app *runtime.App
	src signals.Port
}

func newOpHarness(t *testing.T, typ, inOps, outOps string) *opHarness {
	app := opApp(t, typ, inOps, outOps)
	src, _ := app.Signal("A.S.Out")
	return &opHarness{t: t, app: app, src: src}
}

// write gives the source a value with a quality, stamped 1 ms into the
// tick about to run, and runs that tick.
func (h *opHarness) write(v signals.Value, q signals.Quality) {
	h.t.Helper()
	stamp := h.app.Scheduler().Virtual().Now() + 100*time.Millisecond
	h.src.SetValue(v, q, int64(stamp))
	h.app.Advance(100 * time.Millisecond)
}

func (h *opHarness) sig(path string) signals.Port {
	h.t.Helper()
	p, ok := h.app.Signal(path)
	if !ok {
		h.t.Fatalf("no signal %s", path)
	}
	return p
}

// expect checks a signal's value (Invalid: not checked), quality and time
// stamp (0: not checked).
func (h *opHarness) expect(path string, v signals.Value, q signals.Quality, stamp int64) {
	h.t.Helper()
	p := h.sig(path)
	got := p.Value()
	if v.Kind() != signals.Invalid && !sameValue(got, v) {
		h.t.Errorf("%s = %s, want %s", path, got, v)
	}
	if p.Quality() != q {
		h.t.Errorf("%s quality %s, want %s", path, p.Quality(), q)
	}
	if stamp != 0 && p.Stamp() != stamp {
		h.t.Errorf("%s stamp %d, want %d", path, p.Stamp(), stamp)
	}
}

func sameValue(a, b signals.Value) bool {
	fa, okA := a.Float()
	fb, okB := b.Float()
	if a.Kind() == signals.Float && okA && okB {
		return fa == fb || math.Abs(fa-fb) < 1e-9*math.Max(1, math.Abs(fb))
	}
	return a.Equal(b)
}

var (
	F = signals.FloatValue
	I = signals.IntValue
	U = signals.UintValue
	B = signals.BoolValue
	S = signals.StringValue
)

// none of the values checked
var anyValue signals.Value

func TestOperatorsConvertCelsiusOnInputAndOutput(t *testing.T) {
	for _, where := range []string{"input", "output"} {
		t.Run(where, func(t *testing.T) {
			in, out := "[{scale: 1.8}, {offset: 32}]", ""
			if where == "output" {
				in, out = "", in
			}
			h := newOpHarness(t, "double", in, out)
			h.write(F(20), signals.Good)
			h.expect("A.P.Out", F(68), signals.Good, 0)
			h.expect("A.Q.Out", F(68), signals.Good, 0) // across rate groups too
			h.write(F(-40), signals.Stale)
			h.expect("A.P.Out", F(-40), signals.Stale, 0)
			// Ticks that bring nothing new transform nothing again.
			h.app.Advance(time.Second)
			h.expect("A.P.Out", F(-40), signals.Stale, 0)
			h.expect("A.Q.Out", F(-40), signals.Stale, 0)
		})
	}
}

// TestOutputOperatorsLeaveTheComponentsOwnValue: the component reads back
// what it wrote; only what leaves it is transformed.
func TestOutputOperatorsLeaveTheComponentsOwnValue(t *testing.T) {
	h := newOpHarness(t, "double", "", "[{scale: 10}]")
	h.write(F(2), signals.Good)
	p, _ := h.app.Find("A.P")
	raw := p.Component().(*opPass).out
	if got := raw.Value(); !sameValue(got, F(2)) {
		t.Errorf("the component's own Out = %s, want 2", got)
	}
	h.expect("A.P.Out", F(20), signals.Good, 0)
	// A hold (quality only) on the raw output is not a second scaling.
	h.write(F(0), signals.BadInput)
	h.expect("A.P.Out", F(20), signals.BadInput, 0)
	h.write(F(3), signals.CommLost)
	h.expect("A.P.Out", F(30), signals.CommLost, 0)
}

func TestOperatorsKeepTheQualityRule(t *testing.T) {
	for _, where := range []string{"input", "output"} {
		t.Run(where, func(t *testing.T) {
			in, out := "[{scale: 2}]", ""
			if where == "output" {
				in, out = "", in
			}
			h := newOpHarness(t, "double", in, out)
			h.app.Advance(time.Second) // nothing written: nothing to transform
			h.expect("A.P.Out", F(0), signals.Initial, 0)
			h.write(F(5), signals.Good)
			good := h.sig("A.P.Out").Stamp()
			h.expect("A.P.Out", F(10), signals.Good, 0)
			// A good NaN: never passed on; value and time kept, bad input.
			h.write(F(math.NaN()), signals.Good)
			h.expect("A.P.Out", F(10), signals.BadInput, good)
			h.write(F(6), signals.Good)
			good = h.sig("A.P.Out").Stamp()
			h.expect("A.P.Out", F(12), signals.Good, 0)
			// +Inf scaled is infinite: refused the same way.
			h.write(F(math.Inf(1)), signals.Good)
			h.expect("A.P.Out", F(12), signals.BadInput, good)
			// A value with no reading keeps the last value and time.
			h.write(F(7), signals.Good)
			good = h.sig("A.P.Out").Stamp()
			h.write(F(99), signals.BadInput)
			h.expect("A.P.Out", F(14), signals.BadInput, good)
			// Stale and comm lost values are values: transformed, quality kept.
			h.write(F(8), signals.CommLost)
			h.expect("A.P.Out", F(16), signals.CommLost, 0)
		})
	}
}

func TestClampEdges(t *testing.T) {
	h := newOpHarness(t, "double", "[{clamp: {min: 0, max: 100}}]", "")
	for _, c := range []struct{ in, want float64 }{
		{-1e-12, 0}, {0, 0}, {50, 50}, {100, 100}, {100.0000001, 100},
		{math.Inf(1), 100}, {math.Inf(-1), 0}, // an infinity meets the limit
		{-math.MaxFloat64, 0}, {math.MaxFloat64, 100},
	} {
		h.write(F(c.in), signals.Good)
		h.expect("A.P.Out", F(c.want), signals.Good, 0)
	}
	h.write(F(math.NaN()), signals.Good)
	h.expect("A.P.Out", F(100), signals.BadInput, 0)

	one := newOpHarness(t, "double", "[{clamp: {max: 10}}]", "")
	one.write(F(-1e300), signals.Good)
	one.expect("A.P.Out", F(-1e300), signals.Good, 0)
	one.write(F(11), signals.Good)
	one.expect("A.P.Out", F(10), signals.Good, 0)

	ints := newOpHarness(t, "int", "[{clamp: {min: -5, max: 5}}]", "")
	ints.write(I(math.MinInt64), signals.Good)
	ints.expect("A.P.Out", I(-5), signals.Good, 0)
	ints.write(I(5), signals.Good)
	ints.expect("A.P.Out", I(5), signals.Good, 0)
}

func TestDeadBandEdges(t *testing.T) {
	h := newOpHarness(t, "double", "[{deadband: 0.5}]", "")
	for _, c := range []struct{ in, want float64 }{
		{0, 0}, {0.5, 0}, {-0.5, 0}, {0.25, 0},
		{0.75, 0.25}, {-0.75, -0.25}, {10, 9.5},
		{math.Nextafter(0.5, 1), math.Nextafter(0.5, 1) - 0.5},
	} {
		h.write(F(c.in), signals.Good)
		h.expect("A.P.Out", F(c.want), signals.Good, 0)
	}
	h.write(F(math.NaN()), signals.Good)
	h.expect("A.P.Out", anyValue, signals.BadInput, 0)
	h.write(F(math.Inf(-1)), signals.Good)
	h.expect("A.P.Out", anyValue, signals.BadInput, 0)

	zero := newOpHarness(t, "double", "[{deadband: 0}]", "")
	zero.write(F(-0.001), signals.Good)
	zero.expect("A.P.Out", F(-0.001), signals.Good, 0)
}

func TestInvert(t *testing.T) {
	b := newOpHarness(t, "bool", "", "[invert]")
	b.write(B(true), signals.Good)
	b.expect("A.P.Out", B(false), signals.Good, 0)
	b.write(B(false), signals.Stale)
	b.expect("A.P.Out", B(true), signals.Stale, 0)
	b.write(B(false), signals.BadInput)
	b.expect("A.P.Out", B(true), signals.BadInput, 0)

	d := newOpHarness(t, "double", "[invert, {offset: 1}]", "")
	d.write(F(3), signals.Good)
	d.expect("A.P.Out", F(-2), signals.Good, 0)

	i := newOpHarness(t, "int", "[invert]", "")
	i.write(I(math.MinInt64), signals.Good) // -MinInt64 saturates
	i.expect("A.P.Out", I(math.MaxInt64), signals.Good, 0)
}

func TestIntegerResultsRoundAndSaturate(t *testing.T) {
	i := newOpHarness(t, "int", "[{scale: 1.5}]", "")
	i.write(I(3), signals.Good)
	i.expect("A.P.Out", I(5), signals.Good, 0) // 4.5 rounds half away from zero
	i.write(I(-3), signals.Good)
	i.expect("A.P.Out", I(-5), signals.Good, 0)

	u := newOpHarness(t, "uint", "[{offset: -10}]", "")
	u.write(U(3), signals.Good)
	u.expect("A.P.Out", U(0), signals.Good, 0)
}

func TestSubstitute(t *testing.T) {
	h := newOpHarness(t, "double", "[{scale: 2}, {substitute: -1}, {offset: 100}]", "")
	h.app.Advance(100 * time.Millisecond)
	// Never written: the substitute, good, from the first tick on.
	h.expect("A.P.Out", F(99), signals.Good, 0)
	h.write(F(5), signals.Good)
	h.expect("A.P.Out", F(110), signals.Good, 0)
	for _, q := range []signals.Quality{signals.Stale, signals.CommLost, signals.BadInput} {
		h.write(F(5), q)
		h.expect("A.P.Out", F(99), signals.Good, h.app.Scheduler().Virtual().Wall().UnixNano())
	}
	h.write(F(math.NaN()), signals.Good) // not finite: substituted too
	h.expect("A.P.Out", F(99), signals.Good, 0)
	h.write(F(math.Inf(1)), signals.Good) // infinite once scaled
	h.expect("A.P.Out", F(99), signals.Good, 0)

	s := newOpHarness(t, "string", "[{substitute: unknown}]", "")
	s.write(S("on"), signals.Good)
	s.expect("A.P.Out", S("on"), signals.Good, 0)
	s.write(S("on"), signals.Stale)
	s.expect("A.P.Out", S("unknown"), signals.Good, 0)

	b := newOpHarness(t, "bool", "[{substitute: false}, invert]", "")
	b.write(B(false), signals.CommLost)
	b.expect("A.P.Out", B(true), signals.Good, 0)
}

// TestOperatorsAllocateNothing runs ticks of an application whose every
// operator kind transforms a changing value, on inputs and outputs.
func TestOperatorsAllocateNothing(t *testing.T) {
	y := `application: A
fs: 100
components:
  - {name: C, type: Counter}
  - name: F
    type: OpPass
    inputs: {In: {route: A.C.Out, ops: [{scale: 0.5}, {offset: -3}, {deadband: 1}, {clamp: {min: -10, max: 1000}}, invert, {substitute: 0}]}}
    outputs: {Out: {ops: [{scale: 2}, {clamp: {max: 50}}]}}
  - name: I
    type: OpPass
    config: {type: int}
    inputs: {In: {route: A.C.Out, ops: [{scale: 3}, invert]}}
    outputs: {Out: {ops: [{offset: 1}]}}
  - name: B
    type: OpPass
    config: {type: bool}
    inputs: {In: {route: A.C.Out, ops: [invert]}}
    outputs: {Out: {ops: [invert, {substitute: true}]}}
  - name: T
    type: OpPass
    config: {type: string}
    inputs: {In: {route: A.C.Out, ops: [{substitute: none}]}}
`
	app, err := runtime.LoadBytes("a.yaml", []byte(y), opReg, runtime.LoadOptions{Scheduler: virtual()})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"A.F", "A.I", "A.B", "A.T"} {
		n, _ := app.Find(name)
		n.Component().(*opPass).seen = make([]signals.Value, 0, 1000)
	}
	app.Advance(50 * time.Millisecond)
	if n := testing.AllocsPerRun(200, func() { app.Advance(10 * time.Millisecond) }); n != 0 {
		t.Fatalf("%v allocations per tick, want 0", n)
	}
	if v, _ := app.Signal("A.F.Out"); v.Quality() != signals.Good {
		t.Errorf("A.F.Out quality %s", v.Quality())
	}
}

func TestOperatorsInYAMLAreCheckedWhereWritten(t *testing.T) {
	y := `application: A
components:
  - {name: S, type: OpSrc}
  - name: P
    type: OpPass
    inputs:
      In: {route: A.S.Out, ops: [{scael: 2}, {clamp: {min: 5, max: 1}}, {offset: .nan}, invert: x]}
    outputs:
      Out: {ops: [{deadband: -1}, {substitute: abc}]}
      Nope: {ops: [invert]}
      ProcessTime: {ops: [invert]}
  - name: B
    type: OpPass
    config: {type: bool}
    inputs: {In: {route: A.S.Out, ops: [{scale: 2}, {substitute: maybe}]}}
  - name: U
    type: OpPass
    config: {type: uint}
    outputs: {Out: {ops: [invert, {substitute: 1}, {substitute: 2}]}}
`
	_, err := runtime.LoadBytes("ops.yaml", []byte(y), opReg, runtime.LoadOptions{Scheduler: virtual()})
	want := []string{
		`ops.yaml:7:35: A.P: inputs.In.ops[0]: unknown operator "scael" (did you mean "scale"?)`,
		`ops.yaml:7:60: A.P: inputs.In.ops[1].clamp.min: min 5 is above max 1`,
		`ops.yaml:7:82: A.P: inputs.In.ops[2].offset: want a finite number, got .nan`,
		`ops.yaml:7:97: A.P: inputs.In.ops[3].invert: invert takes no value: write the item as ` + "`- invert`",
		`ops.yaml:9:30: A.P: outputs.Out.ops[0].deadband: the dead band's half-width must be 0 or more, got -1`,
		`ops.yaml:9:48: A.P: outputs.Out.ops[1].substitute: want a double, got "abc"`,
		`ops.yaml:10:7: A.P: outputs: unknown output "Nope" (outputs: Out)`,
		`ops.yaml:11:7: A.P: outputs: ProcessTime is a standard signal of every component; operators go on the component's own outputs`,
		`ops.yaml:15:42: A.B: inputs.In.ops[0]: scale works on numbers; In is a bool`,
		`ops.yaml:15:66: A.B: inputs.In.ops[1].substitute: want a bool, got "maybe"`,
		`ops.yaml:19:27: A.U: outputs.Out.ops[0]: invert works on bool (not) and on double and int (negation); Out is a uint`,
		`ops.yaml:19:53: A.U: outputs.Out.ops[2]: a second substitute (the first is on line 19): one is enough`,
	}
	if err == nil {
		t.Fatal("loaded")
	}
	got := strings.Split(err.Error(), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors differ\n got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// BenchmarkOperators ticks 100 pass-through components fed by a changing
// counter, without operators (the baseline of the same run) and with a
// chain of three operators on each input and two on each output; the
// difference per chain is what operators cost.
//
//	go test -run '^$' -bench Operators -count 5 ./runtime
func BenchmarkOperators(b *testing.B) {
	app := func(in, out string) string {
		var y strings.Builder
		y.WriteString("application: A\nfs: 1000\ncomponents:\n  - {name: C, type: Counter}\n")
		for i := range 100 {
			route := "A.C.Out"
			if in != "" {
				route = "{route: A.C.Out, ops: " + in + "}"
			}
			y.WriteString("  - {name: P" + strconv.Itoa(i) + ", type: OpPass, inputs: {In: " + route + "}")
			if out != "" {
				y.WriteString(", outputs: {Out: {ops: " + out + "}}")
			}
			y.WriteString("}\n")
		}
		return y.String()
	}
	var base float64
	for _, c := range []struct{ name, in, out string }{
		{"none", "", ""},
		{"in3-out2", "[{scale: 1.8}, {offset: 32}, {clamp: {min: 0, max: 1e9}}]", "[{deadband: 0.5}, {substitute: 0}]"},
	} {
		b.Run(c.name, func(b *testing.B) {
			a, err := runtime.LoadBytes("b.yaml", []byte(app(c.in, c.out)), opReg, runtime.LoadOptions{Scheduler: virtual()})
			if err != nil {
				b.Fatal(err)
			}
			for _, n := range a.All() {
				if p, ok := n.Component().(*opPass); ok {
					p.seen = make([]signals.Value, 0, 1<<20)
				}
			}
			a.Advance(10 * time.Millisecond)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%(1<<19) == 0 {
					b.StopTimer()
					for _, n := range a.All() {
						if p, ok := n.Component().(*opPass); ok {
							p.seen = p.seen[:0]
						}
					}
					b.StartTimer()
				}
				a.Advance(time.Millisecond)
			}
			perTick := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			if c.in == "" {
				base = perTick
				return
			}
			if base > 0 {
				b.ReportMetric((perTick-base)/200, "ns/chain")
			}
		})
	}
}

// A forced input with operators: the operators transform what the route
// brings, never the forced value, and on release the input gets back the
// value the route and the operators give (11), not that value transformed
// again on every tick of the force.
func TestForcedInputIsNotTransformedAgain(t *testing.T) {
	h := newOpHarness(t, "double", "[{offset: 1}]", "")
	h.write(signals.FloatValue(10), signals.Good)
	in := h.sig("A.P.In")
	if !in.Value().Equal(signals.FloatValue(11)) {
		t.Fatalf("In = %v before the force, want 11", in.Value())
	}
	var err error
	drive(h.app, func() { err = h.app.Force(context.Background(), "A.P.In", signals.FloatValue(5), "test") })
	if err != nil {
		t.Fatal(err)
	}
	h.app.Advance(500 * time.Millisecond)
	if !in.Value().Equal(signals.FloatValue(5)) {
		t.Fatalf("In = %v while forced, want 5", in.Value())
	}
	drive(h.app, func() { err = h.app.Release(context.Background(), "A.P.In", "test") })
	if err != nil {
		t.Fatal(err)
	}
	h.app.Advance(500 * time.Millisecond)
	if !in.Value().Equal(signals.FloatValue(11)) || in.Quality() != signals.Good {
		t.Fatalf("In = %v %v after the release, want 11 good", in.Value(), in.Quality())
	}
}
