package mqttbroker

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"
)

// rawClient speaks MQTT 3.1.1 byte by byte, for cases paho cannot produce.
type rawClient struct {
	t testing.TB
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t testing.TB, addr string, connect []byte) *rawClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, testTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rc := &rawClient{t: t, c: c, r: bufio.NewReader(c)}
	rc.write(connect)
	return rc
}

func (rc *rawClient) write(b []byte) {
	rc.t.Helper()
	if _, err := rc.c.Write(b); err != nil {
		rc.t.Fatal(err)
	}
}

// read returns the next packet's first byte and body.
func (rc *rawClient) read() (byte, []byte) {
	rc.t.Helper()
	_ = rc.c.SetReadDeadline(time.Now().Add(testTimeout))
	h, err := rc.r.ReadByte()
	if err != nil {
		rc.t.Fatalf("read: %v", err)
	}
	n, mul := 0, 1
	for {
		b, err := rc.r.ReadByte()
		if err != nil {
			rc.t.Fatal(err)
		}
		n += int(b&0x7f) * mul
		mul *= 128
		if b&0x80 == 0 {
			break
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(rc.r, body); err != nil {
		rc.t.Fatal(err)
	}
	return h, body
}

// TestOwnPacketIDDoesNotEraseQueuedMessage: a device receives a QoS 1
// message with packet ID X, and before acknowledging it publishes its own
// QoS 1 message with ID X. The broker's message must still be redelivered
// after the device reconnects.
func TestOwnPacketIDDoesNotEraseQueuedMessage(t *testing.T) {
	b := startBroker(t, openConfig())
	addr := b.Addrs()[0]
	// CONNECT 3.1.1, clean session off, client ID "dev".
	connect := []byte{0x10, 0x0f, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x00, 0, 60, 0, 3, 'd', 'e', 'v'}
	dev := dialRaw(t, addr, connect)
	if h, body := dev.read(); h != 0x20 || body[1] != 0 {
		t.Fatalf("CONNACK % x % x", h, body)
	}
	dev.write([]byte{0x82, 0x0a, 0, 1, 0, 5, 'c', 'o', 'l', '/', '#', 1})
	if h, _ := dev.read(); h != 0x90 {
		t.Fatalf("want SUBACK, got % x", h)
	}
	pub := mustDial(t, addr, clientOpts{id: newID("pub"), clean: true})
	if _, err := pub.pub(t, "col/a", []byte("p1"), 1, false); err != nil {
		t.Fatal(err)
	}
	h, body := dev.read()
	if h&0xf0 != 0x30 || h&0x06 != 0x02 {
		t.Fatalf("want a QoS 1 PUBLISH, got % x", h)
	}
	tl := int(body[0])<<8 | int(body[1])
	idHi, idLo := body[2+tl], body[3+tl]
	// The device's own QoS 1 publish, reusing the ID, and not acking ours.
	dev.write([]byte{0x32, 0x0a, 0, 4, 'u', 'p', '/', 'x', idHi, idLo, 'm', 'e'})
	if h, ack := dev.read(); h != 0x40 || ack[0] != idHi || ack[1] != idLo {
		t.Fatalf("want PUBACK for the device's message, got % x % x", h, ack)
	}
	dev.c.Close() // drops without acknowledging the broker's message
	waitFor(t, "the device to go offline", func() bool { return b.Stats().Clients == 1 })

	dev2 := dialRaw(t, addr, connect)
	if h, body := dev2.read(); h != 0x20 || body[0] != 1 {
		t.Fatalf("CONNACK % x % x: want session present", h, body)
	}
	h, body = dev2.read()
	if h&0xf0 != 0x30 || h&0x08 == 0 {
		t.Fatalf("want the broker's message again with DUP set, got % x % x", h, body)
	}
	if got := string(body[2+tl+2:]); got != "p1" {
		t.Fatalf("redelivered %q, want p1", got)
	}
	if b.ids.saved.Load() != 1 {
		t.Fatalf("collisions repaired = %d, want 1", b.ids.saved.Load())
	}
}
