package mqttclient_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/metronome-rt/metronome/components/mqttclient"
	"github.com/metronome-rt/metronome/runtime/runtimetest"
	"github.com/metronome-rt/metronome/signals"
)

// The quality table (README, "Quality on the wire"; docs/yaml.md, "Quality
// and time"), tested row by row: TestQualityTableSubscribe receives, for
// each payload form, every event that changes a value's quality;
// TestQualityTablePublish feeds publish topics of each form with inputs of
// every quality and checks what goes on the wire.

// qualities returns the qualities of the named signals.
func qualities(h *runtimetest.Harness, names ...string) []signals.Quality {
	var out []signals.Quality
	for _, n := range names {
		out = append(out, h.Quality(n))
	}
	return out
}

func all(q signals.Quality, n int) []signals.Quality {
	out := make([]signals.Quality, n)
	for i := range out {
		out[i] = q
	}
	return out
}

func TestQualityTableSubscribe(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	epochMs := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli() // the harness's virtual wall clock
	// Row 3: retained messages, there before the client subscribes.
	b.publish("q/text", "21.5", true)
	b.publish("q/json", "21.5", true)
	b.publish("q/obj", fmt.Sprintf(`{"v": 21.5, "q": "good", "t": %d}`, epochMs), true)
	b.publish("q/csv", "21.5,ON", true)
	h := runtimetest.New(t, mqttclient.Type, fmt.Sprintf(`fs: 100
config:
  servers: [%s]
  retry_min: 50ms
  retry_max: 200ms
  signal_timeout: 300ms
  devices: [{name: Dev, availability: q/lwt, online: Online, offline: Offline}]
  subscribe:
    - {name: Text, topic: q/text, type: double, max_age: 1s, device: Dev}
    - {name: Json, topic: q/json, type: double, format: json, max_age: 1s, device: Dev}
    - {name: Obj, topic: q/obj, type: double, format: json, field: v, quality_field: q, time_field: t, max_age: 1s, device: Dev}
    - name: Csv
      topic: q/csv
      format: csv
      max_age: 1s
      device: Dev
      values: [{name: CsvA, type: double}, {name: CsvB, type: bool, value_map: {true: "ON", false: "OFF"}}]
    - {name: Never, topic: q/never, type: double}
`, b.url()))
	sigs := []string{"Text", "Json", "Obj", "CsvA", "CsvB"}
	forms := map[string]string{"q/text": "%v", "q/json": "%v", "q/obj": `{"v": %v, "q": "good", "t": 0}`, "q/csv": "%v,OFF"}
	live := func(v float64) {
		t.Helper()
		for topic, f := range forms {
			p := fmt.Sprintf(f, v)
			if topic == "q/obj" {
				p = fmt.Sprintf(`{"v": %v, "q": "good", "t": %d}`, v, h.Clock().Wall().UnixMilli())
			}
			b.publish(topic, p, false)
		}
		if !h.StepUntil(func() bool {
			return h.Float("Text") == v && h.Float("Json") == v && h.Float("Obj") == v && h.Float("CsvA") == v
		}, wait) {
			t.Fatalf("live %v not received: %v %v %v %v", v, h.Get("Text"), h.Get("Json"), h.Get("Obj"), h.Get("CsvA"))
		}
	}
	expect := func(row string, want []signals.Quality, names ...string) {
		t.Helper()
		if got := qualities(h, names...); !slices.Equal(got, want) {
			t.Errorf("%s: %v are %v, want %v", row, names, got, want)
		}
	}

	// Row 1: nothing received yet.
	expect("1 start", all(signals.Initial, 6), append(sigs, "Never")...)
	// Row 3: the retained messages arrive: last known, usable, with their values.
	connect(t, h)
	if !h.StepUntil(func() bool {
		return h.Quality("Text") != signals.Initial && h.Quality("CsvB") != signals.Initial && h.Quality("Obj") != signals.Initial
	}, wait) {
		t.Fatal("retained messages not received")
	}
	h.StepUntil(func() bool { return h.Quality("Json") != signals.Initial }, wait)
	expect("3 retained", all(signals.LastKnown, 5), sigs...)
	if h.Float("Text") != 21.5 || h.Float("CsvA") != 21.5 {
		t.Errorf("retained values %v %v", h.Get("Text"), h.Get("CsvA"))
	}
	expect("1 never published, connected", []signals.Quality{signals.Initial}, "Never")
	// Row 4: live messages are good.
	time.Sleep(50 * time.Millisecond) // the subscription is made
	live(22)
	expect("4 live", all(signals.Good, 5), sigs...)
	// Row 5: a payload that does not decode: bad input, the value kept.
	for topic, p := range map[string]string{"q/text": "hot", "q/json": "{", "q/obj": `{"v": "hot", "q": "good", "t": 1}`, "q/csv": "hot,ON"} {
		b.publish(topic, p, false)
	}
	if !h.StepUntil(func() bool { n, _ := h.Get("DecodeErrors").Uint(); return n == 4 }, wait) {
		t.Fatalf("DecodeErrors %v", h.Get("DecodeErrors"))
	}
	h.Step(1)
	expect("5 bad payload", []signals.Quality{signals.BadInput, signals.BadInput, signals.BadInput, signals.BadInput, signals.Good}, sigs...)
	if h.Float("Text") != 22 || h.Float("CsvA") != 22 {
		t.Errorf("bad payload replaced the value: %v %v", h.Get("Text"), h.Get("CsvA"))
	}
	live(23)
	expect("4 live after bad", all(signals.Good, 5), sigs...)
	// Row 6: no message for max_age: stale.
	h.Step(101)
	expect("6 max_age", all(signals.Stale, 5), sigs...)
	live(24)
	expect("4 live after stale", all(signals.Good, 5), sigs...)
	// Row 9: the source's own quality, with a value and without (null).
	b.publish("q/obj", fmt.Sprintf(`{"v": 25, "q": "stale", "t": %d}`, h.Clock().Wall().UnixMilli()), false)
	h.StepUntil(func() bool { return h.Float("Obj") == 25 }, wait)
	expect("9 source says stale", []signals.Quality{signals.Stale}, "Obj")
	b.publish("q/obj", `{"v": null, "q": "comm lost", "t": 1}`, false)
	h.StepUntil(func() bool { return h.Quality("Obj") == signals.CommLost }, wait)
	if h.Float("Obj") != 25 {
		t.Errorf("a null with its quality replaced the value: %v", h.Get("Obj"))
	}
	// Row 10: the source's own time stamp: kept, and max_age counts from it.
	old := h.Clock().Wall().Add(-5 * time.Second)
	b.publish("q/obj", fmt.Sprintf(`{"v": 26, "q": "good", "t": %d}`, old.UnixMilli()), false)
	h.StepUntil(func() bool { return h.Float("Obj") == 26 }, wait)
	if got := h.Port("Obj").Time(); !got.Equal(old.Truncate(time.Millisecond)) {
		t.Errorf("source time stamp %v, want %v", got, old)
	}
	expect("10 source time older than max_age", []signals.Quality{signals.Stale}, "Obj")
	live(27)
	expect("4 live", all(signals.Good, 5), sigs...)
	// Device offline (its will): comm lost; online again: last known until a live value.
	b.publish("q/lwt", "Offline", true)
	h.StepUntil(func() bool { return h.Quality("Text") == signals.CommLost }, wait)
	expect("7 device offline", all(signals.CommLost, 5), sigs...)
	if on, _ := h.Get("DevOnline").Bool(); on || h.Quality("DevOnline") != signals.Good {
		t.Errorf("DevOnline %v (%v)", h.Get("DevOnline"), h.Quality("DevOnline"))
	}
	b.publish("q/lwt", "online", true) // case does not matter
	h.StepUntil(func() bool { return h.Quality("Text") != signals.CommLost }, wait)
	expect("8 device online", all(signals.LastKnown, 5), sigs...)
	live(28)
	expect("4 live", all(signals.Good, 5), sigs...)
	// Row 7 and 8 for the link: the broker goes away and comes back.
	b.stop()
	h.StepUntil(func() bool { return h.Quality("Text") == signals.CommLost }, wait)
	expect("7 link down", all(signals.CommLost, 6), append(sigs, "Never")...)
	if h.Float("Text") != 28 || h.Float("CsvA") != 28 {
		t.Errorf("values not kept while comm lost: %v %v", h.Get("Text"), h.Get("CsvA"))
	}
	b.start(b.addr)
	connect(t, h)
	h.Step(1)
	expect("8 link up", all(signals.LastKnown, 5), sigs...)
	expect("8 link up, never received", []signals.Quality{signals.Initial}, "Never")
	time.Sleep(50 * time.Millisecond)
	live(29)
	expect("4 live", all(signals.Good, 5), sigs...)
}

// wire returns the payloads received on topic since the n-th.
func wire(b *broker, topic string, n int) []string {
	got := b.on(topic)
	if n > len(got) {
		return nil
	}
	return got[n:]
}

func TestQualityTablePublish(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	h := runtimetest.New(t, mqttclient.Type, fmt.Sprintf(`fs: 100
config:
  servers: [%s]
  publish:
    - {name: Text, topic: p/text, type: double, qos: 1}
    - {name: Json, topic: p/json, type: double, format: json, qos: 1}
    - {name: Obj, topic: p/obj, type: double, format: json, field: v, quality_field: q, time_field: t, when_not_good: quality, qos: 1}
    - {name: Tmpl, topic: p/tmpl, type: double, format: json, template: '{"v": {{value}}, "q": {{quality}}}', when_not_good: quality, qos: 1}
    - {name: Last, topic: p/last, type: double, when_not_good: last_good, on_change: false, interval: 100ms, qos: 1}
    - name: Csv
      topic: p/csv
      format: csv
      qos: 1
      values: [{name: CsvA, type: double}, {name: CsvB, type: bool, value_map: {true: "ON", false: "OFF"}}]
`, b.url()))
	topics := []string{"p/text", "p/json", "p/obj", "p/tmpl", "p/csv"}
	seen := map[string]int{}
	set := func(v float64, q signals.Quality) {
		for _, in := range []string{"Text", "Json", "Obj", "Tmpl", "Last", "CsvA"} {
			h.SetQ(in, v, q)
		}
		h.SetQ("CsvB", true, q)
	}
	// step runs ticks, waits until the broker has what the client accepted,
	// and returns the new payloads per topic.
	step := func(ticks int) map[string][]string {
		t.Helper()
		h.Step(ticks)
		ok := h.StepUntil(func() bool {
			q, _ := h.Get("Queued").Uint()
			for _, topic := range append(topics, "p/last") {
				name := map[string]string{"p/text": "Text", "p/json": "Json", "p/obj": "Obj", "p/tmpl": "Tmpl", "p/csv": "Csv", "p/last": "Last"}[topic]
				n, _ := h.Get(name + "Count").Uint()
				if len(b.on(topic)) != int(n) {
					return false
				}
			}
			return q == 0
		}, wait)
		if !ok {
			t.Fatal("the broker did not get what the client accepted")
		}
		out := map[string][]string{}
		for _, topic := range append(topics, "p/last") {
			out[topic] = wire(b, topic, seen[topic])
			seen[topic] = len(b.on(topic))
		}
		return out
	}
	expect := func(row string, got map[string][]string, want map[string][]string) {
		t.Helper()
		for _, topic := range topics {
			if !slices.Equal(got[topic], want[topic]) {
				t.Errorf("%s: %s got %q, want %q", row, topic, got[topic], want[topic])
			}
		}
	}
	ms := func() string { return strconv.FormatInt(h.Port("Obj").Stamp()/1e6, 10) }
	connect(t, h)

	// Row 1: inputs never written: nothing, in any mode, on connect included.
	got := step(20)
	expect("1 initial", got, nil)
	if len(got["p/last"]) != 0 {
		t.Errorf("1 initial: last_good published %q", got["p/last"])
	}
	// Row 2: comm lost before any usable value (issue 9 item 1): still nothing.
	set(0, signals.CommLost)
	got = step(20)
	expect("2 comm lost, never usable", got, nil)
	if len(got["p/last"]) != 0 {
		t.Errorf("2: last_good published %q", got["p/last"])
	}
	// Row 4: good.
	set(21.5, signals.Good)
	got = step(1)
	expect("4 good", got, map[string][]string{
		"p/text": {"21.5"}, "p/json": {"21.5"}, "p/obj": {`{"v":21.5,"t":` + ms() + `,"q":"good"}`},
		"p/tmpl": {`{"v": 21.5, "q": "good"}`}, "p/csv": {"21.5,ON"},
	})
	// Row 3: the same value, last known: a quality-only change publishes
	// nothing where the payload has no quality, and the quality where it has.
	set(21.5, signals.LastKnown)
	got = step(1)
	expect("3 last known, same value", got, map[string][]string{
		"p/obj": {`{"v":21.5,"t":` + ms() + `,"q":"last known"}`}, "p/tmpl": {`{"v": 21.5, "q": "last known"}`},
	})
	// Row 3 with a new value: usable, so published everywhere.
	set(22, signals.LastKnown)
	got = step(1)
	expect("3 last known, new value", got, map[string][]string{
		"p/text": {"22"}, "p/json": {"22"}, "p/obj": {`{"v":22,"t":` + ms() + `,"q":"last known"}`},
		"p/tmpl": {`{"v": 22, "q": "last known"}`}, "p/csv": {"22,ON"},
	})
	// Rows 5-7: not usable. skip: nothing; quality: null with the quality,
	// never the number; last_good: the last usable value.
	for _, q := range []signals.Quality{signals.Stale, signals.CommLost, signals.BadInput} {
		set(99, q)
		got = step(30)
		expect(fmt.Sprintf("%v", q), got, map[string][]string{
			"p/obj": {`{"v":null,"t":` + ms() + `,"q":"` + q.String() + `"}`}, "p/tmpl": {`{"v": null, "q": "` + q.String() + `"}`},
		})
		if len(got["p/last"]) < 2 {
			t.Errorf("%v: last_good sent %q in 300 ms at a 100 ms interval", q, got["p/last"])
		}
		for _, p := range got["p/last"] {
			if p != "22" {
				t.Errorf("%v: last_good sent %q, want the last usable value 22", q, p)
			}
		}
	}
	// Row 8: usable again with the value last published: quality-only.
	set(22, signals.Good)
	got = step(1)
	expect("8 good again, same value", got, map[string][]string{
		"p/obj": {`{"v":22,"t":` + ms() + `,"q":"good"}`}, "p/tmpl": {`{"v": 22, "q": "good"}`},
	})
	// Issue 9 item 6: no binary noise.
	set(37.800000000000004, signals.Good)
	got = step(1)
	expect("4 good, noisy double", got, map[string][]string{
		"p/text": {"37.8"}, "p/json": {"37.8"}, "p/obj": {`{"v":37.8,"t":` + ms() + `,"q":"good"}`},
		"p/tmpl": {`{"v": 37.8, "q": "good"}`}, "p/csv": {"37.8,ON"},
	})
	for _, p := range got["p/last"] {
		if strings.Contains(p, "0000") {
			t.Errorf("binary noise on the wire: %q", p)
		}
	}
}

// TestDeviceAvailabilityJSON follows a zigbee2mqtt device, whose
// availability payload is JSON ({"state": "online"}); a payload that says
// neither online nor offline is counted and changes nothing.
func TestDeviceAvailabilityJSON(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	b.publish("z2m/lamp/availability", `{"state": "online"}`, true)
	h := runtimetest.New(t, mqttclient.Type, fmt.Sprintf(`fs: 100
config:
  servers: [%s]
  devices: [{name: Lamp, availability: z2m/lamp/availability, field: state}]
  subscribe:
    - {name: State, topic: z2m/lamp, type: bool, format: json, field: state, value_map: {true: "ON", false: "OFF"}, device: Lamp}
`, b.url()))
	if q := h.Quality("LampOnline"); q != signals.Initial {
		t.Errorf("LampOnline before any availability: %v", q)
	}
	connect(t, h)
	if !h.StepUntil(func() bool { on, _ := h.Get("LampOnline").Bool(); return on }, wait) {
		t.Fatal("the retained availability was not followed")
	}
	time.Sleep(50 * time.Millisecond)
	b.publish("z2m/lamp", `{"state": "ON", "brightness": 254}`, false)
	h.StepUntil(func() bool { return h.Quality("State") == signals.Good }, wait)
	b.publish("z2m/lamp/availability", `{"state": "offline"}`, true)
	if !h.StepUntil(func() bool { return h.Quality("State") == signals.CommLost }, wait) {
		t.Fatalf("State %v after offline", h.Quality("State"))
	}
	b.publish("z2m/lamp/availability", `{"state": "rebooting"}`, true)
	if !h.StepUntil(func() bool { n, _ := h.Get("DecodeErrors").Uint(); return n == 1 }, wait) {
		t.Fatal("a payload neither online nor offline was not counted")
	}
	h.Step(2)
	if on, _ := h.Get("LampOnline").Bool(); on || h.Quality("State") != signals.CommLost {
		t.Errorf("an unknown availability changed the state: online %v, State %v", on, h.Quality("State"))
	}
	b.publish("z2m/lamp/availability", `{"state": "online"}`, true)
	if !h.StepUntil(func() bool { return h.Quality("State") == signals.LastKnown }, wait) {
		t.Errorf("State %v after online, want last known", h.Quality("State"))
	}
}
