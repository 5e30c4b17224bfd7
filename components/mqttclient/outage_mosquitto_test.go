package mqttclient_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"

	"github.com/metronome-rt/metronome/components/mqttclient"
	"github.com/metronome-rt/metronome/internal/mqtttest"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/runtime/runtimetest"
)

// mosquittoProc is Debian's mosquitto with persistence on, which the test
// stops and starts again on the same port.
type mosquittoProc struct {
	t    *testing.T
	bin  string
	conf string
	dir  string // the persistence database's
	addr string
	cmd  *exec.Cmd
	done chan struct{}
}

func newMosquitto(t *testing.T) *mosquittoProc {
	bin := mqtttest.RequireTool(t, "mosquitto")
	dir := mqtttest.MosquittoDir(t)
	port := mqtttest.FreePort(t)
	conf := filepath.Join(t.TempDir(), "m.conf")
	// Sessions and their queued messages survive the restart, so the test's
	// subscriber misses nothing while the broker is down.
	os.WriteFile(conf, []byte(fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location %s/\nmax_queued_messages 0\nmax_inflight_messages 0\n", port, dir)), 0o600)
	m := &mosquittoProc{t: t, bin: bin, conf: conf, dir: dir, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	m.start()
	t.Cleanup(m.stop)
	return m
}

func (m *mosquittoProc) start() {
	m.cmd = exec.Command(m.bin, "-c", m.conf)
	if err := m.cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	m.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(m.cmd, m.done)
	if !waitFor(mqtttest.StartTimeout, func() bool {
		c, err := net.Dial("tcp", m.addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}) {
		m.t.Fatal("mosquitto did not start")
	}
}

func (m *mosquittoProc) stop() {
	if m.cmd == nil {
		return
	}
	m.cmd.Process.Signal(os.Interrupt) // saves the persistence database
	select {
	case <-m.done:
	case <-time.After(5 * time.Second):
		m.cmd.Process.Kill()
		<-m.done
	}
	m.cmd = nil
}

// TestBrokerOutageMosquitto is TestBrokerOutageAt1kHz against Debian's
// mosquitto, stopped and restarted; a persistent-session subscriber collects
// the sequence.
func TestBrokerOutageMosquitto(t *testing.T) { testBrokerOutageMosquitto(t, "5") }

// TestBrokerOutageMosquitto311 is TestBrokerOutageMosquitto with the client
// on MQTT 3.1.1 (mosquitto -V mqttv311).
func TestBrokerOutageMosquitto311(t *testing.T) { testBrokerOutageMosquitto(t, "3.1.1") }

func testBrokerOutageMosquitto(t *testing.T, protocol string) {
	if testing.Short() {
		t.Skip("runs for about 8 s")
	}
	m := newMosquitto(t)
	var mu sync.Mutex
	var got []string
	var redelivered []string // deliveries the broker marked DUP, of payloads seen before
	u, _ := url.Parse("mqtt://" + m.addr)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	sub, err := autopaho.NewConnection(ctx, autopaho.ClientConfig{
		ServerUrls: []*url.URL{u}, KeepAlive: 30, SessionExpiryInterval: 3600,
		ReconnectBackoff: autopaho.NewConstantBackoff(50 * time.Millisecond),
		OnConnectionUp: func(cm *autopaho.ConnectionManager, ack *paho.Connack) {
			go cm.Subscribe(context.Background(), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "outage/seq", QoS: 1}}})
		},
		ClientConfig: paho.ClientConfig{ClientID: "outage-sub-" + protocol, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) {
				mu.Lock()
				p := string(pr.Packet.Payload)
				if pr.Packet.Duplicate() && slices.Contains(got, p) {
					redelivered = append(redelivered, p)
				} else {
					got = append(got, p)
				}
				mu.Unlock()
				return true, nil
			}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.AwaitConnection(ctxT(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)

	h := runtimetest.New(t, mqttclient.Type, fmt.Sprintf(`fs: 1000
config:
  servers: [mqtt://%s]
  protocol: %s
  retry_min: 100ms
  retry_max: 500ms
  signal_timeout: 500ms
  publish:
    - {name: Seq, topic: outage/seq, type: int, qos: 1, on_connect: false}
`, m.addr, protocol))
	connect(t, h)
	const upMs, downMs, afterMs = 1000, 3000, 1000
	n := upMs + downMs + afterMs
	start := time.Now()
	var stopped chan struct{}
	for i := 1; i <= n; i++ {
		h.Set("Seq", i)
		h.Step(1)
		switch i {
		case upMs:
			stopped = make(chan struct{})
			go func() { m.stop(); close(stopped) }()
		case upMs + downMs:
			<-stopped
			// What mosquitto acknowledged while it stopped is in its
			// database, or the restart tests nothing.
			if _, err := os.Stat(filepath.Join(m.dir, "mosquitto.db")); err != nil {
				t.Fatalf("mosquitto saved no database: %v", err)
			}
			m.start()
		}
		if d := time.Duration(i)*time.Millisecond - time.Since(start); d > 0 {
			time.Sleep(d)
		}
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(got) }
	// Every message acknowledged by the broker, then delivered to the subscriber.
	if !h.StepUntil(func() bool { v, _ := h.Get("MessagesOut").Uint(); return v >= uint64(n) }, 60*time.Second) {
		t.Logf("only %v of %d acknowledged", h.Get("MessagesOut"), n)
	}
	if !waitFor(5*time.Second, func() bool { return count() >= n }) {
		t.Logf("only %d of %d delivered", count(), n)
	}
	h.Step(1)
	mu.Lock()
	defer mu.Unlock()
	// The client pops a QoS 1 message only on its PUBACK, so MessagesOut = n
	// means the broker acknowledged every message exactly once.
	if out, _ := h.Get("MessagesOut").Uint(); out != uint64(n) {
		t.Errorf("MessagesOut = %d, want %d", out, n)
	}
	// The broker resends, marked DUP, what it had sent to the subscriber
	// without the acknowledgement reaching it before it stopped: QoS 1 is at
	// least once on that leg. Apart from those, the subscriber gets 1..n,
	// each once, in order.
	if len(redelivered) > 0 {
		t.Logf("mosquitto resent %v to the subscriber after its restart", redelivered)
	}
	checkSequence(t, got, n)
	var set, cleared bool
	for _, ev := range h.Events() {
		if ev.Alarm.Info().Name == "TransmissionError" {
			set = set || ev.Kind == runtime.AlarmSet
			cleared = cleared || (set && ev.Kind == runtime.AlarmCleared)
		}
	}
	if !set || !cleared {
		t.Errorf("TransmissionError: raised %v, cleared %v", set, cleared)
	}
}
