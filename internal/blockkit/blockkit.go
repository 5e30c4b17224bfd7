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
	// Inputs is how many inputs the block has, 2 to 64.
	Inputs int `yaml:"inputs"`
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

// About is what a block type says of itself, for `runtime types`.
type About struct {
	Name    string // the type's name in YAML
	Summary string // one line
	Doc     string // more, in Markdown
	Example string // a component entry using the type; checked by tests
}

// Define defines a block type that has no config keys: build declares the
// block's signals and parameters and returns it.
func (a About) Define(build func(b *runtime.Builder) runtime.Component) *runtime.Type {
	return runtime.Define(runtime.Spec[struct{}]{
		Name: a.Name, Summary: a.Summary, Doc: a.Doc, Example: a.Example,
		Build: func(b *runtime.Builder, _ *struct{}) (runtime.Component, error) { return build(b), nil },
	})
}

// TypeConfig chooses the type of a block's value, for blocks that work on
// any type of signal.
type TypeConfig struct {
	// Type is the type of the value: double, int, uint, bool or string
	// (CDP's names, such as float, are accepted too).
	Type string `yaml:"type"`
	// Unit is the engineering unit of the value, shown on the signals and
	// the parameter that carry it.
	Unit string `yaml:"unit"`
}

// DoubleType is the default TypeConfig.
func DoubleType() TypeConfig { return TypeConfig{Type: "double"} }

// Validate checks the type's name.
func (c *TypeConfig) Validate() error {
	var errs runtime.FieldErrors
	if _, err := signals.ParseKind(c.Type); err != nil {
		errs.Add("type", "%v", err)
	}
	return errs.Err()
}

// Kind returns the type; Validate has checked it.
func (c *TypeConfig) Kind() signals.Kind {
	k, _ := signals.ParseKind(c.Type)
	return k
}
