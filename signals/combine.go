package signals

import "math"

// The quality rule of computed outputs. Every block applies it the same way,
// through Merge, so that what a block publishes is never better than what it
// was computed from:
//
//  1. An output takes the worst quality of the inputs it depends on (Worst)
//     and the newest of their time stamps. A block whose output moves with
//     time on its own (a source, a timer, a filter, a controller) also counts
//     the tick's time, since its output is produced on that tick.
//  2. If one of those inputs has no value, because it was never received
//     (Initial) or could not be decoded (BadInput), the block does not
//     compute: the output keeps its value and time, takes that worse
//     quality, and the block's state does not advance.
//  3. A result that is NaN or infinite is never published: the output keeps
//     its value and time with quality BadInput. So a NaN or infinite input
//     never yields a good NaN, and a division by zero never yields a good
//     infinity. A block with state (a filter, an integrator) lets only
//     finite inputs into it: a NaN or infinite input holds its output with
//     quality BadInput and leaves the state as it was.
//
// Stale and comm lost values are still values: a block computes with them
// and passes their quality on, so everything downstream of a lost input
// says so.

// Reading is what the quality rule needs to know about an input: a *Signal
// of any type is one.
type Reading interface {
	Quality() Quality
	Stamp() int64
}

// Merge collects the quality and time of the inputs one output depends on.
// The zero Merge is good with no time; add each input with Add (and the tick
// with AddTime for blocks that move with time), then write the output with
// Hold, SetFloat or Set. A Merge is a small value: it allocates nothing.
type Merge struct {
	q     Quality
	stamp int64
	// noValue is set when an input without a value was counted. It is kept
	// apart from q: Initial ranks better than Stale, so the worst quality
	// alone would forget an Initial input beside a stale one.
	noValue bool
}

// Add counts an input. Passing a *Signal allocates nothing.
func (m *Merge) Add(r Reading) { m.AddQ(r.Quality(), r.Stamp()) }

// AddQ counts a quality and time stamp that come from somewhere other than
// a signal (a sample held in a buffer, for example).
func (m *Merge) AddQ(q Quality, stamp int64) {
	m.q = Worst(m.q, q)
	m.noValue = m.noValue || !HasValue(q)
	if stamp > m.stamp {
		m.stamp = stamp
	}
}

// AddTime counts the tick's time (Unix ns) for outputs that move with time.
func (m *Merge) AddTime(now int64) {
	if now > m.stamp {
		m.stamp = now
	}
}

// Quality returns the worst quality counted so far.
func (m Merge) Quality() Quality { return m.q }

// Stamp returns the newest time counted so far (Unix ns).
func (m Merge) Stamp() int64 { return m.stamp }

// HasValue reports whether every input counted holds a value a block may
// compute with: none is Initial or BadInput (rule 2). Stale and comm lost
// values count as values.
func (m Merge) HasValue() bool { return !m.noValue }

// HasValue reports whether a value of quality q is a real reading, possibly
// an old one: false for a value never received (Initial) and for one that
// could not be decoded (BadInput).
func HasValue(q Quality) bool { return q != Initial && q != BadInput }

// Hold keeps out's value and time and gives it the merged quality: what a
// block does when it cannot compute (rule 2). An output that was never
// computed stays Initial, so its zero never shows as a stale or lost value.
func (m Merge) Hold(out Port) {
	if m.noValue && out.Quality() == Initial {
		return
	}
	out.SetQuality(m.q)
}

// Ready reports whether the block may compute (HasValue); when it may not,
// it first holds every one of outs (rule 2), so a block reads
//
//	if !m.Ready(out) {
//		return
//	}
func (m Merge) Ready(outs ...Port) bool {
	if m.HasValue() {
		return true
	}
	for _, o := range outs {
		m.Hold(o)
	}
	return false
}

// SetFloat writes a computed result by the rule: finite, it is written with
// the merged quality and time; NaN or infinite, out keeps its value and
// time with quality BadInput (rule 3). It reports whether v was written.
func (m Merge) SetFloat(out *Signal[float64], v float64) bool {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		out.SetQuality(Worst(m.q, BadInput))
		return false
	}
	out.Put(v, m.q, m.stamp)
	return true
}

// Set writes a computed result of a type that cannot be NaN (bool, integers,
// strings) with the merged quality and time.
func Set[T Scalar](m Merge, out *Signal[T], v T) { out.Put(v, m.q, m.stamp) }

// Finite reports whether v is neither NaN nor infinite: a block checks its
// inputs with it before it lets them into its state.
func Finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
