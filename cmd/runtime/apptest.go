package main

import (
	"fmt"
	"io"
	"regexp"

	"github.com/metronome-rt/metronome/components/all"
	"github.com/metronome-rt/metronome/runtime/apptest"
)

// testApps runs application tests written in YAML (runtime/apptest): each
// failure is printed as file:line:col with the test, the step, and what
// was expected and found; the exit code is 1 if any test failed or a file
// could not be run.
func testApps(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("test", "test [-v] [-run REGEXP] FILE_test.yaml...", stderr)
	verbose := fs.Bool("v", false, "print every test that passes too")
	pattern := fs.String("run", "", "run only the tests whose name matches this regular expression")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "runtime test: want one or more test files")
		fs.Usage()
		return 2
	}
	opts := apptest.Options{Registry: all.Registry(), Sections: sections()}
	if *pattern != "" {
		re, err := regexp.Compile(*pattern)
		if err != nil {
			fmt.Fprintf(stderr, "runtime test: -run: %v\n", err)
			return 2
		}
		opts.Run = re
	}
	code := 0
	for _, file := range fs.Args() {
		res := apptest.RunFile(file, opts)
		res.Print(stderr, false)
		failed := 0
		for _, t := range res.Tests {
			if len(t.Failures) > 0 {
				failed++
			} else if *verbose {
				fmt.Fprintf(stdout, "%s: ok: %s (%s, %s of virtual time)\n", t.Pos, t.Name, apptest.Count(t.Steps, "step"), t.Time)
			}
		}
		switch {
		case len(res.Problems) > 0:
			fmt.Fprintf(stdout, "FAIL %s: not run\n", file)
			code = 1
		case failed > 0:
			fmt.Fprintf(stdout, "FAIL %s: %d of %s failed\n", file, failed, apptest.Count(len(res.Tests), "test"))
			code = 1
		default:
			fmt.Fprintf(stdout, "ok   %s: %s\n", file, apptest.Count(len(res.Tests), "test"))
		}
	}
	return code
}
