package system_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/metronome-rt/metronome/internal/mqtttest"
	"github.com/metronome-rt/metronome/link/system"
	"github.com/metronome-rt/metronome/signals"
)

// A pair of applications linked through Debian's mosquitto: the route,
// a write across, and the death of the exporting side.
func TestLinkedThroughMosquitto(t *testing.T) {
	url := "mqtt://" + mqtttest.Mosquitto(t, "")
	g := uniq("plant")
	a := start(t, "a.yaml", lineA(g, 0, brokerYAML(url)), system.Options{})
	b := start(t, "b.yaml", lineB(g, brokerYAML(url), ""), system.Options{})
	a.waitValue("Speed.Value", signals.FloatValue(1500), signals.Good)
	b.waitValue("Mirror.In", signals.FloatValue(1500), signals.Good)
	b.waitValue("System.SpeedSet_Result", signals.StringValue("Line1.Speed.Value = 1500: accepted"), signals.Good)
	a.stop()
	b.waitValue("Mirror.In", signals.FloatValue(1500), signals.CommLost)
}

// Two applications on a three-node NATS cluster (MQTT 3.1.1), attached to
// different nodes; the exporting application's node is killed: it moves
// to the next server of its list, announces itself again, and values flow
// again.
func TestLinkedAcrossNATSClusterFailover(t *testing.T) {
	ns := mqtttest.NATS(t, 3)
	g := uniq("plant")
	broker := func(first, second *mqtttest.NATSNode) string {
		return fmt.Sprintf(`{servers: ["%s", "%s"], protocol: "3.1.1", keep_alive: 2s, retry_min: 100ms, retry_max: 1s, connect_timeout: 3s}`,
			first.MQTTURL(), second.MQTTURL())
	}
	a := start(t, "a.yaml", lineA(g, 0, broker(ns[0], ns[1])), system.Options{})
	b := start(t, "b.yaml", lineB(g, broker(ns[2], ns[1]), ""), system.Options{})
	b.waitValue("Mirror.In", signals.FloatValue(1500), signals.Good)
	edgeID := "metronome-" + g + "-Line1"
	if ok, err := ns[0].HasMQTTClient(edgeID); err != nil || !ok {
		t.Fatalf("Line1 is not attached to %s (%v)", ns[0].Name, err)
	}
	births := a.r.Edge().Stats().Births
	ns[0].Kill()
	deadline := time.Now().Add(60 * time.Second)
	for a.r.Edge().Stats().Births == births || !a.r.Edge().Conn().Connected() {
		if time.Now().After(deadline) {
			t.Fatalf("Line1 not born again on another node: %+v\n%s", a.r.Edge().Stats(), ns[1].Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ok, _ := ns[1].HasMQTTClient(edgeID); !ok {
		t.Errorf("Line1 born again but not on %s", ns[1].Name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := b.app.SetParam(ctx, "Set.Value", signals.FloatValue(1600), "test"); err != nil {
		t.Fatal(err)
	}
	b.waitValue("Mirror.In", signals.FloatValue(1600), signals.Good)
	b.waitValue("System.Line1_Online", signals.BoolValue(true), signals.Good)
}

// The loss of the broker turns the routed inputs comm lost and the link
// Disconnected; when the broker is back, the applications are born again
// and the values are good again.
func TestBrokerLossAndReturn(t *testing.T) {
	m := mqtttest.StartMochi(t)
	g := uniq("plant")
	start(t, "a.yaml", lineA(g, 0, brokerYAML(m.URL())), system.Options{})
	b := start(t, "b.yaml", lineB(g, brokerYAML(m.URL()), ""), system.Options{})
	b.waitValue("Mirror.In", signals.FloatValue(1500), signals.Good)
	m.Stop()
	b.waitValue("Mirror.In", signals.FloatValue(1500), signals.CommLost)
	b.waitValue("System.Connected", signals.BoolValue(false), signals.Good)
	b.waitAlarm("System.Disconnected", true, "")
	m.Start()
	b.waitValue("Mirror.In", signals.FloatValue(1500), signals.Good)
	b.waitValue("System.Connected", signals.BoolValue(true), signals.Good)
	b.waitAlarm("System.Disconnected", false, "")
}
