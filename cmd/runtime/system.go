package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/metronome-rt/metronome/components/all"
	"github.com/metronome-rt/metronome/internal/mqttconn"
	"github.com/metronome-rt/metronome/link"
	"github.com/metronome-rt/metronome/link/system"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/scheduler"
)

// sections are the application-level sections the binary knows besides
// the runtime's own keys: the system of runtimes.
func sections() []runtime.Section { return system.Sections() }

// linkSet runs `runtime set --system FILE | --broker URL --group NAME PATH
// VALUE`: the write goes to the application through the system's broker,
// as a Sparkplug command, rather than through a live view.
func linkSet(file, broker, group, protocol, user string, timeout time.Duration, path, value string, stdout, stderr io.Writer) int {
	var t mqttconn.Options
	switch {
	case file != "" && broker != "":
		fmt.Fprintln(stderr, "runtime set: give --system or --broker, not both")
		return 2
	case file != "":
		app, err := runtime.Load(file, all.Registry(), runtime.LoadOptions{Scheduler: scheduler.Options{Virtual: true}, Sections: sections()})
		if err != nil {
			printLoadError(stderr, err)
			return 1
		}
		c := system.Of(app)
		if c == nil {
			fmt.Fprintf(stderr, "runtime set: %s has no system: section to reach the system by\n", file)
			return 1
		}
		if t, err = c.Broker.Options(""); err != nil {
			fmt.Fprintln(stderr, "runtime set:", err)
			return 1
		}
		group = c.Name
	default:
		if group == "" {
			fmt.Fprintln(stderr, "runtime set: --broker needs --group, the system's name")
			return 2
		}
		p, err := mqttconn.ParseProtocol(protocol)
		if err != nil {
			fmt.Fprintln(stderr, "runtime set: --protocol:", err)
			return 2
		}
		t = mqttconn.Options{Protocol: p, Servers: []string{broker}, Username: user, KeepAlive: 10 * time.Second, RetryMin: 200 * time.Millisecond, RetryMax: time.Second}
		if pw, ok := os.LookupEnv(envPassword); ok {
			t.Password = []byte(pw)
		}
	}
	t.ClientID = ""
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	v, err := system.Set(ctx, t, group, path, value)
	var refused *link.WriteRefused
	switch {
	case err == nil:
		fmt.Fprintf(stdout, "%s = %s: accepted\n", path, v)
		return 0
	case errors.As(err, &refused):
		fmt.Fprintf(stderr, "runtime set %s: refused: %s\n", path, refused.Reason)
	default:
		fmt.Fprintf(stderr, "runtime set %s: %v\n", path, err)
	}
	return 1
}

// startSystem links a started application to its system, if it has a
// system: section; the returned stop is safe to call more than once.
func startSystem(ctx context.Context, app *runtime.App, o system.Options) (stop func(context.Context) error, err error) {
	r, err := system.Start(ctx, app, o)
	if err != nil {
		return nil, err
	}
	if r != nil {
		c := system.Of(app)
		o.Log.Info().Str("system", c.Name).Strs("servers", c.Broker.Servers).Int("exports", len(r.Exports())).
			Int("remote_inputs", len(app.RemoteInputs())).Msg("linked to the system as Sparkplug edge node " + c.Name + "/" + app.Name)
	}
	return r.Stop, nil
}
