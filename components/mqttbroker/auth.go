package mqttbroker

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// hashScheme prefixes password hashes so the format can evolve.
const hashScheme = "pbkdf2-sha256"

// DefaultHashIterations is the PBKDF2 work factor `runtime passwd` uses
// (OWASP 2023 guidance for PBKDF2-HMAC-SHA256).
const DefaultHashIterations = 600_000

// MinHashIterations is the weakest work factor a configured hash may use;
// below it an offline guess costs too little.
const MinHashIterations = 10_000

// passwordHash is a parsed pbkdf2-sha256$iterations$salt$key string.
type passwordHash struct {
	iter      int
	salt, key []byte
}

// HashPassword returns the string to put in a user's password_hash. It uses
// a random 16-byte salt and the given PBKDF2 iteration count.
func HashPassword(password string, iterations int) (string, error) {
	if iterations < MinHashIterations {
		return "", fmt.Errorf("iterations %d below the minimum %d", iterations, MinHashIterations)
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return "", err
	}
	enc := base64.RawStdEncoding
	return fmt.Sprintf("%s$%d$%s$%s", hashScheme, iterations, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// parseHash decodes a password_hash value.
func parseHash(s string) (*passwordHash, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 4 || parts[0] != hashScheme {
		return nil, fmt.Errorf("not a %s$iterations$salt$hash string (make one with `runtime passwd`)", hashScheme)
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < MinHashIterations || iter > 100_000_000 {
		return nil, fmt.Errorf("iterations %q must be a number from %d to 100000000", parts[1], MinHashIterations)
	}
	enc := base64.RawStdEncoding
	salt, err := enc.DecodeString(parts[2])
	if err != nil || len(salt) < 8 {
		return nil, fmt.Errorf("salt %q is not base64 of at least 8 bytes", parts[2])
	}
	key, err := enc.DecodeString(parts[3])
	if err != nil || len(key) != sha256.Size {
		return nil, fmt.Errorf("hash %q is not base64 of %d bytes", parts[3], sha256.Size)
	}
	return &passwordHash{iter: iter, salt: salt, key: key}, nil
}

// account is a user's stored credential, always a PBKDF2 hash: passwords
// given in plain text (from the environment or a file) are hashed at
// start, so that checking any password costs the same work.
type account struct {
	hash *passwordHash
}

func (a *account) check(password []byte) bool {
	key, err := pbkdf2.Key(sha256.New, string(password), a.hash.salt, a.hash.iter, len(a.hash.key))
	return err == nil && subtle.ConstantTimeCompare(key, a.hash.key) == 1
}

// accounts are the users' credentials and the stand-in that an unknown
// username is checked against, so that a login as nobody costs the same
// work as a wrong password and timing does not tell which users exist.
type accounts struct {
	byName map[string]*account
	dummy  *account
}

// get returns the user's account, or the stand-in for an unknown user.
func (as *accounts) get(user []byte) *account {
	if a, ok := as.byName[string(user)]; ok {
		return a
	}
	return as.dummy
}

// newAccount hashes a password given in plain text with a random salt.
func newAccount(password string, iterations int) (*account, error) {
	s, err := HashPassword(password, iterations)
	if err != nil {
		return nil, err
	}
	h, err := parseHash(s)
	if err != nil {
		return nil, err
	}
	return &account{hash: h}, nil
}

// loadAccounts resolves every user's credential; password files are read
// here, at start, never during validation. Plain-text passwords, and the
// stand-in for unknown users, are hashed with the highest iteration count
// among the configured hashes (MinHashIterations if there are none).
func loadAccounts(users []UserConfig) (*accounts, error) {
	hashes := make(map[string]*passwordHash, len(users))
	plain := map[string]string{}
	work := MinHashIterations
	for _, u := range users {
		var h *passwordHash
		switch {
		case u.PasswordHash != "":
			var err error
			if h, err = parseHash(u.PasswordHash); err != nil {
				return nil, fmt.Errorf("user %q: password_hash: %w", u.Name, err)
			}
		case u.PasswordFile != "":
			b, err := os.ReadFile(u.PasswordFile)
			if err != nil {
				return nil, fmt.Errorf("user %q: password_file: %w", u.Name, err)
			}
			s := strings.TrimRight(string(b), "\r\n")
			if s == "" {
				return nil, fmt.Errorf("user %q: password_file %s is empty", u.Name, u.PasswordFile)
			}
			if !strings.HasPrefix(s, hashScheme+"$") {
				plain[u.Name] = s
				continue
			}
			if h, err = parseHash(s); err != nil {
				return nil, fmt.Errorf("user %q: password_file %s: %w", u.Name, u.PasswordFile, err)
			}
		default:
			if u.Password == "" {
				return nil, fmt.Errorf("user %q: no password", u.Name)
			}
			plain[u.Name] = u.Password
			continue
		}
		hashes[u.Name] = h
		work = max(work, h.iter)
	}
	out := &accounts{byName: make(map[string]*account, len(users))}
	for name, h := range hashes {
		out.byName[name] = &account{hash: h}
	}
	for name, pw := range plain {
		a, err := newAccount(pw, work)
		if err != nil {
			return nil, fmt.Errorf("user %q: %w", name, err)
		}
		out.byName[name] = a
	}
	var pw [16]byte
	if _, err := rand.Read(pw[:]); err != nil {
		return nil, err
	}
	dummy, err := newAccount(string(pw[:]), work)
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

// validFilter checks an MQTT topic filter's syntax.
func validFilter(f string) error {
	if f == "" {
		return errors.New("empty topic filter")
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
			return fmt.Errorf("%q: # must be a whole, last level", f)
		}
		if strings.Contains(l, "+") && l != "+" {
			return fmt.Errorf("%q: + must be a whole level", f)
		}
	}
	return nil
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
		if !r.matchesClient(user, id) || !covers(r.filter, topic) {
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

// covers reports whether every topic matched by sub (a topic name or a
// filter) is matched by the rule filter. Wildcards in the first level do
// not match topics starting with $ (MQTT 4.7.2), so $SYS needs its own rule.
// It allocates nothing: it runs for every delivered message.
func covers(rule, sub string) bool {
	first := true
	for {
		rl, rrest, rmore := cut(rule)
		if rl == "#" {
			return !(first && strings.HasPrefix(sub, "$"))
		}
		sl, srest, smore := cut(sub)
		switch rl {
		case "+":
			if sl == "#" || (first && strings.HasPrefix(sl, "$")) {
				return false
			}
		default:
			if sl != rl {
				return false
			}
		}
		first = false
		if !rmore && !smore {
			return true
		}
		if !smore {
			// sub ended; a rule "a/#" still covers "a".
			return rmore && rrest == "#"
		}
		if !rmore {
			return false
		}
		rule, sub = rrest, srest
	}
}

// cut splits the first topic level off s.
func cut(s string) (level, rest string, more bool) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}
