package quality

import (
	"math"
	"time"

	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// Discrepancy is the Discrepancy type: an alarm when a device's reported
// state does not confirm the command it was given. It is a quality block
// because what it judges is whether the feedback can be trusted to say the
// command was carried out: feedback that is lost, stale or never received
// confirms nothing.
var Discrepancy = runtime.Define(runtime.Spec[struct{}]{
	Name:    "Discrepancy",
	Summary: "command/feedback discrepancy: Differs while Feedback does not confirm the last usable Command within Tolerance; the alarm Discrepancy once that lasted its delay",
	Doc: `Command is what a device was told (a relay's ON as 1, a dimmer's
level), Feedback what it reports back. Differs is true while Feedback does
not confirm the last usable Command: it differs by more than Tolerance, or
it has no usable value (initial, stale, comm lost, bad input, or not
finite), since a device that is silent confirms nothing. The alarm
Discrepancy (warning, default delay 5s; alarms: {Discrepancy: {delay: 30s}})
is raised once Differs has lasted its delay, which is the time the device is
allowed to take, and cleared as soon as Feedback confirms; Active says
whether it is raised.

The command compared is the last usable one (good or last known): a command
that turns stale or lost is still what the device was last told. Until a
command has been usable there is nothing to confirm: Differs and Active
stay initial. Bool routes convert to 0 and 1, so a relay's command and state
compare with Tolerance 0. Differs and Active are statements of this block,
good and stamped when they change.`,
	Example: `name: SwitchCheck
type: Discrepancy
inputs: {Command: App.Cooling.Out, Feedback: App.Mqtt.SwitchState}
alarms: {Discrepancy: {delay: 10s, text: "the switch does not do what it is told"}}`,
	Build: func(b *runtime.Builder, _ *struct{}) (runtime.Component, error) {
		return &discrepancy{
			cmd:       runtime.Input[float64](b, "Command", runtime.Desc("what the device was told")),
			fb:        runtime.Input[float64](b, "Feedback", runtime.Desc("what the device reports")),
			differs:   runtime.Output[bool](b, "Differs", runtime.Desc("Feedback does not confirm the last usable Command now")),
			active:    runtime.Output[bool](b, "Active", runtime.Desc("the alarm Discrepancy is set")),
			tolerance: runtime.Param(b, "Tolerance", 0.0, runtime.Min(0), runtime.PDesc("largest difference that still confirms the command")),
			alarm:     b.Alarm("Discrepancy", runtime.Warning, "the device's reported state does not confirm its command", runtime.Delay(5*time.Second)),
		}, nil
	},
})

type discrepancy struct {
	cmd, fb         *signals.Signal[float64]
	differs, active *signals.Signal[bool]
	tolerance       *runtime.Parameter[float64]
	alarm           *runtime.Alarm
	ref             float64 // the last usable command
	hasRef, written bool
}

func (d *discrepancy) Process(t runtime.Tick) {
	if c := d.cmd.Get(); d.cmd.Quality().Usable() && signals.Finite(c) {
		d.ref, d.hasRef = c, true
	}
	if !d.hasRef {
		return
	}
	f := d.fb.Get()
	confirmed := d.fb.Quality().Usable() && signals.Finite(f) && math.Abs(f-d.ref) <= d.tolerance.Get()
	d.alarm.Update(!confirmed)
	now := t.Wall.UnixNano()
	if !d.written || d.differs.Get() == confirmed {
		d.differs.Put(!confirmed, signals.Good, now)
	}
	if on := d.alarm.Active(); !d.written || on != d.active.Get() {
		d.active.Put(on, signals.Good, now)
	}
	d.written = true
}
