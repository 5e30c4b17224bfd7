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
	for i := 1; i <= 3; i++ {
		v := i
		m.Put(&v)
	}
	if v, ok := m.Take(); !ok || *v != 3 {
		t.Fatalf("Take = %v, %v; want 3", v, ok)
	}
	if m.Overwritten() != 2 {
		t.Fatalf("overwritten %d, want 2", m.Overwritten())
	}
	if _, ok := m.Take(); ok {
		t.Fatal("a value was taken twice")
	}
}

func TestLatestConcurrentPutAndTakeCountsEveryValue(t *testing.T) {
	var m Latest[int]
	const n = 100000
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; i <= n; i++ {
			v := i
			m.Put(&v)
		}
	}()
	taken, last := 0, 0
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
		}
		if v, ok := m.Take(); ok {
			if *v <= last {
				t.Fatalf("took %d after %d", *v, last)
			}
			last = *v
			taken++
		}
	}
	if uint64(taken)+m.Overwritten() != n {
		t.Fatalf("taken %d + overwritten %d != %d put", taken, m.Overwritten(), n)
	}
}

func TestQueueOrderAndDrops(t *testing.T) {
	q := NewQueue[int](3)
	for i := 1; i <= 5; i++ {
		q.Put(i)
	}
	var got []int
	q.Drain(func(v *int) { got = append(got, *v) })
	if len(got) != 3 || got[0] != 1 || got[2] != 3 || q.Dropped() != 2 || q.Offered() != 5 {
		t.Fatalf("got %v dropped %d offered %d", got, q.Dropped(), q.Offered())
	}
	if q.Len() != 0 || !q.Put(6) || q.Len() != 1 {
		t.Fatalf("after draining: len %d", q.Len())
	}
}

func TestQueueReusesSlots(t *testing.T) {
	type msg struct{ buf []byte }
	q := NewQueue[msg](2)
	for round := 0; round < 3; round++ {
		s, ok := q.Reserve()
		if !ok {
			t.Fatal("Reserve on an empty queue failed")
		}
		s.buf = append(s.buf[:0], "abc"...)
		q.Commit()
		q.Drain(func(m *msg) {
			if string(m.buf) != "abc" {
				t.Fatalf("slot holds %q", m.buf)
			}
		})
	}
	if n := testing.AllocsPerRun(100, func() {
		s, _ := q.Reserve()
		s.buf = append(s.buf[:0], "abc"...)
		q.Commit()
		q.Drain(func(*msg) {})
	}); n != 0 {
		t.Fatalf("%v allocations per message once warmed up, want 0", n)
	}
}

func TestQueueConcurrentPutAndDrainLosesNothingUncounted(t *testing.T) {
	q := NewQueue[int](64)
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
	check := func(v *int) {
		if *v <= last {
			t.Errorf("out of order: %d after %d", *v, last)
		}
		last = *v
		received++
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for {
		q.Drain(check)
		select {
		case <-done:
			q.Drain(check)
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
	v := 1.0
	q := NewQueue[float64](16)
	f := func(*float64) {}
	if n := testing.AllocsPerRun(100, func() {
		m.Put(&v)
		m.Take()
		q.Put(1)
		q.Drain(f)
	}); n != 0 {
		t.Fatalf("%v allocations, want 0", n)
	}
}
