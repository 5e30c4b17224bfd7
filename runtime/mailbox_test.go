package runtime

import (
	"sync"
	"testing"
)

func TestLatestKeepsNewestAndCountsOverwrites(t *testing.T) {
	var m Latest[int]
	if _, ok := m.Take(); ok {
		t.Fatal("empty box gave a value")
	}
	m.Put(1)
	m.Put(2)
	m.Put(3)
	if v, ok := m.Take(); !ok || v != 3 {
		t.Fatalf("Take = %d, %v; want 3", v, ok)
	}
	if m.Overwritten() != 2 {
		t.Fatalf("overwritten %d, want 2", m.Overwritten())
	}
	if _, ok := m.Take(); ok {
		t.Fatal("a value was taken twice")
	}
}

func TestQueueOrderAndDrops(t *testing.T) {
	q := NewQueue[int](3, false)
	for i := 1; i <= 5; i++ {
		q.Put(i)
	}
	var got []int
	q.Drain(0, func(v int) { got = append(got, v) })
	if len(got) != 3 || got[0] != 1 || got[2] != 3 || q.Dropped() != 2 || q.Offered() != 5 {
		t.Fatalf("drop-newest: got %v dropped %d offered %d", got, q.Dropped(), q.Offered())
	}
	q = NewQueue[int](3, true)
	for i := 1; i <= 5; i++ {
		q.Put(i)
	}
	got = got[:0]
	q.Drain(2, func(v int) { got = append(got, v) })
	q.Drain(0, func(v int) { got = append(got, v) })
	if len(got) != 3 || got[0] != 3 || got[2] != 5 || q.Dropped() != 2 {
		t.Fatalf("drop-oldest: got %v dropped %d", got, q.Dropped())
	}
}

func TestQueueConcurrentPutAndDrainLosesNothingUncounted(t *testing.T) {
	q := NewQueue[int](64, false)
	const n = 100000
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < n; i++ {
			q.Put(i)
		}
	}()
	received, last := 0, -1
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for {
		q.Drain(0, func(v int) {
			if v <= last {
				t.Errorf("out of order: %d after %d", v, last)
			}
			last = v
			received++
		})
		select {
		case <-done:
			q.Drain(0, func(int) { received++ })
			if uint64(received)+q.Dropped() != n {
				t.Fatalf("received %d + dropped %d != %d put", received, q.Dropped(), n)
			}
			return
		default:
		}
	}
}

func TestMailboxesAllocateNothing(t *testing.T) {
	var m Latest[float64]
	q := NewQueue[float64](16, true)
	f := func(float64) {}
	if n := testing.AllocsPerRun(100, func() {
		m.Put(1)
		m.Take()
		q.Put(1)
		q.Drain(0, f)
	}); n != 0 {
		t.Fatalf("%v allocations, want 0", n)
	}
}
