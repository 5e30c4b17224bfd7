package signals

import (
	"time"
)

// Direction says on which side of a component a signal sits.
type Direction uint8

// Inputs are latched from their route before each Process; outputs are
// written by Process and read by routes.
const (
	Input Direction = iota
	Output
)

func (d Direction) String() string {
	if d == Input {
		return "input"
	}
	return "output"
}

// Info describes a signal for routing, documentation and `runtime types`.
type Info struct {
	Name string    // short name, unique within its component
	Path string    // full dotted path, App.Comp.Name
	Dir  Direction // input or output
	Kind Kind
	Unit string
	Desc string
}

// Clock is where a signal reads the time it stamps on Set: the wall time, in
// Unix nanoseconds, of the tick its owner is processing (Now), and the
// tick's place on the monotonic timeline (Mono, ns since start), which alarm
// delays and ages are measured on. The runtime updates it before each
// Process; tests may set it directly.
type Clock struct {
	Now  int64
	Mono int64
}

// Time returns the clock's reading as a time.Time.
func (c *Clock) Time() time.Time { return time.Unix(0, c.Now) }

// Signal is a typed value with the time it was produced and its quality.
// A Signal belongs to one rate group: only that group's goroutine reads or
// writes it, so it needs no locks; routes across groups go through a
// published copy (see Link).
type Signal[T Scalar] struct {
	v     T
	stamp int64  // Unix ns when the value was produced
	seq   uint64 // incremented on every write, so routes skip unchanged sources
	q     Quality
	fresh bool // inputs: the last latch brought a new write
	info  *Info
	clock *Clock
}

// New returns a signal with quality Initial. clock supplies the time Set
// stamps; nil means Set stamps zero time (useful only in tests).
func New[T Scalar](info Info, clock *Clock) *Signal[T] {
	info.Kind = KindOf[T]()
	return &Signal[T]{q: Initial, info: &info, clock: clock}
}

// Get returns the current value.
func (s *Signal[T]) Get() T { return s.v }

// Quality returns the value's quality.
func (s *Signal[T]) Quality() Quality { return s.q }

// Time returns when the value was produced (zero if never).
func (s *Signal[T]) Time() time.Time {
	if s.stamp == 0 {
		return time.Time{}
	}
	return time.Unix(0, s.stamp)
}

// Stamp returns when the value was produced, in Unix nanoseconds.
func (s *Signal[T]) Stamp() int64 { return s.stamp }

// Seq counts writes; it changes whenever value, time or quality do.
func (s *Signal[T]) Seq() uint64 { return s.seq }

// Fresh reports, for an input, whether the last latch brought a write the
// component has not seen yet: the "new value" flag of PLC function blocks.
func (s *Signal[T]) Fresh() bool { return s.fresh }

// Info describes the signal.
func (s *Signal[T]) Info() *Info { return s.info }

// Kind returns the signal's kind.
func (s *Signal[T]) Kind() Kind { return s.info.Kind }

// Set writes a good value stamped with the owner's current tick time.
func (s *Signal[T]) Set(v T) { s.Put(v, Good, s.now()) }

// SetQ writes a value with the given quality, stamped now.
func (s *Signal[T]) SetQ(v T, q Quality) { s.Put(v, q, s.now()) }

// SetQuality changes only the quality, for example to Stale or CommLost,
// keeping the value and the time it was produced.
func (s *Signal[T]) SetQuality(q Quality) {
	if s.q != q {
		s.q = q
		s.seq++
	}
}

// Put writes value, quality and production time (Unix ns) at once; use it to
// pass on a value with the time its source produced it.
func (s *Signal[T]) Put(v T, q Quality, stamp int64) {
	s.v, s.q, s.stamp = v, q, stamp
	s.seq++
}

func (s *Signal[T]) now() int64 {
	if s.clock == nil {
		return 0
	}
	return s.clock.Now
}

// Value returns the current value type-erased.
func (s *Signal[T]) Value() Value { return ValueOf(s.v) }

// SetValue writes a type-erased value, converting it to T by the route
// table. If it does not convert, the previous value is kept with quality
// BadInput and SetValue returns false.
func (s *Signal[T]) SetValue(v Value, q Quality, stamp int64) bool {
	t, ok := As[T](v)
	if !ok {
		s.Put(s.v, BadInput, stamp)
		return false
	}
	s.Put(t, q, stamp)
	return true
}

// Port is a Signal of any type: what the runtime, routes and I/O components
// use where the type is known only from configuration.
type Port interface {
	Info() *Info
	Kind() Kind
	Value() Value
	Quality() Quality
	Time() time.Time
	Stamp() int64
	Seq() uint64
	Fresh() bool
	SetValue(v Value, q Quality, stamp int64) bool
	SetQuality(q Quality)
	// newLink and copyFrom keep Port implementable only by Signal, which
	// lets Connect build typed links without reflection.
	newLink(src Port, delayed bool) (Link, bool)
	shadow() Port
	copyFrom(src Port)
}

// NewPort makes a signal of a kind known only at run time.
func NewPort(k Kind, info Info, clock *Clock) Port {
	switch k {
	case Bool:
		return New[bool](info, clock)
	case Int:
		return New[int64](info, clock)
	case Uint:
		return New[uint64](info, clock)
	case Float:
		return New[float64](info, clock)
	case String:
		return New[string](info, clock)
	}
	return nil
}

var _ Port = (*Signal[float64])(nil)
