package system_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/metronome-rt/metronome/components/all"
	"github.com/metronome-rt/metronome/link/system"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// wait bounds every wait in these tests.
const wait = 20 * time.Second

var idN atomic.Uint64

func uniq(s string) string { return fmt.Sprintf("%s%d", s, idN.Add(1)) }

// load loads an application from YAML text with the system section.
func load(t *testing.T, name, text string) (*runtime.App, error) {
	t.Helper()
	file := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return runtime.Load(file, testRegistry, runtime.LoadOptions{
		Log:      zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		Sections: system.Sections(),
		OnAlarm:  func(runtime.AlarmEvent) {},
	})
}

// sleepyType takes the time its parameter says in every Process: a pass
// that is still running long after its first component ran.
var sleepyType = runtime.Define(runtime.Spec[struct{}]{
	Name: "Sleepy",
	Build: func(b *runtime.Builder, _ *struct{}) (runtime.Component, error) {
		return &sleepy{d: runtime.Param(b, "Sleep", 0.0, runtime.PUnit("s"))}, nil
	},
})

type sleepy struct{ d *runtime.Parameter[float64] }

func (s *sleepy) Process(runtime.Tick) { time.Sleep(time.Duration(s.d.Get() * float64(time.Second))) }

var testRegistry = runtime.MustRegistry(append(all.Registry().Types(), sleepyType)...)

// running is an application running on the real clock with its link.
type running struct {
	t       *testing.T
	app     *runtime.App
	r       *system.Runner
	cancel  context.CancelFunc
	done    chan error
	detach  func()
	stopped bool
}

// start loads, starts and runs an application and its link; it is
// stopped when the test ends.
func start(t *testing.T, name, text string, o system.Options) *running {
	t.Helper()
	app, err := load(t, name, text)
	if err != nil {
		t.Fatal(err)
	}
	return run(t, app, o)
}

func run(t *testing.T, app *runtime.App, o system.Options) *running {
	t.Helper()
	o.Log = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel).With().Str("app", app.Name).Logger()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	x := &running{t: t, app: app, done: make(chan error, 1), detach: app.Tap().Attach()}
	rctx, rcancel := context.WithCancel(context.Background())
	x.cancel = rcancel
	go func() { x.done <- app.Run(rctx) }()
	r, err := system.Start(ctx, app, o)
	if err != nil {
		x.stop()
		t.Fatal(err)
	}
	x.r = r
	t.Cleanup(x.stop)
	return x
}

// stop ends the link (NDEATH), then the application.
func (x *running) stop() {
	if x.stopped {
		return
	}
	x.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := x.r.Stop(ctx); err != nil {
		x.t.Errorf("%s: stop link: %v", x.app.Name, err)
	}
	x.cancel()
	<-x.done
	x.detach()
	if err := x.app.Stop(ctx); err != nil {
		x.t.Errorf("%s: stop: %v", x.app.Name, err)
	}
}

// get returns the latest sample of a member (full path or without the
// application's name).
func (x *running) get(path string) runtime.Sample {
	x.t.Helper()
	if !strings.HasPrefix(path, x.app.Name+".") {
		path = x.app.Name + "." + path
	}
	id, ok := x.app.Tap().Lookup(path)
	if !ok {
		x.t.Fatalf("%s: no member %s", x.app.Name, path)
	}
	return x.app.Tap().Get(id)
}

// waitFor waits until the member's sample satisfies ok.
func (x *running) waitFor(path string, what string, ok func(runtime.Sample) bool) runtime.Sample {
	x.t.Helper()
	deadline := time.Now().Add(wait)
	for {
		s := x.get(path)
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			x.t.Fatalf("%s: %s: want %s, have %v (%s)", x.app.Name, path, what, s.Value, s.Quality)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitValue waits until the member has value v with quality q.
func (x *running) waitValue(path string, v signals.Value, q signals.Quality) runtime.Sample {
	x.t.Helper()
	return x.waitFor(path, fmt.Sprintf("%v (%s)", v, q), func(s runtime.Sample) bool {
		return s.Quality == q && (v.Kind() == signals.Invalid || s.Value.Equal(v))
	})
}

// alarm returns the state of an alarm at path.
func (x *running) alarm(path string) (active bool, text string) {
	for _, s := range x.app.AlarmStates() {
		if s.Path == path || s.Path == x.app.Name+"."+path {
			return s.Active, s.Text
		}
	}
	x.t.Fatalf("%s: no alarm %s", x.app.Name, path)
	return false, ""
}

func (x *running) waitAlarm(path string, active bool, textHas string) string {
	x.t.Helper()
	deadline := time.Now().Add(wait)
	for {
		a, text := x.alarm(path)
		if a == active && strings.Contains(text, textHas) {
			return text
		}
		if time.Now().After(deadline) {
			x.t.Fatalf("%s: alarm %s: want active %v with %q, have active %v %q", x.app.Name, path, active, textHas, a, text)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func eventually(t *testing.T, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: "+format, append([]any{wait}, args...)...)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// brokerYAML is the system section's broker for a URL, with the short
// keep-alive and retries tests need.
func brokerYAML(urls ...string) string {
	return fmt.Sprintf(`{servers: ["%s"], keep_alive: 2s, retry_min: 50ms, retry_max: 500ms, connect_timeout: 3s}`, strings.Join(urls, `", "`))
}
