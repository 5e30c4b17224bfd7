package system_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/metronome-rt/metronome/internal/mqtttest"
	"github.com/metronome-rt/metronome/link/system"
)

// An application with host_id is a Sparkplug host application: its STATE
// is retained online while it runs and offline once it stops
// (tck-id-host-topic-phid-birth-*, tck-id-host-topic-phid-death-*; the
// link's host tests cover the will and the answer to a forged offline).
func TestHostIDPublishesState(t *testing.T) {
	m := mqtttest.StartMochi(t)
	g, id := uniq("plant"), uniq("scada")
	x := start(t, "s.yaml", fmt.Sprintf(`application: Scada
fs: 10
system: {name: %s, host_id: %s, broker: %s}
components:
  - {name: K, type: Constant, parameters: {Value: 1}}
`, g, id, brokerYAML(m.URL())), system.Options{})
	state := func() (online bool, ts int64, ok bool) {
		msgs := m.Server().Topics.Messages("spBv1.0/STATE/" + id)
		if len(msgs) != 1 {
			return false, 0, false
		}
		var s struct {
			Online    *bool  `json:"online"`
			Timestamp *int64 `json:"timestamp"`
		}
		if err := json.Unmarshal(msgs[0].Payload, &s); err != nil || s.Online == nil || s.Timestamp == nil {
			t.Fatalf("STATE payload %q: %v", msgs[0].Payload, err)
		}
		if msgs[0].FixedHeader.Qos != 1 {
			t.Errorf("STATE retained at QoS %d, want 1", msgs[0].FixedHeader.Qos)
		}
		return *s.Online, *s.Timestamp, true
	}
	var born int64
	eventually(t, func() bool {
		on, ts, ok := state()
		born = ts
		return ok && on && ts > 0
	}, "no retained online STATE for %s", id)
	x.stop()
	eventually(t, func() bool {
		on, ts, ok := state()
		return ok && !on && ts == born
	}, "no retained offline STATE with the birth's timestamp after the stop")
	// The host also hears its own offline STATE: it must not answer it
	// with an online one while it stops.
	time.Sleep(300 * time.Millisecond)
	if on, _, _ := state(); on {
		t.Error("the retained STATE says online after the stop")
	}
}

// host_id is a Sparkplug ID: no '/', '+' or '#'.
func TestHostIDMustBeAnID(t *testing.T) {
	_, err := load(t, "s.yaml", `application: Scada
fs: 10
system: {name: plant, host_id: "scada/1", broker: {servers: ["mqtt://127.0.0.1:1883"]}}
components:
  - {name: K, type: Constant, parameters: {Value: 1}}
`)
	if err == nil {
		t.Fatal("host_id scada/1 accepted")
	}
	if want := "s.yaml:3:32: "; !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "host_id") {
		t.Errorf("error %q, want it at %s naming host_id", err, want)
	}
}
