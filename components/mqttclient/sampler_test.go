package mqttclient

import (
	"testing"
	"time"
)

// TestSamplerCountsWhatItHolds: after one line, lines are held back for the
// interval, and the next one says how many were.
func TestSamplerCountsWhatItHolds(t *testing.T) {
	s := sampler{interval: 10 * time.Second}
	t0 := time.Unix(1000, 0)
	if ok, held := s.allow(t0); !ok || held != 0 {
		t.Fatalf("first: %v %d", ok, held)
	}
	for i := 1; i <= 199; i++ {
		if ok, _ := s.allow(t0.Add(time.Duration(i) * 10 * time.Millisecond)); ok {
			t.Fatalf("line %d let through within the interval", i)
		}
	}
	if ok, held := s.allow(t0.Add(10 * time.Second)); !ok || held != 199 {
		t.Fatalf("after the interval: %v, held %d; want true, 199", ok, held)
	}
	if ok, held := s.allow(t0.Add(25 * time.Second)); !ok || held != 0 {
		t.Fatalf("a quiet interval later: %v, held %d", ok, held)
	}
}
