// Package blockkit holds what several families of standard blocks share:
// the config of a block over a configurable number of inputs, and time
// conversions for blocks that count time. Component packages do not import
// each other, so what two of them need lives here once.
package blockkit

import (
	"fmt"
	"math"

	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// MaxInputs bounds how many inputs a block over N inputs may declare.
const MaxInputs = 64

// InputsConfig sets how many inputs a block over N inputs has.
type InputsConfig struct {
	// Inputs is the number of inputs, named In1 .. InN.
	Inputs int `yaml:"inputs" doc:"number of inputs, named In1 .. InN (2 to 64)"`
}

// Validate checks the number of inputs.
func (c *InputsConfig) Validate() error {
	var errs runtime.FieldErrors
	if c.Inputs < 2 || c.Inputs > MaxInputs {
		errs.Add("inputs", "want 2 to %d inputs, got %d", MaxInputs, c.Inputs)
	}
	return errs.Err()
}

// TwoInputs is the default InputsConfig.
func TwoInputs() InputsConfig { return InputsConfig{Inputs: 2} }

// Inputs declares the inputs first .. first+n-1 named prefix+number (In1 .. InN).
func Inputs[T signals.Scalar](b *runtime.Builder, prefix string, first, n int, desc string) []*signals.Signal[T] {
	in := make([]*signals.Signal[T], n)
	for i := range in {
		in[i] = runtime.Input[T](b, fmt.Sprintf("%s%d", prefix, first+i), runtime.Desc(desc))
	}
	return in
}

// Nanos converts a duration parameter in seconds to nanoseconds, rounded and
// saturated, for blocks that measure time on the tick's monotonic clock.
func Nanos(s float64) int64 {
	ns := math.Round(s * 1e9)
	switch {
	case ns >= math.MaxInt64:
		return math.MaxInt64
	case ns <= 0 || math.IsNaN(ns):
		return 0
	}
	return int64(ns)
}
