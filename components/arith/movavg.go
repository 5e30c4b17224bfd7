package arith

import (
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// maxSamples bounds a moving average's window (the buffer is allocated at load).
const maxSamples = 1 << 20

// MovingAverageConfig sets the window.
type MovingAverageConfig struct {
	// Samples is the window's length in ticks, 1 to 1048576: the window
	// lasts samples/fs seconds.
	Samples int `yaml:"samples"`
}

// Validate checks the window length.
func (c *MovingAverageConfig) Validate() error {
	var errs runtime.FieldErrors
	if c.Samples < 1 || c.Samples > maxSamples {
		errs.Add("samples", "want 1 to %d samples, got %d", maxSamples, c.Samples)
	}
	return errs.Err()
}

// MovingAverage is the MovingAverage type: the mean of In over the last
// config.samples ticks.
var MovingAverage = runtime.Define(runtime.Spec[MovingAverageConfig]{
	Name:    "MovingAverage",
	Summary: "mean of In over the last config.samples ticks",
	Doc: `Takes one sample of In per tick, so the window lasts samples/fs seconds.
Until the window is full, Out is the mean of the samples so far. Out's
quality is the worst of the samples in the window, so a stale sample taints
the mean until it leaves the window. A sample without a value (initial, bad
input) or that is NaN or infinite is not taken: Out holds with that quality.
The cost per tick does not depend on the window length.`,
	Example: `name: Smooth
type: MovingAverage
fs: 10
config: {samples: 50}
inputs: {In: App.Sensor.Out}`,
	Defaults: func() MovingAverageConfig { return MovingAverageConfig{Samples: 10} },
	Build: func(b *runtime.Builder, cfg *MovingAverageConfig) (runtime.Component, error) {
		return &movingAverage{
			in:   runtime.Input[float64](b, "In", runtime.Desc("value to average")),
			out:  runtime.Output[float64](b, "Out", runtime.Desc("mean over the window")),
			v:    make([]float64, cfg.Samples),
			q:    make([]signals.Quality, cfg.Samples),
			full: false,
		}, nil
	},
})

type movingAverage struct {
	in, out *signals.Signal[float64]
	v       []float64         // ring of samples
	q       []signals.Quality // their qualities
	next    int               // where the next sample goes
	full    bool
	sum     float64
	count   [256]int32 // samples in the window per quality
	maxQ    signals.Quality
	since   int // samples added since sum was last recomputed
}

func (a *movingAverage) Process(runtime.Tick) {
	var m signals.Merge
	m.Add(a.in)
	x := a.in.Get()
	if m.HasValue() && !signals.Finite(x) {
		m.AddQ(signals.BadInput, 0)
	}
	if !m.HasValue() {
		m.AddQ(a.worst(), 0)
		m.Hold(a.out)
		return
	}
	if a.full {
		a.sum -= a.v[a.next]
		a.count[a.q[a.next]]--
	}
	q := a.in.Quality()
	a.v[a.next], a.q[a.next] = x, q
	a.sum += x
	a.count[q]++
	a.maxQ = signals.Worst(a.maxQ, q)
	a.next++
	if a.next == len(a.v) {
		a.next, a.full = 0, true
	}
	n := a.next
	if a.full {
		n = len(a.v)
	}
	// A running sum drifts by rounding; recompute it once per window.
	if a.since++; a.since >= len(a.v) {
		a.since, a.sum = 0, 0
		for _, s := range a.v[:n] {
			a.sum += s
		}
	}
	m.AddQ(a.worst(), 0)
	m.SetFloat(a.out, a.sum/float64(n))
}

// worst is the worst quality of the samples in the window.
func (a *movingAverage) worst() signals.Quality {
	for q := int(a.maxQ); q > 0; q-- {
		if a.count[q] > 0 {
			return signals.Quality(q)
		}
	}
	return signals.Good
}
