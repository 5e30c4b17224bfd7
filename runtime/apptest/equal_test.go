package apptest

import (
	"testing"

	"github.com/metronome-rt/metronome/signals"
)

// A tolerance given on an integer signal is used, not ignored: {value:
// 100, tolerance: 5} accepts 103 and refuses 106; without one, integers
// compare exactly.
func TestToleranceAppliesToIntegers(t *testing.T) {
	cases := []struct {
		got, want signals.Value
		tol       float64
		hasTol    bool
		ok        bool
	}{
		{signals.IntValue(103), signals.IntValue(100), 5, true, true},
		{signals.IntValue(106), signals.IntValue(100), 5, true, false},
		{signals.UintValue(97), signals.UintValue(100), 5, true, true},
		{signals.IntValue(101), signals.IntValue(100), 0, false, false},
		{signals.IntValue(100), signals.IntValue(100), 0, false, true},
		{signals.FloatValue(100.05), signals.FloatValue(100), 0.1, true, true},
	}
	for _, c := range cases {
		if got := equal(c.got, c.want, c.tol, c.hasTol); got != c.ok {
			t.Errorf("equal(%v, %v, tol %v %v) = %v, want %v", c.got, c.want, c.tol, c.hasTol, got, c.ok)
		}
	}
}
