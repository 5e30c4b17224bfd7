package mqttbroker

import (
	"context"
	"strings"
	"testing"
)

// TestLogVolumeIsBounded: a flood of malformed connections and a client
// with a 20 kB client ID cannot flood the log. Repeated warnings are
// sampled and their count reported; no line carries more than a short
// prefix of what a client sent.
func TestLogVolumeIsBounded(t *testing.T) {
	b, buf := startLoggedBroker(t, openConfig())
	addr := b.Addrs()[0]
	const n = 300
	for i := 0; i < n; i++ {
		sendRaw(t, addr, connectV5, truncatedSubscribeV5)
	}
	// A 20 kB client ID, then a QoS 1 PUBLISH without a packet ID (a
	// protocol violation mochi logs with the client ID).
	id := strings.Repeat("i", 20000)
	body := append([]byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, byte(len(id) >> 8), byte(len(id))}, id...)
	connect := append(append([]byte{0x10}, varInt(len(body))...), body...)
	sendRaw(t, addr, connect, []byte{0x32, 0x07, 0, 3, 'a', '/', 'b', 0, 0})
	good := newGoodClient(t, addr)
	good.roundTrip(t)
	if got := b.Stats().Malformed; got != n {
		t.Fatalf("Malformed = %d, want %d", got, n)
	}
	if err := b.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	logs := buf.String()
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	malformed := 0
	for _, l := range lines {
		if strings.Contains(l, "malformed packet") {
			malformed++
		}
		if len(l) > 2048 {
			t.Errorf("a log line of %d bytes: %.300s...", len(l), l)
		}
	}
	if malformed > 3 {
		t.Fatalf("%d log lines about %d malformed connections, want them sampled", malformed, n)
	}
	if !strings.Contains(logs, `"suppressed":`) {
		t.Fatalf("the count of sampled warnings is not reported:\n%s", logs)
	}
	t.Logf("%d log lines in all:\n%s", len(lines), logs)
}

// varInt encodes an MQTT variable byte integer.
func varInt(n int) []byte {
	var out []byte
	for {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		out = append(out, b)
		if n == 0 {
			return out
		}
	}
}
