package passwd

import (
	"crypto/rand"
	"fmt"
)

// Accounts are the users' credentials, all at the same PBKDF2 work, and a
// stand-in that an unknown username is checked against, so that a login
// as nobody costs the same work as a wrong password and timing does not
// tell which users exist.
type Accounts struct {
	byName map[string]*Account
	dummy  *Account
}

// NewAccounts resolves every user's credential (password files are read
// here: call it at start, never during validation). Plain-text passwords
// (from the environment or a file) and the stand-in for unknown users are
// hashed with the highest iteration count among the configured hashes
// (MinIterations if there are none), so that checking any password costs
// the same work.
func NewAccounts(users []User) (*Accounts, error) {
	hashes := make(map[string]*Hash, len(users))
	plain := map[string]string{}
	work := MinIterations
	for i := range users {
		u := &users[i]
		h, pw, err := u.Secret()
		if err != nil {
			return nil, err
		}
		if h == nil {
			plain[u.Name] = pw
			continue
		}
		hashes[u.Name] = h
		work = max(work, h.Iterations())
	}
	out := &Accounts{byName: make(map[string]*Account, len(users))}
	for name, h := range hashes {
		out.byName[name] = HashAccount(h)
	}
	for name, pw := range plain {
		a, err := HashedAccount(pw, work)
		if err != nil {
			return nil, fmt.Errorf("user %q: %w", name, err)
		}
		out.byName[name] = a
	}
	var pw [16]byte
	if _, err := rand.Read(pw[:]); err != nil {
		return nil, err
	}
	dummy, err := HashedAccount(string(pw[:]), work)
	if err != nil {
		return nil, err
	}
	out.dummy = dummy
	return out, nil
}

// Len is the number of users.
func (as *Accounts) Len() int { return len(as.byName) }

// lookup returns the user's account, or the stand-in for an unknown user
// with known false: the caller checks the password either way.
func (as *Accounts) lookup(user string) (a *Account, known bool) {
	if a, ok := as.byName[user]; ok {
		return a, true
	}
	return as.dummy, false
}
