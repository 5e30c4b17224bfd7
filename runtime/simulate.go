package runtime

import (
	"errors"
	"fmt"
)

// Message is one MQTT message as an I/O component exchanges it with a
// broker: what it publishes, or what a subscription delivers to it.
type Message struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
}

// Simulator is implemented by I/O components that talk to a broker, so
// that an application test (runtime/apptest) can run them without one and
// without a network. Simulate is called instead of Start: from then on the
// component must not connect, listen or start goroutines, and behaves as if
// it were connected to a broker that
//
//   - takes every message it publishes: it calls publish, on the tick,
//     from Process, with a Message whose Payload it may reuse afterwards;
//   - delivers to it what Deliver gives it, as received messages are
//     delivered (latched at its next tick).
//
// Deliver reports whether one of the component's subscriptions matches
// the topic. It is called between ticks, or from publish while another
// component's Process runs on the same goroutine.
type Simulator interface {
	Simulate(publish func(Message)) error
	Deliver(m Message) bool
}

// Simulate puts the application's simulating I/O components (Simulator)
// in place of their network: each one's publications go to publish, with
// the component that made them. It returns those components, in YAML order.
// Other components with a Start are not started: an application test runs
// with no network at all. Call it once, instead of Start.
func (a *App) Simulate(publish func(from *Node, m Message)) ([]*Node, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cancel != nil {
		return nil, errors.New("application already started")
	}
	var sims []*Node
	for _, n := range a.all {
		s, ok := n.comp.(Simulator)
		if !ok {
			continue
		}
		n := n
		if err := s.Simulate(func(m Message) { publish(n, m) }); err != nil {
			return nil, fmt.Errorf("simulate %s: %w", n.Path, err)
		}
		sims = append(sims, n)
	}
	return sims, nil
}
