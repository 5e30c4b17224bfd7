package control_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/metronome-rt/metronome/components/control"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/scheduler"
	"github.com/metronome-rt/metronome/signals"
)

// The closed loop: a PID at 10 Hz controls a first-order-plus-dead-time
// process K = 2, T = 10 s, L = 1 s, tuned by the SIMC rules with tau_c = L:
// Kp = T/(K*(tau_c + L)) = 2.5, Ti = min(T, 4*(tau_c + L)) = 8 s, so
// Ki = Kp/Ti = 0.3125 /s. Its output is limited to 0..100.
const loopYAML = `application: Loop
fs: 10
components:
  - name: Ctrl
    type: PID
    config: {anti_windup: %s}
    parameters: {Kp: 2.5, Ki: 0.3125, OutMin: 0, OutMax: 100, %s}
    inputs: {PV: {route: Loop.Plant.Out, delay: true}}
  - name: Plant
    type: FOPDT
    parameters: {K: 2, T: 10, L: 1}
    inputs: {In: Loop.Ctrl.Out}
`

var loopReg = runtime.MustRegistry(control.PID, control.FOPDT)

func loadLoop(t *testing.T, antiWindup, params string) *runtime.App {
	t.Helper()
	app, err := runtime.LoadBytes("loop.yaml", []byte(fmt.Sprintf(loopYAML, antiWindup, params)), loopReg,
		runtime.LoadOptions{Scheduler: scheduler.Options{Virtual: true}})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Stop(context.Background()) })
	return app
}

func param(t *testing.T, app *runtime.App, comp, name string, v float64) {
	t.Helper()
	n, _ := app.Find(comp)
	p, ok := n.Param(name)
	if !ok {
		t.Fatalf("%s has no parameter %s", comp, name)
	}
	if err := p.SetValue(signals.FloatValue(v)); err != nil {
		t.Fatal(err)
	}
}

func value(t *testing.T, app *runtime.App, path string) float64 {
	t.Helper()
	p, ok := app.Signal(path)
	if !ok {
		t.Fatalf("no signal %s", path)
	}
	v, _ := p.Value().Float()
	return v
}

// response runs the loop for d and reports the process value's overshoot
// past target (as a fraction of the step from start) and the time after
// which it stays within 2 % of the step around target.
func response(t *testing.T, app *runtime.App, start, target float64, d time.Duration) (overshoot float64, settle time.Duration) {
	t.Helper()
	step := target - start
	const tick = 100 * time.Millisecond
	for at := tick; at <= d; at += tick {
		app.Advance(tick)
		pv := value(t, app, "Loop.Plant.Out")
		overshoot = math.Max(overshoot, (pv-target)/step)
		if math.Abs(pv-target) > 0.02*math.Abs(step) {
			settle = at
		}
	}
	return overshoot, settle
}

// TestLoopSetpointStep: a setpoint step from 0 to 10 settles within 2 %
// in under 12 s with an overshoot under 12 % (measured: 10.0 %, 8.9 s).
func TestLoopSetpointStep(t *testing.T) {
	app := loadLoop(t, "back_calculation", "Setpoint: 10")
	overshoot, settle := response(t, app, 0, 10, 60*time.Second)
	t.Logf("setpoint step 0 -> 10: overshoot %.1f %%, settled (2 %%) after %s", overshoot*100, settle)
	if overshoot > 0.12 || settle > 12*time.Second {
		t.Fatalf("overshoot %.1f %% (limit 12 %%), settling %s (limit 12 s)", overshoot*100, settle)
	}
}

// saturationRun asks for an unreachable setpoint (the output limit 3 lets
// the process reach 6 only) for 120 s, then for a reachable one, and
// returns the recovery's overshoot and settling time.
func saturationRun(t *testing.T, antiWindup string) (float64, time.Duration) {
	app := loadLoop(t, antiWindup, "Setpoint: 10")
	param(t, app, "Loop.Ctrl", "OutMax", 3)
	app.Advance(120 * time.Second)
	if pv := value(t, app, "Loop.Plant.Out"); math.Abs(pv-6) > 0.01 {
		t.Fatalf("%s: process value %v while saturated, want 6", antiWindup, pv)
	}
	param(t, app, "Loop.Ctrl", "Setpoint", 4)
	return response(t, app, 6, 4, 120*time.Second)
}

// TestLoopRecoversFromSaturationWithoutWindup: after two minutes against
// the output limit, a reachable setpoint settles within 2 % in under 20 s
// with an undershoot under 10 % with back-calculation (measured: 7.4 %,
// 13.4 s), and in under 40 s with conditional integration (measured:
// 34 %, 29 s: the integral it froze when the limit was hit is not the one
// the new setpoint needs). Without anti-windup it has not settled after
// two minutes.
func TestLoopRecoversFromSaturationWithoutWindup(t *testing.T) {
	for _, c := range []struct {
		method    string
		overshoot float64
		settle    time.Duration
	}{
		{"back_calculation", 0.10, 20 * time.Second},
		{"conditional", 0.40, 40 * time.Second},
	} {
		over, settle := saturationRun(t, c.method)
		t.Logf("%s: recovery from saturation: overshoot %.1f %%, settled after %s", c.method, over*100, settle)
		if over > c.overshoot || settle > c.settle {
			t.Errorf("%s: overshoot %.1f %% (limit %.0f %%), settling %s (limit %s)", c.method, over*100, c.overshoot*100, settle, c.settle)
		}
	}
	over, settle := saturationRun(t, "none")
	t.Logf("none: recovery from saturation: overshoot %.1f %%, settled after %s", over*100, settle)
	if settle < 120*time.Second {
		t.Errorf("without anti-windup the loop settled after %s: the windup this test guards against did not show", settle)
	}
}

// TestLoopManualToAutomaticWithoutBump: after 150 s in manual at 2
// (the process settles at 4), switching to automatic with the setpoint at
// 4 leaves the output where it was and the process value undisturbed.
func TestLoopManualToAutomaticWithoutBump(t *testing.T) {
	app := loadLoop(t, "back_calculation", "Setpoint: 4")
	manual, _ := app.Signal("Loop.Ctrl.Manual")
	manVal, _ := app.Signal("Loop.Ctrl.ManualValue")
	manual.SetValue(signals.BoolValue(true), signals.Good, 1)
	manVal.SetValue(signals.FloatValue(2), signals.Good, 1)
	app.Advance(150 * time.Second)
	last := value(t, app, "Loop.Ctrl.Out")
	if last != 2 {
		t.Fatalf("manual output %v, want 2", last)
	}
	manual.SetValue(signals.BoolValue(false), signals.Good, 2)
	var worstOut, worstPV float64
	for range 300 {
		app.Advance(100 * time.Millisecond)
		worstOut = math.Max(worstOut, math.Abs(value(t, app, "Loop.Ctrl.Out")-2))
		worstPV = math.Max(worstPV, math.Abs(value(t, app, "Loop.Plant.Out")-4))
	}
	t.Logf("after manual -> automatic: output moved at most %.2g, process value %.2g", worstOut, worstPV)
	if worstOut > 0.001 || worstPV > 0.001 {
		t.Fatalf("manual -> automatic bumped: output moved %v, process value %v", worstOut, worstPV)
	}
}
