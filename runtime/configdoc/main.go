// Command configdoc copies the doc comment of every config field of a
// component package into that package's configdoc_gen.go, as the
// FieldDocs method of each config struct the package passes to
// runtime.Spec. The comment written on a field is thereby the one
// description of its YAML key: `runtime types` prints it and
// `runtime types --markdown` puts it into the docs and READMEs.
//
//	go run ./runtime/configdoc [-check] DIR...
//
// Every package in or below each DIR is looked at; one without config
// types gets no file (and loses a stale one). With -check nothing is
// written: the command lists the files that are not current and exits 1.
// It needs nothing but the Go toolchain. `go generate ./cmd/runtime` runs
// it over components/ and then rewrites the docs.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

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
	var pkgs []string
	for _, root := range dirs {
		err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != root {
				return filepath.SkipDir
			}
			if d.IsDir() {
				pkgs = append(pkgs, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	var stale []string
	var errs []error
	for _, dir := range pkgs {
		want, err := gen.Package(dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
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
