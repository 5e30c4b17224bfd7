package mqttclient

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/metronome-rt/metronome/components/mqttclient/payload"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/runtime/runtimetest"
	"github.com/metronome-rt/metronome/signals"
)

// TestProcessAllocatesNothing checks the tick path: encoding, the hand-off
// to the sender and latching received values allocate nothing. The broker
// is absent, so the sender only queues (up to its limit) and the count of
// allocations is the tick's own.
func TestProcessAllocatesNothing(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	h := runtimetest.New(t, Type, fmt.Sprintf(`fs: 1000
config:
  servers: [mqtt://%s]
  queue: {limit: 16, hand_off: 64}
  publish:
    - {name: D, topic: al/d, type: double, qos: 1, format: json, template: '{"v": {{value}}, "t": {{time}}}'}
    - {name: B, topic: al/b, type: bool, qos: 1, value_map: {true: "ON", false: "OFF"}}
    - {name: S, topic: al/s, type: string, qos: 2, keep: latest}
    - name: M
      topic: al/m
      format: csv
      qos: 1
      values: [{name: MA, type: int}, {name: MB, type: double}]
    - {name: Q, topic: al/q, type: double, format: json, template: '{"v": {{value}}, "q": {{quality}}, "t": {{time}}}', when_not_good: quality, qos: 1, device: Dev}
    - {name: L, topic: al/l, type: double, when_not_good: last_good, interval: 2ms, number_format: "%%.2f", qos: 1}
  devices: [{name: Dev, availability: al/dev}]
  subscribe:
    - {name: R, topic: al/r, type: double, max_age: 1ms, device: Dev, alarm: {delay: 0s}}
    - {name: O, topic: al/o, type: double, format: json, field: v, quality_field: q, time_field: t, alarm: {}}
`, addr))
	c := h.Component().(*client)
	c.subs[0].box.Put(&rxMsg{topic: "al/r", vals: []signals.Value{signals.FloatValue(2)}, bad: []bool{false}})
	c.subs[1].box.Put(&rxMsg{topic: "al/o", vals: []signals.Value{{}}, bad: []bool{false}, meta: payload.Meta{Quality: signals.Stale, Time: 1}})
	x := 0.0
	tick := runtime.Tick{Period: time.Millisecond}
	step := func() {
		x++
		c.pubs[0].ins[0].SetValue(signals.FloatValue(x), signals.Good, 1)
		c.pubs[1].ins[0].SetValue(signals.BoolValue(int(x)%2 == 0), signals.Good, 1)
		c.pubs[2].ins[0].SetValue(signals.StringValue("abc"), signals.Good, 1)
		c.pubs[3].ins[0].SetValue(signals.IntValue(int64(x)), signals.Good, 1)
		c.pubs[3].ins[1].SetValue(signals.FloatValue(x/3), signals.Good, 1)
		// Quality changes every tick: null with the quality, or the last good value.
		q := []signals.Quality{signals.Good, signals.Stale, signals.LastKnown, signals.CommLost}[int(x)%4]
		c.pubs[4].ins[0].SetValue(signals.FloatValue(x), q, 1)
		c.pubs[5].ins[0].SetValue(signals.FloatValue(x), q, 1)
		// The device goes offline and online again.
		if int(x)%3 == 0 {
			c.devs[0].seq.Add(1)
			c.devs[0].state.Store(availOnline)
		} else {
			c.devs[0].state.Store(availOffline)
		}
		tick.Mono += time.Millisecond
		tick.Wall = time.Unix(0, int64(tick.Mono))
		tick.Count++
		c.Process(tick)
	}
	for i := 0; i < 200; i++ { // warm up: fill the queue and the hand-off slots
		step()
	}
	if n := testing.AllocsPerRun(2000, step); n != 0 {
		t.Errorf("%v allocations per tick", n)
	}
	// The publish path ran to the end on the last tick (AllocsPerRun runs
	// on one processor, so the sender rarely drains and most are dropped).
	if c.pubs[0].lastPub != tick.Mono || c.pubs[1].lastPub != tick.Mono || c.pubs[4].lastPub != tick.Mono {
		t.Error("the last tick did not publish")
	}
	if !c.subs[0].alarm.Active() || !c.subs[1].alarm.Active() {
		t.Error("the quality alarms did not rise")
	}
	if c.io.dropped.Load() == 0 {
		t.Error("no message was refused by the full hand-off or queue")
	}
}
