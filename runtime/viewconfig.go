package runtime

import (
	"fmt"
	"net"
	"strconv"

	"gopkg.in/yaml.v3"

	"github.com/metronome-rt/metronome/internal/passwd"
)

// DefaultViewPort is the live view's port when `listen:` names none, the
// port CDP Studio's StudioAPI uses.
const DefaultViewPort = 7689

// ViewConfig is the application's `view:` key: the HTTP server inside
// `runtime run` that serves the live view (web page and WebSocket API),
// Prometheus metrics and health checks. It is off unless the key (or
// `runtime run --http`) is given, and read-only unless writes are enabled.
type ViewConfig struct {
	// Listen is host:port; the default 127.0.0.1:7689 is reachable from
	// this machine only.
	Listen string `yaml:"listen" doc:"host:port to serve on (default 127.0.0.1:7689)"`
	// Writes lets authenticated users set parameters, acknowledge alarms
	// and force signals.
	Writes bool `yaml:"writes" doc:"allow parameter writes, acknowledgements and forces (needs users)"`
	// Users may write when Writes is on; the same credentials as the
	// broker's users (runtime passwd).
	Users []passwd.User `yaml:"users" doc:"who may write: name with password, password_hash or password_file"`
	// TLS serves HTTPS and WSS; required off loopback unless Insecure.
	TLS *ViewTLS `yaml:"tls" doc:"serve https/wss with this certificate"`
	// Insecure allows a listener off loopback without TLS, where anyone on
	// the network can read values and passwords travel in clear text.
	Insecure bool `yaml:"insecure" doc:"allow plain http off loopback (passwords travel in clear)"`
}

// ViewTLS names the server certificate and key files.
type ViewTLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Addr returns the address to listen on, with the defaults filled in.
func (c *ViewConfig) Addr() string {
	if c.Listen == "" {
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(DefaultViewPort))
	}
	return c.Listen
}

// Validate checks the setting without touching the network or files.
func (c *ViewConfig) Validate() error {
	var es FieldErrors
	host, port, err := net.SplitHostPort(c.Addr())
	loopback := false
	if err != nil {
		es.Add("listen", "want host:port, for example 127.0.0.1:7689, got %q", c.Listen)
	} else {
		if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			es.Add("listen", "port %q is not a number from 0 to 65535", port)
		}
		loopback = IsLoopbackHost(host)
	}
	if c.TLS != nil && (c.TLS.CertFile == "" || c.TLS.KeyFile == "") {
		es.Add("tls", "cert_file and key_file go together")
	}
	if err == nil && !loopback && c.TLS == nil && !c.Insecure {
		es.Add("listen", "%s is reachable from other machines: configure tls, or set insecure: true to serve plain http there", c.Listen)
	}
	if c.Writes && len(c.Users) == 0 {
		es.Add("writes", "writes need at least one user under users: every write is authenticated")
	}
	seen := map[string]bool{}
	for i := range c.Users {
		u := &c.Users[i]
		at := fmt.Sprintf("users[%d]", i)
		if key, err := u.Validate(); err != nil {
			es.Add(JoinFieldPath(at, key), "%v", err)
		}
		if u.Name != "" && seen[u.Name] {
			es.Add(at+".name", "user %q is listed twice", u.Name)
		}
		seen[u.Name] = true
	}
	return es.Err()
}

// IsLoopbackHost reports whether host (a name or an address) is reachable
// from this machine only.
func IsLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// viewConfig validates the decoded `view:` key, pointing each mistake at
// its key, and returns it for App.View.
func (l *loader) viewConfig(d *decoder, root *yaml.Node, c *ViewConfig) *ViewConfig {
	if c == nil {
		return nil
	}
	at := valueAt(root, "view")
	for _, fe := range AsFieldErrors(c.Validate()) {
		l.errs.add(l.placeField(d, at, fe), JoinFieldPath("view", fe.Path), "%s", fe.Msg)
	}
	return c
}

// attachSeams attaches the seams if the application loaded cleanly (see
// App.attachSeams).
func (l *loader) attachSeams() {
	a := l.app
	if len(l.errs.list) == 0 && a.sched != nil {
		a.attachSeams()
	}
}
