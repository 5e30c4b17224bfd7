package mqtttest

import (
	"bytes"
	"context"
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
