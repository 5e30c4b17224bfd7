package runtime

import (
	"fmt"

	"github.com/metronome-rt/metronome/signals"
)

// NullState is the state every state machine starts in, as in CDP.
const NullState = "Null"

// StateMachine gives a component CDP's model of named states and guarded
// transitions: code requests a state, and the change happens on the next
// Step only if a transition from the current state is declared and its
// guard allows it. The current state is published as the output signal
// State, so other components and alarms can key on it.
type StateMachine struct {
	states    map[string]bool
	trans     map[[2]string]func() bool
	current   string
	requested string
	out       *signals.Signal[string]
	onEnter   map[string]func()
}

// NewStateMachine declares the states (Null is always one, and the start)
// and the output signal State.
func NewStateMachine(b *Builder, states ...string) *StateMachine {
	m := &StateMachine{
		states:  map[string]bool{NullState: true},
		trans:   map[[2]string]func() bool{},
		current: NullState,
		out:     Output[string](b, "State", Desc("the component's current state")),
		onEnter: map[string]func(){},
	}
	for _, s := range states {
		if err := checkName(s); err != nil {
			b.errorf("state: %v", err)
			continue
		}
		m.states[s] = true
	}
	m.out.Set(NullState)
	return m
}

// Allow declares a transition. guard may be nil (always allowed); it runs
// on the component's tick when the transition is requested.
func (m *StateMachine) Allow(from, to string, guard func() bool) error {
	for _, s := range []string{from, to} {
		if !m.states[s] {
			return fmt.Errorf("transition %s -> %s: unknown state %q", from, to, s)
		}
	}
	m.trans[[2]string{from, to}] = guard
	return nil
}

// OnEnter runs f whenever the machine enters state s.
func (m *StateMachine) OnEnter(s string, f func()) { m.onEnter[s] = f }

// Request asks for a change of state at the next Step; an unknown state is
// an error, a state without a transition from the current one stays
// requested until one exists from the state the machine is in.
func (m *StateMachine) Request(s string) error {
	if !m.states[s] {
		return fmt.Errorf("request of unknown state %q", s)
	}
	m.requested = s
	return nil
}

// Step performs a requested transition if it is declared and its guard
// allows it, reporting whether the state changed. Call it from Process.
func (m *StateMachine) Step() bool {
	if m.requested == "" || m.requested == m.current {
		m.requested = ""
		return false
	}
	guard, ok := m.trans[[2]string{m.current, m.requested}]
	if !ok || (guard != nil && !guard()) {
		return false
	}
	m.current, m.requested = m.requested, ""
	m.out.Set(m.current)
	if f := m.onEnter[m.current]; f != nil {
		f()
	}
	return true
}

// State returns the current state.
func (m *StateMachine) State() string { return m.current }

// Requested returns the pending request, or "".
func (m *StateMachine) Requested() string { return m.requested }
