package system_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/metronome-rt/metronome/internal/mqtttest"
	"github.com/metronome-rt/metronome/link/system"
	"github.com/metronome-rt/metronome/signals"
)

// lineA is the exporting application: it hosts the embedded broker (when
// port is not 0) and exports a speed parameter (writable), a duty cycle
// with a range (writable), a read-only gain, and a counter of type int.
func lineA(group string, port int, broker string) string {
	b := ""
	if port != 0 {
		b = fmt.Sprintf(`
  - name: Broker
    type: MQTTBroker
    priority: high
    group: Broker
    config:
      listeners: [{type: tcp, address: 127.0.0.1, port: %d}]
      allow_anonymous: true
      acl: [{topic: "spBv1.0/#", access: readwrite}]`, port)
	}
	return fmt.Sprintf(`application: Line1
fs: 100
components:%s
  - name: Speed
    type: Constant
    parameters: {Value: 1200}
  - name: Wave
    type: SquareGenerator
    parameters: {Duty: 0.5}
  - name: Count
    type: Constant
    config: {type: int}
    parameters: {Value: 7}
  - name: Scale
    type: Gain
    parameters: {K: 2}
  - name: Slow
    type: Constant
    fs: 0.02
system:
  name: %s
  broker: %s
  write_timeout: 2s
  export:
    - {match: Speed, writable: true}
    - {match: Wave.Duty, writable: true}
    - {match: Count.Out}
    - {match: Scale.K}
    - {match: Slow.Value, writable: true}
`, b, group, broker)
}

// lineB routes from Line1 and writes to it.
func lineB(group, broker, extra string) string {
	return fmt.Sprintf(`application: Line2
fs: 100
components:
  - name: Mirror
    type: Gain
    inputs: {In: Line1.Speed.Out}
  - name: Set
    type: Constant
    parameters: {Value: 1500}
  - name: Duty
    type: Constant
    parameters: {Value: 0.25}
  - name: K
    type: Constant
    parameters: {Value: 3}
  - name: SlowSet
    type: Constant
    parameters: {Value: 1}
system:
  name: %s
  peers: [Line1]
  broker: %s
  alarm_delay: 0s
  write_timeout: 1s
  writes:
    - {from: Set.Out, to: Line1.Speed.Value, name: SpeedSet}
    - {from: Duty.Out, to: Line1.Wave.Duty, name: DutySet}
    - {from: K.Out, to: Line1.Scale.K, name: KSet}
    - {from: SlowSet.Out, to: Line1.Slow.Value, name: SlowWrite}
%s`, group, broker, extra)
}

// Two runtimes linked through the embedded broker of one of them: a value
// crosses with its source's time stamp, a parameter written across appears
// in the next data, the peer's state shows on the System component, and a
// refused or unanswered write says why on the writer's side.
func TestTwoAppsThroughEmbeddedBroker(t *testing.T) {
	t0 := time.Now().UnixNano()
	port := mqtttest.FreePort(t)
	url := fmt.Sprintf("mqtt://127.0.0.1:%d", port)
	g := uniq("plant")
	a := start(t, "a.yaml", lineA(g, port, brokerYAML(url)), system.Options{})
	b := start(t, "b.yaml", lineB(g, brokerYAML(url), ""), system.Options{})

	b.waitValue("System.Connected", signals.BoolValue(true), signals.Good)
	b.waitValue("System.Line1_Online", signals.BoolValue(true), signals.Good)
	// The write of Set.Out (1500) reaches Line1.Speed.Value, and Line1's
	// Speed.Out (routed into Mirror.In) follows with Line1's time stamp.
	a.waitValue("Speed.Value", signals.FloatValue(1500), signals.Good)
	in := b.waitValue("Mirror.In", signals.FloatValue(1500), signals.Good)
	// Line1's time stamp, in Sparkplug's milliseconds: not a tick time of
	// Line2's, which would have nanoseconds.
	if in.Stamp%1e6 != 0 || in.Stamp < t0/1e6*1e6 || in.Stamp > time.Now().UnixNano() {
		t.Errorf("Mirror.In stamped %d: not a source time stamp (ms) of this run", in.Stamp)
	}
	b.waitValue("System.SpeedSet_Result", signals.StringValue("Line1.Speed.Value = 1500: accepted"), signals.Good)
	if on, text := b.alarm("System.SpeedSet_Failed"); on {
		t.Errorf("SpeedSet_Failed active: %s", text)
	}

	// Out of range: Duty is 0..1 on Line1; 0.25 is accepted, then 2 is not.
	b.waitValue("System.DutySet_Result", signals.StringValue("Line1.Wave.Duty = 0.25: accepted"), signals.Good)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := b.app.SetParam(ctx, "Duty.Value", signals.FloatValue(2), "test"); err != nil {
		t.Fatal(err)
	}
	text := b.waitAlarm("System.DutySet_Failed", true, "refused")
	if !strings.Contains(text, "2 is above the maximum 1") && !strings.Contains(text, "outside the range 0..1") {
		t.Errorf("refusal text %q does not say why", text)
	}
	if s := a.get("Wave.Duty"); !s.Value.Equal(signals.FloatValue(0.25)) {
		t.Errorf("Line1.Wave.Duty = %v after a refused write", s.Value)
	}
	// Not writable: Scale.K is exported read-only.
	b.waitAlarm("System.KSet_Failed", true, "not writable")
	if s := a.get("Scale.K"); !s.Value.Equal(signals.FloatValue(2)) {
		t.Errorf("Line1.Scale.K = %v after a refused write", s.Value)
	}
	// The writer's timeout: Slow ticks every 50 s, so Line1 never applies
	// the write in time and Line2 gives up after its write_timeout.
	b.waitAlarm("System.SlowWrite_Failed", true, "no answer from Line1 within 1s")

	// The write's value goes out in Line1's next data: a later change of
	// Set reaches Mirror through Line1.
	if _, err := b.app.SetParam(ctx, "Set.Value", signals.FloatValue(1750), "test"); err != nil {
		t.Fatal(err)
	}
	b.waitValue("Mirror.In", signals.FloatValue(1750), signals.Good)
	b.waitValue("System.SpeedSet_Result", signals.StringValue("Line1.Speed.Value = 1750: accepted"), signals.Good)

	// Line1 stops cleanly: its NDEATH turns Line2's input comm lost,
	// keeping the last value, and Line1_Online false.
	a.stop()
	b.waitValue("Mirror.In", signals.FloatValue(1750), signals.CommLost)
	b.waitValue("System.Line1_Online", signals.BoolValue(false), signals.Good)
	b.waitAlarm("System.Line1_Offline", true, "")
}

// A route whose source Line1 announces as another type: the input is bad
// input with an alarm naming the mismatch, never a converted value.
func TestTypeMismatchIsAnAlarm(t *testing.T) {
	m := mqtttest.StartMochi(t)
	g := uniq("plant")
	start(t, "a.yaml", lineA(g, 0, brokerYAML(m.URL())), system.Options{})
	b := start(t, "b.yaml", fmt.Sprintf(`application: Line2
fs: 100
components:
  - name: Flag
    type: Not
    inputs: {In: Line1.Count.Out}
system:
  name: %s
  peers: [Line1]
  broker: %s
  alarm_delay: 0s
`, g, brokerYAML(m.URL())), system.Options{})
	b.waitValue("Flag.In", signals.Value{}, signals.BadInput)
	text := b.waitAlarm("System.Line1_Mismatch", true, "type mismatch")
	if !strings.Contains(text, "Line1.Count.Out") || !strings.Contains(text, "Int64") {
		t.Errorf("mismatch alarm %q does not name the route and the announced type", text)
	}
	time.Sleep(50 * time.Millisecond)
	if s := b.get("Flag.In"); s.Quality != signals.BadInput {
		t.Errorf("Flag.In became %v (%s)", s.Value, s.Quality)
	}
}
