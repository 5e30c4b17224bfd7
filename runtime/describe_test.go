package runtime_test

import (
	"testing"

	"github.com/metronome-rt/metronome/internal/blockkit"
	"github.com/metronome-rt/metronome/runtime"
)

// nestsShared is a config that nests and inlines structs of another
// package, which document their own fields there.
type nestsShared struct {
	Count               blockkit.InputsConfig `yaml:"count"`
	blockkit.TypeConfig `yaml:",inline"`
}

func (*nestsShared) FieldDocs() runtime.FieldDocs {
	return runtime.FieldDocs{"nestsShared.Count": "`count` is a nested mapping."}
}

// TestDescribeTakesEachStructsOwnDocs: a key is described by the doc of
// its own struct's field, wherever that struct is declared.
func TestDescribeTakesEachStructsOwnDocs(t *testing.T) {
	typ := runtime.Define(runtime.Spec[nestsShared]{Name: "Nests", Build: func(*runtime.Builder, *nestsShared) (runtime.Component, error) { return nil, nil }})
	d, err := runtime.Describe(typ)
	if err != nil {
		t.Fatal(err)
	}
	shared := (&blockkit.InputsConfig{}).FieldDocs()
	want := map[string]string{
		"count":        "`count` is a nested mapping.",
		"count.inputs": shared["InputsConfig.Inputs"],
		"type":         shared["TypeConfig.Type"],
		"unit":         shared["TypeConfig.Unit"],
	}
	got := map[string]string{}
	for _, k := range d.Config {
		got[k.Key] = k.Doc
	}
	for key, doc := range want {
		if doc == "" || got[key] != doc {
			t.Errorf("key %s: doc %q, want %q", key, got[key], doc)
		}
	}
	if len(got) != len(want) {
		t.Errorf("keys %v, want those of %v", got, want)
	}
}
