package mqtttest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestMosquittoRoundTrip starts mosquitto and passes one retained message
// through it with the Debian clients, proving the helper gives a usable broker.
func TestMosquittoRoundTrip(t *testing.T) {
	addr := Mosquitto(t, "set_tcp_nodelay true")
	pub := RequireTool(t, "mosquitto_pub")
	sub := RequireTool(t, "mosquitto_sub")
	host, port := splitAddr(t, addr)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, pub, "-h", host, "-p", port, "-t", "mqtttest/x", "-m", "hello", "-r", "-q", "1").CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub: %v: %s", err, out)
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, sub, "-h", host, "-p", port, "-t", "mqtttest/x", "-C", "1", "-W", "5")
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("mosquitto_sub: %v: %s", err, out.String())
	}
	if got := strings.TrimSpace(out.String()); got != "hello" {
		t.Fatalf("mosquitto_sub got %q, want %q", got, "hello")
	}
}

func TestFreePortIsBindable(t *testing.T) {
	p := FreePort(t)
	if p <= 0 || p > 65535 {
		t.Fatalf("FreePort returned %d", p)
	}
}

func splitAddr(t *testing.T, addr string) (string, string) {
	t.Helper()
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		t.Fatalf("bad address %q", addr)
	}
	return addr[:i], addr[i+1:]
}

// TestHelperRequireMissing is run as a subprocess by TestMissingToolRule.
func TestHelperRequireMissing(t *testing.T) {
	if os.Getenv("MQTTTEST_HELPER") != "1" {
		t.Skip("helper for TestMissingToolRule")
	}
	RequireTool(t, "no-such-mqtt-tool-4c1d")
	t.Log("reached after RequireTool")
}

// TestMissingToolRule: a missing tool skips the test locally and fails it
// in CI.
func TestMissingToolRule(t *testing.T) {
	for _, tc := range []struct {
		ci       string
		wantFail bool
		wantText string
	}{{"", false, "SKIP"}, {"1", true, "required in CI"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperRequireMissing$", "-test.v")
		cmd.Env = append(os.Environ(), "MQTTTEST_HELPER=1", "CI="+tc.ci)
		out, err := cmd.CombinedOutput()
		cancel()
		if failed := err != nil; failed != tc.wantFail || !strings.Contains(string(out), tc.wantText) || strings.Contains(string(out), "reached after") {
			t.Fatalf("CI=%q: err=%v, want failure %v with %q:\n%s", tc.ci, err, tc.wantFail, tc.wantText, out)
		}
	}
}
