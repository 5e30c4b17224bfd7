package apps_test

// Every example application has a YAML test: each apps/NAME.yaml has an
// apps/NAME_test.yaml, and every test in it passes.

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/metronome-rt/metronome/components/all"
	"github.com/metronome-rt/metronome/runtime/apptest"
)

func TestEveryExampleHasAYAMLTestThatPasses(t *testing.T) {
	apps, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	reg := all.Registry()
	n := 0
	for _, app := range apps {
		if strings.HasSuffix(app, "_test.yaml") {
			continue
		}
		n++
		test := strings.TrimSuffix(app, ".yaml") + "_test.yaml"
		t.Run(test, func(t *testing.T) {
			if _, err := os.Stat(test); err != nil {
				t.Fatalf("%s has no test: write %s (see docs/yaml.md, Application tests)", app, test)
			}
			res := apptest.RunFile(test, apptest.Options{Registry: reg})
			for _, p := range res.Problems {
				t.Error(p)
			}
			for _, tr := range res.Tests {
				for _, f := range tr.Failures {
					t.Error(f)
				}
			}
			if len(res.Tests) == 0 && len(res.Problems) == 0 {
				t.Errorf("%s runs no test", test)
			}
		})
	}
	if n < 5 {
		t.Errorf("found %d example applications, want at least 5", n)
	}
}

// TestEveryTestNamesAnExample: a test file beside no application of its
// own name is a mistake (a renamed application, a typo).
func TestEveryTestNamesAnExample(t *testing.T) {
	tests, _ := filepath.Glob("*_test.yaml")
	for _, test := range tests {
		app := strings.TrimSuffix(test, "_test.yaml") + ".yaml"
		if _, err := os.Stat(app); err != nil {
			t.Errorf("%s tests no application: %s does not exist", test, app)
		}
	}
}

// TestYAMLTestsUseNoNetwork runs thermostat.yaml's tests with its broker
// and client pointed at a port this test listens on: nothing connects to
// it, and nothing else is left listening on a port the application names.
func TestYAMLTestsUseNoNetwork(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	app, err := filepath.Abs("thermostat.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile("thermostat_test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(tests), "app: thermostat.yaml", fmt.Sprintf("app: %s\nenv: {MQTT_PORT: \"%d\"}", app, port), 1)
	file := filepath.Join(t.TempDir(), "thermostat_test.yaml")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	res := apptest.RunFile(file, apptest.Options{Registry: all.Registry()})
	if res.Failed() || len(res.Tests) == 0 {
		var out strings.Builder
		res.Print(&out, false)
		t.Fatalf("the tests failed with MQTT_PORT=%d:\n%s", port, out.String())
	}
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(100 * time.Millisecond))
	if c, err := ln.Accept(); err == nil {
		c.Close()
		t.Fatalf("something connected to port %d during an application test", port)
	}
}
