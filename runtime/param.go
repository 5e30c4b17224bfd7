package runtime

import (
	"fmt"
	"time"

	"github.com/metronome-rt/metronome/signals"
)

// ParamInfo describes a parameter for configuration and documentation.
type ParamInfo struct {
	Name     string
	Path     string
	Kind     signals.Kind
	Unit     string
	Desc     string
	Default  signals.Value
	Min, Max *float64 // numeric range, inclusive; nil = unbounded
}

// Parameter is a typed setting of a component, set from YAML or at run
// time, that seldom changes. A write outside its range is rejected, so a
// component can rely on its parameters being valid.
//
// Set is not safe for concurrent use with Process: call it before start or
// from the component's own rate group.
type Parameter[T signals.Scalar] struct {
	info    ParamInfo
	v, prev T
	changed time.Time
	seq     uint64 // counts successful Sets, so observers copy only what changed
}

// ParamOption sets a parameter's range, unit or description.
type ParamOption func(*ParamInfo)

// Range bounds a numeric parameter, inclusive on both ends.
func Range(min, max float64) ParamOption {
	return func(p *ParamInfo) { p.Min, p.Max = &min, &max }
}

// Min bounds a numeric parameter from below (inclusive).
func Min(min float64) ParamOption { return func(p *ParamInfo) { p.Min = &min } }

// Max bounds a numeric parameter from above (inclusive).
func Max(max float64) ParamOption { return func(p *ParamInfo) { p.Max = &max } }

// PUnit sets a parameter's engineering unit.
func PUnit(u string) ParamOption { return func(p *ParamInfo) { p.Unit = u } }

// PDesc sets a parameter's description, shown by `runtime types`.
func PDesc(d string) ParamOption { return func(p *ParamInfo) { p.Desc = d } }

// Param declares a parameter with its default value.
func Param[T signals.Scalar](b *Builder, name string, def T, opts ...ParamOption) *Parameter[T] {
	p := &Parameter[T]{v: def, prev: def}
	p.info = ParamInfo{Name: name, Path: b.path + "." + name, Kind: signals.KindOf[T](), Default: signals.ValueOf(def)}
	for _, o := range opts {
		o(&p.info)
	}
	if err := p.check(def); err != nil {
		b.errorf("parameter %s: default: %v", name, err)
	}
	b.addParam(name, p)
	return p
}

// Get returns the current value.
func (p *Parameter[T]) Get() T { return p.v }

// Previous returns the value before the last successful Set.
func (p *Parameter[T]) Previous() T { return p.prev }

// Changed returns when the last successful Set happened (zero if never).
func (p *Parameter[T]) Changed() time.Time { return p.changed }

// Info describes the parameter.
func (p *Parameter[T]) Info() *ParamInfo { return &p.info }

// Set changes the value if it is within range.
func (p *Parameter[T]) Set(v T) error {
	if err := p.check(v); err != nil {
		return fmt.Errorf("parameter %s: %w", p.info.Path, err)
	}
	p.prev, p.v, p.changed = p.v, v, time.Now()
	p.seq++
	return nil
}

// Seq counts successful Sets; an observer compares it to copy a parameter
// only when it changed.
func (p *Parameter[T]) Seq() uint64 { return p.seq }

// Check reports whether SetValue(v) would succeed, without setting
// anything, so a write from another goroutine is refused at once, with its
// reason, instead of at the component's next tick.
func (p *Parameter[T]) Check(v signals.Value) error {
	t, ok := signals.As[T](v)
	if !ok || !exact(v, signals.ValueOf(t)) {
		return &WriteError{Path: p.info.Path, Code: WrongType, Msg: fmt.Sprintf("cannot set %s %s to %s", p.info.Kind, p.info.Name, v)}
	}
	if err := p.check(t); err != nil {
		return &WriteError{Path: p.info.Path, Code: OutOfRange, Msg: err.Error()}
	}
	return nil
}

// Value returns the current value type-erased.
func (p *Parameter[T]) Value() signals.Value { return signals.ValueOf(p.v) }

// SetValue converts v to the parameter's type and sets it. A value that does
// not convert exactly (a string that does not parse, 2.5 for an integer
// parameter) is rejected rather than rounded.
func (p *Parameter[T]) SetValue(v signals.Value) error {
	t, ok := signals.As[T](v)
	if !ok || !exact(v, signals.ValueOf(t)) {
		return fmt.Errorf("parameter %s: cannot set %s %s to %s", p.info.Path, p.info.Kind, p.info.Name, v)
	}
	return p.Set(t)
}

// exact reports whether converting v lost nothing a user would notice.
func exact(v, t signals.Value) bool {
	if v.Kind() == t.Kind() || t.Kind() == signals.String {
		return true
	}
	fv, ok1 := v.Float()
	ft, ok2 := t.Float()
	if v.Kind() == signals.String || v.Kind() == signals.Bool {
		return ok1 && ok2 && (t.Kind() != signals.Bool || fv == 0 || fv == 1)
	}
	return ok1 && ok2 && fv == ft
}

func (p *Parameter[T]) check(v T) error {
	if p.info.Min == nil && p.info.Max == nil {
		return nil
	}
	f, ok := signals.Convert[T, float64](v)
	if !ok {
		return fmt.Errorf("%v is not a number", v)
	}
	if p.info.Min != nil && f < *p.info.Min {
		return fmt.Errorf("%v is below the minimum %v", v, *p.info.Min)
	}
	if p.info.Max != nil && f > *p.info.Max {
		return fmt.Errorf("%v is above the maximum %v", v, *p.info.Max)
	}
	return nil
}

// AnyParam is a Parameter of any type, for the loader and tools.
type AnyParam interface {
	Info() *ParamInfo
	Value() signals.Value
	SetValue(v signals.Value) error
	Check(v signals.Value) error
	Seq() uint64
	Changed() time.Time
}
