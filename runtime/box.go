package runtime

import "sync/atomic"

// Box hands the latest value from one producer goroutine to one consumer
// goroutine by copy, for states carried in values that must not allocate
// on either side (a remote input's samples arrive at network rate, and
// Latest would need a fresh pointer per sample). It is a triple buffer:
// the producer writes into a slot of its own and swaps it into the middle;
// the consumer swaps the middle out when it is newer than what it holds.
// Neither side ever waits or allocates; a value the consumer has not taken
// is replaced by the next and counted. Put must not be called from two
// goroutines at once, nor Take. The zero value is ready to use.
type Box[T any] struct {
	slots [3]T
	// mid is the index of the middle slot, with boxFresh set while it
	// holds a value the consumer has not taken.
	mid          atomic.Uint32
	back, front  uint32 // the producer's and the consumer's slots
	pinit, cinit bool   // back and front start as 1 and 2, the middle as 0
	overwritten  atomic.Uint64
}

const boxFresh = 4

// Put leaves v for the consumer, replacing (and counting) a value it has
// not taken yet.
func (b *Box[T]) Put(v T) {
	if !b.pinit {
		b.back, b.pinit = 1, true
	}
	i := b.back
	b.slots[i] = v
	old := b.mid.Swap(i | boxFresh)
	if old&boxFresh != 0 {
		b.overwritten.Add(1)
	}
	b.back = old &^ boxFresh
}

// Take returns the newest value put since the last Take; ok is false when
// nothing new was put. The returned pointer stays valid until the next
// Take.
func (b *Box[T]) Take() (v *T, ok bool) {
	if b.mid.Load()&boxFresh == 0 {
		return nil, false
	}
	if !b.cinit {
		b.front, b.cinit = 2, true
	}
	old := b.mid.Swap(b.front)
	b.front = old &^ boxFresh
	return &b.slots[b.front], true
}

// Overwritten counts values replaced before the consumer took them.
func (b *Box[T]) Overwritten() uint64 { return b.overwritten.Load() }
