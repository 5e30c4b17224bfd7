package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/rs/zerolog"

	"github.com/metronome-rt/metronome/components/mqttbroker"
)

const benchBrokerUsage = `usage: runtime bench broker [--json] [--messages N] [--payload B] [--rounds R] [--in-process]

Measures publish-to-receive through Metronome's embedded MQTT broker (in this
process, with its packet guard and ACL on) and, when Debian's mosquitto is
installed, through mosquitto started on a free loopback port with
set_tcp_nodelay true, with the same paho.golang v5 clients and payloads.

For QoS 0 and QoS 1 it runs two phases per broker:
  throughput  N messages published as fast as the broker takes them, at most
              1000 unreceived at a time; msgs_per_s = N / (last received -
              first sent); lost = messages that never arrived
  latency     min(N, 2000) messages one at a time (publish, wait for it):
              p50 and p99 of publish-to-receive, in µs

  --messages N   messages in the throughput phase (default 20000)
  --payload B    payload bytes, at least 16 (default 64)
  --rounds R     repeat everything R times, alternating which broker goes
                 first, and report each figure's median (default 3); this
                 machine class is shared, so single runs are noisy
  --json         print one JSON object instead of the table
  --in-process   run the embedded broker inside the measuring process
                 instead of in a child process of this binary; by default
                 both brokers run in their own process, so each gets its own
                 share of the CPUs and neither shares a garbage collector
                 with the clients

Every lost message is reported; a run that loses messages exits 1.
`

// brokerResult is one row of the report.
type brokerResult struct {
	benchResult
	P50us float64 `json:"p50_us"`
	P99us float64 `json:"p99_us"`
}

// benchBroker runs `runtime bench broker`; it returns the exit code.
func benchBroker(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("runtime bench broker", flag.ContinueOnError)
	br := addBenchRounds(fs)
	asJSON, n, rounds := br.json, br.messages, br.rounds
	payload := fs.Int("payload", 64, "")
	inProcess := fs.Bool("in-process", false, "")
	serve := fs.Bool("serve-embedded", false, "") // child mode: serve until stdin closes
	code, usageErr := benchArgs(fs, args, benchBrokerUsage, stdout, stderr)
	if code >= 0 {
		return code
	}
	if msg := br.check(); msg != "" {
		return usageErr(msg)
	}
	if *payload < 16 || *payload > 1<<20 {
		return usageErr(fmt.Sprintf("--payload must be 16..1048576 bytes, got %d", *payload))
	}

	if *serve {
		return serveEmbedded(*payload, stdout, stderr)
	}
	type target struct {
		name string
		addr string
		stop func()
	}
	var targets []target
	start := startEmbeddedChild
	if *inProcess {
		start = startEmbeddedBroker
	}
	addr, stop, err := start(*payload)
	if err != nil {
		fmt.Fprintf(stderr, "runtime bench broker: embedded broker: %v\n", err)
		return 1
	}
	targets = append(targets, target{"metronome", addr, stop})
	var notes []string
	if bin, err := findMosquitto(); err != nil {
		notes = append(notes, "mosquitto: not installed (Debian package mosquitto), so not measured")
	} else if addr, stop, err := startMosquittoBroker(bin); err != nil {
		notes = append(notes, "mosquitto: "+err.Error())
	} else {
		targets = append(targets, target{"mosquitto", addr, stop})
	}
	defer func() {
		for _, t := range targets {
			t.stop()
		}
	}()

	rep := benchReport[brokerResult]{Bench: "broker"}
	failed := false
	for _, qos := range []byte{0, 1} {
		runs := make([][]brokerResult, len(targets))
		for round := 0; round < *rounds; round++ {
			for _, i := range roundOrder(round, len(targets)) {
				t := targets[i]
				fmt.Fprintf(stderr, "round %d/%d: %s QoS %d, %d messages of %d bytes...\n", round+1, *rounds, t.name, qos, *n, *payload)
				r, err := measureBroker(t.addr, qos, *n, *payload)
				if err != nil {
					fmt.Fprintf(stderr, "runtime bench broker: %s QoS %d: %v\n", t.name, qos, err)
					failed = true
				}
				runs[i] = append(runs[i], r)
			}
		}
		for i, t := range targets {
			r := medianResult(runs[i])
			r.Name, r.QoS = t.name, int(qos)
			if r.Lost > 0 {
				failed = true
			}
			rep.Results = append(rep.Results, r)
		}
	}
	if *asJSON {
		b, _ := json.Marshal(rep)
		fmt.Fprintln(stdout, string(b))
	} else {
		w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(w, "broker\tqos\tmsgs/s\tlost\tp50 µs\tp99 µs\t")
		for _, r := range rep.Results {
			fmt.Fprintf(w, "%s\t%d\t%.0f\t%d\t%.1f\t%.1f\t\n", r.Name, r.QoS, r.MsgsPerS, r.Lost, r.P50us, r.P99us)
		}
		w.Flush()
		where := "its own process (this binary)"
		if *inProcess {
			where = "this process"
		}
		fmt.Fprintf(stdout, "metronome's embedded broker ran in %s, mosquitto in its own; same paho v5 clients, same payloads.\n", where)
	}
	for _, note := range notes {
		fmt.Fprintln(stderr, note)
	}
	if failed {
		return 1
	}
	return 0
}

// startEmbeddedBroker starts the MQTTBroker's engine on a free loopback
// port with a user, an ACL and the packet guard, as an application would.
func startEmbeddedBroker(payload int) (string, func(), error) {
	cfg := mqttbroker.DefaultConfig()
	cfg.Listeners = []mqttbroker.ListenerConfig{{Type: mqttbroker.TypeTCP, Address: "127.0.0.1", Port: 0}}
	cfg.AllowAnonymous = true
	cfg.ACL = []mqttbroker.ACLRule{{Topic: "bench/#", Access: "readwrite"}}
	cfg.MaxPacketSize = max(cfg.MaxPacketSize, payload+1024)
	if err := cfg.Validate(); err != nil {
		return "", nil, err
	}
	b := mqttbroker.NewBroker(cfg, zerolog.Nop())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Start(ctx); err != nil {
		return "", nil, err
	}
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = b.Stop(ctx)
	}
	return b.Addrs()[0], stop, nil
}

// serveEmbedded is the child side of startEmbeddedChild: it prints the
// broker's address and serves until its stdin closes.
func serveEmbedded(payload int, stdout, stderr io.Writer) int {
	addr, stop, err := startEmbeddedBroker(payload)
	if err != nil {
		fmt.Fprintf(stderr, "embedded broker: %v\n", err)
		return 1
	}
	defer stop()
	fmt.Fprintln(stdout, addr)
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// startEmbeddedChild runs the embedded broker in a child process of this
// binary (`runtime bench broker --serve-embedded`).
func startEmbeddedChild(payload int) (string, func(), error) {
	exe, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(exe, "bench", "broker", "--serve-embedded", "--payload", strconv.Itoa(payload))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	var errOut strings.Builder
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	line := make(chan string, 1)
	go func() {
		var b strings.Builder
		one := make([]byte, 1)
		for {
			n, err := out.Read(one)
			if n == 1 && one[0] != '\n' {
				b.WriteByte(one[0])
				continue
			}
			if n == 1 || err != nil {
				line <- b.String()
				_, _ = io.Copy(io.Discard, out)
				return
			}
		}
	}()
	select {
	case addr := <-line:
		if _, _, err := net.SplitHostPort(addr); err != nil {
			stop()
			return "", nil, fmt.Errorf("child broker did not start: %q %s", addr, strings.TrimSpace(errOut.String()))
		}
		return addr, stop, nil
	case <-time.After(10 * time.Second):
		stop()
		return "", nil, fmt.Errorf("child broker did not start within 10s: %s", strings.TrimSpace(errOut.String()))
	}
}

func findMosquitto() (string, error) {
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p, nil
	}
	if st, err := os.Stat("/usr/sbin/mosquitto"); err == nil && !st.IsDir() {
		return "/usr/sbin/mosquitto", nil
	}
	return "", errors.New("not found")
}

// startMosquittoBroker runs mosquitto on a free loopback port.
func startMosquittoBroker(bin string) (string, func(), error) {
	dir, err := os.MkdirTemp("", "metronome-bench-mosquitto")
	if err != nil {
		return "", nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	conf := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\npersistence false\nmax_queued_messages 10000\nlog_type error\n", port)
	cfgPath := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(cfgPath, []byte(conf), 0o600); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	var out strings.Builder
	cmd := exec.Command(bin, "-c", cfgPath)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		os.RemoveAll(dir)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return addr, stop, nil
		}
		select {
		case <-exited:
			stop()
			return "", nil, fmt.Errorf("exited during start-up: %s", strings.TrimSpace(out.String()))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("not accepting on %s after 10s", addr)
		}
	}
}

// medianResult combines rounds: the median of each figure and the sum of
// the lost messages.
func medianResult(rs []brokerResult) brokerResult {
	out := brokerResult{benchResult: combineRounds(rs, func(r brokerResult) benchResult { return r.benchResult })}
	out.P50us = median(rs, func(r brokerResult) float64 { return r.P50us })
	out.P99us = median(rs, func(r brokerResult) float64 { return r.P99us })
	return out
}

// benchClient is a paho v5 client that stamps and checks payloads.
type benchClient struct {
	*paho.Client
}

func dialBench(addr, id string, onMsg func(*paho.Publish)) (*benchClient, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	cfg := paho.ClientConfig{ClientID: id, Conn: packets.NewThreadSafeConn(conn)}
	if onMsg != nil {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){func(r paho.PublishReceived) (bool, error) {
			onMsg(r.Packet)
			return true, nil
		}}
	}
	c := paho.NewClient(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 60}); err != nil {
		conn.Close()
		return nil, err
	}
	return &benchClient{c}, nil
}

// benchWindow bounds unreceived messages in the throughput phase, so the
// run measures what the broker sustains rather than how deep its queues are.
const benchWindow = 1000

// measureBroker runs both phases against one broker at one QoS.
func measureBroker(addr string, qos byte, n, payloadSize int) (brokerResult, error) {
	res := brokerResult{benchResult: benchResult{QoS: int(qos)}}
	start := time.Now()
	var received atomic.Int64
	var lastRecv atomic.Int64
	var latencies []time.Duration
	latencyPhase := atomic.Bool{}
	seen := make([]atomic.Bool, n)
	window := make(chan struct{}, benchWindow)
	var dups atomic.Int64
	got := make(chan time.Duration, 1)
	onMsg := func(p *paho.Publish) {
		now := time.Since(start)
		if len(p.Payload) < 16 {
			return
		}
		seq := binary.LittleEndian.Uint64(p.Payload)
		sent := time.Duration(binary.LittleEndian.Uint64(p.Payload[8:]))
		if latencyPhase.Load() {
			got <- now - sent
			return
		}
		if seq >= uint64(n) || seen[seq].Swap(true) {
			dups.Add(1)
			return
		}
		received.Add(1)
		lastRecv.Store(int64(now))
		select {
		case <-window:
		default:
		}
	}
	id := fmt.Sprintf("bench-%d-%d", qos, time.Now().UnixNano())
	sub, err := dialBench(addr, id+"-sub", onMsg)
	if err != nil {
		return res, fmt.Errorf("subscriber: %w", err)
	}
	defer sub.Disconnect(&paho.Disconnect{})
	pub, err := dialBench(addr, id+"-pub", nil)
	if err != nil {
		return res, fmt.Errorf("publisher: %w", err)
	}
	defer pub.Disconnect(&paho.Disconnect{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	sa, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "bench/" + id, QoS: qos}}})
	cancel()
	if err != nil || sa.Reasons[0] != qos {
		return res, fmt.Errorf("subscribe: %v %v", err, sa)
	}
	topic := "bench/" + id
	payload := make([]byte, payloadSize)

	// Throughput.
	first := time.Since(start)
	stalled := false
	for i := 0; i < n && !stalled; i++ {
		select {
		case window <- struct{}{}:
		case <-time.After(5 * time.Second):
			stalled = true
			continue
		}
		binary.LittleEndian.PutUint64(payload, uint64(i))
		binary.LittleEndian.PutUint64(payload[8:], uint64(time.Since(start)))
		p := &paho.Publish{Topic: topic, QoS: qos, Payload: payload}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := pub.PublishWithOptions(ctx, p, paho.PublishOptions{Method: paho.PublishMethod_AsyncSend})
		cancel()
		if err != nil {
			return res, fmt.Errorf("publish %d: %w", i, err)
		}
	}
	// Wait for the tail: until all arrived or nothing arrives for a second.
	for prev := int64(-1); received.Load() < int64(n); {
		cur := received.Load()
		if cur == prev {
			break
		}
		prev = cur
		time.Sleep(time.Second)
	}
	res.Lost = n - int(received.Load())
	if el := time.Duration(lastRecv.Load()) - first; el > 0 {
		res.MsgsPerS = float64(received.Load()) / el.Seconds()
	}

	// Latency, one message at a time.
	latencyPhase.Store(true)
	m := min(n, 2000)
	latencies = make([]time.Duration, 0, m)
	for i := 0; i < m; i++ {
		binary.LittleEndian.PutUint64(payload, uint64(i))
		binary.LittleEndian.PutUint64(payload[8:], uint64(time.Since(start)))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := pub.Publish(ctx, &paho.Publish{Topic: topic, QoS: qos, Payload: payload})
		cancel()
		if err != nil {
			return res, fmt.Errorf("latency publish %d: %w", i, err)
		}
		select {
		case d := <-got:
			latencies = append(latencies, d)
		case <-time.After(5 * time.Second):
			res.Lost++
		}
	}
	slices.Sort(latencies)
	if len(latencies) > 0 {
		q := func(p float64) float64 {
			return float64(latencies[int(p*float64(len(latencies)-1))].Nanoseconds()) / 1e3
		}
		res.P50us, res.P99us = q(0.50), q(0.99)
	}
	if d := dups.Load(); d > 0 {
		return res, fmt.Errorf("%d duplicate messages", d)
	}
	if stalled {
		return res, fmt.Errorf("publishing stalled: %d of %d received", received.Load(), n)
	}
	return res, nil
}
