package runtime

import (
	"sort"
	"sync"
	"time"
)

// EventKind says what an Event records.
type EventKind string

// What the event stream records: alarm transitions and every write from
// outside.
const (
	EventSet      EventKind = "set"          // an alarm was raised (or its text changed)
	EventCleared  EventKind = "cleared"      // an alarm's condition ended
	EventAcked    EventKind = "acknowledged" // an alarm was acknowledged
	EventWritten  EventKind = "written"      // a parameter was written from outside
	EventForced   EventKind = "forced"       // a signal was forced
	EventReleased EventKind = "released"     // a force was released
)

// Event is one entry of the application's event stream. Seq numbers
// events from 1 without gaps, so a reader knows when it missed some.
type Event struct {
	Seq   uint64
	Time  time.Time
	Kind  EventKind
	Path  string // the alarm, parameter or signal
	Level string // alarms: notify, warning, error
	Text  string
	// Active and Acked are an alarm's state after the event.
	Active bool
	Acked  bool
	By     string // who wrote, forced or acknowledged
	Value  string // writes and forces: the new value
	Old    string // writes: the value replaced
}

// AlarmState is an alarm's state as its events last reported it.
type AlarmState struct {
	Path    string
	Level   Level
	Text    string
	Active  bool
	Unacked bool
	Since   time.Time // time of the last change
}

// EventHistory is how many events the application keeps for replay.
const EventHistory = 4096

// eventLog is the bounded history of events, the alarm states they imply,
// and the consumers to wake when one arrives. It lives off the tick: alarm
// events reach it through the application's event channel.
type eventLog struct {
	mu     sync.Mutex
	ring   []Event
	next   uint64 // Seq of the next event
	alarms map[string]*AlarmState
	wakers []chan<- struct{}
}

func newEventLog() *eventLog {
	return &eventLog{ring: make([]Event, EventHistory), next: 1, alarms: map[string]*AlarmState{}}
}

// addAlarm records an alarm event.
func (l *eventLog) addAlarm(ev AlarmEvent) {
	info := ev.Alarm.Info()
	kind := EventSet
	switch ev.Kind {
	case AlarmCleared:
		kind = EventCleared
	case AlarmAcked:
		kind = EventAcked
	}
	t := ev.Wall
	if t.IsZero() {
		t = time.Now()
	}
	l.mu.Lock()
	s := l.alarms[info.Path]
	if s == nil {
		s = &AlarmState{Path: info.Path}
		l.alarms[info.Path] = s
	}
	s.Level, s.Text, s.Active, s.Unacked, s.Since = info.Level, ev.Text, ev.Active, !ev.Acked, t
	l.addLocked(Event{Time: t, Kind: kind, Path: info.Path, Level: info.Level.String(), Text: ev.Text, Active: ev.Active, Acked: ev.Acked, By: ev.By})
	l.mu.Unlock()
}

// add records an event that did not come from an alarm.
func (l *eventLog) add(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	l.mu.Lock()
	l.addLocked(e)
	l.mu.Unlock()
}

func (l *eventLog) addLocked(e Event) {
	e.Seq = l.next
	l.ring[e.Seq%uint64(len(l.ring))] = e
	l.next++
	for _, ch := range l.wakers {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// oldest returns the sequence number of the oldest event kept. l.mu held.
func (l *eventLog) oldest() uint64 {
	if l.next > uint64(len(l.ring)) {
		return l.next - uint64(len(l.ring))
	}
	return 1
}

// Events appends to dst the events from sequence number from on (1 is the
// first event ever; older ones than the history holds are gone) and returns
// the number to ask from next time, and how many requested events were
// already gone.
func (a *App) Events(from uint64, dst []Event) (out []Event, next, lost uint64) {
	l := a.evlog
	l.mu.Lock()
	defer l.mu.Unlock()
	oldest := l.oldest()
	if from < oldest {
		if from > 0 {
			lost = oldest - from
		}
		from = oldest
	}
	for s := from; s < l.next; s++ {
		dst = append(dst, l.ring[s%uint64(len(l.ring))])
	}
	return dst, l.next, lost
}

// EventSeqAt returns the sequence number of the first event kept at or
// after t, for a replay from a time.
func (a *App) EventSeqAt(t time.Time) uint64 {
	l := a.evlog
	l.mu.Lock()
	defer l.mu.Unlock()
	for s := l.oldest(); s < l.next; s++ {
		if !l.ring[s%uint64(len(l.ring))].Time.Before(t) {
			return s
		}
	}
	return l.next
}

// WakeEvents registers a channel signalled without blocking after every new
// event; the returned function unregisters it.
func (a *App) WakeEvents(ch chan<- struct{}) (remove func()) {
	l := a.evlog
	l.mu.Lock()
	l.wakers = append(l.wakers, ch)
	l.mu.Unlock()
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		for i, c := range l.wakers {
			if c == ch {
				l.wakers = append(l.wakers[:i:i], l.wakers[i+1:]...)
				return
			}
		}
	}
}

// AlarmStates returns the state of every alarm of the application, by path,
// as the alarm events last reported it (an alarm that never changed is
// clear and acknowledged).
func (a *App) AlarmStates() []AlarmState {
	var out []AlarmState
	l := a.evlog
	l.mu.Lock()
	defer l.mu.Unlock()
	add := func(al *Alarm) {
		info := al.Info()
		if s := l.alarms[info.Path]; s != nil {
			out = append(out, *s)
			return
		}
		out = append(out, AlarmState{Path: info.Path, Level: info.Level, Text: info.Text})
	}
	for _, al := range a.AppAlarms() {
		add(al)
	}
	for _, n := range a.observable() {
		for _, al := range n.alarms {
			add(al)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}
