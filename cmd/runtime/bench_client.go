package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	goruntime "runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/metronome-rt/metronome/components/mqttclient"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/scheduler"
	"github.com/metronome-rt/metronome/signals"
)

const benchClientUsage = `usage: runtime bench client [--json] [--messages N] [--rounds R]

Measures how many signal updates per second Metronome's MQTTClient publishes
with no loss, beside raw autopaho publishing the same messages in the same
run, through an in-process mochi broker on a free loopback port.

  metronome  a counter component routed into a publish topic of an
             MQTTClient (on change, so one message per tick); the ticks run
             on the virtual clock as fast as they can, and the client's
             sender publishes one message at a time, in order, each QoS 1
             message waiting for its PUBACK
  autopaho   one goroutine calling ConnectionManager.Publish for each
             message in turn, as an application would without Metronome

For QoS 0 and QoS 1: msgs_per_s = N / (time from the first update to the
last message received by the broker's subscriber); lost = messages that
never arrived or arrived out of order; allocs_per_msg = heap allocations in
the whole process during the run divided by N (the broker's share is in
both rows alike). Each run is preceded by an unmeasured warm-up of N
messages on the same connection, so buffers sized on first use are not
counted.

  --messages N   messages per run (default 20000)
  --rounds R     repeat R times, alternating which client goes first, and
                 report each figure's median (default 3); lost is summed
  --json         print one JSON object instead of the table

A run that loses messages exits 1.
`

// clientBenchResult is one row of the report.
type clientBenchResult struct {
	benchResult
	AllocsPerMsg float64 `json:"allocs_per_msg"`
}

// benchMQTTClient runs `runtime bench client`; it returns the exit code.
func benchMQTTClient(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("runtime bench client", flag.ContinueOnError)
	br := addBenchRounds(fs)
	asJSON, n, rounds := br.json, br.messages, br.rounds
	code, usageErr := benchArgs(fs, args, benchClientUsage, stdout, stderr)
	if code >= 0 {
		return code
	}
	if msg := br.check(); msg != "" {
		return usageErr(msg)
	}
	b, err := startClientBenchBroker()
	if err != nil {
		fmt.Fprintf(stderr, "runtime bench client: broker: %v\n", err)
		return 1
	}
	defer b.close()
	report := benchReport[clientBenchResult]{Bench: "client"}
	lost := false
	for _, qos := range []int{0, 1} {
		runs := map[string][]clientBenchResult{}
		names := []string{"metronome", "autopaho"}
		for round := 0; round < *rounds; round++ {
			for _, i := range roundOrder(round, len(names)) {
				name := names[i]
				topic := fmt.Sprintf("bench/%s/%d/%d", name, qos, round)
				run := benchMetronomeClient
				if name == "autopaho" {
					run = benchRawAutopaho
				}
				r, err := run(b, topic, qos, *n)
				if err != nil {
					fmt.Fprintf(stderr, "runtime bench client: %s QoS %d: %v\n", name, qos, err)
					return 1
				}
				runs[name] = append(runs[name], r)
			}
		}
		for _, name := range names {
			r := medianClientResult(runs[name])
			r.Name, r.QoS = name, qos
			lost = lost || r.Lost > 0
			report.Results = append(report.Results, r)
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		if err := enc.Encode(report); err != nil {
			fmt.Fprintf(stderr, "runtime bench client: %v\n", err)
			return 1
		}
	} else {
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "client\tqos\tmsgs/s\tlost\tallocs/msg\t\n")
		for _, r := range report.Results {
			fmt.Fprintf(tw, "%s\t%d\t%.0f\t%d\t%.1f\t\n", r.Name, r.QoS, r.MsgsPerS, r.Lost, r.AllocsPerMsg)
		}
		tw.Flush()
	}
	if lost {
		fmt.Fprintln(stderr, "runtime bench client: messages were lost")
		return 1
	}
	return 0
}

// medianClientResult returns each figure's median over rs and the total loss.
func medianClientResult(rs []clientBenchResult) clientBenchResult {
	return clientBenchResult{
		benchResult:  combineRounds(rs, func(r clientBenchResult) benchResult { return r.benchResult }),
		AllocsPerMsg: median(rs, func(r clientBenchResult) float64 { return r.AllocsPerMsg }),
	}
}

// clientBenchBroker is an in-process mochi broker whose inline subscriber
// checks each run's sequence.
type clientBenchBroker struct {
	srv  *mqtt.Server
	addr string

	mu   sync.Mutex
	runs map[string]*clientBenchSeq
}

// clientBenchSeq tracks one run's messages: payloads are 1..N in order.
type clientBenchSeq struct {
	next     int64 // the payload expected next
	received int
	bad      int // out of order, repeated or undecodable
	done     chan struct{}
	n        int
	last     time.Time
}

func startClientBenchBroker() (*clientBenchBroker, error) {
	b := &clientBenchBroker{runs: map[string]*clientBenchSeq{}}
	srv := mqtt.New(&mqtt.Options{InlineClient: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := srv.AddHook(new(auth.AllowHook), nil); err != nil {
		return nil, err
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "bench", Address: "127.0.0.1:0"})
	if err := srv.AddListener(tcp); err != nil {
		return nil, err
	}
	b.addr = tcp.Address()
	if err := srv.Subscribe("bench/#", 1, b.onMessage); err != nil {
		return nil, err
	}
	if err := srv.Serve(); err != nil {
		return nil, err
	}
	b.srv = srv
	return b, nil
}

func (b *clientBenchBroker) onMessage(_ *mqtt.Client, _ packets.Subscription, pk packets.Packet) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.runs[pk.TopicName]
	if s == nil {
		return
	}
	v, err := strconv.ParseInt(string(pk.Payload), 10, 64)
	if err != nil || v != s.next {
		s.bad++
	}
	if err == nil && v >= s.next {
		s.next = v + 1
	}
	s.received++
	if s.received == s.n {
		s.last = time.Now()
		close(s.done)
	}
}

// expect starts tracking topic: n messages, payloads from first on.
func (b *clientBenchBroker) expect(topic string, n int, first int64) *clientBenchSeq {
	s := &clientBenchSeq{next: first, n: n, done: make(chan struct{})}
	b.mu.Lock()
	b.runs[topic] = s
	b.mu.Unlock()
	return s
}

// result waits for a run to complete (or time out) and reports it.
func (b *clientBenchBroker) result(s *clientBenchSeq, start time.Time, mallocs0 uint64) clientBenchResult {
	select {
	case <-s.done:
	case <-time.After(60 * time.Second):
	}
	var ms goruntime.MemStats
	goruntime.ReadMemStats(&ms)
	b.mu.Lock()
	defer b.mu.Unlock()
	var r clientBenchResult
	r.Lost = s.n - s.received + s.bad
	end := s.last
	if end.IsZero() {
		end = time.Now()
	}
	if s.received > 0 {
		r.MsgsPerS = float64(s.received) / end.Sub(start).Seconds()
	}
	r.AllocsPerMsg = float64(ms.Mallocs-mallocs0) / float64(s.n)
	return r
}

func (b *clientBenchBroker) close() {
	done := make(chan struct{})
	go func() { b.srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
}

func mallocs() uint64 {
	goruntime.GC()
	var ms goruntime.MemStats
	goruntime.ReadMemStats(&ms)
	return ms.Mallocs
}

// clientBenchCounter outputs 1, 2, 3, ... one per tick once enabled, so
// every tick changes the routed publish topic.
type clientBenchCounter struct {
	out *signals.Signal[int64]
	on  bool
	n   int64
}

func (c *clientBenchCounter) Process(runtime.Tick) {
	if c.on {
		c.n++
		c.out.Set(c.n)
	}
}

var clientBenchCounterType = runtime.Define(runtime.Spec[struct{}]{
	Name: "bench.Counter",
	Build: func(b *runtime.Builder, _ *struct{}) (runtime.Component, error) {
		return &clientBenchCounter{out: runtime.Output[int64](b, "Out")}, nil
	},
})

func benchMetronomeClient(b *clientBenchBroker, topic string, qos, n int) (clientBenchResult, error) {
	reg, err := runtime.NewRegistry(mqttclient.Type, clientBenchCounterType)
	if err != nil {
		return clientBenchResult{}, err
	}
	app, err := runtime.LoadBytes("bench.yaml", []byte(fmt.Sprintf(`application: Bench
components:
  - name: Count
    type: bench.Counter
    fs: 1000
  - name: Mqtt
    type: MQTTClient
    fs: 1000
    config:
      servers: [mqtt://%s]
      client_id: bench-metronome-%d
      queue: {limit: %d, hand_off: %d}
      publish: [{name: Seq, topic: %s, type: int, qos: %d, on_connect: false}]
    inputs: {Seq: Bench.Count.Out}
`, b.addr, qos, n, n, topic, qos)), reg, runtime.LoadOptions{Scheduler: scheduler.Options{Virtual: true}})
	if err != nil {
		return clientBenchResult{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		return clientBenchResult{}, err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		app.Stop(ctx)
	}()
	period := time.Millisecond
	connected, _ := app.Signal("Bench.Mqtt.Connected")
	for deadline := time.Now().Add(10 * time.Second); ; {
		app.Advance(period)
		if c, _ := connected.Value().Bool(); c {
			break
		}
		if time.Now().After(deadline) {
			return clientBenchResult{}, errors.New("not connected in 10 s")
		}
		time.Sleep(time.Millisecond)
	}
	node, _ := app.Find("Bench.Count")
	counter := node.Component().(*clientBenchCounter)
	var r clientBenchResult
	for pass := 0; pass < 2; pass++ { // warm-up, then measured
		seq := b.expect(topic, n, int64(pass*n+1))
		m0 := mallocs()
		start := time.Now()
		counter.on = true
		for i := 0; i < n; i++ {
			app.Advance(period)
		}
		counter.on = false
		r = b.result(seq, start, m0)
	}
	return r, nil
}

func benchRawAutopaho(b *clientBenchBroker, topic string, qos, n int) (clientBenchResult, error) {
	u, _ := url.Parse("mqtt://" + b.addr)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var up atomic.Bool
	cm, err := autopaho.NewConnection(ctx, autopaho.ClientConfig{
		ServerUrls:     []*url.URL{u},
		KeepAlive:      30,
		OnConnectionUp: func(*autopaho.ConnectionManager, *paho.Connack) { up.Store(true) },
		ClientConfig:   paho.ClientConfig{ClientID: fmt.Sprintf("bench-autopaho-%d", qos)},
	})
	if err != nil {
		return clientBenchResult{}, err
	}
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := cm.AwaitConnection(wctx); err != nil {
		return clientBenchResult{}, fmt.Errorf("not connected: %w", err)
	}
	var r clientBenchResult
	for pass := 0; pass < 2; pass++ { // warm-up, then measured
		seq := b.expect(topic, n, int64(pass*n+1))
		m0 := mallocs()
		start := time.Now()
		for i := pass*n + 1; i <= pass*n+n; i++ {
			if _, err := cm.Publish(ctx, &paho.Publish{Topic: topic, QoS: byte(qos), Payload: strconv.AppendInt(nil, int64(i), 10)}); err != nil {
				return clientBenchResult{}, err
			}
		}
		r = b.result(seq, start, m0)
	}
	dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer dcancel()
	cm.Disconnect(dctx)
	return r, nil
}
