package mqttbroker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/metronome-rt/metronome/internal/passwd"
	"github.com/metronome-rt/metronome/runtime"
)

func TestValidateRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"anonymous on all interfaces", func(c *Config) { c.Listeners[0].Address = "0.0.0.0" }, "allow_anonymous_remote: true"},
		{"anonymous on a LAN address", func(c *Config) { c.Listeners[0].Address = "192.168.1.10" }, "reachable from the network"},
		{"remote opt-in without anonymous", func(c *Config) {
			c.AllowAnonymous = false
			c.AllowAnonymousRemote = true
			c.Users = []UserConfig{{Name: "u", Password: "p"}}
		}, "has no effect"},
		{"no users, no anonymous", func(c *Config) { c.AllowAnonymous = false }, "no client could connect"},
		{"empty acl", func(c *Config) { c.ACL = nil }, "every publish and subscribe would be denied"},
		{"bad access", func(c *Config) { c.ACL[0].Access = "all" }, `unknown access "all"`},
		{"bad filter", func(c *Config) { c.ACL[0].Topic = "a/#/b" }, "# must be a whole last level"},
		{"unknown rule user", func(c *Config) { c.ACL[0].User = "ghost" }, `"ghost" is not in users`},
		{"unknown listener type", func(c *Config) { c.Listeners[0].Type = "quic" }, `unknown listener type "quic"`},
		{"tls without files", func(c *Config) { c.Listeners[0].Type = TypeTLS }, "needs tls.cert_file and tls.key_file"},
		{"client cert without ca", func(c *Config) {
			c.Listeners[0].Type = TypeTLS
			c.Listeners[0].TLS = &TLSConfig{CertFile: "c", KeyFile: "k", RequireClientCert: true}
		}, "needs tls.ca_file"},
		{"ws without origins", func(c *Config) { c.Listeners[0].Type = TypeWS }, "allowed_origins"},
		{"origins on tcp", func(c *Config) { c.Listeners[0].AllowedOrigins = []string{"*"} }, "only ws and wss listeners check origins"},
		{"duplicate port", func(c *Config) {
			c.Listeners[0].Port = 1883
			c.Listeners = append(c.Listeners, c.Listeners[0])
		}, "also used by listeners[0]"},
		{"port out of range", func(c *Config) { c.Listeners[0].Port = 70000 }, "70000 is not a TCP port"},
		{"two passwords", func(c *Config) { c.Users = []UserConfig{{Name: "u", Password: "a", PasswordFile: "f"}} }, "exactly one of"},
		{"bad hash", func(c *Config) { c.Users = []UserConfig{{Name: "u", PasswordHash: "md5$x"}} }, "runtime passwd"},
		{"weak hash", func(c *Config) {
			c.Users = []UserConfig{{Name: "u", PasswordHash: "pbkdf2-sha256$1000$c2FsdHNhbHQ$AAAA"}}
		}, "iterations"},
		{"tiny packets", func(c *Config) { c.MaxPacketSize = 10 }, "too small"},
		{"negative expiry", func(c *Config) { c.MessageExpiry = -time.Second }, "negative"},
		{"persistence without dir", func(c *Config) { c.Persistence = &PersistenceConfig{} }, "persistence.dir"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := openConfig()
			tc.mod(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestValidateAccepts(t *testing.T) {
	c := openConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.Listeners[0].Address = "0.0.0.0"
	c.AllowAnonymousRemote = true
	if err := c.Validate(); err != nil {
		t.Fatalf("explicit remote anonymous opt-in refused: %v", err)
	}
	d := DefaultConfig()
	d.Users = []UserConfig{{Name: "u", Password: "p"}}
	d.ACL = []ACLRule{{User: "*", Topic: "#", Access: "readwrite"}}
	d.Listeners[0].Address = "0.0.0.0" // users only: remote is fine
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestExampleLoads(t *testing.T) {
	reg := runtime.MustRegistry(Type)
	app := "application: Plant\nfs: 10\ncomponents:\n  - " + strings.ReplaceAll(Example, "\n", "\n    ") + "\n"
	if _, err := runtime.LoadBytes("example.yaml", []byte(app), reg, runtime.LoadOptions{}); err != nil {
		t.Fatalf("Example does not load:\n%s\n%v", app, err)
	}
	// The README's example is the same text.
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), Example) {
		t.Fatal("README.md does not contain the package Example verbatim")
	}
}

func TestHashRoundTrip(t *testing.T) {
	h, err := passwd.New("pw", passwd.MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f := filepath.Join(dir, "h")
	os.WriteFile(f, []byte(h+"\n"), 0o600)
	g, err := newGuard(&Config{Users: []UserConfig{{Name: "u", PasswordFile: f}}}, false)
	if err != nil {
		t.Fatalf("password_file holding a hash: %v", err)
	}
	defer g.Close()
	for pw, want := range map[string]passwd.Outcome{"pw": passwd.Accepted, "pW": passwd.Refused, "": passwd.Refused} {
		if got := g.Login("127.0.0.1:1", "u", []byte(pw)); got != want {
			t.Errorf("password %q: %v, want %v", pw, got, want)
		}
	}
	if _, err := newGuard(&Config{Users: []UserConfig{{Name: "u", PasswordFile: filepath.Join(dir, "missing")}}}, false); err == nil {
		t.Fatal("missing password_file accepted")
	}
}

// TestValidateFieldPaths: each mistake is a runtime.FieldError at the key
// it is about, so the loader can point at the line and column.
func TestValidateFieldPaths(t *testing.T) {
	for _, tc := range []struct {
		mod        func(*Config)
		path, want string
	}{
		{func(c *Config) { c.Listeners[0].Type = "tcpx" }, "listeners[0].type", `unknown listener type "tcpx"`},
		{func(c *Config) { c.ACL[0].Access = "readwritex" }, "acl[0].access", `unknown access "readwritex"`},
		{func(c *Config) { c.ACL[1].Access = "rw" }, "acl[1].access", `unknown access "rw"`},
		{func(c *Config) { c.Listeners[0].Port = 70000 }, "listeners[0].port", "70000 is not a TCP port (0..65535)"},
		{func(c *Config) { c.Listeners[0].Port = -1 }, "listeners[0].port", "-1 is not a TCP port"},
		{func(c *Config) { c.Listeners[0].Address = "0.0.0.0" }, "listeners[0].address", "allow_anonymous_remote"},
		{func(c *Config) { c.Listeners = nil }, "listeners", "at least one listener"},
		{func(c *Config) { c.ACL[0].Topic = "a/#/b" }, "acl[0].topic", "# must be a whole last level"},
		{func(c *Config) { c.Users = []UserConfig{{Name: "u"}} }, "users[0]", "exactly one of"},
		{func(c *Config) { c.Persistence = &PersistenceConfig{} }, "persistence.dir", "empty"},
		{func(c *Config) { c.AuthBackoff = -time.Second }, "auth_backoff", "negative"},
		{func(c *Config) { c.AuthBackoffMax = time.Millisecond }, "auth_backoff_max", "below auth_backoff"},
		{func(c *Config) {
			c.Listeners[0].Type = TypeTLS
			c.Listeners[0].TLS = &TLSConfig{CertFile: "c", KeyFile: "k", RequireClientCert: true}
		}, "listeners[0].tls.require_client_cert", "needs tls.ca_file"},
	} {
		c := openConfig()
		tc.mod(&c)
		fes := runtime.AsFieldErrors(c.Validate())
		found := false
		for _, fe := range fes {
			if fe.Path == tc.path && strings.Contains(fe.Msg, tc.want) {
				found = true
			}
			if strings.HasPrefix(fe.Msg, fe.Path) && fe.Path != "" {
				t.Errorf("%s: the message repeats the path: %q", fe.Path, fe.Msg)
			}
		}
		if !found {
			t.Errorf("want a field error at %s containing %q, got %v", tc.path, tc.want, fes)
		}
	}
	// Several mistakes at once are all reported.
	c := openConfig()
	c.Listeners[0].Type = "tcpx"
	c.Listeners[0].Port = 70000
	c.ACL[0].Access = "rw"
	if n := len(runtime.AsFieldErrors(c.Validate())); n != 3 {
		t.Fatalf("%d field errors for 3 mistakes", n)
	}
}
