package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/metronome-rt/metronome/components/all"
	"github.com/metronome-rt/metronome/internal/lockfile"
	"github.com/metronome-rt/metronome/link/system"
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

// newLogger makes the run's logger. Console output is coloured only when
// color is true: stderr is a terminal and NO_COLOR is not set, so escape
// codes never end up in a redirected log.
func newLogger(format, level string, w io.Writer, color bool) (zerolog.Logger, error) {
	lv, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		return zerolog.Logger{}, fmt.Errorf("invalid --log-level %q (want trace, debug, info, warn, error)", level)
	}
	zerolog.TimeFieldFormat = "2006-01-02T15:04:05.000Z07:00"
	switch format {
	case "json":
		return zerolog.New(w).Level(lv).With().Timestamp().Logger(), nil
	case "console":
		cw := zerolog.ConsoleWriter{Out: w, TimeFormat: time.StampMilli, NoColor: !color}
		return zerolog.New(cw).Level(lv).With().Timestamp().Logger(), nil
	}
	return zerolog.Logger{}, fmt.Errorf("invalid --log-format %q (want console or json)", format)
}

// useColor reports whether log lines to w may carry colour escapes: w is a
// terminal and NO_COLOR (https://no-color.org) is empty or unset.
func useColor(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && os.Getenv("NO_COLOR") == "" && isTerminal(f)
}

// parseInterleaved parses flags given before and after the positional
// arguments (runtime run app.yaml --log-format json, as people type it);
// "--" ends the flags. It returns the positional arguments, and the exit
// code to use if parsing ended the command (-1 to go on).
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, int) {
	var pos []string
	for {
		if code := parseFlags(fs, args); code >= 0 {
			return nil, code
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, -1
		}
		if i := len(args) - len(rest); i > 0 && args[i-1] == "--" {
			return append(pos, rest...), -1
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// runSynopsis names every flag of run; TestRunHelpListsEveryFlag keeps it
// complete.
const runSynopsis = "run [--log-format console|json] [--log-level LEVEL] [--stop-timeout D] [--memory-limit SIZE] [--lock-dir DIR] [--http ADDR|off] APP.yaml"

// runOptions are run's flags.
type runOptions struct {
	format, level, memLimit, lockDir, http *string
	stopTimeout                            *time.Duration
}

func runFlags(stderr io.Writer) (*flag.FlagSet, runOptions) {
	fs := newFlags("run", runSynopsis+"\n\nFlags go before or after APP.yaml. SIGINT or SIGTERM stops at a tick boundary; SIGHUP is logged and ignored.", stderr)
	var o runOptions
	o.format = fs.String("log-format", "console", "log format: console (for people; coloured only on a terminal, never with NO_COLOR set) or json (for log collectors)")
	o.level = fs.String("log-level", "info", "lowest level logged: trace, debug, info, warn, error")
	o.stopTimeout = fs.Duration("stop-timeout", 10*time.Second, "how long components may take to stop")
	o.memLimit = fs.String("memory-limit", "auto", "heap the process may grow to before the garbage collector runs; resident memory settles near it under load (512MiB, 1GiB; auto: a quarter of the memory, or of the container's limit, 64MiB to 256MiB; 0: Go's default collector). Collecting rarely keeps ticks on time under load; raise it if the application holds much data (large broker queues), since live data near the limit makes the collector run constantly; GOGC or GOMEMLIMIT in the environment win")
	o.http = fs.String("http", "", "serve the live view, metrics and health checks on host:port (default: the application's view: key; off: never)")
	o.lockDir = fs.String("lock-dir", os.TempDir(), "directory of the lock files that keep one running copy of each application on this host (metronome-APP.lock)")
	return fs, o
}

// lockPath is the lock file of an application in dir.
func lockPath(dir, app string) string { return filepath.Join(dir, "metronome-"+app+".lock") }

func runApp(args []string, stdout, stderr io.Writer) int {
	// SIGHUP would kill the process by default; until configuration can be
	// reloaded, it is logged and ignored.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer func() { signal.Stop(hup); close(hup) }()
	fs, o := runFlags(stderr)
	files, code := parseInterleaved(fs, args)
	if code >= 0 {
		return code
	}
	if len(files) != 1 {
		fmt.Fprintf(stderr, "runtime run: want exactly one application file, got %d\n", len(files))
		fs.Usage()
		return 2
	}
	log, err := newLogger(*o.format, *o.level, stderr, useColor(stderr))
	if err != nil {
		fmt.Fprintln(stderr, "runtime run:", err)
		return 2
	}
	go func() {
		for range hup {
			log.Warn().Msg("SIGHUP ignored: reloading the configuration is not supported; restart to apply changes")
		}
	}()
	limit := scheduler.DefaultMemoryLimit()
	if *o.memLimit != "auto" {
		if limit, err = scheduler.ParseBytes(*o.memLimit); err != nil {
			fmt.Fprintln(stderr, "runtime run: --memory-limit:", err)
			return 2
		}
	}
	gcDesc, restoreGC := scheduler.ControlGC(limit)
	defer restoreGC()
	file := files[0]
	app, err := runtime.Load(file, all.Registry(), runtime.LoadOptions{
		Log:      log,
		Sections: sections(),
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
	// One copy of an application per host: a second would take its client
	// IDs and listener ports, and the two would fight over them.
	lock, err := lockfile.Acquire(lockPath(*o.lockDir, app.Name))
	if err != nil {
		var busy *lockfile.BusyError
		if errors.As(err, &busy) {
			who := "another process"
			if busy.PID > 0 {
				who = fmt.Sprintf("process %d", busy.PID)
			}
			fmt.Fprintf(stderr, "runtime run: application %s is already running on this host (%s); a second copy would take over its MQTT client IDs and listener ports. Stop that one first, or give this copy another application name (lock %s)\n", app.Name, who, busy.Path)
			return 1
		}
		fmt.Fprintf(stderr, "runtime run: the lock that keeps one copy of %s per host: %v (--lock-dir chooses its directory)\n", app.Name, err)
		return 1
	}
	defer lock.Release()
	log.Info().Str("file", file).Msg(app.Summary())
	log.Info().Msg(gcDesc)
	for _, r := range app.Remote {
		log.Info().Str("input", r.Sink).Str("source", r.Source).Str("at", r.Pos.String()).Msg("remote route: fed through the system's link")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	_, stopView, err := startView(app, *o.http, log)
	if err != nil {
		log.Error().Err(err).Msg("live view failed")
		return 1
	}
	defer stopView()
	if err := app.Start(ctx); err != nil {
		log.Error().Err(err).Msg("start failed")
		return 1
	}
	// The link starts once the components run and stops before them, so
	// that the application's death (NDEATH) goes out while its values are
	// still current.
	stopLink, err := startSystem(ctx, app, system.Options{Log: log})
	if err != nil {
		log.Error().Err(err).Msg("system link failed")
		sctx, cancel := context.WithTimeout(context.Background(), *o.stopTimeout)
		defer cancel()
		app.Stop(sctx)
		return 1
	}
	log.Info().Msg("running; SIGINT or SIGTERM stops")
	runErr := app.Run(ctx)
	stopView()
	log.Info().Msg("stopping at a tick boundary")
	sctx, cancel := context.WithTimeout(context.Background(), *o.stopTimeout)
	defer cancel()
	linkErr := stopLink(sctx)
	stopErr := errors.Join(linkErr, app.Stop(sctx))
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
