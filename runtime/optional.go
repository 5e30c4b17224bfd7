package runtime

import "github.com/metronome-rt/metronome/signals"

// Optional is an input a component can work without: a controller's
// feed-forward, or a setpoint that a parameter gives when nothing is routed.
//
// An optional input is present, and then counts like any input (its value
// is used and its quality is merged into the outputs), when it is routed or
// when something has written it (a test, a forced value). Otherwise it is
// absent and the component uses its default. A routed input whose source has
// not produced a value yet is present with quality Initial, so the component
// waits for it rather than computing from a default nobody meant.
type Optional[T signals.Scalar] struct {
	*signals.Signal[T]
	node   *Node
	routed int8 // 0: not looked up yet, 1: routed, -1: not routed
}

// OptionalInput declares an optional input signal.
func OptionalInput[T signals.Scalar](b *Builder, name string, opts ...SignalOption) *Optional[T] {
	return &Optional[T]{Signal: Input[T](b, name, opts...), node: b.node}
}

// Present reports whether the input takes part in the component's work. It
// is meant for Process: routes are known once the application is loaded,
// not while it is being built. It allocates nothing.
func (o *Optional[T]) Present() bool {
	if o.Seq() > 0 {
		return true
	}
	if o.routed == 0 {
		o.routed = -1
		for _, r := range o.node.routes {
			if r.sink == o.Info().Name {
				o.routed = 1
				break
			}
		}
	}
	return o.routed > 0
}

// Or returns the input's value when it is present and def when it is absent.
func (o *Optional[T]) Or(def T) T {
	if o.Present() {
		return o.Get()
	}
	return def
}

// AddTo merges the input into m when it is present; an absent input takes
// no part in the quality of what the component computes.
func (o *Optional[T]) AddTo(m *signals.Merge) {
	if o.Present() {
		m.Add(o.Signal)
	}
}
