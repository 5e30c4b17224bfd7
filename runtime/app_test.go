package runtime_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/scheduler"
	"github.com/metronome-rt/metronome/signals"
)

// Test component types.

type none struct{}

// counterType outputs its tick count, stamped so that value and stamp can be
// checked against each other (a torn read would break the pair).
var counterType = runtime.Define(runtime.Spec[none]{
	Name: "Counter",
	Build: func(b *runtime.Builder, _ *none) (runtime.Component, error) {
		return &counter{out: runtime.Output[int64](b, "Out")}, nil
	},
})

type counter struct{ out *signals.Signal[int64] }

func (c *counter) Process(t runtime.Tick) {
	n := int64(t.Count) + 1
	c.out.Put(n, signals.Good, n*1000)
}

// passType copies In to Out and records what it saw.
var passType = runtime.Define(runtime.Spec[none]{
	Name: "Pass",
	Build: func(b *runtime.Builder, _ *none) (runtime.Component, error) {
		return &pass{in: runtime.Input[int64](b, "In"), out: runtime.Output[int64](b, "Out")}, nil
	},
})

type pass struct {
	in, out *signals.Signal[int64]
	torn    atomic.Int64
	seen    atomic.Int64
}

func (p *pass) Process(runtime.Tick) {
	if p.in.Quality() == signals.Good {
		p.seen.Add(1)
		if p.in.Get()*1000 != p.in.Stamp() {
			p.torn.Add(1)
		}
	}
	p.out.Put(p.in.Get(), p.in.Quality(), p.in.Stamp())
}

// spendType takes virtual time in Process, to make overruns.
var (
	spendClock *scheduler.VirtualTimer
	spendType  = runtime.Define(runtime.Spec[none]{
		Name: "Spend",
		Build: func(b *runtime.Builder, _ *none) (runtime.Component, error) {
			return &spend{d: runtime.Param(b, "Spend", 0.0, runtime.PUnit("s"))}, nil
		},
	})
)

type spend struct{ d *runtime.Parameter[float64] }

func (s *spend) Process(runtime.Tick) {
	spendClock.Spend(time.Duration(s.d.Get() * float64(time.Second)))
}

// lifeType records Start and Stop calls in a shared log.
var (
	lifeMu   sync.Mutex
	lifeLog  []string
	lifeType = runtime.Define(runtime.Spec[none]{
		Name: "Life",
		Build: func(b *runtime.Builder, _ *none) (runtime.Component, error) {
			return &life{name: b.Path()}, nil
		},
	})
)

type life struct{ name string }

func (l *life) Process(runtime.Tick) {}
func (l *life) Start(context.Context) error {
	lifeMu.Lock()
	defer lifeMu.Unlock()
	lifeLog = append(lifeLog, "start "+l.name)
	return nil
}
func (l *life) Stop(context.Context) error {
	lifeMu.Lock()
	defer lifeMu.Unlock()
	lifeLog = append(lifeLog, "stop "+l.name)
	return nil
}

var testReg = runtime.MustRegistry(counterType, passType, spendType, lifeType)

func load(t testing.TB, yaml string, opts runtime.LoadOptions) *runtime.App {
	t.Helper()
	if !opts.Scheduler.Virtual && opts.Scheduler.NewTimer == nil {
		opts.Scheduler.Virtual = true
	}
	app, err := runtime.LoadBytes("app.yaml", []byte(yaml), testReg, opts)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return app
}

func get(t testing.TB, app *runtime.App, path string) signals.Port {
	t.Helper()
	p, ok := app.Signal(path)
	if !ok {
		t.Fatalf("no signal %s", path)
	}
	return p
}

func TestChainPropagatesInOneTickAnyYAMLOrder(t *testing.T) {
	app := load(t, `
application: T
fs: 100
components:
  - {name: C, type: Pass, inputs: {In: T.B.Out}}
  - {name: B, type: Pass, inputs: {In: ..A.Out}}
  - {name: A, type: Counter}
`, runtime.LoadOptions{})
	for tick := int64(1); tick <= 5; tick++ {
		app.Advance(10 * time.Millisecond)
		a, c := get(t, app, "T.A.Out").Value(), get(t, app, "T.C.Out").Value()
		if !a.Equal(signals.IntValue(tick)) || !c.Equal(a) {
			t.Fatalf("tick %d: A.Out = %s, C.Out = %s; want both %d (one-tick propagation)", tick, a, c, tick)
		}
		if q := get(t, app, "T.C.Out").Quality(); q != signals.Good {
			t.Fatalf("C.Out quality %v", q)
		}
	}
}

func TestDelayedRouteBreaksLoopWithOneTick(t *testing.T) {
	app := load(t, `
application: T
fs: 100
components:
  - {name: A, type: Counter}
  - {name: B, type: Pass, inputs: {In: {route: T.A.Out, delay: true}}}
`, runtime.LoadOptions{})
	if len(app.Delayed) != 1 || !strings.Contains(app.Delayed[0], "T.B.In <- T.A.Out") {
		t.Fatalf("delayed routes %q", app.Delayed)
	}
	app.Advance(10 * time.Millisecond)
	if q := get(t, app, "T.B.Out").Quality(); q != signals.Initial {
		t.Fatalf("B.Out after the first tick has quality %v, want initial (nothing delivered yet)", q)
	}
	for tick := int64(2); tick <= 5; tick++ {
		app.Advance(10 * time.Millisecond)
		if got := get(t, app, "T.B.Out").Value(); !got.Equal(signals.IntValue(tick - 1)) {
			t.Fatalf("tick %d: B.Out = %s, want %d (exactly one tick late)", tick, got, tick-1)
		}
	}
}

func TestLoopWithDelayRuns(t *testing.T) {
	app := load(t, `
application: T
fs: 10
components:
  - {name: A, type: Pass, inputs: {In: {route: T.B.Out, delay: true}}}
  - {name: B, type: Pass, inputs: {In: T.A.Out}}
`, runtime.LoadOptions{})
	app.Advance(time.Second)
	if q := get(t, app, "T.B.Out").Quality(); q != signals.Initial {
		t.Fatalf("loop of passes with nothing in it produced quality %v", q)
	}
}

func TestCrossGroupReadsAreNeverTorn(t *testing.T) {
	app := load(t, `
application: T
components:
  - {name: A, type: Counter, fs: 2000, group: Fast, priority: high}
  - {name: B, type: Pass, fs: 1500, group: Slow, inputs: {In: T.A.Out}}
  - {name: C, type: Pass, fs: 700, group: Other, priority: low, inputs: {In: T.A.Out}}
`, runtime.LoadOptions{Scheduler: scheduler.Options{NewTimer: func() scheduler.Timer { return scheduler.NewSleepTimer() }}})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := app.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if err := app.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"B", "C"} {
		n, _ := app.Find(name)
		p := n.Component().(*pass)
		if p.seen.Load() == 0 {
			t.Fatalf("%s never latched a good value across groups", name)
		}
		if torn := p.torn.Load(); torn != 0 {
			t.Fatalf("%s saw %d torn values (value and stamp from different writes)", name, torn)
		}
	}
}

func TestStartInOrderStopInReverse(t *testing.T) {
	lifeMu.Lock()
	lifeLog = nil
	lifeMu.Unlock()
	app := load(t, `
application: T
components:
  - name: A
    type: Life
    components:
      - {name: Sub, type: Life}
  - {name: B, type: Life}
`, runtime.LoadOptions{})
	if err := app.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	app.Advance(time.Second)
	if err := app.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := app.Stop(context.Background()); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	want := "start T.A,start T.A.Sub,start T.B,stop T.B,stop T.A.Sub,stop T.A"
	if got := strings.Join(lifeLog, ","); got != want {
		t.Fatalf("lifecycle %s\nwant      %s", got, want)
	}
}

func TestOverrunRaisesAlarmAndSuspendsOnlyThatComponent(t *testing.T) {
	var events []runtime.AlarmEvent
	app := load(t, `
application: T
fs: 100
overrun: {alarm_after: 3, suspend: true}
components:
  - {name: Slow, type: Spend, parameters: {Spend: 0.015}}
  - {name: A, type: Counter}
`, runtime.LoadOptions{OnAlarm: func(ev runtime.AlarmEvent) { events = append(events, ev) }})
	spendClock = app.Scheduler().Virtual()
	app.Advance(time.Second)
	slow, _ := app.Find("Slow")
	alarm, _ := slow.Alarm(runtime.StdOverrunAlarm)
	if !alarm.Active() || !strings.Contains(alarm.Text(), "suspended after 3 consecutive overruns") {
		t.Fatalf("Overrun alarm active=%v text %q", alarm.Active(), alarm.Text())
	}
	if len(events) == 0 || events[0].Kind != runtime.AlarmSet {
		t.Fatalf("alarm events %v", events)
	}
	ov, _ := slow.Port(runtime.StdOverruns)
	if !ov.Value().Equal(signals.UintValue(3)) {
		t.Fatalf("Overruns = %s, want 3", ov.Value())
	}
	before := get(t, app, "T.A.Out").Value()
	app.Advance(time.Second)
	after := get(t, app, "T.A.Out").Value()
	b, _ := before.Int()
	a, _ := after.Int()
	if a-b != 100 {
		t.Fatalf("A ran %d times in the second after Slow was suspended, want 100", a-b)
	}
}

func TestProcessTimeAndPeriodSignals(t *testing.T) {
	app := load(t, `
application: T
components:
  - {name: S, type: Spend, fs: 100, parameters: {Spend: 0.002}}
`, runtime.LoadOptions{})
	spendClock = app.Scheduler().Virtual()
	app.Advance(100 * time.Millisecond)
	pt := get(t, app, "T.S.ProcessTime").Value()
	pp := get(t, app, "T.S.ProcessPeriod").Value()
	if f, _ := pt.Float(); f != 0.002 {
		t.Fatalf("ProcessTime = %s, want 0.002", pt)
	}
	if f, _ := pp.Float(); f != 0.01 {
		t.Fatalf("ProcessPeriod = %s, want 0.01", pp)
	}
}

func TestRemoteRouteIsReportedAndStaysInitial(t *testing.T) {
	app := load(t, `
application: T
components:
  - {name: B, type: Pass, inputs: {In: Other.Pump.Speed}}
`, runtime.LoadOptions{})
	if len(app.Remote) != 1 || app.Remote[0].Source != "Other.Pump.Speed" || app.Remote[0].Sink != "T.B.In" {
		t.Fatalf("remote routes %+v", app.Remote)
	}
	if app.Remote[0].Pos.String() != "app.yaml:4:40" {
		t.Fatalf("remote route position %s", app.Remote[0].Pos)
	}
	app.Advance(time.Second)
	if q := get(t, app, "T.B.In").Quality(); q != signals.Initial {
		t.Fatalf("remote input quality %v, want initial", q)
	}
}

func TestAppTickAllocatesNothing(t *testing.T) {
	app := load(t, chainApp(50, 4), runtime.LoadOptions{})
	app.Advance(time.Second)
	if n := testing.AllocsPerRun(50, func() { app.Advance(10 * time.Millisecond) }); n != 0 {
		t.Fatalf("%v allocations per tick of 50 components, want 0", n)
	}
}

// chainApp builds n components in one rate group; each has `fanIn` routed
// inputs from earlier components (Pass has one input, so fan-in is spread
// over copies of the route by chaining).
func chainApp(n, _ int) string {
	var b strings.Builder
	b.WriteString("application: T\nfs: 100\ncomponents:\n  - {name: C0, type: Counter}\n")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, "  - {name: C%d, type: Pass, inputs: {In: T.C%d.Out}}\n", i, i-1)
	}
	return b.String()
}

func TestRateGroupStatisticsAreSignals(t *testing.T) {
	app := load(t, `
application: T
fs: 100
components:
  - {name: Slow, type: Spend, parameters: {Spend: 0.012}}
  - {name: Watch, type: Pass, fs: 1, group: Monitor, inputs: {In: T.RateGroups.Default_normal.Wakes}}
`, runtime.LoadOptions{})
	spendClock = app.Scheduler().Virtual()
	app.Advance(3 * time.Second)
	g, ok := app.Find("RateGroups.Default_normal")
	if !ok {
		t.Fatal("no RateGroups.Default_normal")
	}
	over, _ := g.Port("TotalOverruns")
	if n, _ := over.Value().Uint(); n == 0 {
		t.Fatal("the group's Overruns stayed 0 while a component overran every period")
	}
	p99, _ := g.Port("LatenessP99")
	if p99.Quality() != signals.Good {
		t.Fatalf("LatenessP99 quality %v, want good", p99.Quality())
	}
	if w := get(t, app, "T.Watch.In"); w.Quality() != signals.Good {
		t.Fatalf("a route from a rate group's statistics delivered quality %v", w.Quality())
	}
	if !strings.Contains(app.Summary(), "2 components") {
		t.Fatalf("summary counts the statistics components: %s", app.Summary())
	}
}

// ioType stands for an I/O component: decoupled, its output does not depend
// on its input within a tick.
var ioType = runtime.Define(runtime.Spec[none]{
	Name: "IO",
	Build: func(b *runtime.Builder, _ *none) (runtime.Component, error) {
		b.Decoupled()
		return &pass{in: runtime.Input[int64](b, "In"), out: runtime.Output[int64](b, "Out")}, nil
	},
})

func TestRouteThroughDecoupledComponentIsNotALoop(t *testing.T) {
	reg := runtime.MustRegistry(ioType, passType, counterType)
	app, err := runtime.LoadBytes("io.yaml", []byte(`
application: T
components:
  - {name: Ctrl, type: Pass, inputs: {In: T.Net.Out}}
  - {name: Net, type: IO, inputs: {In: T.Ctrl.Out}}
`), reg, runtime.LoadOptions{Scheduler: virtual()})
	if err != nil {
		t.Fatalf("a route out through an I/O component and back in was taken for a loop: %v", err)
	}
	if len(app.Delayed) != 0 {
		t.Fatalf("delayed routes %v", app.Delayed)
	}
	// Without the decoupled component the same shape is a loop.
	_, err = runtime.LoadBytes("loop.yaml", []byte(`
application: T
components:
  - {name: Ctrl, type: Pass, inputs: {In: T.Net.Out}}
  - {name: Net, type: Pass, inputs: {In: T.Ctrl.Out}}
`), reg, runtime.LoadOptions{Scheduler: virtual()})
	if err == nil || !strings.Contains(err.Error(), "routing loop without a delay: T.Ctrl.Out -> T.Net.In, T.Net.Out -> T.Ctrl.In") {
		t.Fatalf("loop error %v", err)
	}
}
