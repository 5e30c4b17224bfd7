package mqttbroker

import (
	"fmt"
	"math"
	"net"
	"strings"
	"time"

	"github.com/metronome-rt/metronome/runtime"
)

// Config is the `config:` block of an MQTTBroker component.
type Config struct {
	// Listeners are the sockets the broker accepts clients on; at least one.
	Listeners []ListenerConfig `yaml:"listeners"`
	// AllowAnonymous lets clients connect without a username. Their access
	// is still limited by the ACL rules that apply to everyone.
	AllowAnonymous bool `yaml:"allow_anonymous"`
	// AllowAnonymousRemote must be set as well as AllowAnonymous when a
	// listener binds a non-loopback address: an anonymous broker reachable
	// from the network is a decision, not a default.
	AllowAnonymousRemote bool `yaml:"allow_anonymous_remote"`
	// Users are the accounts clients log in with (MQTT username/password).
	Users []UserConfig `yaml:"users"`
	// ACL is the ordered list of access rules; the first rule that matches a
	// client and a topic decides, and a topic no rule matches is denied.
	ACL []ACLRule `yaml:"acl"`
	// MaxClients limits how many clients may be connected at once
	// (0 = unlimited). Further clients are refused with "server busy".
	MaxClients int `yaml:"max_clients"`
	// MaxConnections limits open sockets, counting those that have not
	// sent CONNECT yet (0 = unlimited); further sockets are closed at once.
	// It bounds the memory a flood of idle connections can take.
	MaxConnections int `yaml:"max_connections"`
	// MaxPacketSize is the largest MQTT packet, in bytes, a client may send
	// (0 = the protocol maximum, 268435460). Larger packets close the
	// connection and are counted as malformed.
	MaxPacketSize int `yaml:"max_packet_size"`
	// TopicAliasMaximum is the number of topic aliases an MQTT 5 client may
	// use towards the broker (CDP MaxTopicAlias); 0 disables aliases.
	TopicAliasMaximum int `yaml:"topic_alias_maximum"`
	// MessageExpiry is the longest a retained or queued message is kept;
	// "0s" (the default) keeps them until replaced or delivered.
	MessageExpiry time.Duration `yaml:"message_expiry"`
	// MaxSessionExpiry caps how long the session of a disconnected client
	// (its subscriptions and queued messages) is kept; it is also the
	// expiry of MQTT 3.x persistent sessions. "0s" keeps them as long as
	// MQTT 5 clients ask and MQTT 3.x sessions forever.
	MaxSessionExpiry time.Duration `yaml:"max_session_expiry"`
	// MaxPendingWrites is how many outgoing messages may wait per client
	// before further QoS 0 messages to it are dropped (and counted).
	MaxPendingWrites int `yaml:"max_pending_writes"`
	// MaxInflight is how many unacknowledged QoS 1/2 messages the broker
	// keeps per client, including those queued for an offline session.
	MaxInflight int `yaml:"max_inflight"`
	// WriteBufferSize is each client's socket write buffer, in bytes.
	WriteBufferSize int `yaml:"write_buffer_size"`
	// ReadBufferSize is each client's socket read buffer, in bytes.
	ReadBufferSize int `yaml:"read_buffer_size"`
	// SysInterval is how often $SYS topics are republished.
	SysInterval time.Duration `yaml:"sys_interval"`
	// ConnectTimeout is how long a new connection may take to send its
	// CONNECT (and finish TLS or WebSocket set-up) before it is closed.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// ListenerRetry is how often a listener marked optional that failed to
	// open (port in use, unreadable certificate) is retried while the
	// application runs.
	ListenerRetry time.Duration `yaml:"listener_retry"`
	// AuthBackoff is how long logins from an address, or for a username,
	// are refused unchecked after a few consecutive failed logins; it
	// doubles with each further failure up to AuthBackoffMax. A successful
	// login clears it. "0s" turns throttling off.
	AuthBackoff time.Duration `yaml:"auth_backoff"`
	// AuthBackoffMax caps AuthBackoff.
	AuthBackoffMax time.Duration `yaml:"auth_backoff_max"`
	// Persistence keeps sessions, subscriptions, retained and in-flight
	// messages across restarts; omitted = nothing survives a restart.
	Persistence *PersistenceConfig `yaml:"persistence"`
}

// ListenerConfig is one socket the broker listens on.
type ListenerConfig struct {
	// Type is tcp, tls, ws (WebSocket) or wss (WebSocket over TLS).
	Type string `yaml:"type"`
	// Address is the IP or host name to bind (CDP ListenAddress); default
	// 127.0.0.1. Use 0.0.0.0 or :: for every interface.
	Address string `yaml:"address"`
	// Port is the TCP port (CDP ListenPort): 1883 plain, 8883 TLS by
	// convention; 0 picks a free port (tests).
	Port int `yaml:"port"`
	// TLS holds the certificate files; required for tls and wss.
	TLS *TLSConfig `yaml:"tls"`
	// AllowedOrigins lists the Origin header values a ws/wss listener
	// accepts ("*" = any). Browsers send it; clients that send no Origin are
	// accepted. Required for ws/wss, so cross-site pages cannot connect.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// Path is the HTTP path of a ws/wss listener (default "/mqtt").
	Path string `yaml:"path"`
	// Optional lets the broker start without this listener when it cannot
	// open (port taken, address missing, certificate unreadable): the
	// ListenerFailed alarm is raised and the listener retried every
	// listener_retry. Without it such a listener fails the start.
	Optional bool `yaml:"optional"`
}

// TLSConfig names the PEM files of a TLS listener.
type TLSConfig struct {
	// CertFile is the broker's certificate chain (PEM).
	CertFile string `yaml:"cert_file"`
	// KeyFile is the broker's private key (PEM).
	KeyFile string `yaml:"key_file"`
	// CAFile holds the CA certificates client certificates must chain to
	// (CDP TLSCAFile); required with require_client_cert.
	CAFile string `yaml:"ca_file"`
	// RequireClientCert refuses clients without a certificate signed by
	// ca_file (CDP TLSRequireClientCert).
	RequireClientCert bool `yaml:"require_client_cert"`
}

// UserConfig is one account. Exactly one of password_hash, password_file
// and password is set; password is meant for `${ENV}` interpolation.
type UserConfig struct {
	// Name is the MQTT username.
	Name string `yaml:"name"`
	// PasswordHash is a hash made by `runtime passwd`
	// (pbkdf2-sha256$iterations$salt$hash), safe to keep in the YAML.
	PasswordHash string `yaml:"password_hash"`
	// PasswordFile is a file holding the password or its hash, read at
	// start (e.g. a container secret).
	PasswordFile string `yaml:"password_file"`
	// Password is the password itself; write it as ${ENV_VAR} so it comes
	// from the environment rather than the file.
	Password string `yaml:"password" secret:"true"`
}

// ACLRule grants or denies access to topics matching Topic. A rule with
// neither user nor client applies to every client (anonymous ones too).
type ACLRule struct {
	// User limits the rule to this username ("*" = any logged-in user).
	User string `yaml:"user"`
	// Client limits the rule to this client ID; a trailing * matches a
	// prefix ("sensor-*").
	Client string `yaml:"client"`
	// Topic is an MQTT topic filter (+ and # allowed). A subscription is
	// allowed only if the rule's filter covers the whole subscribed filter.
	Topic string `yaml:"topic"`
	// Access is read, write, readwrite or deny.
	Access string `yaml:"access"`
}

// PersistenceConfig places the broker's state on disk.
type PersistenceConfig struct {
	// Dir is the directory for the state files; created if missing.
	Dir string `yaml:"dir"`
	// SyncInterval is how often written state is fsynced. A clean stop
	// always syncs; after a power loss up to this much is lost. "0s" syncs
	// every change (slow).
	SyncInterval time.Duration `yaml:"sync_interval"`
}

// Listener types.
const (
	TypeTCP = "tcp"
	TypeTLS = "tls"
	TypeWS  = "ws"
	TypeWSS = "wss"
)

// protocolMaxPacket is the largest packet MQTT can frame: a 4-byte
// remaining length of 268435455 plus the 5 header bytes.
const protocolMaxPacket = 268435455 + 5

// DefaultConfig returns the defaults: one loopback TCP listener on 1883,
// no anonymous access, no expiry of retained messages.
func DefaultConfig() Config {
	return Config{
		Listeners:         []ListenerConfig{{Type: TypeTCP, Address: "127.0.0.1", Port: 1883}},
		MaxPacketSize:     1 << 20,
		TopicAliasMaximum: 64,
		MaxPendingWrites:  1024,
		MaxInflight:       8192,
		WriteBufferSize:   4096,
		ReadBufferSize:    4096,
		SysInterval:       time.Second,
		ListenerRetry:     5 * time.Second,
		ConnectTimeout:    10 * time.Second,
		AuthBackoff:       time.Second,
		AuthBackoffMax:    time.Minute,
	}
}

// Validate checks the configuration's values (no I/O). Every mistake is
// reported, each as a runtime.FieldError at the key it is about.
func (c *Config) Validate() error {
	var errs runtime.FieldErrors
	add := errs.Add
	if len(c.Listeners) == 0 {
		add("listeners", "at least one listener is needed")
	}
	ports := map[string]int{}
	for i := range c.Listeners {
		l := &c.Listeners[i]
		at := func(key string) string { return fmt.Sprintf("listeners[%d].%s", i, key) }
		switch l.Type {
		case TypeTCP, TypeTLS, TypeWS, TypeWSS:
		default:
			add(at("type"), "unknown listener type %q (want tcp, tls, ws or wss)", l.Type)
		}
		if l.Port < 0 || l.Port > 65535 {
			add(at("port"), "%d is not a TCP port (0..65535)", l.Port)
		} else if l.Port != 0 {
			key := net.JoinHostPort(l.host(), fmt.Sprint(l.Port))
			if j, dup := ports[key]; dup {
				add(at("port"), "%s is also used by listeners[%d]", key, j)
			}
			ports[key] = i
		}
		secure := l.Type == TypeTLS || l.Type == TypeWSS
		if secure {
			if l.TLS == nil || l.TLS.CertFile == "" || l.TLS.KeyFile == "" {
				add(at("tls"), "a %s listener needs tls.cert_file and tls.key_file", l.Type)
			}
		} else if l.TLS != nil {
			add(at("tls"), "set on a %s listener, which does not use TLS (use type tls or wss)", l.Type)
		}
		if l.TLS != nil && l.TLS.RequireClientCert && l.TLS.CAFile == "" {
			add(at("tls.require_client_cert"), "needs tls.ca_file to check client certificates against")
		}
		ws := l.Type == TypeWS || l.Type == TypeWSS
		if ws && len(l.AllowedOrigins) == 0 {
			add(at("allowed_origins"), "a %s listener needs the list of accepted browser origins (\"*\" for any)", l.Type)
		}
		if !ws && len(l.AllowedOrigins) > 0 {
			add(at("allowed_origins"), "only ws and wss listeners check origins, this one is %s", l.Type)
		}
		if !ws && l.Path != "" {
			add(at("path"), "only ws and wss listeners have a path, this one is %s", l.Type)
		}
		if ws && l.Path != "" && !strings.HasPrefix(l.Path, "/") {
			add(at("path"), "%q must start with /", l.Path)
		}
		if c.AllowAnonymous && !c.AllowAnonymousRemote && !isLoopback(l.host()) {
			add(at("address"), "%s is reachable from the network and allow_anonymous is true: anyone who can reach it could publish and subscribe; set allow_anonymous_remote: true to accept that, or bind 127.0.0.1", l.host())
		}
	}
	if c.AllowAnonymousRemote && !c.AllowAnonymous {
		add("allow_anonymous_remote", "set without allow_anonymous: true, so it has no effect")
	}
	if !c.AllowAnonymous && len(c.Users) == 0 {
		add("users", "no users and allow_anonymous is false, so no client could connect")
	}
	names := map[string]bool{}
	for i, u := range c.Users {
		at := fmt.Sprintf("users[%d]", i)
		if u.Name == "" {
			add(at+".name", "empty")
		}
		if names[u.Name] {
			add(at+".name", "user %q is listed twice", u.Name)
		}
		names[u.Name] = true
		n := 0
		for _, s := range []string{u.PasswordHash, u.PasswordFile, u.Password} {
			if s != "" {
				n++
			}
		}
		if n != 1 {
			add(at, "user %q needs exactly one of password_hash, password_file, password (has %d)", u.Name, n)
		}
		if u.PasswordHash != "" {
			if _, err := parseHash(u.PasswordHash); err != nil {
				add(at+".password_hash", "%v", err)
			}
		}
	}
	if len(c.ACL) == 0 {
		add("acl", "no rules, so every publish and subscribe would be denied; add rules such as {topic: \"#\", access: readwrite}")
	}
	for i, r := range c.ACL {
		at := fmt.Sprintf("acl[%d]", i)
		if _, err := parseAccess(r.Access); err != nil {
			add(at+".access", "%v", err)
		}
		if err := validFilter(r.Topic); err != nil {
			add(at+".topic", "%v", err)
		}
		if r.User != "" && r.User != "*" && !names[r.User] {
			add(at+".user", "%q is not in users", r.User)
		}
		if strings.Contains(strings.TrimSuffix(r.Client, "*"), "*") {
			add(at+".client", "%q may only end in *", r.Client)
		}
	}
	if c.MaxClients < 0 {
		add("max_clients", "%d is negative (0 = unlimited)", c.MaxClients)
	}
	if c.MaxConnections < 0 {
		add("max_connections", "%d is negative (0 = unlimited)", c.MaxConnections)
	} else if c.MaxConnections > 0 && c.MaxClients > c.MaxConnections {
		add("max_connections", "%d is below max_clients %d, so max_clients could never be reached", c.MaxConnections, c.MaxClients)
	}
	if c.MaxPacketSize < 0 || c.MaxPacketSize > protocolMaxPacket {
		add("max_packet_size", "%d is outside 0..%d", c.MaxPacketSize, protocolMaxPacket)
	} else if c.MaxPacketSize != 0 && c.MaxPacketSize < 64 {
		add("max_packet_size", "%d bytes is too small for a CONNECT packet (minimum 64)", c.MaxPacketSize)
	}
	if c.TopicAliasMaximum < 0 || c.TopicAliasMaximum > 65535 {
		add("topic_alias_maximum", "%d is outside 0..65535", c.TopicAliasMaximum)
	}
	if c.MessageExpiry < 0 {
		add("message_expiry", "%v is negative (0s = never expire)", c.MessageExpiry)
	} else if c.MessageExpiry > 0 && c.MessageExpiry < time.Second {
		add("message_expiry", "%v is below the 1s resolution of MQTT expiry", c.MessageExpiry)
	}
	if c.MaxSessionExpiry < 0 || c.MaxSessionExpiry > time.Duration(math.MaxUint32)*time.Second {
		add("max_session_expiry", "%v is outside 0s..%ds", c.MaxSessionExpiry, uint64(math.MaxUint32))
	} else if c.MaxSessionExpiry > 0 && c.MaxSessionExpiry < time.Second {
		add("max_session_expiry", "%v is below the 1s resolution of MQTT session expiry", c.MaxSessionExpiry)
	}
	if c.MaxPendingWrites < 1 || c.MaxPendingWrites > 1<<20 {
		add("max_pending_writes", "%d is outside 1..1048576", c.MaxPendingWrites)
	}
	if c.MaxInflight < 1 || c.MaxInflight > 65535 {
		add("max_inflight", "%d is outside 1..65535", c.MaxInflight)
	}
	if c.WriteBufferSize < 512 || c.WriteBufferSize > 1<<24 {
		add("write_buffer_size", "%d is outside 512..16777216", c.WriteBufferSize)
	}
	if c.ReadBufferSize < 512 || c.ReadBufferSize > 1<<24 {
		add("read_buffer_size", "%d is outside 512..16777216", c.ReadBufferSize)
	}
	if c.SysInterval < time.Second {
		add("sys_interval", "%v is below 1s", c.SysInterval)
	}
	if c.ConnectTimeout < 100*time.Millisecond {
		add("connect_timeout", "%v is below 100ms", c.ConnectTimeout)
	}
	if c.ListenerRetry < 100*time.Millisecond {
		add("listener_retry", "%v is below 100ms", c.ListenerRetry)
	}
	if c.AuthBackoff < 0 {
		add("auth_backoff", "%v is negative (0s turns login throttling off)", c.AuthBackoff)
	} else if c.AuthBackoff > 0 && c.AuthBackoffMax < c.AuthBackoff {
		add("auth_backoff_max", "%v is below auth_backoff %v", c.AuthBackoffMax, c.AuthBackoff)
	}
	if p := c.Persistence; p != nil {
		if p.Dir == "" {
			add("persistence.dir", "empty; name the directory for the broker's state")
		}
		if p.SyncInterval < 0 {
			add("persistence.sync_interval", "%v is negative", p.SyncInterval)
		}
	}
	return errs.Err()
}

// isLoopback reports whether a bind address is reachable only from this
// host. Host names other than localhost count as remote.
func isLoopback(addr string) bool {
	if addr == "localhost" {
		return true
	}
	ip := net.ParseIP(addr)
	return ip != nil && ip.IsLoopback()
}

// host returns the address to bind, loopback when none is configured.
func (l *ListenerConfig) host() string {
	if l.Address == "" {
		return "127.0.0.1"
	}
	return l.Address
}

// path returns the HTTP path of a WebSocket listener.
func (l *ListenerConfig) path() string {
	if l.Path == "" {
		return "/mqtt"
	}
	return l.Path
}
