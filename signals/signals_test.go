package signals_test

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/metronome-rt/metronome/signals"
)

func output[T signals.Scalar](name string, clock *signals.Clock) *signals.Signal[T] {
	return signals.New[T](signals.Info{Name: name, Path: "App.Src." + name, Dir: signals.Output}, clock)
}

func input[T signals.Scalar](name string, clock *signals.Clock) *signals.Signal[T] {
	return signals.New[T](signals.Info{Name: name, Path: "App.Dst." + name, Dir: signals.Input}, clock)
}

func connect(t testing.TB, dst, src signals.Port, delayed bool) signals.Link {
	t.Helper()
	l, err := signals.Connect(dst, src, delayed)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestNewSignal(t *testing.T) {
	clock := &signals.Clock{}
	s := signals.New[int64](signals.Info{Name: "N", Path: "A.B.N", Dir: signals.Output, Kind: signals.String, Unit: "rpm"}, clock)
	if s.Quality() != signals.Initial || s.Seq() != 0 || s.Fresh() || s.Get() != 0 || !s.Time().IsZero() {
		t.Errorf("new signal: quality %v seq %d fresh %v value %v time %v", s.Quality(), s.Seq(), s.Fresh(), s.Get(), s.Time())
	}
	if s.Kind() != signals.Int || s.Info().Kind != signals.Int {
		t.Errorf("kind %v: New must set the kind from T, whatever Info says", s.Kind())
	}
	if s.Info().Path != "A.B.N" || s.Info().Unit != "rpm" {
		t.Errorf("info %+v", s.Info())
	}
}

func TestSetPutSetQuality(t *testing.T) {
	clock := &signals.Clock{Now: 1_000}
	s := output[float64]("X", clock)

	s.Set(1.5)
	if s.Get() != 1.5 || s.Quality() != signals.Good || s.Stamp() != 1_000 || s.Seq() != 1 {
		t.Errorf("after Set: %v %v stamp %d seq %d", s.Get(), s.Quality(), s.Stamp(), s.Seq())
	}
	if !s.Time().Equal(time.Unix(0, 1_000)) {
		t.Errorf("Time %v", s.Time())
	}

	clock.Now = 2_000
	s.SetQ(2.5, signals.Stale)
	if s.Get() != 2.5 || s.Quality() != signals.Stale || s.Stamp() != 2_000 || s.Seq() != 2 {
		t.Errorf("after SetQ: %v %v stamp %d seq %d", s.Get(), s.Quality(), s.Stamp(), s.Seq())
	}

	s.Put(3.5, signals.Good, 500) // passes on an older source time
	if s.Get() != 3.5 || s.Quality() != signals.Good || s.Stamp() != 500 || s.Seq() != 3 {
		t.Errorf("after Put: %v %v stamp %d seq %d", s.Get(), s.Quality(), s.Stamp(), s.Seq())
	}

	// Writing the same value again is still a write: routes must see it
	// (the producer says "this is current"), so seq moves.
	s.Put(3.5, signals.Good, 500)
	if s.Seq() != 4 {
		t.Errorf("a repeated Put left seq at %d", s.Seq())
	}

	s.SetQuality(signals.CommLost)
	if s.Get() != 3.5 || s.Stamp() != 500 || s.Quality() != signals.CommLost || s.Seq() != 5 {
		t.Errorf("SetQuality changed more than the quality: %v stamp %d %v seq %d", s.Get(), s.Stamp(), s.Quality(), s.Seq())
	}
	s.SetQuality(signals.CommLost)
	if s.Seq() != 5 {
		t.Errorf("setting the same quality again counted as a write (seq %d)", s.Seq())
	}

	noClock := output[bool]("B", nil)
	noClock.Set(true)
	if noClock.Stamp() != 0 || !noClock.Time().IsZero() || noClock.Quality() != signals.Good {
		t.Errorf("a signal without a clock stamps zero time: %d %v", noClock.Stamp(), noClock.Time())
	}
}

func TestSetValue(t *testing.T) {
	s := output[int64]("I", nil)
	if !s.SetValue(signals.StringValue("0x10"), signals.Good, 7) || s.Get() != 16 || s.Stamp() != 7 {
		t.Errorf("SetValue(\"0x10\"): %v stamp %d", s.Get(), s.Stamp())
	}
	seq := s.Seq()
	if s.SetValue(signals.StringValue("sixteen"), signals.Good, 8) {
		t.Error("SetValue accepted text that is not a number")
	}
	if s.Get() != 16 || s.Quality() != signals.BadInput || s.Stamp() != 8 || s.Seq() != seq+1 {
		t.Errorf("after a bad SetValue: value %v (want the previous 16), %v, stamp %d, seq %d", s.Get(), s.Quality(), s.Stamp(), s.Seq())
	}
	if !s.SetValue(signals.FloatValue(2.5), signals.Stale, 9) || s.Get() != 3 || s.Quality() != signals.Stale {
		t.Errorf("SetValue(2.5) into int: %v %v", s.Get(), s.Quality())
	}
	if v := s.Value(); !v.Equal(signals.IntValue(3)) {
		t.Errorf("Value() = %v", v)
	}
}

func TestNewPort(t *testing.T) {
	for _, k := range []signals.Kind{signals.Bool, signals.Int, signals.Uint, signals.Float, signals.String} {
		p := signals.NewPort(k, signals.Info{Name: "P", Dir: signals.Output}, nil)
		if p == nil || p.Kind() != k || p.Quality() != signals.Initial {
			t.Errorf("NewPort(%s) = %v", k, p)
			continue
		}
		if !p.SetValue(signals.StringValue("1"), signals.Good, 3) {
			t.Errorf("%s port did not take \"1\"", k)
		}
		if want, _ := signals.ParseValue(k, "1"); !p.Value().Equal(want) {
			t.Errorf("%s port holds %v, want %v", k, p.Value(), want)
		}
	}
	if p := signals.NewPort(signals.Invalid, signals.Info{}, nil); p != nil {
		t.Errorf("NewPort(Invalid) = %v, want nil", p)
	}
}

func TestConnectChecksDirection(t *testing.T) {
	a, b := output[float64]("A", nil), output[float64]("B", nil)
	if _, err := signals.Connect(b, a, false); err == nil {
		t.Error("Connect routed into an output")
	}
}

// TestLinkLatch: a latch copies value, quality and time; an unchanged source
// leaves the sink as it is with Fresh cleared; a quality change alone is
// delivered.
func TestLinkLatch(t *testing.T) {
	clock := &signals.Clock{Now: 100}
	src, dst := output[float64]("Out", clock), input[float64]("In", nil)
	l := connect(t, dst, src, false)

	l.Latch() // the source was never written
	if dst.Fresh() || dst.Quality() != signals.Initial || dst.Seq() != 0 {
		t.Errorf("latching an unwritten source: fresh %v quality %v seq %d", dst.Fresh(), dst.Quality(), dst.Seq())
	}

	src.Set(4.25)
	l.Latch()
	if dst.Get() != 4.25 || dst.Quality() != signals.Good || dst.Stamp() != 100 || !dst.Fresh() {
		t.Errorf("after a latch: %v %v stamp %d fresh %v", dst.Get(), dst.Quality(), dst.Stamp(), dst.Fresh())
	}
	seq := dst.Seq()

	l.Latch() // nothing new
	if dst.Fresh() || dst.Get() != 4.25 || dst.Seq() != seq {
		t.Errorf("latching an unchanged source: fresh %v value %v seq %d (was %d)", dst.Fresh(), dst.Get(), dst.Seq(), seq)
	}

	src.SetQuality(signals.Stale)
	l.Latch()
	if !dst.Fresh() || dst.Quality() != signals.Stale || dst.Get() != 4.25 || dst.Stamp() != 100 {
		t.Errorf("a quality change was not delivered: fresh %v %v %v stamp %d", dst.Fresh(), dst.Quality(), dst.Get(), dst.Stamp())
	}

	// Two writes between latches: the sink gets the last one.
	src.Set(1)
	src.Set(2)
	l.Latch()
	if dst.Get() != 2 || !dst.Fresh() {
		t.Errorf("after two writes: %v fresh %v", dst.Get(), dst.Fresh())
	}
}

// TestLinkConverts: a route between kinds applies the conversion table, and
// a value without meaning keeps the sink's previous value as BadInput.
func TestLinkConverts(t *testing.T) {
	src, dst := output[string]("Text", nil), input[int64]("Count", nil)
	l := connect(t, dst, src, false)
	src.Put("41.5", signals.Stale, 10)
	l.Latch()
	if dst.Get() != 42 || dst.Quality() != signals.Stale || dst.Stamp() != 10 {
		t.Errorf("\"41.5\" -> int: %v %v stamp %d", dst.Get(), dst.Quality(), dst.Stamp())
	}
	src.Put("forty", signals.Good, 11)
	l.Latch()
	if dst.Get() != 42 || dst.Quality() != signals.BadInput || !dst.Fresh() || dst.Stamp() != 11 {
		t.Errorf("\"forty\" -> int: %v %v fresh %v stamp %d; want the previous 42 as bad input", dst.Get(), dst.Quality(), dst.Fresh(), dst.Stamp())
	}
	src.Put(" 7 ", signals.Good, 12)
	l.Latch()
	if dst.Get() != 7 || dst.Quality() != signals.Good {
		t.Errorf("recovery: %v %v", dst.Get(), dst.Quality())
	}

	f, b := output[float64]("F", nil), input[bool]("B", nil)
	lb := connect(t, b, f, false)
	f.Set(0.25)
	lb.Latch()
	if !b.Get() || b.Quality() != signals.Good {
		t.Errorf("0.25 -> bool: %v %v", b.Get(), b.Quality())
	}
}

// TestDelayedLink: a delayed link delivers what Capture took at the end of
// the previous tick, not the source's current value.
func TestDelayedLink(t *testing.T) {
	src, dst := output[float64]("Out", nil), input[float64]("In", nil)
	l := connect(t, dst, src, true)

	src.Set(1)
	l.Latch() // nothing captured yet
	if dst.Fresh() || dst.Quality() != signals.Initial {
		t.Errorf("before the first capture: fresh %v %v", dst.Fresh(), dst.Quality())
	}
	l.Capture() // end of tick 1: captures 1
	src.Set(2)  // tick 2 writes 2
	l.Latch()   // tick 2 reads tick 1's value
	if dst.Get() != 1 || !dst.Fresh() || dst.Quality() != signals.Good {
		t.Errorf("tick 2 latched %v fresh %v, want the captured 1", dst.Get(), dst.Fresh())
	}
	l.Latch()
	if dst.Fresh() || dst.Get() != 1 {
		t.Errorf("a second latch without a capture: %v fresh %v", dst.Get(), dst.Fresh())
	}
	l.Capture()
	l.Latch()
	if dst.Get() != 2 || !dst.Fresh() {
		t.Errorf("after capturing 2: %v fresh %v", dst.Get(), dst.Fresh())
	}
	l.Capture() // the source did not change since
	l.Latch()
	if dst.Fresh() {
		t.Error("a capture of an unchanged source made the sink fresh")
	}

	// Capture on an undelayed link does nothing.
	direct := connect(t, input[float64]("In2", nil), src, false)
	direct.Capture()
}

// TestShared: readers in another rate group see only what was published.
func TestShared(t *testing.T) {
	var sh signals.Shared
	src := output[float64]("Out", nil)
	c := sh.Share(src)
	if sh.Share(src) != c || sh.Len() != 1 {
		t.Fatalf("Share made a second copy of the same signal (len %d)", sh.Len())
	}
	if c.Quality() != signals.Initial || c.Info().Path != src.Info().Path {
		t.Errorf("copy: %v %+v", c.Quality(), c.Info())
	}
	dst := input[int64]("In", nil)
	l := sh.Locked(connect(t, dst, c, false))

	src.Put(9.6, signals.Good, 5)
	l.Latch()
	if dst.Fresh() || dst.Quality() != signals.Initial {
		t.Errorf("latched before Publish: %v fresh %v", dst.Get(), dst.Fresh())
	}
	sh.Publish()
	l.Latch()
	if dst.Get() != 10 || dst.Stamp() != 5 || !dst.Fresh() {
		t.Errorf("after Publish: %v stamp %d fresh %v", dst.Get(), dst.Stamp(), dst.Fresh())
	}
	sh.Publish() // nothing new
	l.Latch()
	if dst.Fresh() {
		t.Error("a Publish of an unchanged signal made the sink fresh")
	}

	var empty signals.Shared
	empty.Publish() // no shared signals: a no-op, not a lock
}

// TestSharedConcurrent publishes from one goroutine while another latches,
// as two rate groups do. Each write's value and time are equal, so a torn
// read (a value from one write with the time of another) shows up as a
// mismatch; -race checks the locking.
func TestSharedConcurrent(t *testing.T) {
	const writes = 20000
	var sh signals.Shared
	f := output[float64]("F", nil)
	s := output[string]("S", nil)
	fIn := input[float64]("F", nil)
	sIn := input[string]("S", nil)
	lf := sh.Locked(connect(t, fIn, sh.Share(f), false))
	ls := sh.Locked(connect(t, sIn, sh.Share(s), false))
	delayed := input[float64]("D", nil)
	ld := sh.Locked(connect(t, delayed, sh.Share(f), true))

	var wg sync.WaitGroup
	wg.Go(func() {
		for i := int64(1); i <= writes; i++ {
			f.Put(float64(i), signals.Good, i)
			s.Put(strconv.FormatInt(i, 10), signals.Good, i)
			sh.Publish()
		}
	})
	var fresh, last int64
	check := func() {
		lf.Latch()
		ls.Latch()
		ld.Capture()
		ld.Latch()
		if fIn.Get() != float64(fIn.Stamp()) {
			t.Fatalf("torn double: value %v with the time of write %d", fIn.Get(), fIn.Stamp())
		}
		if sIn.Stamp() != 0 && sIn.Get() != strconv.FormatInt(sIn.Stamp(), 10) {
			t.Fatalf("torn string: value %q with the time of write %d", sIn.Get(), sIn.Stamp())
		}
		if delayed.Get() != float64(delayed.Stamp()) {
			t.Fatalf("torn delayed: value %v with the time of write %d", delayed.Get(), delayed.Stamp())
		}
		if fIn.Stamp() < last {
			t.Fatalf("time went back from write %d to %d", last, fIn.Stamp())
		}
		last = fIn.Stamp()
		if fIn.Fresh() {
			fresh++
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		check()
	}
	check() // after the last publish
	if last != writes {
		t.Errorf("the reader ended at write %d, want %d", last, writes)
	}
	if fresh == 0 {
		t.Error("the reader never saw a fresh value")
	}
	t.Logf("%d writes, %d fresh latches", writes, fresh)
}

// TestHotPathAllocs: reading and writing signals, latching numeric routes
// and publishing to other rate groups allocate nothing.
func TestHotPathAllocs(t *testing.T) {
	clock := &signals.Clock{Now: 1}
	f := output[float64]("F", clock)
	i := output[int64]("I", clock)
	u := output[uint64]("U", clock)
	b := output[bool]("B", clock)
	str := output[string]("S", clock)
	var sink float64
	var sh signals.Shared
	links := []signals.Link{
		connect(t, input[float64]("FF", nil), f, false),
		connect(t, input[int64]("FI", nil), f, false),
		connect(t, input[uint64]("FU", nil), f, false),
		connect(t, input[bool]("FB", nil), f, false),
		connect(t, input[float64]("IF", nil), i, false),
		connect(t, input[uint64]("IU", nil), i, false),
		connect(t, input[int64]("UI", nil), u, false),
		connect(t, input[float64]("BF", nil), b, false),
		connect(t, input[float64]("SF", nil), str, false), // parsing, not formatting
		connect(t, input[float64]("FD", nil), f, true),
		sh.Locked(connect(t, input[float64]("XF", nil), sh.Share(f), false)),
		sh.Locked(connect(t, input[int64]("XI", nil), sh.Share(i), true)),
	}
	n := 0.0
	str.Set("12.5")
	for name, fn := range map[string]func(){
		"Set":        func() { n++; f.Set(n); i.Set(int64(n)); u.Set(uint64(n)); b.Set(n > 2) },
		"Set string": func() { str.Set("constant") },
		"Put/SetQ/SetQuality": func() {
			f.Put(n, signals.Good, 5)
			f.SetQ(n, signals.Stale)
			f.SetQuality(signals.Good)
		},
		"Get": func() { sink += f.Get() + float64(i.Get()) + float64(u.Get()) },
		"Latch": func() {
			n++
			f.Set(n)
			i.Set(int64(n))
			u.Set(uint64(n))
			b.Set(!b.Get())
			for _, l := range links {
				l.Capture()
				l.Latch()
			}
		},
		"Publish": func() { n++; f.Set(n); sh.Publish() },
	} {
		if a := testing.AllocsPerRun(1000, fn); a != 0 {
			t.Errorf("%s: %v allocations per run, want 0", name, a)
		}
	}
	_ = sink
}
