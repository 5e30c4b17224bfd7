package mqttclient_test

import (
	"net"
	"testing"
	"time"

	"github.com/metronome-rt/metronome/components/mqttclient"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/scheduler"
	"github.com/metronome-rt/metronome/signals"
)

// simulated loads a client pointed at a port this test listens on, and
// puts it in simulation; what it publishes goes to publish.
func simulated(t *testing.T, config string, publish func(*runtime.Node, runtime.Message)) (*runtime.App, runtime.Simulator, net.Listener) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	y := `application: S
components:
  - {name: Src, type: Src}
  - name: Mqtt
    type: MQTTClient
    config:
      servers: [mqtt://` + ln.Addr().String() + `]
` + config
	reg := runtime.MustRegistry(mqttclient.Type, srcType)
	app, err := runtime.LoadBytes("s.yaml", []byte(y), reg, runtime.LoadOptions{Scheduler: scheduler.Options{Virtual: true}, OnAlarm: func(runtime.AlarmEvent) {}})
	if err != nil {
		t.Fatal(err)
	}
	sims, err := app.Simulate(publish)
	if err != nil || len(sims) != 1 || sims[0].Path != "S.Mqtt" {
		t.Fatalf("simulate: %v, %d components", err, len(sims))
	}
	return app, sims[0].Component().(runtime.Simulator), ln
}

// srcType has a double output X that a test writes.
var srcType = runtime.Define(runtime.Spec[struct{}]{
	Name: "Src",
	Build: func(b *runtime.Builder, _ *struct{}) (runtime.Component, error) {
		runtime.Output[float64](b, "X")
		return idle{}, nil
	},
})

type idle struct{}

func (idle) Process(runtime.Tick) {}

// TestSimulatedClient: in simulation the client opens no connection, is
// connected from its first tick, says online on its status topic, hands
// every message it publishes (QoS 0 ones too) to the test, and takes
// delivered messages as received ones.
func TestSimulatedClient(t *testing.T) {
	out := &[]runtime.Message{}
	app, sim, ln := simulated(t, `      status: {topic: s/status}
      devices: [{name: Dev, availability: s/dev}]
      publish:
        - {name: P0, topic: s/p0, type: double}
        - {name: P1, topic: s/p1, type: double, qos: 1, retain: true, device: Dev}
      subscribe:
        - {name: R, topic: s/r/+, type: double, device: Dev}
    inputs: {P0: S.Src.X, P1: S.Src.X}
`, func(_ *runtime.Node, m runtime.Message) {
		m.Payload = append([]byte(nil), m.Payload...)
		*out = append(*out, m)
	})
	x, _ := app.Signal("S.Src.X")
	app.Advance(100 * time.Millisecond)
	if len(*out) != 1 || (*out)[0].Topic != "s/status" || string((*out)[0].Payload) != "online" || !(*out)[0].Retain {
		t.Fatalf("first tick published %+v, want the online status", *out)
	}
	if c, _ := app.Signal("S.Mqtt.Connected"); !c.Value().Equal(signals.BoolValue(true)) {
		t.Errorf("Connected = %v", c.Value())
	}
	*out = nil
	x.SetValue(signals.FloatValue(1.5), signals.Good, 1)
	app.Advance(100 * time.Millisecond)
	if len(*out) != 2 || (*out)[0].Topic != "s/p0" || (*out)[0].QoS != 0 || string((*out)[0].Payload) != "1.5" ||
		(*out)[1].Topic != "s/p1" || !(*out)[1].Retain || (*out)[1].QoS != 1 {
		t.Fatalf("published %+v, want 1.5 on s/p0 (QoS 0) and s/p1 (QoS 1, retained)", *out)
	}
	if n, _ := app.Signal("S.Mqtt.MessagesOut"); !n.Value().Equal(signals.UintValue(3)) {
		t.Errorf("MessagesOut = %v, want 3", n.Value())
	}
	// Delivered messages: a match, a miss, an availability topic.
	if !sim.Deliver(runtime.Message{Topic: "s/r/a", Payload: []byte("7")}) {
		t.Error("s/r/a did not match s/r/+")
	}
	if sim.Deliver(runtime.Message{Topic: "s/other", Payload: []byte("7")}) {
		t.Error("s/other matched")
	}
	app.Advance(100 * time.Millisecond)
	r, _ := app.Signal("S.Mqtt.R")
	if !r.Value().Equal(signals.FloatValue(7)) || r.Quality() != signals.Good {
		t.Errorf("R = %v (%s), want 7 (good)", r.Value(), r.Quality())
	}
	if !sim.Deliver(runtime.Message{Topic: "s/dev", Payload: []byte("offline"), Retain: true}) {
		t.Error("the availability topic did not match")
	}
	app.Advance(100 * time.Millisecond)
	if r.Quality() != signals.CommLost {
		t.Errorf("R quality %s after the device went offline, want comm lost", r.Quality())
	}
	sim.Deliver(runtime.Message{Topic: "s/r/b", Payload: []byte("8"), Retain: true})
	sim.Deliver(runtime.Message{Topic: "s/dev", Payload: []byte("online")})
	*out = nil
	app.Advance(100 * time.Millisecond)
	if r.Quality() != signals.LastKnown {
		t.Errorf("R quality %s for a retained message, want last known", r.Quality())
	}
	if len(*out) != 1 || (*out)[0].Topic != "s/p1" {
		t.Errorf("a device back online gets its state again: published %+v", *out)
	}
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(50 * time.Millisecond))
	if c, err := ln.Accept(); err == nil {
		c.Close()
		t.Error("the simulated client connected to the broker's address")
	}
}

// TestSimulatedTickAllocatesNothing: publishing in simulation costs the
// tick no allocation either.
func TestSimulatedTickAllocatesNothing(t *testing.T) {
	published := 0
	app, _, _ := simulated(t, `      publish: [{name: P, topic: s/p, type: double, qos: 1}]
    inputs: {P: S.Src.X}
`, func(*runtime.Node, runtime.Message) { published++ })
	x, _ := app.Signal("S.Src.X")
	v := 0.0
	app.Advance(100 * time.Millisecond)
	allocs := testing.AllocsPerRun(100, func() {
		v++
		x.SetValue(signals.FloatValue(v), signals.Good, 1)
		app.Advance(100 * time.Millisecond)
	})
	if allocs != 0 {
		t.Errorf("%v allocations per tick, want 0", allocs)
	}
	if published < 100 {
		t.Errorf("%d messages published in 101 ticks that changed the value", published)
	}
}
