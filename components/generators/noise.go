package generators

import (
	"math/rand/v2"

	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// NoiseConfig fixes the noise's sequence and shape.
type NoiseConfig struct {
	// Seed starts the pseudo-random sequence: the same seed gives the same
	// values on every run, so a test or a simulation can be repeated.
	Seed uint64 `yaml:"seed"`
	// Distribution is uniform (in Offset +- Amplitude) or normal (standard
	// deviation Amplitude).
	Distribution string `yaml:"distribution"`
}

// Validate checks the distribution's name.
func (c *NoiseConfig) Validate() error {
	var errs runtime.FieldErrors
	if c.Distribution != "uniform" && c.Distribution != "normal" {
		errs.Add("distribution", "want uniform or normal, got %q", c.Distribution)
	}
	return errs.Err()
}

// Noise is the NoiseGenerator type: seeded pseudo-random noise.
var Noise = runtime.Define(runtime.Spec[NoiseConfig]{
	Name:    "NoiseGenerator",
	Summary: "seeded pseudo-random noise: uniform in Offset +- Amplitude, or normal with standard deviation Amplitude",
	Doc: `Draws one value per tick from a PCG generator started from config.seed,
so a run, a test or a simulation repeats exactly. Add it to a model's output
to test a filter or a controller against measurement noise.`,
	Example: `name: Noise
type: NoiseGenerator
config: {seed: 42, distribution: normal}
parameters: {Amplitude: 0.1}`,
	Defaults: func() NoiseConfig { return NoiseConfig{Seed: 1, Distribution: "uniform"} },
	Build: func(b *runtime.Builder, cfg *NoiseConfig) (runtime.Component, error) {
		return &noise{
			out:       runtime.Output[float64](b, "Out", runtime.Desc("the noise")),
			amplitude: runtime.Param(b, "Amplitude", 1.0, runtime.Min(0), runtime.PDesc("half-width (uniform) or standard deviation (normal)")),
			offset:    runtime.Param(b, "Offset", 0.0, runtime.PDesc("mean value")),
			rng:       rand.New(rand.NewPCG(cfg.Seed, 0x6d6574726f6e6f6d)),
			normal:    cfg.Distribution == "normal",
		}, nil
	},
})

type noise struct {
	out               *signals.Signal[float64]
	amplitude, offset *runtime.Parameter[float64]
	rng               *rand.Rand
	normal            bool
}

func (n *noise) Process(t runtime.Tick) {
	x := 2*n.rng.Float64() - 1
	if n.normal {
		x = n.rng.NormFloat64()
	}
	emit(n.out, n.offset.Get()+n.amplitude.Get()*x, t)
}
