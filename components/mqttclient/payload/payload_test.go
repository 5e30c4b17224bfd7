package payload

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/metronome-rt/metronome/signals"
)

func mustCodec(t testing.TB, s Spec) *Codec {
	t.Helper()
	c, err := New(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func onOff(t testing.TB) []MapEntry {
	m, err := MapFrom(signals.Bool, map[string]string{"true": "ON", "false": "OFF"})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRoundTripEveryFormatAndKind(t *testing.T) {
	vals := []signals.Value{
		signals.BoolValue(true), signals.IntValue(-42), signals.UintValue(math.MaxUint64),
		signals.FloatValue(21.5), signals.StringValue("a \"quoted\"\nline ü"),
	}
	for _, v := range vals {
		for _, f := range []Format{Text, JSON} {
			c := mustCodec(t, Spec{Format: f, Fields: []Field{{Name: "X", Kind: v.Kind()}}})
			p := c.Encode(nil, []signals.Value{v}, Meta{})
			out := make([]signals.Value, 1)
			if _, err := c.Decode(p, out, nil); err != nil {
				t.Fatalf("%s %s: decode %q: %v", f, v.Kind(), p, err)
			}
			if !out[0].Equal(v) {
				t.Errorf("%s %s: %q decoded to %s, want %s", f, v.Kind(), p, out[0], v)
			}
		}
	}
}

func TestEncodeForms(t *testing.T) {
	now := int64(1_700_000_000_123_000_000)
	cases := []struct {
		name string
		spec Spec
		vals []signals.Value
		want string
	}{
		{"text float", Spec{Fields: []Field{{Name: "T", Kind: signals.Float}}}, []signals.Value{signals.FloatValue(0.1)}, "0.1"},
		{"text map", Spec{Fields: []Field{{Name: "R", Kind: signals.Bool, Map: onOff(t)}}}, []signals.Value{signals.BoolValue(true)}, "ON"},
		{"json nan", Spec{Format: JSON, Fields: []Field{{Name: "T", Kind: signals.Float}}}, []signals.Value{signals.FloatValue(math.NaN())}, "null"},
		{"json object", Spec{Format: JSON, Fields: []Field{{Name: "T", Kind: signals.Float}, {Name: "On", Kind: signals.Bool, Key: "state", Map: onOff(t)}}},
			[]signals.Value{signals.FloatValue(2), signals.BoolValue(false)}, `{"T":2,"state":"OFF"}`},
		{"json template", Spec{Format: JSON, Template: `{"v": {{value}}, "ts": {{ time }}}`, Fields: []Field{{Name: "T", Kind: signals.String}}},
			[]signals.Value{signals.StringValue("x")}, `{"v": "x", "ts": 1700000000123}`},
		{"csv", Spec{Format: CSV, Separator: ";", Fields: []Field{{Name: "A", Kind: signals.Int}, {Name: "B", Kind: signals.Float, Column: 1}}},
			[]signals.Value{signals.IntValue(3), signals.FloatValue(1.5)}, "3;1.5"},
	}
	for _, c := range cases {
		cd := mustCodec(t, c.spec)
		if got := string(cd.Encode(nil, c.vals, Meta{Now: now, Time: now})); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

func TestDecodeForms(t *testing.T) {
	multi := mustCodec(t, Spec{Format: JSON, Fields: []Field{
		{Name: "Temp", Kind: signals.Float, Key: "sensor.temp"},
		{Name: "Relay", Kind: signals.Bool, Key: "POWER", Map: onOff(t)},
		{Name: "First", Kind: signals.Int, Key: "list.0"},
	}})
	out := make([]signals.Value, 3)
	if _, err := multi.Decode([]byte(`{"sensor":{"temp":21.25},"POWER":"on","list":[7,8]}`), out, nil); err != nil {
		t.Fatal(err)
	}
	if f, _ := out[0].Float(); f != 21.25 {
		t.Errorf("temp = %v", out[0])
	}
	if b, _ := out[1].Bool(); !b || out[1].Kind() != signals.Bool {
		t.Errorf("relay = %v", out[1])
	}
	if i, _ := out[2].Int(); i != 7 {
		t.Errorf("first = %v", out[2])
	}
	// One bad field spoils only itself.
	_, err := multi.Decode([]byte(`{"sensor":{"temp":"hot"},"POWER":"OFF","list":[1]}`), out, nil)
	if err == nil || out[0].Kind() != signals.Invalid || out[1].Kind() != signals.Bool || out[2].Kind() != signals.Int {
		t.Errorf("partial decode: err %v, out %v", err, out)
	}

	csv := mustCodec(t, Spec{Format: CSV, Fields: []Field{{Name: "B", Kind: signals.Float, Column: 2}, {Name: "A", Kind: signals.String, Column: 0}}})
	out = out[:2]
	if _, err := csv.Decode([]byte("x, 9 ,3.5\n"), out, nil); err != nil {
		t.Fatal(err)
	}
	if f, _ := out[0].Float(); f != 3.5 || out[1].Text() != "x" {
		t.Errorf("csv = %v", out)
	}
	if _, err := csv.Decode([]byte("only"), out, nil); err == nil {
		t.Error("missing column decoded")
	}

	bad := []struct {
		spec    Spec
		payload string
	}{
		{Spec{Fields: []Field{{Name: "X", Kind: signals.Float}}}, "abc"},
		{Spec{Format: JSON, Fields: []Field{{Name: "X", Kind: signals.Float}}}, "{"},
		{Spec{Format: JSON, Fields: []Field{{Name: "X", Kind: signals.Float}}}, "1 2"},
		{Spec{Format: JSON, Fields: []Field{{Name: "X", Kind: signals.Float}}}, "null"},
		{Spec{Format: JSON, Fields: []Field{{Name: "X", Kind: signals.Int, Key: "a"}}}, "[1]"},
		{Spec{Format: JSON, Fields: []Field{{Name: "X", Kind: signals.String}}}, string(make([]byte, 0)) + "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]"},
	}
	for _, b := range bad {
		c := mustCodec(t, b.spec)
		o := make([]signals.Value, 1)
		if _, err := c.Decode([]byte(b.payload), o, nil); err == nil {
			t.Errorf("%s %q decoded to %v", b.spec.Format, b.payload, o[0])
		}
	}
}

func TestSpecErrors(t *testing.T) {
	bad := []Spec{
		{},
		{Fields: []Field{{Name: "A", Kind: signals.Int}, {Name: "B", Kind: signals.Int}}},
		{Format: JSON, Template: "{{nope}}", Fields: []Field{{Name: "A", Kind: signals.Int}}},
		{Format: JSON, Template: "{{value", Fields: []Field{{Name: "A", Kind: signals.Int}}},
		{Template: "{{value}}", Fields: []Field{{Name: "A", Kind: signals.Int}}},
		{Format: CSV, Separator: ";;", Fields: []Field{{Name: "A", Kind: signals.Int}}},
		{Format: JSON, Fields: []Field{{Name: "A", Kind: signals.Int, Key: "a..b"}}},
	}
	for i, s := range bad {
		if _, err := New(s); err == nil {
			t.Errorf("spec %d accepted", i)
		}
	}
	if _, err := MapFrom(signals.Bool, map[string]string{"maybe": "X"}); err == nil {
		t.Error("bad value map key accepted")
	}
}

func TestEncodeAllocatesNothing(t *testing.T) {
	c := mustCodec(t, Spec{Format: JSON, Fields: []Field{{Name: "T", Kind: signals.Float}, {Name: "S", Kind: signals.String}, {Name: "On", Kind: signals.Bool, Map: onOff(t)}}})
	vals := []signals.Value{signals.FloatValue(1.25), signals.StringValue("abc"), signals.BoolValue(true)}
	buf := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(1000, func() { buf = c.Encode(buf[:0], vals, Meta{}) }); n != 0 {
		t.Errorf("Encode allocates %v per run", n)
	}
}

// fuzzCodecs covers every decoder: text of each kind, JSON scalar, JSON path,
// multi-value JSON, CSV and value maps.
func fuzzCodecs(t testing.TB) []*Codec {
	var cs []*Codec
	for _, k := range []signals.Kind{signals.Bool, signals.Int, signals.Uint, signals.Float, signals.String} {
		cs = append(cs, mustCodec(t, Spec{Fields: []Field{{Name: "X", Kind: k}}}))
		cs = append(cs, mustCodec(t, Spec{Format: JSON, Fields: []Field{{Name: "X", Kind: k}}}))
		cs = append(cs, mustCodec(t, Spec{Format: JSON, Fields: []Field{{Name: "X", Kind: k, Key: "a.b.1"}}}))
	}
	cs = append(cs,
		mustCodec(t, Spec{Fields: []Field{{Name: "R", Kind: signals.Bool, Map: onOff(t)}}}),
		mustCodec(t, Spec{Format: JSON, Fields: []Field{{Name: "A", Kind: signals.Float}, {Name: "B", Kind: signals.Bool, Map: onOff(t)}, {Name: "C", Kind: signals.String, Key: "c.0"}}}),
		mustCodec(t, Spec{Format: CSV, Fields: []Field{{Name: "A", Kind: signals.Int}, {Name: "B", Kind: signals.Float, Column: 3}, {Name: "C", Kind: signals.Bool, Column: 1, Map: onOff(t)}}}),
		mustCodec(t, Spec{Format: JSON, QualityKey: "q", Fields: []Field{{Name: "A", Kind: signals.Float}, {Name: "B", Kind: signals.String}}}),
		mustCodec(t, Spec{Format: JSON, QualityKey: "q", Fields: []Field{{Name: "A", Kind: signals.Int}}}),
		mustCodec(t, Spec{Format: JSON, TimeKey: "t.0", QualityKey: "s.q", Fields: []Field{{Name: "A", Kind: signals.Float, Key: "v"}}}),
	)
	return cs
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{"", "1", "-1", "1.5e300", "NaN", "true", "ON", "off", `"x"`, `{"a":{"b":[0,"7"]}}`,
		`{"A":1,"B":"ON","c":["s"]}`, "1,ON,x,2.5", `{"A":null,"q":"stale"}`, `{"v":1,"t":[1700000000],"s":{"q":"good"}}`, `[[[[`, "\xff\xfe", `{"a":{"b":[null,{}]}}`, "0x10", "1_000", "  9  \n"} {
		f.Add([]byte(s))
	}
	cs := fuzzCodecs(f)
	f.Fuzz(func(t *testing.T, p []byte) {
		for _, c := range cs {
			out := make([]signals.Value, len(c.Fields()))
			m, err := c.Decode(p, out, nil)
			for i, v := range out {
				if v.Kind() != signals.Invalid && v.Kind() != c.Fields()[i].Kind {
					t.Fatalf("%s field %d decoded to kind %s, want %s", c.Format(), i, v.Kind(), c.Fields()[i].Kind)
				}
			}
			if err == nil && !dotted(c) && c.timeKey == "" {
				// Whatever decodes re-encodes to something that decodes to the same values.
				q := c.Encode(nil, out, m)
				again := make([]signals.Value, len(out))
				if _, err := c.Decode(q, again, nil); err != nil {
					t.Fatalf("%s: %q decoded, re-encoded %q does not: %v", c.Format(), p, q, err)
				}
				for i := range out {
					if !sameValue(out[i], again[i]) {
						t.Fatalf("%s: %q -> %s, re-encoded %q -> %s", c.Format(), p, out[i], q, again[i])
					}
				}
			}
		}
	})
}

// dotted reports codecs with JSON paths, which Encode writes as flat keys
// (nested objects on publish are built with a template).
func dotted(c *Codec) bool {
	for _, f := range c.Fields() {
		if strings.Contains(f.Key, ".") {
			return true
		}
	}
	return false
}

// sameValue compares values, treating NaN as equal to itself and ignoring
// the text of strings whose CSV/text form is not reversible (separators,
// surrounding space).
func sameValue(a, b signals.Value) bool {
	if a.Kind() == signals.Float && b.Kind() == signals.Float {
		x, _ := a.Float()
		y, _ := b.Float()
		// Text keeps 15 significant digits (signals.FloatDigits).
		return x == y || (math.IsNaN(x) && math.IsNaN(y)) || math.Abs(x-y) <= 5e-15*math.Max(math.Abs(x), math.Abs(y))
	}
	if a.Kind() == signals.String {
		return b.Kind() == signals.String
	}
	return a.Equal(b)
}

func FuzzEncodeJSONValid(f *testing.F) {
	f.Add("plain", 1.5)
	f.Add("\x00\"\\\xff", math.Inf(1))
	c := mustCodec(f, Spec{Format: JSON, Fields: []Field{{Name: "S", Kind: signals.String}, {Name: "F", Kind: signals.Float}}})
	f.Fuzz(func(t *testing.T, s string, x float64) {
		p := c.Encode(nil, []signals.Value{signals.StringValue(s), signals.FloatValue(x)}, Meta{})
		if !json.Valid(p) {
			t.Fatalf("invalid JSON %q", p)
		}
	})
}
