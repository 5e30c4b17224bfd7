package signals

import (
	"fmt"
	"math"
	"strconv"
)

// Value is a type-erased scalar: the form a value takes where its kind is
// known only at run time (YAML parameters, MQTT payloads, `runtime` output).
// Copying a Value never allocates.
type Value struct {
	kind Kind
	bits uint64 // bool (0/1), int64, uint64 or float64 bits
	str  string
}

// BoolValue, IntValue, UintValue, FloatValue and StringValue wrap a Go value.
func BoolValue(b bool) Value {
	if b {
		return Value{kind: Bool, bits: 1}
	}
	return Value{kind: Bool}
}

// IntValue wraps an int64.
func IntValue(i int64) Value { return Value{kind: Int, bits: uint64(i)} }

// UintValue wraps a uint64.
func UintValue(u uint64) Value { return Value{kind: Uint, bits: u} }

// FloatValue wraps a float64.
func FloatValue(f float64) Value { return Value{kind: Float, bits: math.Float64bits(f)} }

// StringValue wraps a string.
func StringValue(s string) Value { return Value{kind: String, str: s} }

// ValueOf wraps any Scalar.
func ValueOf[T Scalar](x T) Value {
	switch v := any(x).(type) {
	case bool:
		return BoolValue(v)
	case int64:
		return IntValue(v)
	case uint64:
		return UintValue(v)
	case float64:
		return FloatValue(v)
	case string:
		return StringValue(v)
	}
	return Value{}
}

// Kind returns the kind of the wrapped value; Invalid for the zero Value.
func (v Value) Kind() Kind { return v.kind }

// Bool returns the value converted to bool by the route conversion table.
func (v Value) Bool() (bool, bool) { return As[bool](v) }

// Int returns the value converted to int64 by the route conversion table.
func (v Value) Int() (int64, bool) { return As[int64](v) }

// Uint returns the value converted to uint64 by the route conversion table.
func (v Value) Uint() (uint64, bool) { return As[uint64](v) }

// Float returns the value converted to float64 by the route conversion table.
func (v Value) Float() (float64, bool) { return As[float64](v) }

// Text returns the value as text, formatted as a string sink would receive it.
func (v Value) Text() string {
	s, _ := As[string](v)
	return s
}

// String formats the value for logs and error messages.
func (v Value) String() string {
	switch v.kind {
	case String:
		return strconv.Quote(v.str)
	case Invalid:
		return "<none>"
	}
	return v.Text()
}

// Equal reports whether two values have the same kind and the same value.
func (v Value) Equal(w Value) bool { return v.kind == w.kind && v.bits == w.bits && v.str == w.str }

// As converts a Value to T by the route conversion table. ok is false when
// the conversion has no meaningful result (a string that does not parse, a
// NaN into an integer); the result is then T's zero value.
func As[T Scalar](v Value) (T, bool) {
	var out T
	var ok bool
	switch v.kind {
	case Bool:
		out, ok = convert[bool, T](v.bits != 0)
	case Int:
		out, ok = convert[int64, T](int64(v.bits))
	case Uint:
		out, ok = convert[uint64, T](v.bits)
	case Float:
		out, ok = convert[float64, T](math.Float64frombits(v.bits))
	case String:
		out, ok = convert[string, T](v.str)
	}
	return out, ok
}

// ParseValue parses text into a value of kind k, as a string-to-k route would.
func ParseValue(k Kind, text string) (Value, error) {
	var v Value
	var ok bool
	switch k {
	case Bool:
		var b bool
		b, ok = convert[string, bool](text)
		v = BoolValue(b)
	case Int:
		var i int64
		i, ok = convert[string, int64](text)
		v = IntValue(i)
	case Uint:
		var u uint64
		u, ok = convert[string, uint64](text)
		v = UintValue(u)
	case Float:
		var f float64
		f, ok = convert[string, float64](text)
		v = FloatValue(f)
	case String:
		return StringValue(text), nil
	default:
		return Value{}, fmt.Errorf("cannot parse into %s", k)
	}
	if !ok {
		return Value{}, fmt.Errorf("cannot parse %q as %s", text, k)
	}
	return v, nil
}
