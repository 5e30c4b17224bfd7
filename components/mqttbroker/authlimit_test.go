package mqttbroker

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"testing"
	"time"
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
	for i := 0; i < freeFailures+1; i++ {
		if err := dialFrom(t, "127.0.0.1", addr, clientOpts{id: newID("g"), user: "alice", pass: "guess", clean: true}); err == nil {
			t.Fatal("a wrong password was accepted")
		}
	}
	if err := dialFrom(t, "127.0.0.1", addr, clientOpts{id: newID("a"), user: "alice", pass: "alice-secret", clean: true}); err == nil {
		t.Fatal("the right password was checked during the backoff after wrong ones from the same address")
	}
	// One guess per address, many addresses, one user.
	for i := 0; i < freeFailures+1; i++ {
		from := net.IPv4(127, 0, 1, byte(10+i)).String()
		if err := dialFrom(t, from, addr, clientOpts{id: newID("g"), user: "bob", pass: "guess", clean: true}); err == nil {
			t.Fatal("a wrong password was accepted")
		}
	}
	if err := dialFrom(t, "127.0.2.1", addr, clientOpts{id: newID("b"), user: "bob", pass: "bob-secret", clean: true}); err == nil {
		t.Fatal("bob's right password was checked during the backoff after wrong ones for bob")
	}
	if s := b.Stats(); s.AuthFailures != 2*(freeFailures+1) || s.AuthThrottled != 2 {
		t.Fatalf("AuthFailures %d, AuthThrottled %d; want %d and 2", s.AuthFailures, s.AuthThrottled, 2*(freeFailures+1))
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
	cfg.AuthBackoff, cfg.AuthBackoffMax = 50*time.Millisecond, 200*time.Millisecond
	b := startBroker(t, cfg)
	addr := b.Addrs()[0]
	for i := 0; i < freeFailures+2; i++ {
		_ = dialFrom(t, "127.0.0.1", addr, clientOpts{id: newID("g"), user: "alice", pass: "guess", clean: true})
	}
	// The last attempt was refused unchecked, held back until the backoff
	// ended.
	s := b.Stats()
	if s.AuthFailures != freeFailures+1 || s.AuthThrottled != 1 {
		t.Fatalf("AuthFailures %d, AuthThrottled %d; want %d checked and failed, then 1 refused unchecked", s.AuthFailures, s.AuthThrottled, freeFailures+1)
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
// which users exist), and passwords given in plain text are hashed as
// strongly as the configured hashes.
func TestUnknownUserCostsAHash(t *testing.T) {
	b := startBroker(t, authConfig(t))
	addr := b.Addrs()[0]
	before := b.auth.hasher.hashes.Load()
	if err := dialFrom(t, "127.0.0.1", addr, clientOpts{id: newID("x"), user: "mallory", pass: "x", clean: true}); err == nil {
		t.Fatal("unknown user accepted")
	}
	if got := b.auth.hasher.hashes.Load() - before; got != 1 {
		t.Fatalf("an unknown user's login ran %d password hashes, want 1", got)
	}
	alice := b.auth.accounts.byName["alice"].hash.iter
	for _, name := range []string{"bob", "carol"} {
		if got := b.auth.accounts.byName[name].hash.iter; got != alice {
			t.Errorf("%s's plain-text password is hashed with %d iterations, want %d like alice's", name, got, alice)
		}
	}
	if got := b.auth.accounts.dummy.hash.iter; got != alice {
		t.Errorf("the stand-in for unknown users has %d iterations, want %d", got, alice)
	}
}

// TestPasswordChecksRunAtLowestPriority: the threads that check passwords
// run at nice 19, so the operating system gives rate groups the CPU first.
func TestPasswordChecksRunAtLowestPriority(t *testing.T) {
	if goruntime.GOOS != "linux" {
		t.Skip("thread priorities are read from /proc")
	}
	startBroker(t, authConfig(t))
	waitFor(t, "a thread at nice 19", func() bool {
		tasks, _ := filepath.Glob("/proc/self/task/*/stat")
		for _, f := range tasks {
			b, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			// Fields after the command name (which ends in ")"); nice is
			// field 19 of the line, the 17th after it.
			fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
			if len(fields) > 16 && fields[16] == "19" {
				return true
			}
		}
		return false
	})
}

// TestLoginLimiterBackoff: the backoff starts after freeFailures, doubles
// with each further failure up to the cap, ends with a success, and the
// records stay bounded however many names are tried.
func TestLoginLimiterBackoff(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLoginLimiter(time.Second, 8*time.Second)
	l.now = func() time.Time { return now }
	fail := func() {
		t.Helper()
		if ok, _ := l.begin("10.0.0.1", "u"); !ok {
			t.Fatalf("attempt refused at %v", now)
		}
		l.end("10.0.0.1", "u", false)
	}
	for i := 0; i < freeFailures; i++ {
		fail()
	}
	for _, want := range []time.Duration{1, 2, 4, 8, 8} {
		fail()
		if ok, hold := l.begin("10.0.0.1", "u"); ok || hold != min(want*time.Second, refuseDelay) {
			t.Fatalf("after a failure: begin = %v, hold %v; want refused for %vs", ok, hold, want)
		}
		if ok, _ := l.begin("10.0.0.2", "v"); !ok {
			t.Fatal("another address and user were throttled")
		}
		l.end("10.0.0.2", "v", true)
		now = now.Add(want*time.Second - time.Millisecond)
		if ok, _ := l.begin("10.0.0.1", "w"); ok {
			t.Fatal("the address's backoff ended early")
		}
		now = now.Add(time.Millisecond)
	}
	if ok, _ := l.begin("10.0.0.1", "u"); !ok {
		t.Fatal("refused after the backoff")
	}
	l.end("10.0.0.1", "u", true)
	if len(l.byAddr) != 0 || len(l.byUser) != 0 {
		t.Fatalf("a success left records: %d addresses, %d users", len(l.byAddr), len(l.byUser))
	}
	for i := 0; i < 3*maxTracked; i++ {
		user := strconv.Itoa(i)
		if ok, _ := l.begin(user, user); ok {
			l.end(user, user, false)
		}
	}
	if len(l.byAddr) > maxTracked || len(l.byUser) > maxTracked {
		t.Fatalf("%d addresses and %d users tracked, above %d", len(l.byAddr), len(l.byUser), maxTracked)
	}
}
