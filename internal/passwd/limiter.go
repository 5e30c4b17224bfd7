package passwd

import (
	"net"
	"sync"
	"time"
)

// Login throttling: after failed logins from an address, or for a
// username, further attempts from that address or for that user are
// refused without checking the password until a backoff has passed. The
// backoff starts after a few failures (typing mistakes, a device
// restarted with an old password), then doubles with each further
// failure up to a maximum; a successful login clears it. An attempt
// refused by the backoff is not checked, so even the right password is
// refused, and a guesser learns nothing from it. The refusal itself is
// held back for the rest of the backoff (at most refuseDelay), so that a
// guesser that retries at once does not turn the backoff into a flood of
// connections.
const (
	// FreeFailures is how many consecutive failures pass before the
	// backoff starts, per address and per user.
	FreeFailures = 3
	// maxTracked bounds how many addresses and how many usernames are
	// remembered each, so that guessing with random names or from many
	// addresses cannot grow the broker's memory.
	maxTracked = 4096
	// maxChecksPerAddress bounds the password checks running at once for
	// one address.
	maxChecksPerAddress = 4
	// refuseDelay caps how long a throttled attempt waits for its refusal.
	refuseDelay = time.Second
)

// strike is the failure record of one address or username.
type strike struct {
	fails    int       // consecutive failures
	last     time.Time // the latest failure
	checking int       // password checks running now
}

// loginLimiter keeps the failure records. It is safe for concurrent use.
type loginLimiter struct {
	initial, max time.Duration // backoff after the first counted failure, and its cap
	now          func() time.Time

	mu     sync.Mutex
	byAddr map[string]*strike
	byUser map[string]*strike
	swept  time.Time // the last sweep of expired records
}

func newLoginLimiter(initial, max time.Duration) *loginLimiter {
	return &loginLimiter{initial: initial, max: max, now: time.Now, byAddr: map[string]*strike{}, byUser: map[string]*strike{}}
}

// backoff is how long attempts wait after n consecutive failures.
func (l *loginLimiter) backoff(n int) time.Duration {
	if n <= FreeFailures {
		return 0
	}
	d := l.initial
	for i := FreeFailures + 1; i < n && d < l.max; i++ {
		d *= 2
	}
	return min(d, l.max)
}

// waiting returns how much of s's backoff is left at now (0 if none).
func (l *loginLimiter) waiting(s *strike, now time.Time) time.Duration {
	if s == nil {
		return 0
	}
	return max(0, s.last.Add(l.backoff(s.fails)).Sub(now))
}

// begin decides whether an attempt from addr as user may have its
// password checked; if so, end must follow with the outcome. If not, it
// returns how long the refusal should be held back.
func (l *loginLimiter) begin(addr, user string) (ok bool, hold time.Duration) {
	if l.initial <= 0 {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	a, u := l.byAddr[addr], l.byUser[user]
	if w := max(l.waiting(a, now), l.waiting(u, now)); w > 0 {
		return false, min(w, refuseDelay)
	}
	if a != nil && a.checking >= maxChecksPerAddress {
		return false, 0
	}
	if a == nil {
		a = l.track(l.byAddr, addr, now)
	}
	a.checking++
	return true, 0
}

// end records the outcome of a checked attempt.
func (l *loginLimiter) end(addr, user string, ok bool) {
	if l.initial <= 0 {
		return
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.byAddr[addr]
	if a != nil && a.checking > 0 {
		a.checking--
	}
	if ok {
		if a != nil {
			a.fails = 0
			if a.checking == 0 {
				delete(l.byAddr, addr)
			}
		}
		delete(l.byUser, user)
		return
	}
	if a == nil {
		a = l.track(l.byAddr, addr, now)
	}
	u := l.byUser[user]
	if u == nil {
		u = l.track(l.byUser, user, now)
	}
	for _, s := range []*strike{a, u} {
		s.fails++
		s.last = now
	}
}

// cancel ends a check that did not happen (no worker was free): no
// strike for the client.
func (l *loginLimiter) cancel(addr string) {
	if l.initial <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if a := l.byAddr[addr]; a != nil && a.checking > 0 {
		a.checking--
		if a.checking == 0 && a.fails == 0 {
			delete(l.byAddr, addr)
		}
	}
}

// track adds a record for key, first making room when the map is full:
// records whose backoff has long passed go (swept at most once a second),
// and if that is not enough, one at random.
func (l *loginLimiter) track(m map[string]*strike, key string, now time.Time) *strike {
	if len(m) >= maxTracked {
		if now.Sub(l.swept) >= time.Second {
			l.swept = now
			for k, s := range m {
				if s.checking == 0 && now.Sub(s.last) > 2*l.max {
					delete(m, k)
				}
			}
		}
		for k, s := range m {
			if len(m) < maxTracked {
				break
			}
			if s.checking == 0 {
				delete(m, k)
			}
		}
	}
	s := &strike{last: now}
	m[key] = s
	return s
}

// hostOf returns the IP address part of a remote address.
func hostOf(remote string) string {
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return h
	}
	return remote
}
