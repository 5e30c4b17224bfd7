package mqttbroker

import (
	"fmt"
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

// aliasHook puts the topic back into an MQTT 5 PUBLISH that names it only
// by a topic alias, before mochi checks the ACL. mochi checks the ACL on
// the topic as sent and resolves the alias afterwards, so under any rule
// narrower than "#" a publish by alias was refused (0x87) although its
// topic was allowed. An alias the client never set is a protocol error
// (MQTT 5, 3.3.2.3.4): the connection is closed.
type aliasHook struct {
	mqtt.HookBase
	max uint16
}

// ID names the hook in mochi's logs.
func (h *aliasHook) ID() string { return "metronome-topic-alias" }

// Provides tells mochi which callbacks this hook implements.
func (h *aliasHook) Provides(b byte) bool { return b == mqtt.OnPacketRead }

// OnPacketRead resolves a PUBLISH's topic alias.
func (h *aliasHook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.FixedHeader.Type != packets.Publish || pk.TopicName != "" || !pk.Properties.TopicAliasFlag {
		return pk, nil
	}
	alias := pk.Properties.TopicAlias
	if alias == 0 || alias > h.max {
		return pk, nil // mochi refuses it as an invalid alias
	}
	// Set with an empty topic returns the topic the alias stands for.
	topic := cl.State.TopicAliases.Inbound.Set(alias, "")
	if topic == "" {
		// mochi closes the connection only for ErrRejectPacket.
		return pk, fmt.Errorf("%w: topic alias %d was never set", packets.ErrRejectPacket, alias)
	}
	pk.TopicName = topic
	return pk, nil
}
