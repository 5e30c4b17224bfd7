package signals_test

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/metronome-rt/metronome/signals"
)

// FuzzParseValue checks ParseValue against the conversion table's rules on
// arbitrary text: it never panics, agrees with a string route (As), gives
// the plain decimal meaning to plain decimal text, and what it produces
// formats to text that parses back to the same value.
func FuzzParseValue(f *testing.F) {
	for _, c := range table {
		if c.src.Kind() == signals.String {
			for k := range 6 {
				f.Add(uint8(k), c.src.Text())
			}
		}
	}
	f.Add(uint8(signals.Int), "-0x8000000000000000")
	f.Add(uint8(signals.Uint), "+0b1_0")
	f.Fuzz(func(t *testing.T, kind uint8, text string) {
		k := signals.Kind(kind % 6)
		v, err := signals.ParseValue(k, text)
		if k == signals.Invalid {
			if err == nil {
				t.Fatalf("ParseValue(invalid, %q) = %v without error", text, v)
			}
			return
		}
		var ok bool
		var viaRoute signals.Value
		switch k {
		case signals.Bool:
			var b bool
			b, ok = signals.As[bool](signals.StringValue(text))
			viaRoute = signals.BoolValue(b)
		case signals.Int:
			var i int64
			i, ok = signals.As[int64](signals.StringValue(text))
			viaRoute = signals.IntValue(i)
		case signals.Uint:
			var u uint64
			u, ok = signals.As[uint64](signals.StringValue(text))
			viaRoute = signals.UintValue(u)
		case signals.Float:
			var x float64
			x, ok = signals.As[float64](signals.StringValue(text))
			viaRoute = signals.FloatValue(x)
		case signals.String:
			ok, viaRoute = true, signals.StringValue(text)
		}
		if ok != (err == nil) {
			t.Fatalf("ParseValue(%s, %q) error %v, but a string route says ok=%v", k, text, err, ok)
		}
		if err != nil {
			if v.Kind() != signals.Invalid || !strings.Contains(err.Error(), k.String()) {
				t.Fatalf("failed ParseValue(%s, %q) returned %v, error %q", k, text, v, err)
			}
			return
		}
		if v.Kind() != k || !sameValue(v, viaRoute) {
			t.Fatalf("ParseValue(%s, %q) = %v, a string route gives %v", k, text, v, viaRoute)
		}
		plain := strings.TrimSpace(text)
		switch k {
		case signals.Int:
			if want, err := strconv.ParseInt(plain, 10, 64); err == nil {
				if got, _ := v.Int(); got != want {
					t.Fatalf("ParseValue(int, %q) = %d, want the decimal %d", text, got, want)
				}
			}
		case signals.Uint:
			if want, err := strconv.ParseUint(plain, 10, 64); err == nil {
				if got, _ := v.Uint(); got != want {
					t.Fatalf("ParseValue(uint, %q) = %d, want the decimal %d", text, got, want)
				}
			}
		case signals.Float:
			if want, err := strconv.ParseFloat(plain, 64); err == nil {
				if got, _ := v.Float(); !same(got, want) {
					t.Fatalf("ParseValue(double, %q) = %v, want %v", text, got, want)
				}
			}
		}
		back, err := signals.ParseValue(k, v.Text())
		if err != nil || !closeValue(back, v) {
			t.Fatalf("ParseValue(%s, %q) = %v formats as %q, which parses to %v, %v", k, text, v, v.Text(), back, err)
		}
		if back.Text() != v.Text() {
			t.Fatalf("ParseValue(%s, %q) formats as %q, which parses and formats as %q", k, text, v.Text(), back.Text())
		}
	})
}

// FuzzAs converts arbitrary values of every kind to every kind: no panics,
// rounding within half a unit, saturation at the limits, NaN without a
// result, and lossless text round trips.
func FuzzAs(f *testing.F) {
	for _, c := range table {
		var bits uint64
		switch c.src.Kind() {
		case signals.Int:
			i, _ := c.src.Int()
			bits = uint64(i)
		case signals.Uint:
			bits, _ = c.src.Uint()
		case signals.Float:
			x, _ := c.src.Float()
			bits = math.Float64bits(x)
		case signals.Bool:
			if b, _ := c.src.Bool(); b {
				bits = 1
			}
		}
		f.Add(uint8(c.src.Kind()), bits, c.src.Text())
	}
	f.Fuzz(func(t *testing.T, kind uint8, bits uint64, text string) {
		var v signals.Value
		switch signals.Kind(kind % 6) {
		case signals.Bool:
			v = signals.BoolValue(bits&1 == 1)
		case signals.Int:
			v = signals.IntValue(int64(bits))
		case signals.Uint:
			v = signals.UintValue(bits)
		case signals.Float:
			v = signals.FloatValue(math.Float64frombits(bits))
		case signals.String:
			v = signals.StringValue(text)
		}
		b, bok := signals.As[bool](v)
		i, iok := signals.As[int64](v)
		u, uok := signals.As[uint64](v)
		x, xok := signals.As[float64](v)
		s, sok := signals.As[string](v)
		if v.Kind() == signals.Invalid {
			if bok || iok || uok || xok || sok {
				t.Fatal("the zero Value converted")
			}
			return
		}
		if !sok {
			t.Fatalf("%v has no text form", v)
		}
		if v.Kind() == signals.Float {
			fv := math.Float64frombits(bits)
			if math.IsNaN(fv) {
				if bok || iok || uok {
					t.Fatalf("NaN converted to %v %v %v", b, i, u)
				}
				return
			}
			if !bok || !iok || !uok || !xok {
				t.Fatalf("%v did not convert", fv)
			}
			checkRounded(t, fv, i, -0x1p63, 0x1p63, math.MinInt64, math.MaxInt64)
			checkRounded(t, fv, u, 0, 0x1p64, 0, math.MaxUint64)
			if x != fv {
				t.Fatalf("%v -> double = %v", fv, x)
			}
			if b != (fv != 0) {
				t.Fatalf("%v -> bool = %v", fv, b)
			}
			if back, err := strconv.ParseFloat(s, 64); err != nil || !closeFloat(back, fv) {
				t.Fatalf("%v -> %q does not parse back to within %d digits (%v, %v)", fv, s, signals.FloatDigits, back, err)
			} else if again := signals.FormatFloat(back); again != s {
				t.Fatalf("%v -> %q parses and formats as %q", fv, s, again)
			}
		}
		if v.Kind() != signals.String {
			// Text of a number or bool converts back to the same value.
			back := signals.StringValue(s)
			switch v.Kind() {
			case signals.Bool:
				if got, ok := signals.As[bool](back); !ok || got != b {
					t.Fatalf("%v -> %q -> %v %v", v, s, got, ok)
				}
			case signals.Int:
				if got, ok := signals.As[int64](back); !ok || got != i {
					t.Fatalf("%v -> %q -> %v %v", v, s, got, ok)
				}
			case signals.Uint:
				if got, ok := signals.As[uint64](back); !ok || got != u {
					t.Fatalf("%v -> %q -> %v %v", v, s, got, ok)
				}
			}
		}
	})
}

// checkRounded checks an integer conversion of f: the limit when f is
// outside [lo, hi), f itself when f is a whole number, otherwise the nearest
// whole number with halves rounded away from zero.
func checkRounded[I int64 | uint64](t *testing.T, f float64, got I, lo, hi float64, min, max I) {
	t.Helper()
	var want I
	switch {
	case f < lo:
		want = min
	case f >= hi:
		want = max
	case f == math.Trunc(f):
		want = I(f)
	default:
		r := math.Floor(f)
		if f-r >= 0.5 {
			r++
		}
		if f < 0 && r-f == 0.5 {
			r-- // -2.5 goes to -3
		}
		if r < lo {
			want = min
		} else {
			want = I(r)
		}
	}
	if got != want {
		t.Fatalf("%v -> %T = %v, want %v", f, got, got, want)
	}
}

// sameValue is Equal with NaN equal to NaN.
// closeFloat reports whether a and b agree to FloatDigits significant
// digits: text keeps that many, so a double that needs 16 or 17 loses the
// rest (its binary noise) and parses back to within half a unit of the 15th.
func closeFloat(a, b float64) bool {
	if same(a, b) || math.IsInf(a, 0) || math.IsInf(b, 0) {
		return same(a, b)
	}
	return math.Abs(a-b) <= 5e-15*math.Max(math.Abs(a), math.Abs(b))
}

// closeValue is sameValue with doubles compared by closeFloat.
func closeValue(a, b signals.Value) bool {
	if a.Kind() == signals.Float && b.Kind() == signals.Float {
		x, _ := a.Float()
		y, _ := b.Float()
		return closeFloat(x, y)
	}
	return a.Equal(b)
}

func sameValue(a, b signals.Value) bool {
	if a.Kind() == signals.Float && b.Kind() == signals.Float {
		x, _ := a.Float()
		y, _ := b.Float()
		return same(x, y)
	}
	return a.Equal(b)
}
