package scheduler

import (
	"time"
)

// Tick is what a task learns about the run it is in. Times are the
// scheduled deadline, not the wake-up time, so values computed from them
// are free of scheduling jitter and identical on the virtual clock.
type Tick struct {
	Mono   time.Duration // scheduled time on the monotonic timeline since start
	Wall   time.Time     // wall-clock time of the wake-up, for stamping values
	Period time.Duration // the task's period
	Count  uint64        // how many times the task has run, from 0
}

// Seconds returns the tick's monotonic time in seconds.
func (t Tick) Seconds() float64 { return t.Mono.Seconds() }

// Dt returns the period in seconds, for integrators and filters.
func (t Tick) Dt() float64 { return t.Period.Seconds() }

// Task is what a rate group runs at its rate.
type Task interface {
	Run(t Tick)
}

// TaskFunc adapts a function to Task.
type TaskFunc func(t Tick)

// Run calls f.
func (f TaskFunc) Run(t Tick) { f(t) }

// Member is a task on a rate group with its own period and timeline.
type Member struct {
	task   Task
	period time.Duration
	policy OverrunPolicy
	k      uint64        // index of the next deadline on the timeline
	next   time.Duration // start + k*period
	count  uint64
	catch  int // consecutive catch-up runs taken
	stats  MemberStats
}

// MemberStats is a task's timing, readable from its own rate group (for
// example by the task itself at its next run) without locks. The scheduler
// only counts; what an operator sees (an alarm raised at AlarmAfter,
// cleared when the runs are on time again) is the task's to decide from
// these counts, so that one owner keeps that state.
type MemberStats struct {
	ProcessTime  time.Duration // how long the last run took
	ActualPeriod time.Duration // time between the starts of the last two runs
	Runs         uint64
	Overruns     uint64 // runs after which the next deadline had already passed
	Missed       uint64 // periods skipped to re-align
	Consecutive  int    // runs in a row that took longer than the period themselves; 0 after any other run
	Suspended    bool   // the policy suspended the task when Consecutive reached AlarmAfter
	lastStart    time.Duration
}

// Stats returns the member's timing statistics.
func (m *Member) Stats() *MemberStats { return &m.stats }

// Period returns the member's period.
func (m *Member) Period() time.Duration { return m.period }

// Policy returns the member's overrun policy, with AlarmAfter filled in.
func (m *Member) Policy() OverrunPolicy { return m.policy }

// Resume lets a suspended task run again, counting overruns afresh.
func (m *Member) Resume() {
	m.stats.Suspended, m.stats.Consecutive = false, 0
}

// GroupStats is a rate group's timing, updated on the group's goroutine.
type GroupStats struct {
	Lateness Window        // wake-up minus deadline, sliding window
	Wakes    uint64        // how many times the group woke
	Overruns uint64        // member overruns, summed
	CPU      time.Duration // CPU time of the group's thread (real clock only)
	Elapsed  time.Duration // time the group has been running
	Bind     BindInfo
}

// Group is a set of tasks run one after another on one goroutine, each at
// its own period, in the order they were added (the runtime adds them in
// data-flow order). It is CDP's thread per (scheduling group, priority).
type Group struct {
	Name     string
	Priority Priority
	members  []*Member
	stats    GroupStats
	timer    Timer
	wall     func() time.Time
	onBind   func(*Group, BindInfo)
	// AfterPass, if set, runs at the end of every pass over the group, after
	// all due tasks ran: where one-tick-delayed routes take their values.
	AfterPass func()
}

// Add appends a task running every period under the given overrun policy.
func (g *Group) Add(t Task, period time.Duration, p OverrunPolicy) *Member {
	if period <= 0 {
		panic("scheduler: period must be positive")
	}
	if p.AlarmAfter == 0 {
		p.AlarmAfter = DefaultAlarmAfter
	}
	m := &Member{task: t, period: period, policy: p, k: 1, next: period}
	g.members = append(g.members, m)
	return m
}

// Members returns the group's tasks in run order.
func (g *Group) Members() []*Member { return g.members }

// Stats returns the group's statistics. Read it on the group's goroutine
// (for example from a task in the group) or after the scheduler stopped.
func (g *Group) Stats() *GroupStats { return &g.stats }

// next returns the earliest deadline among the members.
func (g *Group) next() time.Duration {
	var n time.Duration = -1
	for _, m := range g.members {
		if n < 0 || m.next < n {
			n = m.next
		}
	}
	return n
}

// runDue runs, in order, every member whose deadline has come, then moves
// each one's deadline along its absolute timeline by the overrun policy.
func (g *Group) runDue(deadline time.Duration) {
	now := g.timer.Now()
	g.stats.Wakes++
	g.stats.Lateness.Record(now, now-deadline)
	wall := g.wall()
	for _, m := range g.members {
		if m.next > now {
			continue
		}
		if m.stats.Suspended {
			m.k = uint64(now/m.period) + 1 // keep the timeline, count nothing
			m.next = time.Duration(m.k) * m.period
			continue
		}
		start := g.timer.Now()
		m.task.Run(Tick{Mono: m.next, Wall: wall, Period: m.period, Count: m.count})
		end := g.timer.Now()
		m.count++
		s := &m.stats
		s.Runs++
		s.ProcessTime = end - start
		if s.Runs > 1 {
			s.ActualPeriod = start - s.lastStart
		}
		s.lastStart = start
		m.k++
		m.next = time.Duration(m.k) * m.period
		if end < m.next {
			s.Consecutive, m.catch = 0, 0
			continue
		}
		// The next deadline has passed already: an overrun. Only a run that
		// itself took longer than its period counts towards the alarm and
		// suspension; a task made late by others on its group is not to blame.
		s.Overruns++
		g.stats.Overruns++
		if s.ProcessTime >= m.period {
			s.Consecutive++
		} else {
			s.Consecutive = 0
		}
		if s.Consecutive >= m.policy.AlarmAfter && m.policy.Suspend {
			s.Suspended = true
		}
		if o, ok := m.task.(OverrunObserver); ok {
			o.Overran(s)
		}
		if m.catch < m.policy.CatchUp {
			m.catch++ // run again at once, on the next pass
			continue
		}
		m.catch = 0
		m.skipTo(end)
	}
	if g.AfterPass != nil {
		g.AfterPass()
	}
}

// OverrunObserver is implemented by tasks that react to their own overruns
// (raise an alarm, publish the count). Overran runs on the group's goroutine
// right after the overrun is accounted, even if the task is now suspended.
type OverrunObserver interface {
	Overran(s *MemberStats)
}

// skipTo moves the member's deadline to the first one after now on its
// original timeline, counting the periods it skips.
func (m *Member) skipTo(now time.Duration) {
	if m.next > now {
		return
	}
	k := uint64(now/m.period) + 1
	if k > m.k {
		m.stats.Missed += k - m.k
		m.k = k
	}
	m.next = time.Duration(m.k) * m.period
}
