package all_test

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/metronome-rt/metronome/components/all"
	"github.com/metronome-rt/metronome/internal/mqtttest"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/scheduler"
)

// TestThermostatApp runs apps/thermostat.yaml as shipped (its embedded
// broker on a free port) on the virtual clock, and drives it from an
// independent MQTT client as a temperature sensor and a heater would: the
// heater is off before any temperature arrives, follows the hysteresis,
// and is switched off when the temperature goes stale or is garbage.
func TestThermostatApp(t *testing.T) {
	port := strconv.Itoa(mqtttest.FreePort(t))
	env := func(name string) (string, bool) {
		if name == "MQTT_PORT" {
			return port, true
		}
		return "", false
	}
	app, err := runtime.Load("../../apps/thermostat.yaml", all.Registry(),
		runtime.LoadOptions{Env: env, Scheduler: scheduler.Options{Virtual: true}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		app.Stop(ctx)
	})

	peer := dialPeer(t, "127.0.0.1:"+port)
	// Step the application until the heater command is what we expect.
	expect := func(why, want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			app.Advance(100 * time.Millisecond)
			select {
			case got := <-peer.heater:
				if got == want {
					return
				}
				t.Fatalf("%s: heater command %q, want %q", why, got, want)
			case <-time.After(10 * time.Millisecond): // at most 100 s of virtual time in 10 s: less than max_age
			}
		}
		t.Fatalf("%s: no heater command %q within 10 s", why, want)
	}
	expect("before any temperature", "OFF")
	peer.temperature(t, "19.8")
	expect("19.8 degC, below 21 - 0.5", "ON")
	peer.temperature(t, "21.4") // inside the band: no change
	peer.temperature(t, "21.6")
	expect("21.6 degC, above 21 + 0.5", "OFF")
	peer.temperature(t, "20.2")
	expect("20.2 degC", "ON")
	app.Advance(5*time.Minute + time.Second) // the sensor falls silent
	expect("the temperature is stale", "OFF")
	peer.temperature(t, "20.0")
	expect("a fresh temperature", "ON")
	peer.temperature(t, "twenty")
	expect("a temperature that does not parse", "OFF")
}

type peer struct {
	c      *paho.Client
	heater chan string
}

func dialPeer(t *testing.T, addr string) *peer {
	t.Helper()
	p := &peer{heater: make(chan string, 100)}
	var conn net.Conn
	var err error
	for range 100 { // the broker listens once the application has started
		if conn, err = net.DialTimeout("tcp", addr, time.Second); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	p.c = paho.NewClient(paho.ClientConfig{
		Conn: conn,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(r paho.PublishReceived) (bool, error) {
			p.heater <- string(r.Packet.Payload)
			return true, nil
		}},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := p.c.Connect(ctx, &paho.Connect{ClientID: "sensor-and-heater", KeepAlive: 30, CleanStart: true}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.c.Disconnect(&paho.Disconnect{}) })
	if _, err := p.c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "home/heater/set", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *peer) temperature(t *testing.T, v string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := p.c.Publish(ctx, &paho.Publish{Topic: "home/temperature", Payload: []byte(v), QoS: 1}); err != nil {
		t.Fatal(err)
	}
}
