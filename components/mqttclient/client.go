// Package mqttclient is Metronome's MQTT client component (CDP's
// MQTTIO.MQTTClient): typed publish and subscribe topics as signals, over an
// autopaho (MQTT 5) connection that survives real networks. See README.md.
//
// The tick side (Process) never touches the network: it exchanges values
// with the I/O side through mailboxes. Received messages are decoded on the
// I/O side into one latest-value box per topic; outgoing messages pass
// through a bounded hand-off buffer to a sender goroutine that keeps them,
// in order, in its own queue (optionally on disk) until the broker
// acknowledges them.
package mqttclient

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/metronome-rt/metronome/components/mqttclient/payload"
	"github.com/metronome-rt/metronome/components/mqttclient/queue"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// Type is the MQTTClient component type.
var Type = runtime.Define(runtime.Spec[Config]{
	Name:     "MQTTClient",
	Summary:  "connects to an MQTT broker; publish and subscribe topics as typed signals",
	Doc:      doc,
	Example:  Example,
	Defaults: Defaults,
	Build:    build,
})

const doc = `Publish topics are input signals routed from any signal and published on
change (with a deadband), periodically, on every connection, rate-limited by
a minimum interval. Subscribe topics are output signals with the received
topic, a one-tick new flag, counters and a quality that says initial,
retained, stale or comm lost. Payloads are text, JSON (scalar, path,
template), CSV and value maps; several signals may share one topic.
Outgoing QoS 1/2 messages wait, in order and optionally on disk, while the
broker is away. Subscriptions are made on every connection, once per
distinct filter. See components/mqttclient/README.md.`

// Example is a YAML component entry using the type.
const Example = `name: Mqtt
type: MQTTClient
fs: 100
config:
  servers: [mqtt://127.0.0.1:1883]
  status: {topic: plant/status}
  publish:
    - {name: Setpoint, topic: plant/setpoint, type: double, qos: 1, retain: true, deadband: 0.1, keep: latest}
    - {name: Pump, topic: plant/pump/cmd, type: bool, value_map: {true: "ON", false: "OFF"}}
  subscribe:
    - {name: Temp, topic: plant/+/temperature, type: double, format: json, field: value, max_age: 10s}
alarms: {TransmissionError: {level: error, delay: 2s}}
`

// client is one MQTTClient instance.
type client struct {
	cfg  Config
	path string
	io   *ioSide

	connected                                      *signals.Signal[bool]
	roundTrip                                      *signals.Signal[float64]
	msgsIn, msgsOut, decodeErrs, dropped, queueLen *signals.Signal[uint64]
	alarm                                          *runtime.Alarm

	pubs []*pubTopic
	subs []*subTopic
	dyns []*dynPub

	started bool
	buf     []byte
}

func build(b *runtime.Builder, cfg *Config) (runtime.Component, error) {
	c := &client{cfg: *cfg, path: b.Path(), buf: make([]byte, 0, 512)}
	b.Decoupled() // subscribe outputs come from the network, not from the publish inputs
	out := func(name, desc string, k signals.Kind) signals.Port {
		return b.Port(k, name, signals.Output, runtime.Desc(desc))
	}
	c.connected = out("Connected", "true while connected to a broker", signals.Bool).(*signals.Signal[bool])
	c.roundTrip = b.Port(signals.Float, "RoundTrip", signals.Output, runtime.Unit("s"),
		runtime.Desc("time from sending the last QoS 1/2 message to its acknowledgement")).(*signals.Signal[float64])
	c.msgsIn = out("MessagesIn", "messages received", signals.Uint).(*signals.Signal[uint64])
	c.msgsOut = out("MessagesOut", "messages sent (QoS 0) or acknowledged (QoS 1/2)", signals.Uint).(*signals.Signal[uint64])
	c.decodeErrs = out("DecodeErrors", "received payloads that did not decode", signals.Uint).(*signals.Signal[uint64])
	c.dropped = out("Dropped", "messages lost: received ones replaced before a tick took them, outgoing ones refused by a full queue, QoS 0 ones while disconnected, or refused by the broker", signals.Uint).(*signals.Signal[uint64])
	c.queueLen = out("Queued", "outgoing messages waiting for the broker", signals.Uint).(*signals.Signal[uint64])
	c.alarm = b.Alarm("TransmissionError", runtime.Error, "connection to the MQTT broker lost or publishing failing", runtime.Delay(cfg.SignalTimeout))

	io := &ioSide{cfg: &c.cfg, log: b.Log()}
	c.io = io
	for i := range cfg.Publish {
		p, err := newPubTopic(b, &c.cfg.Publish[i])
		if err != nil {
			return nil, err
		}
		c.pubs = append(c.pubs, p)
	}
	for i := range cfg.Subscribe {
		s, err := newSubTopic(b, &c.cfg.Subscribe[i])
		if err != nil {
			return nil, err
		}
		c.subs = append(c.subs, s)
	}
	for i := range cfg.Publishers {
		c.dyns = append(c.dyns, newDynPub(b, &c.cfg.Publishers[i]))
	}
	io.subs = c.subs
	io.handoff = runtime.NewQueue[queue.Message](cfg.Queue.HandOff)
	return c, nil
}

// Process exchanges values with the I/O side; it never blocks on it.
func (c *client) Process(t runtime.Tick) {
	io := c.io
	conn := io.connected.Load()
	epoch := io.epoch.Load()
	if !c.started || conn != c.connected.Get() {
		c.connected.Set(conn)
	}
	// Before the first connection, values count as lost only once the
	// broker has had SignalTimeout to answer, so a normal start does not
	// flicker through comm lost.
	lost := !conn && (epoch > 0 || t.Mono >= c.cfg.SignalTimeout)
	for _, s := range c.subs {
		s.latch(t, lost)
	}
	pushed := false
	for _, p := range c.pubs {
		if p.process(c, t, conn, epoch) {
			pushed = true
		}
	}
	for _, d := range c.dyns {
		if d.process(c, conn) {
			pushed = true
		}
	}
	if pushed {
		io.wakeSender()
	}
	var overwritten uint64
	for _, s := range c.subs {
		overwritten += s.box.Overwritten()
	}
	setCount(c.msgsIn, io.in.Load())
	setCount(c.msgsOut, io.out.Load())
	setCount(c.decodeErrs, io.decodeErrs.Load())
	setCount(c.dropped, io.dropped.Load()+overwritten)
	setCount(c.queueLen, uint64(io.queued.Load()))
	if rtt := float64(io.rttNs.Load()) / 1e9; rtt != c.roundTrip.Get() || !c.started {
		c.roundTrip.Set(rtt)
	}
	c.alarm.Update(!conn || io.sendFailing.Load())
	c.started = true
}

// Connections returns how many connections have been made since start, for
// tests and tools; safe from any goroutine.
func (c *client) Connections() uint64 { return c.io.epoch.Load() }

func setCount(s *signals.Signal[uint64], v uint64) {
	if v != s.Get() || s.Quality() != signals.Good {
		s.Set(v)
	}
}

// push hands one message to the sender. QoS 0 messages are not kept while
// the broker is away; a full hand-off buffer drops and counts.
func (c *client) push(topic string, p []byte, qos byte, retain, latest, conn bool) bool {
	if qos == 0 && !conn {
		c.io.dropped.Add(1)
		return false
	}
	s, ok := c.io.handoff.Reserve()
	if !ok {
		c.io.dropped.Add(1)
		return false
	}
	// The slot keeps its payload buffer, so this allocates nothing once warm.
	s.Topic, s.QoS, s.Retain, s.Latest = topic, qos, retain, latest
	s.Payload = append(s.Payload[:0], p...)
	c.io.handoff.Commit()
	return true
}

// pubTopic is a configured publish topic.
type pubTopic struct {
	topic               string
	qos                 byte
	retain, latest      bool
	codec               *payload.Codec
	ins                 []signals.Port
	vals, last          []signals.Value
	onChange, onConnect bool
	deadband            float64
	interval, minIvl    time.Duration
	published, pending  bool
	lastPub             time.Duration
	epoch               uint64
	count, bytes        *signals.Signal[uint64]
	nCount, nBytes      uint64
}

func newPubTopic(b *runtime.Builder, tc *PublishTopic) (*pubTopic, error) {
	codec, err := tc.codec()
	if err != nil {
		return nil, err
	}
	p := &pubTopic{
		topic: tc.Topic, qos: byte(tc.QoS), retain: tc.Retain, latest: tc.Keep == "latest", codec: codec,
		onChange: boolOr(tc.OnChange, true), onConnect: boolOr(tc.OnConnect, true),
		deadband: tc.Deadband, interval: tc.Interval, minIvl: tc.MinInterval,
	}
	for _, f := range codec.Fields() {
		p.ins = append(p.ins, b.Port(f.Kind, f.Name, signals.Input, runtime.Desc("published to "+tc.Topic)))
	}
	p.vals = make([]signals.Value, len(p.ins))
	p.last = make([]signals.Value, len(p.ins))
	p.count = b.Port(signals.Uint, tc.Name+"Count", signals.Output, runtime.Desc("messages accepted for publication on "+tc.Topic)).(*signals.Signal[uint64])
	p.bytes = b.Port(signals.Uint, tc.Name+"Bytes", signals.Output, runtime.Unit("B"), runtime.Desc("payload bytes accepted for publication on "+tc.Topic)).(*signals.Signal[uint64])
	return p, nil
}

// process evaluates the triggers and publishes; it reports whether a
// message was handed to the sender.
func (p *pubTopic) process(c *client, t runtime.Tick, conn bool, epoch uint64) bool {
	for i, in := range p.ins {
		if in.Quality() == signals.Initial {
			return false // nothing to say until every value is known
		}
		p.vals[i] = in.Value()
	}
	trigger := p.pending
	if p.onChange && (!p.published || p.changed()) {
		trigger = true
	}
	if p.interval > 0 && (!p.published || t.Mono-p.lastPub >= p.interval) {
		trigger = true
	}
	if epoch != p.epoch {
		p.epoch = epoch
		if p.onConnect && conn {
			trigger = true
		}
	}
	if !trigger {
		return false
	}
	if p.minIvl > 0 && p.published && t.Mono-p.lastPub < p.minIvl {
		p.pending = true
		return false
	}
	p.pending = false
	p.published = true
	p.lastPub = t.Mono
	copy(p.last, p.vals)
	c.buf = p.codec.Encode(c.buf[:0], p.vals, t.Wall.UnixNano())
	if !c.push(p.topic, c.buf, p.qos, p.retain, p.latest, conn) {
		return false
	}
	p.nCount++
	p.nBytes += uint64(len(c.buf))
	p.count.Set(p.nCount)
	p.bytes.Set(p.nBytes)
	return true
}

func (p *pubTopic) changed() bool {
	for i, v := range p.vals {
		old := p.last[i]
		if p.deadband > 0 && v.Kind() != signals.String && v.Kind() != signals.Bool {
			a, _ := v.Float()
			b, _ := old.Float()
			if math.Abs(a-b) >= p.deadband || math.IsNaN(a) != math.IsNaN(b) {
				return true
			}
			continue
		}
		if !v.Equal(old) {
			return true
		}
	}
	return false
}

// subTopic is a configured subscribe topic.
type subTopic struct {
	filter   string
	qos      byte
	codec    *payload.Codec
	outs     []signals.Port
	saved    []signals.Quality // qualities before a disconnection
	topicSig *signals.Signal[string]
	newSig   *signals.Signal[bool]
	count    *signals.Signal[uint64]
	bytes    *signals.Signal[uint64]
	maxAge   time.Duration
	lastRx   time.Duration
	got      bool
	commLost bool

	box            runtime.Latest[rxMsg]
	taken          uint64 // messages the ticks latched
	nCount, nBytes atomic.Uint64
}

// rxMsg is a received message, decoded on the I/O side.
type rxMsg struct {
	topic    string
	vals     []signals.Value // Invalid kind: did not decode
	retained bool
}

func newSubTopic(b *runtime.Builder, tc *SubscribeTopic) (*subTopic, error) {
	codec, err := tc.codec()
	if err != nil {
		return nil, err
	}
	s := &subTopic{filter: tc.Topic, qos: byte(tc.QoS), codec: codec, maxAge: tc.MaxAge}
	for _, f := range codec.Fields() {
		s.outs = append(s.outs, b.Port(f.Kind, f.Name, signals.Output, runtime.Desc("received from "+tc.Topic)))
	}
	s.saved = make([]signals.Quality, len(s.outs))
	s.topicSig = b.Port(signals.String, tc.Name+"Topic", signals.Output, runtime.Desc("topic of the last message received on "+tc.Topic)).(*signals.Signal[string])
	s.newSig = b.Port(signals.Bool, tc.Name+"New", signals.Output, runtime.Desc("true for the one tick that latched a new message")).(*signals.Signal[bool])
	s.count = b.Port(signals.Uint, tc.Name+"Count", signals.Output, runtime.Desc("messages received on "+tc.Topic)).(*signals.Signal[uint64])
	s.bytes = b.Port(signals.Uint, tc.Name+"Bytes", signals.Output, runtime.Unit("B"), runtime.Desc("payload bytes received on "+tc.Topic)).(*signals.Signal[uint64])
	return s, nil
}

// latch takes the newest message, if any, and keeps the quality honest.
func (s *subTopic) latch(t runtime.Tick, lost bool) {
	m, ok := s.box.Take()
	if ok {
		q := signals.Good
		if m.retained {
			// A retained message may be old: flagged as initial until a live one comes.
			q = signals.Initial
		}
		for i, o := range s.outs {
			if m.vals[i].Kind() == signals.Invalid {
				o.SetQuality(signals.BadInput)
				continue
			}
			o.SetValue(m.vals[i], q, t.Wall.UnixNano())
		}
		s.taken++
		s.topicSig.Set(m.topic)
		s.got, s.lastRx, s.commLost = true, t.Mono, false
		s.count.Set(s.nCount.Load())
		s.bytes.Set(s.nBytes.Load())
	}
	if ok != s.newSig.Get() || s.newSig.Quality() != signals.Good {
		s.newSig.Set(ok)
	}
	switch {
	case lost && !s.commLost && !ok:
		s.commLost = true
		for i, o := range s.outs {
			s.saved[i] = o.Quality()
			o.SetQuality(signals.CommLost)
		}
	case !lost && s.commLost:
		// The subscription is live again: the value is the last known one,
		// and any change will be delivered.
		s.commLost = false
		for i, o := range s.outs {
			o.SetQuality(s.saved[i])
		}
	}
	if s.maxAge > 0 && s.got && !s.commLost && t.Mono-s.lastRx > s.maxAge {
		for _, o := range s.outs {
			if q := o.Quality(); q == signals.Good || q == signals.Initial {
				o.SetQuality(signals.Stale)
			}
		}
	}
}

// dynPub is a dynamic publish block (CDP Publisher).
type dynPub struct {
	topicIn, payloadIn *signals.Signal[string]
	trig               *signals.Signal[bool]
	count              *signals.Signal[uint64]
	qos                byte
	retain, edge, last bool
	n                  uint64
}

func newDynPub(b *runtime.Builder, pc *Publisher) *dynPub {
	d := &dynPub{qos: byte(pc.QoS), retain: pc.Retain, edge: pc.Trigger == "edge"}
	d.topicIn = b.Port(signals.String, pc.Name+"Topic", signals.Input, runtime.Desc("topic to publish to")).(*signals.Signal[string])
	d.payloadIn = b.Port(signals.String, pc.Name+"Payload", signals.Input, runtime.Desc("payload to publish")).(*signals.Signal[string])
	d.trig = b.Port(signals.Bool, pc.Name+"Trigger", signals.Input, runtime.Desc("publishes on a rising edge when trigger is edge")).(*signals.Signal[bool])
	d.count = b.Port(signals.Uint, pc.Name+"Count", signals.Output, runtime.Desc("messages accepted for publication")).(*signals.Signal[uint64])
	return d
}

func (d *dynPub) process(c *client, conn bool) bool {
	var fire bool
	if d.edge {
		v := d.trig.Get()
		fire = v && !d.last
		d.last = v
	} else {
		fire = d.payloadIn.Fresh()
	}
	if !fire {
		return false
	}
	topic := d.topicIn.Get()
	if validTopic(topic) != nil {
		c.io.dropped.Add(1) // no usable topic: counted, never sent
		return false
	}
	c.buf = append(c.buf[:0], d.payloadIn.Get()...)
	if !c.push(topic, c.buf, d.qos, d.retain, false, conn) {
		return false
	}
	d.n++
	d.count.Set(d.n)
	return true
}
