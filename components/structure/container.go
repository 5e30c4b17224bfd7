// Package structure holds blocks that shape an application rather than
// compute: Container, which only groups subcomponents.
package structure

import "github.com/metronome-rt/metronome/runtime"

// ContainerConfig has no keys.
type ContainerConfig struct{}

// Container is the Container type: a node that only groups subcomponents.
var Container = runtime.Define(runtime.Spec[ContainerConfig]{
	Name:    "Container",
	Summary: "groups subcomponents under one name; computes nothing and has no signals of its own",
	Doc: `A node in the application tree for organising it (a heating circuit, a
machine section) as CDP's plain component: its subcomponents are listed
under components: and routed to as Container.Child.Signal, with relative
routes (..Sibling.Out) working inside it as anywhere. It has only the
standard members every component has (ProcessTime, ProcessPeriod, Overruns
and the Overrun alarm). Its fs, priority and group are inherited by its
subcomponents unless they set their own.`,
	Example: `name: Zone1
type: Container
fs: 10
components:
  - name: Setpoint
    type: Constant
    parameters: {Value: 21}
  - name: Control
    type: TwoPoint
    inputs: {In: App.Sensors.Zone1, SP: ..Setpoint.Out}`,
	Build: func(*runtime.Builder, *ContainerConfig) (runtime.Component, error) { return idle{}, nil },
})

type idle struct{}

func (idle) Process(runtime.Tick) {}
