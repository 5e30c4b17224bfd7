package main

import (
	"fmt"
	"io"

	"github.com/metronome-rt/metronome/components/all"
	"github.com/metronome-rt/metronome/link/system"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/scheduler"
)

// validate checks application files without running them: every error
// and warning of each file, as file:line:col, in one run. Applications
// given together are also checked against each other: routes and writes
// between them by name and type. Warnings (a password written into the
// file) do not change the exit code.
func validate(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("validate", "validate [-q] APP.yaml...", stderr)
	quiet := fs.Bool("q", false, "print only errors and warnings")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "runtime validate: want one or more application files")
		fs.Usage()
		return 2
	}
	code := 0
	var apps []*runtime.App
	for _, file := range fs.Args() {
		app, err := runtime.Load(file, all.Registry(), runtime.LoadOptions{
			Scheduler: scheduler.Options{Virtual: true},
			OnWarning: func(w *runtime.ConfigError) { fmt.Fprintln(stderr, warningText(w)) },
			Sections:  sections(),
		})
		if err != nil {
			printLoadError(stderr, err)
			code = 1
			continue
		}
		apps = append(apps, app)
		if !*quiet {
			fmt.Fprintf(stdout, "%s: ok: %s\n", file, app.Summary())
			for _, r := range app.Remote {
				fmt.Fprintf(stdout, "%s: note: %s is routed from another application (%s)\n", r.Pos, r.Sink, r.Source)
			}
			for _, d := range app.Delayed {
				fmt.Fprintf(stdout, "%s: note: one-tick delayed route %s\n", file, d)
			}
		}
	}
	if errs := system.CheckApps(apps); len(errs) > 0 {
		printLoadError(stderr, errs)
		code = 1
	}
	return code
}

// warningText is a warning as validate prints it: like an error, with
// "warning:" after the position.
func warningText(w *runtime.ConfigError) string {
	in := ""
	if w.Instance != "" {
		in = " (" + w.Instance + ")"
	}
	if w.Path == "" {
		return fmt.Sprintf("%s: warning: %s%s", w.Pos, w.Msg, in)
	}
	return fmt.Sprintf("%s: warning: %s: %s%s", w.Pos, w.Path, w.Msg, in)
}
