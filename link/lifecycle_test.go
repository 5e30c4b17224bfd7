package link_test

import (
	"testing"
	"time"

	"github.com/metronome-rt/metronome/internal/mqttconn"
	"github.com/metronome-rt/metronome/link"
	"github.com/metronome-rt/metronome/link/sparkplug"
	"github.com/metronome-rt/metronome/link/sparkplug/sparkplugpb"
	"github.com/metronome-rt/metronome/signals"
)

func testExports() []link.Export {
	return []link.Export{
		{Name: "Pump/Speed", Kind: signals.Float, Props: sparkplug.Props{Unit: "rpm", Description: "pump speed", HasRange: true, Low: 0, High: 3000, Writable: true}},
		{Name: "Pump/Running", Kind: signals.Bool},
		{Name: "Pump/Count", Kind: signals.Int},
		{Name: "Pump/State", Kind: signals.String},
	}
}

// each runs f against every broker (embedded mochi, mosquitto) and both
// protocols.
func each(t *testing.T, f func(t *testing.T, url string, p mqttconn.Protocol)) {
	for _, b := range brokers(t) {
		for _, p := range []mqttconn.Protocol{mqttconn.V5, mqttconn.V311} {
			t.Run(b.name+"/"+p.String(), func(t *testing.T) { f(t, b.url, p) })
		}
	}
}

// Covers tck-id-message-flow-edge-node-birth-publish-will-message-payload-bdSeq,
// -will-message-qos, -will-message-will-retained, -nbirth-payload-bdSeq,
// -nbirth-qos, -nbirth-retained, -nbirth-payload-seq,
// tck-id-topics-nbirth-bdseq-matching and tck-id-topics-nbirth-bdseq-increment,
// tck-id-topics-nbirth-rebirth-metric, tck-id-payloads-alias-uniqueness.
func TestTCK_BdSeqInWillAndBirth(t *testing.T) {
	each(t, func(t *testing.T, url string, p mqttconn.Protocol) {
		g := uniq("g")
		r := record(t, url, "spBv1.0/"+g+"/#")
		e := startEdge(t, g, "A", transport(url, p), edgeOpts{exports: testExports()})
		b := r.waitN("/NBIRTH/A", 1)[0]
		if b.qos != 0 || b.retained {
			t.Errorf("NBIRTH qos %d retained %v, want 0 and false", b.qos, b.retained)
		}
		if b.p.GetSeq() != 0 || b.p.Seq == nil {
			t.Errorf("NBIRTH seq %v, want 0", b.p.Seq)
		}
		if got := bdSeqOf(t, b.p); got != 0 {
			t.Errorf("first NBIRTH bdSeq %d, want 0", got)
		}
		rb := metric(b.p, sparkplug.RebirthMetric)
		if rb == nil || rb.GetDatatype() != uint32(sparkplugpb.DataType_Boolean) || rb.GetBooleanValue() || rb.Alias != nil {
			t.Errorf("Node Control/Rebirth in NBIRTH: %v; want Boolean false without alias", rb)
		}
		aliases := map[uint64]string{}
		for _, m := range b.p.GetMetrics() {
			if m.Alias == nil {
				continue
			}
			if other, dup := aliases[m.GetAlias()]; dup {
				t.Errorf("alias %d used by %s and %s", m.GetAlias(), other, m.GetName())
			}
			aliases[m.GetAlias()] = m.GetName()
		}
		// The will fires when the connection drops without DISCONNECT.
		mqttconn.DropForTest(e.Conn())
		d := r.waitN("/NDEATH/A", 1)[0]
		if d.qos != 1 || d.retained {
			t.Errorf("NDEATH (will) qos %d retained %v, want 1 and false", d.qos, d.retained)
		}
		if got := bdSeqOf(t, d.p); got != 0 {
			t.Errorf("NDEATH bdSeq %d, want 0 (the birth's)", got)
		}
		b2 := r.waitN("/NBIRTH/A", 2)[1]
		if got := bdSeqOf(t, b2.p); got != 1 {
			t.Errorf("NBIRTH after reconnect bdSeq %d, want 1", got)
		}
		// An intentional stop publishes NDEATH with the current bdSeq.
		stopEdge(t, e)
		d2 := r.waitN("/NDEATH/A", 2)[1]
		if got := bdSeqOf(t, d2.p); got != 1 {
			t.Errorf("NDEATH on stop bdSeq %d, want 1", got)
		}
	})
}

// Covers tck-id-payloads-sequence-num-incrementing and
// tck-id-payloads-sequence-num-always-included: seq runs 0..255 and wraps.
func TestTCK_SeqWrap(t *testing.T) {
	url := brokers(t)[0].url
	g := uniq("g")
	r := record(t, url, "spBv1.0/"+g+"/#")
	e := startEdge(t, g, "A", transport(url, mqttconn.V5), edgeOpts{exports: testExports()})
	r.waitN("/NBIRTH/A", 1)
	for i := 1; i <= 300; i++ {
		for !e.Update([]link.Change{change(2, signals.IntValue(int64(i)))}) {
			time.Sleep(time.Millisecond)
		}
		// One change at a time, so each is its own NDATA.
		r.waitN("/NDATA/A", i)
	}
	data := r.waitN("/NDATA/A", 300)
	want := uint64(1)
	for i, d := range data {
		if d.p.Seq == nil || d.p.GetSeq() != want {
			t.Fatalf("NDATA %d: seq %v, want %d", i, d.p.Seq, want)
		}
		if v := d.p.GetMetrics()[0].GetLongValue(); v != uint64(i+1) {
			t.Fatalf("NDATA %d carries %d, want %d", i, v, i+1)
		}
		want = (want + 1) % 256
	}
}

// Covers tck-id-operational-behavior-data-commands-rebirth-action-1/2/3: a
// rebirth request is answered with a full NBIRTH holding the current values,
// the same bdSeq, and seq restarting at 0.
func TestTCK_RebirthOnRequest(t *testing.T) {
	each(t, func(t *testing.T, url string, p mqttconn.Protocol) {
		g := uniq("g")
		r := record(t, url, "spBv1.0/"+g+"/#")
		e := startEdge(t, g, "A", transport(url, p), edgeOpts{exports: testExports()})
		b1 := r.waitN("/NBIRTH/A", 1)[0]
		e.Update([]link.Change{change(0, signals.FloatValue(12.5)), change(1, signals.BoolValue(true))})
		r.waitN("/NDATA/A", 1)
		r.publish(sparkplug.NodeTopic(g, sparkplug.NCMD, "A"), rebirthCmd(), 0)
		b2 := r.waitN("/NBIRTH/A", 2)[1]
		if bdSeqOf(t, b2.p) != bdSeqOf(t, b1.p) {
			t.Errorf("rebirth changed bdSeq %d -> %d", bdSeqOf(t, b1.p), bdSeqOf(t, b2.p))
		}
		if b2.p.GetSeq() != 0 {
			t.Errorf("rebirth seq %d, want 0", b2.p.GetSeq())
		}
		if m := metric(b2.p, "Pump/Speed"); m.GetDoubleValue() != 12.5 || m.GetIsNull() {
			t.Errorf("rebirth Pump/Speed %v, want 12.5", m)
		}
		if m := metric(b2.p, "Pump/Count"); !m.GetIsNull() || m.Value != nil {
			t.Errorf("never-set Pump/Count in rebirth: %v, want is_null and no value", m)
		}
		if e.Stats().Rebirths != 1 {
			t.Errorf("Rebirths = %d, want 1", e.Stats().Rebirths)
		}
	})
}

func rebirthCmd() *sparkplugpb.Payload {
	tr := true
	dt := uint32(sparkplugpb.DataType_Boolean)
	name := sparkplug.RebirthMetric
	return &sparkplugpb.Payload{Metrics: []*sparkplugpb.Payload_Metric{{Name: &name, Datatype: &dt, Value: &sparkplugpb.Payload_Metric_BooleanValue{BooleanValue: tr}}}}
}

func stopEdge(t *testing.T, e *link.EdgeNode) {
	t.Helper()
	ctx, cancel := ctxT()
	defer cancel()
	if err := e.Stop(ctx); err != nil {
		t.Errorf("stop: %v", err)
	}
}
