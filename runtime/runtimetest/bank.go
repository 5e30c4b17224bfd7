package runtimetest

import (
	"fmt"

	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// BankConfig sizes a Bank.
type BankConfig struct {
	// Outputs is how many double outputs the bank declares (O0, O1, ...).
	Outputs int `yaml:"outputs"`
}

// Bank is a component whose double outputs all change every tick: the
// worst case for anything that observes signals, so benchmarks of the tap,
// the live view and the metrics load an application with banks of them.
var Bank = runtime.Define(runtime.Spec[BankConfig]{
	Name:    "runtimetest.Bank",
	Summary: "double outputs that all change every tick",
	Build: func(b *runtime.Builder, cfg *BankConfig) (runtime.Component, error) {
		k := &bank{}
		for i := 0; i < cfg.Outputs; i++ {
			k.outs = append(k.outs, runtime.Output[float64](b, fmt.Sprintf("O%d", i)))
		}
		return k, nil
	},
})

type bank struct{ outs []*signals.Signal[float64] }

// Process sets output i to the tick count plus i.
func (k *bank) Process(t runtime.Tick) {
	base := float64(t.Count)
	for i, o := range k.outs {
		o.Set(base + float64(i))
	}
}
