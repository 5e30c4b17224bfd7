package gen

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCommittedFilesAreCurrent fails when a package's configdoc_gen.go
// is not what its doc comments make now: a comment was changed or a field
// added, and `go generate ./cmd/runtime` not run.
func TestCommittedFilesAreCurrent(t *testing.T) {
	dirs, err := PackageDirs("../../../components", "../../../internal")
	if err != nil || len(dirs) < 4 {
		t.Fatalf("packages: %v %v", dirs, err)
	}
	files, err := Generate(dirs)
	if err != nil {
		t.Error(err)
	}
	for dir, want := range files {
		have, err := os.ReadFile(filepath.Join(dir, FileName))
		switch {
		case want == nil && err == nil:
			t.Errorf("%s: %s is left over: run go generate ./cmd/runtime", dir, FileName)
		case want != nil && !bytes.Equal(have, want):
			t.Errorf("%s: %s is not current: run go generate ./cmd/runtime", dir, FileName)
		}
	}
	for _, dir := range []string{"components/mqttclient", "components/mqttbroker", "internal/blockkit"} {
		if files[filepath.FromSlash("../../../"+dir)] == nil {
			t.Errorf("%s has no config docs", dir)
		}
	}
}

const sample = `package sample

import rt "github.com/metronome-rt/metronome/runtime"

// Config is the config.
type Config struct {
	// RetryMin is the first wait; it doubles up to RetryMax (CDP RetryMin).
	RetryMin int ` + "`yaml:\"retry_min\"`" + `
	// RetryMax caps the wait.
	RetryMax int ` + "`yaml:\"retry_max\"`" + `
	// TLS holds certificates; TLS is an acronym here.
	TLS Inner ` + "`yaml:\"tls\"`" + `
	// Items are some items.
	Items []*Item ` + "`yaml:\"items\"`" + `
	Shared ` + "`yaml:\",inline\"`" + `
	hidden int
	// Skipped is not a key.
	Skipped int ` + "`yaml:\"-\"`" + `
}

// Inner is nested.
type Inner struct {
	File string ` + "`yaml:\"file\"`" + ` // File is a PEM file.
}

// Item is in a list.
type Item struct {
	// Name names it.
	Name string
}

// Shared is inlined.
type Shared struct {
	// Format is text or json.
	Format string ` + "`yaml:\"format\"`" + `
}

// State is not reachable from Config and has no docs.
type State struct{ Count int }

var T = rt.Define(rt.Spec[Config]{Name: "Sample"})
`

// module writes files (path: content) into a new module example.com/m.
func module(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	files["go.mod"] = "module example.com/m\n\ngo 1.26\n"
	for name, text := range files {
		path := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestGenerate(t *testing.T) {
	root := module(t, map[string]string{"sample/sample.go": sample})
	dir := filepath.Join(root, "sample")
	files, err := Generate([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	got := string(files[dir])
	for _, want := range []string{
		"func (*Config) FieldDocs() runtime.FieldDocs { return configFieldDocs }",
		"func (*Inner) FieldDocs() runtime.FieldDocs { return configFieldDocs }",
		"func (*Shared) FieldDocs() runtime.FieldDocs { return configFieldDocs }",
		`"Config.RetryMin": "` + "`retry_min`" + ` is the first wait; it doubles up to ` + "`retry_max`" + ` (CDP RetryMin).",`,
		`"Config.TLS":      "` + "`tls`" + ` holds certificates; TLS is an acronym here.",`,
		`"Inner.File":      "` + "`file`" + ` is a PEM file.",`,
		`"Item.Name":       "` + "`name`" + ` names it.",`,
		`"Shared.Format":   "` + "`format`" + ` is text or json.",`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("generated file lacks %s:\n%s", want, got)
		}
	}
	for _, not := range []string{"State", "hidden", "Skipped"} {
		if strings.Contains(got, not) {
			t.Errorf("generated file mentions %s:\n%s", not, got)
		}
	}

	// A config field without a doc comment is refused.
	os.WriteFile(filepath.Join(dir, "sample.go"), []byte(strings.Replace(sample, "\t// RetryMax caps the wait.\n", "", 1)), 0o644)
	if _, err := Generate([]string{dir}); err == nil || !strings.Contains(err.Error(), "config fields without a doc comment (it is the documentation of their key): Config.RetryMax") {
		t.Errorf("undocumented field: error %v", err)
	}

	// A package without config types gets no file.
	os.WriteFile(filepath.Join(dir, "sample.go"), []byte("package sample\n\n// X is x.\ntype X struct{ A int }\n"), 0o644)
	if files, err := Generate([]string{dir}); files[dir] != nil || err != nil {
		t.Errorf("no config types: %q, %v", files[dir], err)
	}
}

// A config struct that component packages share lives in a third package
// (as blockkit's do); its docs are generated there, even when only the
// packages that use it are named, and its fields are held to the same rule.
func TestGenerateSharedConfig(t *testing.T) {
	const shared = `package kit

// Count is a config used as it is.
type Count struct {
	// N is how many.
	N int ` + "`yaml:\"n\"`" + `
}

// Unit is nested in another package's config.
type Unit struct {
	// Name is the unit's name; see Count's N.
	Name string ` + "`yaml:\"name\"`" + `
}

// Unused is no config.
type Unused struct{ X int }
`
	const user = `package blocks

import (
	"example.com/m/internal/kit"
	"github.com/metronome-rt/metronome/runtime"
)

var A = runtime.Define(runtime.Spec[kit.Count]{Name: "A"})

var B = runtime.Define(runtime.Spec[BConfig]{Name: "B"})

// BConfig nests a shared struct.
type BConfig struct {
	// Unit is the unit of Out.
	Unit *kit.Unit ` + "`yaml:\"unit\"`" + `
}
`
	root := module(t, map[string]string{"internal/kit/kit.go": shared, "blocks/blocks.go": user})
	blocks, kit := filepath.Join(root, "blocks"), filepath.Join(root, "internal", "kit")
	files, err := Generate([]string{blocks})
	if err != nil {
		t.Fatal(err)
	}
	got := string(files[kit])
	for _, want := range []string{
		"package kit\n",
		"func (*Count) FieldDocs() runtime.FieldDocs { return configFieldDocs }",
		"func (*Unit) FieldDocs() runtime.FieldDocs { return configFieldDocs }",
		`"Count.N":   "` + "`n`" + ` is how many.",`,
		`"Unit.Name": "` + "`name`" + ` is the unit's name; see Count's N.",`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("%s lacks %s:\n%s", kit, want, got)
		}
	}
	if strings.Contains(got, "Unused") {
		t.Errorf("%s documents a struct no config uses:\n%s", kit, got)
	}
	if b := string(files[blocks]); !strings.Contains(b, `"BConfig.Unit": "`+"`unit`"+` is the unit of Out.",`) || strings.Contains(b, "Count") {
		t.Errorf("%s:\n%s", blocks, b)
	}

	// Named together with the shared package, the result is the same.
	both, err := Generate([]string{kit, blocks})
	if err != nil || !bytes.Equal(both[kit], files[kit]) {
		t.Errorf("with the shared package named: error %v\n%s", err, both[kit])
	}

	// The shared struct's fields need their comments as much as local ones.
	os.WriteFile(filepath.Join(kit, "kit.go"), []byte(strings.Replace(shared, "\t// N is how many.\n", "", 1)), 0o644)
	if _, err := Generate([]string{blocks}); err == nil || !strings.Contains(err.Error(), "config fields without a doc comment (it is the documentation of their key): Count.N") {
		t.Errorf("undocumented shared field: error %v", err)
	}
}
