package signals

import (
	"math"
	"strconv"
	"strings"
)

// The route conversion table. A route may join signals of different kinds;
// the value is converted to the sink's kind when the sink latches it.
//
//	from \ to | bool          | int / uint                     | double          | string
//	----------+---------------+--------------------------------+-----------------+-------------------
//	bool      | as is         | false 0, true 1                | 0 / 1           | "false" / "true"
//	int/uint  | != 0          | saturated at the target range  | nearest double  | decimal
//	double    | != 0 (NaN: X) | rounded half away from zero,   | as is           | shortest 'g' form
//	          |               | saturated; NaN: X              |                 |
//	string    | true/false,   | decimal, 0x hex, 0o, 0b; or a  | strconv float   | as is
//	          | 1/0, on/off,  | number with a fraction,        | syntax; X if it |
//	          | yes/no; else X| rounded as above; else X       | does not parse  |
//
// X means the conversion has no meaningful result: the sink keeps its
// previous value and its quality becomes BadInput. Saturation (for example
// -1 into a uint, 1e30 into an int) keeps the source's quality: the sink
// holds the nearest value it can represent.

func convert[S, D Scalar](s S) (D, bool) {
	var d D
	switch dp := any(&d).(type) {
	case *bool:
		switch v := any(s).(type) {
		case bool:
			*dp = v
		case int64:
			*dp = v != 0
		case uint64:
			*dp = v != 0
		case float64:
			if math.IsNaN(v) {
				return d, false
			}
			*dp = v != 0
		case string:
			b, ok := parseBool(v)
			if !ok {
				return d, false
			}
			*dp = b
		}
	case *int64:
		switch v := any(s).(type) {
		case bool:
			*dp = b2i(v)
		case int64:
			*dp = v
		case uint64:
			*dp = uintToInt(v)
		case float64:
			i, ok := floatToInt(v)
			if !ok {
				return d, false
			}
			*dp = i
		case string:
			i, ok := parseInt(v)
			if !ok {
				return d, false
			}
			*dp = i
		}
	case *uint64:
		switch v := any(s).(type) {
		case bool:
			*dp = uint64(b2i(v))
		case int64:
			*dp = intToUint(v)
		case uint64:
			*dp = v
		case float64:
			u, ok := floatToUint(v)
			if !ok {
				return d, false
			}
			*dp = u
		case string:
			u, ok := parseUint(v)
			if !ok {
				return d, false
			}
			*dp = u
		}
	case *float64:
		switch v := any(s).(type) {
		case bool:
			*dp = float64(b2i(v))
		case int64:
			*dp = float64(v)
		case uint64:
			*dp = float64(v)
		case float64:
			*dp = v
		case string:
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return d, false
			}
			*dp = f
		}
	case *string:
		switch v := any(s).(type) {
		case bool:
			*dp = strconv.FormatBool(v)
		case int64:
			*dp = strconv.FormatInt(v, 10)
		case uint64:
			*dp = strconv.FormatUint(v, 10)
		case float64:
			*dp = strconv.FormatFloat(v, 'g', -1, 64)
		case string:
			*dp = v
		}
	}
	return d, true
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func uintToInt(u uint64) int64 {
	if u > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(u)
}

func intToUint(i int64) uint64 {
	if i < 0 {
		return 0
	}
	return uint64(i)
}

// floatToInt rounds half away from zero and saturates; NaN has no result.
func floatToInt(f float64) (int64, bool) {
	if math.IsNaN(f) {
		return 0, false
	}
	r := math.Round(f)
	switch {
	case r >= math.MaxInt64: // float64(MaxInt64) rounds up to 2^63
		return math.MaxInt64, true
	case r <= math.MinInt64:
		return math.MinInt64, true
	}
	return int64(r), true
}

func floatToUint(f float64) (uint64, bool) {
	if math.IsNaN(f) {
		return 0, false
	}
	r := math.Round(f)
	switch {
	case r <= 0:
		return 0, true
	case r >= math.MaxUint64:
		return math.MaxUint64, true
	}
	return uint64(r), true
}

func parseBool(s string) (bool, bool) {
	s = strings.TrimSpace(s)
	switch {
	case s == "1" || strings.EqualFold(s, "true") || strings.EqualFold(s, "on") || strings.EqualFold(s, "yes"):
		return true, true
	case s == "0" || strings.EqualFold(s, "false") || strings.EqualFold(s, "off") || strings.EqualFold(s, "no"):
		return false, true
	}
	return false, false
}

// parseInt accepts integer syntax (with base prefixes and underscores) and,
// failing that, a decimal number, rounded and saturated like a double.
func parseInt(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	if i, err := strconv.ParseInt(s, 0, 64); err == nil {
		return i, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false
	}
	return floatToInt(f)
}

func parseUint(s string) (uint64, bool) {
	s = strings.TrimSpace(s)
	if u, err := strconv.ParseUint(s, 0, 64); err == nil {
		return u, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false
	}
	return floatToUint(f)
}

// Convert converts a value of one Scalar type to another by the table above.
// ok is false when there is no meaningful result.
func Convert[S, D Scalar](s S) (D, bool) { return convert[S, D](s) }
