package mqttconn_test

import (
	"testing"

	"github.com/metronome-rt/metronome/internal/mqttconn"
)

func TestCovers(t *testing.T) {
	for _, tc := range []struct {
		filter, sub string
		want        bool
	}{
		{"#", "a", true}, {"#", "a/b/c", true}, {"#", "#", true}, {"#", "$SYS/x", false},
		{"a/#", "a", true}, {"a/#", "a/b", true}, {"a/#", "a/#", true}, {"a/#", "b", false},
		{"a/+", "a/b", true}, {"a/+", "a/+", true}, {"a/+", "a/#", false}, {"a/+", "a/b/c", false},
		{"a/b", "a/b", true}, {"a/b", "a/+", false}, {"a/b", "a/b/c", false}, {"a/b/c", "a/b", false},
		{"+/b", "$SYS/b", false}, {"$SYS/#", "$SYS/broker/uptime", true}, {"+", "", true},
		{"+/#", "$SYS", false}, {"a/+", "a/$x", true}, {"+", "+", true}, {"+", "#", false},
	} {
		if got := mqttconn.Covers(tc.filter, tc.sub); got != tc.want {
			t.Errorf("Covers(%q, %q) = %v, want %v", tc.filter, tc.sub, got, tc.want)
		}
	}
}

// For a topic name (no wildcards) Covers is Match: a broker deciding a
// delivery by its ACL and a client routing the message agree.
func TestCoversAgreesWithMatchOnTopicNames(t *testing.T) {
	filters := []string{"#", "+", "a", "a/#", "a/+", "+/b", "+/+", "a/+/c", "$SYS/#", "+/#", "a/b/#", "/", "+/", "/+", "a//c"}
	topics := []string{"a", "b", "a/b", "a/b/c", "a/c", "$SYS", "$SYS/x", "", "/", "a/", "/b", "a//c", "x/b", "a/$x"}
	for _, f := range filters {
		for _, topic := range topics {
			if c, m := mqttconn.Covers(f, topic), mqttconn.Match(f, topic); c != m {
				t.Errorf("filter %q, topic %q: Covers %v, Match %v", f, topic, c, m)
			}
		}
	}
}

func TestCoversAllocatesNothing(t *testing.T) {
	allocs := testing.AllocsPerRun(1000, func() {
		if !mqttconn.Covers("plant/+/state/#", "plant/pump1/state/x/y") || mqttconn.Covers("#", "$SYS/x") {
			t.Fatal("Covers")
		}
	})
	if allocs != 0 {
		t.Fatalf("Covers allocates %v times", allocs)
	}
}
