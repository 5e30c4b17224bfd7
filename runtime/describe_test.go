package runtime_test

import (
	"fmt"
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

// Types defined while this package initialises, one through another
// package's helper and one with a config struct of another package.
var (
	viaKit = blockkit.About{Name: "ViaKit", Summary: "s"}.Define(func(*runtime.Builder) runtime.Component { return nil })
	shared = runtime.Define(runtime.Spec[blockkit.InputsConfig]{Name: "Shared", Build: func(*runtime.Builder, *blockkit.InputsConfig) (runtime.Component, error) { return nil, nil }})
)

// TestTypeKnowsItsPackage: a type belongs to the package that defines it,
// where its README is, whoever declares its config or helps define it.
func TestTypeKnowsItsPackage(t *testing.T) {
	const want = "github.com/metronome-rt/metronome/runtime_test"
	for _, typ := range []*runtime.Type{viaKit, shared} {
		d, _ := runtime.Describe(typ)
		if typ.Package() != want || d.Package != want {
			t.Errorf("%s: package %q, described as %q; want %q", typ.Name(), typ.Package(), d.Package, want)
		}
	}
	if p := runtime.StandardMembers().Package; p != "" {
		t.Errorf("the standard members belong to no package, got %q", p)
	}
}

// TestDescribeBuildsAtTheDefaultRate: a type whose build needs a rate (a
// controller's dt) is described as a component that sets no fs gets it,
// not reported as depending on its configuration.
func TestDescribeBuildsAtTheDefaultRate(t *testing.T) {
	typ := runtime.Define(runtime.Spec[struct{}]{Name: "NeedsRate", Build: func(b *runtime.Builder, _ *struct{}) (runtime.Component, error) {
		if b.Rate().FS != runtime.DefaultFS {
			return nil, fmt.Errorf("want the default rate, got %v Hz", b.Rate().FS)
		}
		return nil, nil
	}})
	d, err := runtime.Describe(typ)
	if err != nil || d.Note != "" {
		t.Errorf("error %v, note %q", err, d.Note)
	}
}
