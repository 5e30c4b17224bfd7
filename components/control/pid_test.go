package control_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/metronome-rt/metronome/components/control"
	"github.com/metronome-rt/metronome/internal/blocktest"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/runtime/runtimetest"
	"github.com/metronome-rt/metronome/scheduler"
	"github.com/metronome-rt/metronome/signals"
)

// newPID builds a PID at 10 Hz with wide limits and the given extra
// parameters, with its optional inputs set to automatic, no feed-forward.
func newPID(t *testing.T, config, params string) *runtimetest.Harness {
	t.Helper()
	h := runtimetest.New(t, control.PID, "fs: 10\nconfig: {"+config+"}\nparameters: {OutMin: -1000, OutMax: 1000, Tf: 0, "+params+"}")
	h.Set("Manual", false)
	h.Set("FF", 0.0)
	return h
}

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol || math.IsNaN(got) {
		t.Fatalf("%s = %.12g, want %.12g (within %g)", what, got, want, tol)
	}
}

// TestPIDTextbookVector pins the first step against the known vector:
// Kp=2, Ki=1, Kd=1, derivative on error, SP 10, PV 0, dt 0.1 s gives
// P 20 + I 1 + D 100 = 121.
func TestPIDTextbookVector(t *testing.T) {
	h := newPID(t, "", "Kp: 2, Ki: 1, Kd: 1, Wd: 1")
	h.Set("SP", 10.0)
	h.Set("PV", 0.0)
	h.Step(1)
	near(t, "Out", h.Float("Out"), 121, 1e-9)
	near(t, "P", h.Float("P"), 20, 1e-12)
	near(t, "I", h.Float("I"), 1, 1e-12)
	near(t, "D", h.Float("D"), 100, 1e-9)
	if h.Quality("Out") != signals.Good {
		t.Fatalf("quality %v", h.Quality("Out"))
	}
	// Second step, same error: I grows by Ki*e*dt = 1, D is 0.
	h.Step(1)
	near(t, "Out at the second step", h.Float("Out"), 20+2+0, 1e-9)
}

func TestPIDNoDerivativeKickOnSetpointSteps(t *testing.T) {
	h := newPID(t, "", "Kp: 1, Ki: 0, Kd: 5")
	h.Set("SP", 0.0)
	h.Set("PV", 3.0)
	h.Step(5)
	near(t, "D at rest", h.Float("D"), 0, 0)
	h.Set("SP", 50.0)
	h.Step(1)
	near(t, "D at the setpoint step (derivative on measurement)", h.Float("D"), 0, 0)
	near(t, "Out at the setpoint step", h.Float("Out"), 47, 1e-9)
	// The measurement moving does give a derivative: -Kd * dPV/dt.
	h.Set("PV", 3.5)
	h.Step(1)
	near(t, "D on a measurement step", h.Float("D"), -5*0.5/0.1, 1e-9)
	// With Wd = 1 the same setpoint step kicks: the contrast the test relies on.
	h2 := newPID(t, "", "Kp: 1, Ki: 0, Kd: 5, Wd: 1")
	h2.Set("SP", 0.0)
	h2.Set("PV", 3.0)
	h2.Step(5)
	h2.Set("SP", 50.0)
	h2.Step(1)
	near(t, "D at a setpoint step with Wd 1", h2.Float("D"), 5*50/0.1, 1e-9)
}

func TestPIDDerivativeFilter(t *testing.T) {
	h := newPID(t, "", "Kp: 0, Ki: 0, Kd: 2, Tf: 0.4")
	h.Set("SP", 0.0)
	h.Set("PV", 0.0)
	h.Step(3)
	h.Set("PV", -1.0) // PV falls by 1: the unfiltered D would be 2*1/0.1 = 20
	h.Step(1)
	d1 := 2 * 1 / (0.4 + 0.1)
	near(t, "D on the step, filtered", h.Float("D"), d1, 1e-9)
	h.Step(1)
	near(t, "D a tick later", h.Float("D"), d1*0.4/0.5, 1e-9)
	for range 50 {
		h.Step(1)
	}
	near(t, "D long after", h.Float("D"), 0, 1e-4)
}

// TestPIDIntegralRampsAtKiTimesError: a constant error integrates to
// Ki*e*t, and retuning Ki mid-way does not bump the output.
func TestPIDIntegralRampsAtKiTimesError(t *testing.T) {
	h := newPID(t, "", "Kp: 0, Ki: 0.5, Kd: 0")
	h.Set("SP", 2.0)
	h.Set("PV", 0.0)
	h.Step(30)
	near(t, "I after 3 s of error 2", h.Float("I"), 0.5*2*3, 1e-9)
	before := h.Float("Out")
	h.SetParam("Ki", 5.0)
	h.Step(1)
	near(t, "Out after Ki 0.5 -> 5", h.Float("Out"), before+5*2*0.1, 1e-9)
}

// TestPIDRetuningKpDoesNotBump: changing Kp with a standing error moves the
// difference into the integral, so the output continues.
func TestPIDRetuningKpDoesNotBump(t *testing.T) {
	h := newPID(t, "", "Kp: 2, Ki: 0.2, Kd: 1")
	h.Set("SP", 10.0)
	h.Set("PV", 4.0)
	h.Step(20)
	before := h.Float("Out")
	step := 0.2 * 6 * 0.1
	near(t, "Out's steady ramp", h.Float("Out")-h.Float("P")-h.Float("I"), 0, 1e-9)
	for _, p := range []struct {
		name string
		v    float64
	}{{"Kp", 5}, {"Kd", 3}, {"Wp", 0.5}} {
		h.SetParam(p.name, p.v)
		h.Step(1)
		near(t, "Out after changing "+p.name, h.Float("Out"), before+step, 1e-9)
		before = h.Float("Out")
	}
	// The proportional term did change; only the sum is continuous.
	near(t, "P with Kp 5, Wp 0.5", h.Float("P"), 5*(0.5*10-4), 1e-9)
}

func TestPIDSetpointWeight(t *testing.T) {
	h := newPID(t, "", "Kp: 2, Ki: 0, Wp: 0.25")
	h.Set("SP", 0.0)
	h.Set("PV", 0.0)
	h.Step(2)
	h.Set("SP", 8.0)
	h.Step(1)
	near(t, "P after a setpoint step of 8 with Wp 0.25", h.Float("P"), 2*0.25*8, 1e-12)
}

func TestPIDFeedForwardAndDirectAction(t *testing.T) {
	h := newPID(t, "action: direct", "Kp: 3, Ki: 0")
	h.Set("SP", 10.0)
	h.Set("PV", 12.0)
	h.Set("FF", 1.5)
	h.Step(1)
	near(t, "direct action: Out = Kp*(PV - SP) + FF", h.Float("Out"), 3*2+1.5, 1e-12)
	if err := (&control.PIDConfig{Action: "sideways", AntiWindup: "none"}).Validate(); err == nil ||
		runtime.AsFieldErrors(err)[0].Path != "action" {
		t.Fatalf("action sideways: %v", err)
	}
	if err := (&control.PIDConfig{Action: "direct", AntiWindup: "clamp"}).Validate(); err == nil ||
		runtime.AsFieldErrors(err)[0].Path != "anti_windup" {
		t.Fatalf("anti_windup clamp: %v", err)
	}
}

func TestPIDLimitsAndRateLimit(t *testing.T) {
	h := runtimetest.New(t, control.PID, "fs: 10\nparameters: {Kp: 10, Ki: 0, OutMin: -5, OutMax: 20, RateLimit: 50}")
	h.Set("Manual", false)
	h.Set("FF", 0.0)
	h.Set("SP", 1.0)
	h.Set("PV", 0.0)
	h.Step(1)
	near(t, "Out at first (no rate limit without a previous output)", h.Float("Out"), 10, 0)
	if blocktest.Bool(t, h, "Limited") {
		t.Fatal("Limited at 10 within [-5, 20]")
	}
	h.Set("SP", 100.0)
	h.Step(1)
	near(t, "Out rate-limited", h.Float("Out"), 15, 1e-9)
	if !blocktest.Bool(t, h, "Limited") {
		t.Fatal("Limited false while rate-limited")
	}
	h.Step(1)
	near(t, "Out at the upper limit", h.Float("Out"), 20, 1e-9)
	h.Set("SP", -100.0)
	h.Step(10)
	near(t, "Out at the lower limit", h.Float("Out"), -5, 1e-9)
	if !blocktest.Bool(t, h, "Limited") {
		t.Fatal("Limited false at the lower limit")
	}
}

// windupRun holds the PID saturated (error 5, Out limited to 10) for 20 s,
// then reverses the error, and returns the integral at the end of the
// saturation and how many ticks the output took to leave the limit.
func windupRun(t *testing.T, method string) (integral float64, ticks int) {
	h := newPID(t, "anti_windup: "+method, "Kp: 1, Ki: 1, OutMin: 0, OutMax: 10")
	h.Set("SP", 5.0)
	h.Set("PV", 0.0)
	h.Step(200)
	near(t, method+": Out while saturated", h.Float("Out"), 10, 1e-9)
	if !blocktest.Bool(t, h, "Limited") {
		t.Fatalf("%s: Limited false while saturated", method)
	}
	integral = h.Float("I")
	h.Set("PV", 6.0) // error -1: the output must come down
	for ticks = 1; ticks < 10000; ticks++ {
		h.Step(1)
		if h.Float("Out") < 10 {
			break
		}
	}
	return integral, ticks
}

func TestPIDAntiWindup(t *testing.T) {
	iNone, tNone := windupRun(t, "none")
	near(t, "none: integral after 20 s of error 5", iNone, 100, 1e-6)
	iBack, tBack := windupRun(t, "back_calculation")
	iCond, tCond := windupRun(t, "conditional")
	// Back-calculation holds the integral where Ki*e balances the tracking
	// term: OutMax - P + Ki*e*Tt = 10 - 5 + 5*1 (Tt = Ti = 1 s), less a
	// little for the discrete step; conditional stops integrating as soon as
	// the output is limited.
	if iBack < 9 || iBack > 10 {
		t.Errorf("back_calculation: integral %v while saturated, want about 10", iBack)
	}
	if iCond > 5.5 {
		t.Errorf("conditional: integral %v while saturated, want at most OutMax - P + one step", iCond)
	}
	if tBack > 5 || tCond > 5 {
		t.Errorf("leaving the limit took %d ticks (back_calculation), %d (conditional), want a few", tBack, tCond)
	}
	if tNone < 10*max(tBack, tCond) {
		t.Errorf("without anti-windup leaving the limit took %d ticks, not much longer than %d/%d: the comparison shows nothing", tNone, tBack, tCond)
	}
}

// TestPIDManualToAutomaticIsBumpless: the first automatic output continues
// from the last manual one, moved only by one integration step.
func TestPIDManualToAutomaticIsBumpless(t *testing.T) {
	h := newPID(t, "", "Kp: 2, Ki: 0.5, Kd: 3, Wd: 1")
	h.Set("Manual", true)
	h.Set("ManualValue", 40.0)
	h.Set("SP", 10.0)
	h.Set("PV", 7.0)
	h.Step(5)
	near(t, "manual Out", h.Float("Out"), 40, 0)
	h.Set("ManualValue", 2000.0)
	h.Step(1)
	near(t, "manual Out clamped", h.Float("Out"), 1000, 0)
	if !blocktest.Bool(t, h, "Limited") {
		t.Fatal("Limited false with a clamped manual value")
	}
	h.Set("ManualValue", 42.0)
	h.Step(1)
	h.Set("Manual", false)
	h.Step(1)
	near(t, "first automatic Out", h.Float("Out"), 42+0.5*3*0.1, 1e-9)
	// Back in manual without a ManualValue routed, the output is held.
	h2 := runtimetest.New(t, control.PID, "fs: 10")
	h2.Set("FF", 0.0)
	h2.Set("SP", 1.0)
	h2.Set("PV", 0.0)
	h2.Set("Manual", false)
	h2.Step(3)
	held := h2.Float("Out")
	h2.Set("Manual", true)
	h2.Step(3)
	if h2.Quality("Out") != signals.Initial {
		t.Fatalf("ManualValue routed but never received: quality %v, want initial", h2.Quality("Out"))
	}
	near(t, "Out held", h2.Float("Out"), held, 0)
}

func TestPIDBadInputsHoldEverything(t *testing.T) {
	h := newPID(t, "", "Kp: 1, Ki: 1")
	h.Set("SP", 1.0)
	h.Step(5)
	if h.Quality("Out") != signals.Initial || h.Float("I") != 0 {
		t.Fatalf("before PV: Out %v (%v), I %v: want nothing integrated", h.Float("Out"), h.Quality("Out"), h.Float("I"))
	}
	h.Set("PV", 0.0)
	h.Step(1)
	i := h.Float("I")
	near(t, "I after one tick", i, 0.1, 1e-12)
	for _, bad := range []float64{math.NaN(), math.Inf(1)} {
		h.Set("PV", bad)
		h.Step(3)
		if h.Quality("Out") != signals.BadInput || h.Float("I") != i {
			t.Fatalf("PV %v: Out quality %v, I %v, want bad input and I held at %v", bad, h.Quality("Out"), h.Float("I"), i)
		}
	}
	h.SetQ("PV", 0.0, signals.Stale)
	h.Step(1)
	near(t, "I after PV is back (stale)", h.Float("I"), i+0.1, 1e-12)
	if h.Quality("Out") != signals.Stale {
		t.Fatalf("quality %v, want stale", h.Quality("Out"))
	}
	h.SetParam("Kp", math.NaN())
	h.Step(1)
	if h.Quality("Out") != signals.BadInput || h.Float("I") != i+0.1 {
		t.Fatalf("Kp NaN: quality %v, I %v", h.Quality("Out"), h.Float("I"))
	}
	h.SetParam("Kp", 1.0)
	h.Step(1)
	if h.Quality("Out") != signals.Stale || !signals.Finite(h.Float("Out")) {
		t.Fatalf("after Kp NaN: %v (%v)", h.Float("Out"), h.Quality("Out"))
	}
}

// TestPIDSetpointParameterWhenSPIsNotRouted loads a PID whose SP, FF,
// Manual and ManualValue are not routed: the Setpoint parameter is used,
// and the unrouted inputs do not hold its output as initial.
func TestPIDSetpointParameterWhenSPIsNotRouted(t *testing.T) {
	app := loadLoop(t, "back_calculation", "Setpoint: 5")
	app.Advance(100 * time.Millisecond) // the model's first output reaches the PID a tick later
	if out, _ := app.Signal("Loop.Ctrl.Out"); out.Quality() != signals.Initial {
		t.Fatalf("Out before PV has a value: %v, want initial", out.Quality())
	}
	app.Advance(100 * time.Millisecond)
	out, _ := app.Signal("Loop.Ctrl.Out")
	if out.Quality() != signals.Good {
		t.Fatalf("Out quality %v, want good", out.Quality())
	}
	if v, _ := out.Value().Float(); math.Abs(v-(2.5*5+0.3125*5*0.1)) > 1e-9 {
		t.Fatalf("first Out %v, want Kp*5 + Ki*5*dt", v)
	}
}

func TestPIDConfigErrorsNameTheKey(t *testing.T) {
	_, err := runtime.LoadBytes("p.yaml", []byte("application: A\ncomponents:\n  - name: C\n    type: PID\n    config:\n      anti_windup: clamp\n"),
		runtime.MustRegistry(control.PID), runtime.LoadOptions{Scheduler: scheduler.Options{Virtual: true}})
	if err == nil || !strings.Contains(err.Error(), "p.yaml:6:") || !strings.Contains(err.Error(), `"clamp"`) {
		t.Fatalf("error %v, want one at p.yaml:6 naming clamp", err)
	}
}
