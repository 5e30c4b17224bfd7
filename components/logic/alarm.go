package logic

import (
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// AlarmConfig chooses what an Alarm block does while its input cannot be
// read.
type AlarmConfig struct {
	// Unusable is what the alarm does while In has no usable value
	// (initial, stale, comm lost or bad input): raise (the condition cannot
	// be checked, so it counts as true: a device that never announced itself
	// is offline; the default), clear (it counts as false), or hold (the
	// alarm keeps the state it had until In is usable again).
	Unusable string `yaml:"unusable"`
}

// Validate checks the policy's name.
func (c *AlarmConfig) Validate() error {
	var errs runtime.FieldErrors
	if _, ok := unusablePolicies[c.Unusable]; !ok {
		errs.Add("unusable", "want raise, clear or hold, got %q", c.Unusable)
	}
	return errs.Err()
}

type unusablePolicy uint8

const (
	unusableRaise unusablePolicy = iota
	unusableClear
	unusableHold
)

var unusablePolicies = map[string]unusablePolicy{"raise": unusableRaise, "clear": unusableClear, "hold": unusableHold}

// Alarm is the Alarm type: an alarm raised while a bool has been true for
// the alarm's delay. It exists because alarms are otherwise members that a
// component type declares for its own conditions; a condition computed in
// the application (a device's will says offline, two signals disagree)
// needs a block to become an alarm an operator sees and acknowledges.
var Alarm = runtime.Define(runtime.Spec[AlarmConfig]{
	Name:    "Alarm",
	Summary: "raises its alarm Alarm once In has been true for the alarm's delay; Active says whether it is raised",
	Doc: `The alarm Alarm is set once In has been true for the alarm's delay
(alarms: {Alarm: {delay: 5s, level: error, text: ...}}; default no delay,
level warning) and cleared as soon as In is false; as every alarm, it stays
unacknowledged until acknowledged. Active is true while the alarm is set, so
that the alarm's state can be routed on: to a lamp, to an Or of several
alarms, or to another application of the system.

While In has no usable value (initial, stale, comm lost or bad input),
config.unusable decides: raise (the default: a condition that cannot be
checked counts as true, so an input that never arrived alarms), clear, or
hold. Active is a statement about the alarm and is always good, stamped when
it changed.`,
	Example: `name: SwitchOffline
type: Alarm
inputs: {In: {route: App.Mqtt.SwitchOnline, ops: [invert]}}
alarms: {Alarm: {level: error, delay: 10s, text: "the power switch is offline"}}`,
	Defaults: func() AlarmConfig { return AlarmConfig{Unusable: "raise"} },
	Build: func(b *runtime.Builder, cfg *AlarmConfig) (runtime.Component, error) {
		return &alarmBlock{
			in:     runtime.Input[bool](b, "In", runtime.Desc("the alarm's condition")),
			active: runtime.Output[bool](b, "Active", runtime.Desc("the alarm is set")),
			alarm:  b.Alarm("Alarm", runtime.Warning, "the condition is true"),
			policy: unusablePolicies[cfg.Unusable],
		}, nil
	},
})

type alarmBlock struct {
	in      *signals.Signal[bool]
	active  *signals.Signal[bool]
	alarm   *runtime.Alarm
	policy  unusablePolicy
	written bool
}

func (a *alarmBlock) Process(t runtime.Tick) {
	switch {
	case a.in.Quality().Usable():
		a.alarm.Update(a.in.Get())
	case a.policy == unusableRaise:
		a.alarm.Update(true)
	case a.policy == unusableClear:
		a.alarm.Update(false)
	}
	if on := a.alarm.Active(); !a.written || on != a.active.Get() {
		a.written = true
		a.active.Put(on, signals.Good, t.Wall.UnixNano())
	}
}
