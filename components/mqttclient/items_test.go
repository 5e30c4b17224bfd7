package mqttclient_test

import (
	"bufio"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/metronome-rt/metronome/components/mqttclient"
	"github.com/metronome-rt/metronome/internal/mqtttest"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/runtime/runtimetest"
	"github.com/metronome-rt/metronome/scheduler"
	"github.com/metronome-rt/metronome/signals"
)

// Tests for issue 9's items on whole applications: subscribe topics routed
// through a controller into publish topics, over real brokers.

// scale stands for a controller: Out = 2 * In, with In's quality and time,
// as the Gain block passes them on.
type scale struct{ in, out *signals.Signal[float64] }

func (s *scale) Process(runtime.Tick) { s.out.Put(2*s.in.Get(), s.in.Quality(), s.in.Stamp()) }

var scaleType = runtime.Define(runtime.Spec[struct{}]{
	Name: "test.Scale",
	Build: func(b *runtime.Builder, _ *struct{}) (runtime.Component, error) {
		return &scale{in: runtime.Input[float64](b, "In"), out: runtime.Output[float64](b, "Out")}, nil
	},
})

// testApp is an application on the virtual clock whose I/O runs for real.
type testApp struct {
	t      *testing.T
	app    *runtime.App
	mu     sync.Mutex
	events []runtime.AlarmEvent
}

func startApp(t *testing.T, yaml string) *testApp {
	t.Helper()
	return startAppLog(t, yaml, zerolog.NewTestWriter(t))
}

// startAppLog starts an application whose warnings go to w.
func startAppLog(t *testing.T, yaml string, w io.Writer) *testApp {
	t.Helper()
	a := &testApp{t: t}
	app, err := runtime.LoadBytes("app.yaml", []byte(yaml), runtime.MustRegistry(mqttclient.Type, scaleType), runtime.LoadOptions{
		Log:       zerolog.New(w).Level(zerolog.WarnLevel),
		Scheduler: scheduler.Options{Virtual: true},
		OnAlarm: func(ev runtime.AlarmEvent) {
			a.mu.Lock()
			a.events = append(a.events, ev)
			a.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatalf("load: %v\n%s", err, yaml)
	}
	a.app = app
	if err := app.Start(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := app.Stop(ctxT(t, 10*time.Second)); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return a
}

func (a *testApp) sig(path string) signals.Port {
	a.t.Helper()
	p, ok := a.app.Signal(path)
	if !ok {
		a.t.Fatalf("no signal %s", path)
	}
	return p
}

// run advances the virtual clock 10 ms at a time, letting real time pass
// for the I/O, until cond holds (true) or timeout passes (false).
func (a *testApp) run(cond func() bool, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		a.app.Advance(10 * time.Millisecond)
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
}

// runFor advances d of virtual time with a millisecond of real time per tick.
func (a *testApp) runFor(d time.Duration) {
	for i := time.Duration(0); i < d; i += 10 * time.Millisecond {
		a.app.Advance(10 * time.Millisecond)
		time.Sleep(time.Millisecond)
	}
}

func (a *testApp) quality(path string) signals.Quality { return a.sig(path).Quality() }

func (a *testApp) alarm(path string) *runtime.Alarm {
	a.t.Helper()
	i := strings.LastIndexByte(path, '.')
	n, ok := a.app.Find(path[:i])
	if !ok {
		a.t.Fatalf("no component %s", path[:i])
	}
	al, ok := n.Alarm(path[i+1:])
	if !ok {
		a.t.Fatalf("no alarm %s", path)
	}
	return al
}

// TestNeverReceivedIsNeverPublished is issue 9 item 1: a subscribe topic
// whose broker is unreachable turns comm lost after signal_timeout; the
// controller passes that on, and the publish topic it feeds must send
// nothing (it used to send 0).
func TestNeverReceivedIsNeverPublished(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	a := startApp(t, fmt.Sprintf(`application: T
fs: 100
components:
  - name: A
    type: MQTTClient
    config:
      servers: [mqtt://%s]
      retry_min: 50ms
      signal_timeout: 300ms
      subscribe: [{name: XIn, topic: x/in, type: double}]
  - {name: Ctl, type: test.Scale, inputs: {In: T.A.XIn}}
  - name: B
    type: MQTTClient
    config:
      servers: [%s]
      publish: [{name: XOut, topic: x/out, type: double, qos: 1}]
    inputs: {XOut: T.Ctl.Out}
`, freeAddr(t), b.url()))
	if !a.run(func() bool { c, _ := a.sig("T.B.Connected").Value().Bool(); return c }, wait) {
		t.Fatal("B not connected")
	}
	a.runFor(2 * time.Second)
	if q := a.quality("T.Ctl.In"); q != signals.CommLost {
		t.Fatalf("the controller's input is %v, want comm lost", q)
	}
	time.Sleep(100 * time.Millisecond)
	if got := b.on("x/out"); len(got) != 0 {
		t.Errorf("a value never received was published: %q", got)
	}
	if n, _ := a.sig("T.B.XOutCount").Value().Uint(); n != 0 {
		t.Errorf("XOutCount = %d", n)
	}
}

// TestRetainedValueDrivesLogic is issue 9 item 2: a retained value,
// replayed at subscription, drives the controller and its output is
// published.
func TestRetainedValueDrivesLogic(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	b.publish("x/in", "5", true)
	a := startApp(t, fmt.Sprintf(`application: T
fs: 100
components:
  - name: A
    type: MQTTClient
    config:
      servers: [%[1]s]
      subscribe: [{name: XIn, topic: x/in, type: double, qos: 1}]
  - {name: Ctl, type: test.Scale, inputs: {In: T.A.XIn}}
  - name: B
    type: MQTTClient
    config:
      servers: [%[1]s]
      publish: [{name: XOut, topic: x/out, type: double, qos: 1}]
    inputs: {XOut: T.Ctl.Out}
`, b.url()))
	if !a.run(func() bool { return len(b.on("x/out")) > 0 }, wait) {
		t.Fatalf("the retained value did not drive the output: A.XIn = %v (%v)", a.sig("T.A.XIn").Value(), a.quality("T.A.XIn"))
	}
	if got := b.on("x/out"); got[0] != "10" {
		t.Errorf("x/out = %q, want 10", got)
	}
	if q := a.quality("T.Ctl.Out"); q != signals.LastKnown {
		t.Errorf("the controller's output is %v, want last known", q)
	}
}

// TestQualityTravelsOnTheWire is issue 9 item 3: a value that goes comm
// lost in one application reaches another, through a second broker, as
// comm lost with no number, and good again when it is.
func TestQualityTravelsOnTheWire(t *testing.T) {
	b1 := startBroker(t, "127.0.0.1:0")
	b2 := startBroker(t, "127.0.0.1:0")
	a := startApp(t, fmt.Sprintf(`application: T
fs: 100
components:
  - name: A
    type: MQTTClient
    config:
      servers: [%s]
      retry_min: 50ms
      retry_max: 100ms
      subscribe: [{name: XIn, topic: x/in, type: double, qos: 1}]
  - {name: Ctl, type: test.Scale, inputs: {In: T.A.XIn}}
  - name: B
    type: MQTTClient
    config:
      servers: [%[2]s]
      publish:
        - {name: XOut, topic: x/out, type: double, qos: 1, format: json, template: '{"v": {{value}}, "q": {{quality}}, "t": {{time}}}', when_not_good: quality}
    inputs: {XOut: T.Ctl.Out}
  - name: C
    type: MQTTClient
    config:
      servers: [%[2]s]
      subscribe: [{name: Far, topic: x/out, type: double, qos: 1, format: json, field: v, quality_field: q, time_field: t}]
`, b1.url(), b2.url()))
	if !a.run(func() bool { c, _ := a.sig("T.A.Connected").Value().Bool(); return c }, wait) {
		t.Fatal("A not connected")
	}
	time.Sleep(50 * time.Millisecond)
	b1.publish("x/in", "5", false)
	if !a.run(func() bool { return a.quality("T.C.Far") == signals.Good }, wait) {
		t.Fatalf("C.Far = %v (%v)", a.sig("T.C.Far").Value(), a.quality("T.C.Far"))
	}
	f, _ := a.sig("T.C.Far").Value().Float()
	if f != 10 || a.sig("T.C.Far").Stamp()/1e6 != a.sig("T.A.XIn").Stamp()/1e6 {
		t.Errorf("C.Far = %v at %v; want 10, stamped when A received it (%v)", f, a.sig("T.C.Far").Time(), a.sig("T.A.XIn").Time())
	}
	b1.stop()
	if !a.run(func() bool { return a.quality("T.C.Far") == signals.CommLost }, wait) {
		t.Fatalf("C.Far = %v (%v) after A's broker stopped, want comm lost", a.sig("T.C.Far").Value(), a.quality("T.C.Far"))
	}
	if got := b2.on("x/out"); !strings.Contains(got[len(got)-1], `"v": null, "q": "comm lost"`) {
		t.Errorf("on the wire: %q", got)
	}
	b1.start(b1.addr)
	if !a.run(func() bool { return a.quality("T.C.Far") == signals.LastKnown }, wait) {
		t.Fatalf("C.Far = %v after A reconnected, want last known", a.quality("T.C.Far"))
	}
	time.Sleep(50 * time.Millisecond)
	b1.publish("x/in", "6", false)
	if !a.run(func() bool {
		v, _ := a.sig("T.C.Far").Value().Float()
		return v == 12 && a.quality("T.C.Far") == signals.Good
	}, wait) {
		t.Fatalf("C.Far = %v (%v), want 12 good", a.sig("T.C.Far").Value(), a.quality("T.C.Far"))
	}
	for _, p := range b2.on("x/out") {
		if strings.Contains(p, `"v": 0`) || strings.Contains(p, `"v": 10, "q": "comm lost"`) {
			t.Errorf("a value that was not usable went out as a number: %s", p)
		}
	}
}

// TestFloatsWithoutBinaryNoise is issue 9 item 6: by default a double is
// written with 15 significant digits, so arithmetic noise never shows.
func TestFloatsWithoutBinaryNoise(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	h := runtimetest.New(t, mqttclient.Type, fmt.Sprintf(`fs: 100
config:
  servers: [%s]
  publish:
    - {name: Text, topic: n/text, type: double, qos: 1}
    - {name: Json, topic: n/json, type: double, qos: 1, format: json, field: v}
    - {name: Str, topic: n/str, type: string, qos: 1}
`, b.url()))
	// The last: a double routed into a string topic.
	publishOnce(t, b, h, map[string]any{"Text": 37.800000000000004, "Json": 0.1 * 3.0000000000000004, "Str": 37.800000000000004},
		map[string]string{"n/text": "37.8", "n/json": `{"v":0.3}`, "n/str": "37.8"})
}

// publishOnce sets inputs, waits for one message on each topic of want and
// checks its payload.
func publishOnce(t *testing.T, b *broker, h *runtimetest.Harness, inputs map[string]any, want map[string]string) {
	t.Helper()
	connect(t, h)
	for in, v := range inputs {
		h.Set(in, v)
	}
	if !h.StepUntil(func() bool {
		for topic := range want {
			if len(b.on(topic)) == 0 {
				return false
			}
		}
		return true
	}, wait) {
		t.Fatal("not published")
	}
	for topic, p := range want {
		if got := b.on(topic)[0]; got != p {
			t.Errorf("%s = %q, want %q", topic, got, p)
		}
	}
}

// TestNumberFormatOnTheWire: number_format chooses decimals or digits.
func TestNumberFormatOnTheWire(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	h := runtimetest.New(t, mqttclient.Type, fmt.Sprintf(`fs: 100
config:
  servers: [%s]
  publish:
    - {name: Fixed, topic: n/fixed, type: double, qos: 1, number_format: "%%.2f"}
    - {name: Sig, topic: n/sig, type: double, qos: 1, format: json, field: v, number_format: "%%.3g"}
    - {name: Sci, topic: n/sci, qos: 1, format: csv, values: [{name: SciA, type: double}, {name: SciB, type: int}], number_format: "%%.1e"}
`, b.url()))
	publishOnce(t, b, h, map[string]any{"Fixed": 37.800000000000004, "Sig": 37.800000000000004, "SciA": 37.800000000000004, "SciB": 7},
		map[string]string{"n/fixed": "37.80", "n/sig": `{"v":37.8}`, "n/sci": "3.8e+01,7"})
}

// TestQualityAlarm: a subscribe topic's alarm rises once its value has been
// unusable for the delay, says why, clears when usable; the instance's
// alarms: changes its level and delay.
func TestQualityAlarm(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	h := runtimetest.New(t, mqttclient.Type, fmt.Sprintf(`fs: 100
config:
  servers: [%s]
  subscribe:
    - {name: X, topic: al/x, type: double, max_age: 1s, alarm: {level: error, delay: 300ms}}
    - {name: Y, topic: al/y, type: double, alarm: {}}
alarms:
  YQuality: {level: notify, delay: 2s}
`, b.url()))
	x, y := h.Alarm("XQuality"), h.Alarm("YQuality")
	if x.Info().Level != runtime.Error || x.Info().Delay != 300*time.Millisecond {
		t.Errorf("XQuality: %+v", x.Info())
	}
	if y.Info().Level != runtime.Notify || y.Info().Delay != 2*time.Second {
		t.Errorf("YQuality per instance: %+v", y.Info())
	}
	h.Step(30) // the first tick is at 10 ms: 300 ms of initial is not yet enough
	if x.Active() {
		t.Fatal("raised before its delay")
	}
	h.Step(1)
	if !x.Active() || x.Text() != "X (al/x): initial" {
		t.Fatalf("XQuality active %v, text %q", x.Active(), x.Text())
	}
	connect(t, h)
	time.Sleep(50 * time.Millisecond)
	b.publish("al/x", "1", false)
	h.StepUntil(func() bool { return h.Quality("X") == signals.Good }, wait)
	if x.Active() {
		t.Error("not cleared by a good value")
	}
	h.Step(100 + 29) // max_age, then not quite the delay
	if x.Active() || h.Quality("X") != signals.Stale {
		t.Errorf("stale %v for less than the delay: active %v", h.Quality("X"), x.Active())
	}
	h.Step(2)
	if !x.Active() || x.Text() != "X (al/x): stale" {
		t.Errorf("after max_age and the delay: active %v, text %q", x.Active(), x.Text())
	}
	// Y has been initial since start; 2 s of ticks pass.
	h.Step(100)
	if !y.Active() || y.Text() != "Y (al/y): initial" {
		t.Errorf("YQuality after its 2 s: active %v, %q", y.Active(), y.Text())
	}
}

// TestDeviceAvailabilityWithMosquittoClients is issue 9 item 4 with a
// device simulated by Debian's mosquitto_sub and mosquitto_pub as MQTT
// 3.1.1 clients, as a Tasmota plug behaves: a will tele/<dev>/LWT Offline,
// a retained Online, telemetry on tele/<dev>/SENSOR, commands on
// cmnd/<dev>/POWER. Its will makes the controller's inputs comm lost and
// raises the alarm; its return restores good values and republishes the
// command.
func TestDeviceAvailabilityWithMosquittoClients(t *testing.T) {
	subBin := mqtttest.RequireTool(t, "mosquitto_sub")
	pubBin := mqtttest.RequireTool(t, "mosquitto_pub")
	addr := mqtttest.Mosquitto(t, "")
	host, port, _ := strings.Cut(addr, ":")
	pub := func(args ...string) {
		t.Helper()
		cmd := exec.Command(pubBin, append([]string{"-V", "mqttv311", "-h", host, "-p", port, "-q", "1"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_pub %v: %v\n%s", args, err, out)
		}
	}
	// device starts the plug: connected with its will armed, listening for commands.
	type plug struct {
		cmd      *exec.Cmd
		mu       sync.Mutex
		commands []string
		ready    chan struct{}
	}
	device := func() *plug {
		t.Helper()
		p := &plug{ready: make(chan struct{})}
		p.cmd = exec.Command(subBin, "-V", "mqttv311", "-h", host, "-p", port, "-i", "plug-1", "-q", "1",
			"-t", "cmnd/plug/POWER", "--will-topic", "tele/plug/LWT", "--will-payload", "Offline", "--will-retain", "--will-qos", "1")
		out, err := p.cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() {
			sc := bufio.NewScanner(out)
			once := sync.Once{}
			for sc.Scan() {
				line := sc.Text()
				switch {
				case line == "probe":
					once.Do(func() { close(p.ready) })
				default:
					p.mu.Lock()
					p.commands = append(p.commands, line)
					p.mu.Unlock()
				}
			}
			io.Copy(io.Discard, out)
		}()
		// Subscribed (and so its will armed) once a probe comes through.
		deadline := time.Now().Add(wait)
	probe:
		for {
			pub("-t", "cmnd/plug/POWER", "-m", "probe")
			select {
			case <-p.ready:
				break probe
			case <-time.After(100 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				p.cmd.Process.Kill()
				t.Fatal("mosquitto_sub did not subscribe")
			}
		}
		t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
		pub("-r", "-t", "tele/plug/LWT", "-m", "Online")
		return p
	}
	cmds := func(p *plug) []string {
		p.mu.Lock()
		defer p.mu.Unlock()
		return slices.Clone(p.commands)
	}

	plug1 := device()
	pub("-t", "tele/plug/SENSOR", "-m", `{"Time": "2024-05-01T12:00:00", "ENERGY": {"Power": 21.5}}`)
	a := startApp(t, fmt.Sprintf(`application: T
fs: 100
components:
  - name: Mqtt
    type: MQTTClient
    config:
      servers: [mqtt://%s]
      devices: [{name: Plug, availability: tele/plug/LWT, online: Online, offline: Offline}]
      subscribe:
        - {name: Power, topic: tele/plug/SENSOR, type: double, format: json, field: ENERGY.Power, qos: 1, device: Plug, alarm: {level: error, delay: 200ms}}
      publish:
        - {name: Command, topic: cmnd/plug/POWER, type: double, qos: 1, device: Plug}
    inputs: {Command: T.Ctl.Out}
  - {name: Ctl, type: test.Scale, inputs: {In: T.Mqtt.Power}}
`, addr))
	// The telemetry was not retained: the controller waits for a live value.
	if !a.run(func() bool { on, _ := a.sig("T.Mqtt.PlugOnline").Value().Bool(); return on }, wait) {
		t.Fatal("the plug's retained Online was not seen")
	}
	// Nothing live came for longer than the alarm's delay: the quality alarm
	// is up (initial) before the first telemetry arrives.
	alarm := a.alarm("T.Mqtt.PowerQuality")
	if !a.run(func() bool { return alarm.Active() }, wait) {
		t.Fatal("PowerQuality not raised while the input is initial")
	}
	pub("-t", "tele/plug/SENSOR", "-m", `{"ENERGY": {"Power": 21.5}}`)
	if !a.run(func() bool { return a.quality("T.Ctl.In") == signals.Good && len(cmds(plug1)) > 0 }, wait) {
		t.Fatalf("controller input %v, commands %q", a.quality("T.Ctl.In"), cmds(plug1))
	}
	if got := cmds(plug1); !slices.Equal(got, []string{"43"}) {
		t.Errorf("commands %q, want [43]", got)
	}
	// The plug dies: the broker publishes its will.
	plug1.cmd.Process.Signal(syscall.SIGKILL)
	plug1.cmd.Wait()
	if !a.run(func() bool { return a.quality("T.Ctl.In") == signals.CommLost }, wait) {
		t.Fatalf("after the will the controller's input is %v, want comm lost", a.quality("T.Ctl.In"))
	}
	if !a.run(func() bool { return alarm.Active() }, wait) {
		t.Fatal("PowerQuality not raised")
	}
	if alarm.Text() != "Power (tele/plug/SENSOR): comm lost" || alarm.Info().Level != runtime.Error {
		t.Errorf("alarm %q at %v", alarm.Text(), alarm.Info().Level)
	}
	if on, _ := a.sig("T.Mqtt.PlugOnline").Value().Bool(); on {
		t.Error("PlugOnline still true")
	}
	// The plug restarts: it is given its command again at once.
	plug2 := device()
	if !a.run(func() bool { return len(cmds(plug2)) > 0 }, wait) {
		t.Fatal("the command was not republished to the returning plug")
	}
	if got := cmds(plug2); !slices.Equal(got, []string{"43"}) {
		t.Errorf("republished %q, want [43]", got)
	}
	if q := a.quality("T.Ctl.In"); q != signals.LastKnown {
		t.Errorf("back online before new telemetry: %v, want last known", q)
	}
	pub("-t", "tele/plug/SENSOR", "-m", `{"ENERGY": {"Power": 22}}`)
	if !a.run(func() bool { return a.quality("T.Ctl.In") == signals.Good && !alarm.Active() }, wait) {
		t.Fatalf("after new telemetry: input %v, alarm %v", a.quality("T.Ctl.In"), alarm.Active())
	}
	if !a.run(func() bool { return len(cmds(plug2)) == 2 }, wait) || cmds(plug2)[1] != "44" {
		t.Errorf("commands after new telemetry %q, want [43 44]", cmds(plug2))
	}
	a.mu.Lock()
	var kinds []string
	for _, ev := range a.events {
		if ev.Alarm == alarm {
			kinds = append(kinds, ev.Kind.String()+": "+ev.Text)
		}
	}
	a.mu.Unlock()
	// Raised at start too: nothing came for longer than the delay.
	want := []string{"set: Power (tele/plug/SENSOR): initial", "cleared: Power (tele/plug/SENSOR): initial",
		"set: Power (tele/plug/SENSOR): comm lost", "cleared: Power (tele/plug/SENSOR): comm lost"}
	if !slices.Equal(kinds, want) {
		t.Errorf("PowerQuality events\n%q\nwant\n%q", kinds, want)
	}
}

// TestDecodeWarningsAreShortAndSampled is issue 8 item 7 for the client: a
// 1 MB payload that does not decode gives a log line of a few hundred
// bytes, and a flood of bad payloads a single line until the sampling
// interval has passed.
func TestDecodeWarningsAreShortAndSampled(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	var logs mqtttest.LockedBuffer
	a := startAppLog(t, fmt.Sprintf(`application: T
fs: 100
components:
  - name: A
    type: MQTTClient
    config:
      servers: [%s]
      subscribe:
        - {name: X, topic: big/x, type: double}
        - {name: J, topic: big/j, type: double, format: json, field: a.b}
`, b.url()), &logs)
	if !a.run(func() bool { c, _ := a.sig("T.A.Connected").Value().Bool(); return c }, wait) {
		t.Fatal("not connected")
	}
	time.Sleep(50 * time.Millisecond)
	huge := strings.Repeat("9x", 1<<19)
	b.publish("big/x", huge, false)
	b.publish("big/j", `{"a": {"b": "`+huge+`"}}`, false)
	for i := 0; i < 200; i++ {
		b.publish("big/x", fmt.Sprintf("bad %d", i), false)
	}
	// QoS 0: no receive maximum for the broker to respect, so it drops none.
	if !a.run(func() bool { n, _ := a.sig("T.A.DecodeErrors").Value().Uint(); return n == 202 }, wait) {
		t.Fatalf("DecodeErrors = %v, MessagesIn %v", a.sig("T.A.DecodeErrors").Value(), a.sig("T.A.MessagesIn").Value())
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(l, "did not decode") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 {
		t.Errorf("%d decode warnings logged for 202 bad payloads within the interval, want 1", len(lines))
	}
	for _, l := range lines {
		if len(l) > 400 {
			t.Errorf("a %d-byte log line: %.200s...", len(l), l)
		}
	}
	if !strings.Contains(lines[0], `"bytes":1048576`) {
		t.Errorf("the line does not say the payload's size: %s", lines[0])
	}
}
