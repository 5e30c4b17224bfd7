package link_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/metronome-rt/metronome/internal/mqttconn"
	"github.com/metronome-rt/metronome/link"
	"github.com/metronome-rt/metronome/link/sparkplug"
	"github.com/metronome-rt/metronome/signals"
)

// Writes from a host: accepted (the new value follows in data), refused out
// of range, refused not writable, refused by the application, refused when
// the application does not answer within the write timeout; and the
// writer's own timeout when the node never answers.
func TestWrites(t *testing.T) {
	url := brokers(t)[0].url
	g := uniq("g")
	var ep atomic.Pointer[link.EdgeNode]
	write := func(ctx context.Context, i int, v signals.Value) error {
		f, _ := v.Float()
		switch {
		case f == 13:
			return errors.New("13 is unlucky")
		case f == 99:
			<-ctx.Done() // the application never gets to it
			return ctx.Err()
		}
		// Applied at the next tick: the value comes back through Update.
		go ep.Load().Update([]link.Change{change(i, v)})
		return nil
	}
	e := startEdge(t, g, "A", transport(url, mqttconn.V5), edgeOpts{exports: testExports(), write: write, wt: 200 * time.Millisecond})
	ep.Store(e)
	h, s := startHost(t, link.HostConfig{Group: g, Transport: transport(url, mqttconn.V311), Wants: []link.Want{{Node: "A", Metric: "Pump/Speed", Kind: signals.Float}}})
	s.waitValue(t, 0, signals.Value{}, signals.Initial)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	if err := h.Write(ctx, "A", "Pump/Speed", signals.FloatValue(1200)); err != nil {
		t.Fatalf("accepted write: %v", err)
	}
	s.waitValue(t, 0, signals.FloatValue(1200), signals.Good)

	refused := func(metric string, v signals.Value, reason string) {
		t.Helper()
		err := h.Write(ctx, "A", metric, v)
		var wr *link.WriteRefused
		if !errors.As(err, &wr) || !strings.Contains(wr.Reason, reason) {
			t.Errorf("write %s = %v: %v, want refused with %q", metric, v, err, reason)
		}
	}
	refused("Pump/Speed", signals.FloatValue(5000), "outside the range")
	refused("Pump/Running", signals.BoolValue(true), "not writable")
	refused("Pump/Speed", signals.FloatValue(13), "13 is unlucky")
	refused("Pump/Speed", signals.FloatValue(99), "not applied within 200ms")
	refused("Pump/Speed", signals.IntValue(5), "is int") // checked against the birth before sending
	if st := e.Stats(); st.Writes != 1 || st.Refusal != 4 {
		t.Errorf("edge write counters %+v, want 1 accepted, 4 refused", st)
	}
	if d, _ := s.get(0); !d.Value.Equal(signals.FloatValue(1200)) {
		t.Errorf("a refused write changed the value: %+v", d)
	}

	// A node that never answers: the writer times out.
	r := record(t, url, "spBv1.0/"+g+"/#")
	r.publish(sparkplug.NodeTopic(g, sparkplug.NBIRTH, "Mute"), fakeBirth(0, 1), 0)
	eventually(t, func() bool { return h.Online("Mute") }, "host saw Mute's birth")
	tctx, tcancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer tcancel()
	err := h.Write(tctx, "Mute", "x", signals.IntValue(2))
	if !errors.Is(err, link.ErrWriteTimeout) {
		t.Errorf("write to a mute node: %v, want ErrWriteTimeout", err)
	}
	if err := h.Write(ctx, "Nobody", "x", signals.IntValue(2)); !errors.Is(err, link.ErrNodeOffline) {
		t.Errorf("write to an unknown node: %v, want ErrNodeOffline", err)
	}
}

// A plain Sparkplug host (no writeId) writing by alias gets the value
// applied, and sees the result as a readable String metric.
func TestWriteFromPlainHost(t *testing.T) {
	url := brokers(t)[0].url
	g := uniq("g")
	var ep atomic.Pointer[link.EdgeNode]
	ep.Store(startEdge(t, g, "A", transport(url, mqttconn.V5), edgeOpts{exports: testExports(), write: func(_ context.Context, i int, v signals.Value) error {
		go ep.Load().Update([]link.Change{change(i, v)})
		return nil
	}}))
	r := record(t, url, "spBv1.0/"+g+"/#")
	r.publish(sparkplug.NodeTopic(g, sparkplug.NCMD, "A"), rebirthCmd(), 0)
	b := r.waitN("/NBIRTH/A", 1)[0]
	alias := metric(b.p, "Pump/Speed").GetAlias()
	cmd := rebirthCmd()
	cmd.Metrics[0].Name = nil
	cmd.Metrics[0].Alias = &alias
	dt := uint32(10)
	cmd.Metrics[0].Datatype = &dt
	cmd.Metrics[0].Value = nil
	setDouble(cmd.Metrics[0], 42)
	r.publish(sparkplug.NodeTopic(g, sparkplug.NCMD, "A"), cmd, 0)
	eventually(t, func() bool {
		for _, d := range r.all("/NDATA/A") {
			for _, m := range d.p.GetMetrics() {
				if strings.Contains(m.GetStringValue(), "Pump/Speed = 42: accepted") {
					return true
				}
			}
		}
		return false
	}, "write result text in NDATA")
	// The new value comes in an NDATA, or in an NBIRTH: the birth the
	// recorder waited for may have been the node's first, and the answer
	// to the rebirth request, coming after the write, then carries it.
	eventually(t, func() bool {
		for _, d := range r.all("/A") {
			if !strings.Contains(d.topic, "/NDATA/") && !strings.Contains(d.topic, "/NBIRTH/") {
				continue
			}
			for _, m := range d.p.GetMetrics() {
				if m.GetAlias() == alias && m.GetDoubleValue() == 42 {
					return true
				}
			}
		}
		return false
	}, "new value in NDATA or a new NBIRTH")
	_ = fmt.Sprint
}
