package mqttbroker

import (
	"bytes"
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/metronome-rt/metronome/internal/mqtttest"
)

// waitFor polls cond until it holds or the test timeout passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestMosquittoClients talks to the broker with Debian's mosquitto_pub and
// mosquitto_sub in MQTT 3.1, 3.1.1 and 5, logged in as a user.
func TestMosquittoClients(t *testing.T) {
	pubTool := mqtttest.RequireTool(t, "mosquitto_pub")
	subTool := mqtttest.RequireTool(t, "mosquitto_sub")
	b := startBroker(t, authConfig(t))
	host, port, _ := net.SplitHostPort(b.Addrs()[0])
	alice := mustDial(t, b.Addrs()[0], clientOpts{id: "paho-alice", user: "alice", pass: "alice-secret", clean: true})
	alice.sub(t, "plant/from/#", 1)
	for _, v := range []string{"mqttv31", "mqttv311", "mqttv5"} {
		t.Run(v, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			common := []string{"-V", v, "-h", host, "-p", port, "-u", "alice", "-P", "alice-secret", "-q", "1"}

			// mosquitto_pub -> paho
			out, err := exec.CommandContext(ctx, pubTool, append(common, "-i", "pub-"+v, "-t", "plant/from/"+v, "-m", "hello "+v)...).CombinedOutput()
			if err != nil {
				t.Fatalf("mosquitto_pub: %v: %s", err, out)
			}
			alice.expect(t, "plant/from/"+v, "hello "+v)

			// paho -> mosquitto_sub
			subs := b.Stats().Subscriptions
			var buf bytes.Buffer
			cmd := exec.CommandContext(ctx, subTool, append(common, "-i", "sub-"+v, "-t", "plant/to/"+v, "-C", "1", "-W", "10")...)
			cmd.Stdout, cmd.Stderr = &buf, &buf
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "mosquitto_sub to subscribe", func() bool { return b.Stats().Subscriptions > subs })
			if _, err := alice.pub(t, "plant/to/"+v, []byte("to "+v), 1, false); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("mosquitto_sub: %v: %s", err, buf.String())
			}
			if got := strings.TrimSpace(buf.String()); got != "to "+v {
				t.Fatalf("mosquitto_sub printed %q", got)
			}

			// wrong password refused
			out, err = exec.CommandContext(ctx, pubTool, "-V", v, "-h", host, "-p", port, "-u", "alice", "-P", "wrong", "-i", "bad-"+v, "-t", "plant/x", "-m", "x").CombinedOutput()
			if err == nil {
				t.Fatalf("mosquitto_pub with a wrong password succeeded: %s", out)
			}
		})
	}
}
