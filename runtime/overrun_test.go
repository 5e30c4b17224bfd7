package runtime_test

import (
	"strings"
	"testing"
	"time"

	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// TestOverrunAlarmHasOneOwner is issue 9 item 7: after a burst of overruns
// raised the Overrun alarm and runs on time cleared it, neither a single
// later overrun nor one caused by a neighbour on the thread raises it again.
func TestOverrunAlarmHasOneOwner(t *testing.T) {
	var events []runtime.AlarmEvent
	app := load(t, `
application: T
fs: 100
overrun: {alarm_after: 3}
components:
  - {name: Hog, type: Spend}
  - {name: Slow, type: Spend}
`, runtime.LoadOptions{OnAlarm: func(ev runtime.AlarmEvent) { events = append(events, ev) }})
	spendClock = app.Scheduler().Virtual()
	hogN, _ := app.Find("Hog")
	slowN, _ := app.Find("Slow")
	hogSpend, _ := hogN.Param("Spend")
	slowSpend, _ := slowN.Param("Spend")
	alarm, _ := slowN.Alarm(runtime.StdOverrunAlarm)
	hogAlarm, _ := hogN.Alarm(runtime.StdOverrunAlarm)
	set := func(p runtime.AnyParam, v float64) {
		t.Helper()
		if err := p.SetValue(signals.FloatValue(v)); err != nil {
			t.Fatal(err)
		}
	}

	set(slowSpend, 0.015)
	app.Advance(200 * time.Millisecond)
	if !alarm.Active() || !strings.Contains(alarm.Text(), "consecutive overruns") {
		t.Fatalf("a burst did not raise the alarm: %v %q", alarm.Active(), alarm.Text())
	}
	set(slowSpend, 0)
	app.Advance(100 * time.Millisecond)
	if alarm.Active() {
		t.Fatal("runs on time did not clear the alarm")
	}
	n := len(events)

	// One slow run.
	set(slowSpend, 0.015)
	app.Advance(10 * time.Millisecond)
	set(slowSpend, 0)
	app.Advance(100 * time.Millisecond)
	// One slow run of the neighbour that runs first: Slow ends late too.
	set(hogSpend, 0.025)
	app.Advance(10 * time.Millisecond)
	set(hogSpend, 0)
	app.Advance(100 * time.Millisecond)

	ov, _ := slowN.Port(runtime.StdOverruns)
	if c, _ := ov.Value().Uint(); c < 5 {
		t.Fatalf("Slow's Overruns = %d: the single overruns did not happen", c)
	}
	for _, ev := range events[n:] {
		if ev.Alarm == alarm {
			t.Errorf("alarm event after it cleared: %v %q", ev.Kind, ev.Text)
		}
	}
	if alarm.Active() || hogAlarm.Active() {
		t.Errorf("Slow's alarm %v, Hog's %v after single overruns", alarm.Active(), hogAlarm.Active())
	}
}
