package signals_test

import (
	"math"
	"testing"

	"github.com/metronome-rt/metronome/signals"
)

// TestWorstOrdersEveryPair checks Worst against the documented order, best
// to worst: good, last known, initial, stale, comm lost, bad input.
func TestWorstOrdersEveryPair(t *testing.T) {
	order := signals.Qualities()
	if len(order) != 6 || order[0] != signals.Good || order[1] != signals.LastKnown || order[5] != signals.BadInput {
		t.Fatalf("Qualities() = %v", order)
	}
	for i, a := range order {
		for j, b := range order {
			want := a
			if j > i {
				want = b
			}
			if got := signals.Worst(a, b); got != want {
				t.Errorf("Worst(%v, %v) = %v, want %v", a, b, got, want)
			}
		}
	}
	if got := signals.Worst(signals.Quality(200), signals.BadInput); got != signals.Quality(200) {
		t.Errorf("an unknown quality is not the worst: %v", got)
	}
}

func TestQualityNamesParseBack(t *testing.T) {
	for _, q := range signals.Qualities() {
		for _, s := range []string{q.String(), "  " + q.String() + " "} {
			if got, ok := signals.ParseQuality(s); !ok || got != q {
				t.Errorf("ParseQuality(%q) = %v, %v", s, got, ok)
			}
		}
	}
	for s, want := range map[string]signals.Quality{"COMM_LOST": signals.CommLost, "LastKnown": signals.LastKnown, "bad-input": signals.BadInput} {
		if got, ok := signals.ParseQuality(s); !ok || got != want {
			t.Errorf("ParseQuality(%q) = %v, %v", s, got, ok)
		}
	}
	if _, ok := signals.ParseQuality("fine"); ok {
		t.Error(`ParseQuality("fine") succeeded`)
	}
}

func TestUsable(t *testing.T) {
	for _, q := range signals.Qualities() {
		want := q == signals.Good || q == signals.LastKnown
		if q.Usable() != want {
			t.Errorf("%v.Usable() = %v", q, q.Usable())
		}
		if q.OK() != (q == signals.Good) {
			t.Errorf("%v.OK() = %v", q, q.OK())
		}
	}
}

// TestFloatTextHasNoBinaryNoise is issue 9 item 6: arithmetic noise in the
// last binary digits never reaches text.
func TestFloatTextHasNoBinaryNoise(t *testing.T) {
	three := 3.0
	for f, want := range map[float64]string{
		37.800000000000004: "37.8",
		0.1 * three:        "0.3",
		21.5:               "21.5",
		1e21:               "1e+21",
		1e10:               "10000000000",
		-0.000123:          "-0.000123",
		math.MaxFloat64:    "1.7976931348623157e+308",
		math.Inf(-1):       "-Inf",
	} {
		if got := signals.FormatFloat(f); got != want {
			t.Errorf("FormatFloat(%v) = %q, want %q", f, got, want)
		}
		if got := signals.FloatValue(f).Text(); got != want {
			t.Errorf("FloatValue(%v).Text() = %q, want %q", f, got, want)
		}
	}
	buf := make([]byte, 0, 64)
	if n := testing.AllocsPerRun(100, func() { buf = signals.AppendFloat(buf[:0], 37.800000000000004) }); n != 0 {
		t.Errorf("AppendFloat allocates %v times", n)
	}
}
