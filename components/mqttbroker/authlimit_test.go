package mqttbroker

import (
	"net"
	"testing"
	"time"

	"github.com/metronome-rt/metronome/internal/passwd"
)

// dialFrom connects from a given loopback address (any 127.0.0.0/8 address
// is this host), so that tests can play clients on different machines.
func dialFrom(t testing.TB, from, addr string, o clientOpts) error {
	t.Helper()
	d := &net.Dialer{Timeout: testTimeout, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	o.conn = conn
	_, _, err = dial(t, addr, o)
	return err
}

// TestPasswordGuessingIsThrottled: after a few wrong passwords from one
// address, or for one user from many addresses, further attempts are
// refused without checking the password, even the right one, until a
// backoff has passed; other users on other addresses are not affected.
func TestPasswordGuessingIsThrottled(t *testing.T) {
	cfg := authConfig(t)
	cfg.AuthBackoff = time.Minute // longer than the test; refusals are held back 1s at most
	b := startBroker(t, cfg)
	addr := b.Addrs()[0]
	for i := 0; i < passwd.FreeFailures+1; i++ {
		if err := dialFrom(t, "127.0.0.1", addr, clientOpts{id: newID("g"), user: "alice", pass: "guess", clean: true}); err == nil {
			t.Fatal("a wrong password was accepted")
		}
	}
	if err := dialFrom(t, "127.0.0.1", addr, clientOpts{id: newID("a"), user: "alice", pass: "alice-secret", clean: true}); err == nil {
		t.Fatal("the right password was checked during the backoff after wrong ones from the same address")
	}
	// One guess per address, many addresses, one user.
	for i := 0; i < passwd.FreeFailures+1; i++ {
		from := net.IPv4(127, 0, 1, byte(10+i)).String()
		if err := dialFrom(t, from, addr, clientOpts{id: newID("g"), user: "bob", pass: "guess", clean: true}); err == nil {
			t.Fatal("a wrong password was accepted")
		}
	}
	if err := dialFrom(t, "127.0.2.1", addr, clientOpts{id: newID("b"), user: "bob", pass: "bob-secret", clean: true}); err == nil {
		t.Fatal("bob's right password was checked during the backoff after wrong ones for bob")
	}
	if s := b.Stats(); s.AuthFailures != 2*(passwd.FreeFailures+1) || s.AuthThrottled != 2 {
		t.Fatalf("AuthFailures %d, AuthThrottled %d; want %d and 2", s.AuthFailures, s.AuthThrottled, 2*(passwd.FreeFailures+1))
	}
	// Nobody else is affected.
	if err := dialFrom(t, "127.0.3.1", addr, clientOpts{id: "carol-1", user: "carol", pass: "carol-secret", clean: true}); err != nil {
		t.Fatalf("carol from another address: %v", err)
	}
}

// TestThrottleCountsAndEnds: throttled attempts are counted in
// AuthThrottled, and once the backoff has passed the right password is
// checked again and accepted.
func TestThrottleCountsAndEnds(t *testing.T) {
	cfg := authConfig(t)
	// A backoff long enough that the next attempt surely comes inside it,
	// even when a check at nice 19 and the redial take hundreds of
	// milliseconds on a loaded machine (a 50 ms backoff ran out in a CI-like run).
	cfg.AuthBackoff, cfg.AuthBackoffMax = 2*time.Second, 2*time.Second
	b := startBroker(t, cfg)
	addr := b.Addrs()[0]
	for i := 0; i < passwd.FreeFailures+2; i++ {
		_ = dialFrom(t, "127.0.0.1", addr, clientOpts{id: newID("g"), user: "alice", pass: "guess", clean: true})
	}
	// The last attempt was refused unchecked, held back until the backoff
	// ended.
	s := b.Stats()
	if s.AuthFailures != passwd.FreeFailures+1 || s.AuthThrottled != 1 {
		t.Fatalf("AuthFailures %d, AuthThrottled %d; want %d checked and failed, then 1 refused unchecked", s.AuthFailures, s.AuthThrottled, passwd.FreeFailures+1)
	}
	waitFor(t, "the backoff to pass", func() bool {
		return dialFrom(t, "127.0.0.1", addr, clientOpts{id: newID("a"), user: "alice", pass: "alice-secret", clean: true}) == nil
	})
	// The success cleared the address's record: a new typo is free again.
	_ = dialFrom(t, "127.0.0.1", addr, clientOpts{id: newID("g"), user: "alice", pass: "typo", clean: true})
	if err := dialFrom(t, "127.0.0.1", addr, clientOpts{id: newID("a"), user: "alice", pass: "alice-secret", clean: true}); err != nil {
		t.Fatalf("one typo after a success throttled the next login: %v", err)
	}
}

// TestUnknownUserCostsAHash: a login as a user who does not exist runs a
// password hash like a wrong password does (so timing does not reveal
// which users exist); passwd's tests check that every account and the
// stand-in cost the same work.
func TestUnknownUserCostsAHash(t *testing.T) {
	b := startBroker(t, authConfig(t))
	addr := b.Addrs()[0]
	for _, user := range []string{"mallory", "alice"} {
		before := b.auth.guard.Checks()
		if err := dialFrom(t, "127.0.0.1", addr, clientOpts{id: newID("x"), user: user, pass: "x", clean: true}); err == nil {
			t.Fatalf("%s with a wrong password accepted", user)
		}
		if got := b.auth.guard.Checks() - before; got != 1 {
			t.Fatalf("a login as %s ran %d password hashes, want 1", user, got)
		}
	}
}
