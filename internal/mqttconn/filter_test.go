package mqttconn

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	cases := []struct {
		filter, topic string
		want          bool
	}{
		{"a/b", "a/b", true}, {"a/b", "a/c", false}, {"a/+", "a/b", true}, {"a/+", "a/b/c", false},
		{"a/#", "a", true}, {"a/#", "a/b/c", true}, {"#", "x/y", true}, {"+/+", "a/b", true},
		{"+", "", true}, {"a/+/c", "a//c", true}, {"#", "$SYS/x", false}, {"+/x", "$SYS/x", false},
		{"$SYS/#", "$SYS/x", true}, {"a/b", "a/b/", false}, {"a/b/", "a/b/", true}, {"a", "a/b", false},
	}
	for _, c := range cases {
		if got := Match(c.filter, c.topic); got != c.want {
			t.Errorf("Match(%q, %q) = %v", c.filter, c.topic, got)
		}
	}
}

// randomLevels builds filters and topics over a tiny alphabet so that
// overlaps are common.
func randomFilter(r *rand.Rand) string {
	n := 1 + r.IntN(4)
	var l []string
	for i := 0; i < n; i++ {
		switch x := r.IntN(6); {
		case x == 0:
			l = append(l, "+")
		case x == 1 && i == n-1:
			l = append(l, "#")
		case x == 2 && i == 0:
			l = append(l, "$s")
		default:
			l = append(l, string(rune('a'+r.IntN(2))))
		}
	}
	return strings.Join(l, "/")
}

func randomTopic(r *rand.Rand) string {
	n := 1 + r.IntN(5)
	var l []string
	for i := 0; i < n; i++ {
		if i == 0 && r.IntN(5) == 0 {
			l = append(l, "$s")
			continue
		}
		l = append(l, string(rune('a'+r.IntN(3))))
	}
	return strings.Join(l, "/")
}

// TestBrokerFiltersDisjointAndCovering checks the property that prevents
// duplicates: every topic some configured filter matches is matched by
// exactly one broker filter.
func TestBrokerFiltersDisjointAndCovering(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 2000; round++ {
		var fs []string
		var qs []byte
		for i := 0; i < 1+r.IntN(5); i++ {
			fs = append(fs, randomFilter(r))
			qs = append(qs, byte(r.IntN(3)))
		}
		bf, bq := disjoint(fs, qs)
		for i := 0; i < 50; i++ {
			topic := randomTopic(r)
			matched := 0
			var q byte
			for j, f := range bf {
				if Match(f, topic) {
					matched++
					q = bq[j]
				}
			}
			for j, f := range fs {
				if Match(f, topic) {
					if matched != 1 {
						t.Fatalf("filters %v -> %v: topic %q matches %d broker filters", fs, bf, topic, matched)
					}
					if q < qs[j] {
						t.Fatalf("filters %v -> %v: topic %q gets QoS %d < %d", fs, bf, topic, q, qs[j])
					}
				}
			}
			if matched > 1 {
				t.Fatalf("broker filters %v overlap on %q", bf, topic)
			}
		}
		for a := range bf {
			for b := a + 1; b < len(bf); b++ {
				if overlap(bf[a], bf[b]) {
					t.Fatalf("broker filters %q and %q overlap", bf[a], bf[b])
				}
			}
		}
	}
}

func TestOverlapExactness(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 5000; i++ {
		a, b := randomFilter(r), randomFilter(r)
		// Search topics for a witness; overlap must agree with what is found
		// whenever a witness exists.
		for j := 0; j < 200; j++ {
			topic := randomTopic(r)
			if Match(a, topic) && Match(b, topic) && !overlap(a, b) {
				t.Fatalf("overlap(%q, %q) = false, but both match %q", a, b, topic)
			}
		}
	}
	if fs, _ := disjoint([]string{"$SYS/x", "+/x", "#"}, []byte{0, 0, 0}); len(fs) != 2 {
		t.Errorf("a $ filter merged into a wildcard one that cannot match it: %v", fs)
	}
	if overlap("a/b", "a/c") || overlap("a/+", "a/b/c") || !overlap("a/#", "a") || !overlap("+/b", "a/+") {
		t.Error("overlap table")
	}
}
