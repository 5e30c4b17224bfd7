package link_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/metronome-rt/metronome/internal/mqttconn"
	"github.com/metronome-rt/metronome/link"
	"github.com/metronome-rt/metronome/link/sparkplug"
	"github.com/metronome-rt/metronome/link/sparkplug/sparkplugpb"
	"github.com/metronome-rt/metronome/signals"
)

// Covers tck-id-operational-behavior-edge-node-termination-host-action-ndeath-node-tags-stale
// (the will makes every value comm lost) and the next birth restoring
// them, with the source's time stamp and quality carried across.
func TestTCK_DeathOnWillAndRebirthRestores(t *testing.T) {
	each(t, func(t *testing.T, url string, p mqttconn.Protocol) {
		g := uniq("g")
		e := startEdge(t, g, "A", transport(url, p), edgeOpts{exports: testExports()})
		_, s := startHost(t, link.HostConfig{Group: g, Transport: transport(url, p), Wants: []link.Want{
			{Node: "A", Metric: "Pump/Speed", Kind: signals.Float},
			{Node: "A", Metric: "Pump/State", Kind: signals.String},
		}})
		if d := s.waitValue(t, 0, signals.Value{}, signals.Initial); d.Value.Kind() != signals.Invalid { // born, never set: no number
			t.Errorf("a metric never set was delivered as %v", d.Value)
		}
		stamp := time.Now().Add(-time.Hour).Truncate(time.Millisecond).UnixNano()
		e.Update([]link.Change{
			{Index: 0, Sample: sparkplug.Sample{Value: signals.FloatValue(1500), Quality: signals.Good, Stamp: stamp}},
			{Index: 3, Sample: sparkplug.Sample{Value: signals.StringValue("old"), Quality: signals.Stale, Stamp: stamp}},
		})
		d := s.waitValue(t, 0, signals.FloatValue(1500), signals.Good)
		if d.Stamp != stamp {
			t.Errorf("stamp %d, want the source's %d", d.Stamp, stamp)
		}
		s.waitValue(t, 1, signals.StringValue("old"), signals.Stale)
		mqttconn.DropForTest(e.Conn())
		s.waitValue(t, 0, signals.FloatValue(1500), signals.CommLost)
		// The edge node reconnects and re-births: good again.
		s.waitValue(t, 0, signals.FloatValue(1500), signals.Good)
	})
}

// A late NDEATH (an older bdSeq than the current birth) is ignored; the
// matching one is not.
func TestTCK_LateDeathIgnored(t *testing.T) {
	url := brokers(t)[0].url
	g := uniq("g")
	r := record(t, url, "spBv1.0/"+g+"/#")
	h, s := startHost(t, link.HostConfig{Group: g, Transport: transport(url, mqttconn.V5), Wants: []link.Want{{Node: "F", Metric: "x", Kind: signals.Int}}})
	eventually(t, func() bool { return h.Conn().Connected() }, "host connected")
	r.publish(sparkplug.NodeTopic(g, sparkplug.NBIRTH, "F"), fakeBirth(5, 42), 0)
	s.waitValue(t, 0, signals.IntValue(42), signals.Good)
	r.publish(sparkplug.NodeTopic(g, sparkplug.NDEATH, "F"), death(4), 1)
	r.publish(sparkplug.NodeTopic(g, sparkplug.NDATA, "F"), fakeData(1, 43), 0)
	s.waitValue(t, 0, signals.IntValue(43), signals.Good)
	if st := h.Stats(); st.LateDeaths != 1 || st.Deaths != 0 {
		t.Errorf("late deaths %d deaths %d, want 1 and 0", st.LateDeaths, st.Deaths)
	}
	r.publish(sparkplug.NodeTopic(g, sparkplug.NDEATH, "F"), death(5), 1)
	s.waitValue(t, 0, signals.IntValue(43), signals.CommLost)
}

// Covers tck-id-operational-behavior-host-reordering-start, -success and
// -rebirth: an early message waits for the missing one; a gap that stays
// open past the reorder timeout makes the host ask for a rebirth.
func TestTCK_RebirthOnGap(t *testing.T) {
	url := brokers(t)[0].url
	g := uniq("g")
	r := record(t, url, "spBv1.0/"+g+"/#")
	h, s := startHost(t, link.HostConfig{Group: g, Transport: transport(url, mqttconn.V5), ReorderTimeout: 200 * time.Millisecond,
		RebirthHoldoff: 50 * time.Millisecond, Wants: []link.Want{{Node: "F", Metric: "x", Kind: signals.Int}}})
	eventually(t, func() bool { return h.Conn().Connected() }, "host connected")
	nodeTopic := func(typ string) string { return sparkplug.NodeTopic(g, typ, "F") }
	r.publish(nodeTopic(sparkplug.NBIRTH), fakeBirth(0, 1), 0)
	s.waitValue(t, 0, signals.IntValue(1), signals.Good)
	before := len(r.all("/NCMD/F"))
	// Reordered: 2 before 1; both applied, in order, no rebirth.
	r.publish(nodeTopic(sparkplug.NDATA), fakeData(2, 3), 0)
	r.publish(nodeTopic(sparkplug.NDATA), fakeData(1, 2), 0)
	s.waitValue(t, 0, signals.IntValue(3), signals.Good)
	if st := h.Stats(); st.OutOfOrderReassembled != 1 {
		t.Errorf("reassembled %d, want 1", st.OutOfOrderReassembled)
	}
	time.Sleep(400 * time.Millisecond) // past the reorder timeout: nothing may happen
	if n := len(r.all("/NCMD/F")); n != before {
		t.Fatalf("rebirth requested for a gap that closed (%d NCMD)", n-before)
	}
	// A real gap: 4 never comes.
	r.publish(nodeTopic(sparkplug.NDATA), fakeData(5, 6), 0)
	cmds := r.waitN("/NCMD/F", before+1)
	if m := metric(cmds[len(cmds)-1].p, sparkplug.RebirthMetric); m == nil || !m.GetBooleanValue() {
		t.Fatalf("NCMD after a gap: %v, want Node Control/Rebirth = true", cmds[len(cmds)-1].p)
	}
	if d, _ := s.get(0); d.Value.Equal(signals.IntValue(6)) {
		t.Error("data after a gap was applied before the rebirth")
	}
	// Until the rebirth the host is out of step: the value is stale.
	s.waitValue(t, 0, signals.IntValue(3), signals.Stale)
	// The node answers: values flow again.
	r.publish(nodeTopic(sparkplug.NBIRTH), fakeBirth(0, 7), 0)
	s.waitValue(t, 0, signals.IntValue(7), signals.Good)
}

// An alias the birth did not announce makes the host ask for a rebirth.
func TestTCK_RebirthOnUnknownAlias(t *testing.T) {
	url := brokers(t)[0].url
	g := uniq("g")
	r := record(t, url, "spBv1.0/"+g+"/#")
	h, s := startHost(t, link.HostConfig{Group: g, Transport: transport(url, mqttconn.V5), Wants: []link.Want{{Node: "F", Metric: "x", Kind: signals.Int}}})
	eventually(t, func() bool { return h.Conn().Connected() }, "host connected")
	r.publish(sparkplug.NodeTopic(g, sparkplug.NBIRTH, "F"), fakeBirth(0, 1), 0)
	s.waitValue(t, 0, signals.IntValue(1), signals.Good)
	before := len(r.all("/NCMD/F"))
	p := fakeData(1, 2)
	p.Metrics[0].Alias = proto.Uint64(99)
	r.publish(sparkplug.NodeTopic(g, sparkplug.NDATA, "F"), p, 0)
	r.waitN("/NCMD/F", before+1)
	if h.Stats().UnknownAlias != 1 {
		t.Errorf("unknown alias count %d", h.Stats().UnknownAlias)
	}
	// Out of step, the value is stale; the node's death, while the host
	// waits for its rebirth, still turns it comm lost.
	s.waitValue(t, 0, signals.IntValue(1), signals.Stale)
	r.publish(sparkplug.NodeTopic(g, sparkplug.NDEATH, "F"), death(0), 1)
	s.waitValue(t, 0, signals.IntValue(1), signals.CommLost)
	if st := h.Stats(); st.Deaths != 1 || st.LateDeaths != 0 {
		t.Errorf("deaths %d, late deaths %d; want the death counted", st.Deaths, st.LateDeaths)
	}
}

// A route expecting another type than the birth announces gets an error and
// bad quality, never a converted value; so does a metric the birth lacks.
func TestHostTypeMismatch(t *testing.T) {
	url := brokers(t)[0].url
	g := uniq("g")
	e := startEdge(t, g, "A", transport(url, mqttconn.V5), edgeOpts{exports: testExports()})
	e.Update([]link.Change{change(0, signals.FloatValue(3)), change(2, signals.IntValue(7))})
	_, s := startHost(t, link.HostConfig{Group: g, Transport: transport(url, mqttconn.V5), Wants: []link.Want{
		{Node: "A", Metric: "Pump/Speed", Kind: signals.Int},
		{Node: "A", Metric: "Pump/Nope", Kind: signals.Int},
		{Node: "A", Metric: "Pump/Count", Kind: signals.Int},
	}})
	s.waitValue(t, 2, signals.IntValue(7), signals.Good)
	d := s.waitValue(t, 0, signals.Value{}, signals.BadInput)
	if d.Err == nil || !strings.Contains(d.Err.Error(), "type mismatch") || d.Value.Kind() != signals.Invalid {
		t.Errorf("mismatch delivery %+v", d)
	}
	d = s.waitValue(t, 1, signals.Value{}, signals.BadInput)
	if d.Err == nil || !strings.Contains(d.Err.Error(), "no metric") {
		t.Errorf("missing-metric delivery %+v", d)
	}
	// Later data of the mismatched metric is never delivered.
	e.Update([]link.Change{change(0, signals.FloatValue(4)), change(2, signals.IntValue(8))})
	s.waitValue(t, 2, signals.IntValue(8), signals.Good)
	if d, _ := s.get(0); d.Quality != signals.BadInput || d.Value.Kind() != signals.Invalid {
		t.Errorf("mismatched want got %+v", d)
	}
}

// Losing the broker turns every followed value comm lost; after the broker
// restarts, the edge node re-births (bdSeq incremented) and values are good.
func TestTCK_BirthsResentAfterBrokerRestart(t *testing.T) {
	b := brokers(t)[0]
	g := uniq("g")
	e := startEdge(t, g, "A", transport(b.url, mqttconn.V311), edgeOpts{exports: testExports()})
	_, s := startHost(t, link.HostConfig{Group: g, Transport: transport(b.url, mqttconn.V5), Wants: []link.Want{{Node: "A", Metric: "Pump/Count", Kind: signals.Int}}})
	e.Update([]link.Change{change(2, signals.IntValue(1))})
	s.waitValue(t, 0, signals.IntValue(1), signals.Good)
	b.mochi.Stop()
	s.waitValue(t, 0, signals.IntValue(1), signals.CommLost)
	b.mochi.Start()
	s.waitValue(t, 0, signals.IntValue(1), signals.Good)
	if e.Stats().Births < 2 || e.Stats().BdSeq < 1 {
		t.Errorf("edge stats after restart %+v: want a second birth with bdSeq >= 1", e.Stats())
	}
	e.Update([]link.Change{change(2, signals.IntValue(2))})
	s.waitValue(t, 0, signals.IntValue(2), signals.Good)
}

// Garbage on the Sparkplug topics is counted, never a crash, and does not
// disturb the values.
func TestGarbagePayloads(t *testing.T) {
	url := brokers(t)[0].url
	g := uniq("g")
	r := record(t, url, "spBv1.0/"+g+"/#")
	e := startEdge(t, g, "A", transport(url, mqttconn.V5), edgeOpts{exports: testExports()})
	h, s := startHost(t, link.HostConfig{Group: g, Transport: transport(url, mqttconn.V5), Wants: []link.Want{{Node: "A", Metric: "Pump/Count", Kind: signals.Int}}})
	e.Update([]link.Change{change(2, signals.IntValue(1))})
	s.waitValue(t, 0, signals.IntValue(1), signals.Good)
	junk := []byte{0xff, 0xff, 0xff, 0x0a, 0x99}
	r.publishRaw(sparkplug.NodeTopic(g, sparkplug.NCMD, "A"), junk, 0)
	r.publishRaw(sparkplug.NodeTopic(g, sparkplug.NDATA, "A"), junk, 0)
	eventually(t, func() bool { return e.Stats().BadCommands == 1 && h.Stats().BadPayloads == 1 }, "garbage counted: edge %+v host %+v", func() int { return 0 })
	e.Update([]link.Change{change(2, signals.IntValue(2))})
	s.waitValue(t, 0, signals.IntValue(2), signals.Good)
}

// Report by exception: a deadband keeps small moves off the wire; a
// minimum interval delays a change and then publishes the value of that
// moment; a quality change always goes out.
func TestDeadbandAndMinInterval(t *testing.T) {
	url := brokers(t)[0].url
	g := uniq("g")
	r := record(t, url, "spBv1.0/"+g+"/#")
	ex := []link.Export{{Name: "a", Kind: signals.Float, Deadband: 1}, {Name: "b", Kind: signals.Int, MinInterval: 300 * time.Millisecond}}
	e := startEdge(t, g, "A", transport(url, mqttconn.V5), edgeOpts{exports: ex})
	r.waitN("/NBIRTH/A", 1)
	e.Update([]link.Change{change(0, signals.FloatValue(10))})
	r.waitN("/NDATA/A", 1)
	e.Update([]link.Change{change(0, signals.FloatValue(10.5))}) // inside the deadband
	e.Update([]link.Change{change(0, signals.FloatValue(11.2))}) // 1.2 from 10: out
	d := r.waitN("/NDATA/A", 2)[1]
	if len(d.p.Metrics) != 1 || d.p.Metrics[0].GetDoubleValue() != 11.2 {
		t.Fatalf("deadband: second NDATA %v, want only 11.2", d.p)
	}
	e.Update([]link.Change{{Index: 0, Sample: sparkplug.Sample{Value: signals.FloatValue(11.3), Quality: signals.Stale}}})
	d = r.waitN("/NDATA/A", 3)[2]
	if sparkplug.QualityOf(d.p.Metrics[0]) != signals.Stale {
		t.Fatalf("quality change inside the deadband not published: %v", d.p)
	}
	e.Update([]link.Change{change(1, signals.IntValue(1))})
	first := r.waitN("/NDATA/A", 4)[3]
	t0 := time.Now()
	e.Update([]link.Change{change(1, signals.IntValue(2))})
	e.Update([]link.Change{change(1, signals.IntValue(3))})
	d = r.waitN("/NDATA/A", 5)[4]
	if el := time.Since(t0); el < 200*time.Millisecond {
		t.Errorf("min interval: next publication after %v", el)
	}
	if len(d.p.Metrics) != 1 || d.p.Metrics[0].GetLongValue() != 3 || first.p.Metrics[0].GetLongValue() != 1 {
		t.Fatalf("min interval: got %v then %v, want 1 then 3", first.p, d.p)
	}
}

// Every change of one batch travels in one NDATA.
func TestOneBatchOneNDATA(t *testing.T) {
	url := brokers(t)[0].url
	g := uniq("g")
	r := record(t, url, "spBv1.0/"+g+"/#")
	e := startEdge(t, g, "A", transport(url, mqttconn.V5), edgeOpts{exports: testExports()})
	r.waitN("/NBIRTH/A", 1)
	e.Update([]link.Change{change(0, signals.FloatValue(1)), change(1, signals.BoolValue(true)), change(2, signals.IntValue(-5)), change(3, signals.StringValue("on"))})
	d := r.waitN("/NDATA/A", 1)[0]
	if len(d.p.Metrics) != 4 {
		t.Fatalf("NDATA holds %d metrics, want 4: %v", len(d.p.Metrics), d.p)
	}
}

// Host STATE: covers tck-id-host-topic-phid-birth-qos/-retain/-payload,
// tck-id-host-topic-phid-death-qos/-retain/-payload and
// tck-id-message-flow-hid-sparkplug-state-message-delivered.
func TestTCK_HostState(t *testing.T) {
	url := brokers(t)[0].url
	id := uniq("scada")
	r := record(t, url, "spBv1.0/STATE/"+id)
	h, _ := startHost(t, link.HostConfig{Group: uniq("g"), HostID: id, Transport: transport(url, mqttconn.V5)})
	on := r.waitN("/STATE/", 1)[0]
	if on.qos != 1 || string(on.raw) == "" || !strings.Contains(string(on.raw), `"online":true`) {
		t.Fatalf("STATE birth %q qos %d", on.raw, on.qos)
	}
	// A fresh subscriber gets it retained.
	r2 := record(t, url, "spBv1.0/STATE/"+id)
	if got := r2.waitN("/STATE/", 1)[0]; !got.retained || string(got.raw) != string(on.raw) {
		t.Fatalf("retained STATE %q retained %v, want %q retained", got.raw, got.retained, on.raw)
	}
	// Someone says we are offline: the host answers online at once.
	// (Look for the answer after the offline message, wherever it is: the
	// broker may have passed on an older connection's will first.)
	r.publishRaw("spBv1.0/STATE/"+id, []byte(`{"online":false,"timestamp":1}`), 1)
	eventually(t, func() bool {
		msgs, seen := r.all("/STATE/"), false
		for _, m := range msgs {
			seen = seen || string(m.raw) == `{"online":false,"timestamp":1}`
			if seen && strings.Contains(string(m.raw), `"online":true`) {
				return true
			}
		}
		return false
	}, "an online STATE after the offline one")
	// The will: offline, retained, with the CONNECT's timestamp.
	mqttconn.DropForTest(h.Conn())
	eventually(t, func() bool {
		for _, m := range r.all("/STATE/") {
			if strings.Contains(string(m.raw), `"online":false`) && m.qos == 1 && strings.Contains(string(m.raw), tsOf(string(on.raw))) {
				return true
			}
		}
		return false
	}, "STATE will offline with the birth's timestamp")
}

func tsOf(s string) string {
	i := strings.Index(s, `"timestamp":`)
	return s[i:]
}

func fakeBirth(bdSeq uint64, x int64) *sparkplugpb.Payload {
	return &sparkplugpb.Payload{Timestamp: proto.Uint64(uint64(time.Now().UnixMilli())), Seq: proto.Uint64(0), Metrics: []*sparkplugpb.Payload_Metric{
		{Name: proto.String("bdSeq"), Datatype: proto.Uint32(4), Value: &sparkplugpb.Payload_Metric_LongValue{LongValue: bdSeq}},
		{Name: proto.String("x"), Alias: proto.Uint64(1), Datatype: proto.Uint32(4), Value: &sparkplugpb.Payload_Metric_LongValue{LongValue: uint64(x)}},
	}}
}

func fakeData(seq uint64, x int64) *sparkplugpb.Payload {
	return &sparkplugpb.Payload{Timestamp: proto.Uint64(uint64(time.Now().UnixMilli())), Seq: proto.Uint64(seq), Metrics: []*sparkplugpb.Payload_Metric{
		{Alias: proto.Uint64(1), Value: &sparkplugpb.Payload_Metric_LongValue{LongValue: uint64(x)}},
	}}
}

func death(bdSeq uint64) *sparkplugpb.Payload {
	return &sparkplugpb.Payload{Timestamp: proto.Uint64(uint64(time.Now().UnixMilli())), Metrics: []*sparkplugpb.Payload_Metric{
		{Name: proto.String("bdSeq"), Datatype: proto.Uint32(4), Value: &sparkplugpb.Payload_Metric_LongValue{LongValue: bdSeq}},
	}}
}

var _ = errors.Is
var _ = context.Background
