package scheduler

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// These tests check behaviour only; how late the timer is depends on the
// machine and is measured by the benchmarks and `runtime bench timer`.

func TestPreciseTimerNowIsMonotonic(t *testing.T) {
	tm := NewPreciseTimer()
	prev := tm.Now()
	if prev < 0 || prev > time.Second {
		t.Fatalf("Now right after NewPreciseTimer = %v", prev)
	}
	for range 10000 {
		now := tm.Now()
		if now < prev {
			t.Fatalf("Now went back from %v to %v", prev, now)
		}
		prev = now
	}
}

func TestPreciseTimerWaitReachesDeadline(t *testing.T) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		tm := NewPreciseTimer()
		tm.(Binder).Bind(Normal)
		// Short waits (spin only), medium ones (sleep then spin) and one
		// longer than a sleep slice.
		for _, d := range []time.Duration{0, 10 * time.Microsecond, 300 * time.Microsecond, 2 * time.Millisecond, 45 * time.Millisecond} {
			deadline := tm.Now() + d
			if !tm.Wait(deadline, nil) {
				t.Errorf("Wait(%v) returned false without a stop", d)
			}
			if now := tm.Now(); now < deadline {
				t.Errorf("Wait returned at %v, before the deadline %v", now, deadline)
			}
		}
		// A deadline in the past returns at once.
		if !tm.Wait(-time.Second, nil) {
			t.Error("Wait on a past deadline returned false")
		}
	}()
	<-done
}

// Deadlines on an absolute timeline: k waits of one period end at k periods
// (not later by the sum of the wake-up delays).
func TestPreciseTimerAbsoluteTimeline(t *testing.T) {
	tm := NewPreciseTimer()
	start := tm.Now()
	const period = time.Millisecond
	for k := 1; k <= 50; k++ {
		tm.Wait(start+time.Duration(k)*period, nil)
	}
	// Very generous: only a drifting (relative) timer would be far off, and
	// this only says the 50th wait did not return before its deadline.
	if el := tm.Now() - start; el < 50*period {
		t.Fatalf("50 periods took %v, less than 50 ms", el)
	}
}

func TestPreciseTimerStopInterruptsLongWait(t *testing.T) {
	tm := NewPreciseTimer()
	stop := make(chan struct{})
	res := make(chan bool, 1)
	var returnedAt time.Duration
	go func() {
		ok := tm.Wait(tm.Now()+time.Hour, stop)
		returnedAt = tm.Now()
		res <- ok
	}()
	time.Sleep(30 * time.Millisecond)
	closedAt := tm.Now()
	close(stop)
	select {
	case ok := <-res:
		if ok {
			t.Fatal("Wait returned true after stop was closed")
		}
		// A long wait parks on a Go timer; allow a loaded machine plenty.
		if lag := returnedAt - closedAt; lag > 2*time.Second {
			t.Fatalf("Wait took %v to notice stop", lag)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not notice stop within 10 s")
	}
	// A stop closed before the call returns false at once.
	if tm.Wait(tm.Now()+time.Hour, stop) {
		t.Fatal("Wait with a closed stop returned true")
	}
}

func TestPreciseTimerBind(t *testing.T) {
	for _, p := range []Priority{Low, Normal, High} {
		done := make(chan BindInfo)
		go func() {
			// The goroutine ends locked: the runtime ends its thread, so
			// the tuned thread (perhaps SCHED_FIFO) goes with it.
			tm := NewPreciseTimer()
			b, ok := tm.(Binder)
			if !ok {
				t.Error("the precise timer does not implement Binder")
				done <- BindInfo{}
				return
			}
			info := b.Bind(p)
			tm.Wait(tm.Now()+time.Millisecond, nil)
			done <- info
		}()
		info := <-done
		t.Logf("Bind(%v): %+v", p, info)
		if !info.Locked {
			t.Errorf("Bind(%v): thread not locked", p)
		}
		if runtime.GOOS == "linux" && !info.Slack {
			t.Errorf("Bind(%v) on Linux: timer slack not lowered: %s", p, info.Note)
		}
		if p != High && info.RealTime {
			t.Errorf("Bind(%v) asked for a real-time policy", p)
		}
		if p == High && !info.RealTime && info.Note == "" {
			t.Errorf("Bind(high) got no real-time policy and says nothing why")
		}
	}
}

func TestPreciseTimerWaitAllocatesNothing(t *testing.T) {
	tm := NewPreciseTimer()
	stop := make(chan struct{})
	allocs := testing.AllocsPerRun(200, func() {
		tm.Wait(tm.Now()+30*time.Microsecond, stop)
		tm.Wait(tm.Now()+200*time.Microsecond, stop)
	})
	if allocs != 0 {
		t.Fatalf("Wait allocates %v times a run, want 0", allocs)
	}
	// A long wait parks on the timer's own Go timer.
	allocs = testing.AllocsPerRun(5, func() {
		tm.Wait(tm.Now()+15*time.Millisecond, stop)
	})
	if allocs != 0 {
		t.Fatalf("a long Wait allocates %v times a run, want 0", allocs)
	}
}

// Several goroutines may wait on one timer, long waits included.
func TestPreciseTimerConcurrentWaits(t *testing.T) {
	tm := NewPreciseTimer()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range 3 {
				deadline := tm.Now() + time.Duration(5+10*i+k)*time.Millisecond
				if !tm.Wait(deadline, nil) || tm.Now() < deadline {
					t.Errorf("goroutine %d: Wait returned before %v", i, deadline)
				}
			}
		}()
	}
	wg.Wait()
}

func TestThreadCPUTime(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t0, p0 := ThreadCPUTime(), ProcessCPUTime()
	end := time.Now().Add(20 * time.Millisecond)
	for time.Now().Before(end) {
	}
	t1, p1 := ThreadCPUTime(), ProcessCPUTime()
	if runtime.GOOS == "linux" || runtime.GOOS == "darwin" {
		if t1 <= t0 || p1 <= p0 {
			t.Fatalf("CPU time did not grow while spinning: thread %v -> %v, process %v -> %v", t0, t1, p0, p1)
		}
		if p1 < t1 {
			t.Fatalf("process CPU %v below the thread's %v", p1, t1)
		}
	}
}

// BenchmarkTimer1kHz compares, in the same run, the precise timer (bound as
// a rate group binds it) with time.Ticker, for 2000 ticks at 1 kHz each, and
// reports lateness percentiles in µs and CPU per tick. Numbers, not
// assertions: run with -bench Timer1kHz -benchtime 1x.
func BenchmarkTimer1kHz(b *testing.B) {
	const (
		period = time.Millisecond
		ticks  = 2000
	)
	b.Run("precise", func(b *testing.B) {
		var h Histogram
		var cpu time.Duration
		for b.Loop() {
			done := make(chan struct{})
			go func() {
				defer close(done)
				tm := NewPreciseTimer()
				tm.(Binder).Bind(Normal)
				c0 := ThreadCPUTime()
				next := tm.Now() + period
				for range ticks {
					tm.Wait(next, nil)
					now := tm.Now()
					h.Record(now - next)
					next += period
					for now >= next { // skip missed periods
						next += period
					}
				}
				cpu += ThreadCPUTime() - c0
			}()
			<-done
		}
		reportLateness(b, &h, cpu, ticks)
	})
	b.Run("ticker", func(b *testing.B) {
		var h Histogram
		var cpu time.Duration
		for b.Loop() {
			c0 := ProcessCPUTime()
			tk := time.NewTicker(period)
			for range ticks {
				due := <-tk.C // the time the tick was due
				h.Record(time.Since(due))
			}
			tk.Stop()
			cpu += ProcessCPUTime() - c0
		}
		reportLateness(b, &h, cpu, ticks)
	})
}

func reportLateness(b *testing.B, h *Histogram, cpu time.Duration, ticks int) {
	us := func(d time.Duration) float64 { return float64(d) / 1e3 }
	b.ReportMetric(us(h.Quantile(0.5)), "p50-µs")
	b.ReportMetric(us(h.Quantile(0.99)), "p99-µs")
	b.ReportMetric(us(h.Max()), "max-µs")
	if h.Count() > 0 {
		b.ReportMetric(us(cpu)/float64(h.Count()), "cpu-µs/tick")
	}
}
