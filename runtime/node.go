package runtime

import (
	"errors"
	"fmt"

	"github.com/rs/zerolog"

	"github.com/metronome-rt/metronome/scheduler"
	"github.com/metronome-rt/metronome/signals"
)

// Node is one component instance in an application tree: its identity, its
// scheduling, its signals, parameters and alarms, and the component itself.
type Node struct {
	Name     string // short name
	Path     string // full dotted path, App.Comp.Sub
	TypeName string
	Parent   *Node // nil for top-level components
	Children []*Node
	Rate     Rate

	// Description is the entry's `description:`.
	Description string

	comp   Component
	clock  signals.Clock
	ports  []signals.Port
	byName map[string]any // signals.Port, AnyParam or *Alarm
	params []AnyParam
	alarms []*Alarm
	routes []*route
	links  []signals.Link // latched before each Process, in declaration order
	// outOps are the operators of outputs (operators.go), run after Process.
	outOps []opRunner
	// aliases: members a model instance exposes, by the component that
	// owns them (model.go).
	aliases map[string]*Node
	shared  signals.Shared // copies of outputs read by other rate groups
	std     stdSignals
	member  *scheduler.Member
	// decoupled: outputs do not depend on inputs within a tick (I/O).
	decoupled bool
	log       zerolog.Logger
	// x holds what reaches the node from outside its tick: writes, forces
	// and observation (see seams.go); nil for nodes that never tick.
	x *nodeExt
}

// Component returns the component instance.
func (n *Node) Component() Component { return n.comp }

// Ports returns the node's signals in declaration order.
func (n *Node) Ports() []signals.Port { return n.ports }

// Port finds a signal by name.
func (n *Node) Port(name string) (signals.Port, bool) {
	p, ok := n.byName[name].(signals.Port)
	return p, ok
}

// Params returns the node's parameters in declaration order.
func (n *Node) Params() []AnyParam { return n.params }

// Param finds a parameter by name.
func (n *Node) Param(name string) (AnyParam, bool) {
	p, ok := n.byName[name].(AnyParam)
	return p, ok
}

// Alarms returns the node's alarms in declaration order.
func (n *Node) Alarms() []*Alarm { return n.alarms }

// Alarm finds an alarm by name.
func (n *Node) Alarm(name string) (*Alarm, bool) {
	a, ok := n.byName[name].(*Alarm)
	return a, ok
}

// Clock returns the clock the node's signals stamp from.
func (n *Node) Clock() *signals.Clock { return &n.clock }

// Walk calls f for n and every node below it, parents first.
func (n *Node) Walk(f func(*Node)) {
	f(n)
	for _, c := range n.Children {
		c.Walk(f)
	}
}

// Builder is handed to a type's Build function to declare the component's
// signals, parameters and alarms. Declarations are collected on the node;
// mistakes (duplicate names, a default outside its range) are reported with
// the component's YAML position.
type Builder struct {
	node *Node
	path string
	errs []error
	emit func(AlarmEvent)
}

// Name returns the component's short name.
func (b *Builder) Name() string { return b.node.Name }

// Path returns the component's full dotted path.
func (b *Builder) Path() string { return b.path }

// Log returns the component's logger (it carries the component's path).
func (b *Builder) Log() *zerolog.Logger { return &b.node.log }

// Clock returns the clock the component's signals stamp from; I/O
// components read it on the tick side only.
func (b *Builder) Clock() *signals.Clock { return &b.node.clock }

// Rate returns the component's configured rate, so a component can size
// buffers or convert intervals to ticks.
func (b *Builder) Rate() Rate { return b.node.Rate }

// Decoupled declares that the component's outputs never depend on its
// inputs within the same tick: an I/O component whose outputs come from the
// network and whose inputs go out to it. Such a component runs before its
// sources when that is the only order possible, so a route through it (a
// value published, and another subscribed and routed back) is not a routing
// loop; what it sends then lags by at most one of its ticks.
func (b *Builder) Decoupled() { b.node.decoupled = true }

// Port declares a signal whose kind is known only from configuration (an
// MQTT topic's `type:`, for example).
func (b *Builder) Port(k signals.Kind, name string, dir signals.Direction, opts ...SignalOption) signals.Port {
	return b.port(k, name, dir, opts)
}

func (b *Builder) port(k signals.Kind, name string, dir signals.Direction, opts []SignalOption) signals.Port {
	info := signals.Info{Name: name, Path: b.path + "." + name, Dir: dir}
	for _, o := range opts {
		o(&info)
	}
	p := signals.NewPort(k, info, &b.node.clock)
	if p == nil {
		b.errorf("signal %s: invalid type %s", name, k)
		p = signals.NewPort(signals.Float, info, &b.node.clock)
	}
	if b.claim(name, p) {
		b.node.ports = append(b.node.ports, p)
	}
	return p
}

func (b *Builder) addParam(name string, p AnyParam) {
	if b.claim(name, p) {
		b.node.params = append(b.node.params, p)
	}
}

// Alarm declares an alarm. Its level, delay and enabled state may be changed
// per instance in the component's `alarms:` YAML.
func (b *Builder) Alarm(name string, level Level, text string, opts ...AlarmOption) *Alarm {
	a := &Alarm{
		info:    AlarmInfo{Name: name, Path: b.path + "." + name, Level: level, Text: text},
		enabled: true, condSince: -1, text: text,
		clock: &b.node.clock, emit: b.emit,
	}
	for _, o := range opts {
		o(&a.info)
	}
	if b.claim(name, a) {
		b.node.alarms = append(b.node.alarms, a)
	}
	return a
}

// claim reserves a name in the component; signals, parameters, alarms and
// subcomponents share one namespace, since a route names any of them.
func (b *Builder) claim(name string, v any) bool {
	if err := checkName(name); err != nil {
		b.errorf("%v", err)
		return false
	}
	if b.node.byName == nil {
		b.node.byName = map[string]any{}
	}
	if _, dup := b.node.byName[name]; dup {
		b.errorf("%q is declared twice in %s", name, b.path)
		return false
	}
	b.node.byName[name] = v
	return true
}

func (b *Builder) errorf(format string, args ...any) {
	b.errs = append(b.errs, fmt.Errorf(format, args...))
}

func (b *Builder) err() error { return errors.Join(b.errs...) }

// checkName enforces names that can appear in a dotted routing path.
func checkName(name string) error {
	if name == "" {
		return fmt.Errorf("empty name")
	}
	for i, r := range name {
		ok := r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (i > 0 && r >= '0' && r <= '9')
		if !ok {
			return fmt.Errorf("invalid name %q: use letters, digits and _ and start with a letter (names are joined with dots in routing paths)", name)
		}
	}
	return nil
}
