package mqttbroker

import (
	"fmt"
	"strings"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/metronome-rt/metronome/internal/mqttconn"
	"github.com/metronome-rt/metronome/internal/passwd"
)

// newGuard resolves every user's credential (password files are read
// here, at start, never during validation) into the login guard, which
// checks passwords at equal work for known and unknown users, on
// low-priority threads, throttled after failures.
func newGuard(cfg *Config, inline bool) (*passwd.Guard, error) {
	users := make([]passwd.User, len(cfg.Users))
	for i := range cfg.Users {
		users[i] = *cfg.Users[i].credential()
	}
	return passwd.NewGuard(users, passwd.GuardOptions{Backoff: cfg.AuthBackoff, BackoffMax: cfg.AuthBackoffMax, Inline: inline})
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
	guard     *passwd.Guard
	anonymous bool
	rules     []aclRule
	logs      *sampledLog

	authFailures atomic.Uint64
	throttled    atomic.Uint64 // logins refused unchecked: backoff after failures, or too many waiting
	aclDenied    atomic.Uint64
	willDenied   atomic.Uint64 // CONNECTs refused for a will on a topic the client may not write
}

func newAuthHook(cfg *Config, guard *passwd.Guard, logs *sampledLog) *authHook {
	h := &authHook{guard: guard, anonymous: cfg.AllowAnonymous, logs: logs}
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
// Logins go through the guard (passwd.Guard): throttled after failures,
// passwords checked on low-priority threads, an unknown user against a
// stand-in hash.
// A will message is checked against the ACL here too: mochi publishes wills
// without an ACL check, so a client could otherwise write, through its will,
// to a topic it may not publish to.
func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	user, pass := pk.Connect.Username, pk.Connect.Password
	if len(user) == 0 && len(pass) == 0 && !pk.Connect.UsernameFlag {
		if !h.anonymous {
			h.authFailures.Add(1)
			h.logLogin("anonymous login refused", cl.Net.Remote, nil)
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
	switch h.guard.Login(remote, string(user), pass) {
	case passwd.Accepted:
		return true
	case passwd.Throttled:
		h.throttled.Add(1)
		h.logLogin("login refused unchecked: backoff after failed logins from this address or for this user", remote, user)
	case passwd.Busy:
		h.throttled.Add(1)
		h.logLogin("login refused unchecked: too many logins waiting for a password check", remote, user)
	default:
		h.authFailures.Add(1)
		h.logLogin("login failed: unknown user or wrong password", remote, user)
	}
	return false
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
