package runtime

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/metronome-rt/metronome/signals"
)

// ForcesActiveAlarm is the application-level alarm that stays set while any
// signal is forced, at <Application>.ForcesActive: a forced value hides the
// plant's real state, so it must never be forgotten. The name is reserved
// at the top level of every application.
const ForcesActiveAlarm = "ForcesActive"

// ForceInfo is one active force, for the list of all forces.
type ForceInfo struct {
	Path  string
	Dir   signals.Direction
	Value signals.Value // the forced value, in the signal's type
	By    string
	Since time.Time
}

// forceTable is the list of active forces, kept off the tick under a mutex,
// and the application-level alarm that follows it.
type forceTable struct {
	mu     sync.Mutex // also serialises the application-level alarms
	active map[string]ForceInfo
	alarm  *Alarm
	clock  *signals.Clock
}

func newForceTable(a *App) *forceTable {
	clock := &signals.Clock{}
	al := &Alarm{
		info:    AlarmInfo{Name: ForcesActiveAlarm, Path: a.Name + "." + ForcesActiveAlarm, Level: Warning, Text: "signals are forced: their values are set by an operator, not by the plant"},
		enabled: true, condSince: -1, clock: clock, emit: a.emit,
	}
	al.text = al.info.Text
	return &forceTable{active: map[string]ForceInfo{}, alarm: al, clock: clock}
}

// appAlarm returns the application-level alarm with that name, or nil.
func (a *App) appAlarm(name string) *Alarm {
	if a.forces != nil && name == ForcesActiveAlarm {
		return a.forces.alarm
	}
	return nil
}

// AppAlarms returns the alarms that belong to the application itself
// rather than to a component.
func (a *App) AppAlarms() []*Alarm {
	if a.forces == nil {
		return nil
	}
	return []*Alarm{a.forces.alarm}
}

// Force overrides a signal with a value until Release, as CODESYS and CDP
// force: the value is written at every tick boundary of the signal's
// component (an input right after it is latched, an output right after
// Process), so it wins over the routed or computed value, which observers
// still see beside it. Forcing a forced signal again changes the value.
// The application's ForcesActive alarm is set while any force is active;
// every force is logged with who did it. Forces are not kept across a
// restart.
func (a *App) Force(ctx context.Context, path string, v signals.Value, who string) (err error) {
	defer func() { a.logForce("force", path, v, who, err) }()
	n, p, idx, err := a.forcePort(path)
	if err != nil {
		return err
	}
	cv, ok := convertTo(p.Kind(), v)
	if !ok {
		return &WriteError{Path: path, Code: WrongType, Msg: fmt.Sprintf("cannot force %s %s to %s", p.Kind(), p.Info().Path, v)}
	}
	if err := a.submit(ctx, n, path, &request{op: opForce, idx: idx, value: cv, who: who}); err != nil {
		return err
	}
	t := a.forces
	t.mu.Lock()
	t.active[p.Info().Path] = ForceInfo{Path: p.Info().Path, Dir: p.Info().Dir, Value: cv, By: who, Since: time.Now()}
	t.update()
	t.mu.Unlock()
	a.evlog.add(Event{Kind: EventForced, Path: p.Info().Path, Value: cv.String(), By: who})
	return nil
}

// Release ends the force on a signal at its component's next tick. The
// signal gets back the value its route or its component gave it, with that
// value's own time and quality.
func (a *App) Release(ctx context.Context, path string, who string) (err error) {
	defer func() { a.logForce("release", path, signals.Value{}, who, err) }()
	n, p, idx, err := a.forcePort(path)
	if err != nil {
		return err
	}
	r := &request{op: opRelease, idx: idx, who: who}
	if err := a.submit(ctx, n, path, r); err != nil {
		return err
	}
	t := a.forces
	t.mu.Lock()
	delete(t.active, p.Info().Path)
	t.update()
	t.mu.Unlock()
	if r.changed {
		a.evlog.add(Event{Kind: EventReleased, Path: p.Info().Path, Value: r.old.String(), By: who})
	}
	return nil
}

// ReleaseAll releases every force and returns how many it released.
func (a *App) ReleaseAll(ctx context.Context, who string) (int, error) {
	count := 0
	for _, f := range a.Forces() {
		if err := a.Release(ctx, f.Path, who); err != nil {
			return count, err
		}
		count++
	}
	return count, nil
}

// Forces lists the active forces by path.
func (a *App) Forces() []ForceInfo {
	if a.forces == nil {
		return nil
	}
	t := a.forces
	t.mu.Lock()
	out := make([]ForceInfo, 0, len(t.active))
	for _, f := range t.active {
		out = append(out, f)
	}
	t.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// update sets or clears the ForcesActive alarm. t.mu held.
func (t *forceTable) update() {
	now := time.Now()
	t.clock.Now, t.clock.Mono = now.UnixNano(), 0
	if n := len(t.active); n > 0 {
		t.alarm.SetText(fmt.Sprintf("%d signal(s) forced: their values are set by an operator, not by the plant", n))
	} else {
		t.alarm.Clear()
	}
}

func (a *App) forcePort(path string) (*Node, signals.Port, int, error) {
	n, m, err := a.member(path)
	if err != nil {
		return nil, nil, 0, err
	}
	p, ok := m.(signals.Port)
	if !ok {
		what := whatIs(m)
		if _, isParam := m.(AnyParam); isParam {
			return nil, nil, 0, &WriteError{Path: path, Code: NotWritable, Msg: fmt.Sprintf("%s is a parameter; set it instead of forcing it", path)}
		}
		return nil, nil, 0, &WriteError{Path: path, Code: NotWritable, Msg: fmt.Sprintf("%s is %s; only signals can be forced", path, what)}
	}
	if n.x == nil {
		return nil, nil, 0, &WriteError{Path: path, Code: NotWritable, Msg: fmt.Sprintf("%s does not run, so its signals cannot be forced", n.Path)}
	}
	for i, q := range n.ports {
		if q == p {
			return n, p, i, nil
		}
	}
	return nil, nil, 0, &WriteError{Path: path, Code: NotFound, Msg: "signal not found"}
}

func (a *App) logForce(op, path string, v signals.Value, who string, err error) {
	if who == "" {
		who = "anonymous"
	}
	e := a.log.Warn()
	if err != nil {
		e = e.Str("refused", err.Error())
	}
	e = e.Str("op", op).Str("path", path).Str("user", who)
	if v.Kind() != signals.Invalid {
		e = e.Str("value", v.String())
	}
	e.Msg("force from outside")
}
