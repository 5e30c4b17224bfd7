package control

import (
	"math"

	"github.com/metronome-rt/metronome/internal/blockkit"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// Limiter is the Limiter type: Out = In clamped to [Min, Max].
var Limiter = blockkit.About{
	Name:    "Limiter",
	Summary: "clamps In to [Min, Max] and says which limit it is at",
	Doc: `Out = min(max(In, Min), Max); High is true while In > Max, Low while In <
Min. If Min > Max, Max wins. An infinite In is clamped to the limit; a NaN
In holds Out with quality bad input.`,
	Example: `name: Clamp
type: Limiter
parameters: {Min: 0, Max: 100}
inputs: {In: App.Ctrl.Out}`,
}.Define(func(b *runtime.Builder) runtime.Component {
	return &limiter{
		unary: newUnary(b, "value to limit", "In clamped to [Min, Max]", ""),
		high:  runtime.Output[bool](b, "High", runtime.Desc("In is above Max")),
		low:   runtime.Output[bool](b, "Low", runtime.Desc("In is below Min")),
		min:   runtime.Param(b, "Min", 0.0, runtime.PDesc("lower limit")),
		max:   runtime.Param(b, "Max", 100.0, runtime.PDesc("upper limit")),
	}
})

type limiter struct {
	unary
	high, low *signals.Signal[bool]
	min, max  *runtime.Parameter[float64]
}

func (l *limiter) Process(runtime.Tick) {
	m, ok := l.begin(l.high, l.low)
	if !ok {
		return
	}
	x, lo, hi := l.in.Get(), l.min.Get(), l.max.Get()
	if !m.SetFloat(l.out, clamp(x, lo, hi)) {
		m.AddQ(signals.BadInput, 0)
		m.Ready(l.high, l.low)
		return
	}
	signals.Set(m, l.high, x > hi)
	signals.Set(m, l.low, x < lo && !(x > hi))
}

// RateLimiter is the RateLimiter type: Out follows In no faster than Rise
// and Fall units per second.
var RateLimiter = blockkit.About{
	Name:    "RateLimiter",
	Summary: "Out follows In, rising at most Rise and falling at most Fall units per second",
	Doc: `Each tick Out moves towards In by at most Rise*dt up or Fall*dt down (dt is
the component's period). The first value of In passes straight through.
Limited is true while Out lags In.`,
	Example: `name: SoftStart
type: RateLimiter
parameters: {Rise: 5, Fall: 20}
inputs: {In: App.Ctrl.Out}`,
}.Define(func(b *runtime.Builder) runtime.Component {
	return &rateLimiter{
		unary:   newUnary(b, "target value", "In, rate-limited", ""),
		limited: runtime.Output[bool](b, "Limited", runtime.Desc("Out lags In")),
		rise:    runtime.Param(b, "Rise", 1.0, runtime.Min(0), runtime.PUnit("1/s"), runtime.PDesc("largest rise per second")),
		fall:    runtime.Param(b, "Fall", 1.0, runtime.Min(0), runtime.PUnit("1/s"), runtime.PDesc("largest fall per second")),
	}
})

type rateLimiter struct {
	unary
	limited    *signals.Signal[bool]
	rise, fall *runtime.Parameter[float64]
	y          float64
	started    bool
}

func (r *rateLimiter) Process(t runtime.Tick) {
	m, ok := r.beginState(t, r.limited)
	if !ok {
		return
	}
	x, y := r.in.Get(), r.in.Get()
	if r.started {
		dt := t.Dt()
		y = clamp(x, r.y-r.fall.Get()*dt, r.y+r.rise.Get()*dt)
	}
	if !m.SetFloat(r.out, y) { // a NaN rate
		m.AddQ(signals.BadInput, 0)
		m.Hold(r.limited)
		return
	}
	r.y, r.started = y, true
	signals.Set(m, r.limited, y != x)
}

// DeadBand is the DeadBand type: Out = 0 within ±Band, else In moved
// towards 0 by Band.
var DeadBand = blockkit.About{
	Name:    "DeadBand",
	Summary: "dead band: Out = 0 while |In| <= Band, else In - Band (or In + Band below zero), continuous",
	Doc: `Out = In - Band for In > Band, In + Band for In < -Band, and 0 in
between (OSCAT DEAD_BAND): small errors are ignored and larger ones pass
without a jump at the band's edges. Put it on a controller's error to stop
it chasing noise.`,
	Example: `name: IgnoreNoise
type: DeadBand
parameters: {Band: 0.2}
inputs: {In: App.Error.Out}`,
}.Define(func(b *runtime.Builder) runtime.Component {
	return &deadBand{
		unary: newUnary(b, "value", "In with the band removed", ""),
		band:  runtime.Param(b, "Band", 1.0, runtime.Min(0), runtime.PDesc("half-width of the band around 0")),
	}
})

type deadBand struct {
	unary
	band *runtime.Parameter[float64]
}

func (d *deadBand) Process(runtime.Tick) {
	m, ok := d.begin()
	if !ok {
		return
	}
	x, w := d.in.Get(), d.band.Get()
	y := 0.0
	switch {
	case x > w:
		y = x - w
	case x < -w:
		y = x + w
	case math.IsNaN(x):
		y = x
	}
	m.SetFloat(d.out, y)
}
