package link_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/url"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"

	"github.com/metronome-rt/metronome/internal/mqttconn"
	"github.com/metronome-rt/metronome/internal/mqtttest"
	"github.com/metronome-rt/metronome/link"
	"github.com/metronome-rt/metronome/link/sparkplug"
	"github.com/metronome-rt/metronome/signals"
)

// benchSamples is how many changes each latency run sends, at 1 kHz.
const benchSamples = 5000

type pct struct{ p50, p99, p999, max time.Duration }

func percentiles(d []time.Duration) pct {
	slices.Sort(d)
	at := func(q float64) time.Duration { return d[min(len(d)-1, int(q*float64(len(d))))] }
	return pct{at(0.5), at(0.99), at(0.999), d[len(d)-1]}
}

// BenchmarkLinkLatency measures, through the embedded broker, the time from
// handing a changed value to the edge node (Update) to its delivery at the
// host's sink, at 1 kHz, beside the raw floor measured in the same run: a
// bare autopaho publish (QoS 0) to a bare autopaho subscriber over the same
// broker. Run: go test ./link -run '^$' -bench LinkLatency -benchtime 1x
func BenchmarkLinkLatency(b *testing.B) {
	m := mqtttest.StartMochi(b)
	for i := 0; i < b.N; i++ {
		raw := rawFloor(b, m.URL())
		eng := engineLatency(b, m.URL())
		ratio := float64(eng.p99) / float64(raw.p99)
		b.Logf("%d changes at 1 kHz through mochi:\n  raw floor (paho -> paho)   p50 %v  p99 %v  p99.9 %v  max %v\n  engine (Update -> sink)    p50 %v  p99 %v  p99.9 %v  max %v\n  engine/raw p99 %.2fx (goal < 1.5x), engine p99 goal < 500µs",
			benchSamples, raw.p50, raw.p99, raw.p999, raw.max, eng.p50, eng.p99, eng.p999, eng.max, ratio)
		b.ReportMetric(float64(raw.p99.Microseconds()), "raw-p99-µs")
		b.ReportMetric(float64(eng.p50.Microseconds()), "p50-µs")
		b.ReportMetric(float64(eng.p99.Microseconds()), "p99-µs")
		b.ReportMetric(float64(eng.p999.Microseconds()), "p99.9-µs")
		b.ReportMetric(ratio, "p99-ratio")
	}
}

func rawFloor(b *testing.B, broker string) pct {
	u, _ := url.Parse(broker)
	lat := make([]time.Duration, 0, benchSamples)
	var got atomic.Int64
	done := make(chan struct{})
	up := make(chan struct{}, 2)
	mk := func(id string, recv func(paho.PublishReceived) (bool, error)) *autopaho.ConnectionManager {
		cfg := autopaho.ClientConfig{ServerUrls: []*url.URL{u}, KeepAlive: 30, CleanStartOnInitialConnection: true,
			OnConnectionUp: func(*autopaho.ConnectionManager, *paho.Connack) { up <- struct{}{} },
			ClientConfig:   paho.ClientConfig{ClientID: id}}
		if recv != nil {
			cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){recv}
		}
		cm, err := autopaho.NewConnection(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		return cm
	}
	sub := mk(uniq("rawsub"), func(pr paho.PublishReceived) (bool, error) {
		sent := int64(binary.BigEndian.Uint64(pr.Packet.Payload))
		lat = append(lat, time.Duration(time.Now().UnixNano()-sent))
		if got.Add(1) == benchSamples {
			close(done)
		}
		return true, nil
	})
	pub := mk(uniq("rawpub"), nil)
	<-up
	<-up
	ctx := context.Background()
	if _, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "raw/x", QoS: 0}}}); err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, 40) // about an NDATA's size
	tick := time.NewTicker(time.Millisecond)
	for i := 0; i < benchSamples; i++ {
		<-tick.C
		binary.BigEndian.PutUint64(payload, uint64(time.Now().UnixNano()))
		if _, err := pub.Publish(ctx, &paho.Publish{Topic: "raw/x", Payload: payload}); err != nil {
			b.Fatal(err)
		}
	}
	tick.Stop()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		b.Fatalf("raw: %d of %d received", got.Load(), benchSamples)
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	pub.Disconnect(dctx)
	sub.Disconnect(dctx)
	return percentiles(lat)
}

func engineLatency(b *testing.B, broker string) pct {
	g := uniq("bench")
	sent := make([]int64, benchSamples+1)
	lat := make([]time.Duration, 0, benchSamples)
	var got atomic.Int64
	next, coalesced := int64(1), 0
	done := make(chan struct{})
	tr := mqttconn.Options{Servers: []string{broker}, KeepAlive: 30 * time.Second, RetryMin: 50 * time.Millisecond}
	tr.ClientID = uniq("edge")
	e, err := link.NewEdgeNode(link.EdgeConfig{Group: g, Node: "A", Transport: tr, Exports: []link.Export{{Name: "Comp/Value", Kind: signals.Int}}})
	if err != nil {
		b.Fatal(err)
	}
	htr := tr
	htr.ClientID = uniq("host")
	ready := make(chan struct{})
	var readyOnce atomic.Bool
	h, err := link.NewHost(link.HostConfig{Group: g, Transport: htr, Wants: []link.Want{{Node: "A", Metric: "Comp/Value", Kind: signals.Int}},
		Sink: func(d link.Delivery) {
			if d.Quality != signals.Good {
				if d.Quality == signals.Initial && readyOnce.CompareAndSwap(false, true) {
					close(ready)
				}
				return
			}
			// A value delivers itself and any earlier one the edge node
			// coalesced into it (it publishes the latest value when it falls
			// behind): each change counts from its own hand-over.
			v, _ := d.Value.Int()
			now := time.Now().UnixNano()
			for ; next <= v && next <= benchSamples; next++ {
				lat = append(lat, time.Duration(now-sent[next]))
				if next < v {
					coalesced++
				}
			}
			if next > benchSamples && got.Add(1) == 1 {
				close(done)
			}
		}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	h.Start(ctx)
	e.Start(ctx)
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		b.Fatal("host never saw the birth")
	}
	batch := make([]link.Change, 1)
	tick := time.NewTicker(time.Millisecond)
	for i := 1; i <= benchSamples; i++ {
		<-tick.C
		now := time.Now().UnixNano()
		sent[i] = now
		batch[0] = link.Change{Index: 0, Sample: sparkplug.Sample{Value: signals.IntValue(int64(i)), Quality: signals.Good, Stamp: now}}
		if !e.Update(batch) {
			b.Fatal("hand-off full")
		}
	}
	tick.Stop()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		b.Fatalf("engine: last value not delivered (host %+v)", h.Stats())
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	e.Stop(sctx)
	h.Stop(sctx)
	if coalesced > 0 {
		b.Logf("engine: %d of %d changes were coalesced into a later one", coalesced, benchSamples)
	}
	return percentiles(lat)
}

// BenchmarkBirthStorm: N edge nodes with M exported metrics each and one
// host following every metric; the broker restarts; the figure is the time
// from the broker accepting connections again until every followed value is
// good again. Run: go test ./link -run '^$' -bench BirthStorm -benchtime 1x
func BenchmarkBirthStorm(b *testing.B) {
	for _, size := range [][2]int{{10, 100}, {50, 100}, {10, 1000}, {50, 1000}} {
		b.Run(fmt.Sprintf("N%d_M%d", size[0], size[1]), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				d, first := birthStorm(b, size[0], size[1])
				b.Logf("N=%d edge nodes x M=%d metrics: first all-good %v; after a broker restart all %d values good again in %v",
					size[0], size[1], first, size[0]*size[1], d)
				b.ReportMetric(float64(d.Milliseconds()), "restart-to-good-ms")
			}
		})
	}
}

func birthStorm(b *testing.B, n, m int) (time.Duration, time.Duration) {
	mo := mqtttest.StartMochi(b)
	g := uniq("storm")
	tr := mqttconn.Options{Servers: []string{mo.URL()}, KeepAlive: 5 * time.Second, RetryMin: 100 * time.Millisecond, RetryMax: time.Second}
	var wants []link.Want
	exports := make([]link.Export, m)
	for j := range exports {
		exports[j] = link.Export{Name: fmt.Sprintf("Comp%d/Out", j), Kind: signals.Float}
	}
	for k := 0; k < n; k++ {
		for j := 0; j < m; j++ {
			wants = append(wants, link.Want{Node: fmt.Sprintf("E%d", k), Metric: exports[j].Name, Kind: signals.Float})
		}
	}
	good := make([]atomic.Bool, len(wants))
	var nGood atomic.Int64
	htr := tr
	htr.ClientID = uniq("host")
	h, err := link.NewHost(link.HostConfig{Group: g, Transport: htr, Wants: wants, Sink: func(d link.Delivery) {
		ok := d.Quality == signals.Good
		if good[d.Want].Swap(ok) != ok {
			if ok {
				nGood.Add(1)
			} else {
				nGood.Add(-1)
			}
		}
	}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	start := time.Now()
	h.Start(ctx)
	var edges []*link.EdgeNode
	batch := make([]link.Change, m)
	for k := 0; k < n; k++ {
		etr := tr
		etr.ClientID = uniq("edge")
		e, err := link.NewEdgeNode(link.EdgeConfig{Group: g, Node: fmt.Sprintf("E%d", k), Transport: etr, Exports: exports})
		if err != nil {
			b.Fatal(err)
		}
		for j := range batch {
			batch[j] = link.Change{Index: j, Sample: sparkplug.Sample{Value: signals.FloatValue(float64(j)), Quality: signals.Good, Stamp: time.Now().UnixNano()}}
		}
		e.Update(batch)
		e.Start(ctx)
		edges = append(edges, e)
	}
	waitAll := func(what string) {
		deadline := time.Now().Add(120 * time.Second)
		for nGood.Load() != int64(len(wants)) {
			if time.Now().After(deadline) {
				b.Fatalf("%s: %d of %d values good after 120s (host %+v)", what, nGood.Load(), len(wants), h.Stats())
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitAll("start")
	first := time.Since(start)
	mo.Stop()
	deadline := time.Now().Add(30 * time.Second)
	for nGood.Load() != 0 {
		if time.Now().After(deadline) {
			b.Fatalf("broker down: %d values still good", nGood.Load())
		}
		time.Sleep(time.Millisecond)
	}
	mo.Start()
	t0 := time.Now()
	waitAll("restart")
	d := time.Since(t0)
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for _, e := range edges {
		e.Stop(sctx)
	}
	h.Stop(sctx)
	return d, first
}
