package signals_test

import (
	"math"
	"strconv"
	"testing"

	"github.com/metronome-rt/metronome/signals"
)

// bad marks a conversion that has no meaningful result (BadInput).
type bad struct{}

// conv is one row of the conversion table: a source value and what each
// sink kind receives.
type conv struct {
	src                   signals.Value
	toBool, toInt, toUint any // bool/int64/uint64 or bad{}
	toFloat               any // float64 or bad{}
	toString              any // string or bad{}
}

var (
	maxI = int64(math.MaxInt64)
	minI = int64(math.MinInt64)
	maxU = uint64(math.MaxUint64)
)

// table covers every pair of kinds, rounding half away from zero,
// saturation at the integer ranges, NaN and string parsing.
var table = []conv{
	// bool
	{signals.BoolValue(false), false, int64(0), uint64(0), 0.0, "false"},
	{signals.BoolValue(true), true, int64(1), uint64(1), 1.0, "true"},
	// int
	{signals.IntValue(0), false, int64(0), uint64(0), 0.0, "0"},
	{signals.IntValue(-7), true, int64(-7), uint64(0), -7.0, "-7"},
	{signals.IntValue(maxI), true, maxI, uint64(maxI), 9.223372036854775807e18, "9223372036854775807"},
	{signals.IntValue(minI), true, minI, uint64(0), -9.223372036854775808e18, "-9223372036854775808"},
	{signals.IntValue(1<<53 + 1), true, int64(1<<53 + 1), uint64(1<<53 + 1), float64(1 << 53), "9007199254740993"},
	// uint
	{signals.UintValue(0), false, int64(0), uint64(0), 0.0, "0"},
	{signals.UintValue(42), true, int64(42), uint64(42), 42.0, "42"},
	{signals.UintValue(maxU), true, maxI, maxU, 1.8446744073709551615e19, "18446744073709551615"},
	{signals.UintValue(1 << 63), true, maxI, uint64(1 << 63), 9.223372036854775808e18, "9223372036854775808"},
	// double: rounding half away from zero
	{signals.FloatValue(0.5), true, int64(1), uint64(1), 0.5, "0.5"},
	{signals.FloatValue(-0.5), true, int64(-1), uint64(0), -0.5, "-0.5"},
	{signals.FloatValue(1.5), true, int64(2), uint64(2), 1.5, "1.5"},
	{signals.FloatValue(2.5), true, int64(3), uint64(3), 2.5, "2.5"},
	{signals.FloatValue(-2.5), true, int64(-3), uint64(0), -2.5, "-2.5"},
	{signals.FloatValue(2.4999999), true, int64(2), uint64(2), 2.4999999, "2.4999999"},
	{signals.FloatValue(-2.4999999), true, int64(-2), uint64(0), -2.4999999, "-2.4999999"},
	{signals.FloatValue(0.49999999999999994), true, int64(0), uint64(0), 0.49999999999999994, "0.5"},
	{signals.FloatValue(0.1), true, int64(0), uint64(0), 0.1, "0.1"},
	{signals.FloatValue(0), false, int64(0), uint64(0), 0.0, "0"},
	{signals.FloatValue(math.Copysign(0, -1)), false, int64(0), uint64(0), math.Copysign(0, -1), "-0"},
	// double: saturation
	{signals.FloatValue(1e30), true, maxI, maxU, 1e30, "1e+30"},
	{signals.FloatValue(-1e30), true, minI, uint64(0), -1e30, "-1e+30"},
	{signals.FloatValue(9.223372036854775807e18), true, maxI, uint64(1 << 63), 9.223372036854775807e18, "9.22337203685478e+18"},
	{signals.FloatValue(9.223372036854774784e18), true, int64(9223372036854774784), uint64(9223372036854774784), 9.223372036854774784e18, "9.22337203685477e+18"},
	{signals.FloatValue(-9.223372036854775808e18), true, minI, uint64(0), -9.223372036854775808e18, "-9.22337203685478e+18"},
	{signals.FloatValue(1.8446744073709551615e19), true, maxI, maxU, 1.8446744073709551615e19, "1.84467440737096e+19"},
	{signals.FloatValue(math.Inf(1)), true, maxI, maxU, math.Inf(1), "+Inf"},
	{signals.FloatValue(math.Inf(-1)), true, minI, uint64(0), math.Inf(-1), "-Inf"},
	// double: NaN has no bool or integer meaning
	{signals.FloatValue(math.NaN()), bad{}, bad{}, bad{}, math.NaN(), "NaN"},
	// string: numbers
	{signals.StringValue("42"), bad{}, int64(42), uint64(42), 42.0, "42"},
	{signals.StringValue("  -17\t\n"), bad{}, int64(-17), uint64(0), -17.0, "  -17\t\n"},
	{signals.StringValue("+5"), bad{}, int64(5), uint64(5), 5.0, "+5"},
	{signals.StringValue("0x1F"), bad{}, int64(31), uint64(31), 31.0, "0x1F"},
	{signals.StringValue("0XfF"), bad{}, int64(255), uint64(255), 255.0, "0XfF"},
	{signals.StringValue("-0x10"), bad{}, int64(-16), uint64(0), -16.0, "-0x10"},
	{signals.StringValue("0o17"), bad{}, int64(15), uint64(15), 15.0, "0o17"},
	{signals.StringValue("0b101"), bad{}, int64(5), uint64(5), 5.0, "0b101"},
	{signals.StringValue("017"), bad{}, int64(17), uint64(17), 17.0, "017"},
	{signals.StringValue("-007"), bad{}, int64(-7), uint64(0), -7.0, "-007"},
	{signals.StringValue("08"), bad{}, int64(8), uint64(8), 8.0, "08"},
	{signals.StringValue("1_000"), bad{}, int64(1000), uint64(1000), 1000.0, "1_000"},
	{signals.StringValue("0x_FF_FF"), bad{}, int64(65535), uint64(65535), 65535.0, "0x_FF_FF"},
	{signals.StringValue("1_000.5"), bad{}, int64(1001), uint64(1001), 1000.5, "1_000.5"},
	{signals.StringValue("2.5"), bad{}, int64(3), uint64(3), 2.5, "2.5"},
	{signals.StringValue("-2.5"), bad{}, int64(-3), uint64(0), -2.5, "-2.5"},
	{signals.StringValue("1e3"), bad{}, int64(1000), uint64(1000), 1000.0, "1e3"},
	{signals.StringValue("1e30"), bad{}, maxI, maxU, 1e30, "1e30"},
	{signals.StringValue("1e400"), bad{}, maxI, maxU, math.Inf(1), "1e400"},
	{signals.StringValue("-1e400"), bad{}, minI, uint64(0), math.Inf(-1), "-1e400"},
	{signals.StringValue("99999999999999999999"), bad{}, maxI, maxU, 1e20, "99999999999999999999"},
	{signals.StringValue("-99999999999999999999"), bad{}, minI, uint64(0), -1e20, "-99999999999999999999"},
	{signals.StringValue("18446744073709551615"), bad{}, maxI, maxU, 1.8446744073709551615e19, "18446744073709551615"},
	{signals.StringValue("0xFFFFFFFFFFFFFFFFFF"), bad{}, maxI, maxU, bad{}, "0xFFFFFFFFFFFFFFFFFF"},
	{signals.StringValue("1"), true, int64(1), uint64(1), 1.0, "1"},
	{signals.StringValue("0"), false, int64(0), uint64(0), 0.0, "0"},
	{signals.StringValue("NaN"), bad{}, bad{}, bad{}, math.NaN(), "NaN"},
	{signals.StringValue("inf"), bad{}, maxI, maxU, math.Inf(1), "inf"},
	// string: booleans
	{signals.StringValue("true"), true, bad{}, bad{}, bad{}, "true"},
	{signals.StringValue(" FALSE "), false, bad{}, bad{}, bad{}, " FALSE "},
	{signals.StringValue("On"), true, bad{}, bad{}, bad{}, "On"},
	{signals.StringValue("off"), false, bad{}, bad{}, bad{}, "off"},
	{signals.StringValue("yes"), true, bad{}, bad{}, bad{}, "yes"},
	{signals.StringValue("No"), false, bad{}, bad{}, bad{}, "No"},
	// string: failures
	{signals.StringValue(""), bad{}, bad{}, bad{}, bad{}, ""},
	{signals.StringValue("   "), bad{}, bad{}, bad{}, bad{}, "   "},
	{signals.StringValue("abc"), bad{}, bad{}, bad{}, bad{}, "abc"},
	{signals.StringValue("12abc"), bad{}, bad{}, bad{}, bad{}, "12abc"},
	{signals.StringValue("1.2.3"), bad{}, bad{}, bad{}, bad{}, "1.2.3"},
	{signals.StringValue("0x"), bad{}, bad{}, bad{}, bad{}, "0x"},
	{signals.StringValue("0xG"), bad{}, bad{}, bad{}, bad{}, "0xG"},
	{signals.StringValue("1__0"), bad{}, bad{}, bad{}, bad{}, "1__0"},
	{signals.StringValue("_1"), bad{}, bad{}, bad{}, bad{}, "_1"},
	{signals.StringValue("2"), bad{}, int64(2), uint64(2), 2.0, "2"},
	{signals.StringValue("tru"), bad{}, bad{}, bad{}, bad{}, "tru"},
	{signals.StringValue("1 000"), bad{}, bad{}, bad{}, bad{}, "1 000"},
	{signals.StringValue("0,5"), bad{}, bad{}, bad{}, bad{}, "0,5"},
}

func check[T signals.Scalar](t *testing.T, src signals.Value, want any) {
	t.Helper()
	got, ok := signals.As[T](src)
	if _, isBad := want.(bad); isBad {
		if ok {
			t.Errorf("%s -> %s = %v, want no result (BadInput)", src, signals.KindOf[T](), got)
		}
		return
	}
	w := want.(T)
	if !ok {
		t.Errorf("%s -> %s: no result, want %v", src, signals.KindOf[T](), w)
		return
	}
	if !same(any(got), any(w)) {
		t.Errorf("%s -> %s = %#v, want %#v", src, signals.KindOf[T](), got, w)
	}
}

// same compares like ==, except that NaN equals NaN and -0 differs from 0.
func same(a, b any) bool {
	if fa, ok := a.(float64); ok {
		fb := b.(float64)
		if math.IsNaN(fa) || math.IsNaN(fb) {
			return math.IsNaN(fa) && math.IsNaN(fb)
		}
		return fa == fb && math.Signbit(fa) == math.Signbit(fb)
	}
	return a == b
}

func TestConversionTable(t *testing.T) {
	seen := map[signals.Kind]bool{}
	for _, c := range table {
		seen[c.src.Kind()] = true
		check[bool](t, c.src, c.toBool)
		check[int64](t, c.src, c.toInt)
		check[uint64](t, c.src, c.toUint)
		check[float64](t, c.src, c.toFloat)
		check[string](t, c.src, c.toString)
	}
	for _, k := range []signals.Kind{signals.Bool, signals.Int, signals.Uint, signals.Float, signals.String} {
		if !seen[k] {
			t.Errorf("the table has no %s source", k)
		}
	}
}

// TestConvertMatchesAs checks that the typed Convert used by links and the
// type-erased As used for Values follow the same table.
func TestConvertMatchesAs(t *testing.T) {
	for _, c := range table {
		switch c.src.Kind() {
		case signals.Bool:
			b, _ := c.src.Bool()
			convertAll(t, b, c.src)
		case signals.Int:
			i, _ := c.src.Int()
			convertAll(t, i, c.src)
		case signals.Uint:
			u, _ := c.src.Uint()
			convertAll(t, u, c.src)
		case signals.Float:
			f, _ := c.src.Float()
			convertAll(t, f, c.src)
		case signals.String:
			convertAll(t, c.src.Text(), c.src)
		}
	}
}

func convertAll[S signals.Scalar](t *testing.T, s S, v signals.Value) {
	t.Helper()
	pair[S, bool](t, s, v)
	pair[S, int64](t, s, v)
	pair[S, uint64](t, s, v)
	pair[S, float64](t, s, v)
	pair[S, string](t, s, v)
}

func pair[S, D signals.Scalar](t *testing.T, s S, v signals.Value) {
	t.Helper()
	d1, ok1 := signals.Convert[S, D](s)
	d2, ok2 := signals.As[D](v)
	if ok1 != ok2 || (ok1 && !same(any(d1), any(d2))) {
		t.Errorf("%v -> %s: Convert gives %v %v, As gives %v %v", v, signals.KindOf[D](), d1, ok1, d2, ok2)
	}
}

func TestZeroValueConvertsToNothing(t *testing.T) {
	var v signals.Value
	if v.Kind() != signals.Invalid || v.String() != "<none>" {
		t.Errorf("zero Value: kind %v, String %q", v.Kind(), v.String())
	}
	if _, ok := v.Float(); ok {
		t.Error("the zero Value converted to a double")
	}
	if _, ok := signals.As[string](v); ok {
		t.Error("the zero Value converted to a string")
	}
}

func TestParseValue(t *testing.T) {
	for _, c := range []struct {
		kind signals.Kind
		text string
		want signals.Value
	}{
		{signals.Bool, "on", signals.BoolValue(true)},
		{signals.Bool, "0", signals.BoolValue(false)},
		{signals.Int, " 0x7f ", signals.IntValue(127)},
		{signals.Int, "017", signals.IntValue(17)},
		{signals.Int, "3.5", signals.IntValue(4)},
		{signals.Uint, "1_000_000", signals.UintValue(1000000)},
		{signals.Uint, "-3", signals.UintValue(0)},
		{signals.Float, "0x10", signals.FloatValue(16)},
		{signals.Float, "-1.25e-3", signals.FloatValue(-0.00125)},
		{signals.String, "  kept as is ", signals.StringValue("  kept as is ")},
	} {
		got, err := signals.ParseValue(c.kind, c.text)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("ParseValue(%s, %q) = %v, %v; want %v", c.kind, c.text, got, err, c.want)
		}
	}
	for _, c := range []struct {
		kind signals.Kind
		text string
		msg  string
	}{
		{signals.Bool, "2", `cannot parse "2" as bool`},
		{signals.Int, "ten", `cannot parse "ten" as int`},
		{signals.Uint, "", `cannot parse "" as uint`},
		{signals.Float, "1,5", `cannot parse "1,5" as double`},
		{signals.Invalid, "1", `cannot parse into invalid`},
	} {
		got, err := signals.ParseValue(c.kind, c.text)
		if err == nil || err.Error() != c.msg {
			t.Errorf("ParseValue(%s, %q) = %v, %v; want error %q", c.kind, c.text, got, err, c.msg)
		}
		if got.Kind() != signals.Invalid {
			t.Errorf("ParseValue(%s, %q) failed but returned %v", c.kind, c.text, got)
		}
	}
}

func TestValueFormatting(t *testing.T) {
	for _, c := range []struct {
		v          signals.Value
		text, repr string
	}{
		{signals.BoolValue(true), "true", "true"},
		{signals.IntValue(-3), "-3", "-3"},
		{signals.UintValue(3), "3", "3"},
		{signals.FloatValue(0.1), "0.1", "0.1"},
		{signals.FloatValue(1e21), "1e+21", "1e+21"},
		{signals.StringValue(`say "hi"`), `say "hi"`, strconv.Quote(`say "hi"`)},
	} {
		if c.v.Text() != c.text || c.v.String() != c.repr {
			t.Errorf("%#v: Text %q String %q, want %q %q", c.v, c.v.Text(), c.v.String(), c.text, c.repr)
		}
	}
	if !signals.IntValue(1).Equal(signals.IntValue(1)) || signals.IntValue(1).Equal(signals.UintValue(1)) || signals.FloatValue(1).Equal(signals.IntValue(1)) {
		t.Error("Equal compares kind and value")
	}
}

func TestKinds(t *testing.T) {
	for name, want := range map[string]signals.Kind{
		"double": signals.Float, "FLOAT": signals.Float, " real ": signals.Float,
		"int": signals.Int, "short": signals.Int, "char": signals.Int, "int8": signals.Int,
		"uint": signals.Uint, "uchar": signals.Uint, "byte": signals.Uint,
		"bool": signals.Bool, "boolean": signals.Bool, "string": signals.String, "text": signals.String,
	} {
		if got, err := signals.ParseKind(name); err != nil || got != want {
			t.Errorf("ParseKind(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
	if _, err := signals.ParseKind("complex"); err == nil {
		t.Error("ParseKind accepted complex")
	}
	if signals.KindOf[float64]() != signals.Float || signals.KindOf[string]() != signals.String || signals.Float.String() != "double" {
		t.Error("KindOf / Kind.String disagree with the YAML names")
	}
	if signals.Worst(signals.Good, signals.Stale) != signals.Stale || signals.Worst(signals.BadInput, signals.Initial) != signals.BadInput {
		t.Error("Worst does not pick the worse quality")
	}
}
