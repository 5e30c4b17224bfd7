package apps_test

// Every example application has a YAML test: each application NAME.yaml,
// in apps/ or a directory below it, has a NAME_test.yaml beside it, and
// every test in it passes.

import (
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/metronome-rt/metronome/components/all"
	"github.com/metronome-rt/metronome/link/system"
	"github.com/metronome-rt/metronome/runtime/apptest"
)

// applications lists the applications under apps/: the YAML files whose
// top-level mapping has the key "application". Models ("model:"), included
// component lists and test files are not applications.
func applications(t *testing.T) []string {
	t.Helper()
	var apps []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, "_test.yaml") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var top map[string]any
		if yaml.Unmarshal(data, &top) == nil {
			if _, ok := top["application"]; ok {
				apps = append(apps, path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return apps
}

// testFiles lists every NAME_test.yaml under apps/.
func testFiles(t *testing.T) []string {
	t.Helper()
	var tests []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, "_test.yaml") {
			tests = append(tests, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return tests
}

// options are what `runtime test` runs with: every built-in type and the
// binary's sections (an application of a system of runtimes loads).
func options() apptest.Options {
	return apptest.Options{Registry: all.Registry(), Sections: system.Sections()}
}

func TestEveryExampleHasAYAMLTestThatPasses(t *testing.T) {
	n := 0
	for _, app := range applications(t) {
		n++
		test := strings.TrimSuffix(app, ".yaml") + "_test.yaml"
		t.Run(test, func(t *testing.T) {
			if _, err := os.Stat(test); err != nil {
				t.Fatalf("%s has no test: write %s (see docs/yaml.md, Application tests)", app, test)
			}
			res := apptest.RunFile(test, options())
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
// own name is a mistake (a renamed application, a typo), and so is one
// beside a file of that name that is not an application.
func TestEveryTestNamesAnExample(t *testing.T) {
	apps := applications(t)
	for _, test := range testFiles(t) {
		app := strings.TrimSuffix(test, "_test.yaml") + ".yaml"
		if _, err := os.Stat(app); err != nil {
			t.Errorf("%s tests no application: %s does not exist", test, app)
		} else if !slices.Contains(apps, app) {
			t.Errorf("%s tests no application: %s has no key \"application\"", test, app)
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
	res := apptest.RunFile(file, options())
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
