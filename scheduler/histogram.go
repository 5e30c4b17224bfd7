package scheduler

import (
	"math"
	"math/bits"
	"time"
)

// The histogram's buckets are log-linear: values below 2^histSubBits ns
// each have a bucket of their own, and every power of two above that is cut
// into 2^histSubBits equal buckets. A bucket's upper bound is then at most
// 1/32 (3.1%) above any value in it. The top octave ends at 2^histMaxExp ns
// (about 275 s); larger values count in the last bucket.
const (
	histSubBits = 5
	histSub     = 1 << histSubBits // buckets per octave
	histMaxExp  = 38               // values up to 2^38 ns (~275 s) keep full resolution
	histBuckets = (histMaxExp - histSubBits + 1) * histSub
	histMaxVal  = 1<<histMaxExp - 1
)

// Histogram counts durations in log-linear buckets (relative error at most
// about 3%) from 0 to about 275 s; larger ones count in the top bucket, so
// quantiles stop there while Max and Mean stay exact. It is made of fixed arrays only, so it
// can be embedded, copied and reset without allocating. The zero value is
// empty and ready to use. It is not safe for concurrent use.
type Histogram struct {
	counts [histBuckets]uint64
	count  uint64
	sum    uint64 // ns; saturates rather than wraps
	max    int64  // ns
}

// bucketOf returns the bucket index of v ns (v >= 0).
func bucketOf(v uint64) int {
	if v > histMaxVal {
		v = histMaxVal
	}
	if v < histSub {
		return int(v)
	}
	e := bits.Len64(v) - 1 // floor(log2 v) >= histSubBits
	m := v >> uint(e-histSubBits)
	return (e-histSubBits+1)*histSub + int(m-histSub)
}

// bucketUpper returns the largest value (ns) that falls in bucket i.
func bucketUpper(i int) uint64 {
	if i < 2*histSub {
		return uint64(i)
	}
	e := i/histSub + histSubBits - 1
	m := uint64(i%histSub + histSub)
	return (m+1)<<uint(e-histSubBits) - 1
}

// Record counts one duration; a negative one counts as 0.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	v := uint64(d)
	h.counts[bucketOf(v)]++
	h.count++
	if s := h.sum + v; s >= h.sum {
		h.sum = s
	} else {
		h.sum = math.MaxUint64
	}
	if int64(d) > h.max {
		h.max = int64(d)
	}
}

// Count returns the number of durations recorded.
func (h *Histogram) Count() uint64 { return h.count }

// Max returns the largest duration recorded (exact), or 0 if empty.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean returns the mean duration (exact), or 0 if empty.
func (h *Histogram) Mean() time.Duration {
	if h.count == 0 {
		return 0
	}
	return time.Duration(h.sum / h.count)
}

// Quantile returns the q-quantile (q in [0, 1]; 0.99 is p99): the upper
// bound of the bucket holding the value of rank ceil(q*Count), never more
// than Max. It is at most about 3% above the true value, and 0 when the
// histogram is empty. Quantile(1) is Max.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.count == 0 {
		return 0
	}
	if !(q > 0) { // q <= 0 or NaN
		q = 0
	}
	rank := uint64(math.Ceil(q * float64(h.count)))
	if rank < 1 {
		rank = 1
	}
	if rank >= h.count {
		return time.Duration(h.max)
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i]
		if seen >= rank {
			u := bucketUpper(i)
			if u > uint64(h.max) {
				u = uint64(h.max)
			}
			return time.Duration(u)
		}
	}
	return time.Duration(h.max)
}

// Reset empties the histogram.
func (h *Histogram) Reset() { *h = Histogram{} }

// Add merges o into h.
func (h *Histogram) Add(o *Histogram) {
	if o.count == 0 {
		return
	}
	for i := range h.counts {
		h.counts[i] += o.counts[i]
	}
	h.count += o.count
	if s := h.sum + o.sum; s >= h.sum {
		h.sum = s
	} else {
		h.sum = math.MaxUint64
	}
	if o.max > h.max {
		h.max = o.max
	}
}

// windowSlots is the number of sub-windows a Window rotates through. Each
// covers a quarter of the span, so a snapshot covers between 3/4 of the span
// and the whole span, ending at the latest sample.
const windowSlots = 4

// DefaultWindowSpan is a Window's span when SetSpan was never called.
const DefaultWindowSpan = 10 * time.Second

// Window keeps percentiles over roughly the last span of time without
// allocating: it rotates between fixed sub-window histograms, each covering
// a quarter of the span, and a snapshot merges the ones still live. Time is
// the caller's monotonic timeline (a Timer's Now), so the window works the
// same on a virtual clock. The zero value has the default span of 10 s. It
// is not safe for concurrent use.
type Window struct {
	span  time.Duration
	slot  time.Duration // span / windowSlots
	subs  [windowSlots]Histogram
	ids   [windowSlots]int64 // the slot number each sub-window holds, +1 (0 = never used)
	last  int64              // the newest slot number recorded, +1 (0 = nothing yet)
	total uint64             // samples ever recorded
}

// SetSpan sets the time the window covers (10 s for span <= 0) and empties it.
func (w *Window) SetSpan(span time.Duration) {
	if span <= 0 {
		span = DefaultWindowSpan
	}
	*w = Window{span: span}
	w.slot = span / windowSlots
	if w.slot <= 0 {
		w.slot = 1
	}
}

// Span returns the time the window covers.
func (w *Window) Span() time.Duration {
	if w.span == 0 {
		return DefaultWindowSpan
	}
	return w.span
}

// Total returns the number of samples ever recorded, including those that
// have left the window.
func (w *Window) Total() uint64 { return w.total }

// Record counts a duration d observed at time now on the caller's monotonic
// timeline. Samples should come in time order; one older than the window's
// newest sub-window still counts in the newest one.
func (w *Window) Record(now, d time.Duration) {
	if w.slot == 0 {
		w.SetSpan(w.span)
	}
	if now < 0 {
		now = 0
	}
	id := int64(now/w.slot) + 1
	if id < w.last {
		id = w.last
	}
	i := int(id % windowSlots)
	if w.ids[i] != id {
		w.subs[i].Reset()
		w.ids[i] = id
	}
	w.last = id
	w.subs[i].Record(d)
	w.total++
}

// Snapshot empties dst and fills it with the samples of the live
// sub-windows: those within the span that ends at the newest sample.
func (w *Window) Snapshot(dst *Histogram) {
	dst.Reset()
	if w.last == 0 {
		return
	}
	for i := range w.subs {
		if id := w.ids[i]; id != 0 && id > w.last-windowSlots {
			dst.Add(&w.subs[i])
		}
	}
}
