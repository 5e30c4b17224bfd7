package mqttbroker

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/metronome-rt/metronome/internal/mqtttest"
)

// refUser is an account with its ACL rules, written for both the embedded
// broker and mosquitto, so that one behaviour test can run against each.
// An empty name means anonymous clients.
type refUser struct {
	name, pass string
	rules      []refRule
}

// refRule grants access (read, write or readwrite) to a topic filter.
type refRule struct{ topic, access string }

// target is a broker a behaviour test runs against: Metronome's embedded
// broker, or Debian's mosquitto as the reference for what MQTT users expect.
type target struct {
	name string
	addr string
	// embedded is the broker when name is "metronome", else nil.
	embedded *Broker
}

// refConfig is the embedded broker's configuration for the accounts.
func refConfig(users []refUser) Config {
	c := DefaultConfig()
	c.Listeners = []ListenerConfig{{Type: TypeTCP, Port: 0}}
	for _, u := range users {
		if u.name == "" {
			c.AllowAnonymous = true
		} else {
			c.Users = append(c.Users, UserConfig{Name: u.name, Password: u.pass})
		}
		for _, r := range u.rules {
			c.ACL = append(c.ACL, ACLRule{User: u.name, Topic: r.topic, Access: r.access})
		}
	}
	return c
}

// mosquittoConf writes a password file and an ACL file for the accounts
// and returns the mosquitto.conf lines that use them. extra is appended.
func mosquittoConf(t testing.TB, users []refUser, extra string) string {
	t.Helper()
	passwd := mqtttest.RequireTool(t, "mosquitto_passwd")
	// mosquitto started as root reads these files after it has dropped to
	// its own user, so they must be readable by others.
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	pwFile, aclFile := filepath.Join(dir, "passwd"), filepath.Join(dir, "acl")
	var acl strings.Builder
	anonymous := false
	for _, u := range users { // anonymous rules first: they apply before any "user" line
		if u.name == "" {
			anonymous = true
			for _, r := range u.rules {
				fmt.Fprintf(&acl, "topic %s %s\n", r.access, r.topic)
			}
		}
	}
	first := true
	for _, u := range users {
		if u.name == "" {
			continue
		}
		args := []string{"-b", pwFile, u.name, u.pass}
		if first {
			args = append([]string{"-c"}, args...)
			first = false
		}
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		out, err := exec.CommandContext(ctx, passwd, args...).CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("mosquitto_passwd: %v: %s", err, out)
		}
		fmt.Fprintf(&acl, "user %s\n", u.name)
		for _, r := range u.rules {
			fmt.Fprintf(&acl, "topic %s %s\n", r.access, r.topic)
		}
	}
	if err := os.WriteFile(aclFile, []byte(acl.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if !first {
		if err := os.Chmod(pwFile, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	conf := fmt.Sprintf("allow_anonymous %v\nacl_file %s\n", anonymous, aclFile)
	if !first {
		conf += "password_file " + pwFile + "\n"
	}
	return conf + extra
}

// forEachBroker runs fn against the embedded broker and, as the reference,
// against Debian's mosquitto with the same accounts (skipped locally when
// mosquitto is missing, a failure in CI). mosquittoExtra holds further
// mosquitto.conf lines; tune adjusts the embedded configuration.
func forEachBroker(t *testing.T, users []refUser, mosquittoExtra string, tune func(*Config), fn func(t *testing.T, tg target)) {
	t.Run("metronome", func(t *testing.T) {
		cfg := refConfig(users)
		if tune != nil {
			tune(&cfg)
		}
		b := startBroker(t, cfg)
		fn(t, target{name: "metronome", addr: b.Addrs()[0], embedded: b})
	})
	t.Run("mosquitto", func(t *testing.T) {
		addr := mqtttest.Mosquitto(t, mosquittoConf(t, users, mosquittoExtra))
		fn(t, target{name: "mosquitto", addr: addr})
	})
}

// waitQueued waits, on the embedded broker, until the offline session id
// holds n queued messages; mosquitto has queued them once it acknowledged.
func waitQueued(t testing.TB, tg target, id string, n int) {
	t.Helper()
	if tg.embedded == nil {
		return
	}
	waitFor(t, "messages queued for "+id, func() bool {
		cl, ok := tg.embedded.Server().Clients.Get(id)
		return ok && cl.State.Inflight.Len() >= n
	})
}
