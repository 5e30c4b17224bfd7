// Package mqttbroker is the MQTTBroker component: an embedded MQTT broker
// (MQTT 3.1, 3.1.1 and 5; built on mochi-mqtt) that devices and other
// runtimes connect to, made safe to expose: every packet is checked before
// the broker decodes it, users and an ordered deny-by-default ACL control
// access, retained and queued messages survive restarts in order, every
// dropped message is counted, and the broker's state is published as
// signals and alarms like any other component's.
package mqttbroker

import (
	"context"
	"time"

	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// Example is a component entry using the type; the password hash is of
// "change-me" and is meant to be replaced (`runtime passwd`).
const Example = `name: Broker
type: MQTTBroker
fs: 10
priority: high
group: Broker
config:
  listeners:
    - {type: tcp, address: 127.0.0.1, port: 1883}
  users:
    - name: plant
      password_hash: "pbkdf2-sha256$600000$wmsQkkDknfQf6DgctRmUXQ$3TPEqXuMW/vSn0gjB1zA9y5Cu6s+qgR+tLqaYE5Uxyo"
  acl:
    - {user: plant, topic: "plant/#", access: readwrite}
    - {user: plant, topic: "$SYS/#", access: read}
  message_expiry: 0s
  persistence: {dir: /var/lib/metronome/broker, sync_interval: 1s}
parameters: {RateWindow: 1.0}
alarms:
  MessagesDropped: {level: warning, delay: 2s}`

// Type is the MQTTBroker component type.
var Type = runtime.Define(runtime.Spec[Config]{
	Name:    "MQTTBroker",
	Summary: "embedded MQTT 3.1/3.1.1/5 broker with TLS, WebSocket, users, ACL and persistence",
	Doc: `Hosts an MQTT broker inside the application (CDP MQTTIO.MQTTBroker) that
devices and other runtimes connect to. Listeners may be TCP, TLS, WebSocket
or secure WebSocket; loopback by default. Clients log in as configured users
(passwords stored as PBKDF2 hashes, or taken from the environment or a
file); an ordered ACL allows or denies each publish and subscription and
denies whatever no rule allows. Every packet is checked before the broker
decodes it, so no client can crash the process. Status signals and alarms
report clients, message rates, drops and failed listeners. See README.md.`,
	Example:  Example,
	Defaults: DefaultConfig,
	Build:    build,
})

// component adapts a Broker to the runtime: signals are updated on the
// tick from the broker's atomic counters, network work runs on the
// broker's goroutines.
type component struct {
	b *Broker

	clients, dropped, retained, subs, malformed, authFail, authThrottled, listenersDown *signals.Signal[uint64]
	inRate, outRate                                                                     *signals.Signal[float64]
	window                                                                              *runtime.Parameter[float64]

	dropAlarm, listenerAlarm, storeAlarm *runtime.Alarm

	started            bool
	lastMono           time.Duration
	lastIn, lastOut    uint64
	lastDropped        uint64
	lastDropAt         time.Duration
	dropSeen, rateInit bool
	storeErrs          uint64
}

func build(b *runtime.Builder, cfg *Config) (runtime.Component, error) {
	c := &component{b: NewBroker(*cfg, *b.Log())}
	u := func(name, desc string) *signals.Signal[uint64] {
		return runtime.Output[uint64](b, name, runtime.Desc(desc))
	}
	c.clients = u("Clients", "clients connected now")
	c.inRate = runtime.Output[float64](b, "MessagesInPerSecond", runtime.Unit("1/s"), runtime.Desc("PUBLISH packets received from clients per second, averaged over RateWindow"))
	c.outRate = runtime.Output[float64](b, "MessagesOutPerSecond", runtime.Unit("1/s"), runtime.Desc("PUBLISH packets sent to clients per second, averaged over RateWindow"))
	c.dropped = u("MessagesDroppedTotal", "messages dropped since start: full client queues (QoS 0 included), discarded queued QoS 1/2, in-flight quota")
	c.retained = u("Retained", "retained messages held")
	c.subs = u("Subscriptions", "subscriptions held")
	c.malformed = u("MalformedPackets", "connections closed since start for a malformed or oversized packet")
	c.authFail = u("AuthFailures", "connection attempts refused since start for bad credentials")
	c.authThrottled = u("AuthThrottled", "connection attempts refused since start without checking the password: backoff after failed logins, or too many logins waiting")
	c.listenersDown = u("ListenersDown", "configured listeners not accepting connections")
	c.window = runtime.Param(b, "RateWindow", 1.0, runtime.Range(0.1, 3600), runtime.PUnit("s"),
		runtime.PDesc("window for the per-second rates, and how long MessagesDropped stays set after the last drop"))
	c.dropAlarm = b.Alarm("MessagesDropped", runtime.Warning, "the broker dropped messages (a client too slow or a queue full)")
	c.listenerAlarm = b.Alarm("ListenerFailed", runtime.Error, "a listener is not accepting connections")
	c.storeAlarm = b.Alarm("PersistenceFailed", runtime.Error, "writing the broker's state to the persistence directory failed")
	return c, nil
}

// Start opens the listeners; see Broker.Start for what fails it.
func (c *component) Start(ctx context.Context) error {
	if err := c.b.Start(ctx); err != nil {
		return err
	}
	c.started = true
	return nil
}

// Stop disconnects clients, flushes persistence and closes the broker by
// ctx's deadline.
func (c *component) Stop(ctx context.Context) error { return c.b.Stop(ctx) }

// Process publishes the broker's counters. It reads atomics only and
// allocates nothing.
func (c *component) Process(t runtime.Tick) {
	if !c.started {
		return
	}
	s := c.b.Stats()
	c.clients.Set(uint64(max(s.Clients, 0)))
	c.dropped.Set(s.Dropped)
	c.retained.Set(uint64(max(s.Retained, 0)))
	c.subs.Set(uint64(max(s.Subscriptions, 0)))
	c.malformed.Set(s.Malformed)
	c.authFail.Set(s.AuthFailures)
	c.authThrottled.Set(s.AuthThrottled)
	c.listenersDown.Set(uint64(s.ListenersDown))

	window := time.Duration(c.window.Get() * float64(time.Second))
	if !c.rateInit {
		c.lastMono, c.lastIn, c.lastOut, c.rateInit = t.Mono, s.MessagesIn, s.MessagesOut, true
		c.inRate.Set(0)
		c.outRate.Set(0)
	} else if dt := t.Mono - c.lastMono; dt >= window {
		sec := dt.Seconds()
		c.inRate.Set(float64(s.MessagesIn-c.lastIn) / sec)
		c.outRate.Set(float64(s.MessagesOut-c.lastOut) / sec)
		c.lastMono, c.lastIn, c.lastOut = t.Mono, s.MessagesIn, s.MessagesOut
	}

	if s.Dropped != c.lastDropped {
		c.lastDropped, c.lastDropAt, c.dropSeen = s.Dropped, t.Mono, true
	}
	c.dropAlarm.Update(c.dropSeen && t.Mono-c.lastDropAt < window)

	if first, n := c.b.firstFailure(); n > 0 {
		c.listenerAlarm.SetText(first)
	} else {
		c.listenerAlarm.Clear()
	}
	if s.StoreErrors != c.storeErrs {
		c.storeErrs = s.StoreErrors
		if p := c.b.store.lastErr.Load(); p != nil {
			c.storeAlarm.SetText("persistence: " + *p)
		} else {
			c.storeAlarm.Set()
		}
	}
}
