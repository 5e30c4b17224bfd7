package mqtttest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// NATSNode is one nats-server process with MQTT and JetStream enabled.
type NATSNode struct {
	Name    string
	MQTT    string // host:port of the MQTT listener
	monitor string
	cmd     *exec.Cmd
	exited  chan struct{}
	out     *LockedBuffer
}

// MQTTURL is the node's mqtt:// URL.
func (n *NATSNode) MQTTURL() string { return "mqtt://" + n.MQTT }

// Kill ends the node with SIGKILL, as a crash would.
func (n *NATSNode) Kill() {
	if n.cmd.Process != nil {
		_ = n.cmd.Process.Signal(syscall.SIGKILL)
		<-n.exited
	}
}

// Restart kills the node if it runs and starts it again with the same
// configuration and JetStream store (so MQTT sessions and retained
// messages survive, as on a real restart), then waits until it answers an
// MQTT CONNECT.
func (n *NATSNode) Restart(t testing.TB) {
	t.Helper()
	n.Kill()
	cmd := exec.Command(n.cmd.Path, n.cmd.Args[1:]...)
	cmd.Stdout, cmd.Stderr = n.out, n.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("mqtttest: restart nats-server %s: %v", n.Name, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	n.cmd, n.exited = cmd, exited
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := n.waitHealthy(ctx); err != nil {
		t.Fatalf("mqtttest: nats-server %s not healthy after a restart: %v\n%s", n.Name, err, n.Output())
	}
	if err := n.waitMQTT(ctx); err != nil {
		t.Fatalf("mqtttest: nats-server %s does not accept MQTT after a restart: %v\n%s", n.Name, err, n.Output())
	}
}

// Output returns what the server printed, for failure messages.
func (n *NATSNode) Output() string { return n.out.String() }

// NATS starts size nats-server processes on 127.0.0.1, clustered when
// size > 1, each with JetStream (MQTT needs it) and an MQTT listener, and
// waits until every node reports healthy and has answered an MQTT CONNECT.
// Missing nats-server (or one older than 2.10) skips the test locally and
// fails it in CI. The processes are killed in t.Cleanup.
//
// The MQTT streams are replicated on min(size, 3) nodes. nats-server would
// otherwise take the number of configured routes, 2 in a cluster of three,
// and an R2 stream has no quorum once one of its two nodes dies: every
// CONNECT, SUBSCRIBE and QoS 1 PUBLISH on the survivors then waits for a
// JetStream leader that never comes. R3 survives the loss of one node.
//
// A node creates the MQTT streams at its first MQTT CONNECT, which in a
// forming cluster can wait for JetStream longer than a client's connect
// timeout; answering one CONNECT per node first means a test's clients
// attach to the node they name.
func NATS(t testing.TB, size int) []*NATSNode {
	t.Helper()
	bin := RequireTool(t, "nats-server")
	if err := natsVersionOK(bin); err != nil {
		if InCI() {
			t.Fatalf("mqtttest: %v", err)
		}
		t.Skipf("mqtttest: %v", err)
	}
	dir := t.TempDir()
	type ports struct{ client, cluster, mqtt, mon int }
	ps := make([]ports, size)
	for i := range ps {
		ps[i] = ports{FreePort(t), FreePort(t), FreePort(t), FreePort(t)}
	}
	nodes := make([]*NATSNode, size)
	for i := range nodes {
		name := "n" + strconv.Itoa(i)
		var sb strings.Builder
		fmt.Fprintf(&sb, "server_name: %s\nlisten: 127.0.0.1:%d\nhttp: 127.0.0.1:%d\n", name, ps[i].client, ps[i].mon)
		fmt.Fprintf(&sb, "jetstream {\n  store_dir: %q\n  max_memory_store: 64MB\n  max_file_store: 256MB\n}\n", filepath.Join(dir, name))
		fmt.Fprintf(&sb, "mqtt {\n  listen: 127.0.0.1:%d\n  stream_replicas: %d\n}\n", ps[i].mqtt, min(size, 3))
		if size > 1 {
			fmt.Fprintf(&sb, "cluster {\n  name: metronome\n  listen: 127.0.0.1:%d\n  routes: [\n", ps[i].cluster)
			for j := range ps {
				if j != i {
					fmt.Fprintf(&sb, "    nats-route://127.0.0.1:%d\n", ps[j].cluster)
				}
			}
			sb.WriteString("  ]\n}\n")
		}
		conf := filepath.Join(dir, name+".conf")
		if err := os.WriteFile(conf, []byte(sb.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		out := &LockedBuffer{}
		cmd := exec.Command(bin, "-c", conf)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatalf("mqtttest: start nats-server: %v", err)
		}
		n := &NATSNode{Name: name, MQTT: net.JoinHostPort("127.0.0.1", strconv.Itoa(ps[i].mqtt)),
			monitor: "http://127.0.0.1:" + strconv.Itoa(ps[i].mon), cmd: cmd, exited: make(chan struct{}), out: out}
		go func() { _ = cmd.Wait(); close(n.exited) }()
		nodes[i] = n
		t.Cleanup(n.Kill)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, n := range nodes {
		if err := n.waitHealthy(ctx); err != nil {
			t.Fatalf("mqtttest: nats-server %s not healthy: %v\n%s", n.Name, err, n.Output())
		}
	}
	for _, n := range nodes {
		if err := n.waitMQTT(ctx); err != nil {
			t.Fatalf("mqtttest: nats-server %s does not accept MQTT connections: %v\n%s", n.Name, err, n.Output())
		}
	}
	return nodes
}

// waitMQTT repeats an MQTT 3.1.1 CONNECT (clean session) until the node
// accepts one, then disconnects.
func (n *NATSNode) waitMQTT(ctx context.Context) error {
	id := "mqtttest-ready-" + n.Name
	connect := []byte{0x10, byte(10 + 2 + len(id)), 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 10, 0, byte(len(id))}
	connect = append(connect, id...)
	try := func() error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", n.MQTT)
		if err != nil {
			return err
		}
		defer c.Close()
		// nats-server gives each JetStream request 5 s.
		dl := time.Now().Add(15 * time.Second)
		if cd, ok := ctx.Deadline(); ok && cd.Before(dl) {
			dl = cd
		}
		_ = c.SetDeadline(dl)
		if _, err := c.Write(connect); err != nil {
			return err
		}
		var ack [4]byte
		if _, err := io.ReadFull(c, ack[:]); err != nil {
			return fmt.Errorf("CONNACK: %w", err)
		}
		if ack[0] != 0x20 || ack[3] != 0 {
			return fmt.Errorf("CONNACK % x: refused", ack)
		}
		_, _ = c.Write([]byte{0xe0, 0})
		return nil
	}
	for {
		err := try()
		if err == nil {
			return nil
		}
		select {
		case <-n.exited:
			return fmt.Errorf("exited while waiting for MQTT")
		case <-ctx.Done():
			return fmt.Errorf("%v (last: %v)", ctx.Err(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// HasMQTTClient reports whether an MQTT client with this client ID is
// connected to the node, from the node's monitoring endpoint, so a test can
// tell which node of a cluster a client is attached to.
func (n *NATSNode) HasMQTTClient(id string) (bool, error) {
	resp, err := http.Get(n.monitor + "/connz?mqtt_client=" + url.QueryEscape(id))
	if err != nil {
		return false, fmt.Errorf("connz of %s: %w", n.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("connz of %s: %s", n.Name, resp.Status)
	}
	var cz struct {
		Conns []struct {
			MQTTClient string `json:"mqtt_client"`
		} `json:"connections"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&cz); err != nil {
		return false, fmt.Errorf("connz of %s: %w", n.Name, err)
	}
	for _, c := range cz.Conns {
		if c.MQTTClient == id {
			return true, nil
		}
	}
	return false, nil
}

// waitHealthy polls /healthz (JetStream included) and the MQTT port.
func (n *NATSNode) waitHealthy(ctx context.Context) error {
	var last error
	for {
		select {
		case <-n.exited:
			return fmt.Errorf("exited during start-up")
		default:
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.monitor+"/healthz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				c, derr := net.DialTimeout("tcp", n.MQTT, time.Second)
				if derr == nil {
					c.Close()
					return nil
				}
				err = derr
			} else {
				err = fmt.Errorf("healthz: %s", resp.Status)
			}
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("%v (last: %v)", ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// natsVersionOK checks for nats-server 2.10 or later: earlier servers refuse
// MQTT topics holding '.', so Sparkplug's "spBv1.0" cannot pass them
// (Debian bookworm ships 2.9.10; .ci/run builds a newer one with go install).
func natsVersionOK(bin string) error {
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s --version: %v", bin, err)
	}
	v := strings.TrimSpace(string(out))
	f := strings.Fields(v)
	if len(f) == 0 {
		return fmt.Errorf("%s: cannot read version %q", bin, v)
	}
	parts := strings.SplitN(strings.TrimPrefix(f[len(f)-1], "v"), ".", 3)
	if len(parts) < 2 {
		return fmt.Errorf("%s: cannot read version %q", bin, v)
	}
	major, _ := strconv.Atoi(parts[0])
	minor, _ := strconv.Atoi(parts[1])
	if major < 2 || (major == 2 && minor < 10) {
		return fmt.Errorf("%s is %s; MQTT topics with '.' (Sparkplug's spBv1.0) need nats-server 2.10 or later", bin, v)
	}
	return nil
}
