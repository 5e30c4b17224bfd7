package mqttconn

import (
	"errors"
	"fmt"
	"time"

	"github.com/metronome-rt/metronome/runtime"
)

// Endpoint is how a component reaches an MQTT broker: the connection keys
// that MQTTClient's config and an application's `system:` broker share, so
// that both take the same keys, check them alike and connect alike.
type Endpoint struct {
	// Servers are the broker URLs, tried one after the other in each round
	// of connection attempts: mqtt://host:1883 (also written tcp://),
	// mqtts://host:8883 (TLS; also ssl:// or tls://), ws://host/path and
	// wss://host/path (MQTT over WebSocket, subprotocol mqtt). A URL without
	// a port gets its scheme's default (1883, 8883, 80, 443); a port must be
	// 1 to 65535. List every node of a cluster.
	// MQTT 5 starts every round with the first server; MQTT 3.1.1 starts
	// with the one after the server whose connection was lost, so a cluster
	// node that just died is tried last.
	Servers []string `yaml:"servers"`
	// Protocol is the MQTT version spoken: 5 (the default, on paho.golang's
	// autopaho) or 3.1.1 (on eclipse/paho.mqtt.golang), for brokers that
	// speak only 3.1.1: NATS, RabbitMQ before 3.13, Azure IoT Hub. A broker
	// that refuses MQTT 5 is reported as "broker does not speak MQTT 5: set
	// protocol: 3.1.1". 3.1.1 has no session expiry, no receive maximum, no
	// reason codes (a broker refuses a message by closing the connection,
	// or drops it silently) and no topic aliases.
	Protocol string `yaml:"protocol"`
	// ClientID identifies the session at the broker. Empty: a default that
	// is the same on every start (MQTTClient: derived from the host name and
	// the component's path, CDP ClientID; a system: metronome-<system>-<application>,
	// and its host's connection adds -host).
	ClientID string `yaml:"client_id"`
	// Username is the MQTT user name (CDP UserID); empty sends none.
	Username string `yaml:"username"`
	// Password is the MQTT password. Write it as ${ENV_VAR}, never as plain
	// text in a file under version control; or use PasswordFile.
	Password string `yaml:"password" secret:"true"`
	// PasswordFile is a file whose content (trailing newline removed) is the
	// password, for example a mounted secret. Read at start: a missing or
	// unreadable file fails the start, as a configuration mistake, rather
	// than connecting without a password. Not together with password.
	PasswordFile string `yaml:"password_file"`
	// KeepAlive is the MQTT keep-alive interval (CDP KeepAlive), 1s to
	// 65535s; the broker drops the connection after 1.5 times this without
	// traffic (and publishes the will), and a silent broker is noticed
	// within about twice this (any message from the broker counts as an
	// answer, so a flood that holds the broker's PINGRESP back does not drop
	// the connection).
	KeepAlive time.Duration `yaml:"keep_alive"`
	// ConnectTimeout bounds one connection attempt to one server, from the
	// dial to the broker's CONNACK.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// RetryMin is the wait before the second connection attempt (the first
	// after a drop is immediate); each further failure doubles it up to
	// RetryMax. Each wait is drawn at random between half and all of that
	// (50% jitter), so that many clients restarted together do not
	// reconnect in step (CDP Retry). A connection that drops within 10 s of
	// being made counts as a failure too, so a broker that accepts and then
	// kicks the client (a twin with the same client ID) causes no reconnect
	// storm.
	RetryMin time.Duration `yaml:"retry_min"`
	// RetryMax caps the wait between connection attempts.
	RetryMax time.Duration `yaml:"retry_max"`
	// TLS sets certificates for mqtts:// and wss:// servers.
	TLS TLSFiles `yaml:"tls"`
}

// DefaultEndpoint has the defaults of the keys that have one.
func DefaultEndpoint() Endpoint {
	return Endpoint{Protocol: "5", KeepAlive: 30 * time.Second, ConnectTimeout: 10 * time.Second,
		RetryMin: 500 * time.Millisecond, RetryMax: 30 * time.Second}
}

// Validate checks the keys without I/O; each mistake is a FieldError at
// its key.
func (e *Endpoint) Validate() runtime.FieldErrors {
	var errs runtime.FieldErrors
	if len(e.Servers) == 0 {
		errs.Add("servers", "at least one broker URL is needed, e.g. mqtt://127.0.0.1:1883")
	}
	for i, s := range e.Servers {
		if _, err := ParseServer(s); err != nil {
			var se *ServerError
			if !errors.As(err, &se) {
				se = &ServerError{Msg: err.Error()}
			}
			errs = append(errs, &runtime.FieldError{Path: fmt.Sprintf("servers[%d]", i), Offset: se.Offset, Msg: se.Msg})
		}
	}
	if _, err := ParseProtocol(e.Protocol); err != nil {
		errs.Add("protocol", "protocol %q: want 5 or 3.1.1", e.Protocol)
	}
	if e.Password != "" && e.PasswordFile != "" {
		errs.Add("password_file", "password and password_file are both set; use one")
	}
	if e.KeepAlive < time.Second || e.KeepAlive > 65535*time.Second {
		errs.Add("keep_alive", "keep_alive %v: want 1s to 65535s", e.KeepAlive)
	}
	if e.ConnectTimeout <= 0 {
		errs.Add("connect_timeout", "connect_timeout %v: must be positive", e.ConnectTimeout)
	}
	if e.RetryMin <= 0 {
		errs.Add("retry_min", "retry_min %v: must be positive", e.RetryMin)
	} else if e.RetryMax < e.RetryMin {
		errs.Add("retry_max", "retry_max %v is below retry_min %v", e.RetryMax, e.RetryMin)
	}
	if e.TLS.CertFile != "" && e.TLS.KeyFile == "" {
		errs.Add("tls.cert_file", "cert_file needs key_file: the client certificate's private key")
	}
	if e.TLS.KeyFile != "" && e.TLS.CertFile == "" {
		errs.Add("tls.key_file", "key_file needs cert_file: the client certificate")
	}
	return errs
}

// Options are the transport's options for these keys and client ID id;
// the password file and the TLS files are read now. The caller adds what
// is its own (session, handlers, will).
func (e *Endpoint) Options(id string) (Options, error) {
	p, err := ParseProtocol(e.Protocol)
	if err != nil {
		return Options{}, err
	}
	o := Options{Protocol: p, Servers: e.Servers, ClientID: id, Username: e.Username,
		KeepAlive: e.KeepAlive, ConnectTimeout: e.ConnectTimeout, RetryMin: e.RetryMin, RetryMax: e.RetryMax}
	if o.Password, err = ReadPassword(e.Password, e.PasswordFile); err != nil {
		return o, err
	}
	if o.TLS, err = e.TLS.Config(); err != nil {
		return o, err
	}
	return o, nil
}
