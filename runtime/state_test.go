package runtime

import "testing"

func TestStateMachineGuardsTransitions(t *testing.T) {
	b := &Builder{node: &Node{}, path: "A.C"}
	m := NewStateMachine(b, "Water", "Wait")
	if m.State() != NullState || m.out.Get() != NullState {
		t.Fatalf("initial state %q (signal %q), want Null", m.State(), m.out.Get())
	}
	dry := false
	entered := 0
	if err := m.Allow(NullState, "Wait", nil); err != nil {
		t.Fatal(err)
	}
	if err := m.Allow("Wait", "Water", func() bool { return dry }); err != nil {
		t.Fatal(err)
	}
	if err := m.Allow("Water", "Bogus", nil); err == nil {
		t.Fatal("a transition to an undeclared state was accepted")
	}
	m.OnEnter("Water", func() { entered++ })
	if err := m.Request("Water"); err != nil {
		t.Fatal(err)
	}
	if m.Step() {
		t.Fatal("Null -> Water happened without a declared transition")
	}
	_ = m.Request("Wait")
	if !m.Step() || m.State() != "Wait" || m.out.Get() != "Wait" {
		t.Fatalf("Null -> Wait: state %q", m.State())
	}
	_ = m.Request("Water")
	if m.Step() {
		t.Fatal("Wait -> Water happened while its guard was false")
	}
	if m.Requested() != "Water" {
		t.Fatalf("request dropped while the guard was false: %q", m.Requested())
	}
	dry = true
	if !m.Step() || m.State() != "Water" || entered != 1 {
		t.Fatalf("Wait -> Water with the guard true: state %q, entered %d", m.State(), entered)
	}
	if err := m.Request("Flood"); err == nil {
		t.Fatal("request of an unknown state accepted")
	}
}
