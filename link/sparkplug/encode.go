package sparkplug

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/metronome-rt/metronome/link/sparkplug/sparkplugpb"
	"github.com/metronome-rt/metronome/signals"
)

// Field numbers of sparkplug_b.proto used by the data encoder.
const (
	fPayloadTimestamp = 1
	fPayloadMetrics   = 2
	fPayloadSeq       = 3

	fMetricAlias      = 2
	fMetricTimestamp  = 3
	fMetricDatatype   = 4
	fMetricIsNull     = 7
	fMetricProperties = 9
	fMetricInt        = 10
	fMetricLong       = 11
	fMetricFloat      = 12
	fMetricDouble     = 13
	fMetricBool       = 14
	fMetricString     = 15

	fSetKeys   = 1
	fSetValues = 2

	fPropType   = 1
	fPropInt    = 3
	fPropString = 8
)

// DataEncoder writes DATA payloads (a time stamp, metrics by alias and
// the sequence number) straight into a byte slice: the same message as
// filling sparkplugpb.Payload with Metric and marshalling it, without the
// dozen small allocations per message that takes, since data leaves an
// edge node at the rate of its ticks. Its buffers are reused; one encoder
// belongs to one goroutine.
type DataEncoder struct {
	buf []byte
	m   []byte // one metric, before its length is known
	ps  []byte // one property set
	pv  []byte // one property value
}

// Begin starts a payload sent at ts (Unix ms).
func (e *DataEncoder) Begin(ts uint64) {
	e.buf = protowire.AppendTag(e.buf[:0], fPayloadTimestamp, protowire.VarintType)
	e.buf = protowire.AppendVarint(e.buf, ts)
}

// Metric appends a metric by alias: datatype dt, the sample's value (or
// is_null when it has none), its time stamp in ms and, when it is not
// good, the Quality property (and Metronome's detail), as Metric writes
// them. A value of another kind than dt's is an error and appends nothing.
func (e *DataEncoder) Metric(alias uint64, dt sparkplugpb.DataType, s Sample) error {
	m := protowire.AppendTag(e.m[:0], fMetricAlias, protowire.VarintType)
	m = protowire.AppendVarint(m, alias)
	if s.Stamp > 0 {
		m = protowire.AppendTag(m, fMetricTimestamp, protowire.VarintType)
		m = protowire.AppendVarint(m, uint64(s.Stamp/1e6))
	}
	m = protowire.AppendTag(m, fMetricDatatype, protowire.VarintType)
	m = protowire.AppendVarint(m, uint64(uint32(dt)))
	null := s.null()
	if null {
		m = protowire.AppendTag(m, fMetricIsNull, protowire.VarintType)
		m = protowire.AppendVarint(m, 1)
	}
	if s.Quality != signals.Good && s.Quality != signals.Initial {
		m = e.appendQuality(m, s.Quality)
	}
	if !null {
		var err error
		if m, err = appendValue(m, dt, s.Value); err != nil {
			e.m = m
			return err
		}
	}
	e.m = m
	e.buf = protowire.AppendTag(e.buf, fPayloadMetrics, protowire.BytesType)
	e.buf = protowire.AppendBytes(e.buf, m)
	return nil
}

// appendQuality appends the properties field for a quality that is not
// good: {"Quality": Int32 code} and, where the code cannot tell it, the
// detail.
func (e *DataEncoder) appendQuality(m []byte, q signals.Quality) []byte {
	code, detail := QualityCode(q)
	ps := protowire.AppendTag(e.ps[:0], fSetKeys, protowire.BytesType)
	ps = protowire.AppendString(ps, PropQuality)
	if detail {
		ps = protowire.AppendTag(ps, fSetKeys, protowire.BytesType)
		ps = protowire.AppendString(ps, PropQualityDetail)
	}
	pv := protowire.AppendTag(e.pv[:0], fPropType, protowire.VarintType)
	pv = protowire.AppendVarint(pv, uint64(sparkplugpb.DataType_Int32))
	pv = protowire.AppendTag(pv, fPropInt, protowire.VarintType)
	pv = protowire.AppendVarint(pv, uint64(uint32(code)))
	ps = protowire.AppendTag(ps, fSetValues, protowire.BytesType)
	ps = protowire.AppendBytes(ps, pv)
	if detail {
		pv = protowire.AppendTag(pv[:0], fPropType, protowire.VarintType)
		pv = protowire.AppendVarint(pv, uint64(sparkplugpb.DataType_String))
		pv = protowire.AppendTag(pv, fPropString, protowire.BytesType)
		pv = protowire.AppendString(pv, q.String())
		ps = protowire.AppendTag(ps, fSetValues, protowire.BytesType)
		ps = protowire.AppendBytes(ps, pv)
	}
	e.ps, e.pv = ps, pv
	m = protowire.AppendTag(m, fMetricProperties, protowire.BytesType)
	return protowire.AppendBytes(m, ps)
}

func appendValue(m []byte, dt sparkplugpb.DataType, v signals.Value) ([]byte, error) {
	k, err := KindOf(uint32(dt))
	if err != nil {
		return m, err
	}
	if v.Kind() != k {
		return m, fmt.Errorf("value %v is %s, datatype %s wants %s", v, v.Kind(), dt, k)
	}
	switch k {
	case signals.Bool:
		b, _ := v.Bool()
		m = protowire.AppendTag(m, fMetricBool, protowire.VarintType)
		return protowire.AppendVarint(m, protowire.EncodeBool(b)), nil
	case signals.Int:
		i, _ := v.Int()
		if dt == sparkplugpb.DataType_Int64 || dt == sparkplugpb.DataType_DateTime {
			m = protowire.AppendTag(m, fMetricLong, protowire.VarintType)
			return protowire.AppendVarint(m, uint64(i)), nil
		}
		m = protowire.AppendTag(m, fMetricInt, protowire.VarintType)
		return protowire.AppendVarint(m, uint64(uint32(int32(i)))), nil
	case signals.Uint:
		u, _ := v.Uint()
		if dt == sparkplugpb.DataType_UInt64 {
			m = protowire.AppendTag(m, fMetricLong, protowire.VarintType)
			return protowire.AppendVarint(m, u), nil
		}
		m = protowire.AppendTag(m, fMetricInt, protowire.VarintType)
		return protowire.AppendVarint(m, uint64(uint32(u))), nil
	case signals.Float:
		f, _ := v.Float()
		if dt == sparkplugpb.DataType_Float {
			m = protowire.AppendTag(m, fMetricFloat, protowire.Fixed32Type)
			return protowire.AppendFixed32(m, math.Float32bits(float32(f))), nil
		}
		m = protowire.AppendTag(m, fMetricDouble, protowire.Fixed64Type)
		return protowire.AppendFixed64(m, math.Float64bits(f)), nil
	}
	m = protowire.AppendTag(m, fMetricString, protowire.BytesType)
	return protowire.AppendString(m, v.Text()), nil
}

// End appends the sequence number and returns the payload, valid until
// the next Begin.
func (e *DataEncoder) End(seq uint64) []byte {
	e.buf = protowire.AppendTag(e.buf, fPayloadSeq, protowire.VarintType)
	e.buf = protowire.AppendVarint(e.buf, seq)
	return e.buf
}
