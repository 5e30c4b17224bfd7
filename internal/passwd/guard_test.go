package passwd

import (
	"bytes"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

func guardUsers(t *testing.T) []User {
	t.Helper()
	h, err := New("alice-secret", 2*MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	return []User{{Name: "alice", PasswordHash: h}, {Name: "bob", Password: "bob-secret"}}
}

// A login as a user who does not exist costs the same work as a wrong
// password for one who does: one hash, of the same iteration count, so
// timing does not tell which users exist. Counted, not timed.
func TestUnknownUserCostsTheSameWork(t *testing.T) {
	g, err := NewGuard(guardUsers(t), GuardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	alice, _ := g.accounts.lookup("alice")
	work := alice.Iterations()
	for _, name := range []string{"bob", "mallory"} {
		a, known := g.accounts.lookup(name)
		if known != (name == "bob") {
			t.Fatalf("%s known = %v", name, known)
		}
		if a.Iterations() != work {
			t.Errorf("checking %s's password costs %d iterations, alice's %d", name, a.Iterations(), work)
		}
	}
	for _, tc := range []struct {
		user, pw string
		want     Outcome
	}{
		{"alice", "wrong", Refused}, {"mallory", "wrong", Refused}, {"mallory", "alice-secret", Refused},
		{"bob", "bob-secret", Accepted}, {"", "", Refused},
	} {
		before := g.Checks()
		if got := g.Login("10.0.0.1:1234", tc.user, []byte(tc.pw)); got != tc.want {
			t.Errorf("login %s/%s: %v, want %v", tc.user, tc.pw, got, tc.want)
		}
		if n := g.Checks() - before; n != 1 {
			t.Errorf("login %s/%s ran %d password hashes, want 1", tc.user, tc.pw, n)
		}
	}
}

// After FreeFailures wrong passwords from one address, or for one user
// from many, further attempts are refused without a hash, even with the
// right password; others are not affected.
func TestGuardThrottlesRepeatedFailures(t *testing.T) {
	g, err := NewGuard(guardUsers(t), GuardOptions{Backoff: time.Minute, BackoffMax: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	for i := 0; i < FreeFailures; i++ {
		if got := g.Login("10.0.0.1:"+strconv.Itoa(1000+i), "alice", []byte("guess")); got != Refused {
			t.Fatalf("guess %d: %v", i, got)
		}
	}
	// The fourth failure starts the backoff.
	g.Login("10.0.0.1:2000", "alice", []byte("guess"))
	before := g.Checks()
	if got := g.Login("10.0.0.1:2001", "bob", []byte("bob-secret")); got != Throttled {
		t.Fatalf("the right password from the guessing address: %v, want throttled", got)
	}
	if got := g.Login("10.9.9.9:1", "alice", []byte("alice-secret")); got != Throttled {
		t.Fatalf("alice's right password from elsewhere during her backoff: %v, want throttled", got)
	}
	if n := g.Checks() - before; n != 0 {
		t.Fatalf("throttled logins ran %d hashes", n)
	}
	if got := g.Login("10.0.0.2:1", "bob", []byte("bob-secret")); got != Accepted {
		t.Fatalf("bob from another address: %v", got)
	}
	g.Close()
	if got := g.Login("10.0.0.3:1", "bob", []byte("bob-secret")); got != Busy {
		t.Fatalf("login after Close: %v, want busy", got)
	}
}

// The threads that check passwords run at nice 19, so the operating
// system gives rate groups the CPU first.
func TestChecksRunAtLowestPriority(t *testing.T) {
	if goruntime.GOOS != "linux" {
		t.Skip("thread priorities are read from /proc")
	}
	g, err := NewGuard(guardUsers(t), GuardOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	for end := time.Now().Add(10 * time.Second); ; {
		tasks, _ := filepath.Glob("/proc/self/task/*/stat")
		for _, f := range tasks {
			b, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			// nice is field 19 of the line, the 17th after the command
			// name (which ends in ")").
			fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
			if len(fields) > 16 && fields[16] == "19" {
				return
			}
		}
		if time.Now().After(end) {
			t.Fatal("no thread at nice 19")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The backoff starts after FreeFailures, doubles with each further
// failure up to the cap, ends with a success, and the records stay
// bounded however many names are tried.
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
	for i := 0; i < FreeFailures; i++ {
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

// TestCloseDoesNotWaitForACheckInProgress: a password check at the lowest
// priority can take many seconds on a busy machine, and a broker's stop
// waited for it (a stop that missed its deadline in CI). Close returns
// while the check still runs.
func TestCloseDoesNotWaitForACheckInProgress(t *testing.T) {
	s, err := New("x", MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	// The same hash at 100 million iterations: seconds of work.
	slow, err := Parse(strings.Replace(s, "$"+strconv.Itoa(MinIterations)+"$", "$"+strconv.Itoa(MaxIterations)+"$", 1))
	if err != nil {
		t.Fatal(err)
	}
	h := newHasher(false)
	h.start()
	j := hashJob{a: HashAccount(slow), password: []byte("y"), done: make(chan bool, 1)}
	h.jobs <- j
	for h.hashes.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	h.close()
	select {
	case <-j.done:
		t.Fatal("close returned only after the check in progress had finished")
	default:
	}
	if ok, err := h.check(HashAccount(slow), []byte("y")); ok || err == nil {
		t.Errorf("a check after close: %v, %v; want refused", ok, err)
	}
}
