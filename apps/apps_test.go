package apps_test

// Every example application has a YAML test: each apps/NAME.yaml has an
// apps/NAME_test.yaml, and every test in it passes.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

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
