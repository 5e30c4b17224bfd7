package runtime

import (
	"fmt"
	"strings"
	"time"

	"github.com/metronome-rt/metronome/signals"
)

// Level is an alarm's severity, as in CDP.
type Level uint8

// Alarm levels, from least to most severe.
const (
	Notify Level = iota
	Warning
	Error
)

func (l Level) String() string {
	switch l {
	case Notify:
		return "notify"
	case Warning:
		return "warning"
	}
	return "error"
}

// ParseLevel parses "notify", "warning" or "error".
func ParseLevel(s string) (Level, error) {
	switch strings.ToLower(s) {
	case "notify":
		return Notify, nil
	case "warning":
		return Warning, nil
	case "error":
		return Error, nil
	}
	return 0, fmt.Errorf("unknown alarm level %q (want error, warning or notify)", s)
}

// AlarmInfo describes an alarm for configuration and documentation.
type AlarmInfo struct {
	Name  string
	Path  string
	Level Level
	Text  string
	Delay time.Duration // how long a condition must hold before Update raises the alarm
}

// AlarmEvent is what an alarm reports when its state changes.
type AlarmEvent struct {
	Alarm  *Alarm
	Kind   AlarmEventKind
	Text   string
	Wall   time.Time
	Active bool
	Acked  bool
	// By names who acknowledged the alarm, for an acknowledgement made
	// from outside (the live view, `runtime ack`); empty otherwise.
	By string
}

// AlarmEventKind says what happened to an alarm.
type AlarmEventKind uint8

// What can happen to an alarm.
const (
	AlarmSet AlarmEventKind = iota
	AlarmCleared
	AlarmAcked
)

func (k AlarmEventKind) String() string {
	return [...]string{"set", "cleared", "acknowledged"}[k]
}

// Alarm is a condition an operator must see: set, cleared and acknowledged
// as in CDP. An alarm stays unacknowledged after it clears until someone
// acknowledges it, so a short fault is not missed. Alarms are driven from
// Process (on the component's rate group); their state may be read from
// anywhere through events.
type Alarm struct {
	info      AlarmInfo
	enabled   bool
	active    bool
	unacked   bool
	text      string
	condSince int64 // Mono ns when Update's condition became true; -1 = false
	clock     *signals.Clock
	emit      func(AlarmEvent)
	ackBy     string // who acknowledges, while Ack reports it
}

// AlarmOption sets an alarm's delay.
type AlarmOption func(*AlarmInfo)

// Delay makes Update raise the alarm only after its condition has held for d
// (CDP's SignalTimeout), so that a brief glitch does not alarm.
func Delay(d time.Duration) AlarmOption { return func(a *AlarmInfo) { a.Delay = d } }

// Info describes the alarm.
func (a *Alarm) Info() *AlarmInfo { return &a.info }

// Active reports whether the alarm is set.
func (a *Alarm) Active() bool { return a.active }

// Unacked reports whether the alarm awaits acknowledgement.
func (a *Alarm) Unacked() bool { return a.unacked }

// Enabled reports whether the alarm can be set; a disabled alarm stays clear.
func (a *Alarm) Enabled() bool { return a.enabled }

// Text returns the alarm's current text: the declared text, or the text of
// the last SetText.
func (a *Alarm) Text() string { return a.text }

// Update drives the alarm from a condition evaluated every tick: the alarm
// is set once cond has held for the alarm's delay and cleared as soon as
// cond is false.
func (a *Alarm) Update(cond bool) {
	if !cond {
		a.condSince = -1
		a.Clear()
		return
	}
	now := a.clock.Mono
	if a.condSince < 0 {
		a.condSince = now
	}
	if time.Duration(now-a.condSince) >= a.info.Delay {
		a.Set()
	}
}

// Set raises the alarm with its declared text.
func (a *Alarm) Set() { a.SetText(a.info.Text) }

// SetText raises the alarm with a text that says more about this occurrence.
// Setting an active alarm again with the same text does nothing.
func (a *Alarm) SetText(text string) {
	if !a.enabled || (a.active && text == a.text) {
		return
	}
	a.active, a.unacked, a.text = true, true, text
	a.report(AlarmSet)
}

// Clear resets the alarm; it stays unacknowledged if it was.
func (a *Alarm) Clear() {
	if !a.active {
		return
	}
	a.active = false
	a.report(AlarmCleared)
}

// Ack acknowledges the alarm.
func (a *Alarm) Ack() {
	if !a.unacked {
		return
	}
	a.unacked = false
	a.report(AlarmAcked)
}

// SetEnabled enables or disables the alarm; disabling clears it.
func (a *Alarm) SetEnabled(on bool) {
	if !on {
		a.Clear()
		a.unacked = false
	}
	a.enabled = on
}

func (a *Alarm) report(k AlarmEventKind) {
	if a.emit == nil {
		return
	}
	var wall time.Time
	if a.clock != nil && a.clock.Now != 0 {
		wall = time.Unix(0, a.clock.Now)
	}
	a.emit(AlarmEvent{Alarm: a, Kind: k, Text: a.text, Wall: wall, Active: a.active, Acked: !a.unacked, By: a.ackBy})
}
