// Package runtime is Metronome's application model: the component contract,
// the type registry, the application tree built from YAML, the routing
// resolver and the lifecycle that starts and stops it all.
//
// A component type is a Go package that exports a Type made with Define. The
// type's Build function declares the component's signals, parameters and
// alarms on a Builder and returns a Component; the runtime latches its inputs,
// calls Process once per tick and publishes its outputs.
package runtime

import (
	"context"

	"github.com/metronome-rt/metronome/scheduler"
	"github.com/metronome-rt/metronome/signals"
)

// Component is one block of an application. Process runs once per tick of
// the component's rate, after its inputs are latched; it must not block or
// do I/O, because every other component on its rate group waits for it.
type Component interface {
	Process(t Tick)
}

// Starter is implemented by components that own goroutines, sockets or
// files (I/O components). Start runs after the application is built and
// before the first tick; it must return promptly, leaving long work to
// goroutines that end when ctx is cancelled. A peer that cannot be reached
// at start is a degraded state reported by signals and alarms, not an error.
type Starter interface {
	Start(ctx context.Context) error
}

// Stopper is implemented by components that must finish work at shutdown:
// publish final states, flush queues, close listeners. Stop runs after the
// last tick, in reverse start order, and must return by ctx's deadline.
type Stopper interface {
	Stop(ctx context.Context) error
}

// Tick is what Process learns about the tick it runs in (see scheduler.Tick).
type Tick = scheduler.Tick

// Validator is implemented by config structs that check their own values
// (not I/O: validation must be able to run without the network).
type Validator interface {
	Validate() error
}

// Input declares an input signal of the component being built. Its route
// comes from the `inputs:` map of the component's YAML entry.
func Input[T signals.Scalar](b *Builder, name string, opts ...SignalOption) *signals.Signal[T] {
	return declare[T](b, name, signals.Input, opts)
}

// Output declares an output signal: one that other components route from.
func Output[T signals.Scalar](b *Builder, name string, opts ...SignalOption) *signals.Signal[T] {
	return declare[T](b, name, signals.Output, opts)
}

func declare[T signals.Scalar](b *Builder, name string, dir signals.Direction, opts []SignalOption) *signals.Signal[T] {
	p := b.port(signals.KindOf[T](), name, dir, opts)
	s, _ := p.(*signals.Signal[T])
	return s
}

// SignalOption sets a signal's unit or description.
type SignalOption func(*signals.Info)

// Unit sets a signal's engineering unit.
func Unit(u string) SignalOption { return func(i *signals.Info) { i.Unit = u } }

// Desc sets a signal's description, shown by `runtime types`.
func Desc(d string) SignalOption { return func(i *signals.Info) { i.Desc = d } }
