package passwd

import "time"

// Outcome is what became of a login.
type Outcome int

const (
	// Accepted: a known user with the right password.
	Accepted Outcome = iota
	// Refused: the password was checked and it is wrong, or the user is
	// unknown (the two cost the same work and look the same).
	Refused
	// Throttled: refused without checking the password, even a right
	// one, during the backoff after failed logins from the address or for
	// the user; the refusal was held back for the rest of the backoff (at
	// most a second).
	Throttled
	// Busy: refused without checking, because too many logins already
	// wait for a password check (or the guard is closed). Not counted
	// against the client.
	Busy
)

// String names the outcome for logs.
func (o Outcome) String() string {
	switch o {
	case Accepted:
		return "accepted"
	case Refused:
		return "refused"
	case Throttled:
		return "throttled"
	}
	return "busy"
}

// GuardOptions configure a Guard.
type GuardOptions struct {
	// Backoff is how long logins from an address, or for a username, are
	// refused unchecked after FreeFailures consecutive failures; it
	// doubles with each further failure up to BackoffMax, and a
	// successful login clears it. 0 turns throttling off.
	Backoff, BackoffMax time.Duration
	// Inline checks passwords on the caller's goroutine, at its priority,
	// instead of on the low-priority threads: only for benchmarks that
	// measure what those threads are worth.
	Inline bool
}

// Guard checks logins the way every login to Metronome is checked: each
// password is checked with the same PBKDF2 work whether or not the user
// exists (a stand-in hash for unknown users), on dedicated OS threads at
// the lowest priority (nice 19) rather than on a connection's goroutine,
// and after repeated failures from an address or for a user further
// attempts are refused unchecked for a backoff that grows with each
// failure. The embedded broker guards its MQTT clients with it and the
// live view its writers. A Guard is safe for concurrent use.
type Guard struct {
	accounts *Accounts
	limiter  *loginLimiter
	hasher   *hasher
}

// NewGuard resolves the users' credentials (reading password files, see
// NewAccounts) and starts the password-checking threads; Close stops them.
func NewGuard(users []User, o GuardOptions) (*Guard, error) {
	as, err := NewAccounts(users)
	if err != nil {
		return nil, err
	}
	max := o.BackoffMax
	if max < o.Backoff {
		max = o.Backoff
	}
	g := &Guard{accounts: as, limiter: newLoginLimiter(o.Backoff, max), hasher: newHasher(o.Inline)}
	g.hasher.start()
	return g, nil
}

// Users is the number of configured users.
func (g *Guard) Users() int { return g.accounts.Len() }

// Login checks user's password for a client at remote (host:port, or a
// bare host; the port is ignored, so a new connection does not escape the
// throttle). It blocks for the check (a PBKDF2 hash), or, when throttled,
// for the rest of the backoff up to a second, so that a guesser that
// retries at once does not turn the backoff into a flood of attempts.
func (g *Guard) Login(remote, user string, password []byte) Outcome {
	addr := hostOf(remote)
	if ok, hold := g.limiter.begin(addr, user); !ok {
		g.hasher.wait(hold)
		return Throttled
	}
	a, known := g.accounts.lookup(user)
	ok, err := g.hasher.check(a, password)
	if err != nil {
		g.limiter.cancel(addr) // not the client's doing: no strike
		return Busy
	}
	ok = ok && known
	g.limiter.end(addr, user, ok)
	if !ok {
		return Refused
	}
	return Accepted
}

// Checks is how many passwords were checked (hashed) so far.
func (g *Guard) Checks() uint64 { return g.hasher.hashes.Load() }

// Close stops the password-checking threads; logins waiting for a check,
// or held back by the throttle, end at once (Busy, Throttled). Later calls
// do nothing.
func (g *Guard) Close() { g.hasher.close() }
