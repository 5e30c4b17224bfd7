package mqttclient

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/metronome-rt/metronome/components/mqttclient/payload"
	"github.com/metronome-rt/metronome/signals"
)

// Config is the `config:` block of an MQTTClient component.
type Config struct {
	// Servers are the broker URLs, tried in order on every connection
	// attempt: mqtt://host:1883, mqtts://host:8883, ws://host/path,
	// wss://host/path. A URL without a port gets the scheme's default.
	Servers []string `yaml:"servers"`
	// ClientID identifies the session at the broker. Empty: derived from the
	// host name and the component's path, so it is the same on every start
	// of this component on this machine (CDP ClientID).
	ClientID string `yaml:"client_id"`
	// Username is the MQTT user name (CDP UserID); empty sends none.
	Username string `yaml:"username"`
	// Password is the MQTT password. Write it as ${ENV_VAR}, never as plain
	// text in a file under version control; or use PasswordFile.
	Password string `yaml:"password" secret:"true"`
	// PasswordFile is a file whose content (trailing newline removed) is the
	// password, for example a mounted secret. Read at start.
	PasswordFile string `yaml:"password_file"`
	// KeepAlive is the MQTT keep-alive interval (CDP KeepAlive); the broker
	// drops the connection after 1.5 times this without traffic.
	KeepAlive time.Duration `yaml:"keep_alive"`
	// ConnectTimeout bounds one connection attempt.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	// RetryMin is the wait before the second connection attempt; each
	// further failure doubles it up to RetryMax, with random jitter of up to
	// half the wait so that many clients do not reconnect in step (CDP Retry).
	RetryMin time.Duration `yaml:"retry_min"`
	// RetryMax caps the wait between connection attempts.
	RetryMax time.Duration `yaml:"retry_max"`
	// TLS sets certificates for mqtts:// and wss:// servers.
	TLS TLSConfig `yaml:"tls"`
	// CleanStart discards any session the broker holds for ClientID on the
	// first connection of this run.
	CleanStart bool `yaml:"clean_start"`
	// SessionExpiry is how long the broker keeps the session (subscriptions
	// and QoS 1/2 messages for them) after a disconnection; "0s" ends it with
	// the connection. Outgoing messages are kept by the client's own queue
	// either way.
	SessionExpiry time.Duration `yaml:"session_expiry"`
	// Status is the connection status topic: a retained will and birth pair,
	// re-armed on every connection (CDP LWTTopic, LWTConnectedPayload,
	// LWTDisconnectedPayload). Empty topic: none.
	Status StatusConfig `yaml:"status"`
	// SignalTimeout is how long the connection must be down, or publishing
	// failing, before the TransmissionError alarm is raised (CDP
	// SignalTimeout). The alarm's `delay:` in `alarms:` overrides it.
	SignalTimeout time.Duration `yaml:"signal_timeout"`
	// PublishTimeout bounds the wait for the broker's acknowledgement of a
	// QoS 1/2 message before it is sent again.
	PublishTimeout time.Duration `yaml:"publish_timeout"`
	// ReceiveMaximum is how many QoS 1/2 messages the broker may send
	// before the client acknowledges them (MQTT 5 Receive Maximum); it also
	// sizes the client library's receive buffer, so an incoming flood costs
	// bounded memory.
	ReceiveMaximum int `yaml:"receive_maximum"`
	// Queue holds outgoing messages until the broker acknowledges them.
	Queue QueueConfig `yaml:"queue"`
	// Publish are the topics the client publishes; each is an input signal
	// (or several, for multi-value topics) that other signals route into.
	Publish []PublishTopic `yaml:"publish"`
	// Subscribe are the topics the client receives; each is an output
	// signal (or several) that other components route from.
	Subscribe []SubscribeTopic `yaml:"subscribe"`
	// Publishers are dynamic publish blocks (CDP Publisher): topic and
	// payload come from string inputs and are published on a trigger.
	Publishers []Publisher `yaml:"publishers"`
}

// TLSConfig holds the TLS settings for encrypted servers.
type TLSConfig struct {
	// CAFile is a PEM file of certificate authorities that sign the
	// broker's certificate; empty uses the system pool.
	CAFile string `yaml:"ca_file"`
	// CertFile is the client certificate (PEM) for brokers that require one.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the client certificate's private key (PEM).
	KeyFile string `yaml:"key_file"`
	// ServerName overrides the name checked in the broker's certificate.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify accepts any broker certificate. For tests only: it
	// makes the connection open to interception.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// StatusConfig is the birth/will status topic.
type StatusConfig struct {
	// Topic carries the client's connection status; empty disables it.
	Topic string `yaml:"topic"`
	// Online is published (retained) on every connection.
	Online string `yaml:"online"`
	// Offline is the will payload the broker publishes when the connection
	// is lost, and what the client publishes when it stops.
	Offline string `yaml:"offline"`
	// QoS of the status messages.
	QoS int `yaml:"qos"`
}

// QueueConfig sizes and places the outgoing queue.
type QueueConfig struct {
	// Limit is the most outgoing messages held while the broker is away;
	// further messages are dropped and counted in Dropped.
	Limit int `yaml:"limit"`
	// Dir keeps the queue in a log file in this directory, so messages
	// accepted before a crash or kill are sent after the restart, in order.
	// Empty: memory only.
	Dir string `yaml:"dir"`
	// Sync flushes the log to the device after every write, to survive a
	// power loss as well as a process kill; costs a disk flush per message.
	Sync bool `yaml:"sync"`
	// HandOff is the capacity of the buffer between the ticks and the
	// network goroutine; a tick that finds it full drops and counts.
	HandOff int `yaml:"hand_off"`
}

// Payload says how a topic's payload is written.
type Payload struct {
	// Format is text (default: the value as text), json or csv.
	Format string `yaml:"format"`
	// Field, for json subscribe topics with one value, is a dotted path to
	// the value in an object ("sensor.temp", "list.0"); for json publish
	// topics it makes an object {"field": value}.
	Field string `yaml:"field"`
	// Template, for json publish topics, is the payload text with
	// {{value}} (or {{ValueName}} for multi-value topics) and {{time}}
	// (Unix milliseconds) placeholders.
	Template string `yaml:"template"`
	// Separator between csv columns, default ",".
	Separator string `yaml:"separator"`
	// ValueMap maps signal values to payload text and back, e.g.
	// {true: "ON", false: "OFF"}; other values use plain formatting.
	ValueMap map[string]string `yaml:"value_map"`
}

// Value is one signal of a multi-value topic.
type Value struct {
	// Name of the signal.
	Name string `yaml:"name"`
	// Type of the signal: bool, int, uint, double or string (CDP names too).
	Type string `yaml:"type"`
	// Field is the value's JSON key or dotted path; default its Name.
	Field string `yaml:"field"`
	// Column is the value's zero-based csv column; default its position.
	Column *int `yaml:"column"`
	// ValueMap maps this value to payload text and back.
	ValueMap map[string]string `yaml:"value_map"`
}

// PublishTopic is a topic the client publishes.
type PublishTopic struct {
	// Name of the input signal (and prefix of its status signals).
	Name string `yaml:"name"`
	// Topic to publish to (no wildcards).
	Topic string `yaml:"topic"`
	// Type of the input signal; omit for multi-value topics.
	Type string `yaml:"type"`
	// Values make this a multi-value topic: one payload carries them all,
	// each an input signal named by its Name.
	Values []Value `yaml:"values"`
	// Payload format and mapping.
	Payload `yaml:",inline"`
	// QoS 0, 1 or 2. QoS 0 messages are not kept while the broker is away.
	QoS int `yaml:"qos"`
	// Retain asks the broker to keep the last message for new subscribers.
	Retain bool `yaml:"retain"`
	// OnChange publishes when the value changes (default true; CDP
	// TriggerOnChange).
	OnChange *bool `yaml:"on_change"`
	// Deadband, for numbers, is how far the value must move from the last
	// published value to count as a change.
	Deadband float64 `yaml:"deadband"`
	// Interval publishes periodically, whatever the value (CDP
	// TriggerOnTimeout); "0s" is off.
	Interval time.Duration `yaml:"interval"`
	// OnConnect publishes the current value on every (re)connection
	// (default true; CDP TriggerOnStartup).
	OnConnect *bool `yaml:"on_connect"`
	// MinInterval rate-limits the topic: after a publication, further
	// triggers wait this long and then publish the value of that moment.
	MinInterval time.Duration `yaml:"min_interval"`
	// Keep is what the queue keeps while the broker is away: all (every
	// message, in order) or latest (only the newest value, for states).
	Keep string `yaml:"keep"`
}

// SubscribeTopic is a topic the client receives.
type SubscribeTopic struct {
	// Name of the output signal (and prefix of its status signals).
	Name string `yaml:"name"`
	// Topic filter; may hold + and # wildcards.
	Topic string `yaml:"topic"`
	// Type of the output signal; omit for multi-value topics.
	Type string `yaml:"type"`
	// Values make this a multi-value topic.
	Values []Value `yaml:"values"`
	// Payload format and mapping.
	Payload `yaml:",inline"`
	// QoS requested for the subscription.
	QoS int `yaml:"qos"`
	// MaxAge turns the signal's quality to stale when no message arrived
	// for this long; "0s" never.
	MaxAge time.Duration `yaml:"max_age"`
}

// Publisher is a dynamic publish block (CDP Publisher).
type Publisher struct {
	// Name prefixes its signals: <Name>Topic, <Name>Payload and
	// <Name>Trigger inputs, <Name>Count output.
	Name string `yaml:"name"`
	// QoS of its messages.
	QoS int `yaml:"qos"`
	// Retain flag of its messages.
	Retain bool `yaml:"retain"`
	// Trigger is payload (publish on every new write of <Name>Payload, the
	// default) or edge (publish when <Name>Trigger goes from false to true).
	Trigger string `yaml:"trigger"`
}

// Defaults returns the configuration that keys left out take.
func Defaults() Config {
	return Config{
		KeepAlive:      30 * time.Second,
		ConnectTimeout: 10 * time.Second,
		RetryMin:       500 * time.Millisecond,
		RetryMax:       30 * time.Second,
		CleanStart:     true,
		SignalTimeout:  time.Second,
		PublishTimeout: 10 * time.Second,
		ReceiveMaximum: 64,
		Status:         StatusConfig{Online: "online", Offline: "offline", QoS: 1},
		Queue:          QueueConfig{Limit: 10000, HandOff: 4096},
	}
}

// Validate checks the values; it does no I/O.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(c.Servers) == 0 {
		add("servers: at least one broker URL is needed, e.g. mqtt://127.0.0.1:1883")
	}
	for _, s := range c.Servers {
		if _, err := parseServer(s); err != nil {
			add("servers: %v", err)
		}
	}
	if c.Password != "" && c.PasswordFile != "" {
		add("password and password_file are both set; use one")
	}
	if c.KeepAlive < time.Second || c.KeepAlive > 65535*time.Second {
		add("keep_alive %v: want 1s to 65535s", c.KeepAlive)
	}
	if c.ConnectTimeout <= 0 {
		add("connect_timeout %v: must be positive", c.ConnectTimeout)
	}
	if c.RetryMin <= 0 || c.RetryMax < c.RetryMin {
		add("retry_min %v, retry_max %v: want 0 < retry_min <= retry_max", c.RetryMin, c.RetryMax)
	}
	if c.SessionExpiry < 0 || c.SessionExpiry > 0xffffffff*time.Second {
		add("session_expiry %v: want 0s to 136 years", c.SessionExpiry)
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		add("tls: cert_file and key_file go together")
	}
	if c.Status.QoS < 0 || c.Status.QoS > 2 {
		add("status: qos %d: want 0, 1 or 2", c.Status.QoS)
	}
	if c.Status.Topic != "" && strings.ContainsAny(c.Status.Topic, "+#") {
		add("status: topic %q must not hold wildcards", c.Status.Topic)
	}
	if c.SignalTimeout < 0 {
		add("signal_timeout %v: must not be negative", c.SignalTimeout)
	}
	if c.PublishTimeout <= 0 {
		add("publish_timeout %v: must be positive", c.PublishTimeout)
	}
	if c.ReceiveMaximum < 1 || c.ReceiveMaximum > 65535 {
		add("receive_maximum %d: want 1 to 65535", c.ReceiveMaximum)
	}
	if c.Queue.Limit < 1 {
		add("queue: limit %d: want at least 1", c.Queue.Limit)
	}
	if c.Queue.HandOff < 1 {
		add("queue: hand_off %d: want at least 1", c.Queue.HandOff)
	}
	names := map[string]bool{}
	claim := func(where, n string) {
		if n == "" {
			add("%s: a name is needed", where)
			return
		}
		if names[n] {
			add("%s: name %q used twice", where, n)
		}
		names[n] = true
	}
	for i := range c.Publish {
		p := &c.Publish[i]
		where := fmt.Sprintf("publish[%d] %s", i, p.Name)
		claim(where, p.Name)
		if err := validTopic(p.Topic); err != nil {
			add("%s: %v", where, err)
		}
		checkQoS(add, where, p.QoS)
		if _, err := p.codec(); err != nil {
			add("%s: %v", where, err)
		}
		if p.Deadband < 0 {
			add("%s: deadband %v must not be negative", where, p.Deadband)
		}
		if p.Interval < 0 || p.MinInterval < 0 {
			add("%s: interval and min_interval must not be negative", where)
		}
		if p.Keep != "" && p.Keep != "all" && p.Keep != "latest" {
			add("%s: keep %q: want all or latest", where, p.Keep)
		}
		if !boolOr(p.OnChange, true) && p.Interval == 0 && !boolOr(p.OnConnect, true) {
			add("%s: no trigger: set on_change, interval or on_connect", where)
		}
	}
	for i := range c.Subscribe {
		s := &c.Subscribe[i]
		where := fmt.Sprintf("subscribe[%d] %s", i, s.Name)
		claim(where, s.Name)
		if err := validFilter(s.Topic); err != nil {
			add("%s: %v", where, err)
		}
		checkQoS(add, where, s.QoS)
		if s.Template != "" {
			add("%s: template is for publish topics", where)
		}
		if _, err := s.codec(); err != nil {
			add("%s: %v", where, err)
		}
		if s.MaxAge < 0 {
			add("%s: max_age must not be negative", where)
		}
	}
	for i, p := range c.Publishers {
		where := fmt.Sprintf("publishers[%d] %s", i, p.Name)
		claim(where, p.Name)
		checkQoS(add, where, p.QoS)
		if p.Trigger != "" && p.Trigger != "payload" && p.Trigger != "edge" {
			add("%s: trigger %q: want payload or edge", where, p.Trigger)
		}
	}
	return errors.Join(errs...)
}

func checkQoS(add func(string, ...any), where string, q int) {
	if q < 0 || q > 2 {
		add("%s: qos %d: want 0, 1 or 2", where, q)
	}
}

func boolOr(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}

// parseServer checks a broker URL and fills in the scheme's default port.
func parseServer(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%q: %v", s, err)
	}
	port := map[string]string{"mqtt": "1883", "tcp": "1883", "mqtts": "8883", "ssl": "8883", "tls": "8883", "ws": "80", "wss": "443"}[u.Scheme]
	if port == "" {
		return nil, fmt.Errorf("%q: scheme %q: want mqtt, mqtts, ws or wss", s, u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("%q: no host", s)
	}
	if u.Port() == "" {
		u.Host += ":" + port
	}
	return u, nil
}

func validTopic(t string) error {
	if t == "" {
		return errors.New("topic is empty")
	}
	if strings.ContainsAny(t, "+#\x00") {
		return fmt.Errorf("topic %q: a publish topic cannot hold + or #", t)
	}
	return nil
}

func validFilter(f string) error {
	if f == "" {
		return errors.New("topic is empty")
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		if strings.Contains(l, "#") && (l != "#" || i != len(levels)-1) {
			return fmt.Errorf("topic %q: # must be a whole last level", f)
		}
		if strings.Contains(l, "+") && l != "+" {
			return fmt.Errorf("topic %q: + must be a whole level", f)
		}
	}
	return nil
}

// fields turns a topic's type or values into codec fields.
func fields(name, typ string, vals []Value, p *Payload, format payload.Format) ([]payload.Field, error) {
	if len(vals) == 0 {
		k, err := signals.ParseKind(typ)
		if err != nil {
			return nil, err
		}
		m, err := payload.MapFrom(k, p.ValueMap)
		if err != nil {
			return nil, err
		}
		return []payload.Field{{Name: name, Kind: k, Key: p.Field, Map: m}}, nil
	}
	if typ != "" {
		return nil, errors.New("type is for single-value topics; a multi-value topic gives each value its type")
	}
	if len(p.ValueMap) > 0 || p.Field != "" {
		return nil, errors.New("value_map and field go on each value of a multi-value topic")
	}
	if format == payload.Text {
		return nil, errors.New("a multi-value topic needs format json or csv")
	}
	out := make([]payload.Field, 0, len(vals))
	for i, v := range vals {
		k, err := signals.ParseKind(v.Type)
		if err != nil {
			return nil, fmt.Errorf("value %s: %v", v.Name, err)
		}
		m, err := payload.MapFrom(k, v.ValueMap)
		if err != nil {
			return nil, fmt.Errorf("value %s: %v", v.Name, err)
		}
		col := i
		if v.Column != nil {
			col = *v.Column
			if col < 0 {
				return nil, fmt.Errorf("value %s: column %d must not be negative", v.Name, col)
			}
		}
		out = append(out, payload.Field{Name: v.Name, Kind: k, Key: v.Field, Column: col, Map: m})
	}
	return out, nil
}

func (p *Payload) spec(name, typ string, vals []Value) (payload.Spec, error) {
	f, err := payload.ParseFormat(p.Format)
	if err != nil {
		return payload.Spec{}, err
	}
	if p.Field != "" && f != payload.JSON {
		return payload.Spec{}, errors.New("field is for json payloads")
	}
	if p.Separator != "" && f != payload.CSV {
		return payload.Spec{}, errors.New("separator is for csv payloads")
	}
	fs, err := fields(name, typ, vals, p, f)
	if err != nil {
		return payload.Spec{}, err
	}
	return payload.Spec{Format: f, Fields: fs, Template: p.Template, Separator: p.Separator}, nil
}

func (p *PublishTopic) codec() (*payload.Codec, error) {
	s, err := p.Payload.spec(p.Name, p.Type, p.Values)
	if err != nil {
		return nil, err
	}
	return payload.New(s)
}

func (s *SubscribeTopic) codec() (*payload.Codec, error) {
	sp, err := s.Payload.spec(s.Name, s.Type, s.Values)
	if err != nil {
		return nil, err
	}
	return payload.New(sp)
}
