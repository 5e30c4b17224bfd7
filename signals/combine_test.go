package signals_test

import (
	"math"
	"testing"

	"github.com/metronome-rt/metronome/signals"
)

func sig(v float64, q signals.Quality, stamp int64) *signals.Signal[float64] {
	s := signals.New[float64](signals.Info{Name: "S"}, nil)
	s.Put(v, q, stamp)
	return s
}

func TestMergeTakesWorstQualityAndNewestTime(t *testing.T) {
	var m signals.Merge
	m.Add(sig(1, signals.Good, 300))
	m.Add(sig(2, signals.Stale, 100))
	m.Add(sig(3, signals.Good, 200))
	if m.Quality() != signals.Stale || m.Stamp() != 300 || !m.HasValue() {
		t.Fatalf("merge = %v at %d (has value %v), want stale at 300 with a value", m.Quality(), m.Stamp(), m.HasValue())
	}
	m.AddTime(250)
	if m.Stamp() != 300 {
		t.Fatalf("an older tick moved the time to %d", m.Stamp())
	}
	m.AddTime(400)
	m.AddQ(signals.CommLost, 0)
	if m.Stamp() != 400 || m.Quality() != signals.CommLost || !m.HasValue() {
		t.Fatalf("merge = %v at %d, want comm lost at 400 (still a value)", m.Quality(), m.Stamp())
	}
	for _, q := range []signals.Quality{signals.Initial, signals.BadInput} {
		var m signals.Merge
		m.Add(sig(1, signals.Good, 1))
		m.AddQ(q, 0)
		if m.HasValue() {
			t.Errorf("a %v input left the merge with a value", q)
		}
	}
}

func TestSetFloatNeverPublishesAGoodNaNOrInfinity(t *testing.T) {
	out := sig(5, signals.Good, 10)
	var m signals.Merge
	m.Add(sig(0, signals.Good, 20))
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if m.SetFloat(out, v) {
			t.Fatalf("SetFloat(%v) reported a write", v)
		}
		if out.Get() != 5 || out.Stamp() != 10 || out.Quality() != signals.BadInput {
			t.Fatalf("after SetFloat(%v): %v at %d (%v), want 5 at 10 (bad input)", v, out.Get(), out.Stamp(), out.Quality())
		}
	}
	if !m.SetFloat(out, 7) || out.Get() != 7 || out.Stamp() != 20 || out.Quality() != signals.Good {
		t.Fatalf("after SetFloat(7): %v at %d (%v)", out.Get(), out.Stamp(), out.Quality())
	}
	// Held values keep their time and take the merged quality.
	m.AddQ(signals.Initial, 0)
	m.Hold(out)
	if out.Get() != 7 || out.Stamp() != 20 || out.Quality() != signals.Initial {
		t.Fatalf("after Hold: %v at %d (%v), want 7 at 20 (initial)", out.Get(), out.Stamp(), out.Quality())
	}
	b := signals.New[bool](signals.Info{Name: "B"}, nil)
	signals.Set(m, b, true)
	if !b.Get() || b.Quality() != signals.Initial || b.Stamp() != 20 {
		t.Fatalf("Set: %v at %d (%v)", b.Get(), b.Stamp(), b.Quality())
	}
}

func TestMergeAllocatesNothing(t *testing.T) {
	a, b, out := sig(1, signals.Good, 1), sig(2, signals.Stale, 2), sig(0, signals.Good, 0)
	n := testing.AllocsPerRun(100, func() {
		var m signals.Merge
		m.Add(a)
		m.Add(b)
		m.AddTime(3)
		m.SetFloat(out, a.Get()+b.Get())
	})
	if n != 0 {
		t.Fatalf("%v allocations per merge, want 0", n)
	}
}

// An input never received beside a lost one: Initial ranks better than
// Stale or comm lost, yet the block must not compute with the missing
// input's zero, and an output never computed stays Initial rather than
// showing its zero as a stale or lost value.
func TestMergeRemembersAnInputWithoutAValueBesideALostOne(t *testing.T) {
	for _, lost := range []signals.Quality{signals.Stale, signals.CommLost} {
		for _, order := range [][2]signals.Quality{{signals.Initial, lost}, {lost, signals.Initial}} {
			var m signals.Merge
			m.AddQ(order[0], 0)
			m.AddQ(order[1], 0)
			if m.HasValue() {
				t.Errorf("%v then %v: the merge has a value", order[0], order[1])
			}
			fresh := signals.New[float64](signals.Info{Name: "Out"}, nil)
			if m.Ready(fresh) || fresh.Quality() != signals.Initial {
				t.Errorf("%v then %v: a never computed output is %v", order[0], order[1], fresh.Quality())
			}
			computed := sig(5, signals.Good, 1)
			m.Ready(computed)
			if computed.Quality() != lost || computed.Get() != 5 {
				t.Errorf("%v then %v: a computed output held as %v %v, want 5 %v", order[0], order[1], computed.Get(), computed.Quality(), lost)
			}
		}
	}
}
