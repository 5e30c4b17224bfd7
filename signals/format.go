package signals

import "strconv"

// FloatDigits is how many significant digits a double is written with when
// it becomes text (a string route, an MQTT payload, a log line). Arithmetic
// leaves noise in the 16th and 17th digits (0.1*3 is 0.30000000000000004,
// 9.45*4 is 37.800000000000004); 15 digits is the most every double holds
// exactly, so the noise goes and every value a person or a sensor wrote
// comes out as written.
const FloatDigits = 15

// AppendFloat appends f as text with at most FloatDigits significant digits,
// in the shortest form that holds them: 37.8, 0.1, 1e+21, -0.000123. NaN and
// infinities are written NaN, +Inf and -Inf. It allocates nothing when dst
// has room, so it may run on the tick.
func AppendFloat(dst []byte, f float64) []byte {
	if f > maxRounded || f < -maxRounded {
		// Rounded to 15 digits, the largest doubles would overflow to
		// infinity when read back; these few keep every digit instead.
		return strconv.AppendFloat(dst, f, 'g', -1, 64)
	}
	return strconv.AppendFloat(dst, f, 'g', FloatDigits, 64)
}

// maxRounded is the largest double whose 15-digit form stays finite.
const maxRounded = 1.79769313486231e308

// FormatFloat returns f as AppendFloat writes it.
func FormatFloat(f float64) string { return string(AppendFloat(nil, f)) }
