package mqttbroker

import (
	"crypto/rand"
	"fmt"
	"strings"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/metronome-rt/metronome/internal/mqttconn"
	"github.com/metronome-rt/metronome/internal/passwd"
)

// accounts are the users' credentials and the stand-in that an unknown
// username is checked against, so that a login as nobody costs the same
// work as a wrong password and timing does not tell which users exist.
type accounts struct {
	byName map[string]*passwd.Account
	dummy  *passwd.Account
}

// get returns the user's account, or the stand-in for an unknown user.
func (as *accounts) get(user []byte) *passwd.Account {
	if a, ok := as.byName[string(user)]; ok {
		return a
	}
	return as.dummy
}

// loadAccounts resolves every user's credential; password files are read
// here, at start, never during validation. Every account is a PBKDF2 hash,
// so that checking any password costs the same work: plain-text passwords
// (from the environment or a file), and the stand-in for unknown users,
// are hashed with the highest iteration count among the configured hashes
// (passwd.MinIterations if there are none).
func loadAccounts(users []UserConfig) (*accounts, error) {
	hashes := make(map[string]*passwd.Hash, len(users))
	plain := map[string]string{}
	work := passwd.MinIterations
	for _, u := range users {
		h, pw, err := u.credential().Secret()
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
	out := &accounts{byName: make(map[string]*passwd.Account, len(users))}
	for name, h := range hashes {
		out.byName[name] = passwd.HashAccount(h)
	}
	for name, pw := range plain {
		a, err := passwd.HashedAccount(pw, work)
		if err != nil {
			return nil, fmt.Errorf("user %q: %w", name, err)
		}
		out.byName[name] = a
	}
	var pw [16]byte
	if _, err := rand.Read(pw[:]); err != nil {
		return nil, err
	}
	dummy, err := passwd.HashedAccount(string(pw[:]), work)
	if err != nil {
		return nil, err
	}
	out.dummy = dummy
	return out, nil
}

// Access bits of an ACL rule.
const (
	accessDeny  = 0
	accessRead  = 1
	accessWrite = 2
)

func parseAccess(s string) (uint8, error) {
	switch s {
	case "read":
		return accessRead, nil
	case "write":
		return accessWrite, nil
	case "readwrite":
		return accessRead | accessWrite, nil
	case "deny":
		return accessDeny, nil
	}
	hint := ""
	switch strings.ToLower(s) {
	case "rw", "r/w", "read-write", "read_write", "readwritex", "all":
		hint = "; did you mean readwrite?"
	case "r", "ro", "readonly", "read-only", "subscribe":
		hint = "; did you mean read?"
	case "w", "wo", "writeonly", "write-only", "publish":
		hint = "; did you mean write?"
	case "none", "no", "denied":
		hint = "; did you mean deny?"
	}
	return 0, fmt.Errorf("unknown access %q (want read, write, readwrite or deny)%s", s, hint)
}

// aclRule is a compiled ACLRule.
type aclRule struct {
	user, client string
	clientPrefix bool
	filter       string
	access       uint8
}

// authHook authenticates clients and checks every publish, subscribe and
// delivery against the ordered ACL, denying what no rule allows. It
// replaces mochi's ledger, which allows unmatched topics and compares
// plaintext passwords.
type authHook struct {
	mqtt.HookBase
	accounts  *accounts
	anonymous bool
	rules     []aclRule
	limiter   *loginLimiter
	hasher    *hasher
	logs      *sampledLog

	authFailures atomic.Uint64
	throttled    atomic.Uint64 // logins refused unchecked: backoff after failures, or too many waiting
	aclDenied    atomic.Uint64
	willDenied   atomic.Uint64 // CONNECTs refused for a will on a topic the client may not write
}

func newAuthHook(cfg *Config, accounts *accounts, logs *sampledLog) *authHook {
	h := &authHook{
		accounts: accounts, anonymous: cfg.AllowAnonymous, logs: logs,
		limiter: newLoginLimiter(cfg.AuthBackoff, cfg.AuthBackoffMax),
		hasher:  newHasher(),
	}
	for _, r := range cfg.ACL {
		acc, _ := parseAccess(r.Access)
		cr := aclRule{user: r.User, client: r.Client, filter: r.Topic, access: acc}
		if strings.HasSuffix(r.Client, "*") {
			cr.client, cr.clientPrefix = strings.TrimSuffix(r.Client, "*"), true
		}
		h.rules = append(h.rules, cr)
	}
	return h
}

// ID names the hook in mochi's logs.
func (h *authHook) ID() string { return "metronome-auth" }

// Provides tells mochi which callbacks this hook implements.
func (h *authHook) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

// OnConnectAuthenticate accepts a known user with the right password, or a
// client without username and password when anonymous access is allowed.
// Logins are throttled after failures (see loginLimiter) and passwords are
// checked by the hasher, an unknown user against a stand-in hash.
// A will message is checked against the ACL here too: mochi publishes wills
// without an ACL check, so a client could otherwise write, through its will,
// to a topic it may not publish to.
func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	user, pass := pk.Connect.Username, pk.Connect.Password
	if len(user) == 0 && len(pass) == 0 && !pk.Connect.UsernameFlag {
		if !h.anonymous {
			h.authFailures.Add(1)
			h.logLogin("anonymous login refused", hostOf(cl.Net.Remote), nil)
			return false
		}
	} else if !h.login(cl.Net.Remote, user, pass) {
		return false
	}
	if pk.Connect.WillFlag && !h.allowed(user, cl.ID, pk.Connect.WillTopic, accessWrite) {
		h.aclDenied.Add(1)
		h.willDenied.Add(1)
		return false
	}
	return true
}

// login checks a username and password, within the throttle.
func (h *authHook) login(remote string, user, pass []byte) bool {
	addr := hostOf(remote)
	if ok, hold := h.limiter.begin(addr, string(user)); !ok {
		h.throttled.Add(1)
		h.logLogin("login refused unchecked: backoff after failed logins from this address or for this user", addr, user)
		h.hasher.wait(hold)
		return false
	}
	ok, err := h.hasher.check(h.accounts.get(user), pass)
	if err != nil {
		h.limiter.cancel(addr) // not the client's doing: no strike
		h.throttled.Add(1)
		h.logLogin("login refused unchecked: "+err.Error(), addr, user)
		return false
	}
	h.limiter.end(addr, string(user), ok)
	if !ok {
		h.authFailures.Add(1)
		h.logLogin("login failed: unknown user or wrong password", addr, user)
	}
	return ok
}

// logLogin logs a refused login, sampled.
func (h *authHook) logLogin(msg, addr string, user []byte) {
	if ev := h.logs.warn(msg); ev != nil {
		ev.Str("remote", addr).Str("user", clip(string(user))).Msg(msg)
	}
}

// OnACLCheck decides a publish (write) or a subscription or delivery
// (read): the first rule matching the client and the topic decides.
func (h *authHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	need := uint8(accessRead)
	if write {
		need = accessWrite
	}
	if h.allowed(cl.Properties.Username, cl.ID, topic, need) {
		return true
	}
	h.aclDenied.Add(1)
	return false
}

// allowed applies the rules: the first that matches decides.
func (h *authHook) allowed(user []byte, id, topic string, need uint8) bool {
	for i := range h.rules {
		r := &h.rules[i]
		if !r.matchesClient(user, id) || !mqttconn.Covers(r.filter, topic) {
			continue
		}
		return r.access&need != 0
	}
	return false
}

func (r *aclRule) matchesClient(user []byte, id string) bool {
	switch r.user {
	case "":
	case "*":
		if len(user) == 0 {
			return false
		}
	default:
		if string(user) != r.user {
			return false
		}
	}
	if r.client != "" {
		if r.clientPrefix {
			return strings.HasPrefix(id, r.client)
		}
		return id == r.client
	}
	return true
}
