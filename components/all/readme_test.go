package all_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/metronome-rt/metronome/components/all"
	"github.com/metronome-rt/metronome/runtime"
)

// TestBlockREADMEsListEveryMember checks that each block type has a
// "## Name" section in one package README and that the section names every
// signal, parameter, alarm and config key the type declares, so the docs
// cannot fall behind the code. The MQTT components document themselves in
// their own layout.
func TestBlockREADMEsListEveryMember(t *testing.T) {
	readmes, _ := filepath.Glob("../*/README.md")
	sections := map[string][]string{}
	for _, f := range readmes {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		parts := strings.Split("\n"+string(data), "\n## ")
		for _, p := range parts[1:] {
			name, body, _ := strings.Cut(p, "\n")
			sections[name] = append(sections[name], body)
		}
	}
	for _, typ := range all.Types() {
		if typ.Name() == "MQTTClient" || typ.Name() == "MQTTBroker" {
			continue
		}
		if len(sections[typ.Name()]) != 1 {
			t.Errorf("READMEs have %d sections ## %s, want one", len(sections[typ.Name()]), typ.Name())
			continue
		}
		body := sections[typ.Name()][0]
		d, _ := runtime.Describe(typ)
		var names []string
		for _, s := range d.Signals {
			names = append(names, s.Name)
		}
		for _, p := range d.Parameters {
			names = append(names, p.Name)
		}
		for _, a := range d.Alarms {
			names = append(names, a.Name)
		}
		for _, c := range d.Config {
			names = append(names, c.Key)
		}
		for _, n := range names {
			if !strings.Contains(body, "`"+n+"`") {
				t.Errorf("README section ## %s does not mention `%s`", typ.Name(), n)
			}
		}
	}
}
