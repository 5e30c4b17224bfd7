// Package apps_test runs the example applications as a user would.
package apps_test

import (
	"context"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/metronome-rt/metronome/components/all"
	"github.com/metronome-rt/metronome/internal/mqtttest"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/scheduler"
	"github.com/metronome-rt/metronome/signals"
)

// startPlant starts apps/plant.yaml on the virtual clock (its I/O for
// real) with its broker on port and its state in dir.
func startPlant(t *testing.T, port int, dir string) *runtime.App {
	t.Helper()
	env := map[string]string{"PLANT_PORT": strconv.Itoa(port), "PLANT_STATE": dir}
	app, err := runtime.Load("plant.yaml", all.Registry(), runtime.LoadOptions{
		Env:       func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		Log:       zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		Scheduler: scheduler.Options{Virtual: true},
		OnAlarm:   func(runtime.AlarmEvent) {},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return app
}

func stopPlant(t *testing.T, app *runtime.App) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := app.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

// runUntil advances the plant 20 ms at a time, a millisecond of real time
// apart, until cond holds or 10 s of real time pass.
func runUntil(app *runtime.App, cond func() bool) bool {
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		app.Advance(20 * time.Millisecond)
		time.Sleep(time.Millisecond)
	}
	return true
}

func sig(t *testing.T, app *runtime.App, path string) signals.Port {
	t.Helper()
	p, ok := app.Signal(path)
	if !ok {
		t.Fatalf("no signal %s", path)
	}
	return p
}

// TestPlantRetainedSetpointDrivesHeaterAfterRestart is issue 9 item 2 on
// the example: the setpoint is published retained, as the file's comment
// says; after a restart it comes back from the broker's state as the last
// known value and drives the heater before anyone publishes it again.
func TestPlantRetainedSetpointDrivesHeaterAfterRestart(t *testing.T) {
	pub := mqtttest.RequireTool(t, "mosquitto_pub")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()

	app := startPlant(t, port, dir)
	connected := func(app *runtime.App) func() bool {
		return func() bool { c, _ := sig(t, app, "Plant.Mqtt.Connected").Value().Bool(); return c }
	}
	if !runUntil(app, connected(app)) {
		stopPlant(t, app)
		t.Fatal("the plant's client did not connect to its broker")
	}
	if n, _ := sig(t, app, "Plant.Mqtt.HeaterPowerCount").Value().Uint(); n != 0 {
		t.Errorf("the heater was commanded before any setpoint: %d messages", n)
	}
	out, err := exec.Command(pub, "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-t", "plant/setpoint", "-m", "23.5", "-r", "-q", "1").CombinedOutput()
	if err != nil {
		stopPlant(t, app)
		t.Fatalf("mosquitto_pub: %v\n%s", err, out)
	}
	if !runUntil(app, func() bool { n, _ := sig(t, app, "Plant.Mqtt.HeaterPowerCount").Value().Uint(); return n > 0 }) {
		stopPlant(t, app)
		t.Fatal("a live setpoint did not drive the heater")
	}
	stopPlant(t, app)

	// The restart: nobody publishes the setpoint again.
	app = startPlant(t, port, dir)
	defer stopPlant(t, app)
	heater := func() bool { n, _ := sig(t, app, "Plant.Mqtt.HeaterPowerCount").Value().Uint(); return n > 0 }
	if !runUntil(app, heater) {
		sp := sig(t, app, "Plant.Mqtt.Setpoint")
		t.Fatalf("after the restart the heater was never commanded: setpoint %v (%v)", sp.Value(), sp.Quality())
	}
	sp := sig(t, app, "Plant.Mqtt.Setpoint")
	if v, _ := sp.Value().Float(); v != 23.5 || sp.Quality() != signals.LastKnown {
		t.Errorf("setpoint after the restart %v (%v), want 23.5, last known", sp.Value(), sp.Quality())
	}
	hp := sig(t, app, "Plant.Heater.Out")
	if v, _ := hp.Value().Float(); v != 94 || hp.Quality() != signals.LastKnown {
		t.Errorf("heater power %v (%v), want 94 from the last known setpoint", hp.Value(), hp.Quality())
	}
	if a, ok := app.Find("Mqtt"); ok {
		if al, _ := a.Alarm("SetpointQuality"); al.Active() {
			t.Errorf("SetpointQuality raised with a setpoint: %q", al.Text())
		}
	}
}
