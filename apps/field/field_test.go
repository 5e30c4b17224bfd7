// Package field_test runs the field installation as a user would: the
// runtime binary, built from this tree, runs the controller, the simulated
// devices and the supervisor as processes on 127.0.0.1, on free ports and
// in temporary directories, with the embedded broker and with Debian's
// mosquitto. The tests watch them the way a user does: every message on the
// broker (a subscriber to '#'), and the live views.
package field_test

import (
	"context"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/metronome-rt/metronome/internal/mqtttest"
	"github.com/metronome-rt/metronome/view"
)

// The installation's settings in these tests: the profile turns in 4 s
// and the meter reports ten times a second, so a run sees the thresholds
// crossed many times in a few seconds; keep-alives are short, so that a
// silent device or broker is noticed within seconds.
const (
	threshold0 = 25.0 // the supervisor's Threshold (supervisor.yaml; the controller's file says 26)
	threshold1 = 27.0 // what the test sets through the supervisor's live view
	hysteresis = 1.0  // controller.yaml
	keepAlive  = 2 * time.Second
)

// installation is one run of the field installation.
type installation struct {
	t                               *testing.T
	bin, dir, locks                 string
	port, ctlView, supView, devView int
	env                             []string
	ctl, sim, sup                   *proc
	mosquitto                       *proc // the broker, when it is not the controller's own
	mosquittoConf                   string
	w                               *watcher
}

func newInstallation(t *testing.T, external bool) *installation {
	in := &installation{t: t, bin: binary(t), dir: t.TempDir(), locks: t.TempDir()}
	in.port, in.ctlView, in.supView, in.devView = mqtttest.FreePort(t), mqtttest.FreePort(t), mqtttest.FreePort(t), mqtttest.FreePort(t)
	broker := "embedded"
	if external {
		broker = "external"
	}
	in.env = []string{
		"FIELD_PORT=" + itoa(in.port), "FIELD_BROKER=" + broker, "FIELD_STATE=" + filepath.Join(in.dir, "state"),
		"FIELD_VIEW_PORT=" + itoa(in.ctlView), "SUPERVISOR_VIEW_PORT=" + itoa(in.supView), "DEVICES_VIEW_PORT=" + itoa(in.devView),
		"FIELD_KEEPALIVE=" + keepAlive.String(), "FIELD_METER_MAX_AGE=1s",
		"TELEPERIOD=100ms", "ROOM_FREQUENCY=0.25", "ROOM_NOISE=0.05",
		"DEVICE_KEEPALIVE=" + keepAlive.String(), "DEVICE_RETRY=500ms",
	}
	if external {
		in.mosquittoConf = in.writeMosquittoConf()
		in.startMosquitto()
	}
	return in
}

// writeMosquittoConf is apps/field/mosquitto.conf on this test's port and
// directory: the file the README gives users, otherwise as it is.
func (in *installation) writeMosquittoConf() string {
	data, err := os.ReadFile("mosquitto.conf")
	if err != nil {
		in.t.Fatal(err)
	}
	text := string(data)
	state := mqtttest.MosquittoDir(in.t)
	for old, repl := range map[string]string{
		"listener 1883 127.0.0.1":    fmt.Sprintf("listener %d 127.0.0.1", in.port),
		"persistence_location /tmp/": "persistence_location " + state + "/",
	} {
		if !strings.Contains(text, old) {
			in.t.Fatalf("mosquitto.conf has no line %q", old)
		}
		text = strings.Replace(text, old, repl, 1)
	}
	for _, want := range []string{"persistence true", "allow_anonymous true"} {
		if !strings.Contains(text, want) {
			in.t.Fatalf("mosquitto.conf has no line %q", want)
		}
	}
	conf := filepath.Join(in.dir, "mosquitto.conf")
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		in.t.Fatal(err)
	}
	return conf
}

func (in *installation) startMosquitto() {
	bin := mqtttest.RequireTool(in.t, "mosquitto")
	in.mosquitto = startProc(in.t, "mosquitto", nil, bin, "-c", in.mosquittoConf)
	eventually(in.t, 10*time.Second, "mosquitto accepts connections", func() (bool, string) {
		if in.mosquitto.exited() {
			in.t.Fatalf("mosquitto exited: %s", in.mosquitto.logs.String())
		}
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", in.port), time.Second)
		if err != nil {
			return false, err.Error()
		}
		c.Close()
		return true, ""
	})
}

func (in *installation) run(name, file string) *proc {
	return startProc(in.t, name, in.env, in.bin, "run", "--log-format", "json", "--lock-dir", in.locks, file)
}

// logs prints the processes' last log lines when the test fails.
func (in *installation) logs() {
	if !in.t.Failed() {
		return
	}
	for _, p := range []*proc{in.ctl, in.sim, in.sup, in.mosquitto} {
		if p != nil {
			in.t.Logf("--- %s:\n%s", p.name, tail(p.logs.String(), 30))
		}
	}
}

// The installation with the broker inside the controller, as the README's
// two terminals run it.
func TestFieldWithEmbeddedBroker(t *testing.T) {
	t.Parallel()
	exercise(t, newInstallation(t, false))
}

// The same installation with Debian's mosquitto as the broker
// (mosquitto.conf) and the controller without one (FIELD_BROKER=external).
func TestFieldWithMosquitto(t *testing.T) {
	t.Parallel()
	exercise(t, newInstallation(t, true))
}

func exercise(t *testing.T, in *installation) {
	defer in.logs()
	external := in.mosquitto != nil

	// The controller and the supervisor are checked together, as a user
	// would before starting them.
	cmd := exec.Command(in.bin, "validate", "controller.yaml", "supervisor.yaml", "simulator.yaml")
	cmd.Env = append(os.Environ(), in.env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("runtime validate: %v\n%s", err, out)
	}

	// Start: the controller, then the supervisor, which writes its
	// threshold to the controller as soon as it is born; then the devices.
	in.ctl = in.run("controller", "controller.yaml")
	eventually(t, 20*time.Second, "the controller connects", is(in.ctlView, "Field.Mqtt.Connected", "true", "good"))
	in.sup = in.run("supervisor", "supervisor.yaml")
	eventually(t, 20*time.Second, "the supervisor writes its threshold", allOf(
		is(in.ctlView, "Field.Cooling.Threshold", "25", "good"),
		is(in.supView, "Supervisor.System.Field_Online", "true", "good"),
	))
	in.w = watch(t, in.port)
	in.sim = in.run("devices", "simulator.yaml")

	// 1. The switch toggles at the thresholds as the temperature ramps up
	// and down; the bulb follows the humidity within its limits.
	eventually(t, 60*time.Second, "five switch commands: the first and four changes", func() (bool, string) {
		n := len(collapse(in.w.on(0, "cmnd/switch/POWER")))
		return n >= 5, fmt.Sprintf("%d", n)
	})
	time.Sleep(500 * time.Millisecond) // five more readings: no crossing comes that soon
	msgs := in.w.since(0)
	checkSwitching(t, msgs, threshold0, false, false)
	checkDimming(t, msgs, true)
	eventually(t, 10*time.Second, "the devices answer every command", func() (bool, string) {
		cmds, stats := collapse(in.w.on(0, "cmnd/switch/POWER")), collapse(in.w.on(0, "stat/switch/POWER"))
		dims, results := in.w.on(0, "cmnd/bulb/Dimmer"), in.w.on(0, "stat/bulb/RESULT")
		lastDim := dims[len(dims)-1]
		okBulb := len(results) > 0 && results[len(results)-1] == fmt.Sprintf(`{"POWER":"ON","Dimmer":%s}`, lastDim)
		return slices.Equal(cmds, stats[:min(len(stats), len(cmds))]) && len(stats) >= len(cmds) && okBulb,
			fmt.Sprintf("commands %v, states %v; last dimmer %s, results %v", cmds, stats, lastDim, results[max(0, len(results)-2):])
	})
	watched := []string{"Field.Alarms.MeterOffline.Alarm", "Field.Alarms.SwitchOffline.Alarm", "Field.Alarms.BulbOffline.Alarm",
		"Field.Mqtt.SensorQuality", "Field.Alarms.SwitchMismatch.Discrepancy", "Field.Alarms.BulbMismatch.Discrepancy", "Field.Mqtt.TransmissionError"}
	eventually(t, 10*time.Second, "no alarm while everything works", alarmsAre(in.ctlView, watched))

	// 2. The operator sets a new threshold in the supervisor's live view;
	// the system writes it to the controller, which switches at it.
	setThreshold(t, in.supView, threshold1)
	eventually(t, 15*time.Second, "the new threshold reaches the controller", allOf(
		is(in.ctlView, "Field.Cooling.Threshold", "27", "good"),
		is(in.supView, "Supervisor.System.Threshold_Result", `"Field.Cooling.Threshold = 27: accepted"`, "good"),
	))
	time.Sleep(time.Second) // a command decided before the write has arrived by now
	from := in.w.len()
	cmds := collapse(in.w.on(0, "cmnd/switch/POWER"))
	was := cmds[len(cmds)-1] == "ON"
	eventually(t, 30*time.Second, "two switch changes at the new threshold", func() (bool, string) {
		n := len(collapse(in.w.on(from, "cmnd/switch/POWER")))
		return n >= 2, fmt.Sprintf("%d", n)
	})
	time.Sleep(500 * time.Millisecond)
	checkSwitching(t, in.w.since(from), threshold1, was, true)

	// 3. The devices freeze: their connections stay open, but they send
	// nothing. Within 1.5 keep-alives the broker gives up on them and
	// publishes their wills; the controller's device inputs turn comm lost
	// and its alarms are raised. Then the frozen process is killed.
	stopped := time.Now()
	in.sim.cmd.Process.Signal(syscall.SIGSTOP)
	eventually(t, 20*time.Second, "comm lost once the devices' keep-alive runs out", allOf(
		is(in.ctlView, "Field.Mqtt.Temperature", "", "comm lost"),
		is(in.ctlView, "Field.Mqtt.SwitchState", "", "comm lost"),
		is(in.ctlView, "Field.Mqtt.BulbLevel", "", "comm lost"),
		is(in.ctlView, "Field.Mqtt.SwitchOnline", "false", "good"),
	))
	t.Logf("device inputs comm lost %v after the devices froze (keep-alive %v)", time.Since(stopped).Round(10*time.Millisecond), keepAlive)
	eventually(t, 20*time.Second, "the alarms of devices that are gone", alarmsAre(in.ctlView, watched,
		"Field.Alarms.MeterOffline.Alarm", "Field.Alarms.SwitchOffline.Alarm", "Field.Alarms.BulbOffline.Alarm",
		"Field.Mqtt.SensorQuality", "Field.Alarms.SwitchMismatch.Discrepancy", "Field.Alarms.BulbMismatch.Discrepancy"))
	t.Logf("alarms raised %v after the devices froze", time.Since(stopped).Round(10*time.Millisecond))
	eventually(t, 15*time.Second, "the supervisor mirrors the field's alarms", alarmsAre(in.supView,
		[]string{"Supervisor.FieldAlarms.SwitchOffline.Alarm", "Supervisor.System.Field_Offline"}, "Supervisor.FieldAlarms.SwitchOffline.Alarm"))
	in.sim.kill()

	// 4. While the switch is away the test plays the meter, and the
	// controller sends five commands: the broker keeps them, in order, in
	// the switch's session.
	meter := newClient(t, in.port, "field-test-meter", true, nil)
	publish(t, meter, "tele/meter/LWT", true, "Online")
	vals, err := get(in.ctlView, "Field.Cooling.Out")
	if err != nil {
		t.Fatal(err)
	}
	on := string(vals["Field.Cooling.Out"].V) == "true"
	var sent []string
	for range 5 {
		on = !on
		temp, want := 23.0, "OFF"
		if on {
			temp, want = 28.0, "ON"
		}
		before := len(in.w.on(0, "cmnd/switch/POWER"))
		publish(t, meter, "tele/meter/SENSOR", false, fmt.Sprintf(`{"AM2301":{"Temperature":%.1f,"Humidity":60.0},"TempUnit":"C"}`, temp))
		eventually(t, 10*time.Second, "the controller commands "+want, func() (bool, string) {
			c := in.w.on(0, "cmnd/switch/POWER")
			return len(c) > before && c[len(c)-1] == want, fmt.Sprint(c[before:])
		})
		sent = append(sent, want)
	}

	// 5. The controller is killed (with the embedded broker: the broker
	// host). The supervisor's view of it turns comm lost; after the
	// restart it recovers with the controller's next birth, and the
	// supervisor writes its threshold again (the file says 26).
	in.ctl.kill()
	eventually(t, 20*time.Second, "the supervisor sees the controller gone", allOf(
		is(in.supView, "Supervisor.Room.Temperature.In", "", "comm lost"),
		is(in.supView, "Supervisor.System.Field_Online", "false", "good"),
	))
	in.ctl = in.run("controller", "controller.yaml")
	eventually(t, 30*time.Second, "the controller is back and born again", allOf(
		is(in.ctlView, "Field.Cooling.Threshold", "27", "good"),
		is(in.supView, "Supervisor.System.Field_Online", "true", "good"),
	))
	before := len(in.w.on(0, "cmnd/switch/POWER"))
	publish(t, meter, "tele/meter/SENSOR", false, `{"AM2301":{"Temperature":23.0,"Humidity":60.0},"TempUnit":"C"}`)
	eventually(t, 15*time.Second, "the restarted controller commands OFF, and the supervisor sees the reading", allOf(
		func() (bool, string) {
			c := in.w.on(0, "cmnd/switch/POWER")
			return len(c) > before && c[len(c)-1] == "OFF", fmt.Sprint(c[before:])
		},
		is(in.supView, "Supervisor.Room.Temperature.In", "23", "good"),
	))
	sent = append(sent, "OFF")
	if external {
		// mosquitto too restarts; its persistence keeps the switch's session.
		in.mosquitto.stop()
		in.startMosquitto()
		eventually(t, 30*time.Second, "everyone reconnects to the restarted mosquitto", allOf(
			is(in.ctlView, "Field.Mqtt.Connected", "true", "good"),
			is(in.supView, "Supervisor.System.Field_Online", "true", "good"),
		))
	}

	// 6. The switch returns (the test connects with its client ID and its
	// persistent session, as the device would): it gets every command sent
	// while it was away, in order, none lost to the restarts, none twice.
	var mu = make(chan []string, 1)
	mu <- nil
	sw := newClient(t, in.port, "DVES_switch", false, func(o *paho.ClientOptions) {
		o.SetWill("tele/switch/LWT", "Offline", 1, true)
		o.SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			if m.Topic() == "cmnd/switch/POWER" {
				got := <-mu
				mu <- append(got, string(m.Payload()))
			}
		})
	})
	received := func() []string { got := <-mu; mu <- got; return got }
	eventually(t, 15*time.Second, fmt.Sprintf("the switch receives %v", sent), func() (bool, string) {
		return len(received()) >= len(sent), fmt.Sprint(received())
	})
	time.Sleep(time.Second) // anything more would come now
	// A controller that reconnects to a broker that restarted sends its
	// current command again (on_connect): repeats of the last are no loss.
	got := received()
	for len(got) > len(sent) && got[len(got)-1] == sent[len(sent)-1] {
		got = got[:len(got)-1]
	}
	if !slices.Equal(got, sent) {
		t.Errorf("the switch received %v while away, want %v (and nothing else but repeats of the last)", received(), sent)
	}
	sw.Disconnect(100)
	meter.Disconnect(100)

	// 7. The devices return: good values, no alarms, and the switch in the
	// state the controller commands.
	in.sim = in.run("devices", "simulator.yaml")
	eventually(t, 30*time.Second, "the devices' values are good again", allOf(
		is(in.ctlView, "Field.Mqtt.Temperature", "", "good"),
		is(in.ctlView, "Field.Mqtt.SwitchState", "", "good"),
		is(in.ctlView, "Field.Mqtt.BulbLevel", "", "good"),
		is(in.supView, "Supervisor.Room.Temperature.In", "", "good"),
	))
	eventually(t, 20*time.Second, "the switch is in the commanded state", func() (bool, string) {
		v, err := get(in.ctlView, "Field.Cooling.Out", "Field.Mqtt.SwitchState")
		if err != nil {
			return false, err.Error()
		}
		c, s := v["Field.Cooling.Out"], v["Field.Mqtt.SwitchState"]
		return string(c.V) == string(s.V) && s.Q == "good", fmt.Sprintf("command %s (%s), state %s (%s)", c.V, c.Q, s.V, s.Q)
	})
	eventually(t, 20*time.Second, "the alarms clear", alarmsAre(in.ctlView, watched))

	// 8. The devices are killed outright: their sockets close, the broker
	// publishes their wills at once.
	killed := time.Now()
	in.sim.kill()
	eventually(t, 20*time.Second, "comm lost and offline alarms once the devices are killed", allOf(
		is(in.ctlView, "Field.Mqtt.Temperature", "", "comm lost"),
		is(in.ctlView, "Field.Mqtt.SwitchState", "", "comm lost"),
		is(in.ctlView, "Field.Mqtt.BulbLevel", "", "comm lost"),
		is(in.ctlView, "Field.Alarms.MeterOffline.Active", "true", "good"),
		is(in.ctlView, "Field.Alarms.SwitchOffline.Active", "true", "good"),
		is(in.ctlView, "Field.Alarms.BulbOffline.Active", "true", "good"),
	))
	t.Logf("device inputs comm lost and offline alarms raised %v after SIGKILL (alarm delay 2s)", time.Since(killed).Round(10*time.Millisecond))

	// A clean stop of the rest.
	in.sup.stop()
	in.ctl.stop()
	if in.mosquitto != nil {
		in.mosquitto.stop()
	}
}

// setThreshold logs in to the supervisor's live view as the README says
// and sets its threshold.
func setThreshold(t *testing.T, port int, v float64) {
	t.Helper()
	err := onView(port, func(ctx context.Context, c *view.Client) error {
		if err := c.Login(ctx, "op", "change-me"); err != nil {
			return err
		}
		res, err := c.Write(ctx, "set", "Supervisor.Threshold.Value", v)
		if err == nil && !res.OK {
			err = fmt.Errorf("refused: %s", res.Error)
		}
		return err
	})
	if err != nil {
		t.Fatalf("set Supervisor.Threshold.Value %v: %v", v, err)
	}
}

// collapse drops repeats of the same command in a row: a device that comes
// back online is sent its current command again (devices: republish).
func collapse(cmds []string) []string { return slices.Compact(slices.Clone(cmds)) }

// checkSwitching checks the switch's commands in msgs against a Comparator
// (threshold th, hysteresis) fed the meter's readings in msgs, in the order
// the broker passed them on: the same commands, each published after the
// reading that crossed its threshold. started says whether a command was
// published before msgs (on is then the switch's state); otherwise the
// first reading gives the first command, whatever it is.
func checkSwitching(t *testing.T, msgs []message, th float64, on, started bool) {
	t.Helper()
	type cmd struct {
		v  string
		at int // index in msgs
	}
	var want, got []cmd
	ready := started
	last := "" // the switch's command so far
	if started {
		last = map[bool]string{true: "ON", false: "OFF"}[on]
	}
	for i, m := range msgs {
		switch m.topic {
		case "tele/meter/SENSOR":
			temp, _ := sensor(t, m.payload)
			next := on
			switch {
			case temp > th:
				next = true
			case temp < th-hysteresis:
				next = false
			}
			if next != on || !ready {
				want = append(want, cmd{map[bool]string{true: "ON", false: "OFF"}[next], i})
			}
			on, ready = next, true
		case "cmnd/switch/POWER":
			if m.payload == last {
				continue // the current command again, for a device that came back
			}
			got = append(got, cmd{m.payload, i})
			last = m.payload
		}
	}
	if len(got) == 0 || len(want) < len(got) || len(want) > len(got)+1 {
		t.Fatalf("threshold %v: commands %v, want %v (a last crossing may have had no command yet)", th, got, want)
	}
	for i := range got {
		if got[i].v != want[i].v || got[i].at < want[i].at {
			t.Fatalf("threshold %v: command %d is %s at message %d, want %s after the reading at message %d\ncommands %v\nwant %v",
				th, i, got[i].v, got[i].at, want[i].v, want[i].at, got, want)
		}
	}
	t.Logf("threshold %v, hysteresis %v: %d switch commands at the crossings: %v", th, hysteresis, len(got), got)
}

// checkDimming checks the bulb's commands: each is the humidity of a
// reading before it (and not before the reading of the previous command),
// scaled from 30..90 % to 0..100 % and limited to 5..80 (controller.yaml);
// with limits, both were reached. A controller that lags behind the
// readings still passes; one that computes a value from no reading does
// not.
func checkDimming(t *testing.T, msgs []message, limits bool) {
	t.Helper()
	var hums []float64
	var lo, hi, n, from int
	for _, m := range msgs {
		switch m.topic {
		case "tele/meter/SENSOR":
			_, h := sensor(t, m.payload)
			hums = append(hums, h)
		case "cmnd/bulb/Dimmer":
			n++
			var d float64
			if _, err := fmt.Sscan(m.payload, &d); err != nil {
				t.Fatalf("dimmer command %q", m.payload)
			}
			match := -1
			for i := from; i < len(hums) && match < 0; i++ {
				if math.Abs(d-dimmer(hums[i])) <= 0.5+1e-9 {
					match = i
				}
			}
			if match < 0 || d < 5 || d > 80 {
				t.Fatalf("dimmer command %d is %v; the humidity since the previous command was %v", n, d, hums[min(from, len(hums)):])
			}
			from = match
			switch d {
			case 5:
				lo++
			case 80:
				hi++
			}
		}
	}
	if n == 0 || limits && (lo == 0 || hi == 0) {
		t.Fatalf("%d dimmer commands, %d at the lower limit, %d at the upper: the humidity's swing must reach both", n, lo, hi)
	}
	t.Logf("%d dimmer commands, %d at the lower limit 5, %d at the upper 80", n, lo, hi)
}

// dimmer is controller.yaml's Light and Dimmer: LinearScale 30..90 to
// 0..100 with Clamp, then Limiter 5..80.
func dimmer(h float64) float64 {
	y := 0 + (h-30)*(100-0)/(90-30)
	return math.Min(math.Max(math.Min(math.Max(y, 0), 100), 5), 80)
}
