package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/view"
)

// startView starts the live view if the application's `view:` key or the
// --http flag asks for it ("off" disables it), before the application
// starts, so a port in use stops `run` before anything else started. The
// returned stop marks the application not ready and closes the server; it
// may be called more than once.
func startView(app *runtime.App, httpFlag string, log zerolog.Logger) (srv *view.Server, stop func(), err error) {
	var cfg runtime.ViewConfig
	switch {
	case httpFlag == "off":
		return nil, func() {}, nil
	case app.View != nil:
		cfg = *app.View
	case httpFlag == "":
		return nil, func() {}, nil
	}
	if httpFlag != "" {
		cfg.Listen = httpFlag
	}
	var stopping atomic.Bool
	srv, err = view.New(app, cfg, view.Options{Log: log, Version: version, Ready: func() error {
		if stopping.Load() {
			return errors.New("stopping")
		}
		return nil // and, as the view checks itself, every rate group ticking
	}})
	if err != nil {
		return nil, nil, err
	}
	if err := srv.Start(); err != nil {
		return nil, nil, err
	}
	var once sync.Once
	return srv, func() {
		once.Do(func() {
			stopping.Store(true)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			srv.Close(ctx)
		})
	}, nil
}

// clientFlags are the flags every command that talks to a live view has.
type clientFlags struct {
	addr    *string
	user    *string
	ca      *string
	timeout *time.Duration
}

// Environment variables the client commands read, so a password never
// has to be on a command line.
const (
	envAddr     = "METRONOME_VIEW"
	envUser     = "METRONOME_USER"
	envPassword = "METRONOME_PASSWORD"
)

func addClientFlags(fs *flag.FlagSet) *clientFlags {
	def := os.Getenv(envAddr)
	if def == "" {
		def = fmt.Sprintf("127.0.0.1:%d", runtime.DefaultViewPort)
	}
	return &clientFlags{
		addr:    fs.String("view", def, "live view to talk to: host:port, http(s)://host:port or ws(s)://host:port/api (env "+envAddr+")"),
		user:    fs.String("user", os.Getenv(envUser), "user to log in as for writes (env "+envUser+"; the password comes from env "+envPassword+" or is asked for)"),
		ca:      fs.String("ca", "", "PEM file of the certificate authority that signed the live view's certificate (wss)"),
		timeout: fs.Duration("timeout", 10*time.Second, "how long the command may take"),
	}
}

// connect dials the live view and, when login is set, logs in.
func (f *clientFlags) connect(ctx context.Context, login bool, stdin io.Reader, stderr io.Writer) (*view.Client, error) {
	var opts view.DialOptions
	if *f.ca != "" {
		pem, err := os.ReadFile(*f.ca)
		if err != nil {
			return nil, fmt.Errorf("--ca: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca %s holds no PEM certificate", *f.ca)
		}
		opts.TLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	c, err := view.Dial(ctx, *f.addr, opts)
	if err != nil {
		return nil, err
	}
	if !login {
		return c, nil
	}
	if !c.Hello.Writes {
		c.Close()
		return nil, fmt.Errorf("the live view of %s is read-only (its view: writes is off)", c.Hello.App)
	}
	if *f.user == "" {
		c.Close()
		return nil, fmt.Errorf("writes need a user: give --user or set %s", envUser)
	}
	pw, ok := os.LookupEnv(envPassword)
	if !ok {
		if pw, err = readPassword(stdin, stderr); err != nil {
			c.Close()
			return nil, fmt.Errorf("%v (or set %s)", err, envPassword)
		}
	}
	if err := c.Login(ctx, *f.user, pw); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// getCmd runs `runtime get PATTERN...`.
func getCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("get", "get [--view ADDR] [--json] PATH|PATTERN...", stderr)
	cf := addClientFlags(fs)
	asJSON := fs.Bool("json", false, "print the values as JSON")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "runtime get: name at least one signal or parameter (patterns: * one level, ** any depth)")
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *cf.timeout)
	defer cancel()
	c, err := cf.connect(ctx, false, nil, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "runtime get:", err)
		return 1
	}
	defer c.Close()
	vals, err := c.Get(ctx, fs.Args()...)
	if err != nil {
		fmt.Fprintln(stderr, "runtime get:", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(vals)
		return 0
	}
	units := unitsOf(c)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PATH\tVALUE\tQUALITY\tTIME")
	for _, v := range vals {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v.Path, valueText(v, units[v.Path]), v.Q, stampText(v.T))
	}
	tw.Flush()
	return 0
}

// valueText shows a value with its unit, and a forced value with the real
// value it overrides.
func valueText(v view.Value, unit string) string {
	s := view.FormatValue(v.V)
	if unit != "" && s != "-" {
		s += " " + unit
	}
	if v.F {
		s += fmt.Sprintf(" [FORCED; real %s, %s]", view.FormatValue(v.R), v.RQ)
	}
	return s
}

func stampText(ms float64) string {
	if ms == 0 {
		return "-"
	}
	return time.UnixMicro(int64(ms * 1000)).Format("2006-01-02 15:04:05.000")
}

func unitsOf(c *view.Client) map[string]string {
	out := map[string]string{}
	for _, comp := range c.Structure.Components {
		for _, m := range comp.Signals {
			out[m.Path] = m.Unit
		}
		for _, m := range comp.Params {
			out[m.Path] = m.Unit
		}
	}
	return out
}

// parseArgValue reads a value typed on the command line: JSON if it is
// JSON (30, 2.5, true, "text"), otherwise the text itself.
func parseArgValue(s string) any {
	var v any
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	if err := d.Decode(&v); err == nil && !d.More() {
		return v
	}
	return s
}

// writeCmd runs `runtime set|force|ack|unforce`.
func writeCmd(name string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	synopsis := map[string]string{
		"set":     "set [--view ADDR] [--user NAME] PATH VALUE | set --system APP.yaml | --broker URL --group NAME [--protocol 5|3.1.1] PATH VALUE",
		"force":   "force [--view ADDR] [--user NAME] PATH VALUE | force --list",
		"ack":     "ack [--view ADDR] [--user NAME] PATH... | ack --all",
		"unforce": "unforce [--view ADDR] [--user NAME] PATH... | unforce --all",
	}[name]
	fs := newFlags(name, synopsis, stderr)
	cf := addClientFlags(fs)
	all, list := new(bool), new(bool)
	sysFile, broker, group, protocol := new(string), new(string), new(string), new(string)
	switch name {
	case "set":
		sysFile = fs.String("system", "", "write through the system's broker as a Sparkplug command, reaching it as the system: section of this application file says (no live view needed)")
		broker = fs.String("broker", "", "write through this MQTT broker as a Sparkplug command (with --group; --user and env "+envPassword+" log in)")
		group = fs.String("group", "", "the system's name (its Sparkplug group), with --broker")
		protocol = fs.String("protocol", "5", "MQTT protocol with --broker: 5 or 3.1.1")
	case "ack", "unforce":
		all = fs.Bool("all", false, "every one")
	case "force":
		list = fs.Bool("list", false, "list the active forces and exit")
	}
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	usage := func(msg string) int {
		fmt.Fprintf(stderr, "runtime %s: %s\n", name, msg)
		fs.Usage()
		return 2
	}
	switch {
	case *list:
		if fs.NArg() > 0 {
			return usage("--list takes no arguments")
		}
	case name == "set" || name == "force":
		if fs.NArg() != 2 {
			return usage("want a path and a value")
		}
	case *all && fs.NArg() > 0:
		return usage("--all takes no paths")
	case !*all && fs.NArg() == 0:
		return usage("name at least one path, or give --all")
	}
	if *sysFile != "" || *broker != "" {
		return linkSet(*sysFile, *broker, *group, *protocol, *cf.user, *cf.timeout, fs.Arg(0), fs.Arg(1), stdout, stderr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *cf.timeout)
	defer cancel()
	c, err := cf.connect(ctx, !*list, stdin, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "runtime %s: %v\n", name, err)
		return 1
	}
	defer c.Close()
	if *list {
		return listForces(ctx, c, stdout, stderr)
	}
	typ := map[string]string{"set": "set", "force": "force", "ack": "ack", "unforce": "release"}[name]
	var jobs [][2]string // path, value
	switch {
	case name == "set" || name == "force":
		jobs = append(jobs, [2]string{fs.Arg(0), fs.Arg(1)})
	case *all:
		jobs = append(jobs, [2]string{"*", ""})
	default:
		for _, p := range fs.Args() {
			jobs = append(jobs, [2]string{p, ""})
		}
	}
	code := 0
	for _, j := range jobs {
		var value any
		if j[1] != "" {
			value = parseArgValue(j[1])
		}
		res, err := c.Write(ctx, typ, j[0], value)
		if err != nil {
			fmt.Fprintf(stderr, "runtime %s: %v\n", name, err)
			return 1
		}
		if !res.OK {
			fmt.Fprintf(stderr, "runtime %s %s: refused (%s): %s\n", name, j[0], res.Code, res.Error)
			code = 1
			continue
		}
		switch {
		case name == "set":
			fmt.Fprintf(stdout, "%s: %s -> %s\n", j[0], res.Old, j[1])
		case name == "force":
			fmt.Fprintf(stdout, "%s: forced to %s\n", j[0], j[1])
		case j[0] == "*":
			fmt.Fprintf(stdout, "%d %s\n", res.Count, map[string]string{"ack": "alarm(s) acknowledged", "unforce": "force(s) released"}[name])
		case name == "ack":
			fmt.Fprintf(stdout, "%s: acknowledged\n", j[0])
		default:
			fmt.Fprintf(stdout, "%s: released\n", j[0])
		}
	}
	return code
}

func listForces(ctx context.Context, c *view.Client, stdout, stderr io.Writer) int {
	for {
		f, err := c.Next(ctx)
		if err != nil {
			fmt.Fprintln(stderr, "runtime force --list:", err)
			return 1
		}
		if f.Type != "forces" {
			continue
		}
		var ff view.ForcesFrame
		if err := f.Decode(&ff); err != nil {
			fmt.Fprintln(stderr, "runtime force --list:", err)
			return 1
		}
		sort.Slice(ff.Forces, func(i, j int) bool { return ff.Forces[i].Path < ff.Forces[j].Path })
		if len(ff.Forces) == 0 {
			fmt.Fprintln(stdout, "no forces")
			return 0
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "PATH\tVALUE\tBY\tSINCE")
		for _, x := range ff.Forces {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", x.Path, x.Value, x.By, stampText(x.Since))
		}
		tw.Flush()
		return 0
	}
}
