package control

import (
	"fmt"
	"math"
	"time"

	"github.com/metronome-rt/metronome/internal/blockkit"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// LowPass is the LowPass type: a first-order low-pass filter (PT1).
var LowPass = blockkit.About{
	Name:    "LowPass",
	Summary: "first-order low-pass filter (PT1) with time constant T",
	Doc: `Out += dt/(T + dt) * (In - Out) each tick (backward Euler, stable for any
T and dt; dt is the component's period). The first value of In passes
straight through, so the filter does not rise from 0. T = 0 passes In on
unchanged.`,
	Example: `name: Smooth
type: LowPass
fs: 10
parameters: {T: 5}
inputs: {In: App.Sensor.Out}`,
}.Define(func(b *runtime.Builder) runtime.Component {
	return &lowPass{
		unary: newUnary(b, "value to filter", "filtered value", ""),
		tc:    runtime.Param(b, "T", 1.0, runtime.Min(0), runtime.PUnit("s"), runtime.PDesc("time constant: a step reaches 63 % after T")),
	}
})

type lowPass struct {
	unary
	tc      *runtime.Parameter[float64]
	y       float64
	started bool
}

func (f *lowPass) Process(t runtime.Tick) {
	m, ok := f.beginState(t)
	if !ok {
		return
	}
	x, y := f.in.Get(), f.in.Get()
	if f.started {
		dt := t.Dt()
		y = f.y + dt/(f.tc.Get()+dt)*(x-f.y)
	}
	if m.SetFloat(f.out, y) {
		f.y, f.started = y, true
	}
}

// maxDelaySamples bounds the FOPDT model's dead-time buffer.
const maxDelaySamples = 1 << 20

// FOPDTConfig sizes the model's dead-time buffer.
type FOPDTConfig struct {
	// MaxDeadTime is the longest dead time the parameter L may take; it
	// sizes a buffer of max_dead_time*fs samples.
	MaxDeadTime time.Duration `yaml:"max_dead_time"`
}

// Validate checks the bound.
func (c *FOPDTConfig) Validate() error {
	var errs runtime.FieldErrors
	if c.MaxDeadTime < 0 {
		errs.Add("max_dead_time", "must not be negative, got %s", c.MaxDeadTime)
	}
	return errs.Err()
}

// FOPDT is the FOPDT type: a first-order-plus-dead-time process model.
var FOPDT = runtime.Define(runtime.Spec[FOPDTConfig]{
	Name:    "FOPDT",
	Summary: "first-order-plus-dead-time process model: K*exp(-L*s)/(T*s + 1), plus Offset",
	Doc: `Simulates a process for tests, demos and tuning:
Out = Offset + x, x[k] = a*x[k-1] + (1 - a)*K*In[k - d], a = exp(-dt/T),
d = round(L/dt) ticks (dt is the component's period). The model starts at
rest: x = 0 and In taken as 0 for the dead time before the first tick. T = 0
makes it a pure gain with dead time. Until In first has a value the model
runs at rest with In = 0 and good quality, as a real process exists before
its controller speaks (a loop of a controller and its model would otherwise
wait on each other forever); after that In's quality is passed on as for
any block. In a loop with a controller in the same rate group, route the
model's output back with delay: true.`,
	Example: `name: Room
type: FOPDT
fs: 10
config: {max_dead_time: 30s}
parameters: {K: 0.2, T: 600, L: 20, Offset: 15}
inputs: {In: App.Heating.Out}`,
	Defaults: func() FOPDTConfig { return FOPDTConfig{MaxDeadTime: 10 * time.Second} },
	Build: func(b *runtime.Builder, cfg *FOPDTConfig) (runtime.Component, error) {
		fs := b.Rate().FS
		n := int(math.Ceil(cfg.MaxDeadTime.Seconds()*fs)) + 1
		if n > maxDelaySamples {
			return nil, fmt.Errorf("config.max_dead_time %s at %v Hz needs more than %d samples", cfg.MaxDeadTime, fs, maxDelaySamples)
		}
		return &fopdt{
			unary:  newUnary(b, "the process input (the actuator)", "the process value", ""),
			k:      runtime.Param(b, "K", 1.0, runtime.PDesc("static gain: Out - Offset settles at K*In")),
			tc:     runtime.Param(b, "T", 1.0, runtime.Min(0), runtime.PUnit("s"), runtime.PDesc("time constant")),
			l:      runtime.Param(b, "L", 0.0, runtime.Range(0, cfg.MaxDeadTime.Seconds()), runtime.PUnit("s"), runtime.PDesc("dead time, rounded to whole ticks (at most config.max_dead_time)")),
			offset: runtime.Param(b, "Offset", 0.0, runtime.PDesc("the process value at rest (ambient)")),
			u:      make([]float64, n),
			aFor:   math.NaN(), // no T yet
		}, nil
	},
})

type fopdt struct {
	unary
	k, tc, l, offset *runtime.Parameter[float64]
	u                []float64 // the last len(u) inputs, newest at next-1
	next             int
	x                float64
	driven           bool    // In has had a value
	a, aFor          float64 // exp(-dt/T) and the T it is for
}

func (p *fopdt) Process(t runtime.Tick) {
	m, ok := p.beginState(t)
	u := p.in.Get()
	if !p.driven && m.Quality() == signals.Initial {
		// A process exists before its actuator speaks: at rest, In = 0.
		m, ok, u = signals.Merge{}, true, 0
		m.AddTime(t.Wall.UnixNano())
	}
	if !ok {
		return
	}
	p.driven = p.driven || u != 0 || p.in.Quality() != signals.Initial
	dt := t.Dt()
	p.u[p.next] = u
	d := int(math.Round(p.l.Get() / dt))
	if d < 0 || d >= len(p.u) { // a NaN L passes the range check
		d = 0
	}
	i := p.next - d
	if i < 0 {
		i += len(p.u)
	}
	ud := p.u[i]
	if tc := p.tc.Get(); tc != p.aFor { // exp only when T changes
		p.a, p.aFor = 0, tc
		if tc > 0 {
			p.a = math.Exp(-dt / tc)
		}
	}
	x := p.a*p.x + (1-p.a)*p.k.Get()*ud
	if m.SetFloat(p.out, p.offset.Get()+x) {
		p.x = x
		if p.next++; p.next == len(p.u) {
			p.next = 0
		}
	}
}
