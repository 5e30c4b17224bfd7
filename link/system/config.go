// Package system joins a Metronome application to a system of runtimes:
// the `system:` section of the application's YAML, the checks that tie
// routes and writes between applications to what the other applications
// announce, the System component that shows the link's state as signals
// and alarms, and the runner that `runtime run` starts with the
// application: a Sparkplug B edge node publishing the application's
// exports (link.EdgeNode), and a host feeding its remote routes and
// writing to other applications (link.Host). See README.md.
package system

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/metronome-rt/metronome/internal/mqttconn"
	"github.com/metronome-rt/metronome/link/sparkplug"
	"github.com/metronome-rt/metronome/runtime"
)

// Key is the application-level YAML key.
const Key = "system"

// ComponentName is the top-level component that shows the link's state.
const ComponentName = "System"

// Defaults of the section.
const (
	DefaultKeepAlive    = 10 * time.Second
	DefaultWriteTimeout = 5 * time.Second
	DefaultAlarmDelay   = 5 * time.Second
)

// Config is an application's `system:` section: the system it belongs to,
// how it reaches the system's broker, what it exports, which other
// applications it talks to, and which of their parameters it writes.
type Config struct {
	// Name is the system: the Sparkplug group ID every application of the
	// system names alike. The application's own name is its edge node ID.
	Name string `yaml:"name"`
	// Peers are the other applications of the system that this one routes
	// from or writes to, or whose state it shows. A route to an application
	// that is not listed is an error, so a misspelt name is found by
	// `runtime validate` even when the application is checked alone.
	Peers []string `yaml:"peers"`
	// HostID makes the application a Sparkplug host application as well:
	// it publishes STATE on spBv1.0/STATE/<host_id> (retained: online while
	// it is connected, offline when it stops, and offline as its will), so
	// that edge nodes set to wait for a primary host (SCADA gateways and
	// other vendors' edge nodes) see it. Empty: no STATE.
	HostID string `yaml:"host_id"`
	// Broker is how the application reaches the system's MQTT broker: the
	// embedded broker of one runtime, any external broker, or the nodes of
	// a cluster.
	Broker mqttconn.Endpoint `yaml:"broker"`
	// Export selects what the application publishes, each pattern with its
	// report-by-exception settings; the first pattern that matches a member
	// decides. Empty: every output and parameter, except the standard
	// timing signals and the System component (a pattern may name them).
	Export []Export `yaml:"export"`
	// Writes keep parameters of other applications equal to signals (or
	// parameters) of this one: each is written when its source changes and
	// again when the other application comes back online.
	Writes []Write `yaml:"writes"`
	// WriteTimeout is how long a write may wait for the other
	// application's answer before it counts as failed.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// AlarmDelay is how long a peer must be offline, or the broker out of
	// reach, before the System component raises its alarm, so that a
	// restart does not alarm.
	AlarmDelay time.Duration `yaml:"alarm_delay"`
}

// Export selects members to publish and how.
type Export struct {
	// Match is a path pattern, with or without the application's name:
	// Pump.Speed, Pump (the component's members and below), Pump.*,
	// **.Temperature. Signals (inputs too) and parameters match.
	Match string `yaml:"match"`
	// Deadband, for numbers, is how far a value must move from the last
	// published one to be published again; 0 publishes every change. A
	// change of quality is always published.
	Deadband float64 `yaml:"deadband"`
	// MinInterval is the least time between two publications of one
	// member; a change inside it goes out when it ends, with the value of
	// that moment.
	MinInterval time.Duration `yaml:"min_interval"`
	// Writable lets other applications, `runtime set --system` and any
	// Sparkplug host set the matched parameters (checked against their
	// type and range, applied at a tick boundary); signals stay read-only.
	Writable bool `yaml:"writable"`
}

// Write keeps a parameter of another application equal to a member of
// this one.
type Write struct {
	// Name names the write's members on the System component
	// (<name>_Result, <name>_Failed); default: To with dots as underscores.
	Name string `yaml:"name"`
	// From is the signal or parameter of this application whose value is
	// written, with or without the application's name.
	From string `yaml:"from"`
	// To is the parameter written: Peer.Component.Parameter; the peer must
	// export it writable.
	To string `yaml:"to"`
}

// broker is MQTTClient's connection defaults with the system's shorter
// keep-alive, so that a dead application is noticed within seconds.
func broker() mqttconn.Endpoint {
	e := mqttconn.DefaultEndpoint()
	e.KeepAlive = DefaultKeepAlive
	return e
}

func defaults() *Config {
	return &Config{WriteTimeout: DefaultWriteTimeout, AlarmDelay: DefaultAlarmDelay,
		Broker: broker()}
}

// Section is the `system:` key, for runtime.LoadOptions.Sections.
func Section() runtime.Section {
	return runtime.Section{
		Key:           Key,
		New:           func() any { return defaults() },
		Component:     componentType,
		ComponentName: ComponentName,
		Check:         func(app *runtime.App, cfg any) error { return check(app, asConfig(cfg)) },
	}
}

// Sections is the list to give runtime.LoadOptions.Sections.
func Sections() []runtime.Section { return []runtime.Section{Section()} }

func asConfig(cfg any) *Config {
	c, _ := cfg.(*Config)
	return c
}

// Of returns an application's `system:` section, or nil.
func Of(app *runtime.App) *Config { return asConfig(app.Section(Key)) }

// Validate checks the section on its own, without the application.
func (c *Config) Validate() error {
	var es runtime.FieldErrors
	if c.Name == "" {
		es.Add("name", "the system's name is missing: every application of one system names it alike (it is the Sparkplug group)")
	} else if err := sparkplug.ValidID("system name", c.Name); err != nil {
		es.Add("name", "%v", err)
	}
	if c.HostID != "" {
		if err := sparkplug.ValidID("host_id", c.HostID); err != nil {
			es.Add("host_id", "%v", err)
		}
	}
	seen := map[string]int{}
	for i, p := range c.Peers {
		at := fmt.Sprintf("peers[%d]", i)
		if err := checkName(p); err != nil {
			es.Add(at, "%v", err)
			continue
		}
		if j, dup := seen[p]; dup {
			es.Add(at, "peer %s is listed twice (first as peers[%d])", p, j)
		}
		seen[p] = i
	}
	es.Merge("broker", validateBroker(&c.Broker))
	for i, x := range c.Export {
		at := fmt.Sprintf("export[%d]", i)
		if strings.TrimSpace(x.Match) == "" {
			es.Add(at+".match", "the pattern is empty: name the members to export, for example Pump.* or **.Temperature")
		}
		if x.Deadband < 0 || math.IsNaN(x.Deadband) || math.IsInf(x.Deadband, 0) {
			es.Add(at+".deadband", "deadband must be a number 0 or above, got %v", x.Deadband)
		}
		if x.MinInterval < 0 {
			es.Add(at+".min_interval", "min_interval must not be negative, got %v", x.MinInterval)
		}
	}
	names := map[string]int{}
	for i, w := range c.Writes {
		at := fmt.Sprintf("writes[%d]", i)
		if w.From == "" {
			es.Add(at, "missing key \"from\": the signal or parameter of this application whose value is written")
		}
		segs := strings.Split(w.To, ".")
		switch {
		case w.To == "":
			es.Add(at, "missing key \"to\": the parameter written, as Peer.Component.Parameter")
		case len(segs) < 3 || slicesContainsEmpty(segs):
			es.Add(at+".to", "want Peer.Component.Parameter, got %q", w.To)
		default:
			if _, ok := seen[segs[0]]; !ok {
				es.Add(at+".to", "%s is not among peers: list the application under peers (peers: %s)", segs[0], listOrNone(c.Peers))
			}
		}
		name := w.name()
		if w.Name != "" {
			if err := checkName(w.Name); err != nil {
				es.Add(at+".name", "%v", err)
				continue
			}
		}
		if j, dup := names[name]; dup && name != "" {
			es.Add(at, "a second write named %s (first writes[%d]): give one a name:", name, j)
		}
		names[name] = i
	}
	if c.WriteTimeout <= 0 {
		es.Add("write_timeout", "write_timeout must be above 0, got %v", c.WriteTimeout)
	}
	if c.AlarmDelay < 0 {
		es.Add("alarm_delay", "alarm_delay must not be negative, got %v", c.AlarmDelay)
	}
	return es.Err()
}

func slicesContainsEmpty(ss []string) bool {
	for _, s := range ss {
		if s == "" {
			return true
		}
	}
	return false
}

func listOrNone(ss []string) string {
	if len(ss) == 0 {
		return "none"
	}
	return strings.Join(ss, ", ")
}

// name is the write's member prefix on the System component.
func (w *Write) name() string {
	if w.Name != "" {
		return w.Name
	}
	return strings.ReplaceAll(w.To, ".", "_")
}

// validateBroker checks the broker's keys: MQTTClient's checks, and a
// client ID every broker of a system accepts.
func validateBroker(b *mqttconn.Endpoint) error {
	es := b.Validate()
	if b.ClientID != "" && strings.ContainsAny(b.ClientID, "+#/") {
		es.Add("client_id", "client_id %q must not hold '/', '+' or '#'", b.ClientID)
	}
	return es.Err()
}

// clientID is the edge node's client ID: letters, digits, - and _ only,
// which every broker accepts (NATS refuses dots).
func (c *Config) clientID(app string) string {
	if c.Broker.ClientID != "" {
		return c.Broker.ClientID
	}
	return "metronome-" + strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			return r
		}
		return '_'
	}, c.Name) + "-" + app
}

var checkName = runtime.CheckName
