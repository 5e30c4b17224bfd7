package logic_test

import (
	"testing"

	"github.com/metronome-rt/metronome/components/logic"
	"github.com/metronome-rt/metronome/internal/blocktest"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/runtime/runtimetest"
	"github.com/metronome-rt/metronome/signals"
)

// TestAlarmAfterItsDelay: the alarm rises once In has been true for the
// delay given under alarms:, clears at once when In falls, stays
// unacknowledged, and Active follows the alarm, not In.
func TestAlarmAfterItsDelay(t *testing.T) {
	h := runtimetest.New(t, logic.Alarm, "fs: 10\nalarms: {Alarm: {level: error, delay: 1s, text: the pump is dry}}")
	h.Set("In", false)
	h.Step(1)
	if blocktest.Bool(t, h, "Active") || h.Quality("Active") != signals.Good || h.Alarm("Alarm").Active() {
		t.Fatal("raised with In false")
	}
	h.Set("In", true)
	h.Step(9) // 0.8 s of condition
	if blocktest.Bool(t, h, "Active") || h.Alarm("Alarm").Active() {
		t.Fatal("raised before its delay")
	}
	h.Step(3)
	a := h.Alarm("Alarm")
	if !blocktest.Bool(t, h, "Active") || !a.Active() || a.Text() != "the pump is dry" || a.Info().Level != runtime.Error {
		t.Fatalf("after the delay: Active %v, alarm %v %q %v", blocktest.Bool(t, h, "Active"), a.Active(), a.Text(), a.Info().Level)
	}
	h.Set("In", false)
	h.Step(1)
	if blocktest.Bool(t, h, "Active") || a.Active() || !a.Unacked() {
		t.Fatalf("In false: Active %v, alarm active %v unacked %v", blocktest.Bool(t, h, "Active"), a.Active(), a.Unacked())
	}
	// A glitch shorter than the delay raises nothing.
	h.Set("In", true)
	h.Step(5)
	h.Set("In", false)
	h.Step(1)
	h.Set("In", true)
	h.Step(5)
	if a.Active() {
		t.Fatal("two short glitches raised the alarm: the delay must start again")
	}
}

// TestAlarmWhenInIsUnusable: each policy for an input that cannot be read,
// from the start (never received) and after a good value.
func TestAlarmWhenInIsUnusable(t *testing.T) {
	for _, c := range []struct {
		entry             string
		never, lost, held bool // raised: never received; comm lost after false; comm lost after a raised true
	}{
		{"", true, true, true},
		{"config: {unusable: raise}", true, true, true},
		{"config: {unusable: clear}", false, false, false},
		{"config: {unusable: hold}", false, false, true},
	} {
		h := runtimetest.New(t, logic.Alarm, c.entry)
		h.Step(2)
		if got := h.Alarm("Alarm").Active(); got != c.never || blocktest.Bool(t, h, "Active") != got {
			t.Errorf("%q: never received: raised %v, want %v", c.entry, got, c.never)
		}
		h.Set("In", false)
		h.Step(1)
		for _, q := range []signals.Quality{signals.Stale, signals.CommLost, signals.BadInput} {
			h.SetQ("In", false, q)
			h.Step(1)
			if got := h.Alarm("Alarm").Active(); got != c.lost {
				t.Errorf("%q: %v after false: raised %v, want %v", c.entry, q, got, c.lost)
			}
		}
		h.Set("In", true)
		h.Step(1)
		h.SetQ("In", false, signals.CommLost)
		h.Step(1)
		if got := h.Alarm("Alarm").Active(); got != c.held {
			t.Errorf("%q: comm lost after true: raised %v, want %v", c.entry, got, c.held)
		}
		h.SetQ("In", false, signals.LastKnown) // usable: its value counts
		h.Step(1)
		if h.Alarm("Alarm").Active() {
			t.Errorf("%q: a last known false left the alarm raised", c.entry)
		}
	}
}

func TestAlarmConfigMistake(t *testing.T) {
	fes := runtime.AsFieldErrors((&logic.AlarmConfig{Unusable: "ignore"}).Validate())
	if len(fes) != 1 || fes[0].Path != "unusable" || fes[0].Msg != `want raise, clear or hold, got "ignore"` {
		t.Fatalf("%+v", fes)
	}
}
