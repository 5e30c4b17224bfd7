package apptest

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/metronome-rt/metronome/runtime"
)

// msgSpec is a message as a test writes it, to inject or to expect.
type msgSpec struct {
	at       *yaml.Node
	topic    string
	payload  *string
	contains *string
	qos      *byte
	retain   *bool
}

func (r *run) msg(n *yaml.Node, what string, keys ...string) (msgSpec, bool) {
	s := msgSpec{at: n}
	if scalar(n) && !contains(keys, "topic") {
		v := n.Value
		s.payload = &v
		return s, true
	}
	p := &problems{file: r.f.name}
	k := p.keys(n, what, keys...)
	r.report(p)
	ok := len(p.list) == 0
	if t := k["topic"]; t != nil {
		if !scalar(t) || t.Value == "" || strings.ContainsAny(t.Value, "+#") {
			r.fail(t, "%s: topic: want a topic name (no wildcards), got %s", what, describe(t))
			ok = false
		}
		s.topic = t.Value
	} else if contains(keys, "topic") {
		r.fail(n, "%s: missing key \"topic\"", what)
		ok = false
	}
	for _, key := range []string{"payload", "contains"} {
		if v := k[key]; v != nil {
			if v.Kind != yaml.ScalarNode {
				r.fail(v, "%s: %s: want text, got %s", what, key, describe(v))
				ok = false
				continue
			}
			text := v.Value
			if key == "payload" {
				s.payload = &text
			} else {
				s.contains = &text
			}
		}
	}
	if v := k["qos"]; v != nil {
		q, err := strconv.Atoi(v.Value)
		if !scalar(v) || err != nil || q < 0 || q > 2 {
			r.fail(v, "%s: qos: want 0, 1 or 2, got %s", what, describe(v))
			ok = false
		}
		b := byte(q)
		s.qos = &b
	}
	if v := k["retain"]; v != nil {
		b, err := strconv.ParseBool(v.Value)
		if !scalar(v) || err != nil {
			r.fail(v, "%s: retain: want true or false, got %s", what, describe(v))
			ok = false
		}
		s.retain = &b
	}
	return s, ok
}

func (r *run) compileInject(n *yaml.Node) func() {
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	}
	var msgs []msgSpec
	for _, it := range items {
		s, ok := r.msg(it, "inject", "topic", "payload", "qos", "retain")
		if !ok {
			continue
		}
		if s.payload == nil {
			r.fail(it, "inject: missing key \"payload\"")
			continue
		}
		msgs = append(msgs, s)
	}
	return func() {
		for _, s := range msgs {
			m := runtime.Message{Topic: s.topic, Payload: []byte(*s.payload)}
			if s.qos != nil {
				m.QoS = *s.qos
			}
			if s.retain != nil {
				m.Retain = *s.retain
			}
			if !r.broker.deliver(m) {
				r.fail(s.at, "inject: no subscription of the application matches %s", s.topic)
			}
		}
	}
}

func (r *run) compilePublished(n *yaml.Node) func() {
	if n.Kind != yaml.MappingNode || len(n.Content) == 0 {
		r.fail(n, "want a mapping of topics to the messages published on them since the last check, such as {plant/heater: [\"ON\"]}, got %s", describe(n))
		return nil
	}
	var checks []topicCheck
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if strings.ContainsAny(k.Value, "+#") || k.Value == "" {
			r.fail(k, "published: want a topic name (no wildcards), got %q", k.Value)
			continue
		}
		tc := topicCheck{at: k, topic: k.Value}
		if v.Kind == yaml.MappingNode {
			if c, ok := r.countCheck(k.Value, v); ok {
				tc.count, tc.lo, tc.hi, tc.last = true, c.lo, c.hi, c.last
				checks = append(checks, tc)
			}
			continue
		}
		if v.Kind != yaml.SequenceNode {
			r.fail(v, "published: %s: want a list of messages (payloads, or {payload, contains, qos, retain}), [] for none, or {count, min, max, last}, got %s", k.Value, describe(v))
			continue
		}
		ok := true
		for _, it := range v.Content {
			s, good := r.msg(it, "published: "+k.Value, "payload", "contains", "qos", "retain")
			if s.payload != nil && s.contains != nil {
				r.fail(it, "published: %s: payload or contains, not both", k.Value)
				good = false
			}
			ok = ok && good
			tc.want = append(tc.want, s)
		}
		if ok {
			checks = append(checks, tc)
		}
	}
	return func() {
		for _, c := range checks {
			got := r.broker.take(c.topic)
			if c.count {
				if msg := c.countMsg(got); msg != "" {
					r.fail(c.at, "published on %s since the last check: %s (at %s)", c.topic, msg, r.now())
				}
				continue
			}
			if matches(got, c.want) {
				continue
			}
			var ws, gs []string
			for _, w := range c.want {
				ws = append(ws, w.String())
			}
			for _, g := range got {
				gs = append(gs, fmtMessage(g))
			}
			r.fail(c.at, "published on %s since the last check: want [%s], got [%s] (at %s)", c.topic, strings.Join(ws, ", "), strings.Join(gs, ", "), r.now())
		}
	}
}

// topicCheck is what `published:` says of one topic.
type topicCheck struct {
	at    *yaml.Node
	topic string
	want  []msgSpec // exactly these, in order
	// or how many, and what the last one is
	count  bool
	lo, hi int
	last   *msgSpec
}

// countMsg says what is wrong with the messages got, for a count check.
func (c topicCheck) countMsg(got []runtime.Message) string {
	var wrong []string
	switch {
	case c.lo == c.hi && len(got) != c.lo:
		wrong = append(wrong, fmt.Sprintf("want %s, got %d", apCount(c.lo), len(got)))
	case len(got) < c.lo:
		wrong = append(wrong, fmt.Sprintf("want at least %s, got %d", apCount(c.lo), len(got)))
	case len(got) > c.hi:
		wrong = append(wrong, fmt.Sprintf("want at most %s, got %d", apCount(c.hi), len(got)))
	}
	if c.last != nil {
		switch {
		case len(got) == 0:
			wrong = append(wrong, fmt.Sprintf("want the last %s, got none", c.last))
		case !matches(got[len(got)-1:], []msgSpec{*c.last}):
			wrong = append(wrong, fmt.Sprintf("want the last %s, got %s", c.last, fmtMessage(got[len(got)-1])))
		}
	}
	return strings.Join(wrong, ", ")
}

func apCount(n int) string { return Count(n, "message") }

// countSpec is a check of how many messages were published, and of the
// last one.
type countSpec struct {
	lo, hi int
	last   *msgSpec
}

// countCheck reads {count: N} or {min: N, max: N}, with an optional last:
// message.
func (r *run) countCheck(topic string, v *yaml.Node) (countSpec, bool) {
	p := &problems{file: r.f.name}
	k := p.keys(v, "published: "+topic, "count", "min", "max", "last")
	r.report(p)
	c := countSpec{lo: 0, hi: math.MaxInt}
	ok := len(p.list) == 0
	number := func(key string) (int, bool) {
		n := k[key]
		if n == nil {
			return 0, false
		}
		i, err := strconv.Atoi(n.Value)
		if !scalar(n) || err != nil || i < 0 {
			r.fail(n, "published: %s: %s: want a number of messages, got %s", topic, key, describe(n))
			ok = false
			return 0, false
		}
		return i, true
	}
	if n, has := number("count"); has {
		c.lo, c.hi = n, n
		if k["min"] != nil || k["max"] != nil {
			r.fail(k["count"], "published: %s: count, or min and max, not both", topic)
			ok = false
		}
	}
	if n, has := number("min"); has {
		c.lo = n
	}
	if n, has := number("max"); has {
		c.hi = n
	}
	if k["count"] == nil && k["min"] == nil && k["max"] == nil && ok {
		r.fail(v, "published: %s: say how many: count, min or max", topic)
		ok = false
	}
	if n := k["last"]; n != nil {
		s, good := r.msg(n, "published: "+topic+": last", "payload", "contains", "qos", "retain")
		ok = ok && good
		c.last = &s
	}
	return c, ok
}

func matches(got []runtime.Message, want []msgSpec) bool {
	if len(got) != len(want) {
		return false
	}
	for i, w := range want {
		g := got[i]
		switch {
		case w.payload != nil && string(g.Payload) != *w.payload,
			w.contains != nil && !bytes.Contains(g.Payload, []byte(*w.contains)),
			w.qos != nil && g.QoS != *w.qos,
			w.retain != nil && g.Retain != *w.retain:
			return false
		}
	}
	return true
}

func (s msgSpec) String() string {
	var parts []string
	switch {
	case s.payload != nil:
		parts = append(parts, strconv.Quote(*s.payload))
	case s.contains != nil:
		parts = append(parts, "containing "+strconv.Quote(*s.contains))
	default:
		parts = append(parts, "any payload")
	}
	if s.qos != nil {
		parts = append(parts, fmt.Sprintf("qos %d", *s.qos))
	}
	if s.retain != nil {
		parts = append(parts, fmt.Sprintf("retain %v", *s.retain))
	}
	return strings.Join(parts, " ")
}

func fmtMessage(m runtime.Message) string {
	return fmt.Sprintf("%q qos %d retain %v", m.Payload, m.QoS, m.Retain)
}

// broker stands in for the MQTT broker of a test: it keeps what the
// application publishes, by topic, and delivers it to every simulating
// component whose subscription matches, as a broker forwards a live
// message (retain false); inject delivers a message from outside.
type broker struct {
	sims []runtime.Simulator
	log  map[string][]runtime.Message
	read map[string]int // per topic, how many messages a check has taken
}

func (b *broker) publish(_ *runtime.Node, m runtime.Message) {
	m.Payload = bytes.Clone(m.Payload)
	b.log[m.Topic] = append(b.log[m.Topic], m)
	live := m
	live.Retain = false
	b.deliver(live)
}

func (b *broker) deliver(m runtime.Message) bool {
	matched := false
	for _, s := range b.sims {
		if s.Deliver(runtime.Message{Topic: m.Topic, Payload: bytes.Clone(m.Payload), QoS: m.QoS, Retain: m.Retain}) {
			matched = true
		}
	}
	return matched
}

// take returns the messages published on topic since the last take.
func (b *broker) take(topic string) []runtime.Message {
	all := b.log[topic]
	got := all[b.read[topic]:]
	b.read[topic] = len(all)
	return got
}
