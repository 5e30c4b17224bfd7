package gen

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCommittedFilesAreCurrent fails when a component package's
// configdoc_gen.go is not what its doc comments make now: a comment was
// changed or a field added, and `go generate ./cmd/runtime` not run.
func TestCommittedFilesAreCurrent(t *testing.T) {
	dirs, err := filepath.Glob("../../../components/*")
	if err != nil || len(dirs) < 4 {
		t.Fatalf("component packages: %v %v", dirs, err)
	}
	generated := 0
	for _, dir := range dirs {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			continue
		}
		want, err := Package(dir)
		if err != nil {
			t.Errorf("%s: %v", dir, err)
			continue
		}
		have, err := os.ReadFile(filepath.Join(dir, FileName))
		switch {
		case want == nil && err == nil:
			t.Errorf("%s: %s is left over: run go generate ./cmd/runtime", dir, FileName)
		case want != nil && !bytes.Equal(have, want):
			t.Errorf("%s: %s is not current: run go generate ./cmd/runtime", dir, FileName)
		}
		if want != nil {
			generated++
		}
	}
	if generated < 2 {
		t.Errorf("%d packages have config docs, want the MQTT client's and broker's at least", generated)
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

func TestPackage(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "sample.go"), []byte(sample), 0o644)
	out, err := Package(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := string(out)
	for _, want := range []string{
		"func (*Config) FieldDocs() runtime.FieldDocs { return configFieldDocs }",
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
	if _, err := Package(dir); err == nil || !strings.Contains(err.Error(), "config fields without a doc comment (it is the documentation of their key): Config.RetryMax") {
		t.Errorf("undocumented field: error %v", err)
	}

	// A package without config types gets no file.
	os.WriteFile(filepath.Join(dir, "sample.go"), []byte("package sample\n\n// X is x.\ntype X struct{ A int }\n"), 0o644)
	if out, err := Package(dir); out != nil || err != nil {
		t.Errorf("no config types: %q, %v", out, err)
	}
}
