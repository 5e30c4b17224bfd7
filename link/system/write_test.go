package system_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/metronome-rt/metronome/internal/mqttconn"
	"github.com/metronome-rt/metronome/internal/mqtttest"
	"github.com/metronome-rt/metronome/link"
	"github.com/metronome-rt/metronome/link/sparkplug/sparkplugpb"
	"github.com/metronome-rt/metronome/link/system"
	"github.com/metronome-rt/metronome/signals"
)

// A write from outside (system.Set, as `runtime set --system` makes it):
// the new value is published no later than the write's result, and a
// refused write says why; no value is ever announced after its result.
func TestWriteResultNeverPrecedesTheValue(t *testing.T) {
	m := mqtttest.StartMochi(t)
	g := uniq("plant")
	var mu sync.Mutex
	var msgs []*sparkplugpb.Payload
	rec, err := mqttconn.New(mqttconn.Options{Servers: []string{m.URL()}, ClientID: uniq("rec"), RetryMin: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// What Line1 publishes: births and data (not the commands to it).
	rec.Subscribe("spBv1.0/"+g+"/+/Line1", 0, func(msg *mqttconn.Message) {
		if !strings.Contains(msg.Topic, "/NBIRTH/") && !strings.Contains(msg.Topic, "/NDATA/") {
			return
		}
		var p sparkplugpb.Payload
		if proto.Unmarshal(msg.Payload, &p) == nil {
			mu.Lock()
			msgs = append(msgs, &p)
			mu.Unlock()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	rec.Start(ctx)
	defer rec.Stop(context.Background())
	eventually(t, rec.Connected, "recorder connected")
	// Sleepy runs after Speed in the same pass and keeps the pass going
	// for 30 ms after the write is applied: the result must wait for it.
	a := start(t, "a.yaml", strings.Replace(lineA(g, 0, brokerYAML(m.URL())), "  - name: Wave\n",
		"  - name: Nap\n    type: Sleepy\n    parameters: {Sleep: 0.03}\n  - name: Wave\n", 1), system.Options{})
	tr := mqttconn.Options{Servers: []string{m.URL()}, KeepAlive: 2 * time.Second, RetryMin: 50 * time.Millisecond}
	for round, v := range []float64{1700, 1800, 1900} {
		if _, err := system.Set(ctx, tr, g, "Line1.Speed.Value", signals.FloatValue(v).String()); err != nil {
			t.Fatalf("write %v: %v", v, err)
		}
		a.waitValue("Speed.Value", signals.FloatValue(v), signals.Good)
		eventually(t, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return resultIndex(msgs, v) >= 0
		}, "round %d: no write result for %v", round, v)
		mu.Lock()
		ri, vi := resultIndex(msgs, v), valueIndex(msgs, v)
		mu.Unlock()
		if vi < 0 || vi > ri {
			t.Fatalf("round %d: the result of writing %v is in message %d, the value in message %d", round, v, ri, vi)
		}
	}
	_, err = system.Set(ctx, tr, g, "Line1.Wave.Duty", "1.5")
	var refused *link.WriteRefused
	if !errors.As(err, &refused) || refused.Reason != "1.5 is outside the range 0..1" {
		t.Fatalf("out of range: %v", err)
	}
}

// aliases maps the metric names of the last birth to their aliases.
func aliases(msgs []*sparkplugpb.Payload) map[uint64]string {
	out := map[uint64]string{}
	for _, p := range msgs {
		if p.GetSeq() == 0 && len(p.GetMetrics()) > 0 && p.GetMetrics()[0].GetName() == "bdSeq" {
			out = map[uint64]string{}
			for _, m := range p.GetMetrics() {
				if m.Alias != nil {
					out[m.GetAlias()] = m.GetName()
				}
			}
		}
	}
	return out
}

func resultIndex(msgs []*sparkplugpb.Payload, v float64) int {
	names := aliases(msgs)
	want := "Speed/Value = " + signals.FloatValue(v).String() + ": accepted"
	for i, p := range msgs {
		for _, m := range p.GetMetrics() {
			if names[m.GetAlias()] == link.WriteResultMetric && m.GetStringValue() == want {
				return i
			}
		}
	}
	return -1
}

func valueIndex(msgs []*sparkplugpb.Payload, v float64) int {
	names := aliases(msgs)
	for i, p := range msgs {
		for _, m := range p.GetMetrics() {
			name := m.GetName()
			if name == "" {
				name = names[m.GetAlias()]
			}
			if name == "Speed/Value" && m.GetDoubleValue() == v {
				return i
			}
		}
	}
	return -1
}
