package view_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/metronome-rt/metronome/components/all"
	"github.com/metronome-rt/metronome/internal/mqtttest"
	"github.com/metronome-rt/metronome/internal/passwd"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
	"github.com/metronome-rt/metronome/view"
)

type none struct{}

// constType outputs its parameter Value.
var constType = runtime.Define(runtime.Spec[none]{
	Name: "test.Const",
	Build: func(b *runtime.Builder, _ *none) (runtime.Component, error) {
		return &constant{out: runtime.Output[float64](b, "Out", runtime.Unit("°C")), v: runtime.Param(b, "Value", 20.0, runtime.Range(-50, 150), runtime.PUnit("°C"))}, nil
	},
})

type constant struct {
	out *signals.Signal[float64]
	v   *runtime.Parameter[float64]
}

func (c *constant) Process(runtime.Tick) {
	if c.out.Quality() != signals.Good || c.out.Get() != c.v.Get() {
		c.out.Set(c.v.Get())
	}
}

// limitType raises High while In is above Limit.
var limitType = runtime.Define(runtime.Spec[none]{
	Name: "test.Limit",
	Build: func(b *runtime.Builder, _ *none) (runtime.Component, error) {
		return &limit{in: runtime.Input[float64](b, "In"), spare: runtime.Input[float64](b, "Spare", runtime.Unit("bar")), over: runtime.Output[bool](b, "Over"),
			limit: runtime.Param(b, "Limit", 100.0), high: b.Alarm("High", runtime.Error, "In above Limit")}, nil
	},
})

type limit struct {
	in    *signals.Signal[float64]
	spare *signals.Signal[float64]
	over  *signals.Signal[bool]
	limit *runtime.Parameter[float64]
	high  *runtime.Alarm
}

func (l *limit) Process(runtime.Tick) {
	o := l.in.Quality() == signals.Good && l.in.Get() > l.limit.Get()
	l.over.Set(o)
	l.high.Update(o)
}

func registry() *runtime.Registry {
	return runtime.MustRegistry(append(all.Types(), constType, limitType)...)
}

// testApp is a small plant: a sine, a constant published over MQTT through
// the embedded broker and subscribed back with a max age (so its input goes
// stale when the constant stops changing), and a limit alarm.
func testApp(port int) string {
	return fmt.Sprintf(`application: T
fs: 20
components:
  - name: Broker
    type: MQTTBroker
    config:
      listeners: [{type: tcp, address: 127.0.0.1, port: %d}]
      allow_anonymous: true
      acl: [{topic: "t/#", access: readwrite}]
  - name: Wave
    type: SineGenerator
    parameters: {Amplitude: 10, Frequency: 0.5}
  - name: Setpoint
    type: test.Const
  - name: Mqtt
    type: MQTTClient
    config:
      servers: [mqtt://127.0.0.1:%d]
      publish: [{name: SpOut, topic: t/sp, type: double}]
      subscribe: [{name: SpIn, topic: t/sp, type: double, max_age: 1500ms}]
    inputs: {SpOut: T.Setpoint.Out}
  - name: Heater
    type: Gain
    parameters: {K: 2}
    inputs: {In: T.Mqtt.SpIn}
  - name: Guard
    type: test.Limit
    inputs: {In: T.Wave.Out}
`, port, port)
}

const testPassword = "correct horse"

type rig struct {
	app *runtime.App
	srv *view.Server
	log *lockedBuf
}

// startRig loads the test application, runs it on the real clock and
// serves its live view on 127.0.0.1 port 0 with writes on for user "op".
func startRig(t testing.TB, cfg runtime.ViewConfig) *rig {
	t.Helper()
	return startRigWith(t, cfg, nil)
}

// startRigWith is startRig with the server's options changed by opt.
func startRigWith(t testing.TB, cfg runtime.ViewConfig, opt func(*view.Options)) *rig {
	t.Helper()
	log := &lockedBuf{}
	logger := zerolog.New(log)
	port := mqtttest.FreePort(t)
	app, err := runtime.LoadBytes("t.yaml", []byte(testApp(port)), registry(), runtime.LoadOptions{Log: logger})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	runDone := make(chan struct{})
	go func() { app.Run(ctx); close(runDone) }()
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	opts := view.Options{Log: logger, Version: "test", WriteTimeout: 2 * time.Second, SendTimeout: 2 * time.Second}
	if opt != nil {
		opt(&opts)
	}
	srv, err := view.New(app, cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		srv.Close(sctx)
		cancel()
		<-runDone
		app.Stop(sctx)
	})
	return &rig{app: app, srv: srv, log: log}
}

// writableConfig enables writes for user op.
func writableConfig(t testing.TB) runtime.ViewConfig {
	h, err := passwd.New(testPassword, passwd.MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	return runtime.ViewConfig{Writes: true, Users: []passwd.User{{Name: "op", PasswordHash: h}}}
}

type lockedBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func within(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
