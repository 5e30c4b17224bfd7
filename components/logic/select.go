package logic

import (
	"github.com/metronome-rt/metronome/internal/blockkit"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// Select is the Select type: IEC SEL, Out = G ? In1 : In0.
var Select = blockkit.About{
	Name:    "Select",
	Summary: "binary selector (IEC SEL): Out = In0 while G is false, In1 while G is true",
	Doc: `Out depends on G and on the selected input only: its quality and time are
the worse and the newer of those two, so a bad input that is not selected
does not taint Out.`,
	Example: `name: Source
type: Select
inputs: {G: App.UseBackup.Out, In0: App.Main.Out, In1: App.Backup.Out}`,
}.Define(func(b *runtime.Builder) runtime.Component {
	return &selector{
		g:   runtime.Input[bool](b, "G", runtime.Desc("selects In1 when true, In0 when false")),
		in:  blockkit.Inputs[float64](b, "In", 0, 2, "candidate value"),
		out: runtime.Output[float64](b, "Out", runtime.Desc("the selected input")),
	}
})

type selector struct {
	g   *signals.Signal[bool]
	in  []*signals.Signal[float64]
	out *signals.Signal[float64]
}

func (s *selector) Process(runtime.Tick) {
	var m signals.Merge
	m.Add(s.g)
	if !m.Ready(s.out) {
		return
	}
	k := 0
	if s.g.Get() {
		k = 1
	}
	pass(m, s.in[k], s.out)
}

// pass copies the selected input to out, merged with the selector's quality.
func pass(m signals.Merge, in, out *signals.Signal[float64]) {
	m.Add(in)
	if m.Ready(out) {
		m.SetFloat(out, in.Get())
	}
}

// Mux is the Mux type: IEC MUX, Out = In<K>.
var Mux = runtime.Define(runtime.Spec[blockkit.InputsConfig]{
	Name:    "Mux",
	Summary: "multiplexer (IEC MUX): Out = In<K>, the input K selects (In0 .. In<N-1>)",
	Doc: `config.inputs sets the number of inputs, In0 .. In<N-1> (default 2). Out
depends on K and on the selected input only. A K outside 0 .. N-1 selects
nothing: Out holds with quality bad input.`,
	Example: `name: Recipe
type: Mux
config: {inputs: 3}
inputs: {K: App.Mqtt.Recipe, In0: App.Soft.Out, In1: App.Medium.Out, In2: App.Hard.Out}`,
	Defaults: blockkit.TwoInputs,
	Build: func(b *runtime.Builder, cfg *blockkit.InputsConfig) (runtime.Component, error) {
		return &mux{
			k:   runtime.Input[int64](b, "K", runtime.Desc("index of the input to pass on, from 0")),
			in:  blockkit.Inputs[float64](b, "In", 0, cfg.Inputs, "candidate value"),
			out: runtime.Output[float64](b, "Out", runtime.Desc("the selected input")),
		}, nil
	},
})

type mux struct {
	k   *signals.Signal[int64]
	in  []*signals.Signal[float64]
	out *signals.Signal[float64]
}

func (x *mux) Process(runtime.Tick) {
	var m signals.Merge
	m.Add(x.k)
	k := x.k.Get()
	if m.HasValue() && (k < 0 || k >= int64(len(x.in))) {
		m.AddQ(signals.BadInput, 0)
	}
	if !m.Ready(x.out) {
		return
	}
	pass(m, x.in[k], x.out)
}
