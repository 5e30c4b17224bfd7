package mqttclient_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/metronome-rt/metronome/components/mqttclient"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/runtime/runtimetest"
)

func TestValidateReportsEachMistake(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"no server", `{}`, "servers: at least one"},
		{"scheme", `{servers: [http://x]}`, `scheme "http"`},
		{"two passwords", `{servers: [mqtt://x], password: a, password_file: /p}`, "both set"},
		{"keep alive", `{servers: [mqtt://x], keep_alive: 0s}`, "keep_alive 0s"},
		{"retry", `{servers: [mqtt://x], retry_min: 2s, retry_max: 1s}`, "retry_min 2s"},
		{"cert without key", `{servers: [mqtts://x], tls: {cert_file: c.pem}}`, "cert_file and key_file"},
		{"publish wildcard", `{servers: [mqtt://x], publish: [{name: A, topic: a/+, type: int}]}`, "cannot hold + or #"},
		{"bad filter", `{servers: [mqtt://x], subscribe: [{name: A, topic: a/#/b, type: int}]}`, "# must be a whole last level"},
		{"bad type", `{servers: [mqtt://x], subscribe: [{name: A, topic: a, type: complex}]}`, `unknown signal type "complex"`},
		{"qos", `{servers: [mqtt://x], publish: [{name: A, topic: a, type: int, qos: 3}]}`, "qos 3"},
		{"dup name", `{servers: [mqtt://x], publish: [{name: A, topic: a, type: int}], subscribe: [{name: A, topic: b, type: int}]}`, `name "A" used twice`},
		{"keep", `{servers: [mqtt://x], publish: [{name: A, topic: a, type: int, keep: some}]}`, "keep \"some\""},
		{"no trigger", `{servers: [mqtt://x], publish: [{name: A, topic: a, type: int, on_change: false, on_connect: false}]}`, "no trigger"},
		{"map key", `{servers: [mqtt://x], publish: [{name: A, topic: a, type: bool, value_map: {maybe: X}}]}`, `value map key "maybe"`},
		{"text multi", `{servers: [mqtt://x], subscribe: [{name: A, topic: a, values: [{name: X, type: int}]}]}`, "needs format json or csv"},
		{"template on subscribe", `{servers: [mqtt://x], subscribe: [{name: A, topic: a, type: int, format: json, template: "{{value}}"}]}`, "template is for publish"},
		{"template placeholder", `{servers: [mqtt://x], publish: [{name: A, topic: a, type: int, format: json, template: "{{nope}}"}]}`, "unknown placeholder"},
		{"field on text", `{servers: [mqtt://x], subscribe: [{name: A, topic: a, type: int, field: x}]}`, "field is for json"},
		{"trigger", `{servers: [mqtt://x], publishers: [{name: P, trigger: sometimes}]}`, `trigger "sometimes"`},
		{"receive maximum", `{servers: [mqtt://x], receive_maximum: 0}`, "receive_maximum 0"},
	}
	for _, c := range cases {
		app := fmt.Sprintf("application: A\ncomponents:\n  - name: M\n    type: MQTTClient\n    config: %s\n", c.yaml)
		_, err := runtime.LoadBytes("a.yaml", []byte(app), runtime.MustRegistry(mqttclient.Type), runtime.LoadOptions{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
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
