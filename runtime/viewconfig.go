package runtime

import (
	"fmt"
	"net"
	"strconv"
	"strings"

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
		n := fieldNode(at, fe.Path, fe.AtKey)
		l.errs.add(d.pos(n), JoinFieldPath("view", fe.Path), "%s", fe.Msg)
	}
	return c
}

// attachSeams checks the names the seams reserve and, if the application
// loaded cleanly, attaches them (see App.attachSeams).
func (l *loader) attachSeams() {
	a := l.app
	for _, n := range a.Nodes {
		if n.Name == ForcesActiveAlarm {
			l.errs.add(Pos{File: a.File, Line: 1, Col: 1}, n.Path, "the name %s is reserved: it is the application's alarm raised while signals are forced", ForcesActiveAlarm)
		}
	}
	if len(l.errs.list) == 0 && a.sched != nil {
		a.attachSeams()
	}
}

// fieldNode finds the node at a field path ("users[1].password_hash")
// below n, or the deepest node found on the way.
func fieldNode(n *yaml.Node, path string, atKey bool) *yaml.Node {
	if n == nil {
		return &yaml.Node{}
	}
	if path == "" {
		return n
	}
	cur, key := n, n
	for _, seg := range strings.Split(path, ".") {
		name, idx := seg, -1
		if i := strings.IndexByte(seg, '['); i >= 0 && strings.HasSuffix(seg, "]") {
			name = seg[:i]
			if k, err := strconv.Atoi(seg[i+1 : len(seg)-1]); err == nil {
				idx = k
			}
		}
		if name != "" {
			if cur.Kind != yaml.MappingNode {
				return cur
			}
			found := false
			for i := 0; i+1 < len(cur.Content); i += 2 {
				if cur.Content[i].Value == name {
					key, cur, found = cur.Content[i], cur.Content[i+1], true
					break
				}
			}
			if !found {
				return cur
			}
		}
		if idx >= 0 {
			if cur.Kind != yaml.SequenceNode || idx >= len(cur.Content) {
				return cur
			}
			key, cur = cur.Content[idx], cur.Content[idx]
		}
	}
	if atKey {
		return key
	}
	return cur
}
