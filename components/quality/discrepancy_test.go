package quality_test

import (
	"math"
	"testing"

	"github.com/metronome-rt/metronome/components/quality"
	"github.com/metronome-rt/metronome/internal/blocktest"
	"github.com/metronome-rt/metronome/runtime/runtimetest"
	"github.com/metronome-rt/metronome/signals"
)

// TestDiscrepancyNeedsACommand: before any usable command there is nothing
// to confirm, whatever the feedback says.
func TestDiscrepancyNeedsACommand(t *testing.T) {
	h := runtimetest.New(t, quality.Discrepancy, "fs: 10")
	h.Set("Feedback", 1.0)
	h.SetQ("Command", 1.0, signals.Initial)
	h.Advance(10e9)
	if h.Quality("Differs") != signals.Initial || h.Quality("Active") != signals.Initial || h.Alarm("Discrepancy").Active() {
		t.Fatalf("no command yet: Differs %v (%v), alarm %v", h.Get("Differs"), h.Quality("Differs"), h.Alarm("Discrepancy").Active())
	}
	h.SetQ("Command", 0.0, signals.BadInput)
	h.Advance(10e9)
	if h.Quality("Differs") != signals.Initial || h.Alarm("Discrepancy").Active() {
		t.Fatal("a bad command is no command")
	}
}

// TestDiscrepancyAfterItsDelay: a device that answers within the delay
// raises nothing; one that does not, or answers something else, does, and
// the alarm clears as soon as the feedback confirms.
func TestDiscrepancyAfterItsDelay(t *testing.T) {
	h := runtimetest.New(t, quality.Discrepancy, "fs: 10\nalarms: {Discrepancy: {delay: 2s}}")
	a := h.Alarm("Discrepancy")
	h.Set("Command", 1.0)
	h.Set("Feedback", 0.0)
	h.Step(1)
	if !blocktest.Bool(t, h, "Differs") || h.Quality("Differs") != signals.Good || blocktest.Bool(t, h, "Active") {
		t.Fatalf("just commanded: Differs %v (%v), Active %v", h.Get("Differs"), h.Quality("Differs"), h.Get("Active"))
	}
	h.Step(5)
	h.Set("Feedback", 1.0) // the device answers within the delay
	h.Step(1)
	if blocktest.Bool(t, h, "Differs") || a.Active() {
		t.Fatal("a confirmed command is no discrepancy")
	}
	h.Advance(10e9)
	if a.Active() {
		t.Fatal("raised while confirmed")
	}
	h.Set("Command", 0.0) // the device does not follow
	h.Step(19)
	if a.Active() || blocktest.Bool(t, h, "Active") {
		t.Fatal("raised before its delay")
	}
	h.Step(2)
	if !a.Active() || !blocktest.Bool(t, h, "Active") {
		t.Fatal("not raised after its delay")
	}
	h.Set("Feedback", 0.0)
	h.Step(1)
	if a.Active() || blocktest.Bool(t, h, "Active") || blocktest.Bool(t, h, "Differs") || !a.Unacked() {
		t.Fatalf("confirmed: alarm %v, unacked %v", a.Active(), a.Unacked())
	}
}

// TestDiscrepancyFeedbackThatConfirmsNothing: lost, stale, bad or never
// received feedback, or a NaN, does not confirm; a last known one does.
func TestDiscrepancyFeedbackThatConfirmsNothing(t *testing.T) {
	h := runtimetest.New(t, quality.Discrepancy, "alarms: {Discrepancy: {delay: 0s}}")
	h.Set("Command", 1.0)
	h.Step(1)
	if !h.Alarm("Discrepancy").Active() {
		t.Fatal("feedback never received confirmed the command")
	}
	for _, q := range []signals.Quality{signals.Stale, signals.CommLost, signals.BadInput} {
		h.Set("Feedback", 1.0)
		h.Step(1)
		h.SetQ("Feedback", 1.0, q)
		h.Step(1)
		if !h.Alarm("Discrepancy").Active() || !blocktest.Bool(t, h, "Differs") {
			t.Errorf("feedback %v confirmed the command", q)
		}
	}
	h.SetQ("Feedback", 1.0, signals.LastKnown)
	h.Step(1)
	if h.Alarm("Discrepancy").Active() {
		t.Error("a last known feedback equal to the command did not confirm it")
	}
	h.Set("Feedback", math.NaN())
	h.Step(1)
	if !h.Alarm("Discrepancy").Active() {
		t.Error("a NaN confirmed the command")
	}
}

// TestDiscrepancyKeepsTheLastUsableCommand: a command that turns stale or
// lost is still what the device was told; Tolerance allows a rounding.
func TestDiscrepancyKeepsTheLastUsableCommand(t *testing.T) {
	h := runtimetest.New(t, quality.Discrepancy, "parameters: {Tolerance: 0.5}\nalarms: {Discrepancy: {delay: 0s}}")
	h.Set("Command", 42.3)
	h.Set("Feedback", 42.0)
	h.Step(1)
	if h.Alarm("Discrepancy").Active() {
		t.Fatal("42 does not confirm 42.3 within 0.5")
	}
	h.SetQ("Command", 80.0, signals.Stale) // never sent: the device keeps 42.3
	h.Step(1)
	if h.Alarm("Discrepancy").Active() {
		t.Fatal("a stale command became the reference")
	}
	h.SetQ("Command", 80.0, signals.LastKnown)
	h.Step(1)
	if !h.Alarm("Discrepancy").Active() {
		t.Fatal("a last known command is the reference")
	}
	if err := h.SetParam("Tolerance", -1.0); err == nil {
		t.Fatal("a negative tolerance was accepted")
	}
}
