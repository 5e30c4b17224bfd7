package runtime_test

import (
	"sync"
	"testing"
	"time"

	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

func remoteApp(t *testing.T) (*runtime.App, *runtime.RemoteInput) {
	t.Helper()
	app := load(t, `
application: T
fs: 100
components:
  - {name: B, type: Pass, inputs: {In: Other.Pump.Count}}
`, runtime.LoadOptions{})
	ins := app.RemoteInputs()
	if len(ins) != 1 {
		t.Fatalf("remote inputs %d, want 1", len(ins))
	}
	return app, ins[0]
}

// A remote input is latched at the sink's tick with the source's value,
// quality and time, marked fresh once; a sample of another kind is never
// converted; a sample without a value changes only quality and time.
func TestRemoteInputLatchesAtTheTick(t *testing.T) {
	app, in := remoteApp(t)
	if in.App != "Other" || in.Path != "Pump.Count" || in.Sink != "T.B.In" || in.Kind() != signals.Int {
		t.Fatalf("remote input %+v kind %s", in.RemoteRoute, in.Kind())
	}
	p := get(t, app, "T.B.In")
	out := get(t, app, "T.B.Out")
	app.Advance(10 * time.Millisecond)
	if p.Quality() != signals.Initial {
		t.Fatalf("before any sample: %s", p.Quality())
	}
	in.Put(signals.IntValue(41), signals.Good, 1000)
	in.Put(signals.IntValue(42), signals.Stale, 2000) // the newer wins
	if p.Quality() != signals.Initial {
		t.Fatal("a sample reached the input before the tick")
	}
	app.Advance(10 * time.Millisecond)
	if !p.Value().Equal(signals.IntValue(42)) || p.Quality() != signals.Stale || p.Stamp() != 2000 || !p.Fresh() {
		t.Fatalf("after the tick: %v %s %d fresh %v", p.Value(), p.Quality(), p.Stamp(), p.Fresh())
	}
	if !out.Value().Equal(signals.IntValue(42)) {
		t.Fatalf("Process saw %v, not the latched value", out.Value())
	}
	if in.Overwritten() != 1 || in.Puts() != 2 {
		t.Fatalf("overwritten %d puts %d", in.Overwritten(), in.Puts())
	}
	app.Advance(10 * time.Millisecond)
	if p.Fresh() {
		t.Fatal("fresh on a tick with nothing new")
	}
	in.Put(signals.FloatValue(43.5), signals.Good, 3000)
	app.Advance(10 * time.Millisecond)
	// Without a usable value the input keeps its value and that value's
	// time: a time stamp belongs to a reading.
	if !p.Value().Equal(signals.IntValue(42)) || p.Quality() != signals.BadInput || p.Stamp() != 2000 {
		t.Fatalf("a double into an int input: %v %s %d; want the old value and time, bad input", p.Value(), p.Quality(), p.Stamp())
	}
	in.Put(signals.Value{}, signals.CommLost, 4000)
	app.Advance(10 * time.Millisecond)
	if !p.Value().Equal(signals.IntValue(42)) || p.Quality() != signals.CommLost || p.Stamp() != 2000 {
		t.Fatalf("comm lost without a value: %v %s %d", p.Value(), p.Quality(), p.Stamp())
	}
}

// The remote-input path allocates nothing: neither Put on the link's side
// nor the latch on the tick.
func TestRemoteInputAllocatesNothing(t *testing.T) {
	app, in := remoteApp(t)
	app.Advance(time.Second)
	i := int64(0)
	n := testing.AllocsPerRun(200, func() {
		i++
		in.Put(signals.IntValue(i), signals.Good, i)
		app.Advance(10 * time.Millisecond)
	})
	if n != 0 {
		t.Fatalf("%v allocations per sample and tick, want 0", n)
	}
	if v := get(t, app, "T.B.In").Value(); !v.Equal(signals.IntValue(i)) {
		t.Fatalf("input %v, want %d: the test measured nothing", v, i)
	}
}

// A producer and a consumer racing on a Box: the consumer never sees a
// torn value, and sees values in the order they were put.
func TestBoxUnderRace(t *testing.T) {
	type pair struct{ a, b int64 }
	var box runtime.Box[pair]
	const n = 200000
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := int64(1); i <= n; i++ {
			box.Put(pair{i, -i})
		}
	}()
	last := int64(0)
	for last < n {
		p, ok := box.Take()
		if !ok {
			continue
		}
		if p.a != -p.b {
			t.Fatalf("torn value %+v", *p)
		}
		if p.a <= last {
			t.Fatalf("value %d after %d", p.a, last)
		}
		last = p.a
	}
	wg.Wait()
	if _, ok := box.Take(); ok {
		t.Fatal("a value taken twice")
	}
}
