package mqttbroker

import (
	"context"
	"testing"

	"github.com/eclipse/paho.golang/paho"
)

// identityUsers: admin may use b/# and a/#, alice only a/#.
var identityUsers = []refUser{
	{name: "admin", pass: "admin-pw", rules: []refRule{{"b/#", "readwrite"}, {"a/#", "readwrite"}}},
	{name: "alice", pass: "alice-pw", rules: []refRule{{"a/#", "readwrite"}}},
}

// TestSessionBelongsToItsUser: user admin has a persistent session
// subscribed to b/#, with a QoS 1 message and a retained one queued while
// it is offline. User alice, whose ACL allows only a/#, connects with
// admin's client ID and clean start off. She must receive nothing of b/:
// not the queued messages, not new ones. mosquitto behaves the same.
func TestSessionBelongsToItsUser(t *testing.T) {
	forEachBroker(t, identityUsers, "", nil, func(t *testing.T, tg target) {
		const id = "plant-hmi"
		admin := mustDial(t, tg.addr, clientOpts{id: id, user: "admin", pass: "admin-pw", clean: true, expiry: 3600})
		if rc := admin.sub(t, "b/#", 1); rc != 1 {
			t.Fatalf("admin subscribing b/#: %#x", rc)
		}
		if err := admin.Disconnect(&paho.Disconnect{}); err != nil {
			t.Fatal(err)
		}
		pub := mustDial(t, tg.addr, clientOpts{id: "admin-pub", user: "admin", pass: "admin-pw", clean: true})
		if _, err := pub.pub(t, "b/q", []byte("queued"), 1, false); err != nil {
			t.Fatal(err)
		}
		if _, err := pub.pub(t, "b/secret", []byte("s3cret"), 1, true); err != nil {
			t.Fatal(err)
		}
		waitQueued(t, tg, id, 2)

		alice, ca, err := dial(t, tg.addr, clientOpts{id: id, user: "alice", pass: "alice-pw", clean: false, expiry: 3600})
		if err != nil {
			t.Fatalf("alice connecting with admin's client ID: %v", err)
		}
		// mosquitto 2.0.11 resumes the session and drops what the new user
		// may not read; Metronome starts a fresh one: the session belongs
		// to the user who made it. Neither delivers anything of b/.
		t.Logf("%s: session present for alice: %v", tg.name, ca.SessionPresent)
		if tg.embedded != nil && ca.SessionPresent {
			t.Error("alice was given admin's session")
		}
		if rc := alice.sub(t, "a/#", 1); rc != 1 {
			t.Fatalf("alice subscribing a/#: %#x", rc)
		}
		// A live message on b/ goes out before the control message; if
		// either it or the queued ones reached alice, they come first.
		if _, err := pub.pub(t, "b/live", []byte("live"), 1, false); err != nil {
			t.Fatal(err)
		}
		if _, err := pub.pub(t, "a/ctl", []byte("control"), 1, false); err != nil {
			t.Fatal(err)
		}
		alice.expect(t, "a/ctl", "control")
	})
}

// TestRestoredQueueIsCheckedAgainstTheACL: messages queued for a session
// and persisted are checked against the ACL in force when the session
// resumes, so a rule removed while the broker was down takes effect for
// them too.
func TestRestoredQueueIsCheckedAgainstTheACL(t *testing.T) {
	cfg := refConfig(identityUsers)
	cfg.Persistence = &PersistenceConfig{Dir: t.TempDir()}
	b := startBroker(t, cfg)
	const id = "plant-hmi"
	admin := mustDial(t, b.Addrs()[0], clientOpts{id: id, user: "admin", pass: "admin-pw", clean: true, expiry: 3600})
	admin.sub(t, "b/#", 1)
	admin.sub(t, "a/#", 1)
	if err := admin.Disconnect(&paho.Disconnect{}); err != nil {
		t.Fatal(err)
	}
	pub := mustDial(t, b.Addrs()[0], clientOpts{id: "admin-pub", user: "admin", pass: "admin-pw", clean: true})
	if _, err := pub.pub(t, "b/q", []byte("queued"), 1, false); err != nil {
		t.Fatal(err)
	}
	waitQueued(t, target{embedded: b}, id, 1)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := b.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// admin loses b/# while the broker is down.
	cfg.ACL = []ACLRule{{User: "admin", Topic: "a/#", Access: "readwrite"}, {User: "alice", Topic: "a/#", Access: "readwrite"}}
	b = startBroker(t, cfg)
	admin = resume(t, b.Addrs()[0], clientOpts{id: id, user: "admin", pass: "admin-pw", expiry: 3600})
	pub = mustDial(t, b.Addrs()[0], clientOpts{id: "admin-pub", user: "admin", pass: "admin-pw", clean: true})
	if _, err := pub.pub(t, "a/ctl", []byte("control"), 1, false); err != nil {
		t.Fatal(err)
	}
	admin.expect(t, "a/ctl", "control")
	if b.Stats().ACLDenied == 0 {
		t.Fatal("the refused queued message was not counted in ACLDenied")
	}
}
