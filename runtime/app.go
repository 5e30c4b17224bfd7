package runtime

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/metronome-rt/metronome/scheduler"
	"github.com/metronome-rt/metronome/signals"
)

// App is a loaded application: its component tree, its routes and its
// scheduler. Start, Run and Stop take it through its life.
type App struct {
	Name        string
	File        string
	Description string
	Nodes       []*Node       // top-level components
	Remote      []RemoteRoute // inputs routed from other applications
	Delayed     []string      // routes with a one-tick delay, "sink <- source"
	// Rate is the application's own: the defaults set at its top, whose
	// period is the application's tick in tests (runtime/apptest).
	Rate Rate

	all     []*Node // every component, parents before children, YAML order
	top     map[string]*Node
	stats   *Node // RateGroups: one statistics component per rate group
	sched   *scheduler.Scheduler
	opts    LoadOptions
	log     zerolog.Logger
	events  chan AlarmEvent
	dropped atomic.Uint64 // alarm events lost because the log could not keep up

	// The seams through which the running application is observed and
	// written from outside (seams.go, tap.go, write.go, force.go, events.go).
	tap    *Tap
	forces *forceTable
	evlog  *eventLog
	// View is the application's `view:` setting (nil if absent).
	View *ViewConfig
	// sections are the registered application-level sections (sections.go);
	// remoteIn the mailboxes of the remote routes (remote.go).
	sections []*sectionState
	remoteIn []*RemoteInput

	mu      sync.Mutex
	started []*Node
	cancel  context.CancelFunc
	logDone chan struct{}
	logQuit chan struct{}
}

func newApp(opts LoadOptions) *App {
	return &App{opts: opts, log: opts.Log, events: make(chan AlarmEvent, 1024), evlog: newEventLog()}
}

// emit passes an alarm event on without ever blocking the tick: to the
// test's OnAlarm, if set, and to the goroutine that logs it and keeps the
// event history.
func (a *App) emit(ev AlarmEvent) {
	if a.opts.OnAlarm != nil {
		a.opts.OnAlarm(ev)
	}
	select {
	case a.events <- ev:
	default:
		a.dropped.Add(1)
	}
}

// All returns every component, parents before children.
func (a *App) All() []*Node { return a.all }

// Scheduler returns the application's scheduler.
func (a *App) Scheduler() *scheduler.Scheduler { return a.sched }

// Find returns the component at a dotted path (with or without the
// application name in front).
func (a *App) Find(path string) (*Node, bool) {
	path = strings.TrimPrefix(path, a.Name+".")
	for _, n := range a.all {
		if strings.TrimPrefix(n.Path, a.Name+".") == path {
			return n, true
		}
	}
	if a.stats != nil {
		if path == RateGroupsName {
			return a.stats, true
		}
		for _, n := range a.stats.Children {
			if strings.TrimPrefix(n.Path, a.Name+".") == path {
				return n, true
			}
		}
	}
	return nil, false
}

// Signal returns the signal at a full dotted path, App.Comp.Signal.
func (a *App) Signal(path string) (signals.Port, bool) {
	i := strings.LastIndexByte(path, '.')
	if i < 0 {
		return nil, false
	}
	n, ok := a.Find(path[:i])
	if !ok {
		return nil, false
	}
	return n.Port(path[i+1:])
}

// Summary is the one-line description logged at start.
func (a *App) Summary() string {
	type gk struct {
		group string
		prio  string
	}
	var order []gk
	rates := map[gk][]string{}
	for _, n := range a.all {
		k := gk{n.Rate.Group, n.Rate.Priority.String()}
		if _, ok := rates[k]; !ok {
			order = append(order, k)
		}
		rates[k] = append(rates[k], fmt.Sprintf("%g", n.Rate.FS))
	}
	var groups []string
	for _, k := range order {
		groups = append(groups, fmt.Sprintf("%s/%s[%d: %s Hz]", k.group, k.prio, len(rates[k]), compactRates(rates[k])))
	}
	return fmt.Sprintf("application %s: %d components, %d rate groups (%s), %d remote routes, %d delayed routes",
		a.Name, len(a.all), len(order), strings.Join(groups, ", "), len(a.Remote), len(a.Delayed))
}

// RateGroups returns the component holding the rate groups' statistics.
func (a *App) RateGroups() *Node { return a.stats }

func compactRates(fs []string) string {
	seen := map[string]bool{}
	var out []string
	for _, f := range fs {
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// Start starts the I/O components (those implementing Starter) in YAML
// order. If one fails, those already started are stopped and the error is
// returned. ctx bounds the start-up only; components' goroutines live until
// Stop.
func (a *App) Start(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cancel != nil {
		return errors.New("application already started")
	}
	life, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	a.logDone, a.logQuit = make(chan struct{}), make(chan struct{})
	go a.logAlarms()
	if a.tap != nil {
		go a.tap.runPump(life.Done())
	}
	for _, n := range a.all {
		s, ok := n.comp.(Starter)
		if !ok {
			continue
		}
		if err := ctx.Err(); err != nil {
			a.stopLocked(context.Background())
			return err
		}
		if err := s.Start(life); err != nil {
			a.stopLocked(context.Background())
			return fmt.Errorf("start %s: %w", n.Path, err)
		}
		a.started = append(a.started, n)
	}
	return nil
}

// Run ticks the application on the real clock until ctx is cancelled, then
// returns at a tick boundary. Call Stop afterwards.
func (a *App) Run(ctx context.Context) error { return a.sched.Run(ctx) }

// Advance runs the application for d of virtual time (virtual clock only).
func (a *App) Advance(d time.Duration) { a.sched.Advance(d) }

// Stop stops the started components in reverse order, each bounded by ctx,
// and returns every error joined. It is safe to call more than once.
func (a *App) Stop(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stopLocked(ctx)
}

func (a *App) stopLocked(ctx context.Context) error {
	var errs []error
	for i := len(a.started) - 1; i >= 0; i-- {
		n := a.started[i]
		if s, ok := n.comp.(Stopper); ok {
			if err := s.Stop(ctx); err != nil {
				errs = append(errs, fmt.Errorf("stop %s: %w", n.Path, err))
			}
		}
	}
	a.started = nil
	if a.cancel != nil {
		a.cancel()
	}
	if a.logDone != nil {
		close(a.logQuit) // events still sent later are counted, never a panic
		<-a.logDone
		a.logDone = nil
	}
	return errors.Join(errs...)
}

func (a *App) logAlarms() {
	defer close(a.logDone)
	for {
		select {
		case ev := <-a.events:
			a.logAlarm(ev)
		case <-a.logQuit:
			for {
				select {
				case ev := <-a.events:
					a.logAlarm(ev)
				default:
					return
				}
			}
		}
	}
}

// logAlarm records an alarm event in the history and logs it.
func (a *App) logAlarm(ev AlarmEvent) {
	a.evlog.addAlarm(ev)
	if a.opts.OnAlarm != nil {
		return // the test sees the events itself
	}
	info := ev.Alarm.Info()
	var e *zerolog.Event
	switch {
	case ev.Kind != AlarmSet:
		e = a.log.Info()
	case info.Level == Error:
		e = a.log.Error()
	case info.Level == Warning:
		e = a.log.Warn()
	default:
		e = a.log.Info()
	}
	// The alarm's level has its own key: "level" is the log line's, and a
	// second one would make a cleared error alarm read as ERR and a
	// warning as WAR beside WRN.
	e = e.Str("alarm", info.Path).Str("alarm_level", info.Level.String()).Str("event", ev.Kind.String()).Bool("acked", ev.Acked)
	if ev.By != "" {
		e = e.Str("user", ev.By)
	}
	e.Msg(ev.Text)
	if n := a.dropped.Swap(0); n > 0 {
		a.log.Warn().Uint64("lost", n).Msg("alarm events were not logged: the log could not keep up")
	}
}
