package sparkplug

import (
	"math"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/metronome-rt/metronome/link/sparkplug/sparkplugpb"
	"github.com/metronome-rt/metronome/signals"
)

// The data encoder writes the message Metric and proto.Marshal make, for
// every datatype Metronome publishes or reads, every quality, with and
// without a value and a time stamp.
func TestDataEncoderMatchesMarshal(t *testing.T) {
	cases := []struct {
		dt sparkplugpb.DataType
		v  signals.Value
	}{
		{sparkplugpb.DataType_Boolean, signals.BoolValue(true)},
		{sparkplugpb.DataType_Boolean, signals.BoolValue(false)},
		{sparkplugpb.DataType_Int8, signals.IntValue(-5)},
		{sparkplugpb.DataType_Int32, signals.IntValue(math.MinInt32)},
		{sparkplugpb.DataType_Int64, signals.IntValue(math.MinInt64)},
		{sparkplugpb.DataType_DateTime, signals.IntValue(1700000000123)},
		{sparkplugpb.DataType_UInt16, signals.UintValue(65535)},
		{sparkplugpb.DataType_UInt64, signals.UintValue(math.MaxUint64)},
		{sparkplugpb.DataType_Float, signals.FloatValue(1.5)},
		{sparkplugpb.DataType_Double, signals.FloatValue(-0.1)},
		{sparkplugpb.DataType_Double, signals.FloatValue(math.NaN())},
		{sparkplugpb.DataType_String, signals.StringValue("x/y é")},
		{sparkplugpb.DataType_Text, signals.StringValue("")},
		{sparkplugpb.DataType_Double, signals.Value{}},
	}
	var e DataEncoder
	for _, c := range cases {
		for _, q := range signals.Qualities() {
			for _, stamp := range []int64{0, 1700000000123e6} {
				s := Sample{Value: c.v, Quality: q, Stamp: stamp}
				want := &sparkplugpb.Payload{Timestamp: proto.Uint64(42), Seq: proto.Uint64(7)}
				m := &sparkplugpb.Payload_Metric{Alias: proto.Uint64(300)}
				if err := Metric(m, c.dt, s, nil); err != nil {
					t.Fatal(err)
				}
				want.Metrics = append(want.Metrics, m)
				e.Begin(42)
				if err := e.Metric(300, c.dt, s); err != nil {
					t.Fatal(err)
				}
				var got sparkplugpb.Payload
				if err := proto.Unmarshal(e.End(7), &got); err != nil {
					t.Fatalf("%s %v %s: %v", c.dt, c.v, q, err)
				}
				if !proto.Equal(&got, want) {
					t.Errorf("%s %v %s stamp %d:\n got %v\nwant %v", c.dt, c.v, q, stamp, &got, want)
				}
			}
		}
	}
	e.Begin(1)
	if err := e.Metric(1, sparkplugpb.DataType_Int64, Sample{Value: signals.FloatValue(1), Quality: signals.Good}); err == nil {
		t.Error("a double encoded as Int64")
	}
}

// Encoding a message allocates nothing once the buffers have grown.
func TestDataEncoderAllocatesNothing(t *testing.T) {
	var e DataEncoder
	i := int64(0)
	n := testing.AllocsPerRun(200, func() {
		i++
		e.Begin(uint64(i))
		e.Metric(1, sparkplugpb.DataType_Double, Sample{Value: signals.FloatValue(float64(i)), Quality: signals.Good, Stamp: i * 1e6})
		e.Metric(2, sparkplugpb.DataType_String, Sample{Value: signals.StringValue("running"), Quality: signals.Good, Stamp: i * 1e6})
		e.Metric(3, sparkplugpb.DataType_Int64, Sample{Quality: signals.CommLost, Stamp: i * 1e6})
		e.End(uint64(i % 256))
	})
	if n != 0 {
		t.Fatalf("%v allocations per message, want 0", n)
	}
}

// A metric without a value keeps the quality it was sent with: comm lost
// or bad input is not "never received".
func TestNullWithQualityKeepsIt(t *testing.T) {
	for _, q := range []signals.Quality{signals.Stale, signals.CommLost, signals.BadInput} {
		m := &sparkplugpb.Payload_Metric{}
		if err := Metric(m, sparkplugpb.DataType_Double, Sample{Quality: q, Stamp: 1e6}, nil); err != nil {
			t.Fatal(err)
		}
		s, err := SampleOf(m, uint32(sparkplugpb.DataType_Double), 0)
		if err != nil || s.Quality != q || s.Value.Kind() != signals.Invalid {
			t.Errorf("null %s: read back as %v %s (%v)", q, s.Value, s.Quality, err)
		}
	}
}

// A signal that turned stale, comm lost or bad before any reading arrived
// holds its zero without a time stamp: it goes out as is_null, never as
// the number 0; the same qualities with a reading carry the value.
func TestNoReadingIsNullWhateverItsQuality(t *testing.T) {
	var e DataEncoder
	for _, q := range []signals.Quality{signals.Stale, signals.CommLost, signals.BadInput} {
		for _, stamp := range []int64{0, 1700000000123e6} {
			s := Sample{Value: signals.FloatValue(0), Quality: q, Stamp: stamp}
			m := &sparkplugpb.Payload_Metric{}
			if err := Metric(m, sparkplugpb.DataType_Double, s, nil); err != nil {
				t.Fatal(err)
			}
			e.Begin(1)
			if err := e.Metric(1, sparkplugpb.DataType_Double, s); err != nil {
				t.Fatal(err)
			}
			var got sparkplugpb.Payload
			if err := proto.Unmarshal(e.End(0), &got); err != nil {
				t.Fatal(err)
			}
			wantNull := stamp == 0
			if m.GetIsNull() != wantNull || got.Metrics[0].GetIsNull() != wantNull {
				t.Errorf("%v with stamp %d: is_null %v (encoder %v), want %v", q, stamp, m.GetIsNull(), got.Metrics[0].GetIsNull(), wantNull)
			}
		}
	}
}
