package signals

import (
	"errors"
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
//	double    | != 0 (NaN: X) | rounded half away from zero,   | as is           | 15 significant
//	          |               | saturated; NaN: X              |                 | digits (FormatFloat)
//	string    | true/false,   | decimal, 0x hex, 0o, 0b; or a  | float syntax, or| as is
//	          | 1/0, on/off,  | number with a fraction or      | an integer as in|
//	          | yes/no; else X| exponent, rounded and saturated| the int column; |
//	          |               | as above; else X               | else X          |
//
// X means the conversion has no meaningful result: the sink keeps its
// previous value and its quality becomes BadInput. Saturation (for example
// -1 into a uint, 1e30 into an int) keeps the source's quality: the sink
// holds the nearest value it can represent.
//
// Text is trimmed of surrounding white space and may separate digits with
// underscores (1_000). A leading zero does not make a number octal ("017"
// is 17, as a person typing it means); octal needs 0o. Text whose number is
// beyond the double range ("1e400") saturates: ±Inf into a double, the
// integer limits into an int or uint.

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
			f, ok := parseFloat(v)
			if !ok {
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
			*dp = FormatFloat(v)
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
	s = decimalZeros(strings.TrimSpace(s))
	i, err := strconv.ParseInt(s, 0, 64)
	switch {
	case err == nil:
		return i, true
	case errors.Is(err, strconv.ErrRange):
		if strings.HasPrefix(s, "-") {
			return math.MinInt64, true
		}
		return math.MaxInt64, true
	}
	f, ok := parseDecimal(s)
	if !ok {
		return 0, false
	}
	return floatToInt(f)
}

func parseUint(s string) (uint64, bool) {
	s = decimalZeros(strings.TrimSpace(s))
	u, err := strconv.ParseUint(strings.TrimPrefix(s, "+"), 0, 64)
	switch {
	case err == nil:
		return u, true
	case errors.Is(err, strconv.ErrRange):
		return math.MaxUint64, true
	}
	if _, err := strconv.ParseInt(s, 0, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		return 0, true // a negative integer: saturated at 0
	}
	f, ok := parseDecimal(s)
	if !ok {
		return 0, false
	}
	return floatToUint(f)
}

// parseFloat accepts float syntax and, failing that, integer syntax with
// base prefixes, so that "0x1F" means the same to a double as to an int.
func parseFloat(s string) (float64, bool) {
	s = decimalZeros(strings.TrimSpace(s))
	if f, ok := parseDecimal(s); ok {
		return f, true
	}
	if i, err := strconv.ParseInt(s, 0, 64); err == nil {
		return float64(i), true
	}
	if u, err := strconv.ParseUint(s, 0, 64); err == nil {
		return float64(u), true
	}
	return 0, false
}

// parseDecimal is strconv.ParseFloat that saturates at ±Inf instead of
// failing when the number is beyond the double range.
func parseDecimal(s string) (float64, bool) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, false
	}
	return f, true
}

// decimalZeros drops the leading zeros of a decimal integer ("017", "-007")
// so that strconv's base-0 parsing does not read it as octal. Prefixed
// numbers (0x, 0o, 0b) and fractions ("0.5") are left alone.
func decimalZeros(s string) string {
	sign := ""
	if s != "" && (s[0] == '-' || s[0] == '+') {
		sign, s = s[:1], s[1:]
	}
	if len(s) < 2 || s[0] != '0' || !(s[1] >= '0' && s[1] <= '9' || s[1] == '_') {
		return sign + s
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c == '_') {
			return sign + s // not a plain integer ("0_1.5", "012e3"): leave it to ParseFloat
		}
	}
	t := strings.TrimLeft(s, "0")
	if t == "" {
		t = "0"
	}
	return sign + t // "0_17" becomes "_17", which no parser accepts
}

// Convert converts a value of one Scalar type to another by the table above.
// ok is false when there is no meaningful result.
func Convert[S, D Scalar](s S) (D, bool) { return convert[S, D](s) }
