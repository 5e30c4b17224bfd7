package main

import (
	"flag"
	"fmt"
	"slices"
)

// benchRounds are the flags shared by the benchmarks that compare Metronome
// with a baseline in the same run (`bench broker`, `bench client`): each
// runs every contender --rounds times, alternating which goes first, and
// reports the median, because this machine class is shared and a single
// run is noisy.
type benchRounds struct {
	json     *bool
	messages *int
	rounds   *int
}

func addBenchRounds(fs *flag.FlagSet) benchRounds {
	return benchRounds{
		json:     fs.Bool("json", false, ""),
		messages: fs.Int("messages", 20000, ""),
		rounds:   fs.Int("rounds", 3, ""),
	}
}

// benchResult is what a comparative benchmark reports for each contender
// at each QoS; each benchmark adds its own figures.
type benchResult struct {
	Name     string  `json:"name"`
	QoS      int     `json:"qos"`
	MsgsPerS float64 `json:"msgs_per_s"`
	Lost     int     `json:"lost"`
}

// benchReport is what a comparative benchmark prints with --json.
type benchReport[R any] struct {
	Bench   string `json:"bench"`
	Results []R    `json:"results"`
}

// combineRounds sums the rounds' lost messages (every one counts) and
// takes the median of their rates.
func combineRounds[T any](rounds []T, result func(T) benchResult) benchResult {
	var out benchResult
	for _, r := range rounds {
		out.Lost += result(r).Lost
	}
	out.MsgsPerS = median(rounds, func(r T) float64 { return result(r).MsgsPerS })
	return out
}

// check returns what is wrong with the flags' values, "" if nothing.
func (r benchRounds) check() string {
	if *r.messages < 1 || *r.messages > 10_000_000 {
		return fmt.Sprintf("--messages must be 1..10000000, got %d", *r.messages)
	}
	if *r.rounds < 1 || *r.rounds > 100 {
		return fmt.Sprintf("--rounds must be 1..100, got %d", *r.rounds)
	}
	return ""
}

// roundOrder is the order in which round runs n contenders: as listed in
// even rounds, reversed in odd ones, so that none always runs first (on a
// quieter machine, or with caches another warmed).
func roundOrder(round, n int) []int {
	order := make([]int, n)
	for k := range order {
		order[k] = k
		if round%2 == 1 {
			order[k] = n - 1 - k
		}
	}
	return order
}

// median returns the median of f over the rounds' results.
func median[T any](rounds []T, f func(T) float64) float64 {
	v := make([]float64, len(rounds))
	for i, r := range rounds {
		v[i] = f(r)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}
