package link_test

import (
	"testing"

	"github.com/metronome-rt/metronome/internal/mqttconn"
	"github.com/metronome-rt/metronome/link"
	"github.com/metronome-rt/metronome/link/sparkplug"
	"github.com/metronome-rt/metronome/signals"
)

// Update runs on the tick: handing over a batch, accepted or refused,
// allocates nothing. The edge node is not started, so that its own
// goroutine (which encodes and publishes, and may allocate) does not count
// in the process-wide figure AllocsPerRun reads; Update's work, the copy
// into the hand-off ring and the wake-up, is the same either way.
func TestEdgeUpdateAllocatesNothing(t *testing.T) {
	const runs = 500
	const perBatch = 4
	e, err := link.NewEdgeNode(link.EdgeConfig{Group: "g", Node: "alloc", Exports: testExports(),
		HandOff:   (runs + 1) * perBatch,
		Transport: mqttconn.Options{Protocol: mqttconn.V311, Servers: []string{"mqtt://127.0.0.1:1"}, ClientID: "alloc"}})
	if err != nil {
		t.Fatal(err)
	}
	state := "running" // a string value: copied by reference, not allocated
	batch := []link.Change{
		{Index: 0, Sample: sparkplug.Sample{Value: signals.FloatValue(1.5), Quality: signals.Good, Stamp: 1}},
		{Index: 1, Sample: sparkplug.Sample{Value: signals.BoolValue(true), Quality: signals.Good, Stamp: 1}},
		{Index: 2, Sample: sparkplug.Sample{Value: signals.IntValue(7), Quality: signals.Good, Stamp: 1}},
		{Index: 3, Sample: sparkplug.Sample{Value: signals.StringValue(state), Quality: signals.Good, Stamp: 1}},
	}
	if len(batch) != perBatch {
		t.Fatal("perBatch does not match the batch")
	}
	accepted := 0
	n := testing.AllocsPerRun(runs, func() {
		batch[2].Value = signals.IntValue(int64(accepted))
		if e.Update(batch) {
			accepted++
		}
	})
	if accepted != runs+1 { // AllocsPerRun makes one warm-up call
		t.Fatalf("%d of %d batches accepted: the test measured the refusal, not the hand-off", accepted, runs+1)
	}
	if n != 0 {
		t.Errorf("Update (accepted) allocates %v times per call, want 0", n)
	}
	// The hand-off is now full: a refused batch allocates nothing either.
	n = testing.AllocsPerRun(runs, func() {
		if e.Update(batch) {
			t.Fatal("batch accepted into a full hand-off")
		}
	})
	if n != 0 {
		t.Errorf("Update (refused) allocates %v times per call, want 0", n)
	}
	if got := e.Stats().Refused; got != runs+1 {
		t.Errorf("refused %d, want %d", got, runs+1)
	}
}
