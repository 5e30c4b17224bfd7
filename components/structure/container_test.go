package structure_test

import (
	"testing"
	"time"

	"github.com/metronome-rt/metronome/components/structure"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/scheduler"
	"github.com/metronome-rt/metronome/signals"
)

// counter outputs its tick count: something for a Container to hold.
var counter = runtime.Define(runtime.Spec[struct{}]{
	Name: "Counter",
	Build: func(b *runtime.Builder, _ *struct{}) (runtime.Component, error) {
		return &count{out: runtime.Output[int64](b, "Out"), in: runtime.Input[int64](b, "In")}, nil
	},
})

type count struct {
	in, out *signals.Signal[int64]
	n       int64
}

func (c *count) Process(runtime.Tick) { c.n++; c.out.Set(c.n + c.in.Get()) }

func TestContainerGroupsAndRoutesWork(t *testing.T) {
	app, err := runtime.LoadBytes("c.yaml", []byte(`application: A
fs: 10
components:
  - name: Zone
    type: Container
    fs: 20
    components:
      - name: First
        type: Counter
      - name: Second
        type: Counter
        inputs: {In: ..First.Out}
  - name: Outside
    type: Counter
    inputs: {In: A.Zone.Second.Out}
`), runtime.MustRegistry(structure.Container, counter), runtime.LoadOptions{Scheduler: scheduler.Options{Virtual: true}})
	if err != nil {
		t.Fatal(err)
	}
	app.Advance(time.Second)
	second, _ := app.Signal("A.Zone.Second.Out")
	if n, _ := second.Value().Int(); n != 40 { // 20 ticks of its own + First's 20
		t.Fatalf("Zone.Second.Out = %d, want 40 (the container's fs inherited, the sibling route resolved)", n)
	}
	zone, _ := app.Find("A.Zone")
	for _, p := range zone.Ports() {
		switch p.Info().Name {
		case runtime.StdProcessTime, runtime.StdProcessPeriod, runtime.StdOverruns:
		default:
			t.Errorf("Container has a signal of its own: %s", p.Info().Name)
		}
	}
	if len(zone.Children) != 2 || len(zone.Params()) != 0 {
		t.Fatalf("Zone has %d children and %d parameters", len(zone.Children), len(zone.Params()))
	}
	d, _ := runtime.Describe(structure.Container)
	if len(d.Signals) != 0 || len(d.Parameters) != 0 || len(d.Config) != 0 {
		t.Fatalf("Describe(Container) lists %d signals, %d parameters, %d config keys", len(d.Signals), len(d.Parameters), len(d.Config))
	}
}
