package mqttbroker

import (
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// statsHook counts every message the broker drops, including QoS 0
// messages to a subscriber whose write queue is full, which mochi
// otherwise only reflects in $SYS.
type statsHook struct {
	mqtt.HookBase
	publishDropped atomic.Uint64 // outbound queue full (any QoS)
	qosDropped     atomic.Uint64 // queued QoS 1/2 messages discarded (expired, session cleaned)
	retained       atomic.Int64  // retained messages published by clients

	mu     sync.Mutex
	topics map[string]struct{} // topics holding a client's retained message
}

// ID names the hook in mochi's logs.
func (h *statsHook) ID() string { return "metronome-stats" }

// Provides tells mochi which callbacks this hook implements.
func (h *statsHook) Provides(b byte) bool {
	switch b {
	case mqtt.OnPublishDropped, mqtt.OnQosDropped, mqtt.OnRetainMessage, mqtt.OnRetainedExpired:
		return true
	}
	return false
}

// OnRetainMessage follows the number of retained messages: mochi reports
// 1 for both a new and a replaced one, so the topics are tracked here.
func (h *statsHook) OnRetainMessage(cl *mqtt.Client, pk packets.Packet, r int64) {
	h.setRetained(pk.TopicName, r >= 0 && len(pk.Payload) > 0)
}

// OnRetainedExpired counts an expired retained message out.
func (h *statsHook) OnRetainedExpired(topic string) { h.setRetained(topic, false) }

func (h *statsHook) setRetained(topic string, held bool) {
	if strings.HasPrefix(topic, "$SYS/") {
		return
	}
	h.mu.Lock()
	if h.topics == nil {
		h.topics = map[string]struct{}{}
	}
	if held {
		h.topics[topic] = struct{}{}
	} else {
		delete(h.topics, topic)
	}
	h.retained.Store(int64(len(h.topics)))
	h.mu.Unlock()
}

// OnPublishDropped counts a message that did not fit a client's queue.
func (h *statsHook) OnPublishDropped(cl *mqtt.Client, pk packets.Packet) {
	h.publishDropped.Add(1)
}

// OnQosDropped counts a queued QoS 1/2 message that was discarded. A
// session taken over by a reconnecting client hands its messages on, so
// that is not a drop.
func (h *statsHook) OnQosDropped(cl *mqtt.Client, pk packets.Packet) {
	if cl.IsTakenOver() || pk.FixedHeader.Type != packets.Publish {
		return
	}
	h.qosDropped.Add(1)
}

// inflightKey identifies a queued message of a client.
type inflightKey struct {
	client string
	id     uint16
}

// orderHook keeps queued QoS 1/2 messages in publish order. mochi resends
// a session's messages sorted by uint16(Created in seconds) with an
// unstable sort, so messages queued within one second (or restored after
// a restart) come back in random order. This hook remembers each queued
// message's sequence number and, just before a session resumes, rewrites
// the messages' Created values into strictly increasing seconds, which
// mochi's sort then keeps.
type orderHook struct {
	mqtt.HookBase
	srv  *mqtt.Server
	mu   sync.Mutex
	seq  map[inflightKey]uint64
	next uint64
}

func newOrderHook() *orderHook { return &orderHook{seq: map[inflightKey]uint64{}} }

// ID names the hook in mochi's logs.
func (h *orderHook) ID() string { return "metronome-order" }

// Provides tells mochi which callbacks this hook implements.
func (h *orderHook) Provides(b byte) bool {
	switch b {
	case mqtt.OnQosPublish, mqtt.OnQosComplete, mqtt.OnQosDropped, mqtt.OnSessionEstablish:
		return true
	}
	return false
}

// OnQosPublish numbers a newly queued message; a resend keeps its number.
func (h *orderHook) OnQosPublish(cl *mqtt.Client, pk packets.Packet, sent int64, resends int) {
	if pk.FixedHeader.Type == packets.Puback {
		return // an incoming QoS 1 message's ack, completed at once
	}
	h.seqOf(cl.ID, pk.PacketID)
}

// seqOf returns the message's sequence number, assigning the next one if
// it has none.
func (h *orderHook) seqOf(client string, id uint16) uint64 {
	k := inflightKey{client, id}
	h.mu.Lock()
	s, ok := h.seq[k]
	if !ok {
		h.next++
		s = h.next
		h.seq[k] = s
	}
	h.mu.Unlock()
	return s
}

// restore records the sequence number of a message loaded from storage.
func (h *orderHook) restore(client string, id uint16, seq uint64) {
	h.mu.Lock()
	h.seq[inflightKey{client, id}] = seq
	if seq > h.next {
		h.next = seq
	}
	h.mu.Unlock()
}

// OnQosComplete forgets an acknowledged message.
func (h *orderHook) OnQosComplete(cl *mqtt.Client, pk packets.Packet) {
	if isIncomingAck(pk) {
		return // the client's own message: its ID may be shared with one of ours
	}
	h.mu.Lock()
	delete(h.seq, inflightKey{cl.ID, pk.PacketID})
	h.mu.Unlock()
}

// OnQosDropped forgets a discarded message.
func (h *orderHook) OnQosDropped(cl *mqtt.Client, pk packets.Packet) {
	h.OnQosComplete(cl, pk)
}

// OnSessionEstablish runs before mochi hands an existing session to a
// reconnecting client and resends its queue: it puts the queue in order.
func (h *orderHook) OnSessionEstablish(cl *mqtt.Client, pk packets.Packet) {
	if h.srv == nil || pk.Connect.Clean {
		return
	}
	old, ok := h.srv.Clients.Get(cl.ID)
	if !ok {
		return
	}
	msgs := old.State.Inflight.GetAll(false)
	if len(msgs) < 2 {
		return
	}
	seqs := make(map[uint16]uint64, len(msgs))
	h.mu.Lock()
	for _, m := range msgs {
		seqs[m.PacketID] = h.seq[inflightKey{cl.ID, m.PacketID}]
	}
	h.mu.Unlock()
	sort.SliceStable(msgs, func(i, j int) bool {
		si, sj := seqs[msgs[i].PacketID], seqs[msgs[j].PacketID]
		if si != sj {
			return si < sj
		}
		return msgs[i].Created < msgs[j].Created
	})
	for i, c := range orderedCreated(msgs) {
		msgs[i].Created = c
		old.State.Inflight.Set(msgs[i])
	}
}

// orderedCreated returns Created values, one per message in order, that
// are strictly increasing also in their low 16 bits (what mochi sorts on),
// starting at the oldest message's time, moved back at most len(msgs)
// seconds to avoid the 16-bit wrap. Expiry computed from Created is thus
// off by at most the queue length in seconds.
func orderedCreated(msgs []packets.Packet) []int64 {
	n := int64(len(msgs))
	base := msgs[0].Created
	for _, m := range msgs {
		base = min(base, m.Created)
	}
	if low := base & 0xffff; low > 0x10000-n {
		base -= low - (0x10000 - n)
	}
	out := make([]int64, n)
	for i := range out {
		out[i] = base + int64(i)
	}
	return out
}

// connackHook tells MQTT 5 clients the broker's topic alias maximum and
// maximum packet size in the CONNACK. mochi enforces both but does not
// announce them, so a client would assume no aliases and no size limit.
type connackHook struct {
	mqtt.HookBase
	aliasMax  uint16
	maxPacket uint32
}

// ID names the hook in mochi's logs.
func (h *connackHook) ID() string { return "metronome-connack" }

// Provides tells mochi which callbacks this hook implements.
func (h *connackHook) Provides(b byte) bool { return b == mqtt.OnPacketEncode }

// OnPacketEncode adds the limits to a CONNACK; other packets pass as they are.
func (h *connackHook) OnPacketEncode(cl *mqtt.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type == packets.Connack && cl.Properties.ProtocolVersion == 5 {
		pk.Properties.TopicAliasMaximum = h.aliasMax
		pk.Properties.MaximumPacketSize = h.maxPacket
	}
	return pk
}

// isIncomingAck reports whether pk is the PUBACK mochi built for a QoS 1
// message a client published (rather than a client's PUBACK for a message
// the broker sent): mochi stamps the ones it builds with Created.
func isIncomingAck(pk packets.Packet) bool {
	return pk.FixedHeader.Type == packets.Puback && pk.Created != 0
}

// idHook protects a client's outgoing QoS 1/2 messages from its own packet
// IDs. mochi keeps both directions in one in-flight table keyed by packet
// ID; when a client publishes a QoS 1 message with the ID of a message the
// broker is still waiting to have acknowledged by that client, mochi
// deletes the broker's message (losing its redelivery and one unit of the
// client's send quota). Client and broker both number from 1, so this
// happens to any device that publishes and receives QoS 1 at once. The hook
// sets the broker's message aside while mochi handles the client's
// publish and puts it back when mochi has acknowledged it.
type idHook struct {
	mqtt.HookBase
	srv   *mqtt.Server
	mu    sync.Mutex
	stash map[inflightKey]packets.Packet
	saved atomic.Uint64 // collisions repaired
}

// ID names the hook in mochi's logs.
func (h *idHook) ID() string { return "metronome-packet-ids" }

// Provides tells mochi which callbacks this hook implements.
func (h *idHook) Provides(b byte) bool { return b == mqtt.OnPacketRead || b == mqtt.OnQosComplete }

// OnPacketRead sets aside an outgoing message whose ID an incoming QoS 1
// PUBLISH reuses.
func (h *idHook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.FixedHeader.Type != packets.Publish || pk.FixedHeader.Qos != 1 {
		return pk, nil
	}
	out, ok := cl.State.Inflight.Get(pk.PacketID)
	if !ok || (out.FixedHeader.Type != packets.Publish && out.FixedHeader.Type != packets.Pubrel) {
		return pk, nil
	}
	h.mu.Lock()
	if h.stash == nil {
		h.stash = map[inflightKey]packets.Packet{}
	}
	h.stash[inflightKey{cl.ID, pk.PacketID}] = out
	h.mu.Unlock()
	return pk, nil
}

// OnQosComplete puts the set-aside message back once mochi has
// acknowledged the client's publish.
func (h *idHook) OnQosComplete(cl *mqtt.Client, pk packets.Packet) {
	if !isIncomingAck(pk) {
		return
	}
	k := inflightKey{cl.ID, pk.PacketID}
	h.mu.Lock()
	out, ok := h.stash[k]
	delete(h.stash, k)
	h.mu.Unlock()
	if !ok {
		return
	}
	if cl.State.Inflight.Set(out) {
		atomic.AddInt64(&h.srv.Info.Inflight, 1)
	}
	h.saved.Add(1)
}

// expiryHook finishes what mochi leaves undone when a disconnected
// session expires: mochi forgets the client but keeps its subscriptions in
// the topic index (a leak, and a wrong subscription count) and its queued
// messages uncounted. Here they are removed, and the queued messages are
// counted as dropped.
type expiryHook struct {
	mqtt.HookBase
	srv *mqtt.Server
}

// ID names the hook in mochi's logs.
func (h *expiryHook) ID() string { return "metronome-expiry" }

// Provides tells mochi which callbacks this hook implements.
func (h *expiryHook) Provides(b byte) bool { return b == mqtt.OnClientExpired }

// OnClientExpired unsubscribes the expired session and discards its queue.
func (h *expiryHook) OnClientExpired(cl *mqtt.Client) {
	h.srv.UnsubscribeClient(cl)
	cl.ClearInflights()
}
