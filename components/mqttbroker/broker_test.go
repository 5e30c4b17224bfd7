package mqttbroker

import (
	"testing"
)

func TestPahoPublishSubscribeQoS012AndRetained(t *testing.T) {
	b := startBroker(t, openConfig())
	addr := b.Addrs()[0]
	sub := mustDial(t, addr, clientOpts{id: newID("sub"), clean: true})
	pub := mustDial(t, addr, clientOpts{id: newID("pub"), clean: true})
	if rc := sub.sub(t, "plant/#", 2); rc != 2 {
		t.Fatalf("suback %d, want granted QoS 2", rc)
	}
	for qos := byte(0); qos <= 2; qos++ {
		payload := []byte{'q', '0' + qos}
		if _, err := pub.pub(t, "plant/a", payload, qos, false); err != nil {
			t.Fatalf("publish qos %d: %v", qos, err)
		}
		sub.expect(t, "plant/a", string(payload))
	}
	if _, err := pub.pub(t, "plant/state", []byte("on"), 1, true); err != nil {
		t.Fatal(err)
	}
	sub.expect(t, "plant/state", "on")
	late := mustDial(t, addr, clientOpts{id: newID("late"), clean: true})
	late.sub(t, "plant/state", 1)
	late.expect(t, "plant/state", "on")
	if s := b.Stats(); s.Retained != 1 || s.Clients != 3 || s.MessagesIn < 4 {
		t.Fatalf("stats %+v: want 1 retained, 3 clients, >= 4 messages in", s)
	}
}

func TestWillIsPublished(t *testing.T) {
	b := startBroker(t, openConfig())
	addr := b.Addrs()[0]
	watcher := mustDial(t, addr, clientOpts{id: newID("w"), clean: true})
	watcher.sub(t, "status/#", 1)
	dev := mustDial(t, addr, clientOpts{id: newID("dev"), clean: true, will: &willOpt{"status/dev", "offline"}})
	dev.TerminateConnectionForTest()
	watcher.expect(t, "status/dev", "offline")
}
