package signals

// Quality says whether a value can be trusted. Components pass it on so that
// a value that is old, missing or undecodable never looks live downstream.
type Quality uint8

// Qualities, ordered from best to worst so that Worst can compare them.
const (
	Good     Quality = iota // produced this run and fresh
	Initial                 // never written or never received yet
	Stale                   // older than its configured maximum age
	CommLost                // its source is behind a link that is down
	BadInput                // the source value could not be converted or decoded
)

var qualityNames = [...]string{Good: "good", Initial: "initial", Stale: "stale", CommLost: "comm lost", BadInput: "bad input"}

// String returns the quality's name as shown in logs and `runtime` output.
func (q Quality) String() string {
	if int(q) < len(qualityNames) {
		return qualityNames[q]
	}
	return "unknown"
}

// OK reports whether the value is good.
func (q Quality) OK() bool { return q == Good }

// Worst returns the worse of two qualities, for components that combine
// inputs and must not present the result as better than its worst input.
func Worst(a, b Quality) Quality {
	if b > a {
		return b
	}
	return a
}
