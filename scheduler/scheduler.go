package scheduler

import (
	"context"
	"fmt"
	goruntime "runtime"
	"sync"
	"time"
)

// Options configure a Scheduler.
type Options struct {
	// NewTimer makes the timer for each rate group; nil uses NewPreciseTimer.
	NewTimer func() Timer
	// Virtual runs every group on one virtual clock, stepped by Advance,
	// deterministically and without sleeping. NewTimer is then ignored.
	Virtual bool
	// Epoch is the wall time at virtual time zero (Virtual only); zero uses
	// 2000-01-01 UTC, so stamps are reproducible.
	Epoch time.Time
	// OnBind, if set, is told from each rate group's goroutine how its
	// thread was set up (locked, timer slack, real-time policy), so that
	// the runtime can log what it got.
	OnBind func(g *Group, info BindInfo)
}

// Scheduler owns the rate groups of an application.
type Scheduler struct {
	opts    Options
	groups  []*Group
	byKey   map[groupKey]*Group
	virtual *VirtualTimer
	started bool
}

type groupKey struct {
	name string
	prio Priority
}

// New returns a scheduler without groups.
func New(opts Options) *Scheduler {
	s := &Scheduler{opts: opts, byKey: map[groupKey]*Group{}}
	if opts.Virtual {
		epoch := opts.Epoch
		if epoch.IsZero() {
			epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
		}
		s.virtual = &VirtualTimer{epoch: epoch}
	}
	return s
}

// Group returns the rate group for a scheduling group and priority,
// creating it on first use.
func (s *Scheduler) Group(name string, p Priority) *Group {
	k := groupKey{name, p}
	if g, ok := s.byKey[k]; ok {
		return g
	}
	g := &Group{Name: name, Priority: p, onBind: s.opts.OnBind}
	if s.virtual != nil {
		g.timer, g.wall = s.virtual, s.virtual.Wall
	} else {
		if s.opts.NewTimer != nil {
			g.timer = s.opts.NewTimer()
		} else {
			g.timer = NewPreciseTimer()
		}
		g.wall = time.Now
	}
	s.byKey[k] = g
	s.groups = append(s.groups, g)
	return g
}

// Groups returns the rate groups in creation order.
func (s *Scheduler) Groups() []*Group { return s.groups }

// Virtual returns the virtual clock, or nil on the real clock.
func (s *Scheduler) Virtual() *VirtualTimer { return s.virtual }

// Run starts one goroutine per rate group on the real clock and blocks until
// ctx is cancelled; each group then finishes the tick it is in (it stops at
// a tick boundary) and Run returns once all have.
func (s *Scheduler) Run(ctx context.Context) error {
	if s.virtual != nil {
		return fmt.Errorf("scheduler: Run needs the real clock; step a virtual one with Advance")
	}
	if s.started {
		return fmt.Errorf("scheduler: already running")
	}
	s.started = true
	active := 0
	for _, g := range s.groups {
		if len(g.members) > 0 {
			active++
		}
	}
	defer reserveProcs(active)()
	var wg sync.WaitGroup
	for _, g := range s.groups {
		if len(g.members) == 0 {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.loop(ctx.Done())
		}()
	}
	<-ctx.Done()
	wg.Wait()
	return nil
}

func (g *Group) loop(stop <-chan struct{}) {
	if b, ok := g.timer.(Binder); ok {
		g.stats.Bind = b.Bind(g.Priority)
	}
	if g.onBind != nil {
		g.onBind(g, g.stats.Bind)
	}
	// Every member's timeline starts at the group's first deadline, one
	// period of the fastest member from now, so start-up work is not an overrun.
	origin := g.timer.Now()
	cpu0 := ThreadCPUTime()
	for _, m := range g.members {
		m.k = uint64(origin/m.period) + 1
		m.next = time.Duration(m.k) * m.period
	}
	for {
		d := g.next()
		if !g.timer.Wait(d, stop) {
			break
		}
		g.runDue(d)
		g.stats.CPU = ThreadCPUTime() - cpu0
		g.stats.Elapsed = g.timer.Now() - origin
		select {
		case <-stop:
			return
		default:
		}
	}
}

// Advance moves the virtual clock forward by d, running every task that
// falls due, group by group in deadline order. Tasks see exactly the ticks
// they would on the real clock, with no sleeping.
func (s *Scheduler) Advance(d time.Duration) {
	v := s.virtual
	if v == nil {
		panic("scheduler: Advance needs a virtual clock")
	}
	end := v.now + d
	for {
		var g *Group
		var at time.Duration
		for _, c := range s.groups {
			if len(c.members) == 0 {
				continue
			}
			if n := c.next(); g == nil || n < at {
				g, at = c, n
			}
		}
		if g == nil || at > end {
			break
		}
		if at > v.now {
			v.now = at
		}
		g.runDue(at)
	}
	if v.now < end { // a task may have spent past the end
		v.now = end
	}
}

// VirtualTimer is the clock of a virtual scheduler: time moves only when the
// scheduler advances it, or when a task calls Spend to simulate work.
type VirtualTimer struct {
	now   time.Duration
	epoch time.Time
	jump  time.Duration
}

// Now returns the virtual time.
func (v *VirtualTimer) Now() time.Duration { return v.now }

// Wait is never used on the virtual clock; it reports success at once.
func (v *VirtualTimer) Wait(deadline time.Duration, stop <-chan struct{}) bool { return true }

// Spend moves virtual time on by d from inside a task, as if the task took
// that long: the way tests make a component overrun.
func (v *VirtualTimer) Spend(d time.Duration) { v.now += d }

// Wall returns the virtual wall clock: the epoch plus virtual time, plus any
// jump made with JumpWall.
func (v *VirtualTimer) Wall() time.Time { return v.epoch.Add(v.now + v.jump) }

// JumpWall moves the wall clock by d without moving the monotonic timeline,
// as an NTP step or an operator changing the date would.
func (v *VirtualTimer) JumpWall(d time.Duration) { v.jump += d }

// reserveProcs raises GOMAXPROCS so that, with every CPU busy running other
// goroutines (a flood of network traffic, for example), a rate group's
// thread waking from its sleep still finds a free Go processor at once
// instead of queueing behind them for up to a scheduling quantum. The
// operating system still shares the CPUs; a high-priority group's real-time
// policy decides who runs there. It returns a function that restores the
// previous setting.
func reserveProcs(groups int) (restore func()) {
	prev := goruntime.GOMAXPROCS(0)
	want := goruntime.NumCPU() + groups
	if want <= prev {
		return func() {}
	}
	goruntime.GOMAXPROCS(want)
	return func() { goruntime.GOMAXPROCS(prev) }
}
