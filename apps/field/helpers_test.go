package field_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/metronome-rt/metronome/internal/mqtttest"
	"github.com/metronome-rt/metronome/view"
)

// The binary the tests run, built once.
var runtimeBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "metronome-field-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "runtime")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/runtime").CombinedOutput(); err != nil {
		return "", fmt.Errorf("build: %v\n%s", err, out)
	}
	return bin, nil
})

func TestMain(m *testing.M) {
	code := m.Run()
	if bin, err := runtimeBinary(); err == nil {
		os.RemoveAll(filepath.Dir(bin))
	}
	os.Exit(code)
}

func binary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary and runs processes")
	}
	bin, err := runtimeBinary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// proc is a process the test started: a runtime or a broker.
type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	logs mqtttest.LockedBuffer
	done chan struct{}
	err  error
}

func startProc(t *testing.T, name string, env []string, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = &p.logs
	p.cmd.Stderr = &p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.cmd.Process.Kill(); <-p.done })
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill ends the process with SIGKILL, as a crash or a power cut would.
func (p *proc) kill() {
	p.t.Helper()
	p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.t.Fatalf("%s: still running 10 s after SIGKILL", p.name)
	}
}

// stop sends SIGTERM and wants exit 0.
func (p *proc) stop() {
	p.t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		p.t.Fatalf("%s: still running 20 s after SIGTERM:\n%s", p.name, tail(p.logs.String(), 40))
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		p.t.Errorf("%s: exit %d after SIGTERM:\n%s", p.name, code, tail(p.logs.String(), 40))
	}
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

// message is one message the watcher received.
type message struct {
	topic, payload string
	retained       bool
}

// watcher records every message on the broker, as `mosquitto_sub -v -t
// '#'` shows them, through every restart of the broker.
type watcher struct {
	mu   sync.Mutex
	msgs []message
	c    paho.Client
}

func newClient(t *testing.T, port int, id string, clean bool, setup func(*paho.ClientOptions)) paho.Client {
	t.Helper()
	o := paho.NewClientOptions().AddBroker(fmt.Sprintf("tcp://127.0.0.1:%d", port)).SetClientID(id).
		SetProtocolVersion(4).SetCleanSession(clean).SetOrderMatters(true).SetKeepAlive(5 * time.Second).
		SetConnectTimeout(5 * time.Second).SetAutoReconnect(true).SetConnectRetry(true).
		SetConnectRetryInterval(200 * time.Millisecond).SetMaxReconnectInterval(500 * time.Millisecond)
	if setup != nil {
		setup(o)
	}
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(15*time.Second) || tok.Error() != nil {
		t.Fatalf("%s: connect to port %d: %v", id, port, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func watch(t *testing.T, port int) *watcher {
	w := &watcher{}
	w.c = newClient(t, port, "field-test-watcher", true, func(o *paho.ClientOptions) {
		o.SetOnConnectHandler(func(c paho.Client) {
			c.Subscribe("#", 1, func(_ paho.Client, m paho.Message) {
				if strings.HasPrefix(m.Topic(), "spBv1.0/") {
					return // the system's Sparkplug traffic: binary, and not what these tests look at
				}
				w.mu.Lock()
				w.msgs = append(w.msgs, message{m.Topic(), string(m.Payload()), m.Retained()})
				w.mu.Unlock()
			})
		})
	})
	return w
}

// since returns the messages received from index i on.
func (w *watcher) since(i int) []message {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]message(nil), w.msgs[min(i, len(w.msgs)):]...)
}

func (w *watcher) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.msgs)
}

// on returns the payloads received on topic from index i on.
func (w *watcher) on(i int, topic string) []string {
	var out []string
	for _, m := range w.since(i) {
		if m.topic == topic {
			out = append(out, m.payload)
		}
	}
	return out
}

// publish sends a message as a device would, and waits for the broker's
// acknowledgement.
func publish(t *testing.T, c paho.Client, topic string, retain bool, payload string) {
	t.Helper()
	if tok := c.Publish(topic, 1, retain, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s %s: %v", topic, payload, tok.Error())
	}
}

// eventually polls cond every 100 ms until it holds, or fails the test
// after timeout saying what it last found. Timeouts are generous bounds on
// a loaded machine, not figures the tests check.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, found := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last found: %s", what, timeout, found)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// onView runs f on a fresh connection to the live view on port, within 10 s.
func onView(port int, f func(ctx context.Context, c *view.Client) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := view.Dial(ctx, fmt.Sprintf("127.0.0.1:%d", port), view.DialOptions{})
	if err != nil {
		return err
	}
	defer c.Close()
	return f(ctx, c)
}

// get reads members of a running application through its live view.
func get(port int, patterns ...string) (map[string]view.Value, error) {
	out := map[string]view.Value{}
	err := onView(port, func(ctx context.Context, c *view.Client) error {
		vals, err := c.Get(ctx, patterns...)
		for _, v := range vals {
			out[v.Path] = v
		}
		return err
	})
	return out, err
}

// is tells whether the live view on port shows path with value v (JSON
// text; "" for any value) and quality q.
func is(port int, path, v, q string) func() (bool, string) {
	return func() (bool, string) {
		vals, err := get(port, path)
		if err != nil {
			return false, err.Error()
		}
		got, ok := vals[path]
		if !ok {
			return false, path + " not found"
		}
		return (v == "" || string(got.V) == v) && got.Q == q, fmt.Sprintf("%s = %s (%s)", path, got.V, got.Q)
	}
}

// allOf holds when every condition holds.
func allOf(conds ...func() (bool, string)) func() (bool, string) {
	return func() (bool, string) {
		var found []string
		ok := true
		for _, c := range conds {
			c1, f := c()
			ok = ok && c1
			found = append(found, f)
		}
		return ok, strings.Join(found, "; ")
	}
}

// alarms returns the active alarms of the application behind the live
// view on port, by path.
func alarms(port int) (map[string]view.AlarmState, error) {
	out := map[string]view.AlarmState{}
	err := onView(port, func(ctx context.Context, c *view.Client) error {
		if _, err := c.Send(view.Request{Type: "alarms"}); err != nil {
			return err
		}
		for {
			f, err := c.Next(ctx)
			if err != nil {
				return err
			}
			if f.Type != "alarms" {
				continue
			}
			var af view.AlarmsFrame
			if err := f.Decode(&af); err != nil {
				return err
			}
			for _, a := range af.Alarms {
				if a.Active {
					out[a.Path] = a
				}
			}
			return nil
		}
	})
	return out, err
}

// alarmsAre holds when exactly the alarms named are active (paths, of the
// application's own alarms that these tests look at: want lists those that
// must be active, among watched).
func alarmsAre(port int, watched []string, want ...string) func() (bool, string) {
	return func() (bool, string) {
		act, err := alarms(port)
		if err != nil {
			return false, err.Error()
		}
		var bad []string
		for _, w := range watched {
			_, on := act[w]
			should := false
			for _, x := range want {
				should = should || x == w
			}
			if on != should {
				bad = append(bad, fmt.Sprintf("%s active=%v", w, on))
			}
		}
		var list []string
		for p, a := range act {
			list = append(list, p+": "+a.Text)
		}
		return len(bad) == 0, fmt.Sprintf("%v (active: %v)", bad, list)
	}
}

// sensor decodes the meter's telemetry.
func sensor(t *testing.T, payload string) (temp, hum float64) {
	t.Helper()
	var s struct {
		AM2301 struct{ Temperature, Humidity *float64 }
	}
	if err := json.Unmarshal([]byte(payload), &s); err != nil || s.AM2301.Temperature == nil || s.AM2301.Humidity == nil {
		t.Fatalf("telemetry %q: %v", payload, err)
	}
	return *s.AM2301.Temperature, *s.AM2301.Humidity
}

func itoa(i int) string { return strconv.Itoa(i) }
