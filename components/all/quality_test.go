package all_test

import (
	"math"
	"testing"

	"github.com/metronome-rt/metronome/components/all"
	"github.com/metronome-rt/metronome/runtime/runtimetest"
	"github.com/metronome-rt/metronome/signals"
)

// entries gives the blocks that need a config to have inputs at all.
var entries = map[string]string{
	"Expression": `config: {inputs: [a, b], expression: "a > b ? a / b : sqrt(a) + b"}`,
	"TableScale": "config: {points: [[0, 0], [1, 10]], extrapolate: true}",
}

// TestNoBlockPublishesAGoodNaNOrInfinity feeds NaN, +Inf and -Inf into each
// double input of every block, one at a time with the others at ordinary
// values, for a few ticks, and checks that no double output is then both
// good and not finite: the quality rule, for every block at once.
func TestNoBlockPublishesAGoodNaNOrInfinity(t *testing.T) {
	for _, typ := range all.Types() {
		switch typ.Name() {
		case "MQTTClient", "MQTTBroker":
			continue // I/O: their inputs are published, not computed with
		}
		probe := runtimetest.New(t, typ, entries[typ.Name()])
		var doubles []string
		for _, p := range probe.Node().Ports() {
			if p.Info().Dir == signals.Input && p.Kind() == signals.Float {
				doubles = append(doubles, p.Info().Name)
			}
		}
		for _, in := range doubles {
			for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
				h := runtimetest.New(t, typ, entries[typ.Name()])
				for _, p := range h.Node().Ports() {
					if p.Info().Dir != signals.Input {
						continue
					}
					switch p.Kind() {
					case signals.Bool:
						h.Set(p.Info().Name, false)
					case signals.Float:
						h.Set(p.Info().Name, 1.5)
					default:
						h.Set(p.Info().Name, 0)
					}
				}
				h.Step(2)
				h.Set(in, bad)
				for range 3 {
					h.Step(1)
					for _, p := range h.Node().Ports() {
						if p.Info().Dir != signals.Output || p.Kind() != signals.Float || p.Quality() != signals.Good {
							continue
						}
						if v, _ := p.Value().Float(); !signals.Finite(v) {
							t.Errorf("%s: In %s = %v gives %s = %v with good quality", typ.Name(), in, bad, p.Info().Name, v)
						}
					}
				}
			}
		}
	}
}
