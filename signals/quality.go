package signals

import "strings"

// Quality says whether a value can be trusted. Components pass it on so that
// a value that is old, missing or undecodable never looks live downstream.
type Quality uint8

// Qualities. The numbers are stable (they may be stored or sent); their
// order from best to worst, which Worst uses, is Good, LastKnown, Initial,
// Stale, CommLost, BadInput.
const (
	Good     Quality = iota // produced this run and fresh
	Initial                 // never written or never received yet
	Stale                   // older than its configured maximum age
	CommLost                // its source is behind a link that is down
	BadInput                // the source value could not be converted or decoded
	// LastKnown is a value that was true when last heard of but is not
	// known to be live: a retained MQTT message the broker replayed at
	// subscription (it may be hours old), or a value kept across a
	// reconnection during which updates may have been missed. It is usable:
	// it drives logic and publications, which carry this quality on, so
	// nothing downstream mistakes it for a live reading. A live update
	// makes it Good.
	LastKnown
)

var qualityNames = [...]string{Good: "good", Initial: "initial", Stale: "stale", CommLost: "comm lost", BadInput: "bad input", LastKnown: "last known"}

// rank orders qualities from best (0) to worst for Worst.
var rank = [...]uint8{Good: 0, LastKnown: 1, Initial: 2, Stale: 3, CommLost: 4, BadInput: 5}

// String returns the quality's name as shown in logs, payloads and `runtime`
// output.
func (q Quality) String() string {
	if int(q) < len(qualityNames) {
		return qualityNames[q]
	}
	return "unknown"
}

// Qualities lists every quality from best to worst.
func Qualities() []Quality { return []Quality{Good, LastKnown, Initial, Stale, CommLost, BadInput} }

// ParseQuality maps a quality's name back to it, for payloads that carry
// one. Case and the separator between words ("comm lost", "comm_lost",
// "CommLost") do not matter.
func ParseQuality(s string) (Quality, bool) {
	key := strings.Map(func(r rune) rune {
		if r == ' ' || r == '_' || r == '-' {
			return -1
		}
		return r
	}, strings.ToLower(strings.TrimSpace(s)))
	for q, n := range qualityNames {
		if strings.ReplaceAll(n, " ", "") == key {
			return Quality(q), true
		}
	}
	return Good, false
}

// OK reports whether the value is good: live and fresh.
func (q Quality) OK() bool { return q == Good }

// Usable reports whether the value may drive logic and be published: good,
// or the last known value (a retained message). Initial, stale, comm lost
// and bad input values are not usable.
func (q Quality) Usable() bool { return q == Good || q == LastKnown }

// Worst returns the worse of two qualities, for components that combine
// inputs and must not present the result as better than its worst input.
func Worst(a, b Quality) Quality {
	if b.rank() > a.rank() {
		return b
	}
	return a
}

func (q Quality) rank() int {
	if int(q) < len(rank) {
		return int(rank[q])
	}
	return len(rank) // an unknown quality is worse than any known one
}
