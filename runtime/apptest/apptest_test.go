package apptest_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/metronome-rt/metronome/components/all"
	"github.com/metronome-rt/metronome/link/system"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/runtime/apptest"
	"github.com/metronome-rt/metronome/signals"
)

// linkConfig configures a Link: the topic it subscribes to and the one it
// publishes on.
type linkConfig struct {
	Sub    string `yaml:"sub"`
	Pub    string `yaml:"pub"`
	Retain bool   `yaml:"retain"`
}

// linkType is a small I/O component that takes part in application tests
// through runtime.Simulator, as an MQTT client does: Rx is the last
// payload received on sub, parsed as a number (bad input if it is not
// one); Tx is published on pub whenever it changes, while it is good. Without Simulate it
// does nothing: it has no network of its own.
var linkType = runtime.Define(runtime.Spec[linkConfig]{
	Name: "Link",
	Build: func(b *runtime.Builder, c *linkConfig) (runtime.Component, error) {
		l := &link{cfg: *c, rx: runtime.Output[float64](b, "Rx"), tx: runtime.Input[float64](b, "Tx")}
		b.Decoupled()
		return l, nil
	},
})

type link struct {
	cfg     linkConfig
	rx      *signals.Signal[float64]
	tx      *signals.Signal[float64]
	publish func(runtime.Message)
	box     runtime.Latest[string]
	buf     []byte
	sent    float64
	once    bool
}

func (l *link) Simulate(publish func(runtime.Message)) error {
	l.publish = publish
	return nil
}

func (l *link) Deliver(m runtime.Message) bool {
	if m.Topic != l.cfg.Sub {
		return false
	}
	p := string(m.Payload)
	l.box.Put(&p)
	return true
}

func (l *link) Process(runtime.Tick) {
	if p, ok := l.box.Take(); ok {
		if f, err := strconv.ParseFloat(*p, 64); err == nil {
			l.rx.Set(f)
		} else {
			l.rx.SetQuality(signals.BadInput)
		}
	}
	if l.publish != nil && l.tx.Quality() == signals.Good && (!l.once || l.tx.Get() != l.sent) {
		l.sent, l.once = l.tx.Get(), true
		l.buf = strconv.AppendFloat(l.buf[:0], l.tx.Get(), 'g', -1, 64)
		l.publish(runtime.Message{Topic: l.cfg.Pub, Payload: l.buf, QoS: 1, Retain: l.cfg.Retain})
	}
}

func registry() *runtime.Registry {
	return runtime.MustRegistry(append(all.Types(), linkType)...)
}

// files writes name -> text into a new directory and returns the path of
// the first name given to it.
func files(t *testing.T, kv ...string) string {
	t.Helper()
	dir := t.TempDir()
	for i := 0; i+1 < len(kv); i += 2 {
		if err := os.WriteFile(filepath.Join(dir, kv[i]), []byte(kv[i+1]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, kv[0])
}

const app = `application: A
fs: 10
components:
  - {name: Set, type: Constant, parameters: {Value: 2}}
  - {name: Double, type: Gain, parameters: {K: 2}, inputs: {In: A.Set.Out}}
  - name: Net
    type: Link
    config: {sub: in/value, pub: out/value, retain: true}
    inputs: {Tx: A.Double.Out}
  - {name: Lag, type: LowPass, parameters: {T: 1}, inputs: {In: A.Net.Rx}}
  - {name: Safe, type: SafeValue, inputs: {In: A.Net.Rx}, parameters: {Fallback: -1}}
`

func TestPassingFile(t *testing.T) {
	file := files(t, "app_test.yaml", `app: app.yaml
tests:
  - name: values, parameters, time and messages
    steps:
      - step: 1
      - expect:
          A.Double.Out: 4
          Double.K: 2                      # a parameter; the application's name may be left out
          A.Net.Rx: {quality: initial}     # nothing received yet
          A.Safe.Out: -1
          A.Safe.Substituting: {active: true, acked: false}
      - published: {out/value: [{payload: "4", qos: 1, retain: true}]}
      - set: {A.Set.Value: 3}
      - step: 2
      - published:
          out/value: ["6"]
      - step: 5
      - published: {out/value: []}         # nothing new: Tx did not change
      - inject: {topic: in/value, payload: "10"}
      - step: 1
      - expect: {A.Net.Rx: 10, A.Safe.Out: 10, A.Safe.Substituting: false}
      - ack: A.Safe.Substituting
      - expect: {A.Safe.Substituting: {acked: true}}
      - advance: 5s                        # the low-pass settles towards 10
        always: {A.Lag.Out: {min: 0, max: 10}}
      - expect: {A.Lag.Out: {value: 10, tolerance: 0.1}}
      - set: {A.Net.Tx: {value: 7, quality: stale}}   # an input, written as a route would
      - step: 1
      - published: {out/value: []}         # a stale value is not published by Link
      - inject: [{topic: in/value, payload: "x"}]
      - step: 1
      - expect: {A.Net.Rx: {quality: bad input}, A.Safe.Out: -1}
`, "app.yaml", app)
	res := apptest.RunFile(file, apptest.Options{Registry: registry()})
	var out strings.Builder
	res.Print(&out, true)
	if res.Failed() {
		t.Fatalf("failed:\n%s", out.String())
	}
	if len(res.Tests) != 1 || res.Tests[0].Steps != 21 {
		t.Fatalf("ran %d tests, %d steps:\n%s", len(res.Tests), res.Tests[0].Steps, out.String())
	}
	if !strings.Contains(out.String(), "app_test.yaml:3:5: ok: values, parameters, time and messages (21 steps, 6.1s)") {
		t.Errorf("verbose output:\n%s", out.String())
	}
}

// TestFailuresSayWhereWhatAndWhen: every kind of check, failing, names the
// file, line and column of what failed, the test, the step, and what was
// expected and found.
func TestFailuresSayWhereWhatAndWhen(t *testing.T) {
	file := files(t, "app_test.yaml", `app: app.yaml
tests:
  - name: value
    steps:
      - step: 1
      - expect: {A.Double.Out: 5}
  - name: quality
    steps:
      - step: 1
      - expect:
          A.Net.Rx: 0
  - name: overshoot
    steps:
      - set: {A.Set.Value: 6}
      - step: 10
        always: {A.Double.Out: {max: 11}}
      - expect: {A.Double.Out: 12}        # not reached: the test stopped
  - name: published
    steps:
      - step: 1
      - published: {out/value: ["5"]}
  - name: alarm
    steps:
      - step: 1
      - expect: {A.Safe.Substituting: {active: false, acked: true}}
  - name: inject
    steps:
      - inject: {topic: nobody/listens, payload: "1"}
`, "app.yaml", app)
	res := apptest.RunFile(file, apptest.Options{Registry: registry()})
	if !res.Failed() {
		t.Fatal("passed")
	}
	var got []string
	for _, tr := range res.Tests {
		for _, f := range tr.Failures {
			got = append(got, strings.TrimPrefix(f, filepath.Dir(file)+"/"))
		}
	}
	want := []string{
		`app_test.yaml:6:18: test "value": step 2 (expect): A.Double.Out: want 5, got 4 (good) (at 100ms)`,
		`app_test.yaml:11:11: test "quality": step 2 (expect): A.Net.Rx: want quality good, got 0 (initial) (at 100ms)`,
		`app_test.yaml:16:18: test "overshoot": step 2 (step): always: A.Double.Out: want at most 11, got 12 (good) (at 100ms)`,
		`app_test.yaml:21:21: test "published": step 2 (published): published on out/value since the last check: want ["5"], got ["4" qos 1 retain true] (at 100ms)`,
		`app_test.yaml:25:18: test "alarm": step 2 (expect): A.Safe.Substituting: want active false, got true, want acked true, got false (at 100ms)`,
		`app_test.yaml:28:17: test "inject": step 1 (inject): inject: no subscription of the application matches nobody/listens`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("failures differ\n got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	// The overshoot test stopped at its failing step.
	if res.Tests[2].Steps != 2 {
		t.Errorf("overshoot ran %d steps, want to stop at its failing step 2", res.Tests[2].Steps)
	}
}

// TestMistakesInTheFile are reported with their place before anything
// runs: a test with a wrong path does not run at all.
func TestMistakesInTheFile(t *testing.T) {
	file := files(t, "app_test.yaml", `app: app.yaml
tests:
  - name: typos
    steps:
      - stpe: 1
      - step: 0
      - expect: {A.Dubble.Out: 1, A.Double.Outt: 1, A.Double.Out: {value: x, tolerence: 1}}
      - set: {A.Safe.Substituting: true, A.Set.Value: {value: 1, quality: fine}}
      - published: {"out/#": []}
      - advance: 1h
        always: {A.Set.Out: {min: a}}
      - inject: {topic: in/value}
      - expect: {A.Double.Out: 1}
        always: {A.Double.Out: 1}
`, "app.yaml", app)
	res := apptest.RunFile(file, apptest.Options{Registry: registry()})
	if len(res.Tests) != 0 {
		t.Errorf("a file with mistakes in its form ran %d tests", len(res.Tests))
	}
	var got []string
	for _, f := range res.Problems {
		got = append(got, strings.TrimPrefix(f, filepath.Dir(file)+"/"))
	}
	want := []string{
		`app_test.yaml:5:9: test "typos": step 1: unknown key "stpe" (did you mean "step"?)`,
		`app_test.yaml:5:9: test "typos": step 1: no action (want one of set, inject, step, advance, expect, published, ack)`,
		`app_test.yaml:14:17: test "typos": step 8: always goes with step or advance`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems differ\n got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	// Without the form mistakes, the rest is checked against the application.
	text, _ := os.ReadFile(file)
	fixed := strings.Replace(strings.Replace(string(text), "stpe: 1", "step: 1", 1), "        always: {A.Double.Out: 1}\n", "", 1)
	os.WriteFile(file, []byte(fixed), 0o644)
	res = apptest.RunFile(file, apptest.Options{Registry: registry()})
	got = nil
	for _, f := range append(res.Problems, res.Tests[0].Failures...) {
		got = append(got, strings.TrimPrefix(f, filepath.Dir(file)+"/"))
	}
	want = []string{
		`app_test.yaml:6:15: test "typos": step 2 (step): want a number of ticks (1 or more), got "0"`,
		`app_test.yaml:7:18: test "typos": step 3 (expect): "A.Dubble.Out": the application has no component A.Dubble`,
		`app_test.yaml:7:35: test "typos": step 3 (expect): "A.Double.Outt": A.Double has no signal, parameter or alarm "Outt"`,
		`app_test.yaml:7:78: test "typos": step 3 (expect): A.Double.Out: unknown key "tolerence" (did you mean "tolerance"?)`,
		`app_test.yaml:7:75: test "typos": step 3 (expect): A.Double.Out: value: want a double, got "x"`,
		`app_test.yaml:8:15: test "typos": step 4 (set): A.Safe.Substituting is an alarm: it cannot be set (acknowledge it with ack:)`,
		`app_test.yaml:8:75: test "typos": step 4 (set): A.Set.Value: a parameter has no quality`,
		`app_test.yaml:9:21: test "typos": step 5 (published): published: want a topic name (no wildcards), got "out/#"`,
		`app_test.yaml:11:35: test "typos": step 6 (advance): A.Set.Out: min: want a number, got "a"`,
		`app_test.yaml:12:17: test "typos": step 7 (inject): inject: missing key "payload"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("failures differ\n got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if res.Tests[0].Steps != 0 {
		t.Errorf("a test with mistakes ran %d steps", res.Tests[0].Steps)
	}
}

func TestApplicationThatDoesNotLoad(t *testing.T) {
	file := files(t, "app_test.yaml", "app: app.yaml\ntests:\n  - {name: t, steps: [{step: 1}]}\n",
		"app.yaml", "application: A\ncomponents:\n  - {name: X, type: Gian}\n")
	res := apptest.RunFile(file, apptest.Options{Registry: registry()})
	got := strings.ReplaceAll(strings.Join(res.Tests[0].Failures, "\n"), filepath.Dir(file)+"/", "")
	want := "app_test.yaml:1:6: test \"t\": the application does not load:\n  app.yaml:3:21: A.X: unknown component type \"Gian\" (did you mean \"Gain\"?)"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestRunSelectsTests(t *testing.T) {
	file := files(t, "app_test.yaml", "app: app.yaml\ntests:\n  - {name: one, steps: [{step: 1}]}\n  - {name: two, steps: [{step: 1}]}\n", "app.yaml", app)
	res := apptest.RunFile(file, apptest.Options{Registry: registry(), Run: regexp.MustCompile("^two$")})
	if len(res.Tests) != 1 || res.Tests[0].Name != "two" || res.Failed() {
		t.Errorf("ran %+v", res.Tests)
	}
	res = apptest.RunFile(file, apptest.Options{Registry: registry(), Run: regexp.MustCompile("three")})
	if !res.Failed() || len(res.Problems) != 1 {
		t.Errorf("a filter that matches nothing: %+v", res)
	}
}

// TestApplicationOfASystem: an application with a `system:` section loads
// when the binary's sections are given, with its System component and
// without a link; an input routed from another application stays initial
// until `set:` writes it, and keeps what was written across ticks.
func TestApplicationOfASystem(t *testing.T) {
	file := files(t, "b_test.yaml", `app: b.yaml
tests:
  - name: a remote input is driven by set
    steps:
      - step: 1
      - expect:
          B.Mirror.In: {quality: initial}
          B.System.A_Online: {quality: initial}
          B.System.A_Offline: false
      - set: {B.Mirror.In: 21.5}
      - step: 3
      - expect: {B.Mirror.Out: 43, B.Mirror.In: 21.5}
      - set: {B.Mirror.In: {value: 21.5, quality: comm lost}}
      - step: 1
      - expect: {B.Mirror.Out: {value: 43, quality: comm lost}}
`, "b.yaml", `application: B
components:
  - {name: Mirror, type: Gain, parameters: {K: 2}, inputs: {In: A.Wave.Out}}
system:
  name: plant
  peers: [A]
  broker: {servers: ["mqtt://127.0.0.1:1"]}
`)
	res := apptest.RunFile(file, apptest.Options{Registry: registry(), Sections: system.Sections()})
	var out strings.Builder
	res.Print(&out, false)
	if res.Failed() || len(res.Tests) != 1 {
		t.Fatalf("with the sections:\n%s", out.String())
	}
	res = apptest.RunFile(file, apptest.Options{Registry: registry()})
	if !res.Failed() || len(res.Tests) != 1 || !strings.Contains(strings.Join(res.Tests[0].Failures, "\n"), `"system"`) {
		t.Fatalf("without the sections the key is unknown: %+v", res.Tests)
	}
}
