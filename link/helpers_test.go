package link_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/metronome-rt/metronome/internal/mqttconn"
	"github.com/metronome-rt/metronome/internal/mqtttest"
	"github.com/metronome-rt/metronome/link"
	"github.com/metronome-rt/metronome/link/sparkplug"
	"github.com/metronome-rt/metronome/link/sparkplug/sparkplugpb"
	"github.com/metronome-rt/metronome/signals"
)

// wait bounds every wait in these tests.
const wait = 15 * time.Second

var idN atomic.Uint64

func uniq(s string) string { return fmt.Sprintf("%s%d", s, idN.Add(1)) }

// broker is where a test runs: the embedded broker or mosquitto.
type broker struct {
	name  string
	url   string
	mochi *mqtttest.Mochi
}

func brokers(t *testing.T) []broker {
	m := mqtttest.StartMochi(t)
	bs := []broker{{name: "mochi", url: m.URL(), mochi: m}}
	if addr := mosquittoOrSkip(t); addr != "" {
		bs = append(bs, broker{name: "mosquitto", url: "mqtt://" + addr})
	}
	return bs
}

// mosquittoOrSkip starts mosquitto; locally without it the mosquitto cases
// are left out (in CI, mqtttest fails the test).
func mosquittoOrSkip(t *testing.T) string {
	if !mqtttest.InCI() {
		if _, err := lookPath("mosquitto"); err != nil {
			t.Log("mosquitto not installed: its cases are skipped")
			return ""
		}
	}
	return mqtttest.Mosquitto(t, "")
}

func transport(url string, p mqttconn.Protocol) mqttconn.Options {
	return mqttconn.Options{Protocol: p, Servers: []string{url}, KeepAlive: 2 * time.Second,
		RetryMin: 50 * time.Millisecond, RetryMax: 500 * time.Millisecond, ConnectTimeout: 3 * time.Second}
}

// rec is one message a recorder saw.
type rec struct {
	topic    string
	qos      byte
	retained bool
	p        *sparkplugpb.Payload // nil for STATE or garbage
	raw      []byte
}

// recorder subscribes to a filter and keeps every message in order.
type recorder struct {
	t    *testing.T
	conn mqttconn.Conn
	mu   sync.Mutex
	msgs []rec
}

func record(t *testing.T, url string, filters ...string) *recorder {
	t.Helper()
	o := transport(url, mqttconn.V5)
	o.ClientID = uniq("rec")
	o.CleanStart = true
	up := make(chan struct{}, 1)
	o.OnUp = func() {
		select {
		case up <- struct{}{}:
		default:
		}
	}
	c, err := mqttconn.New(o)
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{t: t, conn: c}
	for _, f := range filters {
		if err := c.Subscribe(f, 1, r.add); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.Stop(ctx)
	})
	select {
	case <-up:
	case <-time.After(wait):
		t.Fatal("recorder did not connect")
	}
	return r
}

func (r *recorder) add(m *mqttconn.Message) {
	x := rec{topic: m.Topic, qos: m.QoS, retained: m.Retained, raw: m.Payload}
	if !strings.Contains(m.Topic, "/STATE/") {
		var p sparkplugpb.Payload
		if proto.Unmarshal(m.Payload, &p) == nil {
			x.p = &p
		}
	}
	r.mu.Lock()
	r.msgs = append(r.msgs, x)
	r.mu.Unlock()
}

// all returns the messages on topics ending in suffix (or all for "").
func (r *recorder) all(suffix string) []rec {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []rec
	for _, m := range r.msgs {
		if suffix == "" || strings.Contains(m.topic, suffix) {
			out = append(out, m)
		}
	}
	return out
}

// waitN waits until at least n messages contain part in their topic and
// returns them.
func (r *recorder) waitN(part string, n int) []rec {
	r.t.Helper()
	var got []rec
	eventually(r.t, func() bool { got = r.all(part); return len(got) >= n }, "%d messages on *%s* (have %d)", n, part, func() int { return len(r.all(part)) })
	return got
}

func (r *recorder) publish(topic string, p *sparkplugpb.Payload, qos byte) {
	r.t.Helper()
	b, err := proto.Marshal(p)
	if err != nil {
		r.t.Fatal(err)
	}
	r.publishRaw(topic, b, qos)
}

func (r *recorder) publishRaw(topic string, b []byte, qos byte) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.conn.Publish(ctx, topic, b, qos, false); err != nil {
		r.t.Fatal(err)
	}
}

// eventually polls cond every 5 ms until it holds or wait passes.
func eventually(t *testing.T, cond func() bool, format string, args ...any) {
	t.Helper()
	eventuallyFor(t, wait, cond, format, args...)
}

func eventuallyFor(t *testing.T, wait time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			for i, a := range args {
				if f, ok := a.(func() int); ok {
					args[i] = f()
				}
			}
			t.Fatalf("timed out after %v waiting for "+format, append([]any{wait}, args...)...)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func metric(p *sparkplugpb.Payload, name string) *sparkplugpb.Payload_Metric {
	for _, m := range p.GetMetrics() {
		if m.GetName() == name {
			return m
		}
	}
	return nil
}

func bdSeqOf(t *testing.T, p *sparkplugpb.Payload) uint64 {
	t.Helper()
	m := metric(p, "bdSeq")
	if m == nil {
		t.Fatalf("no bdSeq metric in %v", p)
	}
	if m.GetDatatype() != uint32(sparkplugpb.DataType_Int64) {
		t.Fatalf("bdSeq datatype %d, want Int64", m.GetDatatype())
	}
	return m.GetLongValue()
}

// sink collects deliveries per want.
type sink struct {
	mu   sync.Mutex
	last map[int]link.Delivery
	all  []link.Delivery
}

func newSink() *sink { return &sink{last: map[int]link.Delivery{}} }

func (s *sink) put(d link.Delivery) {
	s.mu.Lock()
	s.last[d.Want] = d
	s.all = append(s.all, d)
	s.mu.Unlock()
}

func (s *sink) get(i int) (link.Delivery, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.last[i]
	return d, ok
}

// waitValue waits until want i's last delivery has quality q (and value v
// when v is valid).
func (s *sink) waitValue(t *testing.T, i int, v signals.Value, q signals.Quality) link.Delivery {
	t.Helper()
	var d link.Delivery
	eventually(t, func() bool {
		var ok bool
		d, ok = s.get(i)
		return ok && d.Quality == q && (v.Kind() == signals.Invalid || d.Value.Equal(v))
	}, "want %d = %v (%s); last %v", i, v, q, func() int { d, _ := s.get(i); t.Logf("last delivery: %+v", d); return 0 })
	return d
}

type edgeOpts struct {
	exports []link.Export
	write   link.WriteFunc
	wt      time.Duration
}

func startEdge(t *testing.T, group, node string, tr mqttconn.Options, o edgeOpts) *link.EdgeNode {
	t.Helper()
	if tr.ClientID == "" {
		tr.ClientID = uniq("edge")
	}
	e, err := link.NewEdgeNode(link.EdgeConfig{Group: group, Node: node, Exports: o.exports, Transport: tr, Write: o.write, WriteTimeout: o.wt})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e.Stop(ctx)
	})
	return e
}

func startHost(t *testing.T, cfg link.HostConfig) (*link.Host, *sink) {
	t.Helper()
	s := newSink()
	cfg.Sink = s.put
	if cfg.Transport.ClientID == "" {
		cfg.Transport.ClientID = uniq("host")
	}
	h, err := link.NewHost(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.Stop(ctx)
	})
	return h, s
}

func change(i int, v signals.Value) link.Change {
	return link.Change{Index: i, Sample: sparkplug.Sample{Value: v, Quality: signals.Good, Stamp: time.Now().UnixNano()}}
}

func lookPath(name string) (string, error) {
	for _, d := range []string{"/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"} {
		p := d + "/" + name
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return exec.LookPath(name)
}

func ctxT() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 5*time.Second)
}

func setDouble(m *sparkplugpb.Payload_Metric, f float64) {
	m.Value = &sparkplugpb.Payload_Metric_DoubleValue{DoubleValue: f}
}
