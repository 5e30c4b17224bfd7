package runtimetest

import (
	"fmt"

	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// SourceConfig lists the outputs of a Source.
type SourceConfig struct {
	// Signals are the outputs to declare.
	Signals []SourceSignal `yaml:"signals"`
}

// SourceSignal is one output of a Source.
type SourceSignal struct {
	Name string `yaml:"name"`
	Type string `yaml:"type"`
}

// source is a component whose outputs a test writes directly; the harness
// routes a component's inputs from it.
var source = runtime.Define(runtime.Spec[SourceConfig]{
	Name:    "runtimetest.Source",
	Summary: "outputs written by a test",
	Build: func(b *runtime.Builder, cfg *SourceConfig) (runtime.Component, error) {
		for _, s := range cfg.Signals {
			k, err := signals.ParseKind(s.Type)
			if err != nil {
				return nil, fmt.Errorf("signal %s: %w", s.Name, err)
			}
			b.Port(k, s.Name, signals.Output)
		}
		return idle{}, nil
	},
})

type idle struct{}

func (idle) Process(runtime.Tick) {}
