package scheduler

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestHistogramEmpty(t *testing.T) {
	var h Histogram
	if h.Count() != 0 || h.Max() != 0 || h.Mean() != 0 || h.Quantile(0.5) != 0 || h.Quantile(1) != 0 {
		t.Fatalf("empty histogram: count %d max %v mean %v p50 %v", h.Count(), h.Max(), h.Mean(), h.Quantile(0.5))
	}
}

func TestHistogramExactCounts(t *testing.T) {
	var h Histogram
	for i := range 1000 {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	h.Record(-5 * time.Second) // counts as 0
	if got := h.Count(); got != 1001 {
		t.Fatalf("Count = %d, want 1001", got)
	}
	if got := h.Max(); got != 999*time.Microsecond {
		t.Fatalf("Max = %v, want 999µs", got)
	}
	// Sum is 0+1+...+999 µs = 499500 µs over 1001 samples.
	if got, want := h.Mean(), time.Duration(499500*1000/1001); got != want {
		t.Fatalf("Mean = %v, want %v", got, want)
	}
	var total uint64
	for _, c := range h.counts {
		total += c
	}
	if total != 1001 {
		t.Fatalf("bucket counts add up to %d, want 1001", total)
	}
	if got := h.Quantile(0); got != 0 {
		t.Fatalf("Quantile(0) = %v, want 0 (the negative sample)", got)
	}
	if got := h.Quantile(1); got != h.Max() {
		t.Fatalf("Quantile(1) = %v, want Max %v", got, h.Max())
	}
}

func TestHistogramSmallValuesExact(t *testing.T) {
	// Below 64 ns every value has its own bucket.
	for v := range 64 {
		var h Histogram
		h.Record(time.Duration(v))
		h.Record(1000) // keeps Max above v, so the bucket bound shows
		if got := h.Quantile(0.5); got != time.Duration(v) {
			t.Fatalf("p50 of {%d, 1000} = %v, want %d", v, got, v)
		}
	}
}

// bucketing is consistent: every value lies in its bucket, at most 1/32
// below the bucket's upper bound, and the buckets are in order.
func TestHistogramBuckets(t *testing.T) {
	check := func(v uint64) {
		i := bucketOf(v)
		if i < 0 || i >= histBuckets {
			t.Fatalf("bucketOf(%d) = %d out of range", v, i)
		}
		up := bucketUpper(i)
		if v > histMaxVal {
			if i != histBuckets-1 {
				t.Fatalf("bucketOf(%d) = %d, want the last bucket", v, i)
			}
			return
		}
		if v > up {
			t.Fatalf("value %d above its bucket %d's upper bound %d", v, i, up)
		}
		if i > 0 && v <= bucketUpper(i-1) {
			t.Fatalf("value %d not above bucket %d's upper bound %d", v, i-1, bucketUpper(i-1))
		}
		if float64(up-v) > float64(v)/histSub+1e-9 {
			t.Fatalf("value %d: upper bound %d more than 1/32 above", v, up)
		}
	}
	for v := range uint64(5000) {
		check(v)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		check(uint64(r.Int64N(int64(histMaxVal))))
	}
	for e := range 64 {
		v := uint64(1) << e
		check(v)
		check(v - 1)
		check(v + 1)
	}
	check(math.MaxUint64)
	if got := bucketUpper(histBuckets - 1); got != histMaxVal {
		t.Fatalf("top bucket ends at %d, want %d", got, uint64(histMaxVal))
	}
	if histMaxVal < uint64(100*time.Second) {
		t.Fatalf("range ends at %v, want at least 100 s", time.Duration(histMaxVal))
	}
}

func TestHistogramQuantilesKnownDistributions(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	cases := map[string]func() time.Duration{
		"uniform 0-1ms":    func() time.Duration { return time.Duration(r.Int64N(int64(time.Millisecond))) },
		"exponential 50µs": func() time.Duration { return time.Duration(r.ExpFloat64() * 50e3) },
		"lognormal ~20µs":  func() time.Duration { return time.Duration(math.Exp(r.NormFloat64()*0.8) * 20e3) },
		"wide 1ns-100s":    func() time.Duration { return time.Duration(math.Exp(r.Float64() * math.Log(100e9))) },
	}
	for name, gen := range cases {
		t.Run(name, func(t *testing.T) {
			var h Histogram
			vals := make([]time.Duration, 100000)
			for i := range vals {
				vals[i] = gen()
				h.Record(vals[i])
			}
			slices.Sort(vals)
			for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999, 1} {
				rank := int(math.Ceil(q*float64(len(vals)))) - 1
				want := vals[rank]
				got := h.Quantile(q)
				if got < want || float64(got-want) > float64(want)/histSub+1 {
					t.Errorf("Quantile(%v) = %v, exact %v: want at most 1/32 above", q, got, want)
				}
			}
		})
	}
}

// The use the histogram exists for: p99 of 20 µs and of 30 µs differ.
func TestHistogramResolvesTensOfMicroseconds(t *testing.T) {
	var a, b Histogram
	for i := range 1000 {
		d := time.Duration(i%10) * time.Microsecond
		a.Record(d)
		b.Record(d)
	}
	for range 20 {
		a.Record(20 * time.Microsecond)
		b.Record(30 * time.Microsecond)
	}
	pa, pb := a.Quantile(0.99), b.Quantile(0.99)
	if pa >= pb || pa < 20*time.Microsecond || pa > 21*time.Microsecond || pb < 30*time.Microsecond || pb > 31*time.Microsecond {
		t.Fatalf("p99 %v and %v: want about 20 µs and 30 µs", pa, pb)
	}
}

func TestHistogramAddReset(t *testing.T) {
	var a, b, all Histogram
	for i := range 500 {
		d := time.Duration(i*i) * time.Nanosecond
		all.Record(d)
		if i%2 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	a.Add(&b)
	if a != all {
		t.Fatalf("a+b differs from recording all: count %d/%d max %v/%v mean %v/%v",
			a.Count(), all.Count(), a.Max(), all.Max(), a.Mean(), all.Mean())
	}
	var empty Histogram
	a.Add(&empty)
	if a != all {
		t.Fatal("adding an empty histogram changed it")
	}
	a.Reset()
	if a != (Histogram{}) {
		t.Fatal("Reset left data")
	}
}

func TestHistogramHuge(t *testing.T) {
	var h Histogram
	h.Record(time.Duration(math.MaxInt64))
	h.Record(time.Duration(math.MaxInt64))
	h.Record(200 * time.Second)
	if h.Count() != 3 || h.Max() != time.Duration(math.MaxInt64) {
		t.Fatalf("count %d max %v", h.Count(), h.Max())
	}
	if h.Mean() <= 0 {
		t.Fatalf("Mean = %v after saturating the sum, want positive", h.Mean())
	}
	if got := h.Quantile(0.1); got < 200*time.Second || got > 200*time.Second*33/32 {
		t.Fatalf("p10 = %v, want about 200s", got)
	}
	// Beyond the range, quantiles stop at its top; Max stays exact.
	if got := h.Quantile(0.5); got != time.Duration(histMaxVal) {
		t.Fatalf("p50 = %v, want the top of the range %v", got, time.Duration(histMaxVal))
	}
}

func TestWindowDefaultsAndRotation(t *testing.T) {
	var w Window
	if w.Span() != 10*time.Second {
		t.Fatalf("default span %v, want 10s", w.Span())
	}
	var snap Histogram
	w.Snapshot(&snap)
	if snap.Count() != 0 {
		t.Fatal("empty window snapshot not empty")
	}

	w.SetSpan(4 * time.Second) // sub-windows of 1 s
	// One sample per millisecond for 10 s: lateness = 1 µs per second of age.
	for ms := range 10000 {
		now := time.Duration(ms) * time.Millisecond
		w.Record(now, time.Duration(ms/1000)*time.Microsecond)
	}
	w.Snapshot(&snap)
	// Live: seconds 6, 7, 8 and the current 9.
	if snap.Count() != 4000 {
		t.Fatalf("snapshot holds %d samples, want 4000 (4 sub-windows of 1000)", snap.Count())
	}
	if got := snap.Quantile(0); got < 6*time.Microsecond || got > 6*time.Microsecond*33/32 {
		t.Fatalf("oldest live sample %v, want 6µs (+1/32)", got)
	}
	if snap.Max() != 9*time.Microsecond {
		t.Fatalf("Max %v, want 9µs", snap.Max())
	}
	if w.Total() != 10000 {
		t.Fatalf("Total %d, want 10000", w.Total())
	}

	// A gap longer than the span leaves only the new sample.
	w.Record(30*time.Second, 7*time.Millisecond)
	w.Snapshot(&snap)
	if snap.Count() != 1 || snap.Max() != 7*time.Millisecond {
		t.Fatalf("after a gap: count %d max %v, want 1 and 7ms", snap.Count(), snap.Max())
	}

	// Half a sub-window later, and the window still holds both...
	w.Record(30*time.Second+500*time.Millisecond, time.Microsecond)
	w.Snapshot(&snap)
	if snap.Count() != 2 {
		t.Fatalf("count %d, want 2", snap.Count())
	}
	// ...until the first ages out (4 sub-windows on).
	w.Record(34*time.Second, time.Microsecond)
	w.Snapshot(&snap)
	if snap.Count() != 1 || snap.Max() != time.Microsecond {
		t.Fatalf("after aging out: count %d max %v", snap.Count(), snap.Max())
	}

	// A sample older than the newest sub-window counts in the newest one.
	w.Record(time.Second, 2*time.Microsecond)
	w.Snapshot(&snap)
	if snap.Count() != 2 {
		t.Fatalf("late sample: count %d, want 2", snap.Count())
	}

	w.SetSpan(0)
	w.Snapshot(&snap)
	if w.Span() != DefaultWindowSpan || snap.Count() != 0 || w.Total() != 0 {
		t.Fatalf("SetSpan(0): span %v, count %d", w.Span(), snap.Count())
	}
}

func TestHistogramWindowAllocateNothing(t *testing.T) {
	var h, snap Histogram
	var w Window
	w.SetSpan(time.Second)
	now := time.Duration(0)
	d := time.Duration(0)
	allocs := testing.AllocsPerRun(1000, func() {
		now += 3 * time.Millisecond
		d = (d*7 + 13*time.Microsecond) % time.Millisecond
		h.Record(d)
		w.Record(now, d)
		w.Snapshot(&snap)
		_ = snap.Quantile(0.99) + h.Quantile(0.5) + h.Mean() + h.Max()
		h.Add(&snap)
	})
	if allocs != 0 {
		t.Fatalf("Record/Snapshot/Quantile allocate %v times a run, want 0", allocs)
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h Histogram
	d := time.Duration(0)
	for b.Loop() {
		d = (d*7 + 13*time.Microsecond) % (10 * time.Millisecond)
		h.Record(d)
	}
}

func BenchmarkWindowRecord(b *testing.B) {
	var w Window
	now, d := time.Duration(0), time.Duration(0)
	for b.Loop() {
		now += time.Millisecond
		d = (d*7 + 13*time.Microsecond) % (10 * time.Millisecond)
		w.Record(now, d)
	}
}

func BenchmarkHistogramQuantile(b *testing.B) {
	var h Histogram
	r := rand.New(rand.NewPCG(5, 6))
	for range 100000 {
		h.Record(time.Duration(r.ExpFloat64() * 50e3))
	}
	for b.Loop() {
		_ = h.Quantile(0.99)
	}
}

func BenchmarkWindowSnapshot(b *testing.B) {
	var w Window
	var snap Histogram
	for ms := range 20000 {
		w.Record(time.Duration(ms)*time.Millisecond, time.Duration(ms%997)*time.Microsecond)
	}
	for b.Loop() {
		w.Snapshot(&snap)
	}
}
