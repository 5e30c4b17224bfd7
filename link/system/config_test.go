package system_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/metronome-rt/metronome/runtime"
)

// loadErrors loads text and returns its errors, with the file name taken
// out, one per line.
func loadErrors(t *testing.T, text string) string {
	t.Helper()
	_, err := load(t, "app.yaml", text)
	var ce runtime.ConfigErrors
	if !errors.As(err, &ce) {
		t.Fatalf("load: %v, want configuration errors", err)
	}
	var lines []string
	for _, e := range ce {
		e.Pos.File = filepath.Base(e.Pos.File)
		lines = append(lines, e.Error())
	}
	return strings.Join(lines, "\n")
}

// Mistakes in the system: section, each at its key.
func TestSectionMistakesAtTheirKeys(t *testing.T) {
	got := loadErrors(t, `application: Line2
components:
  - {name: Set, type: Constant}
  - {name: In, type: Gain, inputs: {In: Line1.Pump.Out}}
system:
  name: "plant/x"
  peers: [Line1, Line1, Line2, 9x]
  broker: {servers: ["http://h"], protocol: "4.0", keep_alive: 500ms, password: a, password_file: /p}
  export:
    - {match: Nothing.Here}
    - {match: Set.Out, writable: true}
    - {match: "", deadband: -1}
  writes:
    - {from: Set.Out, to: Boiler.Burner.Temp}
    - {from: Set.Missing, to: Line1.Pump.K}
    - {to: Line1.Pump}
  write_timeout: 0s
`)
	want := `app.yaml:6:9: system.name: system name "plant/x" must not hold '/', '+' or '#'
app.yaml:7:18: system.peers[1]: peer Line1 is listed twice (first as peers[0])
app.yaml:7:32: system.peers[3]: invalid name "9x": use letters, digits and _ and start with a letter (names are joined with dots in routing paths)
app.yaml:8:22: system.broker.servers[0]: scheme "http": want mqtt, mqtts, ws or wss (tcp is accepted for mqtt, ssl and tls for mqtts)
app.yaml:8:45: system.broker.protocol: protocol "4.0": want 5 or 3.1.1
app.yaml:8:64: system.broker.keep_alive: keep_alive 500ms: want 1s to 65535s
app.yaml:8:99: system.broker.password_file: password and password_file are both set; use one
app.yaml:12:15: system.export[2].match: the pattern is empty: name the members to export, for example Pump.* or **.Temperature
app.yaml:12:29: system.export[2].deadband: deadband must be a number 0 or above, got -1
app.yaml:14:27: system.writes[0].to: Boiler is not among peers: list the application under peers (peers: Line1, Line1, Line2, 9x)
app.yaml:16:7: system.writes[2]: missing key "from": the signal or parameter of this application whose value is written
app.yaml:16:12: system.writes[2].to: want Peer.Component.Parameter, got "Line1.Pump"
app.yaml:17:18: system.write_timeout: write_timeout must be above 0, got 0s`
	if got != want {
		t.Errorf("errors:\n%s\nwant:\n%s", got, want)
	}
	got = loadErrors(t, `application: Line2
components:
  - {name: Set, type: Constant}
  - {name: In, type: Gain, inputs: {In: Line1.Pump.Out}}
  - {name: Far, type: Gain, inputs: {In: Lin1.Pump.Out}}
system:
  name: plant
  peers: [Line1, Line2]
  broker: {servers: ["mqtt://127.0.0.1:1883"]}
  export:
    - {match: Nothing.Here}
    - {match: Set.Out, writable: true}
  writes:
    - {from: Set.Missing, to: Line1.Pump.K}
`)
	want = `app.yaml:5:42: Line2.Far: inputs.In: route "Lin1.Pump.Out" names application Lin1, which is not a peer of Line2 in system plant (did you mean Line1?): list it under system: peers (peers: Line1, Line2)
app.yaml:8:18: system.peers[1]: Line2 is this application's own name; peers are the other applications
app.yaml:11:15: system.export[0].match: "Nothing.Here" matches no signal or parameter of Line2
app.yaml:12:34: system.export[1].writable: "Set.Out" matches no parameter: only parameters can be written
app.yaml:14:14: system.writes[0].from: Line2 has no signal or parameter Set.Missing`
	if got != want {
		t.Errorf("errors:\n%s\nwant:\n%s", got, want)
	}
	// Without a system: section a route to another application is an error.
	got = loadErrors(t, `application: Line2
components:
  - {name: In, type: Gain, inputs: {In: Line1.Pump.Out}}
`)
	want = `app.yaml:3:41: Line2.In: inputs.In: route "Line1.Pump.Out" names application Line1, but Line2 belongs to no system: routes between applications need a system: section with Line1 among its peers`
	if got != want {
		t.Errorf("errors:\n%s\nwant:\n%s", got, want)
	}
	// The System component's name is reserved.
	got = loadErrors(t, `application: Line2
components:
  - {name: System, type: Gain}
system: {name: plant, broker: {servers: ["mqtt://127.0.0.1:1883"]}}
`)
	want = `app.yaml:3:12: Line2.System: the name System is reserved: the application's system: section puts its state there`
	if got != want {
		t.Errorf("errors:\n%s\nwant:\n%s", got, want)
	}
}
