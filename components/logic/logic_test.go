package logic_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/metronome-rt/metronome/components/logic"
	"github.com/metronome-rt/metronome/internal/blocktest"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/runtime/runtimetest"
	"github.com/metronome-rt/metronome/scheduler"
	"github.com/metronome-rt/metronome/signals"
)

func TestGatesTruthTables(t *testing.T) {
	for _, c := range []struct {
		typ  *runtime.Type
		want func(a, b, c bool) bool
	}{
		{logic.And, func(a, b, c bool) bool { return a && b && c }},
		{logic.Or, func(a, b, c bool) bool { return a || b || c }},
		{logic.Xor, func(a, b, c bool) bool { return a != b != c }},
	} {
		h := runtimetest.New(t, c.typ, "config: {inputs: 3}")
		for i := range 8 {
			a, b, x := i&1 != 0, i&2 != 0, i&4 != 0
			h.Set("In1", a)
			h.Set("In2", b)
			h.Set("In3", x)
			h.Step(1)
			if got := blocktest.Bool(t, h, "Out"); got != c.want(a, b, x) || h.Quality("Out") != signals.Good {
				t.Errorf("%s(%v, %v, %v) = %v (%v)", c.typ.Name(), a, b, x, got, h.Quality("Out"))
			}
		}
	}
	h := runtimetest.New(t, logic.Not, "")
	h.Set("In", false)
	h.Step(1)
	if !blocktest.Bool(t, h, "Out") {
		t.Fatal("Not(false) = false")
	}
}

func TestGateQuality(t *testing.T) {
	h := runtimetest.New(t, logic.Or, "")
	h.Set("In1", true)
	h.Step(1)
	if q := h.Quality("Out"); q != signals.Initial || blocktest.Bool(t, h, "Out") {
		t.Fatalf("Or with In2 never received: %v (%v), want the held false, initial", blocktest.Bool(t, h, "Out"), q)
	}
	h.SetQ("In2", false, signals.Stale)
	h.Step(1)
	if q := h.Quality("Out"); q != signals.Stale || !blocktest.Bool(t, h, "Out") {
		t.Fatalf("Or(true, stale false) = %v (%v), want true, stale", blocktest.Bool(t, h, "Out"), q)
	}
	h.SetQ("In1", false, signals.BadInput)
	h.Step(1)
	if q := h.Quality("Out"); q != signals.BadInput || !blocktest.Bool(t, h, "Out") {
		t.Fatalf("Or with a bad input: %v (%v), want the held true, bad input", blocktest.Bool(t, h, "Out"), q)
	}
}

func TestLatches(t *testing.T) {
	// set, reset -> SR's Q1, RS's Q1 (both starting false)
	steps := []struct{ s, r, sr, rs bool }{
		{false, false, false, false},
		{true, false, true, true},
		{false, false, true, true}, // holds
		{true, true, true, false},  // dominance
		{false, false, true, false},
		{false, true, false, false},
		{false, false, false, false},
	}
	sr := runtimetest.New(t, logic.SR, "")
	rs := runtimetest.New(t, logic.RS, "")
	for i, st := range steps {
		sr.Set("S1", st.s)
		sr.Set("R", st.r)
		rs.Set("S", st.s)
		rs.Set("R1", st.r)
		sr.Step(1)
		rs.Step(1)
		if got := blocktest.Bool(t, sr, "Q1"); got != st.sr {
			t.Errorf("step %d: SR(S1=%v, R=%v) = %v, want %v", i, st.s, st.r, got, st.sr)
		}
		if got := blocktest.Bool(t, rs, "Q1"); got != st.rs {
			t.Errorf("step %d: RS(S=%v, R1=%v) = %v, want %v", i, st.s, st.r, got, st.rs)
		}
	}
}

func trace(t *testing.T, h *runtimetest.Harness, in string, out string, ins []bool) []bool {
	t.Helper()
	var got []bool
	for _, v := range ins {
		h.Set(in, v)
		h.Step(1)
		got = append(got, blocktest.Bool(t, h, out))
	}
	return got
}

func TestRTrigFiresOnATrueFirstEvaluation(t *testing.T) {
	h := runtimetest.New(t, logic.RTrig, "")
	h.Step(2) // CLK has no value yet: nothing is evaluated
	got := trace(t, h, "CLK", "Q", []bool{true, true, false, true, true, false})
	want := []bool{true, false, false, true, false, false}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("R_TRIG Q = %v, want %v", got, want)
	}
}

// TestFTrigFollowsEdition3 pins the first-call behaviour of F_TRIG: a CLK
// that is false on the first evaluation is no falling edge (Edition 3,
// CODESYS Standard); Edition 2 would fire here.
func TestFTrigFollowsEdition3(t *testing.T) {
	h := runtimetest.New(t, logic.FTrig, "")
	got := trace(t, h, "CLK", "Q", []bool{false, false, true, false, false, true, false})
	want := []bool{false, false, false, true, false, false, true}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("F_TRIG Q = %v, want %v", got, want)
	}
	// The pulse lasts one tick even when CLK is not written again.
	h = runtimetest.New(t, logic.FTrig, "")
	h.Set("CLK", true)
	h.Step(1)
	h.Set("CLK", false)
	h.Step(1)
	if !blocktest.Bool(t, h, "Q") {
		t.Fatal("no falling edge")
	}
	stamp := h.Port("Q").Stamp()
	h.Step(1)
	if blocktest.Bool(t, h, "Q") || h.Port("Q").Stamp() <= stamp {
		t.Fatal("Q did not fall on the next tick with the tick's time")
	}
}

// timerRun sets IN per tick (fs 10) and records Q and ET.
func timerRun(t *testing.T, h *runtimetest.Harness, ins string) (q string, et []float64) {
	t.Helper()
	for _, c := range ins {
		h.Set("IN", c == '1')
		h.Step(1)
		if blocktest.Bool(t, h, "Q") {
			q += "1"
		} else {
			q += "0"
		}
		et = append(et, math.Round(h.Float("ET")*1000)/1000)
	}
	return q, et
}

func TestTONEdges(t *testing.T) {
	h := runtimetest.New(t, logic.TON, "fs: 10\nparameters: {PT: 0.3}")
	q, et := timerRun(t, h, "0111110110001111")
	if want := "0000110000000001"; q != want {
		t.Fatalf("TON Q = %s, want %s", q, want)
	}
	wantET := []float64{0, 0, 0.1, 0.2, 0.3, 0.3, 0, 0, 0.1, 0, 0, 0, 0, 0.1, 0.2, 0.3}
	if fmt.Sprint(et) != fmt.Sprint(wantET) {
		t.Fatalf("TON ET = %v, want %v", et, wantET)
	}
	// PT 0: Q follows IN.
	h = runtimetest.New(t, logic.TON, "fs: 10\nparameters: {PT: 0}")
	if q, _ := timerRun(t, h, "0110"); q != "0110" {
		t.Fatalf("TON PT 0: Q = %s, want 0110", q)
	}
}

// TestTONWhenPTChangesWhileTiming pins the documented behaviour: PT is read
// every tick; lowered below the elapsed time Q rises at once, raised it
// waits for the new PT, and once Q is true it stays until IN falls.
func TestTONWhenPTChangesWhileTiming(t *testing.T) {
	h := runtimetest.New(t, logic.TON, "fs: 10\nparameters: {PT: 1}")
	timerRun(t, h, "11111") // 0.4 s elapsed
	h.SetParam("PT", 0.2)
	if q, et := timerRun(t, h, "1"); q != "1" || et[0] != 0.2 {
		t.Fatalf("PT lowered below the elapsed time: Q = %s ET = %v, want 1 at once, ET = PT", q, et)
	}
	h.SetParam("PT", 5.0)
	if q, et := timerRun(t, h, "11"); q != "11" || et[1] != 5 {
		t.Fatalf("PT raised after Q: Q = %s ET = %v, want Q kept and ET = the new PT", q, et)
	}
	timerRun(t, h, "0")
	h.SetParam("PT", 0.5)
	timerRun(t, h, "111") // 0.2 s elapsed
	h.SetParam("PT", 0.6)
	if q, _ := timerRun(t, h, "1111"); q != "0001" {
		t.Fatalf("PT raised while timing: Q = %s, want 0001 (rising at 0.6 s)", q)
	}
}

func TestTOFEdges(t *testing.T) {
	h := runtimetest.New(t, logic.TOF, "fs: 10\nparameters: {PT: 0.3}")
	// IN falls at 4 (the delay starts at 0), rises again at 7 and 10
	// (cancelling the delay), falls at 11 and stays: Q falls 0.3 s later.
	q, et := timerRun(t, h, "00110001001000000")
	if want := "00111111111111000"; q != want {
		t.Fatalf("TOF Q = %s, want %s", q, want)
	}
	wantET := []float64{0, 0, 0, 0, 0, 0.1, 0.2, 0, 0, 0.1, 0, 0, 0.1, 0.2, 0.3, 0.3, 0.3}
	if fmt.Sprint(et) != fmt.Sprint(wantET) {
		t.Fatalf("TOF ET = %v, want %v", et, wantET)
	}
}

func TestTPIsNotRetriggerable(t *testing.T) {
	h := runtimetest.New(t, logic.TP, "fs: 10\nparameters: {PT: 0.5}")
	// Rising at 1; IN toggles during the pulse (rising again at 4 and at 6,
	// the tick the pulse ends) and is held after it; released at 8; rising
	// at 12 starts the next pulse.
	q, et := timerRun(t, h, "0110101100001111")
	if want := "0111110000001111"; q != want {
		t.Fatalf("TP Q = %s, want %s", q, want)
	}
	wantET := []float64{0, 0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.5, 0, 0, 0, 0, 0, 0.1, 0.2, 0.3}
	if fmt.Sprint(et) != fmt.Sprint(wantET) {
		t.Fatalf("TP ET = %v, want %v", et, wantET)
	}
	h = runtimetest.New(t, logic.TP, "fs: 10\nparameters: {PT: 0}")
	if q, _ := timerRun(t, h, "0110"); q != "0000" {
		t.Fatalf("TP PT 0: Q = %s, want no pulse", q)
	}
}

func TestTimersMeasureRealTimeAcrossSkippedTicks(t *testing.T) {
	h := runtimetest.New(t, logic.TON, "fs: 10\nparameters: {PT: 1}")
	h.Set("IN", true)
	h.Step(1)
	h.Clock().Spend(2 * time.Second) // the tick overran: the next ones are late
	h.Step(1)
	if !blocktest.Bool(t, h, "Q") {
		t.Fatalf("TON after 2 s of real time: Q false, ET %v", h.Float("ET"))
	}
}

func TestTimerQualityAndNoValue(t *testing.T) {
	h := runtimetest.New(t, logic.TON, "fs: 10\nparameters: {PT: 0.1}")
	h.Step(3)
	if h.Quality("Q") != signals.Initial || h.Quality("ET") != signals.Initial {
		t.Fatal("timer outputs are not initial before IN has a value")
	}
	h.SetQ("IN", true, signals.CommLost)
	h.Step(2)
	if !blocktest.Bool(t, h, "Q") || h.Quality("Q") != signals.CommLost || h.Quality("ET") != signals.CommLost {
		t.Fatalf("Q %v (%v), want true with comm lost", blocktest.Bool(t, h, "Q"), h.Quality("Q"))
	}
}

func TestCTUD(t *testing.T) {
	h := runtimetest.New(t, logic.CTUD, "parameters: {PV: 2}")
	set := func(cu, cd, r, ld bool) {
		h.Set("CU", cu)
		h.Set("CD", cd)
		h.Set("R", r)
		h.Set("LD", ld)
		h.Step(1)
	}
	check := func(step string, cv int64, qu, qd bool) {
		t.Helper()
		got, _ := h.Get("CV").Int()
		if got != cv || blocktest.Bool(t, h, "QU") != qu || blocktest.Bool(t, h, "QD") != qd || h.Quality("CV") != signals.Good {
			t.Fatalf("%s: CV %d QU %v QD %v (%v), want %d %v %v", step, got, blocktest.Bool(t, h, "QU"), blocktest.Bool(t, h, "QD"), h.Quality("CV"), cv, qu, qd)
		}
	}
	set(false, false, false, false)
	check("start", 0, false, true)
	set(true, false, false, false)
	check("CU rises", 1, false, false)
	set(true, false, false, false)
	check("CU held", 1, false, false)
	set(false, false, false, false)
	set(true, false, false, false)
	check("CU rises again", 2, true, false)
	set(false, true, false, false)
	check("CD rises", 1, false, false)
	set(true, false, false, false)
	set(false, false, false, false)
	set(true, true, false, false)
	check("CU and CD rise together", 2, true, false)
	set(false, false, true, true)
	check("R wins over LD", 0, false, true)
	set(false, true, false, false)
	check("below zero", -1, false, true)
	set(false, false, false, true)
	check("LD", 2, true, false)
	// Limits: the count saturates, it never wraps.
	h.SetParam("PV", int64(math.MaxInt64))
	set(false, false, false, true)
	set(true, false, false, false)
	check("CU at the maximum", math.MaxInt64, true, false)
	h.SetParam("PV", int64(math.MinInt64))
	set(false, false, false, true)
	set(false, true, false, false)
	check("CD at the minimum", math.MinInt64, true, true)
}

// TestCTUDUnroutedInputsAreFalse runs a CTUD whose only input is written:
// the three that are neither routed nor written take no part.
func TestCTUDUnroutedInputsAreFalse(t *testing.T) {
	app, err := runtime.LoadBytes("c.yaml", []byte("application: A\ncomponents:\n  - {name: C, type: CTUD}\n"),
		runtime.MustRegistry(logic.CTUD), runtime.LoadOptions{Scheduler: scheduler.Options{Virtual: true}})
	if err != nil {
		t.Fatal(err)
	}
	cu, _ := app.Signal("A.C.CU")
	for _, v := range []bool{true, false, true} {
		cu.SetValue(signals.BoolValue(v), signals.Good, 1)
		app.Advance(100 * time.Millisecond)
	}
	cv, _ := app.Signal("A.C.CV")
	if n, _ := cv.Value().Int(); n != 2 || cv.Quality() != signals.Good {
		t.Fatalf("CV = %d (%v), want 2 (good)", n, cv.Quality())
	}
}

func TestSelectPassesOnlyTheSelectedQuality(t *testing.T) {
	h := runtimetest.New(t, logic.Select, "")
	h.Set("In0", 1.0)
	h.SetQ("In1", 2.0, signals.CommLost)
	h.Step(1)
	if h.Quality("Out") != signals.Initial {
		t.Fatalf("Out before G: %v, want initial", h.Quality("Out"))
	}
	h.Set("G", false)
	h.Step(1)
	if h.Float("Out") != 1 || h.Quality("Out") != signals.Good {
		t.Fatalf("G false: %v (%v), want 1 (good: In1 is not selected)", h.Float("Out"), h.Quality("Out"))
	}
	h.Set("G", true)
	h.Step(1)
	if h.Float("Out") != 2 || h.Quality("Out") != signals.CommLost {
		t.Fatalf("G true: %v (%v), want 2 (comm lost)", h.Float("Out"), h.Quality("Out"))
	}
}

func TestMux(t *testing.T) {
	h := runtimetest.New(t, logic.Mux, "config: {inputs: 3}")
	h.Set("In0", 10.0)
	h.Set("In1", 11.0)
	h.SetQ("In2", 12.0, signals.Stale)
	for _, c := range []struct {
		k    int
		want float64
		q    signals.Quality
	}{{1, 11, signals.Good}, {2, 12, signals.Stale}, {0, 10, signals.Good}, {3, 10, signals.BadInput}, {-1, 10, signals.BadInput}, {1, 11, signals.Good}} {
		h.Set("K", c.k)
		h.Step(1)
		if h.Float("Out") != c.want || h.Quality("Out") != c.q {
			t.Fatalf("K=%d: %v (%v), want %v (%v)", c.k, h.Float("Out"), h.Quality("Out"), c.want, c.q)
		}
	}
}

var cases = []blocktest.Case{
	{Type: logic.And, Entry: "config: {inputs: 4}", Inputs: map[string]any{"In1": true, "In2": true, "In3": true, "In4": true}, Alt: map[string]any{"In2": false}},
	{Type: logic.Or, Inputs: map[string]any{"In1": false, "In2": false}, Alt: map[string]any{"In2": true}},
	{Type: logic.Xor, Inputs: map[string]any{"In1": false, "In2": true}, Alt: map[string]any{"In1": true}},
	{Type: logic.Not, Inputs: map[string]any{"In": false}, Alt: map[string]any{"In": true}},
	{Type: logic.SR, Inputs: map[string]any{"S1": true, "R": false}, Alt: map[string]any{"S1": false, "R": true}},
	{Type: logic.RS, Inputs: map[string]any{"S": true, "R1": false}, Alt: map[string]any{"S": false, "R1": true}},
	{Type: logic.RTrig, Inputs: map[string]any{"CLK": true}, Alt: map[string]any{"CLK": false}},
	{Type: logic.FTrig, Inputs: map[string]any{"CLK": true}, Alt: map[string]any{"CLK": false}},
	{Type: logic.TON, Entry: "parameters: {PT: 0.05}", Inputs: map[string]any{"IN": true}},
	{Type: logic.TOF, Entry: "parameters: {PT: 0.05}", Inputs: map[string]any{"IN": false}},
	{Type: logic.TP, Entry: "parameters: {PT: 0.05}", Inputs: map[string]any{"IN": true}, Alt: map[string]any{"IN": false}},
	{Type: logic.CTUD, Inputs: map[string]any{"CU": true, "CD": false, "R": false, "LD": false}, Alt: map[string]any{"CU": false}},
	{Type: logic.Select, Inputs: map[string]any{"G": true, "In0": 1.0, "In1": 2.0}, Alt: map[string]any{"G": false}},
	{Type: logic.Alarm, Entry: "alarms: {Alarm: {delay: 50ms}}", Inputs: map[string]any{"In": true}, Alt: map[string]any{"In": false}},
	{Type: logic.Mux, Entry: "config: {inputs: 4}", Inputs: map[string]any{"K": 1, "In0": 1.0, "In1": 2.0, "In2": 3.0, "In3": 4.0}, Alt: map[string]any{"K": 3}},
}

func TestTicksAllocateNothing(t *testing.T) { blocktest.ZeroAllocs(t, cases) }

func BenchmarkTick(b *testing.B) { blocktest.Bench(b, cases) }
