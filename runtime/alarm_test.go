package runtime

import (
	"testing"
	"time"

	"github.com/metronome-rt/metronome/signals"
)

func newTestAlarm(delay time.Duration, events *[]AlarmEvent) (*Alarm, *signals.Clock) {
	n := &Node{}
	b := &Builder{node: n, path: "A.C", emit: func(ev AlarmEvent) { *events = append(*events, ev) }}
	a := b.Alarm("Fault", Error, "fault", Delay(delay))
	return a, &n.clock
}

func TestAlarmDelayAckAndClear(t *testing.T) {
	var evs []AlarmEvent
	a, clock := newTestAlarm(time.Second, &evs)
	step := func(cond bool, at time.Duration) {
		clock.Mono = int64(at)
		a.Update(cond)
	}
	step(true, 0)
	step(true, 900*time.Millisecond)
	if a.Active() {
		t.Fatal("alarm set before its delay passed")
	}
	step(false, 950*time.Millisecond) // a glitch shorter than the delay
	step(true, 1000*time.Millisecond)
	step(true, 1900*time.Millisecond)
	if a.Active() {
		t.Fatal("the delay did not restart after the condition went away")
	}
	step(true, 2000*time.Millisecond)
	if !a.Active() || !a.Unacked() {
		t.Fatalf("after the delay: active %v unacked %v, want both", a.Active(), a.Unacked())
	}
	step(true, 2100*time.Millisecond) // still true: no second event
	step(false, 2200*time.Millisecond)
	if a.Active() || !a.Unacked() {
		t.Fatalf("after clearing: active %v unacked %v, want cleared but unacknowledged", a.Active(), a.Unacked())
	}
	a.Ack()
	a.Ack()
	if a.Unacked() {
		t.Fatal("still unacknowledged after Ack")
	}
	kinds := ""
	for _, ev := range evs {
		kinds += ev.Kind.String() + " "
	}
	if kinds != "set cleared acknowledged " {
		t.Fatalf("events %q", kinds)
	}
	a.SetEnabled(false)
	a.Set()
	if a.Active() {
		t.Fatal("a disabled alarm was set")
	}
}

func TestParameterRangeAndExactness(t *testing.T) {
	b := &Builder{node: &Node{}, path: "A.C"}
	k := Param(b, "K", int64(5), Range(0, 10))
	if err := k.Set(11); err == nil || k.Get() != 5 {
		t.Fatalf("out-of-range Set: err %v, value %d", err, k.Get())
	}
	if err := k.SetValue(signals.FloatValue(2.5)); err == nil {
		t.Fatal("2.5 accepted by an int parameter")
	}
	if err := k.SetValue(signals.StringValue("7")); err != nil || k.Get() != 7 || k.Previous() != 5 {
		t.Fatalf("SetValue(\"7\"): err %v value %d previous %d", err, k.Get(), k.Previous())
	}
	bad := Param(b, "Bad", 20.0, Max(10))
	_ = bad
	if len(b.errs) != 1 {
		t.Fatalf("a default outside its range was not reported: %v", b.errs)
	}
}
