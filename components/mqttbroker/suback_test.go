package mqttbroker

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/metronome-rt/metronome/internal/mqtttest"
)

// subProcess is a running mosquitto_sub whose printed lines are collected.
type subProcess struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	lines  []string
	stderr strings.Builder
	done   chan struct{}
	err    error
}

func startSub(t testing.TB, tool string, args ...string) *subProcess {
	t.Helper()
	// mosquitto_sub's stdout is a pipe here, block-buffered by stdio;
	// stdbuf makes it line-buffered, so lines arrive as they are printed.
	stdbuf := mqtttest.RequireTool(t, "stdbuf")
	p := &subProcess{cmd: exec.Command(stdbuf, append([]string{"-oL", tool}, args...)...), done: make(chan struct{})}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
		}
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(p.stop)
	return p
}

func (p *subProcess) stop() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

func (p *subProcess) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.lines...)
}

func (p *subProcess) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// TestPersistentSubscriberResubscribesWithMessagesQueued: a standard MQTT
// 3.1.1 persistent subscriber (mosquitto_sub -c) reconnects while QoS 1
// messages are queued for it. The broker resends them with its own packet
// IDs from 1, and mosquitto_sub subscribes again with its packet ID 1: the
// two sides number their packets independently, so the SUBSCRIBE must be
// granted (mochi answered 0x91, which 3.1.1 does not even have, and
// mosquitto_sub exited). Then every queued message and new ones arrive.
func TestPersistentSubscriberResubscribesWithMessagesQueued(t *testing.T) {
	tool := mqtttest.RequireTool(t, "mosquitto_sub")
	users := []refUser{{rules: []refRule{{"t/#", "readwrite"}}}}
	forEachBroker(t, users, "", nil, func(t *testing.T, tg target) {
		host, port, _ := net.SplitHostPort(tg.addr)
		args := []string{"-h", host, "-p", port, "-V", "mqttv311", "-c", "-i", "sub311", "-q", "1", "-t", "t/#"}
		pub := mustDial(t, tg.addr, clientOpts{id: newID("pub"), clean: true})

		// First run: subscribe, take one message, disconnect (the session
		// and its subscription stay). The message is QoS 0, so the
		// broker's packet IDs for this session still start at 1.
		first := startSub(t, tool, append(args, "-C", "1")...)
		deadline := time.Now().Add(testTimeout)
		for !first.exited() {
			if time.Now().After(deadline) {
				t.Fatal("mosquitto_sub did not receive its first message")
			}
			if _, err := pub.pub(t, "t/warm", []byte("warm"), 0, false); err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if first.err != nil {
			t.Fatalf("first mosquitto_sub: %v: %s", first.err, first.stderr.String())
		}

		const n = 30
		for i := 0; i < n; i++ {
			if _, err := pub.pub(t, "t/q", []byte(fmt.Sprintf("q-%d", i)), 1, false); err != nil {
				t.Fatal(err)
			}
		}
		waitQueued(t, tg, "sub311", n)

		// -d prints the protocol exchange, including the SUBACK's codes.
		second := startSub(t, tool, append(args, "-d")...)
		suback := func() string {
			for _, l := range second.seen() {
				if strings.HasPrefix(l, "Subscribed (mid: ") {
					return l
				}
			}
			return ""
		}
		for suback() == "" && !second.exited() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if got := suback(); got != "Subscribed (mid: 1): 1" {
			t.Fatalf("resubscribing: %q, want QoS 1 granted to packet ID 1; printed %q", got, second.seen())
		}
		gotLive := func() bool {
			for _, l := range second.seen() {
				if strings.HasPrefix(l, "live-") {
					return true
				}
			}
			return false
		}
		for j := 0; !gotLive(); j++ {
			if second.exited() {
				t.Fatalf("mosquitto_sub exited after reconnecting: %v: %s (printed %q)", second.err, second.stderr.String(), second.seen())
			}
			if time.Now().After(deadline) {
				t.Fatalf("no new message after reconnecting; printed %q, stderr %s", second.seen(), second.stderr.String())
			}
			if _, err := pub.pub(t, "t/live", []byte(fmt.Sprintf("live-%d", j)), 1, false); err != nil {
				t.Fatal(err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		next := 0
		for _, l := range second.seen() {
			if !strings.HasPrefix(l, "q-") {
				continue
			}
			if l != fmt.Sprintf("q-%d", next) {
				t.Fatalf("queued message %d: got %q; printed %q", next, l, second.seen())
			}
			next++
		}
		if next != n {
			t.Fatalf("received %d of %d queued messages; printed %q", next, n, second.seen())
		}
	})
}

// TestSubscribePacketIDIsTheClients: a v5 client reconnects to its session
// while the broker resends a queued message with packet ID 1 and, before
// acknowledging it, subscribes and unsubscribes with its own packet ID 1.
// Both are granted: packet IDs are numbered by each side on its own.
func TestSubscribePacketIDIsTheClients(t *testing.T) {
	b := startBroker(t, openConfig())
	addr := b.Addrs()[0]
	// CONNECT v5, clean start off, session expiry 3600, client ID "v5c".
	connect := []byte{0x10, 0x15, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x00, 0, 60, 5, 0x11, 0, 0, 0x0e, 0x10, 0, 3, 'v', '5', 'c'}
	c := dialRaw(t, addr, connect)
	if h, body := c.read(); h != 0x20 || body[1] != 0 {
		t.Fatalf("CONNACK % x % x", h, body)
	}
	// SUBSCRIBE id 1, no properties, "s/#" QoS 1.
	subscribe := []byte{0x82, 0x09, 0, 1, 0, 0, 3, 's', '/', '#', 1}
	c.write(subscribe)
	if h, body := c.read(); h != 0x90 || body[len(body)-1] != 1 {
		t.Fatalf("SUBACK % x % x", h, body)
	}
	c.c.Close()
	waitFor(t, "the client to go offline", func() bool { return b.Stats().Clients == 0 })
	pub := mustDial(t, addr, clientOpts{id: newID("pub"), clean: true})
	if _, err := pub.pub(t, "s/x", []byte("queued"), 1, false); err != nil {
		t.Fatal(err)
	}
	waitQueued(t, target{embedded: b}, "v5c", 1)

	c = dialRaw(t, addr, connect)
	if h, body := c.read(); h != 0x20 || body[0] != 1 {
		t.Fatalf("CONNACK % x % x: want session present", h, body)
	}
	if h, _ := c.read(); h&0xf0 != 0x30 {
		t.Fatalf("want the queued PUBLISH, got % x", h)
	}
	c.write(subscribe)
	if h, body := c.read(); h != 0x90 || body[len(body)-1] != 1 {
		t.Fatalf("SUBACK % x % x: want QoS 1 granted to packet ID 1", h, body)
	}
	// UNSUBSCRIBE id 1, no properties, "s/#".
	c.write([]byte{0xa2, 0x08, 0, 1, 0, 0, 3, 's', '/', '#'})
	if h, body := c.read(); h != 0xb0 || body[len(body)-1] != 0 {
		t.Fatalf("UNSUBACK % x % x: want success for packet ID 1", h, body)
	}
	// The queued message is still the broker's to deliver: acknowledge it.
	c.write([]byte{0x40, 0x02, 0, 1})
}
