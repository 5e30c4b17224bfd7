package payload

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/metronome-rt/metronome/signals"
)

const stamp = int64(1_700_000_000_123_000_000) // Unix ns, a whole millisecond

func TestTemplatePlaceholdersForQualityAndTime(t *testing.T) {
	c := mustCodec(t, Spec{Format: JSON, Template: `{"v": {{value}}, "q": {{quality}}, "t": {{time}}, "sent": {{now}}}`,
		Fields: []Field{{Name: "T", Kind: signals.Float}}})
	if !c.CarriesQuality() || !c.CarriesTime() {
		t.Fatal("template with {{quality}} and {{time}} does not carry them")
	}
	m := Meta{Quality: signals.LastKnown, Time: stamp, Now: stamp + 5e9}
	got := string(c.Encode(nil, []signals.Value{signals.FloatValue(21.5)}, m))
	if want := `{"v": 21.5, "q": "last known", "t": 1700000000123, "sent": 1700000005123}`; got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
	// A value that is not usable goes out as null with its quality, never as a number.
	m.Quality = signals.CommLost
	got = string(c.Encode(nil, []signals.Value{{}}, m))
	if want := `{"v": null, "q": "comm lost", "t": 1700000000123, "sent": 1700000005123}`; got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
	plain := mustCodec(t, Spec{Format: JSON, Template: `{"v": {{value}}}`, Fields: []Field{{Name: "T", Kind: signals.Float}}})
	if plain.CarriesQuality() || plain.CarriesTime() {
		t.Error("a template without placeholders for them carries quality or time")
	}
}

// TestTasmotaLocalTime writes the time as Tasmota does ({{time.local}}: a
// string of local time without an offset) and reads it back with a time
// key, to the second; {{now.local}} writes the publication time so.
func TestTasmotaLocalTime(t *testing.T) {
	enc := mustCodec(t, Spec{Format: JSON, Template: `{"Time":{{time.local}},"Sent":{{now.local}},"AM2301":{"Temperature":{{value}}}}`,
		Fields: []Field{{Name: "T", Kind: signals.Float}}})
	if !enc.CarriesTime() {
		t.Error("a template with {{time.local}} does not carry the time")
	}
	m := Meta{Quality: signals.Good, Time: stamp, Now: stamp + 5e9}
	got := string(enc.Encode(nil, []signals.Value{signals.FloatValue(24.1)}, m))
	local := func(ns int64) string { return time.Unix(0, ns).Local().Format("2006-01-02T15:04:05") }
	want := `{"Time":"` + local(stamp) + `","Sent":"` + local(stamp+5e9) + `","AM2301":{"Temperature":24.1}}`
	if got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
	dec := mustCodec(t, Spec{Format: JSON, TimeKey: "Time", Fields: []Field{{Name: "T", Kind: signals.Float, Key: "AM2301.Temperature"}}})
	out := make([]signals.Value, 1)
	back, err := dec.Decode([]byte(got), out, nil)
	if err != nil {
		t.Fatal(err)
	}
	if wantNs := stamp / 1e9 * 1e9; back.Time != wantNs || !out[0].Equal(signals.FloatValue(24.1)) {
		t.Errorf("decoded %v at %v, want 24.1 at %v", out[0], time.Unix(0, back.Time), time.Unix(0, wantNs))
	}
}

// TestTimeAndQualityKeysRoundTrip encodes the object form with a time and
// a quality key and decodes it with the same keys: value, time (to the
// millisecond) and quality come back, for one value and for several.
func TestTimeAndQualityKeysRoundTrip(t *testing.T) {
	specs := []Spec{
		{Format: JSON, TimeKey: "ts", QualityKey: "q", Fields: []Field{{Name: "T", Kind: signals.Float}}},
		{Format: JSON, TimeKey: "ts", QualityKey: "q", Fields: []Field{{Name: "T", Kind: signals.Float, Key: "temp"}}},
		{Format: JSON, TimeKey: "ts", QualityKey: "q", Fields: []Field{{Name: "A", Kind: signals.Int}, {Name: "B", Kind: signals.Bool, Map: onOff(t)}}},
	}
	wants := []string{
		`{"value":21.5,"ts":1700000000123,"q":"stale"}`,
		`{"temp":21.5,"ts":1700000000123,"q":"stale"}`,
		`{"A":7,"B":"ON","ts":1700000000123,"q":"stale"}`,
	}
	for n, sp := range specs {
		c := mustCodec(t, sp)
		vals := []signals.Value{signals.FloatValue(21.5)}
		if len(sp.Fields) == 2 {
			vals = []signals.Value{signals.IntValue(7), signals.BoolValue(true)}
		}
		for _, q := range signals.Qualities() {
			p := c.Encode(nil, vals, Meta{Quality: q, Time: stamp})
			if q == signals.Stale && string(p) != wants[n] {
				t.Errorf("spec %d: %s, want %s", n, p, wants[n])
			}
			out := make([]signals.Value, len(vals))
			bad := make([]bool, len(vals))
			m, err := c.Decode(p, out, bad)
			if err != nil || m.Quality != q || m.Time != stamp {
				t.Fatalf("spec %d, %v: %s decoded to %v %v, %v", n, q, p, m.Quality, m.Time, err)
			}
			for i := range vals {
				if !out[i].Equal(vals[i]) || bad[i] {
					t.Errorf("spec %d, %v: value %d = %v (bad %v), want %v", n, q, i, out[i], bad[i], vals[i])
				}
			}
			// Not usable: null and the quality; decoding keeps no value and flags nothing bad.
			if !q.Usable() {
				nulls := make([]signals.Value, len(vals))
				p = c.Encode(nil, nulls, Meta{Quality: q, Time: stamp})
				if strings.ContainsAny(string(p), "0123456789") && !strings.Contains(string(p), "1700000000123") {
					t.Errorf("a %v value is written with a number: %s", q, p)
				}
				m, err := c.Decode(p, out, bad)
				if err != nil || m.Quality != q {
					t.Fatalf("spec %d: %s: %v, %v", n, p, m.Quality, err)
				}
				for i := range out {
					if out[i].Kind() != signals.Invalid || bad[i] {
						t.Errorf("spec %d: %s: value %d = %v, bad %v; want none and not bad", n, p, i, out[i], bad[i])
					}
				}
			}
		}
	}
}

func TestDecodeSourceTimeStamps(t *testing.T) {
	c := mustCodec(t, Spec{Format: JSON, TimeKey: "meta.at", Fields: []Field{{Name: "T", Kind: signals.Float, Key: "v"}}})
	local := time.Date(2024, 5, 1, 12, 0, 0, 0, time.Local).UnixNano()
	for payload, want := range map[string]int64{
		`{"v":1,"meta":{"at":1700000000}}`:                      1_700_000_000e9,
		`{"v":1,"meta":{"at":1700000000.5}}`:                    1_700_000_000_500_000_000,
		`{"v":1,"meta":{"at":1700000000123}}`:                   stamp,
		`{"v":1,"meta":{"at":1700000000123456}}`:                1_700_000_000_123_456_000,
		`{"v":1,"meta":{"at":1700000000123456789}}`:             1_700_000_000_123_456_789,
		`{"v":1,"meta":{"at":"2023-11-14T22:13:20.123Z"}}`:      stamp,
		`{"v":1,"meta":{"at":"2023-11-14T23:13:20.123+01:00"}}`: stamp,
		`{"v":1,"meta":{"at":"2024-05-01T12:00:00"}}`:           local,
	} {
		out := make([]signals.Value, 1)
		m, err := c.Decode([]byte(payload), out, nil)
		if err != nil || m.Time != want {
			t.Errorf("%s: time %d, %v; want %d", payload, m.Time, err, want)
		}
	}
	for _, payload := range []string{`{"v":1}`, `{"v":1,"meta":{"at":"yesterday"}}`, `{"v":1,"meta":{"at":-5}}`, `{"v":1,"meta":{"at":[1]}}`, `{"v":1,"meta":{"at":1e300}}`} {
		out := make([]signals.Value, 1)
		bad := make([]bool, 1)
		if _, err := c.Decode([]byte(payload), out, bad); err == nil || !bad[0] || out[0].Kind() != signals.Invalid {
			t.Errorf("%s: a missing or bad time decoded: %v, bad %v, %v", payload, out[0], bad[0], err)
		}
	}
}

func TestDecodeSourceQuality(t *testing.T) {
	c := mustCodec(t, Spec{Format: JSON, QualityKey: "q", Fields: []Field{{Name: "T", Kind: signals.Float, Key: "v"}}})
	cases := []struct {
		payload string
		q       signals.Quality
		bad     bool
		value   bool
	}{
		{`{"v":1,"q":"good"}`, signals.Good, false, true},
		{`{"v":1,"q":"Comm_Lost"}`, signals.CommLost, false, true},
		{`{"v":1,"q":true}`, signals.Good, false, true},
		{`{"v":1,"q":false}`, signals.BadInput, false, true},
		{`{"v":null,"q":"stale"}`, signals.Stale, false, false},
		{`{"v":null,"q":"good"}`, signals.Good, true, false}, // a good value must be there
		{`{"v":1,"q":"fine"}`, signals.BadInput, true, false},
		{`{"v":1}`, signals.Good, true, false},
	}
	for _, k := range cases {
		out := make([]signals.Value, 1)
		bad := make([]bool, 1)
		m, err := c.Decode([]byte(k.payload), out, bad)
		if (err != nil) != k.bad || bad[0] != k.bad || (out[0].Kind() != signals.Invalid) != k.value || (!k.bad && m.Quality != k.q) {
			t.Errorf("%s: quality %v, value %v, bad %v, err %v", k.payload, m.Quality, out[0], bad[0], err)
		}
	}
}

func TestNumberFormats(t *testing.T) {
	noisy := 37.800000000000004
	for format, want := range map[string]string{"": "37.8", "%.2f": "37.80", "%.0f": "38", "%f": "37.800000", "%.3g": "37.8", "%.2e": "3.78e+01", "%g": "37.8"} {
		n, err := ParseNumber(format)
		if err != nil {
			t.Fatalf("%q: %v", format, err)
		}
		for _, f := range []Format{Text, JSON} {
			c := mustCodec(t, Spec{Format: f, Fields: []Field{{Name: "T", Kind: signals.Float, Number: n}}})
			if got := string(c.Encode(nil, []signals.Value{signals.FloatValue(noisy)}, Meta{})); got != want {
				t.Errorf("%s %q: %s, want %s", f, format, got, want)
			}
		}
	}
	for format, off := range map[string]int{"2f": 0, "%d": 1, "%.f": 2, "%.123f": 2, "%.2fx": 4, "%ff": 2, "%": 0, "%5.2f": 1} {
		_, err := ParseNumber(format)
		var te *SyntaxError
		if !errors.As(err, &te) || te.Offset != off {
			t.Errorf("ParseNumber(%q): %v, want an error at offset %d", format, err, off)
		}
	}
}

// TestSyntaxErrorsSayWhatIsWrong is issue 10's multi-value message: the
// error names the values to use instead of listing {{value}} as wanted.
func TestSyntaxErrorsSayWhatIsWrong(t *testing.T) {
	multi := []Field{{Name: "MA", Kind: signals.Int}, {Name: "MB", Kind: signals.String}}
	cases := []struct {
		tmpl   string
		fields []Field
		offset int
		want   string
	}{
		{`{"t": {{value}}}`, multi, 6, "{{value}} stands for the value of a single-value topic; this topic carries 2 values, so name each one: {{MA}}, {{MB}}"},
		{`{"a": {{MA}}, "b": {{nope}}}`, multi, 19, "unknown placeholder {{nope}}: want a value's name ({{MA}}, {{MB}}), {{time}}, {{time.local}}, {{quality}}, {{now}} or {{now.local}}"},
		{`x {{ nope }}`, multi[:1], 2, "unknown placeholder {{nope}}: want {{value}}, {{time}}, {{time.local}}, {{quality}}, {{now}} or {{now.local}}"},
		{`{"a": {{value`, multi[:1], 6, "{{ is not closed by }}"},
	}
	for _, k := range cases {
		_, err := New(Spec{Format: JSON, Template: k.tmpl, Fields: k.fields})
		var te *SyntaxError
		if !errors.As(err, &te) || te.Offset != k.offset || te.Msg != "template: "+k.want {
			t.Errorf("%s: %#v\nwant offset %d %q", k.tmpl, err, k.offset, k.want)
		}
		if strings.Contains(err.Error(), "want {{value}}") && len(k.fields) > 1 {
			t.Errorf("%s: a multi-value error offers {{value}}: %v", k.tmpl, err)
		}
	}
}

// TestDecodeErrorsQuoteOnlyAPrefix is issue 8 item 7 for the client: an
// error about a 1 MB payload quotes a few dozen bytes of it.
func TestDecodeErrorsQuoteOnlyAPrefix(t *testing.T) {
	huge := strings.Repeat("x", 1<<20)
	for _, sp := range []Spec{
		{Fields: []Field{{Name: "T", Kind: signals.Float}}},
		{Format: CSV, Fields: []Field{{Name: "T", Kind: signals.Int}}},
		{Format: JSON, Fields: []Field{{Name: "T", Kind: signals.Float}}},
		{Format: JSON, Fields: []Field{{Name: "T", Kind: signals.Float, Key: "v"}}},
		{Format: JSON, QualityKey: "q", Fields: []Field{{Name: "T", Kind: signals.Float, Key: "v"}}},
		{Format: JSON, TimeKey: "t", Fields: []Field{{Name: "T", Kind: signals.Float, Key: "v"}}},
	} {
		c := mustCodec(t, sp)
		for _, p := range []string{huge, `"` + huge + `"`, `{"v":"` + huge + `","q":"` + huge + `","t":"` + huge + `"}`, `{"v":1` + huge + `}`, "1" + strings.Repeat("0", 1<<20)} {
			_, err := c.Decode([]byte(p), make([]signals.Value, 1), nil)
			if err == nil {
				continue
			}
			if len(err.Error()) > 200 {
				t.Errorf("%s: a %d-byte payload gives a %d-byte error: %.120s...", sp.Format, len(p), len(err.Error()), err)
			}
		}
	}
	if q := Quote("é" + strings.Repeat("ü", 100)); !strings.HasSuffix(q, "... (202 bytes)") || strings.Contains(q, "\\x") {
		t.Errorf("Quote cut inside a character or lost the length: %s", q)
	}
}

func TestEncodeWithMetaAllocatesNothing(t *testing.T) {
	n, _ := ParseNumber("%.2f")
	c := mustCodec(t, Spec{Format: JSON, Template: `{"v": {{value}}, "q": {{quality}}, "t": {{time}}, "l": {{time.local}}}`, Fields: []Field{{Name: "T", Kind: signals.Float, Number: n}}})
	o := mustCodec(t, Spec{Format: JSON, TimeKey: "t", QualityKey: "q", Fields: []Field{{Name: "A", Kind: signals.Float}, {Name: "B", Kind: signals.String}}})
	buf := make([]byte, 0, 256)
	vals := []signals.Value{signals.FloatValue(1.25), signals.StringValue("x")}
	m := Meta{Quality: signals.Stale, Time: stamp}
	if n := testing.AllocsPerRun(1000, func() {
		buf = c.Encode(buf[:0], vals[:1], m)
		buf = o.Encode(buf[:0], vals, m)
	}); n != 0 {
		t.Errorf("Encode allocates %v per run", n)
	}
}
