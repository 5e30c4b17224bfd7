package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/metronome-rt/metronome/internal/mqtttest"
	"github.com/metronome-rt/metronome/runtime"
)

// writeFile writes text to dir/name and returns the path.
func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const sysA = `application: Line1
fs: 50
components:
  - name: Speed
    type: Constant
    parameters: {Value: 1200}
  - name: Wave
    type: SquareGenerator
  - name: Count
    type: Constant
    config: {type: int}
system:
  name: plant
  broker: {servers: ["mqtt://127.0.0.1:%d"], keep_alive: 2s, retry_min: 50ms, retry_max: 300ms}
  export:
    - {match: Speed, writable: true}
    - {match: Wave.Duty, writable: true}
    - {match: Count.Out}
`

const sysB = `application: Line2
fs: 50
view: {listen: "127.0.0.1:%d"}
components:
  - name: Broker
    type: MQTTBroker
    priority: high
    group: Broker
    config:
      listeners: [{type: tcp, address: 127.0.0.1, port: %d}]
      allow_anonymous: true
      acl: [{topic: "spBv1.0/#", access: readwrite}]
  - name: Mirror
    type: Gain
    inputs: {In: Line1.Speed.Out}
system:
  name: plant
  peers: [Line1]
  broker: {servers: ["mqtt://127.0.0.1:%d"], keep_alive: 2s, retry_min: 50ms, retry_max: 300ms}
  alarm_delay: 0s
`

// `runtime validate` checks applications given together against each
// other, and a route to an application outside the system even alone,
// every mistake at its file:line:col.
func TestValidateAcrossApplications(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "a.yaml", fmt.Sprintf(sysA, 1883))
	b := writeFile(t, dir, "b.yaml", `application: Line2
components:
  - name: Flag
    type: Not
    inputs: {In: Line1.Count.Out}
  - name: Mirror
    type: Gain
    inputs: {In: Line1.Speed.Outt}
  - name: Typo
    type: Gain
    inputs: {In: Lin1.Speed.Out}
  - name: Set
    type: Constant
system:
  name: plant
  peers: [Line1]
  broker: {servers: ["mqtt://127.0.0.1:1883"]}
  writes:
    - {from: Set.Out, to: Line1.Wave.Out}
    - {from: Set.Out, to: Line1.Speed.Value}
`)
	code, _, errOut := runCmd("validate", "-q", b)
	want := b + `:11:18: Line2.Typo: inputs.In: route "Lin1.Speed.Out" names application Lin1, which is not a peer of Line2 in system plant (did you mean Line1?): list it under system: peers (peers: Line1)` + "\n"
	if code != 1 || errOut != want {
		t.Errorf("validate b alone: exit %d\n%s\nwant:\n%s", code, errOut, want)
	}
	os.WriteFile(b, []byte(strings.Replace(mustRead(t, b), "Lin1.Speed.Out", "Line1.Speed.Out", 1)), 0o644)
	if code, _, errOut := runCmd("validate", "-q", b); code != 0 {
		t.Fatalf("validate b alone: exit %d: %s", code, errOut)
	}
	code, _, errOut = runCmd("validate", "-q", a, b)
	want = b + `:5:18: Line2.Flag: inputs.In: route "Line1.Count.Out": type mismatch: Line1.Count.Out is int, the input is bool; routes between applications are not converted
` + b + `:8:18: Line2.Mirror: inputs.In: route "Line1.Speed.Outt": Line1 has no signal or parameter Speed.Outt
` + b + `:19:27: system.writes[0].to: Wave.Out is a signal of Line1; only parameters can be written
`
	if code != 1 || errOut != want {
		t.Errorf("validate a b: exit %d\n%s\nwant:\n%s", code, errOut, want)
	}
}

func mustRead(t *testing.T, f string) string {
	t.Helper()
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// getValue reads one value from a live view with `runtime get --json`.
func getValue(t *testing.T, view, path string) (v, q string) {
	t.Helper()
	code, out, errOut := runCmd("get", "--view", view, "--json", "--timeout", "3s", path)
	if code != 0 {
		return "", "unreachable: " + errOut
	}
	var vals []struct {
		V json.RawMessage `json:"v"`
		Q string          `json:"q"`
	}
	if err := json.Unmarshal([]byte(out), &vals); err != nil || len(vals) != 1 {
		t.Fatalf("get %s: %v\n%s", path, err, out)
	}
	return string(vals[0].V), vals[0].Q
}

func waitValue(t *testing.T, view, path, v, q string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		gv, gq := getValue(t, view, path)
		if gv == v && gq == q {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: want %s (%s), have %s (%s)", path, v, q, gv, gq)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Two `runtime run` processes linked through the embedded broker of one
// of them: values cross, `runtime set --system` writes across (accepted or
// refused with the reason), SIGKILL of the exporting runtime makes the
// routed input comm lost (its will), and its restart restores it.
func TestTwoRuntimeProcessesLinked(t *testing.T) {
	dir := t.TempDir()
	port, viewPort := mqtttest.FreePort(t), mqtttest.FreePort(t)
	a := writeFile(t, dir, "a.yaml", fmt.Sprintf(sysA, port))
	b := writeFile(t, dir, "b.yaml", fmt.Sprintf(sysB, viewPort, port, port))
	view := fmt.Sprintf("127.0.0.1:%d", viewPort)
	locks := t.TempDir()
	pb := start(t, nil, "run", "--log-format", "json", "--lock-dir", locks, b)
	pb.waitLog("running;")
	pa := start(t, nil, "run", "--log-format", "json", "--lock-dir", locks, a)
	pa.waitLog("linked to the system as Sparkplug edge node plant/Line1")
	waitValue(t, view, "Line2.Mirror.In", "1200", "good")
	waitValue(t, view, "Line2.System.Line1_Online", "true", "good")

	code, out, errOut := runCmd("set", "--system", b, "--timeout", "10s", "Line1.Speed.Value", "1300")
	if code != 0 || out != "Line1.Speed.Value = 1300: accepted\n" {
		t.Fatalf("set: exit %d %q %q", code, out, errOut)
	}
	waitValue(t, view, "Line2.Mirror.In", "1300", "good")
	code, _, errOut = runCmd("set", "--system", b, "--timeout", "10s", "Line1.Wave.Duty", "5")
	if code != 1 || errOut != "runtime set Line1.Wave.Duty: refused: 5 is outside the range 0..1\n" {
		t.Errorf("out of range: exit %d %q", code, errOut)
	}
	code, _, errOut = runCmd("set", "--system", b, "--timeout", "10s", "Line1.Count.Out", "5")
	if code != 1 || !strings.Contains(errOut, "refused: not writable") {
		t.Errorf("a signal: exit %d %q", code, errOut)
	}
	code, out, errOut = runCmd("set", "--broker", fmt.Sprintf("mqtt://127.0.0.1:%d", port), "--group", "plant", "--timeout", "10s", "Line1.Speed.Value", "1300")
	if code != 0 || out != "Line1.Speed.Value = 1300: accepted\n" {
		t.Errorf("set --broker: exit %d %q %q", code, out, errOut)
	}
	code, _, errOut = runCmd("set", "--broker", fmt.Sprintf("mqtt://127.0.0.1:%d", port), "--group", "plant", "--timeout", "2s", "Line9.Speed.Value", "1")
	if code != 1 || !strings.Contains(errOut, "Line9 is not online in system plant") {
		t.Errorf("set to an application that is not there: exit %d %q", code, errOut)
	}

	// SIGKILL: no NDEATH from Line1 itself; the broker publishes its will.
	pa.cmd.Process.Signal(syscall.SIGKILL)
	pa.wait(10 * time.Second)
	waitValue(t, view, "Line2.Mirror.In", "1300", "comm lost")
	waitValue(t, view, "Line2.System.Line1_Online", "false", "good")
	// The restarted Line1 starts from its file (1200): the route follows.
	pa = start(t, nil, "run", "--log-format", "json", "--lock-dir", locks, a)
	waitValue(t, view, "Line2.Mirror.In", "1200", "good")
	// A clean stop announces the death itself.
	pa.stop()
	waitValue(t, view, "Line2.Mirror.In", "1200", "comm lost")
	if !strings.Contains(pa.logs.String(), `"stopped"`) {
		t.Errorf("Line1 did not stop cleanly:\n%s", pa.logs.String())
	}
	pb.stop()
}

// exampleSections are the sections a documentation example loads with: a
// whole application as `runtime validate` loads it, component entries
// wrapped in an application of their own without, since they route from
// the examples' own application, which is no peer of the wrapper.
func exampleSections(app, text string) []runtime.Section {
	if app != text {
		return nil
	}
	return sections()
}
