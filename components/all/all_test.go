package all_test

import (
	"strings"
	"testing"

	"github.com/metronome-rt/metronome/components/all"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/scheduler"
)

// TestEveryTypeDocumentsAndLoadsItsExample checks what every component type
// owes its users: a summary, an example entry that loads, and a description
// that `runtime types` can print.
func TestEveryTypeDocumentsAndLoadsItsExample(t *testing.T) {
	reg := all.Registry()
	for _, typ := range reg.Types() {
		t.Run(typ.Name(), func(t *testing.T) {
			if typ.Summary() == "" {
				t.Error("no Summary")
			}
			if strings.TrimSpace(typ.Example()) == "" {
				t.Fatal("no Example")
			}
			// Routes in examples name the application "App"; load them in
			// another application so that they are accepted as remote.
			var b strings.Builder
			b.WriteString("application: Example\ncomponents:\n")
			for i, line := range strings.Split(strings.TrimRight(typ.Example(), "\n"), "\n") {
				if i == 0 {
					b.WriteString("  - " + line + "\n")
				} else {
					b.WriteString("    " + line + "\n")
				}
			}
			if _, err := runtime.LoadBytes(typ.Name()+".example.yaml", []byte(b.String()), reg,
				runtime.LoadOptions{Scheduler: scheduler.Options{Virtual: true}}); err != nil {
				t.Fatalf("example does not load:\n%s\n%v", b.String(), err)
			}
			if _, err := runtime.Describe(typ); err != nil {
				t.Fatalf("Describe: %v", err)
			}
		})
	}
}
