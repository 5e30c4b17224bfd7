package mqttclient_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/metronome-rt/metronome/components/mqttclient"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/runtime/runtimetest"
)

// validate decodes a config: block as the loader does (strictly, over the
// defaults) and returns its Validate's field errors.
func validate(t *testing.T, y string) runtime.FieldErrors {
	t.Helper()
	cfg := mqttclient.Defaults()
	dec := yaml.NewDecoder(strings.NewReader(y))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("%s: %v", y, err)
	}
	return runtime.AsFieldErrors(cfg.Validate())
}

// TestValidateReportsEachMistakeAtItsKey is issue 10 for the client: every
// mistake is a field error at the exact key path, at the key itself where
// the key is what is wrong.
func TestValidateReportsEachMistakeAtItsKey(t *testing.T) {
	cases := []struct {
		name, yaml, path string
		atKey            bool
		offset           int
		want             string
	}{
		{"no server", `{}`, "servers", false, 0, "at least one broker URL"},
		{"scheme", `{servers: [mqtt://ok, http://x]}`, "servers[1]", false, 0, `scheme "http": want mqtt, mqtts, ws or wss (tcp is accepted for mqtt, ssl and tls for mqtts)`},
		{"no scheme", `{servers: ["127.0.0.1:1883"]}`, "servers[0]", false, 0, `"127.0.0.1:1883" has no scheme: write it as mqtt://127.0.0.1:1883`},
		{"no scheme, a name", `{servers: ["broker:1883"]}`, "servers[0]", false, 0, `"broker:1883" has no scheme`},
		{"port range", `{servers: ["mqtt://127.0.0.1:99999"]}`, "servers[0]", false, 17, `port "99999": want 1 to 65535`},
		{"port zero", `{servers: ["mqtts://u@h:0/x"]}`, "servers[0]", false, 12, `port "0": want 1 to 65535`},
		{"port letters", `{servers: ["ws://h:http/mqtt"]}`, "servers[0]", false, 7, `port "http"`},
		{"no host", `{servers: ["mqtt://:1883"]}`, "servers[0]", false, 7, "has no host"},
		{"two passwords", `{servers: [mqtt://x], password: a, password_file: /p}`, "password_file", false, 0, "both set"},
		{"keep alive", `{servers: [mqtt://x], keep_alive: 0s}`, "keep_alive", false, 0, "keep_alive 0s"},
		{"retry", `{servers: [mqtt://x], retry_min: 2s, retry_max: 1s}`, "retry_max", false, 0, "retry_max 1s is below retry_min 2s"},
		{"cert without key", `{servers: [mqtts://x], tls: {cert_file: c.pem}}`, "tls.cert_file", false, 0, "needs key_file"},
		{"status qos", `{servers: [mqtt://x], status: {topic: s, qos: 4}}`, "status.qos", false, 0, "qos 4"},
		{"queue", `{servers: [mqtt://x], queue: {limit: 0}}`, "queue.limit", false, 0, "limit 0"},
		{"publish wildcard", `{servers: [mqtt://x], publish: [{name: A, topic: a/+, type: int}]}`, "publish[0].topic", false, 0, "cannot hold + or #"},
		{"bad filter", `{servers: [mqtt://x], subscribe: [{name: A, topic: a/#/b, type: int}]}`, "subscribe[0].topic", false, 0, "# must be a whole last level"},
		{"bad type", `{servers: [mqtt://x], subscribe: [{name: A, topic: a, type: complex}]}`, "subscribe[0].type", false, 0, `unknown signal type "complex"`},
		{"no type", `{servers: [mqtt://x], subscribe: [{name: A, topic: a}]}`, "subscribe[0].type", false, 0, "a type is needed"},
		{"qos", `{servers: [mqtt://x], publish: [{name: A, topic: a, type: int, qos: 3}]}`, "publish[0].qos", false, 0, "qos 3"},
		{"dup name", `{servers: [mqtt://x], publish: [{name: A, topic: a, type: int}], subscribe: [{name: A, topic: b, type: int}]}`, "subscribe[0].name", false, 0, `"A" is already taken by publish[0] (A)`},
		{"fixed name", `{servers: [mqtt://x], publish: [{name: Connected, topic: a, type: bool}]}`, "publish[0].name", false, 0, `"Connected" is already the client's own Connected`},
		{"derived name", `{servers: [mqtt://x], subscribe: [{name: Temp, topic: a, type: int}, {name: TempCount, topic: b, type: int}]}`, "subscribe[1].name", false, 0, `"TempCount" is already taken by subscribe[0] (Temp)`},
		{"derived clash", `{servers: [mqtt://x], publish: [{name: Messages, topic: a, type: int}], subscribe: [{name: X, topic: b, values: [{name: MessagesCount, type: int}], format: json}]}`, "subscribe[0].values[0].name", false, 0, `"MessagesCount" is already taken by publish[0] (Messages)`},
		{"std name", `{servers: [mqtt://x], subscribe: [{name: Overrun, topic: a, type: int}]}`, "subscribe[0].name", false, 0, "the client's own Overrun"},
		{"alarm name", `{servers: [mqtt://x], subscribe: [{name: T, topic: a, type: int, alarm: {}}], publish: [{name: TQuality, topic: b, type: int}]}`, "subscribe[0].name", false, 0, `"T" declares TQuality, which is already taken by publish[0] (TQuality)`},
		{"bad name", `{servers: [mqtt://x], publish: [{name: "a.b", topic: a, type: int}]}`, "publish[0].name", false, 0, "invalid name"},
		{"no name", `{servers: [mqtt://x], publish: [{topic: a, type: int}]}`, "publish[0]", false, 0, "a name is needed"},
		{"keep", `{servers: [mqtt://x], publish: [{name: A, topic: a, type: int, keep: some}]}`, "publish[0].keep", false, 0, "keep \"some\""},
		{"no trigger", `{servers: [mqtt://x], publish: [{name: A, topic: a, type: int, on_change: false, on_connect: false}]}`, "publish[0].on_change", false, 0, "no trigger"},
		{"map key", `{servers: [mqtt://x], publish: [{name: A, topic: a, type: bool, value_map: {maybe: X}}]}`, "publish[0].value_map.maybe", true, 0, `value map key "maybe"`},
		{"value map key", `{servers: [mqtt://x], subscribe: [{name: A, topic: a, format: csv, values: [{name: B, type: int}, {name: C, type: bool, value_map: {true: "1", sometimes: "2"}}]}]}`, "subscribe[0].values[1].value_map.sometimes", true, 0, `value map key "sometimes"`},
		{"text multi", `{servers: [mqtt://x], subscribe: [{name: A, topic: a, values: [{name: X, type: int}]}]}`, "subscribe[0].format", false, 0, "needs format json or csv"},
		{"template placeholder", `{servers: [mqtt://x], publish: [{name: A, topic: a, type: int, format: json, template: '{"a": {{nope}}}'}]}`, "publish[0].template", false, 6, "unknown placeholder {{nope}}"},
		{"template multi value", `{servers: [mqtt://x], publish: [{name: A, topic: a, format: json, template: '{"t": {{value}}}', values: [{name: X, type: int}, {name: Y, type: int}]}]}`, "publish[0].template", false, 6, "{{value}} stands for the value of a single-value topic; this topic carries 2 values, so name each one: {{X}}, {{Y}}"},
		{"template on text", `{servers: [mqtt://x], publish: [{name: A, topic: a, type: int, template: "{{value}}"}]}`, "publish[0].template", false, 0, "needs format json"},
		{"field on text", `{servers: [mqtt://x], subscribe: [{name: A, topic: a, type: int, field: x}]}`, "subscribe[0].field", false, 0, "field is for json"},
		{"number format", `{servers: [mqtt://x], publish: [{name: A, topic: a, type: double, number_format: "%.2d"}]}`, "publish[0].number_format", false, 3, "want %f, %e or %g"},
		{"when not good", `{servers: [mqtt://x], publish: [{name: A, topic: a, type: double, when_not_good: never}]}`, "publish[0].when_not_good", false, 0, "want skip, last_good or quality"},
		{"quality on text", `{servers: [mqtt://x], publish: [{name: A, topic: a, type: double, when_not_good: quality}]}`, "publish[0].when_not_good", false, 0, "the payload must carry the quality"},
		{"quality field on csv", `{servers: [mqtt://x], subscribe: [{name: A, topic: a, type: double, format: csv, quality_field: q}]}`, "subscribe[0].quality_field", false, 0, "quality_field is for json"},
		{"nested time key", `{servers: [mqtt://x], publish: [{name: A, topic: a, type: double, format: json, time_field: a.b}]}`, "publish[0].time_field", false, 0, "plain key"},
		{"unknown device", `{servers: [mqtt://x], subscribe: [{name: A, topic: a, type: double, device: Boiler}]}`, "subscribe[0].device", false, 0, `unknown device "Boiler"`},
		{"device topic", `{servers: [mqtt://x], devices: [{name: D}]}`, "devices[0]", false, 0, "availability: the topic"},
		{"device payloads", `{servers: [mqtt://x], devices: [{name: D, availability: d/lwt, online: Up, offline: up}]}`, "devices[0].offline", false, 0, `online and offline are both "Up"`},
		{"device name", `{servers: [mqtt://x], devices: [{name: Temp, availability: d/lwt}], subscribe: [{name: TempOnline, topic: a, type: bool}]}`, "devices[0].name", false, 0, `"Temp" declares TempOnline, which is already taken by subscribe[0] (TempOnline)`},
		{"alarm level", `{servers: [mqtt://x], subscribe: [{name: A, topic: a, type: int, alarm: {level: loud}}]}`, "subscribe[0].alarm.level", false, 0, `unknown alarm level "loud"`},
		{"trigger", `{servers: [mqtt://x], publishers: [{name: P, trigger: sometimes}]}`, "publishers[0].trigger", false, 0, `trigger "sometimes"`},
		{"receive maximum", `{servers: [mqtt://x], receive_maximum: 0}`, "receive_maximum", false, 0, "receive_maximum 0"},
	}
	for _, c := range cases {
		errs := validate(t, c.yaml)
		found := false
		for _, e := range errs {
			if e.Path == c.path && e.AtKey == c.atKey && e.Offset == c.offset && strings.Contains(e.Msg, c.want) {
				found = true
			}
		}
		if !found {
			var got []string
			for _, e := range errs {
				got = append(got, fmt.Sprintf("%s (key %v, offset %d): %s", e.Path, e.AtKey, e.Offset, e.Msg))
			}
			t.Errorf("%s: got\n  %s\nwant %s (key %v, offset %d): ...%s...", c.name, strings.Join(got, "\n  "), c.path, c.atKey, c.offset, c.want)
		}
		if strings.Contains(c.yaml, "template") && c.name == "template multi value" {
			for _, e := range errs {
				if strings.Contains(e.Msg, "want {{value}}") {
					t.Errorf("a multi-value template error offers {{value}}: %s", e.Msg)
				}
			}
		}
	}
}

// TestSubscribeHasNoTemplate: a subscribe topic's payload has no template,
// so the key is unknown rather than accepted and then refused.
func TestSubscribeHasNoTemplate(t *testing.T) {
	cfg := mqttclient.Defaults()
	dec := yaml.NewDecoder(strings.NewReader(`{servers: [mqtt://x], subscribe: [{name: A, topic: a, type: int, format: json, template: "{{value}}"}]}`))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err == nil || !strings.Contains(err.Error(), "field template not found") {
		t.Errorf("template on a subscribe topic: %v", err)
	}
}

// TestEveryAcceptedSchemeConnects: the documented schemes, and only
// they, validate; the aliases reach the broker.
func TestEveryAcceptedSchemeConnects(t *testing.T) {
	b := startBroker(t, "127.0.0.1:0")
	for _, sch := range []string{"mqtt", "tcp", "MQTT"} {
		h := runtimetest.New(t, mqttclient.Type, fmt.Sprintf("fs: 100\nconfig: {servers: [%s://%s]}", sch, b.addr))
		connect(t, h)
	}
	for _, sch := range []string{"mqtts", "ssl", "tls", "ws", "wss"} {
		if errs := validate(t, fmt.Sprintf("{servers: [%s://h]}", sch)); len(errs) != 0 {
			t.Errorf("%s: %v", sch, errs)
		}
	}
	for _, sch := range []string{"http", "tcps", "mqtt+ssl", "unix"} {
		if errs := validate(t, fmt.Sprintf("{servers: [%s://h]}", sch)); len(errs) != 1 {
			t.Errorf("%s accepted", sch)
		}
	}
}

func TestExampleLoads(t *testing.T) {
	entry := strings.ReplaceAll(strings.TrimSpace(mqttclient.Example), "\n", "\n    ")
	app := "application: Plant\ncomponents:\n  - " + entry + "\n"
	if _, err := runtime.LoadBytes("example.yaml", []byte(app), runtime.MustRegistry(mqttclient.Type), runtime.LoadOptions{}); err != nil {
		t.Fatalf("example: %v\n%s", err, app)
	}
}

func TestPasswordFile(t *testing.T) {
	addr := startAuthBroker(t, "u", "secret")
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good"), filepath.Join(dir, "bad")
	os.WriteFile(good, []byte("secret\n"), 0o600)
	os.WriteFile(bad, []byte("wrong\n"), 0o600)
	h := runtimetest.New(t, mqttclient.Type, fmt.Sprintf("config: {servers: [mqtt://%s], username: u, password_file: %s}", addr, good))
	connect(t, h)
	// A wrong password is retried (capped backoff) and shown, never fatal.
	h2 := runtimetest.New(t, mqttclient.Type, fmt.Sprintf(`config: {servers: [mqtt://%s], username: u, password_file: %s, retry_min: 20ms, retry_max: 50ms, signal_timeout: 100ms}
fs: 100`, addr, bad))
	h2.Step(30)
	time.Sleep(200 * time.Millisecond)
	h2.Step(30)
	if c, _ := h2.Get("Connected").Bool(); c || !h2.Alarm("TransmissionError").Active() {
		t.Errorf("wrong password: connected %v, alarm %v", c, h2.Alarm("TransmissionError").Active())
	}
	// A missing password file fails the start: it is a configuration mistake.
	app, err := runtime.LoadBytes("a.yaml", []byte(fmt.Sprintf("application: A\ncomponents:\n  - name: M\n    type: MQTTClient\n    config: {servers: [mqtt://%s], password_file: %s}\n", addr, filepath.Join(dir, "none"))),
		runtime.MustRegistry(mqttclient.Type), runtime.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Start(ctxT(t, 10*time.Second)); err == nil || !strings.Contains(err.Error(), "password_file") {
		t.Errorf("start with a missing password file: %v", err)
		app.Stop(ctxT(t, 10*time.Second))
	}
}
