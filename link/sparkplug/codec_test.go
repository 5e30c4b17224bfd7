package sparkplug

import (
	"math"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/metronome-rt/metronome/link/sparkplug/sparkplugpb"
	"github.com/metronome-rt/metronome/signals"
)

// Every quality survives the wire both ways; a value never received goes as
// is_null with no value field.
func TestSampleRoundTrip(t *testing.T) {
	cases := []struct {
		k signals.Kind
		v signals.Value
	}{
		{signals.Bool, signals.BoolValue(true)},
		{signals.Int, signals.IntValue(math.MinInt64)},
		{signals.Uint, signals.UintValue(math.MaxUint64)},
		{signals.Float, signals.FloatValue(-0.1)},
		{signals.String, signals.StringValue("x/y")},
	}
	for _, c := range cases {
		for _, q := range signals.Qualities() {
			in := Sample{Value: c.v, Quality: q, Stamp: 1700000000123e6}
			m := &sparkplugpb.Payload_Metric{}
			dt := DataTypeOf(c.k)
			if err := Metric(m, dt, in, nil); err != nil {
				t.Fatal(err)
			}
			b, _ := proto.Marshal(m)
			var back sparkplugpb.Payload_Metric
			if err := proto.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			out, err := SampleOf(&back, uint32(dt), 0)
			if err != nil {
				t.Fatalf("%s %s: %v", c.k, q, err)
			}
			if out.Quality != q || out.Stamp != in.Stamp {
				t.Errorf("%s %s: got quality %s stamp %d", c.k, q, out.Quality, out.Stamp)
			}
			if q == signals.Initial {
				if !back.GetIsNull() || back.Value != nil || out.Value.Kind() != signals.Invalid {
					t.Errorf("%s initial: is_null %v value %v -> %v", c.k, back.GetIsNull(), back.Value, out.Value)
				}
			} else if !out.Value.Equal(c.v) {
				t.Errorf("%s %s: value %v, want %v", c.k, q, out.Value, c.v)
			}
			if q == signals.Good && back.Properties != nil {
				t.Errorf("good value carries properties %v", back.Properties)
			}
		}
	}
}

// Quality codes from other implementations: the specification's three and
// Ignition 8's QualityCodes; anything unreadable is never good.
func TestQualityFromCodes(t *testing.T) {
	for code, want := range map[int32]signals.Quality{
		192: signals.Good, 500: signals.Stale, 0: signals.BadInput,
		201: signals.Good, -2147483132: signals.Stale, -2147483126: signals.CommLost, -2147483125: signals.CommLost,
		-2147483136: signals.BadInput, 1073742082: signals.Initial, 1073742081: signals.Stale, -1073741052: signals.BadInput, 7: signals.BadInput,
	} {
		if got := qualityFromCode(code); got != want {
			t.Errorf("code %d: %s, want %s", code, got, want)
		}
	}
	m := &sparkplugpb.Payload_Metric{Properties: &sparkplugpb.Payload_PropertySet{Keys: []string{PropQuality},
		Values: []*sparkplugpb.Payload_PropertyValue{{Value: &sparkplugpb.Payload_PropertyValue_StringValue{StringValue: "GOOD"}}}}}
	if q := QualityOf(m); q != signals.BadInput {
		t.Errorf("unreadable Quality property: %s, want bad input", q)
	}
}

// A value field that does not belong to the datatype is an error, never a
// conversion.
func TestGetValueWrongField(t *testing.T) {
	m := &sparkplugpb.Payload_Metric{Value: &sparkplugpb.Payload_Metric_StringValue{StringValue: "12"}}
	if _, err := GetValue(m, uint32(sparkplugpb.DataType_Int64)); err == nil {
		t.Error("string_value read as Int64")
	}
	m = &sparkplugpb.Payload_Metric{Value: &sparkplugpb.Payload_Metric_IntValue{IntValue: uint32(0xfffffff9)}}
	if v, err := GetValue(m, uint32(sparkplugpb.DataType_Int32)); err != nil || !v.Equal(signals.IntValue(-7)) {
		t.Errorf("Int32 -7: %v %v", v, err)
	}
	if _, err := KindOf(uint32(sparkplugpb.DataType_DataSet)); err == nil {
		t.Error("DataSet has a kind")
	}
}

func TestParseTopic(t *testing.T) {
	tp, err := ParseTopic("spBv1.0/G/NDATA/E/D")
	if err != nil || tp != (Topic{Group: "G", Type: NDATA, Node: "E", Device: "D"}) || tp.String() != "spBv1.0/G/NDATA/E/D" {
		t.Errorf("%+v %v", tp, err)
	}
	for _, bad := range []string{"spBv1.0/G", "x/G/NDATA/E", "spBv1.0/STATE/a/b", "spBv1.0/G/NDATA/E/D/F"} {
		if _, err := ParseTopic(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
