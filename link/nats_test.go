package link_test

import (
	"sync"
	"testing"
	"time"

	"github.com/metronome-rt/metronome/internal/mqttconn"
	"github.com/metronome-rt/metronome/internal/mqtttest"
	"github.com/metronome-rt/metronome/link"
	"github.com/metronome-rt/metronome/signals"
)

// NATS speaks only MQTT 3.1.1: edge node and host link through a single
// nats-server with MQTT and JetStream.
func TestNATSSingleServer(t *testing.T) {
	n := mqtttest.NATS(t, 1)[0]
	g := uniq("g")
	e := startEdge(t, g, "A", transport(n.MQTTURL(), mqttconn.V311), edgeOpts{exports: testExports()})
	_, s := startHost(t, link.HostConfig{Group: g, Transport: transport(n.MQTTURL(), mqttconn.V311), Wants: []link.Want{{Node: "A", Metric: "Pump/Count", Kind: signals.Int}}})
	s.waitValue(t, 0, signals.Value{}, signals.Initial)
	e.Update([]link.Change{change(2, signals.IntValue(5))})
	s.waitValue(t, 0, signals.IntValue(5), signals.Good)
	mqttconn.DropForTest(e.Conn())
	s.waitValue(t, 0, signals.IntValue(5), signals.CommLost) // the will, through NATS
	s.waitValue(t, 0, signals.IntValue(5), signals.Good)     // reconnected and re-born
}

// A three-node NATS cluster: the edge node and the host attach to different
// nodes; the edge node's node is killed; it moves to the next server of its
// list, re-births, and values flow again. The cluster keeps the MQTT state
// on three replicas (see mqtttest.NATS): on two, half of the MQTT streams
// lose their quorum with the node, and the survivors never answer a
// CONNECT again.
func TestNATSClusterFailover(t *testing.T) {
	ns := mqtttest.NATS(t, 3)
	g := uniq("g")
	edgeT := transport(ns[0].MQTTURL(), mqttconn.V311)
	edgeT.ClientID = uniq("edge")
	edgeT.Servers = append(edgeT.Servers, ns[1].MQTTURL())
	var mu sync.Mutex
	var connErrs []string
	edgeT.OnConnectError = func(err error) {
		mu.Lock()
		connErrs = append(connErrs, err.Error())
		mu.Unlock()
	}
	hostT := transport(ns[2].MQTTURL(), mqttconn.V311)
	hostT.ClientID = uniq("host")
	hostT.Servers = append(hostT.Servers, ns[1].MQTTURL())
	e := startEdge(t, g, "A", edgeT, edgeOpts{exports: testExports()})
	h, s := startHost(t, link.HostConfig{Group: g, Transport: hostT, Wants: []link.Want{{Node: "A", Metric: "Pump/Count", Kind: signals.Int}}})
	eventually(t, func() bool { return h.Conn().Connected() && e.Conn().Connected() }, "both connected")
	attached := func(n *mqtttest.NATSNode, id string) bool {
		ok, err := n.HasMQTTClient(id)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	eventually(t, func() bool { return attached(ns[0], edgeT.ClientID) }, "edge node on %s", ns[0].Name)
	eventually(t, func() bool { return attached(ns[2], hostT.ClientID) }, "host on %s", ns[2].Name)
	e.Update([]link.Change{change(2, signals.IntValue(1))})
	s.waitValue(t, 0, signals.IntValue(1), signals.Good)
	births := e.Stats().Births
	ns[0].Kill()
	// The streams whose leader was on the dead node elect a new one (some
	// seconds), the survivors answer CONNECTs again, the edge node re-births.
	eventuallyFor(t, 45*time.Second, func() bool { return e.Stats().Births > births && e.Conn().Connected() },
		"edge node re-born on another node: %+v", func() int {
			mu.Lock()
			defer mu.Unlock()
			t.Logf("edge %+v; connect errors: %q\n%s\n%s", e.Stats(), connErrs, ns[1].Output(), ns[2].Output())
			return 0
		})
	if !attached(ns[1], edgeT.ClientID) {
		t.Errorf("edge node re-born but not attached to %s", ns[1].Name)
	}
	e.Update([]link.Change{change(2, signals.IntValue(2))})
	s.waitValue(t, 0, signals.IntValue(2), signals.Good)
	if c := e.Conn().Stats().Connections; c < 2 {
		t.Errorf("edge connections %d, want a second one", c)
	}
	if !attached(ns[2], hostT.ClientID) {
		t.Errorf("host left %s, which is still up", ns[2].Name)
	}
}
