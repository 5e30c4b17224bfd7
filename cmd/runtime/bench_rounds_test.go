package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestRoundOrderAndMedian(t *testing.T) {
	if got := fmt.Sprint(roundOrder(0, 3), roundOrder(1, 3), roundOrder(2, 2), roundOrder(3, 2)); got != "[0 1 2] [2 1 0] [0 1] [1 0]" {
		t.Errorf("orders %s", got)
	}
	id := func(f float64) float64 { return f }
	if m := median([]float64{5, 1, 3}, id); m != 3 {
		t.Errorf("median of 3: %v", m)
	}
	if m := median([]float64{4, 1, 3, 10}, id); m != 3.5 {
		t.Errorf("median of 4: %v", m)
	}
}

// Both comparative benchmarks take the same --messages and --rounds and
// refuse the same mistakes.
func TestBenchRoundsFlags(t *testing.T) {
	for _, bench := range []string{"broker", "client"} {
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"--messages", "0"}, "--messages must be 1..10000000, got 0"},
			{[]string{"--messages", "10000001"}, "--messages must be 1..10000000"},
			{[]string{"--rounds", "0"}, "--rounds must be 1..100, got 0"},
			{[]string{"--rounds", "101"}, "--rounds must be 1..100"},
		} {
			code, _, errOut := runCmd(append([]string{"bench", bench}, c.args...)...)
			if code != 2 || !strings.Contains(errOut, c.want) || !strings.Contains(errOut, "usage: runtime bench "+bench) {
				t.Errorf("bench %s %q: exit %d, stderr %q; want 2 and %q", bench, c.args, code, errOut, c.want)
			}
		}
	}
}

// A short run of each comparative benchmark reports both contenders at both
// QoS levels with nothing lost (its figures are not checked: they are what
// it measures, on a shared machine).
func TestComparativeBenchmarksRun(t *testing.T) {
	for _, c := range []struct {
		run   func(args []string, stdout, stderr *bytes.Buffer) int
		names []string
	}{
		// Two rounds: the second runs the contenders in the other order.
		{func(a []string, o, e *bytes.Buffer) int { return benchMQTTClient(append(a, "--rounds", "2"), o, e) }, []string{"metronome", "autopaho"}},
		// One round: each phase waits a second for stragglers.
		{func(a []string, o, e *bytes.Buffer) int {
			return benchBroker(append(a, "--rounds", "1", "--in-process"), o, e)
		}, []string{"metronome"}},
	} {
		var out, errOut bytes.Buffer
		if code := c.run([]string{"--messages", "200", "--json"}, &out, &errOut); code != 0 {
			t.Fatalf("exit %d: %s", code, errOut.String())
		}
		var rep struct {
			Results []struct {
				Name string
				QoS  int
				Lost int
			}
		}
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatalf("%v: %s", err, out.String())
		}
		seen := map[string]bool{}
		for _, r := range rep.Results {
			if r.Lost != 0 {
				t.Errorf("%s QoS %d lost %d", r.Name, r.QoS, r.Lost)
			}
			seen[fmt.Sprint(r.Name, r.QoS)] = true
		}
		for _, name := range c.names {
			for _, qos := range []int{0, 1} {
				if !seen[fmt.Sprint(name, qos)] {
					t.Errorf("no result for %s QoS %d in %s", name, qos, out.String())
				}
			}
		}
	}
}
