package link

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"

	"github.com/metronome-rt/metronome/internal/mqttconn"
	"github.com/metronome-rt/metronome/link/sparkplug"
	"github.com/metronome-rt/metronome/link/sparkplug/sparkplugpb"
	"github.com/metronome-rt/metronome/signals"
)

// Want is a metric of another edge node that the consumer routes from, with
// the kind it expects. The host binds it through the node's birth and checks
// the kind there: a mismatch is an error, never a converted value.
type Want struct {
	Node   string
	Metric string
	Kind   signals.Kind
}

// Delivery is one value (or quality change) for Want number Want. Err, when
// set, says why the value cannot be used (the metric is missing from the
// birth, its datatype does not match, a value did not decode); the quality
// is then BadInput and the value empty.
type Delivery struct {
	Want int
	sparkplug.Sample
	Err error
}

// HostConfig configures a host (consumer).
type HostConfig struct {
	// Group is the Sparkplug group whose edge nodes are followed.
	Group string
	// HostID, when set, makes this a Sparkplug host application with a
	// STATE topic (spBv1.0/STATE/HostID): retained online/offline messages
	// that edge nodes with a primary host wait for.
	HostID string
	// Wants are the metrics delivered to Sink; Delivery.Want indexes it.
	Wants []Want
	// Sink receives every delivery, on the host's goroutine, in order. It
	// must not block and must not call the Host.
	Sink func(Delivery)
	// Follow names further edge nodes whose births the host asks for on
	// every connection, besides those of Wants: nodes it writes to, or
	// whose state it shows.
	Follow []string
	// OnNode, if set, learns when a followed node comes online (a birth
	// after none, or after its death or the host's own loss of the broker)
	// and goes offline, on the host's goroutine; like Sink it must not block
	// and must not call the Host.
	OnNode func(node string, online bool)
	// OnlyFollowed ignores the edge nodes of the group that are neither
	// wanted from nor followed: no state is kept for them and no rebirth is
	// asked of them, so that a large system's hosts do not make every node
	// re-announce itself for each of them.
	OnlyFollowed bool
	// Transport holds the broker connection options. The host sets the
	// client ID when empty, clean start and the will (STATE); OnUp and
	// OnDown, if set, run after its own.
	Transport mqttconn.Options
	// ReorderTimeout is how long an out-of-order message waits for the
	// messages before it; then the host asks the node for a rebirth.
	// Default 1 s.
	ReorderTimeout time.Duration
	// RebirthHoldoff is the least time between two rebirth requests to one
	// node; default 1 s.
	RebirthHoldoff time.Duration
	// WriteTimeout bounds Write when its context has no deadline; default 5 s.
	WriteTimeout time.Duration
	// Log receives protocol events; nil: none.
	Log *zerolog.Logger
}

// MetricInfo is what a birth announced about one metric.
type MetricInfo struct {
	Name     string
	Alias    uint64
	HasAlias bool
	Datatype uint32
	// Kind is the Metronome kind of the datatype; Invalid for datatypes
	// without one (arrays, DataSet, Template, ...).
	Kind signals.Kind
	sparkplug.Props
}

// HostStats are a host's counters.
type HostStats struct {
	Births, Deaths, Data   uint64
	LateDeaths             uint64 // NDEATHs ignored because a newer birth had come
	RebirthRequests        uint64
	SeqGaps, UnknownAlias  uint64
	BadPayloads            uint64
	Mismatches             uint64 // wants refused at a birth (missing metric or datatype)
	Delivered              uint64
	OutOfOrderReassembled  uint64 // messages that arrived early and were applied in order
	UnsolicitedWriteResult uint64
}

// ErrNodeOffline is returned by Write for a node without a current birth.
var ErrNodeOffline = errors.New("edge node is offline (no current birth)")

// ErrWriteTimeout is returned by Write when no result came in time.
var ErrWriteTimeout = errors.New("no write result from the edge node in time")

// WriteRefused is the error of a write the edge node refused.
type WriteRefused struct {
	Node, Metric, Reason string
}

func (w *WriteRefused) Error() string {
	return fmt.Sprintf("write to %s %s refused: %s", w.Node, w.Metric, w.Reason)
}

// Host follows the edge nodes of one group.
type Host struct {
	cfg  HostConfig
	conn mqttconn.Conn

	mu      sync.Mutex
	nodes   map[string]*nodeState
	wstate  []wantState
	waiters map[string]chan error
	stateTS atomic.Int64 // STATE timestamp of the current connection (ms)
	// stateMu orders the STATE publications, so that the offline one of a
	// stop is the last: an online one answering a stale offline STATE
	// (or the echo of the stop's own) must not follow it.
	stateMu   sync.Mutex
	stateDone bool // stateMu: stopped; no more online STATE
	// republishing is set while an answer to an offline STATE is on its way.
	republishing atomic.Bool
	writeN       atomic.Uint64
	st           HostStats
	stopped      bool
}

type nodeState struct {
	name       string
	born       bool // in step with the node: its birth and every data since applied
	alive      bool // its session (since its last birth) has not died: set by a birth, cleared by a death or our connection's loss
	online     bool // as last told to OnNode
	bdSeq      uint64
	seq        uint8
	metrics    map[string]*metricState
	byAlias    map[uint64]*metricState
	wants      []int
	early      map[uint8]*sparkplugpb.Payload // data that came before its turn
	timer      *time.Timer
	timerGen   uint64
	lastRq     time.Time
	birthWait  bool // a rebirth was asked for: data is ignored until it comes
	retryArmed bool
}

type metricState struct {
	MetricInfo
	wants []int
}

// wantState keeps the last delivered sample, so a death can turn it comm
// lost without inventing a value.
type wantState struct {
	last  sparkplug.Sample
	bound bool
}

// NewHost checks the configuration and prepares a host; Start connects it.
func NewHost(cfg HostConfig) (*Host, error) {
	if err := sparkplug.ValidID("group", cfg.Group); err != nil {
		return nil, fmt.Errorf("host: %w", err)
	}
	if cfg.HostID != "" {
		if err := sparkplug.ValidID("host ID", cfg.HostID); err != nil {
			return nil, fmt.Errorf("host: %w", err)
		}
	}
	if cfg.Sink == nil {
		cfg.Sink = func(Delivery) {}
	}
	if cfg.ReorderTimeout <= 0 {
		cfg.ReorderTimeout = time.Second
	}
	if cfg.RebirthHoldoff <= 0 {
		cfg.RebirthHoldoff = time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 5 * time.Second
	}
	h := &Host{cfg: cfg, nodes: map[string]*nodeState{}, waiters: map[string]chan error{}}
	for i, w := range cfg.Wants {
		if err := sparkplug.ValidID("edge node", w.Node); err != nil {
			return nil, fmt.Errorf("host: want %d: %w", i, err)
		}
		if w.Metric == "" {
			return nil, fmt.Errorf("host: want %d (%s): no metric name", i, w.Node)
		}
		if sparkplug.DataTypeOf(w.Kind) == sparkplugpb.DataType_Unknown {
			return nil, fmt.Errorf("host: want %d (%s %s): kind %s", i, w.Node, w.Metric, w.Kind)
		}
		n := h.node(w.Node)
		n.wants = append(n.wants, i)
	}
	for i, name := range cfg.Follow {
		if err := sparkplug.ValidID("edge node", name); err != nil {
			return nil, fmt.Errorf("host: follow %d: %w", i, err)
		}
		h.node(name)
	}
	h.wstate = make([]wantState, len(cfg.Wants))
	for i := range h.wstate {
		h.wstate[i].last.Quality = signals.Initial
	}
	o := cfg.Transport
	if o.ClientID == "" {
		o.ClientID = "host." + cfg.Group
		if cfg.HostID != "" {
			o.ClientID = "host." + cfg.HostID
		}
	}
	o.CleanStart, o.SessionExpiry = true, 0
	if cfg.HostID != "" {
		topic := sparkplug.StateTopic(cfg.HostID)
		o.Will = func() *mqttconn.Will {
			ts := time.Now().UnixMilli()
			h.stateTS.Store(ts)
			return &mqttconn.Will{Topic: topic, Payload: statePayload(false, ts), QoS: 1, Retain: true}
		}
	}
	userUp, userDown := o.OnUp, o.OnDown
	o.OnUp = func() {
		h.onUp()
		if userUp != nil {
			userUp()
		}
	}
	o.OnDown = func(err error) {
		h.onDown(err)
		if userDown != nil {
			userDown(err)
		}
	}
	conn, err := mqttconn.New(o)
	if err != nil {
		return nil, fmt.Errorf("host: %w", err)
	}
	h.conn = conn
	if err := conn.Subscribe(sparkplug.Namespace+"/"+cfg.Group+"/#", 1, h.onMessage); err != nil {
		return nil, err
	}
	if cfg.HostID != "" {
		if err := conn.Subscribe(sparkplug.StateTopic(cfg.HostID), 1, h.onState); err != nil {
			return nil, err
		}
	}
	return h, nil
}

func statePayload(online bool, ts int64) []byte {
	b, _ := json.Marshal(struct {
		Online    bool  `json:"online"`
		Timestamp int64 `json:"timestamp"`
	}{online, ts})
	return b
}

func (h *Host) node(name string) *nodeState {
	n := h.nodes[name]
	if n == nil {
		n = &nodeState{name: name}
		h.nodes[name] = n
	}
	return n
}

// Start connects in the background.
func (h *Host) Start(ctx context.Context) error { return h.conn.Start(ctx) }

// Stop publishes STATE offline (when a host ID is set) and disconnects.
func (h *Host) Stop(ctx context.Context) error {
	h.mu.Lock()
	h.stopped = true
	for _, n := range h.nodes {
		if n.timer != nil {
			n.timer.Stop()
		}
	}
	h.mu.Unlock()
	var errs []error
	h.stateMu.Lock()
	h.stateDone = true
	if h.cfg.HostID != "" && h.conn.Connected() {
		if err := h.conn.Publish(ctx, sparkplug.StateTopic(h.cfg.HostID), statePayload(false, h.stateTS.Load()), 1, true); err != nil {
			errs = append(errs, err)
		}
	}
	h.stateMu.Unlock()
	errs = append(errs, h.conn.Stop(ctx))
	return errors.Join(errs...)
}

// Conn returns the host's transport, for status and counters.
func (h *Host) Conn() mqttconn.Conn { return h.conn }

// Stats returns the counters.
func (h *Host) Stats() HostStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.st
}

// Metrics returns what the node's current birth announced; false when the
// node has no current birth.
func (h *Host) Metrics(node string) ([]MetricInfo, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := h.nodes[node]
	if n == nil || !n.born {
		return nil, false
	}
	out := make([]MetricInfo, 0, len(n.metrics))
	for _, m := range n.metrics {
		out = append(out, m.MetricInfo)
	}
	return out, true
}

// Online reports whether the node has a current birth.
func (h *Host) Online(node string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := h.nodes[node]
	return n != nil && n.born
}

func (h *Host) deliver(i int, s sparkplug.Sample, err error) {
	ws := &h.wstate[i]
	if err != nil {
		s = sparkplug.Sample{Quality: signals.BadInput, Stamp: s.Stamp}
	}
	ws.last = s
	h.st.Delivered++
	h.cfg.Sink(Delivery{Want: i, Sample: s, Err: err})
}

// lose turns every bound want of the node comm lost, keeping its last value
// and time.
func (h *Host) lose(n *nodeState) {
	for _, i := range n.wants {
		ws := &h.wstate[i]
		if ws.last.Quality == signals.CommLost {
			continue
		}
		s := ws.last
		if s.Quality != signals.BadInput || ws.bound {
			s.Quality = signals.CommLost
		}
		h.deliver(i, s, nil)
	}
}

// stale turns the node's good values stale, keeping value and time: the
// host is out of step with a node that is still alive (a sequence gap or
// an unknown alias) and waits for its rebirth.
func (h *Host) stale(n *nodeState) {
	for _, i := range n.wants {
		ws := &h.wstate[i]
		if ws.last.Quality != signals.Good && ws.last.Quality != signals.LastKnown {
			continue
		}
		s := ws.last
		s.Quality = signals.Stale
		h.deliver(i, s, nil)
	}
}

func (h *Host) onUp() {
	if h.cfg.HostID != "" {
		h.publishOnline("publish STATE online")
	}
	// Births are not retained: ask every node this host follows or knew for
	// a fresh one, so values come back without waiting for a change.
	h.mu.Lock()
	var names []string
	for name := range h.nodes {
		names = append(names, name)
	}
	h.mu.Unlock()
	for _, name := range names {
		h.mu.Lock()
		n := h.nodes[name]
		n.lastRq = time.Time{}
		rq := h.rebirthLocked(n, "connected")
		h.mu.Unlock()
		rq()
	}
}

func (h *Host) onDown(error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, n := range h.nodes {
		n.born, n.alive = false, false
		n.early = nil
		n.timerGen++
		h.lose(n)
		h.nodeState(n, false)
	}
}

func (h *Host) onState(m *mqttconn.Message) {
	var st struct {
		Online    bool  `json:"online"`
		Timestamp int64 `json:"timestamp"`
	}
	if json.Unmarshal(m.Payload, &st) != nil || st.Online {
		return
	}
	// Someone (the broker's will of an older connection, or another host
	// with our ID) says we are offline: we are not, unless we are stopping.
	// The answer waits for its PUBACK, so it goes out from its own
	// goroutine, one at a time: this handler must not hold up the births
	// and deaths behind it.
	if h.republishing.CompareAndSwap(false, true) {
		go func() {
			defer h.republishing.Store(false)
			h.publishOnline("republish STATE online")
		}()
	}
}

// publishOnline publishes the online STATE, unless the host has stopped.
func (h *Host) publishOnline(what string) {
	h.stateMu.Lock()
	defer h.stateMu.Unlock()
	if h.stateDone {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.cfg.WriteTimeout)
	defer cancel()
	if err := h.conn.Publish(ctx, sparkplug.StateTopic(h.cfg.HostID), statePayload(true, h.stateTS.Load()), 1, true); err != nil {
		h.logErr(what, err)
	}
}

func (h *Host) logErr(what string, err error) {
	if h.cfg.Log != nil {
		h.cfg.Log.Warn().Err(err).Str("group", h.cfg.Group).Msg("sparkplug host: " + what)
	}
}

// rebirthLocked decides on a rebirth request to n (holdoff applied) and
// returns the function that sends it, to call without the lock.
func (h *Host) rebirthLocked(n *nodeState, why string) func() {
	now := time.Now()
	n.birthWait = true
	n.early = nil
	n.timerGen++
	if !n.lastRq.IsZero() && now.Sub(n.lastRq) < h.cfg.RebirthHoldoff {
		// Asked too recently: ask again when the holdoff ends, unless the
		// birth came meanwhile.
		if !n.retryArmed {
			n.retryArmed = true
			time.AfterFunc(n.lastRq.Add(h.cfg.RebirthHoldoff).Sub(now), func() {
				h.mu.Lock()
				n.retryArmed = false
				if h.stopped || n.born || !n.birthWait {
					h.mu.Unlock()
					return
				}
				rq := h.rebirthLocked(n, why+" (again)")
				h.mu.Unlock()
				rq()
			})
		}
		return func() {}
	}
	n.lastRq = now
	h.st.RebirthRequests++
	if h.cfg.Log != nil {
		h.cfg.Log.Info().Str("node", n.name).Str("reason", why).Msg("sparkplug host: rebirth request")
	}
	topic := sparkplug.NodeTopic(h.cfg.Group, sparkplug.NCMD, n.name)
	return func() {
		p := &sparkplugpb.Payload{
			Timestamp: proto.Uint64(uint64(time.Now().UnixMilli())),
			Metrics: []*sparkplugpb.Payload_Metric{{
				Name:     proto.String(sparkplug.RebirthMetric),
				Datatype: proto.Uint32(uint32(sparkplugpb.DataType_Boolean)),
				Value:    &sparkplugpb.Payload_Metric_BooleanValue{BooleanValue: true},
			}},
		}
		b, _ := proto.Marshal(p)
		ctx, cancel := context.WithTimeout(context.Background(), h.cfg.WriteTimeout)
		defer cancel()
		if err := h.conn.Publish(ctx, topic, b, 0, false); err != nil && !errors.Is(err, mqttconn.ErrNotConnected) {
			h.logErr("rebirth request", err)
		}
	}
}

// onMessage runs on the dispatch goroutine for everything in the group.
func (h *Host) onMessage(m *mqttconn.Message) {
	t, err := sparkplug.ParseTopic(m.Topic)
	if err != nil || t.Device != "" {
		return // device messages: Metronome edge nodes have none
	}
	switch t.Type {
	case sparkplug.NBIRTH, sparkplug.NDATA, sparkplug.NDEATH:
	default:
		return
	}
	var p sparkplugpb.Payload
	if err := proto.Unmarshal(m.Payload, &p); err != nil {
		h.mu.Lock()
		h.st.BadPayloads++
		h.mu.Unlock()
		h.logErr(m.Topic+": payload does not decode", err)
		return
	}
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		return
	}
	n := h.nodes[t.Node]
	if n == nil {
		if h.cfg.OnlyFollowed {
			h.mu.Unlock()
			return
		}
		n = h.node(t.Node)
	}
	after := func() {}
	switch t.Type {
	case sparkplug.NBIRTH:
		h.birth(n, &p)
	case sparkplug.NDEATH:
		h.death(n, &p)
	case sparkplug.NDATA:
		after = h.data(n, &p)
	}
	h.mu.Unlock()
	after()
}

func (h *Host) birth(n *nodeState, p *sparkplugpb.Payload) {
	h.st.Births++
	n.metrics = make(map[string]*metricState, len(p.GetMetrics()))
	n.byAlias = make(map[uint64]*metricState, len(p.GetMetrics()))
	n.bdSeq = 0
	for _, m := range p.GetMetrics() {
		if m.GetName() == sparkplug.BdSeqMetric {
			if v, err := sparkplug.GetValue(m, uint32(sparkplugpb.DataType_Int64)); err == nil {
				i, _ := v.Int()
				n.bdSeq = uint64(i)
			} else if x, ok := m.Value.(*sparkplugpb.Payload_Metric_LongValue); ok {
				n.bdSeq = x.LongValue
			}
			continue
		}
		ms := &metricState{MetricInfo: MetricInfo{Name: m.GetName(), Alias: m.GetAlias(), HasAlias: m.Alias != nil, Datatype: m.GetDatatype(), Props: sparkplug.PropsOf(m)}}
		ms.Kind, _ = sparkplug.KindOf(ms.Datatype)
		n.metrics[ms.Name] = ms
		if ms.HasAlias {
			n.byAlias[ms.Alias] = ms
		}
	}
	n.born, n.alive, n.birthWait = true, true, false
	n.seq = uint8(p.GetSeq())
	n.early = nil
	n.timerGen++
	ts := p.GetTimestamp()
	for _, i := range n.wants {
		w := h.cfg.Wants[i]
		ws := &h.wstate[i]
		ws.bound = false
		ms := n.metrics[w.Metric]
		if ms == nil {
			h.st.Mismatches++
			h.deliver(i, sparkplug.Sample{Stamp: int64(ts) * 1e6}, fmt.Errorf("edge node %s announces no metric %q", n.name, w.Metric))
			continue
		}
		if ms.Kind != w.Kind {
			h.st.Mismatches++
			h.deliver(i, sparkplug.Sample{Stamp: int64(ts) * 1e6}, fmt.Errorf("type mismatch: %s %s is %s (%s), the route expects %s",
				n.name, w.Metric, sparkplug.DataTypeName(ms.Datatype), kindName(ms.Kind), w.Kind))
			continue
		}
		ws.bound = true
		ms.wants = append(ms.wants, i)
	}
	for _, m := range p.GetMetrics() {
		if ms := n.metrics[m.GetName()]; ms != nil && len(ms.wants) > 0 {
			h.apply(ms, m, ts)
		}
	}
	h.nodeState(n, true)
}

// nodeState tells OnNode when a node comes online or goes offline; a
// rebirth while online (asked for after a gap) is not news.
func (h *Host) nodeState(n *nodeState, online bool) {
	if n.online == online {
		return
	}
	n.online = online
	if h.cfg.OnNode != nil {
		h.cfg.OnNode(n.name, online)
	}
}

func kindName(k signals.Kind) string {
	if k == signals.Invalid {
		return "no Metronome type"
	}
	return k.String()
}

func (h *Host) apply(ms *metricState, m *sparkplugpb.Payload_Metric, payloadTS uint64) {
	s, err := sparkplug.SampleOf(m, ms.Datatype, payloadTS)
	if err != nil {
		err = fmt.Errorf("metric %s: %w", ms.Name, err)
	}
	for _, i := range ms.wants {
		h.deliver(i, s, err)
	}
}

func (h *Host) death(n *nodeState, p *sparkplugpb.Payload) {
	var bd uint64
	found := false
	for _, m := range p.GetMetrics() {
		if m.GetName() == sparkplug.BdSeqMetric {
			if x, ok := m.Value.(*sparkplugpb.Payload_Metric_LongValue); ok {
				bd, found = x.LongValue, true
			}
		}
	}
	if !n.alive || (found && bd != n.bdSeq) {
		// A death for a session already replaced by a newer birth (the
		// broker delivered the old connection's will late), or already
		// dead: ignored. A node out of step (waiting for a rebirth) still
		// dies.
		h.st.LateDeaths++
		return
	}
	h.st.Deaths++
	n.born, n.alive = false, false
	n.early = nil
	n.timerGen++
	h.lose(n)
	h.nodeState(n, false)
}

// data applies an NDATA in sequence order: an early one waits (up to the
// reorder timeout) for the ones before it.
func (h *Host) data(n *nodeState, p *sparkplugpb.Payload) func() {
	if !n.born {
		if n.birthWait && !n.lastRq.IsZero() && time.Since(n.lastRq) < h.cfg.RebirthHoldoff {
			return func() {}
		}
		return h.rebirthLocked(n, "data without a birth")
	}
	h.st.Data++
	seq := uint8(p.GetSeq())
	if seq != n.seq+1 {
		h.st.SeqGaps++
		if n.early == nil {
			n.early = map[uint8]*sparkplugpb.Payload{}
		}
		n.early[seq] = p
		if len(n.early) == 1 {
			n.timerGen++
			gen := n.timerGen
			if n.timer != nil {
				n.timer.Stop()
			}
			n.timer = time.AfterFunc(h.cfg.ReorderTimeout, func() { h.reorderExpired(n, gen) })
		}
		return func() {}
	}
	if rq := h.applyData(n, p); rq != nil {
		return rq
	}
	for len(n.early) > 0 {
		q, ok := n.early[n.seq+1]
		if !ok {
			break
		}
		delete(n.early, n.seq+1)
		h.st.OutOfOrderReassembled++
		if rq := h.applyData(n, q); rq != nil {
			return rq
		}
	}
	if len(n.early) == 0 {
		n.timerGen++ // the gap closed: the timer is void
	}
	return func() {}
}

func (h *Host) reorderExpired(n *nodeState, gen uint64) {
	h.mu.Lock()
	if h.stopped || gen != n.timerGen || len(n.early) == 0 {
		h.mu.Unlock()
		return
	}
	// The data after the gap waits for the rebirth: until it comes, what
	// the host shows of the node is out of date.
	h.stale(n)
	rq := h.rebirthLocked(n, "sequence gap at "+strconv.Itoa(int(n.seq)+1))
	h.mu.Unlock()
	rq()
}

// applyData delivers one in-order NDATA; an unknown alias returns the
// rebirth request to send.
func (h *Host) applyData(n *nodeState, p *sparkplugpb.Payload) func() {
	n.seq = uint8(p.GetSeq())
	ts := p.GetTimestamp()
	for _, m := range p.GetMetrics() {
		var ms *metricState
		if m.Alias != nil {
			ms = n.byAlias[m.GetAlias()]
		} else {
			ms = n.metrics[m.GetName()]
		}
		if ms == nil {
			h.st.UnknownAlias++
			n.born = false
			h.stale(n)
			return h.rebirthLocked(n, "unknown metric or alias")
		}
		if ms.Name == WriteResultMetric {
			h.writeResult(n, m)
		}
		if len(ms.wants) > 0 {
			h.apply(ms, m, ts)
		}
	}
	return nil
}

func (h *Host) writeResult(n *nodeState, m *sparkplugpb.Payload_Metric) {
	ps := m.GetProperties()
	idp := sparkplug.Prop(ps, PropWriteID)
	if idp == nil {
		return
	}
	ch := h.waiters[idp.GetStringValue()]
	if ch == nil {
		h.st.UnsolicitedWriteResult++
		return
	}
	delete(h.waiters, idp.GetStringValue())
	var err error
	if acc := sparkplug.Prop(ps, PropWriteAccepted); acc == nil || !acc.GetBooleanValue() {
		reason := "refused"
		if r := sparkplug.Prop(ps, PropWriteReason); r != nil {
			reason = r.GetStringValue()
		}
		metric := ""
		if mp := sparkplug.Prop(ps, PropWriteMetric); mp != nil {
			metric = mp.GetStringValue()
		}
		err = &WriteRefused{Node: n.name, Metric: metric, Reason: reason}
	}
	ch <- err
}

// Write asks edge node node to set metric to v (an NCMD) and waits for its
// result: nil once the node accepted and applied it (the new value follows
// in its data), *WriteRefused with the node's reason, ErrNodeOffline, or
// ErrWriteTimeout when no result came before ctx (or WriteTimeout) ended.
// Type and writability are checked against the birth before sending.
func (h *Host) Write(ctx context.Context, node, metric string, v signals.Value) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.cfg.WriteTimeout)
		defer cancel()
	}
	h.mu.Lock()
	n := h.nodes[node]
	if n == nil || !n.born {
		h.mu.Unlock()
		return fmt.Errorf("write %s %s: %w", node, metric, ErrNodeOffline)
	}
	ms := n.metrics[metric]
	if ms == nil {
		h.mu.Unlock()
		return &WriteRefused{Node: node, Metric: metric, Reason: "no such metric in the node's birth"}
	}
	if ms.Kind != v.Kind() {
		h.mu.Unlock()
		return &WriteRefused{Node: node, Metric: metric, Reason: fmt.Sprintf("value %v is %s, the metric is %s", v, v.Kind(), sparkplug.DataTypeName(ms.Datatype))}
	}
	id := fmt.Sprintf("%s-%d-%d", h.cfg.Group, time.Now().UnixNano(), h.writeN.Add(1))
	ch := make(chan error, 1)
	h.waiters[id] = ch
	dt := ms.Datatype
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.waiters, id)
		h.mu.Unlock()
	}()
	cm := &sparkplugpb.Payload_Metric{Name: proto.String(metric), Datatype: proto.Uint32(dt), Timestamp: proto.Uint64(uint64(time.Now().UnixMilli()))}
	if err := sparkplug.SetValue(cm, sparkplugpb.DataType(dt), v); err != nil {
		return &WriteRefused{Node: node, Metric: metric, Reason: err.Error()}
	}
	cm.Properties = &sparkplugpb.Payload_PropertySet{}
	sparkplug.AddStringProp(cm.Properties, PropWriteID, id)
	b, _ := proto.Marshal(&sparkplugpb.Payload{Timestamp: proto.Uint64(uint64(time.Now().UnixMilli())), Metrics: []*sparkplugpb.Payload_Metric{cm}})
	if err := h.conn.Publish(ctx, sparkplug.NodeTopic(h.cfg.Group, sparkplug.NCMD, node), b, 0, false); err != nil {
		return fmt.Errorf("write %s %s: %w", node, metric, err)
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return fmt.Errorf("write %s %s: %w (%v)", node, metric, ErrWriteTimeout, ctx.Err())
	}
}
