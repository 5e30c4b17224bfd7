package scheduler

import (
	"testing"
	"time"
)

// counter counts runs and remembers the tick times it saw.
type counter struct {
	runs  int
	last  Tick
	spend time.Duration // virtual time each run takes
	once  time.Duration // virtual time the next run takes, once
	v     *VirtualTimer
	order *[]string
	name  string
}

func (c *counter) Run(t Tick) {
	c.runs++
	c.last = t
	if c.order != nil {
		*c.order = append(*c.order, c.name)
	}
	if c.spend > 0 {
		c.v.Spend(c.spend)
	}
	if c.once > 0 {
		c.v.Spend(c.once)
		c.once = 0
	}
}

func TestVirtualHourRunsExactCounts(t *testing.T) {
	s := New(Options{Virtual: true})
	rates := []int{1, 10, 100, 1000}
	cs := make([]*counter, len(rates))
	for i, hz := range rates {
		cs[i] = &counter{}
		// Spread the rates over two groups and priorities, as an application would.
		g := s.Group("Default", Priority(i%2+1))
		g.Add(cs[i], time.Second/time.Duration(hz), OverrunPolicy{})
	}
	s.Advance(time.Hour)
	for i, hz := range rates {
		if want := 3600 * hz; cs[i].runs != want {
			t.Errorf("%d Hz: %d runs in a virtual hour, want %d", hz, cs[i].runs, want)
		}
		if cs[i].last.Mono != time.Hour {
			t.Errorf("%d Hz: last tick at %v, want 1h", hz, cs[i].last.Mono)
		}
		if cs[i].last.Count != uint64(3600*hz-1) {
			t.Errorf("%d Hz: last Count %d, want %d", hz, cs[i].last.Count, 3600*hz-1)
		}
	}
}

func TestGroupRunsMembersInOrderAddedEachTick(t *testing.T) {
	s := New(Options{Virtual: true})
	var order []string
	g := s.Group("G", Normal)
	for _, n := range []string{"A", "B", "C"} {
		g.Add(&counter{order: &order, name: n}, 10*time.Millisecond, OverrunPolicy{})
	}
	s.Advance(30 * time.Millisecond)
	want := "ABCABCABC"
	got := ""
	for _, o := range order {
		got += o
	}
	if got != want {
		t.Fatalf("run order %q, want %q", got, want)
	}
}

func TestOverrunSkipsMissedPeriodsAndRealigns(t *testing.T) {
	s := New(Options{Virtual: true})
	v := s.Virtual()
	slow := &counter{v: v}
	other := &counter{}
	g := s.Group("G", Normal)
	m := g.Add(slow, 10*time.Millisecond, OverrunPolicy{})
	g.Add(other, 10*time.Millisecond, OverrunPolicy{})
	s.Advance(50 * time.Millisecond) // 5 good runs at 10..50 ms
	slow.spend = 25 * time.Millisecond
	s.Advance(10 * time.Millisecond) // run at 60 ms ends at 85 ms: 70 and 80 are missed
	slow.spend = 0
	st := m.Stats()
	if st.Overruns != 1 || st.Missed != 2 {
		t.Fatalf("overruns %d missed %d, want 1 and 2", st.Overruns, st.Missed)
	}
	before := slow.runs
	s.Advance(40 * time.Millisecond) // now 100 ms... until 125 ms
	// Re-aligned on the original timeline: next runs at 90, 100, 110, 120 ms, no burst.
	if got := slow.runs - before; got != 4 {
		t.Fatalf("%d runs after the overrun, want 4 (90..120 ms, no catch-up burst)", got)
	}
	if slow.last.Mono != 120*time.Millisecond {
		t.Fatalf("last tick at %v, want 120ms on the original timeline", slow.last.Mono)
	}
	if st.Consecutive != 0 {
		t.Fatalf("consecutive overruns %d after good runs, want 0", st.Consecutive)
	}
}

func TestCatchUpRunsAtMostN(t *testing.T) {
	s := New(Options{Virtual: true})
	v := s.Virtual()
	c := &counter{v: v}
	g := s.Group("G", Normal)
	m := g.Add(c, 10*time.Millisecond, OverrunPolicy{CatchUp: 2})
	s.Advance(10 * time.Millisecond)
	c.once = 45 * time.Millisecond   // the run at 20 ms ends at 65 ms: 30, 40, 50, 60 are due
	s.Advance(10 * time.Millisecond) // virtual time is now 65 ms
	s.Advance(0)
	// After the overrun: two catch-up runs back to back (for 30 and 40 ms), then skip 50 and 60.
	if c.runs != 4 {
		t.Fatalf("%d runs, want 4 (10, 20, then catch-up 30 and 40)", c.runs)
	}
	if m.Stats().Missed != 2 {
		t.Fatalf("missed %d, want 2 (50 and 60 skipped)", m.Stats().Missed)
	}
	s.Advance(5 * time.Millisecond) // 70 ms
	if c.last.Mono != 70*time.Millisecond {
		t.Fatalf("next tick at %v, want 70ms", c.last.Mono)
	}
}

// observer records Overran calls.
type observer struct {
	counter
	calls       int
	consecutive []int
	suspended   int
}

func (o *observer) Overran(s *MemberStats) {
	o.calls++
	o.consecutive = append(o.consecutive, s.Consecutive)
	if s.Suspended {
		o.suspended++
	}
}

func TestConsecutiveOverrunsAlarmAndSuspend(t *testing.T) {
	s := New(Options{Virtual: true})
	v := s.Virtual()
	bad := &observer{counter: counter{v: v, spend: 15 * time.Millisecond}}
	good := &counter{}
	g := s.Group("G", Normal)
	m := g.Add(bad, 10*time.Millisecond, OverrunPolicy{AlarmAfter: 3, Suspend: true})
	g.Add(good, 10*time.Millisecond, OverrunPolicy{})
	s.Advance(100 * time.Millisecond)
	st := m.Stats()
	if !st.Suspended || st.Consecutive != 3 {
		t.Fatalf("suspended %v after %d consecutive overruns, want suspended after 3", st.Suspended, st.Consecutive)
	}
	if bad.runs != 3 {
		t.Fatalf("the overrunning task ran %d times, want 3 (suspended after the third)", bad.runs)
	}
	if bad.suspended != 1 || len(bad.consecutive) != 3 || bad.consecutive[2] != 3 {
		t.Fatalf("Overran saw consecutive %v, suspended %d times; want [1 2 3], once", bad.consecutive, bad.suspended)
	}
	before := good.runs
	s.Advance(time.Second)
	if bad.runs != 3 {
		t.Fatalf("a suspended task ran again (%d runs)", bad.runs)
	}
	if got := good.runs - before; got != 100 {
		t.Fatalf("the other task ran %d times in 1 s after the suspension, want 100", got)
	}
	m.Resume()
	bad.spend = 0
	s.Advance(100 * time.Millisecond)
	if bad.runs != 13 {
		t.Fatalf("after Resume the task ran %d times in total, want 13", bad.runs)
	}
}

func TestWallClockJumpChangesNothing(t *testing.T) {
	s := New(Options{Virtual: true})
	c := &counter{}
	s.Group("G", Normal).Add(c, time.Second/1000, OverrunPolicy{})
	s.Advance(time.Second)
	wall := c.last.Wall
	s.Virtual().JumpWall(-time.Hour) // an NTP step backwards
	s.Advance(time.Second)
	s.Virtual().JumpWall(3 * time.Hour)
	s.Advance(time.Second)
	if c.runs != 3000 {
		t.Fatalf("%d runs over 3 s with wall-clock jumps, want 3000", c.runs)
	}
	if c.last.Mono != 3*time.Second {
		t.Fatalf("monotonic tick time %v, want 3s", c.last.Mono)
	}
	if got := c.last.Wall.Sub(wall); got != 2*time.Second+2*time.Hour {
		t.Fatalf("wall moved %v, want 2s plus the jumps (2h)", got)
	}
}

func TestLatenessAndWakesRecorded(t *testing.T) {
	s := New(Options{Virtual: true})
	c := &counter{}
	g := s.Group("G", Normal)
	g.Add(c, time.Millisecond, OverrunPolicy{})
	s.Advance(time.Second)
	if g.Stats().Wakes != 1000 {
		t.Fatalf("wakes %d, want 1000", g.Stats().Wakes)
	}
	var h Histogram
	g.Stats().Lateness.Snapshot(&h)
	if h.Count() == 0 || h.Max() != 0 {
		t.Fatalf("lateness on the virtual clock: count %d max %v, want samples of 0", h.Count(), h.Max())
	}
}

func TestTickPathAllocatesNothing(t *testing.T) {
	s := New(Options{Virtual: true})
	g := s.Group("G", Normal)
	for i := 0; i < 10; i++ {
		g.Add(TaskFunc(func(Tick) {}), time.Millisecond, OverrunPolicy{})
	}
	s.Advance(time.Second) // warm up
	if n := testing.AllocsPerRun(100, func() { s.Advance(10 * time.Millisecond) }); n != 0 {
		t.Fatalf("%v allocations per 10 ticks, want 0", n)
	}
}

func TestRealClockRunStopsAtTickBoundary(t *testing.T) {
	s := New(Options{NewTimer: func() Timer { return NewSleepTimer() }})
	inTick := make(chan struct{}, 1)
	release := make(chan struct{})
	finished := false
	s.Group("G", Normal).Add(TaskFunc(func(Tick) {
		select {
		case inTick <- struct{}{}:
			<-release
			finished = true
		default:
		}
	}), 5*time.Millisecond, OverrunPolicy{})
	ctx, cancel := contextWithCancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-inTick
	cancel() // asked to stop while a tick is running
	select {
	case <-done:
		t.Fatal("Run returned while a tick was still running")
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after the tick finished")
	}
	if !finished {
		t.Fatal("the tick in progress did not finish")
	}
}

func TestTaskMadeLateByOthersIsNotSuspended(t *testing.T) {
	s := New(Options{Virtual: true})
	v := s.Virtual()
	hog := &counter{v: v, spend: 12 * time.Millisecond}
	victim := &counter{}
	g := s.Group("G", Normal)
	hm := g.Add(hog, 10*time.Millisecond, OverrunPolicy{AlarmAfter: 2, Suspend: true})
	vm := g.Add(victim, 10*time.Millisecond, OverrunPolicy{AlarmAfter: 2, Suspend: true})
	s.Advance(100 * time.Millisecond)
	if !hm.Stats().Suspended {
		t.Fatal("the task that overran its own period was not suspended")
	}
	if vm.Stats().Suspended || vm.Stats().Consecutive != 0 {
		t.Fatal("a task made late by another task on its group was blamed")
	}
	if vm.Stats().Overruns == 0 {
		t.Fatal("the late task's overruns were not counted")
	}
}

// TestOverrunsAreCountedNotLatched: the scheduler reports counts only. A
// burst of overruns counts up, a run on time resets the count, a single
// later overrun counts one, and an overrun made late by others counts
// none; nothing stays latched from the burst.
func TestOverrunsAreCountedNotLatched(t *testing.T) {
	s := New(Options{Virtual: true})
	v := s.Virtual()
	task := &observer{counter: counter{v: v}}
	hog := &counter{v: v}
	g := s.Group("G", Normal)
	g.Add(hog, 10*time.Millisecond, OverrunPolicy{})
	m := g.Add(task, 10*time.Millisecond, OverrunPolicy{AlarmAfter: 3})
	task.spend = 15 * time.Millisecond
	s.Advance(100 * time.Millisecond)
	if c := m.Stats().Consecutive; c < 3 {
		t.Fatalf("a burst counted %d consecutive overruns", c)
	}
	task.spend = 0
	s.Advance(30 * time.Millisecond)
	if c := m.Stats().Consecutive; c != 0 {
		t.Fatalf("after runs on time Consecutive = %d", c)
	}
	task.consecutive = nil
	task.once = 15 * time.Millisecond
	s.Advance(50 * time.Millisecond)
	if len(task.consecutive) != 1 || task.consecutive[0] != 1 {
		t.Fatalf("a single overrun after the burst reported %v, want [1]", task.consecutive)
	}
	task.consecutive = nil
	hog.once = 15 * time.Millisecond // makes the task late; the task itself is quick
	s.Advance(50 * time.Millisecond)
	if len(task.consecutive) != 1 || task.consecutive[0] != 0 {
		t.Fatalf("an overrun caused by another task reported %v, want [0]", task.consecutive)
	}
	if m.Stats().Suspended {
		t.Fatal("suspended without a Suspend policy")
	}
}
