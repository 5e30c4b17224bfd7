package mqttbroker

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/rs/zerolog"
)

// fileStore is a small key-value store: an in-memory map mirrored to an
// append-only log file of checksummed records. Opening replays the log
// (stopping at a torn last record) and rewrites it compacted; the log is
// compacted again when dead records outweigh live ones. It needs nothing
// outside the standard library, unlike mochi's pebble and badger hooks.
//
// Every change is written to the file (handed to the kernel with one
// write(2)) before put returns, so a crash of the process loses nothing
// put has returned from; the sync interval only decides how often the
// file is fsynced, which is what a power loss or kernel crash needs.
type fileStore struct {
	mu       sync.Mutex
	dir      string
	f        *os.File
	data     map[string][]byte
	live     int64 // bytes of live records
	size     int64 // bytes in the log file
	dirty    bool
	syncEach bool
	closed   bool
	errs     atomic.Uint64
	lastErr  atomic.Pointer[string]
	stop     chan struct{}
	wg       sync.WaitGroup
}

const (
	storeFile    = "broker.log"
	opSet        = 1
	opDel        = 2
	compactMin   = 4 << 20
	recordHeader = 8 // length + crc32
)

// openStore opens (or creates) the store in dir and starts its syncer.
func openStore(dir string, syncInterval time.Duration) (*fileStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("persistence: %w", err)
	}
	s := &fileStore{dir: dir, data: map[string][]byte{}, syncEach: syncInterval == 0, stop: make(chan struct{})}
	path := filepath.Join(dir, storeFile)
	if b, err := os.ReadFile(path); err == nil {
		s.replay(b)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("persistence: %w", err)
	}
	if err := s.compact(); err != nil {
		return nil, fmt.Errorf("persistence: %w", err)
	}
	if !s.syncEach {
		s.wg.Add(1)
		go s.syncer(syncInterval)
	}
	return s, nil
}

// replay applies the records in b, ignoring a torn or corrupt tail.
func (s *fileStore) replay(b []byte) {
	for len(b) >= recordHeader {
		n := binary.LittleEndian.Uint32(b)
		sum := binary.LittleEndian.Uint32(b[4:])
		if uint64(n) > uint64(len(b)-recordHeader) {
			return
		}
		body := b[recordHeader : recordHeader+int(n)]
		if crc32.ChecksumIEEE(body) != sum || len(body) < 1 {
			return
		}
		op := body[0]
		kl, m := binary.Uvarint(body[1:])
		if m <= 0 || uint64(len(body)-1-m) < kl {
			return
		}
		key := string(body[1+m : 1+m+int(kl)])
		val := body[1+m+int(kl):]
		switch op {
		case opSet:
			s.data[key] = append([]byte(nil), val...)
		case opDel:
			delete(s.data, key)
		}
		b = b[recordHeader+int(n):]
	}
}

// compact writes the live data to a new log and swaps it in.
func (s *fileStore) compact() error {
	tmp := filepath.Join(s.dir, storeFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 64<<10)
	keys := make([]string, 0, len(s.data))
	for k := range s.data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var size int64
	for _, k := range keys {
		n, err := writeRecord(w, opSet, k, s.data[k])
		if err != nil {
			f.Close()
			return err
		}
		size += n
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	path := filepath.Join(s.dir, storeFile)
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(s.dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	if s.f != nil {
		_ = s.f.Close()
	}
	s.f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	s.size, s.live, s.dirty = size, size, false
	return nil
}

func writeRecord(w io.Writer, op byte, key string, val []byte) (int64, error) {
	var kl [binary.MaxVarintLen64]byte
	m := binary.PutUvarint(kl[:], uint64(len(key)))
	n := 1 + m + len(key) + len(val)
	buf := make([]byte, recordHeader, recordHeader+n)
	buf = append(buf, op)
	buf = append(buf, kl[:m]...)
	buf = append(buf, key...)
	buf = append(buf, val...)
	binary.LittleEndian.PutUint32(buf, uint32(n))
	binary.LittleEndian.PutUint32(buf[4:], crc32.ChecksumIEEE(buf[recordHeader:]))
	_, err := w.Write(buf)
	return int64(len(buf)), err
}

func (s *fileStore) fail(err error) {
	s.errs.Add(1)
	msg := err.Error()
	s.lastErr.Store(&msg)
}

// put sets (val != nil) or deletes a key.
func (s *fileStore) put(key string, val []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	op := byte(opSet)
	if val == nil {
		if _, ok := s.data[key]; !ok {
			return
		}
		op = opDel
	}
	n, err := writeRecord(s.f, op, key, val)
	if err != nil {
		s.fail(err)
		return
	}
	s.size += n
	if old, ok := s.data[key]; ok {
		s.live -= int64(recordHeader + 2 + len(key) + len(old))
	}
	if val == nil {
		delete(s.data, key)
	} else {
		s.data[key] = val
		s.live += n
	}
	s.dirty = true
	if s.syncEach {
		_ = s.flushLocked()
	}
	if s.size > compactMin && s.size > 4*s.live {
		if err := s.flushLocked(); err == nil {
			if err := s.compact(); err != nil {
				s.fail(err)
			}
		}
	}
}

// values returns the values of keys with the prefix, in key order.
func (s *fileStore) values(prefix string) [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []string
	for k := range s.data {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = s.data[k]
	}
	return out
}

// deletePrefix removes every key with the prefix.
func (s *fileStore) deletePrefix(prefix string) {
	s.mu.Lock()
	var keys []string
	for k := range s.data {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	s.mu.Unlock()
	for _, k := range keys {
		s.put(k, nil)
	}
}

// flushLocked fsyncs what was written since the last sync.
func (s *fileStore) flushLocked() error {
	if !s.dirty || s.f == nil {
		return nil
	}
	if err := s.f.Sync(); err != nil {
		s.fail(err)
		return err
	}
	s.dirty = false
	return nil
}

// Flush fsyncs everything put so far.
func (s *fileStore) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	return s.flushLocked()
}

func (s *fileStore) syncer(every time.Duration) {
	defer s.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			_ = s.Flush()
		}
	}
}

// Close flushes, compacts and closes the store; later puts are ignored.
func (s *fileStore) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	err := s.flushLocked()
	if err == nil {
		err = s.compact()
	}
	s.closed = true
	if s.f != nil {
		if cerr := s.f.Close(); err == nil {
			err = cerr
		}
	}
	s.mu.Unlock()
	close(s.stop)
	s.wg.Wait()
	return err
}

// Keys of the broker's state.
const (
	keyClient   = "c/"
	keySub      = "s/"
	keyRetained = "r/"
	keyInflight = "i/"
)

func subKey(client, filter string) string { return keySub + client + "\x00" + filter }
func inflightStoreKey(client string, id uint16) string {
	return keyInflight + client + "\x00" + strconv.Itoa(int(id))
}

// storedMessage is a queued message with its place in publish order.
type storedMessage struct {
	Seq uint64          `json:"seq"`
	Msg storage.Message `json:"msg"`
}

// storeHook persists mochi's sessions, subscriptions, retained and
// in-flight messages into a fileStore. mochi calls it before it
// acknowledges a message (PUBACK, PUBREC) and before a SUBACK, so what a
// client was told is held is on file by then.
type storeHook struct {
	mqtt.HookBase
	st   *fileStore
	auth *authHook
	log  zerolog.Logger

	// Queued messages are numbered in the order they were queued, so that
	// a restart restores them in that order; a resend keeps its number.
	mu   sync.Mutex
	seq  map[inflightKey]uint64
	next uint64
}

func newStoreHook(st *fileStore, auth *authHook, log zerolog.Logger) *storeHook {
	return &storeHook{st: st, auth: auth, log: log, seq: map[inflightKey]uint64{}}
}

// seqOf returns a queued message's number, giving it the next one if it
// has none.
func (h *storeHook) seqOf(client string, id uint16) uint64 {
	k := inflightKey{client, id}
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.seq[k]
	if !ok {
		h.next++
		s = h.next
		h.seq[k] = s
	}
	return s
}

// forgetSeq drops a message's number once it is no longer queued.
func (h *storeHook) forgetSeq(client string, id uint16) {
	h.mu.Lock()
	delete(h.seq, inflightKey{client, id})
	h.mu.Unlock()
}

// ID names the hook in mochi's logs.
func (h *storeHook) ID() string { return "metronome-store" }

// Provides tells mochi which callbacks this hook implements.
func (h *storeHook) Provides(b byte) bool {
	return bytes.IndexByte([]byte{
		mqtt.OnSessionEstablished, mqtt.OnDisconnect, mqtt.OnSubscribed, mqtt.OnUnsubscribed,
		mqtt.OnRetainMessage, mqtt.OnWillSent, mqtt.OnQosPublish, mqtt.OnQosComplete,
		mqtt.OnQosDropped, mqtt.OnClientExpired, mqtt.OnRetainedExpired,
		mqtt.StoredClients, mqtt.StoredInflightMessages, mqtt.StoredRetainedMessages, mqtt.StoredSubscriptions,
	}, b) >= 0
}

func (h *storeHook) set(key string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		h.st.fail(err)
		return
	}
	h.st.put(key, b)
}

// OnSessionEstablished stores the client's session.
func (h *storeHook) OnSessionEstablished(cl *mqtt.Client, pk packets.Packet) { h.updateClient(cl) }

// OnWillSent stores the session without its will.
func (h *storeHook) OnWillSent(cl *mqtt.Client, pk packets.Packet) { h.updateClient(cl) }

func (h *storeHook) updateClient(cl *mqtt.Client) {
	props := cl.Properties.Props.Copy(false)
	h.set(keyClient+cl.ID, &storage.Client{
		ID: cl.ID, T: storage.ClientKey, Remote: cl.Net.Remote, Listener: cl.Net.Listener,
		Username: cl.Properties.Username, Clean: cl.Properties.Clean, ProtocolVersion: cl.Properties.ProtocolVersion,
		Properties: storage.ClientProperties{
			SessionExpiryInterval: props.SessionExpiryInterval, SessionExpiryIntervalFlag: props.SessionExpiryIntervalFlag,
			AuthenticationMethod: props.AuthenticationMethod, AuthenticationData: props.AuthenticationData,
			RequestProblemInfo: props.RequestProblemInfo, RequestProblemInfoFlag: props.RequestProblemInfoFlag,
			RequestResponseInfo: props.RequestResponseInfo, ReceiveMaximum: props.ReceiveMaximum,
			TopicAliasMaximum: props.TopicAliasMaximum, User: props.User, MaximumPacketSize: props.MaximumPacketSize,
		},
		Will: storage.ClientWill(cl.Properties.Will),
	})
}

// OnDisconnect keeps a persistent session and forgets an expiring one.
func (h *storeHook) OnDisconnect(cl *mqtt.Client, _ error, expire bool) {
	if cl.IsTakenOver() {
		return
	}
	if !expire {
		h.updateClient(cl)
		return
	}
	h.forget(cl.ID)
}

// OnClientExpired forgets an expired session.
func (h *storeHook) OnClientExpired(cl *mqtt.Client) { h.forget(cl.ID) }

func (h *storeHook) forget(id string) {
	h.st.put(keyClient+id, nil)
	h.st.deletePrefix(keySub + id + "\x00")
	h.st.deletePrefix(keyInflight + id + "\x00")
}

// OnSubscribed stores new subscriptions.
func (h *storeHook) OnSubscribed(cl *mqtt.Client, pk packets.Packet, reasonCodes []byte) {
	for i, f := range pk.Filters {
		if i >= len(reasonCodes) || reasonCodes[i] >= 0x80 {
			continue
		}
		h.set(subKey(cl.ID, f.Filter), &storage.Subscription{
			ID: subKey(cl.ID, f.Filter), T: storage.SubscriptionKey, Client: cl.ID, Qos: reasonCodes[i],
			Filter: f.Filter, Identifier: f.Identifier, NoLocal: f.NoLocal,
			RetainHandling: f.RetainHandling, RetainAsPublished: f.RetainAsPublished,
		})
	}
}

// OnUnsubscribed removes subscriptions.
func (h *storeHook) OnUnsubscribed(cl *mqtt.Client, pk packets.Packet) {
	if cl.IsTakenOver() {
		return
	}
	for _, f := range pk.Filters {
		h.st.put(subKey(cl.ID, f.Filter), nil)
	}
}

func toMessage(id, t string, cl *mqtt.Client, pk packets.Packet, sent int64) storage.Message {
	props := pk.Properties.Copy(false)
	return storage.Message{
		ID: id, T: t, Client: cl.ID, Origin: pk.Origin, PacketID: pk.PacketID, FixedHeader: pk.FixedHeader,
		TopicName: pk.TopicName, Payload: pk.Payload, Sent: sent, Created: pk.Created,
		Properties: storage.MessageProperties{
			PayloadFormat: props.PayloadFormat, PayloadFormatFlag: props.PayloadFormatFlag,
			MessageExpiryInterval: props.MessageExpiryInterval, ContentType: props.ContentType,
			ResponseTopic: props.ResponseTopic, CorrelationData: props.CorrelationData,
			SubscriptionIdentifier: props.SubscriptionIdentifier, TopicAlias: props.TopicAlias, User: props.User,
		},
	}
}

// OnRetainMessage stores or clears a retained message.
func (h *storeHook) OnRetainMessage(cl *mqtt.Client, pk packets.Packet, r int64) {
	if r == -1 {
		h.st.put(keyRetained+pk.TopicName, nil)
		return
	}
	m := toMessage(keyRetained+pk.TopicName, storage.RetainedKey, cl, pk, 0)
	h.set(m.ID, &m)
}

// OnRetainedExpired forgets an expired retained message.
func (h *storeHook) OnRetainedExpired(topic string) { h.st.put(keyRetained+topic, nil) }

// OnQosPublish stores a queued message with its sequence number. The
// PUBACK of an incoming QoS 1 message is completed right after this call,
// so it is not written.
func (h *storeHook) OnQosPublish(cl *mqtt.Client, pk packets.Packet, sent int64, resends int) {
	if pk.FixedHeader.Type == packets.Puback {
		return
	}
	key := inflightStoreKey(cl.ID, pk.PacketID)
	h.set(key, &storedMessage{Seq: h.seqOf(cl.ID, pk.PacketID), Msg: toMessage(key, storage.InflightKey, cl, pk, sent)})
}

// OnQosComplete forgets an acknowledged message.
func (h *storeHook) OnQosComplete(cl *mqtt.Client, pk packets.Packet) {
	if isIncomingAck(pk) {
		return // never stored; its ID may be shared with a stored message
	}
	h.forgetSeq(cl.ID, pk.PacketID)
	h.st.put(inflightStoreKey(cl.ID, pk.PacketID), nil)
}

// OnQosDropped forgets a discarded message. A session taken over by a
// new connection of its client hands its messages on: they stay.
func (h *storeHook) OnQosDropped(cl *mqtt.Client, pk packets.Packet) {
	if cl.IsTakenOver() {
		return
	}
	h.OnQosComplete(cl, pk)
}

// StoredClients returns the stored sessions.
func (h *storeHook) StoredClients() ([]storage.Client, error) {
	var out []storage.Client
	for _, b := range h.st.values(keyClient) {
		var c storage.Client
		if err := json.Unmarshal(b, &c); err != nil {
			h.log.Warn().Err(err).Msg("persistence: skipping an unreadable session record")
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// storedUser returns the username of a stored session.
func (h *storeHook) storedUser(id string) ([]byte, bool) {
	h.st.mu.Lock()
	b, ok := h.st.data[keyClient+id]
	h.st.mu.Unlock()
	if !ok {
		return nil, false
	}
	var c storage.Client
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, false
	}
	return c.Username, true
}

func (h *storeHook) hasClient(id string) bool {
	_, ok := h.storedUser(id)
	return ok
}

// StoredSubscriptions returns the stored subscriptions of stored sessions.
func (h *storeHook) StoredSubscriptions() ([]storage.Subscription, error) {
	var out []storage.Subscription
	for _, b := range h.st.values(keySub) {
		var s storage.Subscription
		if err := json.Unmarshal(b, &s); err != nil || !h.hasClient(s.Client) {
			continue
		}
		out = append(out, s)
	}
	return out, nil
}

// StoredInflightMessages returns queued messages in the order they were
// queued. Each is checked against the ACL in force now, for the user of
// its session: rules may have changed while the broker was down, and a
// message its session's user may no longer read is discarded (and counted
// as an ACL refusal), as it would not have been queued under these rules.
func (h *storeHook) StoredInflightMessages() ([]storage.Message, error) {
	var ms []storedMessage
	for _, b := range h.st.values(keyInflight) {
		var m storedMessage
		if err := json.Unmarshal(b, &m); err != nil {
			continue
		}
		user, ok := h.storedUser(m.Msg.Client)
		if !ok {
			continue
		}
		if m.Msg.FixedHeader.Type == packets.Publish && !h.auth.allowed(user, m.Msg.Client, m.Msg.TopicName, accessRead) {
			h.auth.aclDenied.Add(1)
			h.st.put(m.Msg.ID, nil)
			continue
		}
		ms = append(ms, m)
	}
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].Seq < ms[j].Seq })
	out := make([]storage.Message, len(ms))
	h.mu.Lock()
	for i, m := range ms {
		h.seq[inflightKey{m.Msg.Client, m.Msg.PacketID}] = m.Seq
		h.next = max(h.next, m.Seq)
		out[i] = m.Msg
	}
	h.mu.Unlock()
	return out, nil
}

// StoredRetainedMessages returns the stored retained messages.
func (h *storeHook) StoredRetainedMessages() ([]storage.Message, error) {
	var out []storage.Message
	for _, b := range h.st.values(keyRetained) {
		var m storage.Message
		if err := json.Unmarshal(b, &m); err != nil {
			continue
		}
		out = append(out, m)
	}
	return out, nil
}
