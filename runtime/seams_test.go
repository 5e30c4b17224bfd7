package runtime_test

import (
	"context"
	"errors"
	"fmt"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// scaleType multiplies In by the parameter K into Out, records what it saw
// in Process, and raises the alarm High while Out is above Limit.
var scaleType = runtime.Define(runtime.Spec[none]{
	Name: "Scale",
	Build: func(b *runtime.Builder, _ *none) (runtime.Component, error) {
		return &scale{
			in:    runtime.Input[float64](b, "In"),
			out:   runtime.Output[float64](b, "Out"),
			k:     runtime.Param(b, "K", 1.0, runtime.Range(0, 10)),
			n:     runtime.Param(b, "N", int64(0)),
			limit: runtime.Param(b, "Limit", 100.0),
			high:  b.Alarm("High", runtime.Warning, "Out above Limit"),
		}, nil
	},
})

type scale struct {
	in, out  *signals.Signal[float64]
	k, limit *runtime.Parameter[float64]
	n        *runtime.Parameter[int64]
	high     *runtime.Alarm
	seenIn   float64
}

func (s *scale) Process(runtime.Tick) {
	s.seenIn = s.in.Get()
	s.out.SetQ(s.in.Get()*s.k.Get(), s.in.Quality())
	s.high.Update(s.out.Get() > s.limit.Get())
}

// rampType outputs its tick count as a double.
var rampType = runtime.Define(runtime.Spec[none]{
	Name: "Ramp",
	Build: func(b *runtime.Builder, _ *none) (runtime.Component, error) {
		return &ramp{out: runtime.Output[float64](b, "Out")}, nil
	},
})

type ramp struct{ out *signals.Signal[float64] }

func (r *ramp) Process(t runtime.Tick) { r.out.Set(float64(t.Count + 1)) }

var seamReg = runtime.MustRegistry(scaleType, rampType, counterType, passType)

const seamApp = `
application: T
fs: 100
components:
  - {name: Src, type: Ramp}
  - {name: S, type: Scale, inputs: {In: T.Src.Out}}
  - {name: Sink, type: Scale, inputs: {In: T.S.Out}}
`

func loadSeams(t testing.TB, yaml string, log zerolog.Logger) *runtime.App {
	t.Helper()
	app, err := runtime.LoadBytes("app.yaml", []byte(yaml), seamReg, runtime.LoadOptions{Scheduler: virtual(), Log: log})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if err := app.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Stop(context.Background()) })
	return app
}

// drive runs f on another goroutine, as a writer from the network would,
// while the virtual clock ticks until f returns.
func drive(app *runtime.App, f func()) {
	done := make(chan struct{})
	go func() { f(); close(done) }()
	for {
		select {
		case <-done:
			return
		default:
			app.Advance(10 * time.Millisecond)
			goruntime.Gosched()
		}
	}
}

func sample(t *testing.T, app *runtime.App, path string) runtime.Sample {
	t.Helper()
	id, ok := app.Tap().Lookup(path)
	if !ok {
		t.Fatalf("tap has no %s", path)
	}
	return app.Tap().Get(id)
}

func TestTapSnapshotThenOnlyChanges(t *testing.T) {
	app := loadSeams(t, seamApp, zerolog.Nop())
	tap := app.Tap()
	defer tap.Attach()()
	snap, v := tap.Read(0, nil, nil)
	if len(snap) != len(tap.Entries()) {
		t.Fatalf("snapshot has %d samples, tap has %d entries", len(snap), len(tap.Entries()))
	}
	for _, s := range snap {
		e := tap.Entries()[s.ID]
		if e.Port != nil && s.Quality != signals.Initial {
			t.Fatalf("%s is %v before the first tick, want initial", e.Path, s.Quality)
		}
	}
	app.Advance(10 * time.Millisecond)
	changed, v2 := tap.Read(v, nil, nil)
	paths := map[string]runtime.Sample{}
	for _, s := range changed {
		paths[tap.Entries()[s.ID].Path] = s
	}
	if s, ok := paths["T.Src.Out"]; !ok || s.Value.String() != "1" || s.Quality != signals.Good {
		t.Fatalf("after one tick T.Src.Out = %+v (present %v), want 1 good", s, ok)
	}
	if _, ok := paths["T.S.K"]; ok {
		t.Fatal("the unchanged parameter T.S.K was reported as changed")
	}
	if again, _ := tap.Read(v2, nil, nil); len(again) != 0 {
		t.Fatalf("a read with no tick in between returned %d samples", len(again))
	}
	// Changes made while no one is attached are picked up on attach.
	app.Advance(30 * time.Millisecond)
	id, _ := tap.Lookup("T.Src.Out")
	got, _ := tap.Read(v2, []int32{id}, nil)
	if len(got) != 1 || got[0].Value.String() != "4" {
		t.Fatalf("T.Src.Out after 4 ticks: %+v", got)
	}
}

func TestTapWithoutConsumerCopiesNothing(t *testing.T) {
	app := loadSeams(t, seamApp, zerolog.Nop())
	_, v := app.Tap().Read(0, nil, nil)
	app.Advance(50 * time.Millisecond)
	if got, _ := app.Tap().Read(v, nil, nil); len(got) != 0 {
		t.Fatalf("with no consumer attached the ticks handed over %d samples", len(got))
	}
}

func TestTapWakesAfterEachPass(t *testing.T) {
	app := loadSeams(t, seamApp, zerolog.Nop())
	tap := app.Tap()
	defer tap.Attach()()
	wake := make(chan struct{}, 1)
	defer tap.Wake(wake)()
	tap.Read(0, nil, nil)
	app.Advance(10 * time.Millisecond)
	select {
	case <-wake:
	default:
		t.Fatal("no wake-up after a pass")
	}
}

func TestTapCoalescesWhenNobodyReads(t *testing.T) {
	// Not started: no pump empties the hand-over queues behind the test.
	app, err := runtime.LoadBytes("app.yaml", []byte(seamApp), seamReg, runtime.LoadOptions{Scheduler: virtual()})
	if err != nil {
		t.Fatal(err)
	}
	tap := app.Tap()
	defer tap.Attach()()
	_, v := tap.Read(0, nil, nil)
	app.Advance(time.Second) // 100 passes, none read: the queue fills
	if tap.Deferred() == 0 {
		t.Fatal("100 passes unread should have filled the hand-over queue")
	}
	id, _ := tap.Lookup("T.Src.Out")
	got, v := tap.Read(v, []int32{id}, nil)
	if len(got) != 1 {
		t.Fatalf("read after 100 passes: %+v", got)
	}
	// The passes that did not fit waited in the group's own buffer,
	// coalesced: the next pass hands over the latest values.
	app.Advance(10 * time.Millisecond)
	got, _ = tap.Read(v, []int32{id}, nil)
	if len(got) != 1 || got[0].Value.String() != "101" {
		t.Fatalf("after coalescing, T.Src.Out = %+v, want 101", got)
	}
}

func TestSetParamAppliesAtNextTickAndRefusesWithReason(t *testing.T) {
	var logBuf syncBuf
	app := loadSeams(t, seamApp, zerolog.New(&logBuf))
	defer app.Tap().Attach()()
	var old signals.Value
	var err error
	drive(app, func() { old, err = app.SetParam(context.Background(), "T.S.K", signals.FloatValue(2.5), "alice") })
	if err != nil || old.String() != "1" {
		t.Fatalf("SetParam = %v, %v; want old 1, nil", old, err)
	}
	app.Advance(10 * time.Millisecond)
	if s := sample(t, app, "T.S.K"); s.Value.String() != "2.5" {
		t.Fatalf("observed K = %v, want 2.5", s.Value)
	}
	in, out := sample(t, app, "T.S.In"), sample(t, app, "T.S.Out")
	fin, _ := in.Value.Float()
	fout, _ := out.Value.Float()
	if fout != 2.5*fin {
		t.Fatalf("Out %v is not 2.5 x In %v after the write", fout, fin)
	}
	if !strings.Contains(logBuf.String(), `"user":"alice"`) || !strings.Contains(logBuf.String(), `"path":"T.S.K"`) {
		t.Fatalf("the write was not logged with its user: %s", logBuf.String())
	}
	cases := []struct {
		path string
		v    signals.Value
		code runtime.WriteCode
	}{
		{"T.S.K", signals.FloatValue(11), runtime.OutOfRange},
		{"T.S.K", signals.StringValue("abc"), runtime.WrongType},
		{"T.S.N", signals.FloatValue(2.5), runtime.WrongType},
		{"T.S.Out", signals.FloatValue(1), runtime.NotWritable},
		{"T.S.High", signals.FloatValue(1), runtime.NotWritable},
		{"T.S.Nope", signals.FloatValue(1), runtime.NotFound},
		{"T.Nope.K", signals.FloatValue(1), runtime.NotFound},
	}
	for _, c := range cases {
		_, err := app.SetParam(context.Background(), c.path, c.v, "alice")
		var we *runtime.WriteError
		if !errors.As(err, &we) || we.Code != c.code {
			t.Errorf("SetParam(%s, %v) = %v, want code %s", c.path, c.v, err, c.code)
		}
	}
	if s := sample(t, app, "T.S.K"); s.Value.String() != "2.5" {
		t.Fatalf("refused writes changed K to %v", s.Value)
	}
}

func TestWriteThatTimesOutIsNeverApplied(t *testing.T) {
	app := loadSeams(t, seamApp, zerolog.Nop())
	defer app.Tap().Attach()()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := app.SetParam(ctx, "T.S.K", signals.FloatValue(3), "bob")
	var we *runtime.WriteError
	if !errors.As(err, &we) || we.Code != runtime.Timeout {
		t.Fatalf("SetParam with no tick = %v, want a timeout", err)
	}
	app.Advance(50 * time.Millisecond)
	if s := sample(t, app, "T.S.K"); s.Value.String() != "1" {
		t.Fatalf("a withdrawn write was applied later: K = %v", s.Value)
	}
}

func TestMailboxRefusesWhenFull(t *testing.T) {
	app := loadSeams(t, seamApp, zerolog.Nop())
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := app.SetParam(ctx, "T.S.K", signals.FloatValue(2), "c")
			errs <- err
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	busy := 0
	for busy == 0 && time.Now().Before(deadline) {
		select {
		case err := <-errs:
			var we *runtime.WriteError
			if errors.As(err, &we) && we.Code == runtime.Busy {
				busy++
			}
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	wg.Wait()
	if busy == 0 {
		t.Fatal("40 writes waiting for one component never reported busy")
	}
}

func TestForceInputWinsOverRouteAndReleaseRestores(t *testing.T) {
	var logBuf syncBuf
	app := loadSeams(t, seamApp, zerolog.New(&logBuf))
	defer app.Tap().Attach()()
	app.Advance(20 * time.Millisecond)
	var err error
	drive(app, func() { err = app.Force(context.Background(), "T.S.In", signals.IntValue(7), "carol") })
	if err != nil {
		t.Fatal(err)
	}
	app.Advance(10 * time.Millisecond)
	comp, _ := app.Find("T.S")
	if seen := comp.Component().(*scale).seenIn; seen != 7 {
		t.Fatalf("Process saw In = %v, want the forced 7", seen)
	}
	in := sample(t, app, "T.S.In")
	src := sample(t, app, "T.Src.Out")
	if !in.Forced || in.Value.String() != "7" || in.Real.String() != src.Value.String() {
		t.Fatalf("forced input sample %+v; want forced 7 with the routed value %v beside it", in, src.Value)
	}
	if s := sample(t, app, "T.Sink.In"); s.Value.String() != "7" {
		t.Fatalf("the forced input's component output did not carry the force downstream: %v", s.Value)
	}
	if f := app.Forces(); len(f) != 1 || f[0].Path != "T.S.In" || f[0].By != "carol" || f[0].Value.String() != "7" {
		t.Fatalf("force list %+v", f)
	}
	waitFor(t, func() bool { return alarmActive(app, "T.ForcesActive") })
	drive(app, func() { err = app.Release(context.Background(), "T.S.In", "dave") })
	if err != nil {
		t.Fatal(err)
	}
	app.Advance(10 * time.Millisecond)
	in, src = sample(t, app, "T.S.In"), sample(t, app, "T.Src.Out")
	if in.Forced || in.Value.String() != src.Value.String() {
		t.Fatalf("after release In = %+v, want the routed %v", in, src.Value)
	}
	if len(app.Forces()) != 0 {
		t.Fatal("force list not cleared on release")
	}
	waitFor(t, func() bool { return !alarmActive(app, "T.ForcesActive") })
	evs, _, _ := app.Events(0, nil)
	var kinds []string
	for _, e := range evs {
		kinds = append(kinds, fmt.Sprintf("%s %s %s", e.Kind, e.Path, e.By))
	}
	all := strings.Join(kinds, "; ")
	for _, want := range []string{"forced T.S.In carol", "released T.S.In dave", "set T.ForcesActive", "cleared T.ForcesActive"} {
		if !strings.Contains(all, want) {
			t.Errorf("events %q lack %q", all, want)
		}
	}
	log := logBuf.String()
	if !strings.Contains(log, `"user":"carol"`) || !strings.Contains(log, `"user":"dave"`) {
		t.Errorf("force and release not logged with who: %s", log)
	}
}

func TestForceOutputReachesSinksAndReleaseLetsProcessWrite(t *testing.T) {
	app := loadSeams(t, seamApp, zerolog.Nop())
	defer app.Tap().Attach()()
	app.Advance(20 * time.Millisecond)
	var err error
	drive(app, func() { err = app.Force(context.Background(), "T.Src.Out", signals.FloatValue(-3), "erin") })
	if err != nil {
		t.Fatal(err)
	}
	app.Advance(10 * time.Millisecond)
	out, sink := sample(t, app, "T.Src.Out"), sample(t, app, "T.S.In")
	if !out.Forced || out.Value.String() != "-3" || sink.Value.String() != "-3" {
		t.Fatalf("forced output %+v, sink input %+v; want -3 at both", out, sink)
	}
	if r, _ := out.Real.Float(); r < 3 {
		t.Fatalf("the real value beside the forced one is %v, want Process's ramp", out.Real)
	}
	// Forcing a wrong type is refused at once.
	err = app.Force(context.Background(), "T.Src.Out", signals.StringValue("x"), "erin")
	var we *runtime.WriteError
	if !errors.As(err, &we) || we.Code != runtime.WrongType {
		t.Fatalf("forcing a double to \"x\" = %v", err)
	}
	if err := app.Force(context.Background(), "T.S.K", signals.FloatValue(1), "erin"); !errors.As(err, &we) || we.Code != runtime.NotWritable {
		t.Fatalf("forcing a parameter = %v, want not writable", err)
	}
	var n int
	drive(app, func() { n, err = app.ReleaseAll(context.Background(), "erin") })
	if err != nil || n != 1 {
		t.Fatalf("ReleaseAll = %d, %v", n, err)
	}
	app.Advance(10 * time.Millisecond)
	if out := sample(t, app, "T.Src.Out"); out.Forced || out.Value.String() == "-3" {
		t.Fatalf("after release the output is %+v", out)
	}
}

func TestAckFromOutsideNamesWhoAndReplaysFromTime(t *testing.T) {
	app := loadSeams(t, seamApp, zerolog.Nop())
	before := time.Now()
	var err error
	drive(app, func() { _, err = app.SetParam(context.Background(), "T.S.Limit", signals.FloatValue(0), "op") })
	if err != nil {
		t.Fatal(err)
	}
	app.Advance(20 * time.Millisecond)
	waitFor(t, func() bool { return alarmActive(app, "T.S.High") })
	drive(app, func() { err = app.Ack(context.Background(), "T.S.High", "frank") })
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		for _, s := range app.AlarmStates() {
			if s.Path == "T.S.High" {
				return !s.Unacked && s.Active
			}
		}
		return false
	})
	evs, _, _ := app.Events(0, nil)
	found := false
	for _, e := range evs {
		if e.Kind == runtime.EventAcked && e.Path == "T.S.High" && e.By == "frank" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no acknowledgement event by frank in %+v", evs)
	}
	// Replay from a time: the write happened after `before`; the virtual
	// clock's alarm times are in 2000, so only off-tick events follow.
	from := app.EventSeqAt(before)
	replay, _, _ := app.Events(from, nil)
	if len(replay) == 0 || replay[0].Kind != runtime.EventWritten {
		t.Fatalf("replay from %v starts with %+v, want the parameter write", before, replay)
	}
	// Acknowledging waits for the owners' ticks: on the virtual clock they
	// come only while driven (other alarms may have become unacknowledged
	// meanwhile).
	drive(app, func() { _, err = app.AckAll(context.Background(), "frank") })
	if err != nil {
		t.Fatal(err)
	}
}

func TestEventHistoryIsBoundedAndCountsLoss(t *testing.T) {
	app := loadSeams(t, seamApp, zerolog.Nop())
	for i := 0; i < runtime.EventHistory+10; i++ {
		if _, err := app.SetParam(context.Background(), "T.S.Nope", signals.FloatValue(1), "x"); err == nil {
			t.Fatal("write to a missing parameter succeeded")
		}
	}
	// Refused writes are not events; forces and writes are. Fill with writes.
	var err error
	drive(app, func() {
		for i := 0; i < runtime.EventHistory+10 && err == nil; i++ {
			_, err = app.SetParam(context.Background(), "T.S.K", signals.FloatValue(float64(i%10)), "x")
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	evs, next, lost := app.Events(1, nil)
	if len(evs) != runtime.EventHistory || lost == 0 || next != evs[len(evs)-1].Seq+1 {
		t.Fatalf("history holds %d events, lost %d, next %d", len(evs), lost, next)
	}
}

func TestTickWithObserversAndForcesAllocatesNothing(t *testing.T) {
	app := loadSeams(t, seamApp, zerolog.Nop())
	tap := app.Tap()
	defer tap.Attach()()
	wake := make(chan struct{}, 1)
	defer tap.Wake(wake)()
	var err error
	drive(app, func() { err = app.Force(context.Background(), "T.S.In", signals.IntValue(7), "g") })
	if err != nil {
		t.Fatal(err)
	}
	drive(app, func() { err = app.Force(context.Background(), "T.Src.Out", signals.IntValue(7), "g") })
	if err != nil {
		t.Fatal(err)
	}
	var v uint64
	buf := make([]runtime.Sample, 0, 64)
	n := testing.AllocsPerRun(100, func() {
		app.Advance(10 * time.Millisecond)
		buf, v = tap.Read(v, nil, buf[:0])
	})
	if n != 0 {
		t.Fatalf("%v allocations per tick with a consumer, a waker and two forces, want 0", n)
	}
}

func TestViewKeyErrorsPointAtTheKey(t *testing.T) {
	yaml := `application: T
view:
  listen: 0.0.0.0:7689
  writes: true
  users:
    - {name: a, password_hash: "nope"}
components:
  - {name: Src, type: Ramp}
`
	_, err := runtime.LoadBytes("app.yaml", []byte(yaml), seamReg, runtime.LoadOptions{Scheduler: virtual()})
	if err == nil {
		t.Fatal("bad view key accepted")
	}
	msg := err.Error()
	for _, want := range []string{"app.yaml:3:11: view.listen:", "app.yaml:6:32: view.users[0].password_hash:"} {
		if !strings.Contains(msg, want) {
			t.Errorf("errors %q lack %q", msg, want)
		}
	}
	ok := `application: T
view: {listen: "127.0.0.1:0"}
components:
  - {name: Src, type: Ramp}
`
	app, err := runtime.LoadBytes("app.yaml", []byte(ok), seamReg, runtime.LoadOptions{Scheduler: virtual()})
	if err != nil || app.View == nil || app.View.Addr() != "127.0.0.1:0" {
		t.Fatalf("view key: %v, %+v", err, app)
	}
	bad := "application: T\ncomponents:\n  - {name: ForcesActive, type: Ramp}\n"
	if _, err := runtime.LoadBytes("app.yaml", []byte(bad), seamReg, runtime.LoadOptions{Scheduler: virtual()}); err == nil || !strings.Contains(err.Error(), "reserved") {
		t.Fatalf("a component named ForcesActive: %v", err)
	}
}

func alarmActive(app *runtime.App, path string) bool {
	for _, s := range app.AlarmStates() {
		if s.Path == path {
			return s.Active
		}
	}
	return false
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
