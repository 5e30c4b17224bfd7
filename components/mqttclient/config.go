package mqttclient

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/metronome-rt/metronome/components/mqttclient/payload"
	"github.com/metronome-rt/metronome/internal/mqttconn"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// Config is the `config:` block of an MQTTClient component.
type Config struct {
	// Endpoint holds the connection keys: servers, protocol, client_id,
	// username, password, password_file, keep_alive, connect_timeout,
	// retry_min, retry_max, tls.
	mqttconn.Endpoint `yaml:",inline"`
	// CleanStart discards any session the broker holds for client_id on the
	// first connection of this run; later connections resume the session
	// for SessionExpiry (MQTT 5). MQTT 3.1.1 has no session expiry: there
	// this is the Clean Session flag of every connection, and false
	// makes a persistent session, which the broker keeps (with the
	// subscriptions and the QoS 1/2 messages for them) until a clean
	// connection.
	CleanStart bool `yaml:"clean_start"`
	// SessionExpiry (MQTT 5) is how long the broker keeps the session
	// (subscriptions and QoS 1/2 messages for them) after a disconnection;
	// "0s" ends it with the connection. Outgoing messages are kept by the
	// client's own queue either way. With protocol 3.1.1 it must be 0s
	// (use clean_start: false for a persistent session).
	SessionExpiry time.Duration `yaml:"session_expiry"`
	// Status is the connection status topic: a retained will and birth pair,
	// re-armed on every connection (CDP LWTTopic, LWTConnectedPayload,
	// LWTDisconnectedPayload). Empty topic: none.
	Status StatusConfig `yaml:"status"`
	// SignalTimeout is how long the connection must be down, or publishing
	// failing, before the TransmissionError alarm is raised (CDP
	// SignalTimeout). Before the first connection it is also how long the
	// subscribe signals stay initial before they turn comm lost, so a
	// normal start does not flicker. The alarm's `delay:` in `alarms:`
	// overrides it for the alarm.
	SignalTimeout time.Duration `yaml:"signal_timeout"`
	// PublishTimeout bounds the wait for the broker's acknowledgement of a
	// QoS 1/2 message before it is sent again, and the wait for the
	// SUBACK of a new connection.
	PublishTimeout time.Duration `yaml:"publish_timeout"`
	// ReceiveMaximum (MQTT 5) is how many QoS 1/2 messages the broker may
	// send before the client acknowledges them (Receive Maximum), 1 to
	// 65535; it also sizes the client library's receive buffer, so an
	// incoming flood costs bounded memory and waits at the broker. MQTT
	// 3.1.1 has no such setting (the broker's own in-flight window applies),
	// so there it must be left at its default.
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
	// Devices are the devices behind the topics, each with the topic on
	// which it announces whether it is online (its will): while a device is
	// offline the subscribe topics naming it are comm lost, and when it
	// comes back the publish topics naming it send their values again.
	Devices []Device `yaml:"devices"`
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
	// QoS of the status messages: 0, 1 or 2. The birth message's
	// acknowledgement gives RoundTrip its first figure.
	QoS int `yaml:"qos"`
}

// QueueConfig sizes and places the outgoing queue.
type QueueConfig struct {
	// Limit is the most outgoing messages held while the broker is away;
	// further messages are dropped and counted in Dropped.
	Limit int `yaml:"limit"`
	// Dir keeps the queue in an append-only log file in this directory,
	// so messages accepted before a crash or kill are sent after the
	// restart, in order (a torn last record is cut off; the log is
	// compacted when it empties or grows beyond 4 MiB plus twice its live
	// size). One process per log: a second runtime with the same client_id
	// and dir fails to start. Empty: memory only.
	Dir string `yaml:"dir"`
	// Sync flushes the log to the device after every write, to survive a
	// power loss as well as a process kill; costs a disk flush per message.
	Sync bool `yaml:"sync"`
	// HandOff is the capacity of the buffer between the ticks and the
	// network goroutine; a tick that finds it full drops and counts.
	HandOff int `yaml:"hand_off"`
}

// Payload says how a topic's payload is written; publish and subscribe
// topics share it.
type Payload struct {
	// Format is text (default: the value as text), json or csv.
	Format string `yaml:"format"`
	// Field, for json topics with one value, is a dotted path to the value
	// in an object ("sensor.temp", "list.0") when subscribing; when
	// publishing it makes an object {"field": value}.
	Field string `yaml:"field"`
	// Separator between csv columns, default ",".
	Separator string `yaml:"separator"`
	// ValueMap maps signal values to payload text and back, e.g.
	// {true: "ON", false: "OFF"}; other values use plain formatting.
	ValueMap map[string]string `yaml:"value_map"`
	// TimeField, for json topics, is where the payload carries the time its
	// value was produced, so a value from another system keeps its own time
	// stamp. On subscribe a dotted path, read as Unix seconds,
	// milliseconds, microseconds or nanoseconds (told apart by size: below
	// 1e11 seconds, below 1e14 ms, below 1e17 µs) or RFC 3339 text (without
	// an offset: local time, as Tasmota sends it); a payload without it, or
	// with one that does not parse, is bad input, and max_age counts from
	// it. On publish a plain key, written as Unix milliseconds (a single
	// value is then {"value": v, ...}).
	TimeField string `yaml:"time_field"`
	// QualityField, for json topics, is where the payload carries the
	// value's quality: on subscribe a dotted path read as a quality's name
	// ("good", "last known", "stale", "comm lost", "bad input", "initial";
	// case, _ and spaces between words do not matter) or true/false (good
	// or bad input), so a value keeps the quality its source gave it (the
	// worse of that and its own); a payload without it is bad input, and a
	// null value with a quality that is not usable keeps the previous
	// value with that quality. On publish a plain key written into the
	// object.
	QualityField string `yaml:"quality_field"`
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
	// Template, for json topics, is the payload text with placeholders:
	// {{value}} (or {{ValueName}} in a multi-value topic), {{quality}} (the
	// value's quality as a JSON string), {{time}} (when the value was
	// produced, Unix milliseconds) and {{now}} (when it is published);
	// {{time.local}} and {{now.local}} write those times as Tasmota does,
	// a JSON string of local time: "2024-05-01T12:00:00".
	Template string `yaml:"template"`
	// NumberFormat writes doubles with a printf verb: "%.2f" (two
	// decimals), "%.4g" (four significant digits), "%.3e". Default: up to 15
	// significant digits in the shortest form, so 37.8 is never written as
	// 37.800000000000004.
	NumberFormat string `yaml:"number_format"`
	// WhenNotGood is what the topic does while an input is not usable
	// (initial, stale, comm lost, bad input): skip (publish nothing, the
	// default), last_good (triggers go on publishing the last usable
	// value), or quality (publish null with the quality; the payload must
	// carry the quality: a {{quality}} placeholder or quality_field).
	WhenNotGood string `yaml:"when_not_good"`
	// Device names the device (in devices:) this topic commands: when it
	// comes back online (and its republish is on) the topic publishes its
	// current value again, so a device that restarted gets its commands
	// back.
	Device string `yaml:"device"`
	// QoS 0, 1 or 2. QoS 1 and 2 messages wait in the queue, in order,
	// until the broker acknowledges them; QoS 0 messages are not kept while
	// the broker is away (dropped and counted in Dropped).
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
	// message, in order; the default) or latest (only the newest value of
	// this topic, for states).
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
	// Device names the device (in devices:) that publishes this topic:
	// while it is offline the signals are comm lost (their values kept);
	// when it is online again they are last known until it sends a new
	// value.
	Device string `yaml:"device"`
	// Alarm declares the alarm <Name>Quality, raised once the topic's
	// value has been unusable (initial, stale, comm lost or bad input) for
	// the alarm's delay; its text names the quality (`Temp (plant/temp):
	// comm lost`), and it clears as soon as the value is usable. {} takes
	// the defaults.
	Alarm *QualityAlarm `yaml:"alarm"`
}

// QualityAlarm is a subscribe topic's alarm on its value's quality. Like
// every alarm, it may also be changed per instance under `alarms:`.
type QualityAlarm struct {
	// Level is error, warning (the default) or notify.
	Level string `yaml:"level"`
	// Delay is how long the value must stay unusable before the alarm is
	// raised; default signal_timeout, so start-up and short glitches pass.
	Delay *time.Duration `yaml:"delay"`
}

// Device is a device whose availability the client follows: Tasmota's
// tele/<dev>/LWT (Online/Offline), zigbee2mqtt's <dev>/availability
// ({"state": "online"}), Home Assistant's availability topics.
type Device struct {
	// Name of the device; topics name it in `device:`, and it gives the
	// output <Name>Online.
	Name string `yaml:"name"`
	// Availability is the topic (no wildcards; required) on which the
	// device says whether it is online, usually its retained will. A
	// payload that is neither online nor offline counts in DecodeErrors
	// and changes nothing.
	Availability string `yaml:"availability"`
	// Field, when the availability payload is JSON, is the dotted path to
	// the state in it (zigbee2mqtt: state).
	Field string `yaml:"field"`
	// Online is the payload (or field value) that means online, matched
	// without regard to case; default online.
	Online string `yaml:"online"`
	// Offline is the payload that means offline; default offline.
	Offline string `yaml:"offline"`
	// Republish makes the publish topics naming this device send their
	// current values when it comes back online (default true), so a
	// device that restarted gets its commands back.
	Republish *bool `yaml:"republish"`
}

// Publisher is a dynamic publish block (CDP Publisher).
type Publisher struct {
	// Name prefixes its signals: <Name>Topic, <Name>Payload and
	// <Name>Trigger inputs, <Name>Count output. A topic that is empty or
	// holds wildcards is not published; it counts in Dropped.
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
		Endpoint:       mqttconn.DefaultEndpoint(),
		CleanStart:     true,
		SignalTimeout:  time.Second,
		PublishTimeout: 10 * time.Second,
		ReceiveMaximum: defaultReceiveMaximum,
		Status:         StatusConfig{Online: "online", Offline: "offline", QoS: 1},
		Queue:          QueueConfig{Limit: 10000, HandOff: 4096},
	}
}

// Validate checks the values; it does no I/O. Every mistake is a
// runtime.FieldError at its key's path (publish[0].qos,
// publish[0].value_map.maybe), so the loader can point at it.
func (c *Config) Validate() error {
	errs := c.Endpoint.Validate()
	if c.SessionExpiry < 0 || c.SessionExpiry > 0xffffffff*time.Second {
		errs.Add("session_expiry", "session_expiry %v: want 0s to 136 years", c.SessionExpiry)
	}
	checkQoS(&errs, "status.qos", c.Status.QoS)
	if c.Status.Topic != "" {
		if err := mqttconn.ValidTopic(c.Status.Topic); err != nil {
			errs.Add("status.topic", "%v", err)
		}
	}
	if c.SignalTimeout < 0 {
		errs.Add("signal_timeout", "signal_timeout %v: must not be negative", c.SignalTimeout)
	}
	if c.PublishTimeout <= 0 {
		errs.Add("publish_timeout", "publish_timeout %v: must be positive", c.PublishTimeout)
	}
	if c.ReceiveMaximum < 1 || c.ReceiveMaximum > 65535 {
		errs.Add("receive_maximum", "receive_maximum %d: want 1 to 65535", c.ReceiveMaximum)
	}
	if p, err := mqttconn.ParseProtocol(c.Protocol); err == nil && p == mqttconn.V311 {
		if c.SessionExpiry != 0 {
			errs.Add("session_expiry", "session_expiry %v: MQTT 3.1.1 has no session expiry; for a persistent session set clean_start: false (the broker keeps it until a clean connection), or use protocol 5", c.SessionExpiry)
		}
		if c.ReceiveMaximum != defaultReceiveMaximum {
			errs.Add("receive_maximum", "receive_maximum %d: MQTT 5 flow control; MQTT 3.1.1 has none (the broker's own in-flight window applies): leave it out, or use protocol 5", c.ReceiveMaximum)
		}
	}
	if c.Queue.Limit < 1 {
		errs.Add("queue.limit", "limit %d: want at least 1", c.Queue.Limit)
	}
	if c.Queue.HandOff < 1 {
		errs.Add("queue.hand_off", "hand_off %d: want at least 1", c.Queue.HandOff)
	}
	devices := map[string]bool{}
	for i := range c.Devices {
		d := &c.Devices[i]
		at := fmt.Sprintf("devices[%d]", i)
		if d.Name != "" && devices[d.Name] {
			errs.Add(at+".name", "device %q is declared twice", d.Name)
		}
		devices[d.Name] = true
		if d.Availability == "" {
			errs.Add(at, "availability: the topic on which the device says it is online is needed")
		} else if err := mqttconn.ValidTopic(d.Availability); err != nil {
			errs.Add(at+".availability", "%v", err)
		}
		if strings.EqualFold(d.online(), d.offline()) {
			errs.Add(at+".offline", "online and offline are both %q", d.online())
		}
		if d.Field != "" {
			if _, err := splitPath(d.Field); err != nil {
				errs.Add(at+".field", "%v", err)
			}
		}
	}
	device := func(at, name string) {
		if name != "" && !devices[name] {
			errs.Add(at+".device", "unknown device %q: declare it under devices:", name)
		}
	}
	for i := range c.Publish {
		p := &c.Publish[i]
		at := fmt.Sprintf("publish[%d]", i)
		if err := mqttconn.ValidTopic(p.Topic); err != nil {
			errs.Add(at+".topic", "%v", err)
		}
		checkQoS(&errs, at+".qos", p.QoS)
		if _, err := p.spec(); err != nil {
			errs.Merge(at, err)
		}
		if p.Deadband < 0 {
			errs.Add(at+".deadband", "deadband %v must not be negative", p.Deadband)
		}
		if p.Interval < 0 {
			errs.Add(at+".interval", "interval %v must not be negative", p.Interval)
		}
		if p.MinInterval < 0 {
			errs.Add(at+".min_interval", "min_interval %v must not be negative", p.MinInterval)
		}
		if p.Keep != "" && p.Keep != "all" && p.Keep != "latest" {
			errs.Add(at+".keep", "keep %q: want all or latest", p.Keep)
		}
		if !boolOr(p.OnChange, true) && p.Interval == 0 && !boolOr(p.OnConnect, true) {
			errs.Add(at+".on_change", "no trigger: set on_change, interval or on_connect")
		}
		device(at, p.Device)
	}
	for i := range c.Subscribe {
		s := &c.Subscribe[i]
		at := fmt.Sprintf("subscribe[%d]", i)
		if err := mqttconn.ValidFilter(s.Topic); err != nil {
			errs.Add(at+".topic", "%v", err)
		}
		checkQoS(&errs, at+".qos", s.QoS)
		if _, err := s.spec(); err != nil {
			errs.Merge(at, err)
		}
		if s.MaxAge < 0 {
			errs.Add(at+".max_age", "max_age %v must not be negative", s.MaxAge)
		}
		if a := s.Alarm; a != nil {
			if a.Level != "" {
				if _, err := runtime.ParseLevel(a.Level); err != nil {
					errs.Add(at+".alarm.level", "%v", err)
				}
			}
			if a.Delay != nil && *a.Delay < 0 {
				errs.Add(at+".alarm.delay", "delay %v must not be negative", *a.Delay)
			}
		}
		device(at, s.Device)
	}
	for i, p := range c.Publishers {
		at := fmt.Sprintf("publishers[%d]", i)
		checkQoS(&errs, at+".qos", p.QoS)
		if p.Trigger != "" && p.Trigger != "payload" && p.Trigger != "edge" {
			errs.Add(at+".trigger", "trigger %q: want payload or edge", p.Trigger)
		}
	}
	c.checkNames(&errs)
	return errs.Err()
}

// fixedNames are the client's own members, which no topic may take.
var fixedNames = []string{"Connected", "RoundTrip", "MessagesIn", "MessagesOut", "DecodeErrors", "Dropped", "Queued", "TransmissionError",
	runtime.StdProcessTime, runtime.StdProcessPeriod, runtime.StdOverruns, runtime.StdOverrunAlarm}

// checkNames reports every name a topic, publisher or device would declare
// (its signals, its status signals, its alarm) that is empty, invalid or
// already taken, at the name that declares it: one namespace holds them
// all, since a route names any of them.
func (c *Config) checkNames(errs *runtime.FieldErrors) {
	owner := map[string]string{}
	for _, n := range fixedNames {
		owner[n] = "the client's own " + n
	}
	claim := func(at, name string, derived ...string) {
		if name == "" {
			errs.Add(at, "a name is needed")
			return
		}
		if err := checkName(name); err != nil {
			errs.Add(at+".name", "%v", err)
			return
		}
		for i, n := range append([]string{name}, derived...) {
			if o, taken := owner[n]; taken {
				what := fmt.Sprintf("%q", name)
				if i > 0 {
					what = fmt.Sprintf("%q declares %s, which", name, n)
				}
				errs.Add(at+".name", "%s is already %s", what, o)
				return
			}
		}
		for _, n := range append([]string{name}, derived...) {
			owner[n] = "taken by " + at + " (" + name + ")"
		}
	}
	values := func(at string, vals []Value) {
		for j, v := range vals {
			claim(fmt.Sprintf("%s.values[%d]", at, j), v.Name)
		}
	}
	for i, p := range c.Publish {
		at := fmt.Sprintf("publish[%d]", i)
		claim(at, p.Name, p.Name+"Count", p.Name+"Bytes")
		values(at, p.Values)
	}
	for i, s := range c.Subscribe {
		at := fmt.Sprintf("subscribe[%d]", i)
		derived := []string{s.Name + "Topic", s.Name + "New", s.Name + "Count", s.Name + "Bytes"}
		if s.Alarm != nil {
			derived = append(derived, s.Name+"Quality")
		}
		claim(at, s.Name, derived...)
		values(at, s.Values)
	}
	for i, p := range c.Publishers {
		claim(fmt.Sprintf("publishers[%d]", i), p.Name, p.Name+"Topic", p.Name+"Payload", p.Name+"Trigger", p.Name+"Count")
	}
	for i, d := range c.Devices {
		claim(fmt.Sprintf("devices[%d]", i), d.Name, d.Name+"Online")
	}
}

// checkName enforces names that can appear in a dotted routing path (the
// runtime's rule, checked here so the error points at the name).
func checkName(name string) error {
	for i, r := range name {
		ok := r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (i > 0 && r >= '0' && r <= '9')
		if !ok {
			return fmt.Errorf("invalid name %q: use letters, digits and _ and start with a letter", name)
		}
	}
	return nil
}

func checkQoS(errs *runtime.FieldErrors, at string, q int) {
	if q < 0 || q > 2 {
		errs.Add(at, "qos %d: want 0, 1 or 2", q)
	}
}

func boolOr(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}

func (d *Device) online() string  { return cmp.Or(d.Online, "online") }
func (d *Device) offline() string { return cmp.Or(d.Offline, "offline") }

func splitPath(key string) ([]string, error) {
	p := strings.Split(key, ".")
	for _, e := range p {
		if e == "" {
			return nil, fmt.Errorf("empty element in the path %q", key)
		}
	}
	return p, nil
}

// fields turns a topic's type or values into codec fields; its errors are
// field errors relative to the topic.
func fields(name, typ string, vals []Value, p *Payload, format payload.Format, number payload.Number) ([]payload.Field, error) {
	var errs runtime.FieldErrors
	mapFrom := func(at string, k signals.Kind, m map[string]string) []payload.MapEntry {
		entries, err := payload.MapFrom(k, m)
		var ke *payload.MapKeyError
		switch {
		case errors.As(err, &ke):
			errs.AddKey(runtime.JoinFieldPath(at, "value_map."+ke.Key), "value map key %q: %v", ke.Key, ke.Err)
		case err != nil:
			errs.Add(runtime.JoinFieldPath(at, "value_map"), "%v", err)
		}
		return entries
	}
	if len(vals) == 0 {
		if typ == "" {
			errs.Add("type", "a type is needed (bool, int, uint, double or string), or values: for a multi-value topic")
			return nil, errs
		}
		k, err := signals.ParseKind(typ)
		if err != nil {
			errs.Add("type", "%v", err)
			return nil, errs
		}
		m := mapFrom("", k, p.ValueMap)
		return []payload.Field{{Name: name, Kind: k, Key: p.Field, Map: m, Number: number}}, errs.Err()
	}
	if typ != "" {
		errs.Add("type", "type is for single-value topics; a multi-value topic gives each value its type")
	}
	if len(p.ValueMap) > 0 {
		errs.Add("value_map", "value_map goes on each value of a multi-value topic")
	}
	if p.Field != "" {
		errs.Add("field", "field goes on each value of a multi-value topic")
	}
	if format == payload.Text {
		errs.Add("format", "a multi-value topic needs format json or csv")
	}
	out := make([]payload.Field, 0, len(vals))
	for i, v := range vals {
		at := fmt.Sprintf("values[%d]", i)
		k, err := signals.ParseKind(v.Type)
		if err != nil {
			errs.Add(at+".type", "%v", err)
			continue
		}
		m := mapFrom(at, k, v.ValueMap)
		col := i
		if v.Column != nil {
			col = *v.Column
			if col < 0 {
				errs.Add(at+".column", "column %d must not be negative", col)
			}
		}
		if v.Field != "" && format != payload.JSON {
			errs.Add(at+".field", "field is for json payloads")
		} else if v.Field != "" {
			if _, err := splitPath(v.Field); err != nil {
				errs.Add(at+".field", "%v", err)
			}
		}
		if v.Column != nil && format != payload.CSV {
			errs.Add(at+".column", "column is for csv payloads")
		}
		out = append(out, payload.Field{Name: v.Name, Kind: k, Key: v.Field, Column: col, Map: m, Number: number})
	}
	return out, errs.Err()
}

// spec checks the payload keys a topic shares and turns them into a codec
// spec; errors are field errors relative to the topic.
func (p *Payload) spec(name, typ string, vals []Value, number payload.Number) (payload.Spec, runtime.FieldErrors) {
	var errs runtime.FieldErrors
	f, err := payload.ParseFormat(p.Format)
	if err != nil {
		errs.Add("format", "%v", err)
		return payload.Spec{}, errs
	}
	if p.Field != "" && f != payload.JSON {
		errs.Add("field", "field is for json payloads")
	} else if p.Field != "" {
		if _, err := splitPath(p.Field); err != nil {
			errs.Add("field", "%v", err)
		}
	}
	if p.Separator != "" && f != payload.CSV {
		errs.Add("separator", "separator is for csv payloads")
	} else if len(p.Separator) > 1 {
		errs.Add("separator", "separator %q must be one character", p.Separator)
	}
	for _, k := range []struct{ key, val string }{{"time_field", p.TimeField}, {"quality_field", p.QualityField}} {
		if k.val == "" {
			continue
		}
		if f != payload.JSON {
			errs.Add(k.key, "%s is for json payloads", k.key)
		} else if _, err := splitPath(k.val); err != nil {
			errs.Add(k.key, "%v", err)
		}
	}
	fs, err := fields(name, typ, vals, p, f, number)
	errs.Merge("", err)
	return payload.Spec{Format: f, Fields: fs, Separator: p.Separator, TimeKey: p.TimeField, QualityKey: p.QualityField}, errs
}

// spec checks the topic's payload keys and returns its codec spec.
func (p *PublishTopic) spec() (payload.Spec, error) {
	var errs runtime.FieldErrors
	number, err := payload.ParseNumber(p.NumberFormat)
	var se *payload.SyntaxError
	if errors.As(err, &se) {
		errs = append(errs, &runtime.FieldError{Path: "number_format", Offset: se.Offset, Msg: se.Msg})
	}
	sp, ferrs := p.Payload.spec(p.Name, p.Type, p.Values, number)
	errs = append(errs, ferrs...)
	for _, k := range []struct{ key, val string }{{"time_field", p.TimeField}, {"quality_field", p.QualityField}} {
		if strings.Contains(k.val, ".") {
			errs.Add(k.key, "%s %q: a publish topic writes a plain key (use a template for nested objects)", k.key, k.val)
		}
	}
	if p.Template != "" {
		switch {
		case sp.Format != payload.JSON:
			errs.Add("template", "a template needs format json")
		case p.Field != "" || p.TimeField != "" || p.QualityField != "":
			errs.Add("template", "a template writes the whole payload: put the value, time and quality in it as placeholders rather than with field, time_field or quality_field")
		}
	}
	switch p.WhenNotGood {
	case "", "skip", "last_good", "quality":
	default:
		errs.Add("when_not_good", "when_not_good %q: want skip, last_good or quality", p.WhenNotGood)
	}
	if len(errs) > 0 {
		return sp, errs
	}
	sp.Template = p.Template
	c, err := payload.New(sp)
	if errors.As(err, &se) {
		return sp, runtime.FieldErrors{{Path: "template", Offset: se.Offset, Msg: se.Msg}}
	} else if err != nil {
		return sp, runtime.FieldErrors{{Msg: err.Error()}}
	}
	if p.WhenNotGood == "quality" && !c.CarriesQuality() {
		return sp, runtime.FieldErrors{{Path: "when_not_good", Msg: "when_not_good: quality sends a value that is not usable as null with its quality, so the payload must carry the quality: use format json with a {{quality}} placeholder in the template, or quality_field"}}
	}
	return sp, nil
}

// spec checks the topic's payload keys and returns its codec spec.
func (s *SubscribeTopic) spec() (payload.Spec, error) {
	sp, errs := s.Payload.spec(s.Name, s.Type, s.Values, payload.Number{})
	if len(errs) > 0 {
		return sp, errs
	}
	if _, err := payload.New(sp); err != nil {
		return sp, runtime.FieldErrors{{Msg: err.Error()}}
	}
	return sp, nil
}

func (p *PublishTopic) codec() (*payload.Codec, error) {
	sp, err := p.spec()
	if err != nil {
		return nil, err
	}
	return payload.New(sp)
}

func (s *SubscribeTopic) codec() (*payload.Codec, error) {
	sp, err := s.spec()
	if err != nil {
		return nil, err
	}
	return payload.New(sp)
}
