// Package sparkplug is Metronome's Sparkplug B 3.0 codec: topics, the
// protobuf payload (generated into sparkplugpb from sparkplug_b.proto), and
// the mapping between Metronome's values (signals.Value with a quality and a
// Unix-nanosecond time stamp) and Sparkplug metrics.
//
// The mapping keeps every value honest on the wire: a value never received
// is sent as is_null (never as a number), and a value that is not good
// carries the specification's "Quality" property, so no Sparkplug host
// shows it as live. See README.md for the tables.
package sparkplug

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/metronome-rt/metronome/link/sparkplug/sparkplugpb"
	"github.com/metronome-rt/metronome/signals"
)

// Namespace is the first topic level of Sparkplug B.
const Namespace = "spBv1.0"

// Message types (the third topic level).
const (
	NBIRTH = "NBIRTH"
	NDEATH = "NDEATH"
	NDATA  = "NDATA"
	NCMD   = "NCMD"
	DBIRTH = "DBIRTH"
	DDEATH = "DDEATH"
	DDATA  = "DDATA"
	DCMD   = "DCMD"
	STATE  = "STATE"
)

// Well-known metric names.
const (
	// BdSeqMetric carries the birth/death sequence number in NBIRTH and NDEATH.
	BdSeqMetric = "bdSeq"
	// RebirthMetric is the Boolean a host writes true (NCMD) to ask an edge
	// node for a fresh birth.
	RebirthMetric = "Node Control/Rebirth"
)

// Property keys written and read on metrics. "Quality" is the
// specification's (6.4.x, Int32 0/192/500); the engineering properties use
// the names Ignition gives its tag properties, which Sparkplug hosts built on
// it map onto tags.
const (
	PropQuality     = "Quality"
	PropEngUnit     = "engUnit"
	PropEngLow      = "engLow"
	PropEngHigh     = "engHigh"
	PropDescription = "documentation"
	PropReadOnly    = "readOnly"
	// PropQualityDetail carries Metronome's own quality name when the
	// specification's three codes cannot tell it (comm lost vs stale), so a
	// Metronome consumer restores it exactly; other hosts ignore it.
	PropQualityDetail = "metronomeQuality"
)

// Sparkplug quality codes (specification: Quality Codes).
const (
	QualityBad   int32 = 0
	QualityGood  int32 = 192
	QualityStale int32 = 500
)

// Topic is a parsed Sparkplug topic. For STATE, Node holds the host ID.
type Topic struct {
	Group, Type, Node, Device string
}

// String writes the topic.
func (t Topic) String() string {
	if t.Type == STATE {
		return Namespace + "/STATE/" + t.Node
	}
	s := Namespace + "/" + t.Group + "/" + t.Type + "/" + t.Node
	if t.Device != "" {
		s += "/" + t.Device
	}
	return s
}

// NodeTopic returns spBv1.0/group/typ/node.
func NodeTopic(group, typ, node string) string {
	return Namespace + "/" + group + "/" + typ + "/" + node
}

// StateTopic returns spBv1.0/STATE/hostID.
func StateTopic(hostID string) string { return Namespace + "/STATE/" + hostID }

// ParseTopic reads a Sparkplug B topic.
func ParseTopic(s string) (Topic, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 3 || parts[0] != Namespace {
		return Topic{}, fmt.Errorf("topic %q is not a Sparkplug B topic", s)
	}
	if parts[1] == STATE {
		if len(parts) != 3 {
			return Topic{}, fmt.Errorf("topic %q: want spBv1.0/STATE/host_id", s)
		}
		return Topic{Type: STATE, Node: parts[2]}, nil
	}
	if len(parts) < 4 || len(parts) > 5 {
		return Topic{}, fmt.Errorf("topic %q: want spBv1.0/group/type/node[/device]", s)
	}
	t := Topic{Group: parts[1], Type: parts[2], Node: parts[3]}
	if len(parts) == 5 {
		t.Device = parts[4]
	}
	return t, nil
}

// ValidID checks a group, edge node, device or host ID: the specification
// forbids the MQTT separators and wildcards in them.
func ValidID(what, id string) error {
	if id == "" {
		return fmt.Errorf("%s is empty", what)
	}
	if strings.ContainsAny(id, "/+#") {
		return fmt.Errorf("%s %q must not hold '/', '+' or '#'", what, id)
	}
	return nil
}

// DataTypeOf is the Sparkplug datatype a Metronome kind is announced with.
func DataTypeOf(k signals.Kind) sparkplugpb.DataType {
	switch k {
	case signals.Bool:
		return sparkplugpb.DataType_Boolean
	case signals.Int:
		return sparkplugpb.DataType_Int64
	case signals.Uint:
		return sparkplugpb.DataType_UInt64
	case signals.Float:
		return sparkplugpb.DataType_Double
	case signals.String:
		return sparkplugpb.DataType_String
	}
	return sparkplugpb.DataType_Unknown
}

// KindOf is the Metronome kind that holds a Sparkplug datatype without any
// conversion: narrower integers widen to int64/uint64 and Float to float64,
// which loses nothing. DateTime is Int (milliseconds since the Unix epoch).
// Other datatypes (arrays, DataSet, Template, Bytes, File) have no scalar
// kind and give an error.
func KindOf(dt uint32) (signals.Kind, error) {
	switch sparkplugpb.DataType(dt) {
	case sparkplugpb.DataType_Boolean:
		return signals.Bool, nil
	case sparkplugpb.DataType_Int8, sparkplugpb.DataType_Int16, sparkplugpb.DataType_Int32, sparkplugpb.DataType_Int64, sparkplugpb.DataType_DateTime:
		return signals.Int, nil
	case sparkplugpb.DataType_UInt8, sparkplugpb.DataType_UInt16, sparkplugpb.DataType_UInt32, sparkplugpb.DataType_UInt64:
		return signals.Uint, nil
	case sparkplugpb.DataType_Float, sparkplugpb.DataType_Double:
		return signals.Float, nil
	case sparkplugpb.DataType_String, sparkplugpb.DataType_Text, sparkplugpb.DataType_UUID:
		return signals.String, nil
	}
	return signals.Invalid, fmt.Errorf("datatype %s (%d) has no scalar Metronome type", DataTypeName(dt), dt)
}

// DataTypeName names a datatype number for messages.
func DataTypeName(dt uint32) string {
	if n, ok := sparkplugpb.DataType_name[int32(dt)]; ok && dt <= math.MaxInt32 {
		return n
	}
	return fmt.Sprintf("DataType(%d)", dt)
}

// Sample is a value with its quality and source time stamp (Unix ns): what
// travels in a metric.
type Sample struct {
	Value   signals.Value
	Quality signals.Quality
	Stamp   int64
}

// null reports whether the sample has no value to send: never received
// (Initial), no value at all, or a value that turned stale, comm lost or
// bad before any reading arrived (no time stamp: what it holds is the
// signal's zero, never a reading).
func (s Sample) null() bool {
	if s.Quality == signals.Initial || s.Value.Kind() == signals.Invalid {
		return true
	}
	return s.Stamp == 0 && s.Quality != signals.Good && s.Quality != signals.LastKnown
}

// ErrNull says a metric carries no value (is_null).
var ErrNull = errors.New("metric is null")

// SetValue writes v into m as datatype dt (m.Datatype is not touched). The
// value's kind must be dt's kind (KindOf); nothing is converted.
func SetValue(m *sparkplugpb.Payload_Metric, dt sparkplugpb.DataType, v signals.Value) error {
	k, err := KindOf(uint32(dt))
	if err != nil {
		return err
	}
	if v.Kind() != k {
		return fmt.Errorf("value %v is %s, datatype %s wants %s", v, v.Kind(), dt, k)
	}
	switch k {
	case signals.Bool:
		b, _ := v.Bool()
		m.Value = &sparkplugpb.Payload_Metric_BooleanValue{BooleanValue: b}
	case signals.Int:
		i, _ := v.Int()
		if dt == sparkplugpb.DataType_Int64 || dt == sparkplugpb.DataType_DateTime {
			m.Value = &sparkplugpb.Payload_Metric_LongValue{LongValue: uint64(i)}
		} else {
			m.Value = &sparkplugpb.Payload_Metric_IntValue{IntValue: uint32(int32(i))}
		}
	case signals.Uint:
		u, _ := v.Uint()
		if dt == sparkplugpb.DataType_UInt64 {
			m.Value = &sparkplugpb.Payload_Metric_LongValue{LongValue: u}
		} else {
			m.Value = &sparkplugpb.Payload_Metric_IntValue{IntValue: uint32(u)}
		}
	case signals.Float:
		f, _ := v.Float()
		if dt == sparkplugpb.DataType_Float {
			m.Value = &sparkplugpb.Payload_Metric_FloatValue{FloatValue: float32(f)}
		} else {
			m.Value = &sparkplugpb.Payload_Metric_DoubleValue{DoubleValue: f}
		}
	case signals.String:
		m.Value = &sparkplugpb.Payload_Metric_StringValue{StringValue: v.Text()}
	}
	return nil
}

// GetValue reads m's value as datatype dt (the birth's datatype, since DATA
// messages may leave it out). A value field that does not belong to dt is an
// error, not a conversion; is_null gives ErrNull.
func GetValue(m *sparkplugpb.Payload_Metric, dt uint32) (signals.Value, error) {
	if m.GetIsNull() {
		return signals.Value{}, ErrNull
	}
	k, err := KindOf(dt)
	if err != nil {
		return signals.Value{}, err
	}
	wrong := func() (signals.Value, error) {
		return signals.Value{}, fmt.Errorf("metric of datatype %s holds a %s", DataTypeName(dt), valueField(m))
	}
	switch sparkplugpb.DataType(dt) {
	case sparkplugpb.DataType_Boolean:
		x, ok := m.Value.(*sparkplugpb.Payload_Metric_BooleanValue)
		if !ok {
			return wrong()
		}
		return signals.BoolValue(x.BooleanValue), nil
	case sparkplugpb.DataType_Int8, sparkplugpb.DataType_Int16, sparkplugpb.DataType_Int32:
		x, ok := m.Value.(*sparkplugpb.Payload_Metric_IntValue)
		if !ok {
			return wrong()
		}
		switch sparkplugpb.DataType(dt) {
		case sparkplugpb.DataType_Int8:
			return signals.IntValue(int64(int8(x.IntValue))), nil
		case sparkplugpb.DataType_Int16:
			return signals.IntValue(int64(int16(x.IntValue))), nil
		}
		return signals.IntValue(int64(int32(x.IntValue))), nil
	case sparkplugpb.DataType_Int64, sparkplugpb.DataType_DateTime:
		x, ok := m.Value.(*sparkplugpb.Payload_Metric_LongValue)
		if !ok {
			return wrong()
		}
		return signals.IntValue(int64(x.LongValue)), nil
	case sparkplugpb.DataType_UInt8, sparkplugpb.DataType_UInt16, sparkplugpb.DataType_UInt32:
		switch x := m.Value.(type) {
		case *sparkplugpb.Payload_Metric_IntValue:
			return signals.UintValue(uint64(x.IntValue)), nil
		case *sparkplugpb.Payload_Metric_LongValue:
			// Some implementations put UInt32 in long_value, which holds
			// every UInt32 exactly.
			if x.LongValue > math.MaxUint32 {
				return signals.Value{}, fmt.Errorf("UInt32 metric holds %d", x.LongValue)
			}
			return signals.UintValue(x.LongValue), nil
		}
		return wrong()
	case sparkplugpb.DataType_UInt64:
		x, ok := m.Value.(*sparkplugpb.Payload_Metric_LongValue)
		if !ok {
			return wrong()
		}
		return signals.UintValue(x.LongValue), nil
	case sparkplugpb.DataType_Float:
		x, ok := m.Value.(*sparkplugpb.Payload_Metric_FloatValue)
		if !ok {
			return wrong()
		}
		return signals.FloatValue(float64(x.FloatValue)), nil
	case sparkplugpb.DataType_Double:
		x, ok := m.Value.(*sparkplugpb.Payload_Metric_DoubleValue)
		if !ok {
			return wrong()
		}
		return signals.FloatValue(x.DoubleValue), nil
	}
	if k == signals.String {
		x, ok := m.Value.(*sparkplugpb.Payload_Metric_StringValue)
		if !ok {
			return wrong()
		}
		return signals.StringValue(x.StringValue), nil
	}
	return wrong()
}

func valueField(m *sparkplugpb.Payload_Metric) string {
	switch m.Value.(type) {
	case nil:
		return "no value (and is_null not set)"
	case *sparkplugpb.Payload_Metric_IntValue:
		return "int_value"
	case *sparkplugpb.Payload_Metric_LongValue:
		return "long_value"
	case *sparkplugpb.Payload_Metric_FloatValue:
		return "float_value"
	case *sparkplugpb.Payload_Metric_DoubleValue:
		return "double_value"
	case *sparkplugpb.Payload_Metric_BooleanValue:
		return "boolean_value"
	case *sparkplugpb.Payload_Metric_StringValue:
		return "string_value"
	case *sparkplugpb.Payload_Metric_BytesValue:
		return "bytes_value"
	case *sparkplugpb.Payload_Metric_DatasetValue:
		return "dataset_value"
	case *sparkplugpb.Payload_Metric_TemplateValue:
		return "template_value"
	}
	return "extension_value"
}

// QualityCode maps a Metronome quality to the specification's code, and
// says whether the detail property is needed to restore it exactly.
//
//	good      -> (no property; 192 when asked)
//	initial   -> is_null is what says it; 0 BAD
//	last known -> 500 STALE, detail "last known"
//	stale     -> 500 STALE
//	comm lost -> 500 STALE, detail "comm lost"
//	bad input -> 0 BAD
//
// A last known value (a retained message replayed, usable but not known to
// be live) is stale to other hosts, never good and never bad.
func QualityCode(q signals.Quality) (code int32, detail bool) {
	switch q {
	case signals.Good:
		return QualityGood, false
	case signals.Stale:
		return QualityStale, false
	case signals.CommLost, signals.LastKnown:
		return QualityStale, true
	}
	return QualityBad, false
}

// qualityFromCode maps a received code to a Metronome quality. Besides the
// specification's 0/192/500 it reads Ignition 8 QualityCodes, which
// Ignition-based edge nodes send: the top two bits are the level (Good,
// Uncertain, Bad, Error) and the low 16 bits the subcode.
func qualityFromCode(code int32) signals.Quality {
	switch code {
	case QualityGood:
		return signals.Good
	case QualityStale:
		return signals.Stale
	case QualityBad:
		return signals.BadInput
	}
	sub := uint32(code) & 0xffff
	switch uint32(code) >> 30 {
	case 0: // Good family (Good_Provisional, Good_Initial, Good_Backfill, ...)
		if sub >= 192 && sub < 256 {
			return signals.Good
		}
		return signals.BadInput
	case 1: // Uncertain: the value may be old
		if sub == 258 { // Uncertain_InitialValue
			return signals.Initial
		}
		return signals.Stale
	case 2: // Bad
		switch sub {
		case 516: // Bad_Stale
			return signals.Stale
		case 522, 523: // Bad_NotConnected, Bad_GatewayCommOff
			return signals.CommLost
		}
		return signals.BadInput
	}
	return signals.BadInput // Error family
}

// QualityOf reads a received metric's quality: the Quality property (and
// Metronome's detail), good when absent. A metric without a value (is_null)
// is initial (never received) unless its Quality says more: a value lost
// or bad before one was ever received keeps that quality.
func QualityOf(m *sparkplugpb.Payload_Metric) signals.Quality {
	q := qualityProp(m.GetProperties())
	if m.GetIsNull() && q == signals.Good {
		return signals.Initial
	}
	return q
}

// qualityProp reads the Quality property and its detail; good when absent.
func qualityProp(ps *sparkplugpb.Payload_PropertySet) signals.Quality {
	if ps == nil {
		return signals.Good
	}
	q := signals.Good
	var detail string
	for i, k := range ps.GetKeys() {
		if i >= len(ps.GetValues()) {
			break
		}
		v := ps.GetValues()[i]
		switch k {
		case PropQuality:
			if v.GetIsNull() {
				continue
			}
			switch x := v.Value.(type) {
			case *sparkplugpb.Payload_PropertyValue_IntValue:
				q = qualityFromCode(int32(x.IntValue))
			case *sparkplugpb.Payload_PropertyValue_LongValue:
				q = qualityFromCode(int32(x.LongValue))
			default:
				q = signals.BadInput // a Quality we cannot read is not good
			}
		case PropQualityDetail:
			detail = v.GetStringValue()
		}
	}
	if q == signals.Stale {
		switch detail {
		case signals.CommLost.String():
			q = signals.CommLost
		case signals.LastKnown.String():
			q = signals.LastKnown
		}
	}
	return q
}

// Props are a metric's descriptive properties, sent in births.
type Props struct {
	Unit        string
	Description string
	// HasRange says Low and High are set.
	HasRange  bool
	Low, High float64
	Writable  bool
}

// PropertySet builds the birth properties for a metric of quality q. The
// Quality property is written only when q is not good (the specification
// makes it optional for good values).
func PropertySet(p Props, q signals.Quality) *sparkplugpb.Payload_PropertySet {
	ps := &sparkplugpb.Payload_PropertySet{}
	if p.Unit != "" {
		addString(ps, PropEngUnit, p.Unit)
	}
	if p.Description != "" {
		addString(ps, PropDescription, p.Description)
	}
	if p.HasRange {
		addDouble(ps, PropEngLow, p.Low)
		addDouble(ps, PropEngHigh, p.High)
	}
	addBool(ps, PropReadOnly, !p.Writable)
	AddQuality(ps, q)
	return ps
}

// AddQuality appends the Quality property (and the detail, when needed)
// for a quality that is not good; a good quality adds nothing, and neither
// does initial, which is_null says (a Quality beside is_null means a value
// lost or bad before one was received).
func AddQuality(ps *sparkplugpb.Payload_PropertySet, q signals.Quality) {
	if q == signals.Good || q == signals.Initial {
		return
	}
	code, detail := QualityCode(q)
	ps.Keys = append(ps.Keys, PropQuality)
	ps.Values = append(ps.Values, &sparkplugpb.Payload_PropertyValue{
		Type:  u32(uint32(sparkplugpb.DataType_Int32)),
		Value: &sparkplugpb.Payload_PropertyValue_IntValue{IntValue: uint32(code)},
	})
	if detail {
		addString(ps, PropQualityDetail, q.String())
	}
}

// PropsOf reads the descriptive properties of a birth metric. A metric
// without readOnly counts as not writable.
func PropsOf(m *sparkplugpb.Payload_Metric) Props {
	var p Props
	ps := m.GetProperties()
	vals := ps.GetValues()
	var lowOK, highOK bool
	for i, k := range ps.GetKeys() {
		if i >= len(vals) {
			break
		}
		v := vals[i]
		switch k {
		case PropEngUnit:
			p.Unit = v.GetStringValue()
		case PropDescription:
			p.Description = v.GetStringValue()
		case PropEngLow:
			p.Low, lowOK = propFloat(v)
		case PropEngHigh:
			p.High, highOK = propFloat(v)
		case PropReadOnly:
			p.Writable = !v.GetBooleanValue()
		}
	}
	p.HasRange = lowOK && highOK
	return p
}

func propFloat(v *sparkplugpb.Payload_PropertyValue) (float64, bool) {
	switch x := v.Value.(type) {
	case *sparkplugpb.Payload_PropertyValue_DoubleValue:
		return x.DoubleValue, true
	case *sparkplugpb.Payload_PropertyValue_FloatValue:
		return float64(x.FloatValue), true
	case *sparkplugpb.Payload_PropertyValue_IntValue:
		if v.GetType() == uint32(sparkplugpb.DataType_Int32) || v.GetType() == uint32(sparkplugpb.DataType_Int16) || v.GetType() == uint32(sparkplugpb.DataType_Int8) {
			return float64(int32(x.IntValue)), true
		}
		return float64(x.IntValue), true
	case *sparkplugpb.Payload_PropertyValue_LongValue:
		if v.GetType() == uint32(sparkplugpb.DataType_Int64) {
			return float64(int64(x.LongValue)), true
		}
		return float64(x.LongValue), true
	}
	return 0, false
}

func addString(ps *sparkplugpb.Payload_PropertySet, k, v string) {
	ps.Keys = append(ps.Keys, k)
	ps.Values = append(ps.Values, &sparkplugpb.Payload_PropertyValue{
		Type: u32(uint32(sparkplugpb.DataType_String)), Value: &sparkplugpb.Payload_PropertyValue_StringValue{StringValue: v}})
}

func addDouble(ps *sparkplugpb.Payload_PropertySet, k string, v float64) {
	ps.Keys = append(ps.Keys, k)
	ps.Values = append(ps.Values, &sparkplugpb.Payload_PropertyValue{
		Type: u32(uint32(sparkplugpb.DataType_Double)), Value: &sparkplugpb.Payload_PropertyValue_DoubleValue{DoubleValue: v}})
}

func addBool(ps *sparkplugpb.Payload_PropertySet, k string, v bool) {
	ps.Keys = append(ps.Keys, k)
	ps.Values = append(ps.Values, &sparkplugpb.Payload_PropertyValue{
		Type: u32(uint32(sparkplugpb.DataType_Boolean)), Value: &sparkplugpb.Payload_PropertyValue_BooleanValue{BooleanValue: v}})
}

// AddStringProp appends a String property.
func AddStringProp(ps *sparkplugpb.Payload_PropertySet, k, v string) { addString(ps, k, v) }

// AddBoolProp appends a Boolean property.
func AddBoolProp(ps *sparkplugpb.Payload_PropertySet, k string, v bool) { addBool(ps, k, v) }

// Prop returns the property named k, or nil.
func Prop(ps *sparkplugpb.Payload_PropertySet, k string) *sparkplugpb.Payload_PropertyValue {
	for i, key := range ps.GetKeys() {
		if key == k && i < len(ps.GetValues()) {
			return ps.GetValues()[i]
		}
	}
	return nil
}

func u32(v uint32) *uint32 { return &v }

// Metric fills a metric for s: datatype dt, the value or is_null when the
// sample has no value (see Sample.null), the source time
// stamp in milliseconds, and the quality property when not good. props, when
// not nil, is used as the property set (births); otherwise one is made only
// for a quality that is not good.
func Metric(m *sparkplugpb.Payload_Metric, dt sparkplugpb.DataType, s Sample, props *sparkplugpb.Payload_PropertySet) error {
	dtv := uint32(dt)
	m.Datatype = &dtv
	if s.Stamp > 0 {
		ms := uint64(s.Stamp / 1e6)
		m.Timestamp = &ms
	}
	if s.null() {
		t := true
		m.IsNull = &t
		m.Value = nil
	} else if err := SetValue(m, dt, s.Value); err != nil {
		return err
	}
	if props == nil && s.Quality != signals.Good && s.Quality != signals.Initial {
		props = &sparkplugpb.Payload_PropertySet{}
		AddQuality(props, s.Quality)
	}
	m.Properties = props
	return nil
}

// SampleOf reads a metric as datatype dt into a sample: the value (none when
// is_null), the quality and the time stamp (the payload's when the metric
// has none). An unreadable value is an error; the sample then has BadInput
// quality and no value.
func SampleOf(m *sparkplugpb.Payload_Metric, dt uint32, payloadStamp uint64) (Sample, error) {
	ts := m.GetTimestamp()
	if m.Timestamp == nil {
		ts = payloadStamp
	}
	s := Sample{Stamp: int64(ts) * 1e6, Quality: QualityOf(m)}
	v, err := GetValue(m, dt)
	switch {
	case errors.Is(err, ErrNull):
		// no value: QualityOf said initial, or the quality it was lost with
	case err != nil:
		s.Quality = signals.BadInput
		return s, err
	default:
		s.Value = v
	}
	return s, nil
}
