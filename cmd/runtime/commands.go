package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/metronome-rt/metronome/components/all"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/scheduler"
)

// newFlags returns a flag set that prints its usage to stderr and whose
// mistakes the caller turns into exit code 2.
func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: runtime %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and returns the exit code to use if parsing ended
// the command (0 for --help, 2 for a mistake), or -1 to go on.
func parseFlags(fs *flag.FlagSet, args []string) int {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	return -1
}

func newLogger(format, level string, w io.Writer) (zerolog.Logger, error) {
	lv, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		return zerolog.Logger{}, fmt.Errorf("invalid --log-level %q (want trace, debug, info, warn, error)", level)
	}
	zerolog.TimeFieldFormat = "2006-01-02T15:04:05.000Z07:00"
	switch format {
	case "json":
		return zerolog.New(w).Level(lv).With().Timestamp().Logger(), nil
	case "console":
		return zerolog.New(zerolog.ConsoleWriter{Out: w, TimeFormat: time.StampMilli}).Level(lv).With().Timestamp().Logger(), nil
	}
	return zerolog.Logger{}, fmt.Errorf("invalid --log-format %q (want console or json)", format)
}

func runApp(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("run", "run [--log-format console|json] [--log-level LEVEL] [--stop-timeout D] APP.yaml", stderr)
	format := fs.String("log-format", "console", "log format: console (for people) or json (for log collectors)")
	level := fs.String("log-level", "info", "lowest level logged: trace, debug, info, warn, error")
	stopTimeout := fs.Duration("stop-timeout", 10*time.Second, "how long components may take to stop")
	memLimit := fs.String("memory-limit", "auto", "heap the process may grow to before the garbage collector runs; resident memory settles near it under load (512MiB, 1GiB; auto: a quarter of the memory, or of the container's limit, 64MiB to 256MiB; 0: Go's default collector). Collecting rarely keeps ticks on time under load; raise it if the application holds much data (large broker queues), since live data near the limit makes the collector run constantly; GOGC or GOMEMLIMIT in the environment win")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "runtime run: want exactly one application file")
		fs.Usage()
		return 2
	}
	log, err := newLogger(*format, *level, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "runtime run:", err)
		return 2
	}
	limit := scheduler.DefaultMemoryLimit()
	if *memLimit != "auto" {
		if limit, err = scheduler.ParseBytes(*memLimit); err != nil {
			fmt.Fprintln(stderr, "runtime run: --memory-limit:", err)
			return 2
		}
	}
	gcDesc, restoreGC := scheduler.ControlGC(limit)
	defer restoreGC()
	file := fs.Arg(0)
	app, err := runtime.Load(file, all.Registry(), runtime.LoadOptions{
		Log: log,
		Scheduler: scheduler.Options{OnBind: func(g *scheduler.Group, b scheduler.BindInfo) {
			ev := log.Info()
			if g.Priority == scheduler.High && !b.RealTime {
				ev = log.Warn()
			}
			ev.Str("group", g.Name).Str("priority", g.Priority.String()).Bool("locked", b.Locked).
				Bool("timer_slack", b.Slack).Bool("realtime", b.RealTime).Str("note", b.Note).Msg("rate group thread")
		}},
	})
	if err != nil {
		printLoadError(stderr, err)
		return 1
	}
	log.Info().Str("file", file).Msg(app.Summary())
	log.Info().Msg(gcDesc)
	for _, r := range app.Remote {
		log.Info().Str("input", r.Sink).Str("source", r.Source).Str("at", r.Pos.String()).Msg("remote route: input waits for a link to the other application")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.Start(ctx); err != nil {
		log.Error().Err(err).Msg("start failed")
		return 1
	}
	log.Info().Msg("running; SIGINT or SIGTERM stops")
	runErr := app.Run(ctx)
	log.Info().Msg("stopping at a tick boundary")
	sctx, cancel := context.WithTimeout(context.Background(), *stopTimeout)
	defer cancel()
	stopErr := app.Stop(sctx)
	if err := errors.Join(runErr, stopErr); err != nil {
		log.Error().Err(err).Msg("stopped with errors")
		return 1
	}
	log.Info().Msg("stopped")
	return 0
}

func printLoadError(w io.Writer, err error) {
	var ce runtime.ConfigErrors
	if errors.As(err, &ce) {
		for _, e := range ce {
			fmt.Fprintln(w, e.Error())
		}
		return
	}
	fmt.Fprintln(w, err)
}

func validate(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("validate", "validate APP.yaml...", stderr)
	quiet := fs.Bool("q", false, "print errors only")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "runtime validate: want one or more application files")
		fs.Usage()
		return 2
	}
	code := 0
	for _, file := range fs.Args() {
		app, err := runtime.Load(file, all.Registry(), runtime.LoadOptions{Scheduler: scheduler.Options{Virtual: true}})
		if err != nil {
			printLoadError(stderr, err)
			code = 1
			continue
		}
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
	return code
}

func types(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("types", "types [--json] [TYPE...]", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	reg := all.Registry()
	docs := reg.DescribeAll()
	if fs.NArg() > 0 {
		var pick []runtime.TypeDoc
		for _, name := range fs.Args() {
			found := false
			for _, d := range docs {
				if strings.EqualFold(d.Name, name) {
					pick, found = append(pick, d), true
				}
			}
			if !found {
				fmt.Fprintf(stderr, "runtime types: unknown type %q (known: %s)\n", name, strings.Join(reg.Names(), ", "))
				return 1
			}
		}
		docs = pick
	}
	std := runtime.StandardMembers()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"types": docs, "standard": std}); err != nil {
			fmt.Fprintln(stderr, "runtime types:", err)
			return 1
		}
		return 0
	}
	for _, d := range docs {
		printType(stdout, d)
	}
	fmt.Fprintln(stdout, "Every component also has:")
	printMembers(stdout, std)
	return 0
}

func printType(w io.Writer, d runtime.TypeDoc) {
	fmt.Fprintf(w, "%s: %s\n", d.Name, d.Summary)
	if d.Note != "" {
		fmt.Fprintf(w, "  (%s)\n", d.Note)
	}
	if len(d.Config) > 0 {
		fmt.Fprintln(w, "  config:")
		for _, k := range d.Config {
			line := fmt.Sprintf("    %-28s %s", k.Key, k.Type)
			if k.Default != "" {
				line += " = " + k.Default
			}
			if k.Doc != "" {
				line += "  " + k.Doc
			}
			fmt.Fprintln(w, line)
		}
	}
	own := d
	own.Signals, own.Alarms = nil, nil
	for _, s := range d.Signals {
		if !isStdName(s.Name) {
			own.Signals = append(own.Signals, s)
		}
	}
	for _, a := range d.Alarms {
		if !isStdName(a.Name) {
			own.Alarms = append(own.Alarms, a)
		}
	}
	printMembers(w, own)
	fmt.Fprintln(w)
}

func isStdName(n string) bool {
	switch n {
	case runtime.StdProcessTime, runtime.StdProcessPeriod, runtime.StdOverruns, runtime.StdOverrunAlarm:
		return true
	}
	return false
}

func printMembers(w io.Writer, d runtime.TypeDoc) {
	if len(d.Signals) > 0 {
		fmt.Fprintln(w, "  signals:")
		for _, s := range d.Signals {
			unit := ""
			if s.Unit != "" {
				unit = " [" + s.Unit + "]"
			}
			fmt.Fprintf(w, "    %-6s %-20s %-6s%s  %s\n", s.Dir, s.Name, s.Type, unit, s.Desc)
		}
	}
	if len(d.Parameters) > 0 {
		fmt.Fprintln(w, "  parameters:")
		for _, p := range d.Parameters {
			rng := ""
			if p.Min != nil || p.Max != nil {
				rng = " range " + bound(p.Min, "-inf") + ".." + bound(p.Max, "+inf")
			}
			unit := ""
			if p.Unit != "" {
				unit = " [" + p.Unit + "]"
			}
			fmt.Fprintf(w, "    %-20s %-6s = %s%s%s  %s\n", p.Name, p.Type, p.Default, unit, rng, p.Desc)
		}
	}
	if len(d.Alarms) > 0 {
		fmt.Fprintln(w, "  alarms:")
		for _, a := range d.Alarms {
			delay := ""
			if a.Delay != "" {
				delay = " after " + a.Delay
			}
			fmt.Fprintf(w, "    %-20s %-7s%s  %s\n", a.Name, a.Level, delay, a.Text)
		}
	}
}

func bound(f *float64, none string) string {
	if f == nil {
		return none
	}
	return fmt.Sprint(*f)
}

// benchArgs parses the flags of a `runtime bench` command whose usage is a
// written text rather than flag defaults: --help prints it to stdout (exit
// 0), a mistake prints it to stderr (exit 2). code is -1 when the command
// should go on; usageErr reports a mistake found after parsing.
func benchArgs(fs *flag.FlagSet, args []string, usage string, stdout, stderr io.Writer) (code int, usageErr func(string) int) {
	usageErr = func(msg string) int {
		fmt.Fprintf(stderr, "%s: %s\n\n%s", fs.Name(), msg, usage)
		return 2
	}
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			return 0, usageErr
		}
		return usageErr(err.Error()), usageErr
	}
	if fs.NArg() > 0 {
		return usageErr(fmt.Sprintf("unexpected argument %q", fs.Arg(0))), usageErr
	}
	return -1, usageErr
}
