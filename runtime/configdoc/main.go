// Command configdoc copies the doc comment of every config field into
// configdoc_gen.go beside it, as the FieldDocs method of each config
// struct: one a package passes to runtime.Spec, and every struct reached
// from one through its fields. The comment written on a field is thereby
// the one description of its YAML key: `runtime types` prints it and
// `runtime types --markdown` puts it into the docs and READMEs.
//
//	go run ./runtime/configdoc [-check] DIR...
//
// Every package in or below each DIR is looked at; one without config
// structs gets no file (and loses a stale one). A config struct declared
// in another package of the module, such as one that several component
// packages share, gets its FieldDocs in the package that declares it,
// whether or not that package is below a DIR. With -check nothing is
// written: the command lists the files that are not current and exits 1.
// It needs nothing but the Go toolchain. `go generate ./cmd/runtime` runs
// it over components/ and internal/ and then rewrites the docs.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/metronome-rt/metronome/runtime/configdoc/gen"
)

func main() {
	check := flag.Bool("check", false, "list the files that are not current, write nothing, exit 1 if any")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: configdoc [-check] DIR...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	stale, err := run(flag.Args(), *check)
	if err != nil {
		fmt.Fprintln(os.Stderr, "configdoc:", err)
		os.Exit(1)
	}
	if *check && len(stale) > 0 {
		for _, f := range stale {
			fmt.Fprintf(os.Stderr, "configdoc: %s is not current (run go generate ./cmd/runtime)\n", f)
		}
		os.Exit(1)
	}
}

// run generates for every package below dirs and returns the files that
// were (or, with check, would be) changed.
func run(dirs []string, check bool) ([]string, error) {
	pkgs, err := gen.PackageDirs(dirs...)
	if err != nil {
		return nil, err
	}
	files, err := gen.Generate(pkgs)
	errs := []error{err}
	out := make([]string, 0, len(files))
	for dir := range files {
		out = append(out, dir)
	}
	sort.Strings(out)
	var stale []string
	for _, dir := range out {
		want := files[dir]
		file := filepath.Join(dir, gen.FileName)
		have, err := os.ReadFile(file)
		exists := err == nil
		switch {
		case want == nil && !exists, want != nil && exists && bytes.Equal(have, want):
			continue
		}
		stale = append(stale, file)
		if check {
			continue
		}
		if want == nil {
			err = os.Remove(file)
		} else {
			err = os.WriteFile(file, want, 0o644)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return stale, errors.Join(errs...)
}
