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
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"time"

	"github.com/metronome-rt/metronome/components/mqttclient/payload"
	"github.com/metronome-rt/metronome/components/mqttclient/queue"
	"github.com/metronome-rt/metronome/internal/mqttconn"
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
topic, a one-tick new flag, counters and a quality: good, last known (a
retained message), initial, stale, comm lost (link or device down) or bad
input; a value never received is never published, and quality and time
travel in JSON payloads. Devices' availability topics turn their signals
comm lost. Payloads are text, JSON (scalar, path, template), CSV and value
maps; several signals may share one topic.
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
    - {name: Temp, topic: plant/+/temperature, type: double, format: json, field: value, max_age: 10s, alarm: {level: warning, delay: 30s}}
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
	devs []*device

	started bool
	buf     []byte
	// sim, in an application test, takes what would go to the broker
	// (simulate.go).
	sim   func(runtime.Message)
	simUp bool
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
	byName := map[string]*device{}
	for i := range cfg.Devices {
		d := newDevice(b, &c.cfg.Devices[i])
		c.devs = append(c.devs, d)
		byName[d.name] = d
	}
	for i := range cfg.Publish {
		p, err := newPubTopic(b, &c.cfg.Publish[i], byName)
		if err != nil {
			return nil, err
		}
		c.pubs = append(c.pubs, p)
	}
	for i := range cfg.Subscribe {
		s, err := newSubTopic(b, &c.cfg.Subscribe[i], byName, cfg.SignalTimeout)
		if err != nil {
			return nil, err
		}
		c.subs = append(c.subs, s)
	}
	for i := range cfg.Publishers {
		c.dyns = append(c.dyns, newDynPub(b, &c.cfg.Publishers[i]))
	}
	io.subs, io.devs = c.subs, c.devs
	io.handoff = runtime.NewQueue[queue.Message](cfg.Queue.HandOff)
	return c, nil
}

// Process exchanges values with the I/O side; it never blocks on it.
func (c *client) Process(t runtime.Tick) {
	if c.sim != nil && !c.simUp {
		c.simConnect()
	}
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
	for _, d := range c.devs {
		d.update(lost)
	}
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
	setCount(c.msgsIn, io.received())
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
	if c.sim != nil {
		c.sim(runtime.Message{Topic: topic, Payload: p, QoS: qos, Retain: retain})
		c.io.out.Add(1)
		return true
	}
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

// notGood says what a publish topic does while an input is not usable.
type notGood uint8

const (
	skipNotGood   notGood = iota // publish nothing
	lastGoodValue                // triggers publish the last usable values
	sendQuality                  // publish null with the quality
)

// pubTopic is a configured publish topic.
type pubTopic struct {
	topic               string
	qos                 byte
	retain, latest      bool
	codec               *payload.Codec
	ins                 []signals.Port
	vals, last, good    []signals.Value
	seen                []bool // each input has had a usable value
	ready               bool   // every input has had one
	hasGood             bool
	goodTime            int64
	lastQ               signals.Quality
	mode                notGood
	onChange, onConnect bool
	deadband            float64
	interval, minIvl    time.Duration
	published, pending  bool
	lastPub             time.Duration
	epoch               uint64
	dev                 *device
	devSeq              uint64
	count, bytes        *signals.Signal[uint64]
	nCount, nBytes      uint64
}

func newPubTopic(b *runtime.Builder, tc *PublishTopic, devs map[string]*device) (*pubTopic, error) {
	codec, err := tc.codec()
	if err != nil {
		return nil, err
	}
	p := &pubTopic{
		topic: tc.Topic, qos: byte(tc.QoS), retain: tc.Retain, latest: tc.Keep == "latest", codec: codec,
		onChange: boolOr(tc.OnChange, true), onConnect: boolOr(tc.OnConnect, true),
		deadband: tc.Deadband, interval: tc.Interval, minIvl: tc.MinInterval,
		mode: map[string]notGood{"": skipNotGood, "skip": skipNotGood, "last_good": lastGoodValue, "quality": sendQuality}[tc.WhenNotGood],
		dev:  devs[tc.Device],
	}
	if p.dev != nil && !p.dev.republish {
		p.dev = nil
	}
	for _, f := range codec.Fields() {
		p.ins = append(p.ins, b.Port(f.Kind, f.Name, signals.Input, runtime.Desc("published to "+tc.Topic)))
	}
	n := len(p.ins)
	p.vals, p.last, p.good, p.seen = make([]signals.Value, n), make([]signals.Value, n), make([]signals.Value, n), make([]bool, n)
	p.count = b.Port(signals.Uint, tc.Name+"Count", signals.Output, runtime.Desc("messages accepted for publication on "+tc.Topic)).(*signals.Signal[uint64])
	p.bytes = b.Port(signals.Uint, tc.Name+"Bytes", signals.Output, runtime.Unit("B"), runtime.Desc("payload bytes accepted for publication on "+tc.Topic)).(*signals.Signal[uint64])
	return p, nil
}

// process evaluates the triggers and publishes by the quality rules (see
// README, Quality on the wire); it reports whether a message was handed to
// the sender.
func (p *pubTopic) process(c *client, t runtime.Tick, conn bool, epoch uint64) bool {
	usable := true
	q := signals.Good
	var newest int64
	for i, in := range p.ins {
		iq := in.Quality()
		if iq.Usable() {
			p.seen[i] = true
		} else {
			usable = false
		}
		q = signals.Worst(q, iq)
		newest = max(newest, in.Stamp())
		p.vals[i] = in.Value()
		if !iq.Usable() && p.mode == sendQuality {
			p.vals[i] = signals.Value{} // written as null: never a number that is not usable
		}
	}
	if !p.ready {
		for _, s := range p.seen {
			if !s {
				return false // a value never received is never published
			}
		}
		p.ready = true
	}
	if usable {
		copy(p.good, p.vals)
		p.hasGood, p.goodTime = true, newest
	} else {
		switch p.mode {
		case skipNotGood:
			return false
		case lastGoodValue:
			if !p.hasGood {
				return false
			}
			copy(p.vals, p.good)
			newest = p.goodTime
		}
	}
	trigger := p.pending
	if p.onChange && (!p.published || p.changed() || (p.codec.CarriesQuality() && q != p.lastQ)) {
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
	if p.dev != nil && p.dev.onlineSeq != p.devSeq {
		p.devSeq = p.dev.onlineSeq
		if p.dev.online {
			trigger = true // the device came (back) online: give it its state
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
	p.lastQ = q
	copy(p.last, p.vals)
	c.buf = p.codec.Encode(c.buf[:0], p.vals, payload.Meta{Quality: q, Time: newest, Now: t.Wall.UnixNano()})
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
		if v.Kind() != old.Kind() {
			return true // a value became null or back
		}
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
	base     []signals.Quality // each value's quality, link, device and age aside
	topicSig *signals.Signal[string]
	newSig   *signals.Signal[bool]
	count    *signals.Signal[uint64]
	bytes    *signals.Signal[uint64]
	maxAge   time.Duration
	lastRx   time.Duration // Mono time the newest value was produced (received, or stamped by its source)
	got      bool
	lost     bool // shown comm lost: the link or the device is down
	dev      *device

	alarm     *runtime.Alarm
	alarmDecl string        // the text the alarm was declared with
	alarmText []string      // per quality: the text raised with
	badSince  time.Duration // Mono time the value became unusable; -1 while usable

	box            runtime.Latest[rxMsg]
	taken          uint64 // messages the ticks latched
	nCount, nBytes atomic.Uint64
}

// rxMsg is a received message, decoded on the I/O side.
type rxMsg struct {
	topic    string
	vals     []signals.Value // Invalid kind: no value (see bad)
	bad      []bool          // the value did not decode
	meta     payload.Meta    // the time and quality the payload carried
	retained bool
}

func newSubTopic(b *runtime.Builder, tc *SubscribeTopic, devs map[string]*device, signalTimeout time.Duration) (*subTopic, error) {
	codec, err := tc.codec()
	if err != nil {
		return nil, err
	}
	s := &subTopic{filter: tc.Topic, qos: byte(tc.QoS), codec: codec, maxAge: tc.MaxAge, dev: devs[tc.Device], badSince: -1}
	for _, f := range codec.Fields() {
		s.outs = append(s.outs, b.Port(f.Kind, f.Name, signals.Output, runtime.Desc("received from "+tc.Topic)))
	}
	s.base = make([]signals.Quality, len(s.outs))
	for i := range s.base {
		s.base[i] = signals.Initial
	}
	s.topicSig = b.Port(signals.String, tc.Name+"Topic", signals.Output, runtime.Desc("topic of the last message received on "+tc.Topic)).(*signals.Signal[string])
	s.newSig = b.Port(signals.Bool, tc.Name+"New", signals.Output, runtime.Desc("true for the one tick that latched a new message")).(*signals.Signal[bool])
	s.count = b.Port(signals.Uint, tc.Name+"Count", signals.Output, runtime.Desc("messages received on "+tc.Topic)).(*signals.Signal[uint64])
	s.bytes = b.Port(signals.Uint, tc.Name+"Bytes", signals.Output, runtime.Unit("B"), runtime.Desc("payload bytes received on "+tc.Topic)).(*signals.Signal[uint64])
	if a := tc.Alarm; a != nil {
		level := runtime.Warning
		if a.Level != "" {
			level, _ = runtime.ParseLevel(a.Level) // checked by Validate
		}
		delay := signalTimeout
		if a.Delay != nil {
			delay = *a.Delay
		}
		s.alarmDecl = fmt.Sprintf("%s (%s) is not usable", tc.Name, tc.Topic)
		s.alarm = b.Alarm(tc.Name+"Quality", level, s.alarmDecl, runtime.Delay(delay))
		// Texts made now, so raising the alarm on the tick allocates nothing.
		s.alarmText = make([]string, len(signals.Qualities()))
		for _, q := range signals.Qualities() {
			s.alarmText[q] = fmt.Sprintf("%s (%s): %s", tc.Name, tc.Topic, q)
		}
	}
	return s, nil
}

// latch takes the newest message, if any, and shows each value's quality by
// the quality rules (README, Quality on the wire): a retained message is
// last known, a live one good; a payload that did not decode is bad input;
// a source's own quality and time stamp are kept; no message for max_age
// is stale; a link or device that is down is comm lost, and once it is up
// again a value not heard of since is last known.
func (s *subTopic) latch(t runtime.Tick, linkLost bool) {
	m, ok := s.box.Take()
	now := t.Wall.UnixNano()
	if ok {
		q := signals.Good
		if m.retained {
			q = signals.LastKnown // replayed by the broker: true once, perhaps long ago
		}
		q = signals.Worst(q, m.meta.Quality)
		stamp, produced := now, t.Mono
		if m.meta.Time != 0 {
			stamp = m.meta.Time
			if age := time.Duration(now - stamp); age > 0 {
				produced = t.Mono - age
			}
		}
		for i, o := range s.outs {
			switch {
			case m.bad[i]:
				s.base[i] = signals.BadInput // the previous value stays
			case m.vals[i].Kind() == signals.Invalid:
				s.base[i] = m.meta.Quality // no value: the source says why
			default:
				if o.SetValue(m.vals[i], q, stamp) {
					s.base[i] = q
				} else {
					s.base[i] = signals.BadInput
				}
			}
		}
		s.taken++
		s.topicSig.Set(m.topic)
		s.got, s.lastRx = true, produced
		s.count.Set(s.nCount.Load())
		s.bytes.Set(s.nBytes.Load())
	}
	if ok != s.newSig.Get() || s.newSig.Quality() != signals.Good {
		s.newSig.Set(ok)
	}
	lost := linkLost || (s.dev != nil && s.dev.offline)
	if !lost && s.lost && !ok {
		// Back after an outage: what changed meanwhile was not heard.
		for i, q := range s.base {
			if q.Usable() {
				s.base[i] = signals.LastKnown
			}
		}
	}
	s.lost = lost
	stale := s.maxAge > 0 && s.got && t.Mono-s.lastRx > s.maxAge
	worst := signals.Good
	for i, o := range s.outs {
		q := s.base[i]
		switch {
		case lost:
			q = signals.CommLost
		case stale && q.Usable():
			q = signals.Stale
		}
		if o.Quality() != q {
			o.SetQuality(q)
		}
		worst = signals.Worst(worst, q)
	}
	if s.alarm != nil {
		s.updateAlarm(t, worst)
	}
}

// updateAlarm raises the topic's quality alarm once its value has been
// unusable for the alarm's delay (which `alarms:` may change per instance),
// saying which quality, and clears it as soon as the value is usable.
func (s *subTopic) updateAlarm(t runtime.Tick, q signals.Quality) {
	a := s.alarm
	if q.Usable() {
		s.badSince = -1
		a.Clear()
		return
	}
	if s.badSince < 0 {
		s.badSince = t.Mono
	}
	if t.Mono-s.badSince < a.Info().Delay {
		return
	}
	text := a.Info().Text
	if text == s.alarmDecl {
		text = s.alarmText[q]
	}
	a.SetText(text)
}

// device follows a device's availability topic.
type device struct {
	name            string
	topic           string
	codec           *payload.Codec // the state as text, or at a JSON path
	onText, offText string
	republish       bool
	sig             *signals.Signal[bool]

	state atomic.Int32  // I/O side: availUnknown, availOnline, availOffline
	seq   atomic.Uint64 // I/O side: online messages received

	// Tick side, from the last update.
	online, offline bool
	onlineSeq       uint64
}

// Availability states.
const (
	availUnknown int32 = iota
	availOnline
	availOffline
)

func newDevice(b *runtime.Builder, dc *Device) *device {
	d := &device{name: dc.Name, topic: dc.Availability, onText: dc.online(), offText: dc.offline(), republish: boolOr(dc.Republish, true)}
	sp := payload.Spec{Fields: []payload.Field{{Name: dc.Name, Kind: signals.String, Key: dc.Field}}}
	if dc.Field != "" {
		sp.Format = payload.JSON
	}
	d.codec, _ = payload.New(sp) // the field is checked by Validate
	d.sig = b.Port(signals.Bool, dc.Name+"Online", signals.Output, runtime.Desc("device "+dc.Name+" says it is online on "+dc.Availability)).(*signals.Signal[bool])
	return d
}

// update takes the availability the I/O side last received.
func (d *device) update(linkLost bool) {
	st := d.state.Load()
	d.online, d.offline = st == availOnline, st == availOffline
	d.onlineSeq = d.seq.Load()
	switch {
	case linkLost:
		if d.sig.Quality() != signals.CommLost {
			d.sig.SetQuality(signals.CommLost)
		}
	case st == availUnknown:
		if d.sig.Quality() != signals.Initial {
			d.sig.SetQuality(signals.Initial)
		}
	case d.online != d.sig.Get() || d.sig.Quality() != signals.Good:
		d.sig.Set(d.online)
	}
}

// receive reads an availability message on the I/O side; it reports false
// when the payload is neither the online nor the offline text.
func (d *device) receive(p []byte) bool {
	var v [1]signals.Value
	if _, err := d.codec.Decode(p, v[:], nil); err != nil {
		return false
	}
	switch text := strings.TrimSpace(v[0].Text()); {
	case strings.EqualFold(text, d.onText):
		d.seq.Add(1)
		d.state.Store(availOnline)
	case strings.EqualFold(text, d.offText):
		d.state.Store(availOffline)
	default:
		return false
	}
	return true
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
	if mqttconn.ValidTopic(topic) != nil {
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
