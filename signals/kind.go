// Package signals holds Metronome's value types: typed signals that carry a
// value, the time it was produced and its quality, and the conversions that
// routes between different types apply.
//
// Nothing here knows about YAML, MQTT or scheduling; reading and writing a
// signal allocates nothing, so components can do it on every tick.
package signals

import (
	"fmt"
	"strings"
)

// Kind is the type of a signal's value. Routes convert between kinds by the
// table in convert.go, so a sink can be of a different kind than its source.
type Kind uint8

// The kinds a signal can have. Smaller CDP types (short, char, float, ...)
// map onto these when they are parsed.
const (
	Invalid Kind = iota
	Bool
	Int    // int64
	Uint   // uint64
	Float  // float64
	String // string
)

var kindNames = [...]string{Invalid: "invalid", Bool: "bool", Int: "int", Uint: "uint", Float: "double", String: "string"}

// String returns the name used in YAML and in `runtime types`.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// kindAliases maps every accepted YAML type name, CDP's included, to a Kind.
var kindAliases = map[string]Kind{
	"bool": Bool, "boolean": Bool,
	"int": Int, "int64": Int, "int32": Int, "int16": Int, "int8": Int,
	"short": Int, "char": Int, "long": Int,
	"uint": Uint, "uint64": Uint, "uint32": Uint, "uint16": Uint, "uint8": Uint,
	"ushort": Uint, "uchar": Uint, "ulong": Uint, "byte": Uint,
	"double": Float, "float": Float, "float64": Float, "float32": Float, "real": Float,
	"string": String, "str": String, "text": String,
}

// ParseKind maps a YAML type name (Go's or CDP's, case-insensitive) to a Kind.
func ParseKind(s string) (Kind, error) {
	if k, ok := kindAliases[strings.ToLower(strings.TrimSpace(s))]; ok {
		return k, nil
	}
	return Invalid, fmt.Errorf("unknown signal type %q (want bool, int, uint, double or string; CDP names such as float, short, uchar are accepted)", s)
}

// KindNames lists the accepted type names, for documentation.
func KindNames() []string {
	return []string{"bool", "int (int8..int64, short, char, long)", "uint (uint8..uint64, ushort, uchar, ulong, byte)", "double (float, float32, float64, real)", "string"}
}

// Scalar is the set of Go types a Signal can hold.
type Scalar interface {
	bool | int64 | uint64 | float64 | string
}

// KindOf returns the Kind of a Scalar type parameter.
func KindOf[T Scalar]() Kind {
	var z T
	switch any(z).(type) {
	case bool:
		return Bool
	case int64:
		return Int
	case uint64:
		return Uint
	case float64:
		return Float
	case string:
		return String
	}
	return Invalid
}
