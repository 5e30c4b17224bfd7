package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	goruntime "runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	"github.com/rs/zerolog"

	"github.com/metronome-rt/metronome/components/all"
	"github.com/metronome-rt/metronome/components/mqttbroker"
	"github.com/metronome-rt/metronome/link/system"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

const benchLinkUsage = `usage: runtime bench link [--json] [--samples N] [--rounds R] [--storm NxM,...] [--cpuprofile FILE]

Measures the system of runtimes through Metronome's embedded MQTT broker,
with everything in this process:

  latency  runtime A changes a signal 1000 times a second (a component at
           fs 1000); runtime B routes it from A (a route A.Src.Out). The
           figure is the time from the change, in A's Process, to the
           sample's arrival in B's remote-input mailbox: the transport
           (tap, edge node, Sparkplug encoding, broker, host, decoding),
           not B's wait for its next tick. Beside it, in the same run, the
           raw floor: a bare paho.golang publish to a bare paho.golang
           subscriber over the same broker, 1000 a second, with a payload
           the size of A's data messages; measured alone, and again while
           A and B run (A's 1 kHz rate group, with its precise timer, shares
           the process and the CPUs with every message). p50, p99, p99.9
           and max, in µs. Goals: link p99 under 500 µs and within 1.5x of
           the floor's.
  storm    N applications with M exported doubles each, and one
           application routing from every one of them (N*M remote
           routes); the broker restarts; the figure is the time from the
           broker accepting connections again until every routed value is
           good again.

  --samples N     changes measured per latency round (default 5000)
  --rounds R      latency rounds, raw and link alternating; each figure is
                  the median over the rounds (default 3)
  --storm LIST    birth storm sizes as NxM, comma-separated (default
                  10x100,50x1000; "none" skips the storm)
  --cpuprofile F  write a CPU profile of the latency rounds to F
  --json          print one JSON object instead of the table

This machine class is shared: compare the link with the floor of the same
run, not with another run.
`

type linkPct struct {
	P50us  float64 `json:"p50_us"`
	P99us  float64 `json:"p99_us"`
	P999us float64 `json:"p999_us"`
	MaxUs  float64 `json:"max_us"`
	// AllocsPerMsg counts the process's heap allocations (both sides and
	// the broker) per change, which drive the garbage collector.
	AllocsPerMsg float64 `json:"allocs_per_msg"`
}

type linkStorm struct {
	Apps      int     `json:"apps"`
	Metrics   int     `json:"metrics_per_app"`
	FirstMs   float64 `json:"first_all_good_ms"`
	RestartMs float64 `json:"restart_to_all_good_ms"`
}

type linkReport struct {
	Bench     string  `json:"bench"`
	Samples   int     `json:"samples"`
	RateHz    int     `json:"rate_hz"`
	Rounds    int     `json:"rounds"`
	Raw       linkPct `json:"raw"`
	RawBeside linkPct `json:"raw_beside_apps"`
	Link      linkPct `json:"link"`
	Coalesced int     `json:"coalesced"`
	RatioP99  float64 `json:"p99_ratio"`
	// RatioBesideP99 compares with the floor measured while A and B run.
	RatioBesideP99 float64     `json:"p99_ratio_beside_apps"`
	GOMAXPROCS     int         `json:"gomaxprocs"`
	Storm          []linkStorm `json:"storm,omitempty"`
}

func benchLink(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("runtime bench link", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "")
	samples := fs.Int("samples", 5000, "")
	rounds := fs.Int("rounds", 3, "")
	storm := fs.String("storm", "10x100,50x1000", "")
	prof := fs.String("cpuprofile", "", "")
	code, usageErr := benchArgs(fs, args, benchLinkUsage, stdout, stderr)
	if code >= 0 {
		return code
	}
	if *samples < 100 || *samples > 1_000_000 {
		return usageErr(fmt.Sprintf("--samples must be 100..1000000, got %d", *samples))
	}
	if *rounds < 1 || *rounds > 50 {
		return usageErr(fmt.Sprintf("--rounds must be 1..50, got %d", *rounds))
	}
	sizes, err := parseStorm(*storm)
	if err != nil {
		return usageErr(err.Error())
	}
	b, err := startLinkBroker(0)
	if err != nil {
		fmt.Fprintln(stderr, "runtime bench link: embedded broker:", err)
		return 1
	}
	rep := linkReport{Bench: "link", Samples: *samples, RateHz: 1000, Rounds: *rounds}
	if *prof != "" {
		f, err := os.Create(*prof)
		if err != nil {
			fmt.Fprintln(stderr, "runtime bench link:", err)
			return 1
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
	}
	var raws, besides, links []linkPct
	for r := 0; r < *rounds; r++ {
		order := []string{"raw", "link"}
		if r%2 == 1 {
			order = []string{"link", "raw"}
		}
		for _, what := range order {
			fmt.Fprintf(stderr, "round %d/%d: %s, %d changes at 1 kHz...\n", r+1, *rounds, what, *samples)
			var m0, m1 goruntime.MemStats
			goruntime.ReadMemStats(&m0)
			if what == "raw" {
				p, err := rawLinkFloor(b.url(), *samples)
				if err != nil {
					fmt.Fprintln(stderr, "runtime bench link: raw:", err)
					return 1
				}
				goruntime.ReadMemStats(&m1)
				p.AllocsPerMsg = float64(m1.Mallocs-m0.Mallocs) / float64(*samples)
				raws = append(raws, p)
				continue
			}
			p, beside, coalesced, err := linkLatency(b.url(), *samples)
			if err != nil {
				fmt.Fprintln(stderr, "runtime bench link: link:", err)
				return 1
			}
			besides = append(besides, beside)
			links = append(links, p)
			rep.Coalesced += coalesced
		}
	}
	if *prof != "" {
		pprof.StopCPUProfile()
	}
	rep.Raw, rep.RawBeside, rep.Link = medianPct(raws), medianPct(besides), medianPct(links)
	rep.RatioP99 = rep.Link.P99us / rep.Raw.P99us
	rep.RatioBesideP99 = rep.Link.P99us / rep.RawBeside.P99us
	rep.GOMAXPROCS = goruntime.GOMAXPROCS(0)
	b.stop()
	for _, s := range sizes {
		fmt.Fprintf(stderr, "storm: %d applications x %d metrics...\n", s[0], s[1])
		st, err := birthStorm(s[0], s[1])
		if err != nil {
			fmt.Fprintln(stderr, "runtime bench link: storm:", err)
			return 1
		}
		rep.Storm = append(rep.Storm, st)
	}
	if *asJSON {
		out, _ := json.Marshal(rep)
		fmt.Fprintln(stdout, string(out))
		return 0
	}
	fmt.Fprintf(stdout, "%d changes at 1 kHz through the embedded broker, median of %d rounds, GOMAXPROCS %d (µs):\n", rep.Samples, rep.Rounds, rep.GOMAXPROCS)
	row := func(name string, p linkPct, allocs bool) {
		fmt.Fprintf(stdout, "  %-38s p50 %7.1f  p99 %7.1f  p99.9 %7.1f  max %8.1f", name, p.P50us, p.P99us, p.P999us, p.MaxUs)
		if allocs {
			fmt.Fprintf(stdout, "  (%.0f allocations per change)", p.AllocsPerMsg)
		}
		fmt.Fprintln(stdout)
	}
	row("raw floor (paho -> paho)", rep.Raw, true)
	row("raw floor while A and B run", rep.RawBeside, false)
	row("link (A's change -> B's mailbox)", rep.Link, true)
	fmt.Fprintf(stdout, "  link/raw p99 %.2fx, link/raw beside the applications %.2fx (goal < 1.5x); link p99 goal < 500 µs; %d changes coalesced into later ones\n",
		rep.RatioP99, rep.RatioBesideP99, rep.Coalesced)
	for _, s := range rep.Storm {
		fmt.Fprintf(stdout, "birth storm: %d applications x %d metrics (%d routed values): all good %.0f ms after start; after a broker restart, all good again in %.0f ms\n",
			s.Apps, s.Metrics, s.Apps*s.Metrics, s.FirstMs, s.RestartMs)
	}
	return 0
}

func parseStorm(s string) ([][2]int, error) {
	if s == "none" || s == "" {
		return nil, nil
	}
	var out [][2]int
	for _, part := range strings.Split(s, ",") {
		ns, ms, ok := strings.Cut(strings.TrimSpace(part), "x")
		n, err1 := strconv.Atoi(ns)
		m, err2 := strconv.Atoi(ms)
		if !ok || err1 != nil || err2 != nil || n < 1 || n > 200 || m < 1 || m > 10000 {
			return nil, fmt.Errorf("--storm %q: want NxM with N 1..200 applications and M 1..10000 metrics, comma-separated", part)
		}
		out = append(out, [2]int{n, m})
	}
	return out, nil
}

func medianPct(ps []linkPct) linkPct {
	med := func(f func(linkPct) float64) float64 {
		v := make([]float64, len(ps))
		for i, p := range ps {
			v[i] = f(p)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return linkPct{med(func(p linkPct) float64 { return p.P50us }), med(func(p linkPct) float64 { return p.P99us }),
		med(func(p linkPct) float64 { return p.P999us }), med(func(p linkPct) float64 { return p.MaxUs }),
		med(func(p linkPct) float64 { return p.AllocsPerMsg })}
}

func pctOf(d []time.Duration) linkPct {
	slices.Sort(d)
	at := func(q float64) float64 {
		return float64(d[min(len(d)-1, int(q*float64(len(d))))].Nanoseconds()) / 1e3
	}
	return linkPct{P50us: at(0.5), P99us: at(0.99), P999us: at(0.999), MaxUs: float64(d[len(d)-1].Nanoseconds()) / 1e3}
}

// linkBroker is the embedded broker's engine on a loopback port.
type linkBroker struct {
	b    *mqttbroker.Broker
	addr string
}

func (b *linkBroker) url() string { return "mqtt://" + b.addr }

func startLinkBroker(port int) (*linkBroker, error) {
	cfg := mqttbroker.DefaultConfig()
	cfg.Listeners = []mqttbroker.ListenerConfig{{Type: mqttbroker.TypeTCP, Address: "127.0.0.1", Port: port}}
	cfg.AllowAnonymous = true
	cfg.ACL = []mqttbroker.ACLRule{{Topic: "#", Access: "readwrite"}}
	cfg.MaxPendingWrites = 8192
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var last error
	for i := 0; i < 100; i++ { // a just-closed port may take a moment to free
		b := mqttbroker.NewBroker(cfg, zerolog.Nop())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := b.Start(ctx)
		cancel()
		if err == nil && len(b.ListenerFailures()) == 0 {
			return &linkBroker{b: b, addr: b.Addrs()[0]}, nil
		}
		if err == nil {
			err = fmt.Errorf("%s", strings.Join(b.ListenerFailures(), "; "))
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			b.Stop(ctx)
			cancel()
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	return nil, last
}

func (b *linkBroker) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b.b.Stop(ctx)
}

// rawLinkFloor publishes n messages at 1 kHz with a bare autopaho client
// to a bare autopaho subscriber and returns the one-way latencies.
func rawLinkFloor(broker string, n int) (linkPct, error) {
	u, _ := url.Parse(broker)
	lat := make([]time.Duration, 0, n)
	var mu sync.Mutex
	done := make(chan struct{})
	up := make(chan struct{}, 2)
	ctx := context.Background()
	mk := func(id string, recv func(paho.PublishReceived) (bool, error)) (*autopaho.ConnectionManager, error) {
		cfg := autopaho.ClientConfig{ServerUrls: []*url.URL{u}, KeepAlive: 30, CleanStartOnInitialConnection: true,
			OnConnectionUp: func(*autopaho.ConnectionManager, *paho.Connack) { up <- struct{}{} },
			ClientConfig:   paho.ClientConfig{ClientID: id}}
		if recv != nil {
			cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){recv}
		}
		return autopaho.NewConnection(ctx, cfg)
	}
	sub, err := mk(fmt.Sprintf("rawsub%d", time.Now().UnixNano()), func(pr paho.PublishReceived) (bool, error) {
		sent := int64(binary.BigEndian.Uint64(pr.Packet.Payload))
		mu.Lock()
		lat = append(lat, time.Duration(time.Now().UnixNano()-sent))
		if len(lat) == n {
			close(done)
		}
		mu.Unlock()
		return true, nil
	})
	if err != nil {
		return linkPct{}, err
	}
	pub, err := mk(fmt.Sprintf("rawpub%d", time.Now().UnixNano()), nil)
	if err != nil {
		return linkPct{}, err
	}
	defer func() {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		pub.Disconnect(dctx)
		sub.Disconnect(dctx)
	}()
	for i := 0; i < 2; i++ {
		select {
		case <-up:
		case <-time.After(10 * time.Second):
			return linkPct{}, fmt.Errorf("clients did not connect")
		}
	}
	if _, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "raw/x", QoS: 0}}}); err != nil {
		return linkPct{}, err
	}
	payload := make([]byte, 30) // an NDATA with one changed integer
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for i := 0; i < n; i++ {
		<-tick.C
		binary.BigEndian.PutUint64(payload, uint64(time.Now().UnixNano()))
		if _, err := pub.Publish(ctx, &paho.Publish{Topic: "raw/x", Payload: payload}); err != nil {
			return linkPct{}, err
		}
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		return linkPct{}, fmt.Errorf("%d of %d received", len(lat), n)
	}
	return pctOf(lat), nil
}

// Bench component types: a counter that records when each value changed,
// a bank of constant doubles, and a sink with any number of inputs.
type benchCounterConfig struct{}

type benchCounter struct {
	out   *signals.Signal[int64]
	armed *atomic.Bool
	sent  []atomic.Int64
	n     int64
}

func (c *benchCounter) Process(runtime.Tick) {
	if !c.armed.Load() {
		return
	}
	c.n++
	c.sent[c.n%int64(len(c.sent))].Store(time.Now().UnixNano())
	c.out.Set(c.n)
}

type benchBankConfig struct {
	Outputs int `yaml:"outputs"`
}

type benchBank struct {
	outs []*signals.Signal[float64]
	done bool
}

func (b *benchBank) Process(runtime.Tick) {
	if b.done {
		return
	}
	for i, o := range b.outs {
		o.Set(float64(i))
	}
	b.done = true
}

type benchSinkConfig struct {
	Inputs int    `yaml:"inputs"`
	Type   string `yaml:"type"`
}

type benchSink struct{}

func (benchSink) Process(runtime.Tick) {}

// linkBenchRegistry is the standard registry with the bench types; the
// counter writes into armed and sent.
func linkBenchRegistry(armed *atomic.Bool, sent []atomic.Int64) *runtime.Registry {
	counter := runtime.Define(runtime.Spec[benchCounterConfig]{Name: "BenchCounter", Build: func(b *runtime.Builder, _ *benchCounterConfig) (runtime.Component, error) {
		return &benchCounter{out: runtime.Output[int64](b, "Out"), armed: armed, sent: sent}, nil
	}})
	bank := runtime.Define(runtime.Spec[benchBankConfig]{Name: "BenchBank", Build: func(b *runtime.Builder, c *benchBankConfig) (runtime.Component, error) {
		bb := &benchBank{}
		for i := 0; i < c.Outputs; i++ {
			bb.outs = append(bb.outs, runtime.Output[float64](b, "Out"+strconv.Itoa(i)))
		}
		return bb, nil
	}})
	sink := runtime.Define(runtime.Spec[benchSinkConfig]{Name: "BenchSink", Build: func(b *runtime.Builder, c *benchSinkConfig) (runtime.Component, error) {
		k, err := signals.ParseKind(c.Type)
		if err != nil {
			return nil, err
		}
		for i := 0; i < c.Inputs; i++ {
			b.Port(k, "In"+strconv.Itoa(i), signals.Input)
		}
		return benchSink{}, nil
	}})
	return runtime.MustRegistry(append(all.Registry().Types(), counter, bank, sink)...)
}

// benchApp is an application loaded, started and running on the real
// clock with its link.
type benchApp struct {
	app    *runtime.App
	r      *system.Runner
	cancel context.CancelFunc
	done   chan error
}

func startBenchApp(reg *runtime.Registry, name, text string, o system.Options) (*benchApp, error) {
	app, err := loadOnly(reg, name, text)
	if err != nil {
		return nil, err
	}
	return runLoaded(app, o)
}

func (x *benchApp) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	x.r.Stop(ctx)
	x.cancel()
	<-x.done
	x.app.Stop(ctx)
}

func benchSystem(peers []string, broker string) string {
	p := ""
	if len(peers) > 0 {
		p = "\n  peers: [" + strings.Join(peers, ", ") + "]"
	}
	return fmt.Sprintf("system:\n  name: bench%s\n  broker: {servers: [\"%s\"], keep_alive: 5s, retry_min: 50ms, retry_max: 1s}\n", p, broker)
}

// linkLatency runs A (a counter at 1 kHz) and B (routing from it) and
// returns the change-to-mailbox latencies of n changes, and the raw floor
// measured while A and B run.
func linkLatency(broker string, n int) (linkPct, linkPct, int, error) {
	var armed atomic.Bool
	sent := make([]atomic.Int64, 1<<16)
	reg := linkBenchRegistry(&armed, sent)
	lat := make([]time.Duration, 0, n)
	done := make(chan struct{})
	ready := make(chan struct{})
	var readyOnce sync.Once
	// The first second warms up (the births, the first garbage
	// collections after loading); it is not measured.
	const warm = 1000
	var next int64 = warm + 1
	coalesced := 0
	deliver := func(_ *runtime.RemoteInput, v signals.Value, q signals.Quality, _ int64) {
		now := time.Now().UnixNano()
		if q == signals.Initial {
			readyOnce.Do(func() { close(ready) })
			return
		}
		i, _ := v.Int()
		if q != signals.Good || i < next || len(lat) >= n {
			return
		}
		for ; next <= i && len(lat) < n; next++ {
			lat = append(lat, time.Duration(now-sent[next%int64(len(sent))].Load()))
			if next < i {
				coalesced++
			}
		}
		if len(lat) == n {
			close(done)
		}
	}
	b, err := startBenchApp(reg, "BenchB", `application: BenchB
fs: 10
components:
  - {name: Dst, type: BenchSink, config: {inputs: 1, type: int}, inputs: {In0: BenchA.Src.Out}}
`+benchSystem([]string{"BenchA"}, broker), system.Options{Delivered: deliver})
	if err != nil {
		return linkPct{}, linkPct{}, 0, err
	}
	defer b.stop()
	a, err := startBenchApp(reg, "BenchA", `application: BenchA
fs: 1000
components:
  - {name: Src, type: BenchCounter}
`+benchSystem(nil, broker)+"  export: [{match: Src.Out}]\n", system.Options{})
	if err != nil {
		return linkPct{}, linkPct{}, 0, err
	}
	defer a.stop()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		return linkPct{}, linkPct{}, 0, errors.New("application b never saw the birth of application a")
	}
	beside, err := rawLinkFloor(broker, n)
	if err != nil {
		return linkPct{}, linkPct{}, 0, err
	}
	var m0, m1 goruntime.MemStats
	goruntime.ReadMemStats(&m0)
	armed.Store(true)
	select {
	case <-done:
	case <-time.After(time.Duration(n+warm)*time.Millisecond + 10*time.Second):
		return linkPct{}, linkPct{}, 0, fmt.Errorf("%d of %d changes arrived", len(lat), n)
	}
	armed.Store(false)
	goruntime.ReadMemStats(&m1)
	p := pctOf(lat)
	// The warm-up second is counted too: its changes travel the same way.
	p.AllocsPerMsg = float64(m1.Mallocs-m0.Mallocs) / float64(n+warm)
	return p, beside, coalesced, nil
}

// birthStorm runs n applications with m exported doubles each and one
// routing from all of them, restarts the broker and times the recovery.
func birthStorm(n, m int) (linkStorm, error) {
	st := linkStorm{Apps: n, Metrics: m}
	b, err := startLinkBroker(0)
	if err != nil {
		return st, err
	}
	port, _ := strconv.Atoi(b.addr[strings.LastIndexByte(b.addr, ':')+1:])
	var armed atomic.Bool
	reg := linkBenchRegistry(&armed, make([]atomic.Int64, 1))
	total := n * m
	good := make([]atomic.Bool, total)
	var nGood atomic.Int64
	var sb strings.Builder
	var peers []string
	fmt.Fprintf(&sb, "application: Storm\nfs: 10\ncomponents:\n  - name: Dst\n    type: BenchSink\n    config: {inputs: %d, type: double}\n    inputs:\n", total)
	for k := 0; k < n; k++ {
		peers = append(peers, fmt.Sprintf("E%d", k))
		for j := 0; j < m; j++ {
			fmt.Fprintf(&sb, "      In%d: E%d.Bank.Out%d\n", k*m+j, k, j)
		}
	}
	sb.WriteString(benchSystem(peers, b.url()))
	ins := map[*runtime.RemoteInput]int{}
	var insMu sync.RWMutex
	deliver := func(in *runtime.RemoteInput, _ signals.Value, q signals.Quality, _ int64) {
		insMu.RLock()
		i, ok := ins[in]
		insMu.RUnlock()
		if !ok {
			return
		}
		ok = q == signals.Good
		if good[i].Swap(ok) != ok {
			if ok {
				nGood.Add(1)
			} else {
				nGood.Add(-1)
			}
		}
	}
	start := time.Now()
	consumer, err := loadOnly(reg, "Storm", sb.String())
	if err != nil {
		b.stop()
		return st, err
	}
	for i, in := range consumer.RemoteInputs() {
		ins[in] = i
	}
	c, err := runLoaded(consumer, system.Options{Delivered: deliver})
	if err != nil {
		b.stop()
		return st, err
	}
	defer c.stop()
	var apps []*benchApp
	defer func() {
		for _, a := range apps {
			a.stop()
		}
	}()
	for k := 0; k < n; k++ {
		a, err := startBenchApp(reg, peers[k], fmt.Sprintf("application: %s\nfs: 10\ncomponents:\n  - {name: Bank, type: BenchBank, config: {outputs: %d}}\n", peers[k], m)+
			benchSystem(nil, b.url())+"  export: [{match: Bank}]\n", system.Options{})
		if err != nil {
			b.stop()
			return st, err
		}
		apps = append(apps, a)
	}
	waitAll := func(what string, want int64) error {
		deadline := time.Now().Add(180 * time.Second)
		for nGood.Load() != want {
			if time.Now().After(deadline) {
				return fmt.Errorf("%s: %d of %d values good after 180 s", what, nGood.Load(), total)
			}
			time.Sleep(time.Millisecond)
		}
		return nil
	}
	if err := waitAll("start", int64(total)); err != nil {
		b.stop()
		return st, err
	}
	st.FirstMs = float64(time.Since(start).Microseconds()) / 1e3
	b.stop()
	if err := waitAll("broker stopped", 0); err != nil {
		return st, err
	}
	b, err = startLinkBroker(port)
	if err != nil {
		return st, err
	}
	defer b.stop()
	t0 := time.Now()
	if err := waitAll("restart", int64(total)); err != nil {
		return st, err
	}
	st.RestartMs = float64(time.Since(t0).Microseconds()) / 1e3
	return st, nil
}

func loadOnly(reg *runtime.Registry, name, text string) (*runtime.App, error) {
	return runtime.LoadBytes(name+".yaml", []byte(text), reg, runtime.LoadOptions{Sections: sections(), OnAlarm: func(runtime.AlarmEvent) {}})
}

func runLoaded(app *runtime.App, o system.Options) (*benchApp, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		return nil, err
	}
	x := &benchApp{app: app, done: make(chan error, 1)}
	rctx, rcancel := context.WithCancel(context.Background())
	x.cancel = rcancel
	go func() { x.done <- app.Run(rctx) }()
	o.Log = zerolog.Nop()
	var err error
	if x.r, err = system.Start(ctx, app, o); err != nil {
		x.stop()
		return nil, err
	}
	return x, nil
}
