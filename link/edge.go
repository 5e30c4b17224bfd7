// Package link is the system of runtimes: a Sparkplug B 3.0 edge node that
// announces and publishes an application's exported values, and a host
// (consumer) that follows other edge nodes' births and data and delivers
// their values, type-checked, with their source time and quality. Both run
// on the MQTT transport of internal/mqttconn (MQTT 5 or 3.1.1) and know
// nothing of the runtime: the caller hands the edge node batches of changed
// values and a write function, and gives the host a sink. See README.md.
package link

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
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

// WriteResultMetric is the edge node's String metric that reports every
// write command it received, accepted or refused (see README.md, Writes).
const WriteResultMetric = "Node Info/Write Result"

// Properties of a write command and of its result.
const (
	// PropWriteID, on a command metric, correlates the command with its
	// result; the result echoes it.
	PropWriteID = "writeId"
	// PropWriteMetric, PropWriteAccepted and PropWriteReason describe a result.
	PropWriteMetric   = "metric"
	PropWriteAccepted = "accepted"
	PropWriteReason   = "reason"
)

// Export is one metric an edge node publishes.
type Export struct {
	// Name is the metric name, Comp/Sub/Signal.
	Name string
	// Kind is the value's type; it decides the Sparkplug datatype.
	Kind signals.Kind
	// Props are the unit, description, range and writability announced in
	// the birth. A write outside the range is refused.
	sparkplug.Props
	// Deadband, for numbers, is how far a value must move from the last
	// published one to be published again; 0 publishes every change.
	Deadband float64
	// MinInterval is the least time between two publications of this
	// metric; a change inside it is published when it ends, with the value
	// of that moment.
	MinInterval time.Duration
}

// Change is a new sample of exported metric Index (its position in
// EdgeConfig.Exports).
type Change struct {
	Index int
	sparkplug.Sample
}

// WriteFunc applies a write command to exported metric index. It runs on
// a goroutine of the edge node's, never on a network goroutine: writes to
// one metric one after the other in order, writes to different metrics at
// once, so that one slow write holds up no other; ctx ends at the
// write timeout. nil means accepted and applied: the new value is then
// expected through Update. An error refuses the write; its text is the
// reason the writer sees.
type WriteFunc func(ctx context.Context, index int, v signals.Value) error

// EdgeConfig configures an edge node.
type EdgeConfig struct {
	// Group and Node are the Sparkplug group and edge node IDs.
	Group, Node string
	// Exports are the metrics, in a fixed order: Change.Index refers to it.
	Exports []Export
	// Transport holds the broker connection options (servers, credentials,
	// TLS, keep-alive, backoff, protocol). The edge node sets the client ID
	// when empty (group.node), the will and clean start; OnUp and OnDown,
	// if set, run after its own.
	Transport mqttconn.Options
	// Write applies write commands; nil refuses every write.
	Write WriteFunc
	// WriteTimeout bounds one Write call; default 5 s.
	WriteTimeout time.Duration
	// HandOff is how many changes may wait between Update and the edge
	// node's goroutine; default 8 per export, at least 4096.
	HandOff int
	// Log receives connection and protocol events; nil: none.
	Log *zerolog.Logger
	// Wake and Pull let the edge node's own goroutine collect changes
	// instead of Update: whenever Wake is signalled, Pull runs on that
	// goroutine and hands every change to add, which publishes them as one
	// tick's batch. This saves the hand-over to another goroutine on the
	// way from a tick to the network. Pull also runs once before each birth
	// so that a birth carries the newest values. add must not be kept.
	Wake <-chan struct{}
	Pull func(add func(Change))
}

// EdgeStats are an edge node's counters.
type EdgeStats struct {
	Births, Data    uint64 // NBIRTH and NDATA messages published
	Rebirths        uint64 // rebirth requests answered
	Refused         uint64 // Update batches refused because the hand-off was full
	Writes, Refusal uint64 // write commands accepted / refused
	BadCommands     uint64 // NCMD payloads that did not decode
	PublishErrors   uint64
	BdSeq           uint64 // bdSeq of the current connection
}

// EdgeNode is a Sparkplug B edge node for one application.
type EdgeNode struct {
	cfg    EdgeConfig
	conn   mqttconn.Conn
	topics struct{ birth, death, data, cmd string }
	dts    []sparkplugpb.DataType
	byName map[string]int

	ring    changeRing
	wake    chan struct{}
	birthRq atomic.Bool // a connection came up or a rebirth was asked for
	// Writes waiting, by metric: one goroutine per metric with writes
	// applies them in order while other metrics' writes go on.
	wmu     sync.Mutex
	wqueue  map[int][]writeJob
	wtotal  int
	wctx    context.Context
	results chan writeResult

	bdSeqNext atomic.Uint64
	bdSeq     atomic.Uint64

	// Owned by the run goroutine.
	cur      []sparkplug.Sample
	sent     []sparkplug.Sample
	sentAt   []time.Time
	dirty    []bool
	pending  []time.Time // zero: nothing waiting for MinInterval
	dirtyN   []int
	born     bool
	seq      uint8
	pend     []writeResult
	buf      []byte
	enc      sparkplug.DataEncoder
	now      time.Time // of the current pass, for pulled changes
	add      func(Change)
	applyNow func(*Change)

	births, data, rebirths, refused  atomic.Uint64
	writesOK, writesNo, badCmd, pubE atomic.Uint64

	cancel     context.CancelFunc
	connCancel context.CancelFunc
	done       chan struct{}
	wdone      sync.WaitGroup
	stopMu     sync.Mutex
}

type writeJob struct {
	index int
	v     signals.Value
	id    string
}

type writeResult struct {
	metric, id, reason string
	v                  signals.Value
	ok                 bool
	at                 time.Time
}

// NewEdgeNode checks the configuration and prepares an edge node; Start
// connects it.
func NewEdgeNode(cfg EdgeConfig) (*EdgeNode, error) {
	if err := sparkplug.ValidID("group", cfg.Group); err != nil {
		return nil, fmt.Errorf("edge node: %w", err)
	}
	if err := sparkplug.ValidID("edge node", cfg.Node); err != nil {
		return nil, fmt.Errorf("edge node: %w", err)
	}
	e := &EdgeNode{cfg: cfg, byName: map[string]int{}}
	e.add = e.pulled
	e.applyNow = func(c *Change) { e.apply(c, e.now) }
	if e.cfg.WriteTimeout <= 0 {
		e.cfg.WriteTimeout = 5 * time.Second
	}
	for i, x := range cfg.Exports {
		if x.Name == "" {
			return nil, fmt.Errorf("edge node: export %d has no name", i)
		}
		if x.Name == sparkplug.BdSeqMetric || strings.HasPrefix(x.Name, "Node Control/") || strings.HasPrefix(x.Name, "Node Info/") {
			return nil, fmt.Errorf("edge node: export %q: the name is reserved by Sparkplug", x.Name)
		}
		if _, dup := e.byName[x.Name]; dup {
			return nil, fmt.Errorf("edge node: export %q appears twice", x.Name)
		}
		dt := sparkplug.DataTypeOf(x.Kind)
		if dt == sparkplugpb.DataType_Unknown {
			return nil, fmt.Errorf("edge node: export %q: kind %s cannot be published", x.Name, x.Kind)
		}
		if x.Deadband < 0 || math.IsNaN(x.Deadband) {
			return nil, fmt.Errorf("edge node: export %q: deadband %v must be a non-negative number", x.Name, x.Deadband)
		}
		if x.MinInterval < 0 {
			return nil, fmt.Errorf("edge node: export %q: min interval %v must not be negative", x.Name, x.MinInterval)
		}
		if x.HasRange && !(x.Low <= x.High) {
			return nil, fmt.Errorf("edge node: export %q: range %v..%v is empty", x.Name, x.Low, x.High)
		}
		e.byName[x.Name] = i
		e.dts = append(e.dts, dt)
	}
	n := len(cfg.Exports)
	e.cur = make([]sparkplug.Sample, n)
	for i := range e.cur {
		e.cur[i].Quality = signals.Initial
	}
	e.sent = make([]sparkplug.Sample, n)
	e.sentAt = make([]time.Time, n)
	e.dirty = make([]bool, n)
	e.pending = make([]time.Time, n)
	hand := cfg.HandOff
	if hand <= 0 {
		hand = max(4096, 8*n)
	}
	e.ring.slots = make([]Change, hand)
	e.wake = make(chan struct{}, 1)
	e.wqueue = map[int][]writeJob{}
	e.results = make(chan writeResult, 256)
	e.topics.birth = sparkplug.NodeTopic(cfg.Group, sparkplug.NBIRTH, cfg.Node)
	e.topics.death = sparkplug.NodeTopic(cfg.Group, sparkplug.NDEATH, cfg.Node)
	e.topics.data = sparkplug.NodeTopic(cfg.Group, sparkplug.NDATA, cfg.Node)
	e.topics.cmd = sparkplug.NodeTopic(cfg.Group, sparkplug.NCMD, cfg.Node)

	o := cfg.Transport
	if o.ClientID == "" {
		o.ClientID = cfg.Group + "." + cfg.Node
	}
	// Sparkplug: clean session / clean start with session expiry 0, will =
	// NDEATH with the bdSeq of this CONNECT, QoS 1, not retained.
	o.CleanStart, o.SessionExpiry = true, 0
	o.Will = func() *mqttconn.Will {
		b := e.bdSeqNext.Load()
		e.bdSeqNext.Store((b + 1) % 256)
		e.bdSeq.Store(b)
		return &mqttconn.Will{Topic: e.topics.death, Payload: deathPayload(b), QoS: 1}
	}
	userUp, userDown := o.OnUp, o.OnDown
	o.OnUp = func() {
		e.birthRq.Store(true)
		e.poke()
		if userUp != nil {
			userUp()
		}
	}
	o.OnDown = func(err error) {
		if err != nil && e.cfg.Log != nil {
			e.cfg.Log.Warn().Err(err).Str("node", cfg.Node).Msg("sparkplug edge node: connection lost")
		}
		e.poke()
		if userDown != nil {
			userDown(err)
		}
	}
	userErr := o.OnConnectError
	o.OnConnectError = func(err error) {
		if e.cfg.Log != nil {
			e.cfg.Log.Warn().Err(err).Str("node", cfg.Node).Msg("sparkplug edge node: connect")
		}
		if userErr != nil {
			userErr(err)
		}
	}
	conn, err := mqttconn.New(o)
	if err != nil {
		return nil, fmt.Errorf("edge node %s: %w", cfg.Node, err)
	}
	e.conn = conn
	if err := conn.Subscribe(e.topics.cmd, 1, e.onCommand); err != nil {
		return nil, err
	}
	return e, nil
}

func deathPayload(bdSeq uint64) []byte {
	p := &sparkplugpb.Payload{
		Timestamp: proto.Uint64(uint64(time.Now().UnixMilli())),
		Metrics:   []*sparkplugpb.Payload_Metric{bdSeqMetric(bdSeq)},
	}
	b, _ := proto.Marshal(p)
	return b
}

func bdSeqMetric(b uint64) *sparkplugpb.Payload_Metric {
	return &sparkplugpb.Payload_Metric{
		Name:     proto.String(sparkplug.BdSeqMetric),
		Datatype: proto.Uint32(uint32(sparkplugpb.DataType_Int64)),
		Value:    &sparkplugpb.Payload_Metric_LongValue{LongValue: b},
	}
}

// Start connects in the background and starts publishing; an unreachable
// broker is retried, not an error.
func (e *EdgeNode) Start(ctx context.Context) error {
	base := context.WithoutCancel(ctx)
	runCtx, cancel := context.WithCancel(base)
	connCtx, connCancel := context.WithCancel(base)
	e.cancel, e.connCancel = cancel, connCancel
	e.done = make(chan struct{})
	e.wmu.Lock()
	e.wctx = runCtx
	e.wmu.Unlock()
	go e.run(runCtx)
	if err := e.conn.Start(connCtx); err != nil {
		cancel()
		connCancel()
		return err
	}
	return nil
}

// Stop publishes NDEATH (an intentional disconnect), disconnects and ends
// the goroutines.
func (e *EdgeNode) Stop(ctx context.Context) error {
	e.stopMu.Lock()
	defer e.stopMu.Unlock()
	if e.cancel == nil {
		return nil
	}
	e.cancel()
	<-e.done
	e.wdone.Wait()
	var errs []error
	if e.conn.Connected() {
		// A broker that does not acknowledge within a keep-alive is gone
		// (the others notice as much by themselves); do not wait longer.
		pctx, cancel := context.WithTimeout(ctx, e.keepAlive())
		err := e.conn.Publish(pctx, e.topics.death, deathPayload(e.bdSeq.Load()), 1, false)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("publish NDEATH: %w", err))
		}
	}
	errs = append(errs, e.conn.Stop(ctx))
	e.connCancel()
	e.cancel = nil
	return errors.Join(errs...)
}

func (e *EdgeNode) keepAlive() time.Duration {
	if k := e.cfg.Transport.KeepAlive; k > 0 {
		return k
	}
	return 30 * time.Second
}

// Conn returns the edge node's transport, for status and counters.
func (e *EdgeNode) Conn() mqttconn.Conn { return e.conn }

// Stats returns the counters.
func (e *EdgeNode) Stats() EdgeStats {
	return EdgeStats{
		Births: e.births.Load(), Data: e.data.Load(), Rebirths: e.rebirths.Load(), Refused: e.refused.Load(),
		Writes: e.writesOK.Load(), Refusal: e.writesNo.Load(), BadCommands: e.badCmd.Load(),
		PublishErrors: e.pubE.Load(), BdSeq: e.bdSeq.Load(),
	}
}

// Update hands the changed values of one tick to the edge node: they are
// published together in one NDATA (those that pass their deadband and
// minimum interval). It never blocks and allocates nothing. It must not be
// called from two goroutines at once. false: the hand-off is full (the edge
// node's goroutine is far behind) and the batch was not taken; the caller
// should offer these metrics again with their newest values.
func (e *EdgeNode) Update(batch []Change) bool {
	for i := range batch {
		if uint(batch[i].Index) >= uint(len(e.dts)) {
			e.refused.Add(1)
			return false
		}
	}
	if !e.ring.put(batch) {
		e.refused.Add(1)
		return false
	}
	e.poke()
	return true
}

// pulled takes one change from Pull, on the edge node's goroutine.
func (e *EdgeNode) pulled(c Change) {
	if uint(c.Index) >= uint(len(e.dts)) {
		e.refused.Add(1)
		return
	}
	e.apply(&c, e.now)
}

func (e *EdgeNode) poke() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// changeRing is a single-producer single-consumer ring of changes; a batch
// becomes visible at once, so one tick's changes are never split.
type changeRing struct {
	slots      []Change
	head, tail atomic.Uint64
}

func (r *changeRing) put(b []Change) bool {
	n := uint64(len(r.slots))
	t := r.tail.Load()
	if n-(t-r.head.Load()) < uint64(len(b)) {
		return false
	}
	for i := range b {
		r.slots[(t+uint64(i))%n] = b[i]
	}
	r.tail.Store(t + uint64(len(b)))
	return true
}

func (r *changeRing) drain(f func(*Change)) {
	n := uint64(len(r.slots))
	h, t := r.head.Load(), r.tail.Load()
	for ; h < t; h++ {
		f(&r.slots[h%n])
		r.slots[h%n] = Change{} // drop string references
	}
	r.head.Store(h)
}

// run is the edge node's goroutine: it owns the metric state and publishes.
func (e *EdgeNode) run(ctx context.Context) {
	defer close(e.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.wake:
		case <-e.cfg.Wake:
		case r := <-e.results:
			e.pend = append(e.pend, r)
		case <-timer.C:
		}
		for len(e.results) > 0 {
			e.pend = append(e.pend, <-e.results)
		}
		now := time.Now()
		e.now = now
		e.ring.drain(e.applyNow)
		if e.cfg.Pull != nil {
			e.cfg.Pull(e.add)
		}
		if e.birthRq.Swap(false) || !e.born {
			if e.conn.Connected() {
				e.birth(now)
			}
		}
		next := e.due(now)
		if e.born && (len(e.dirtyN) > 0 || len(e.pend) > 0) {
			e.flush(now)
		}
		if !next.IsZero() {
			timer.Reset(next.Sub(now))
		}
	}
}

// apply takes a new sample and decides, by exception, whether it is to be
// published: a change of quality or of null-ness always is; a number must
// move by its deadband; MinInterval defers it.
func (e *EdgeNode) apply(c *Change, now time.Time) {
	i := c.Index
	e.cur[i] = c.Sample
	if !e.born || !significant(c.Sample, e.sent[i], e.cfg.Exports[i].Deadband) {
		return
	}
	if mi := e.cfg.Exports[i].MinInterval; mi > 0 && now.Sub(e.sentAt[i]) < mi {
		e.pending[i] = e.sentAt[i].Add(mi)
		return
	}
	e.markDirty(i)
}

func (e *EdgeNode) markDirty(i int) {
	e.pending[i] = time.Time{}
	if !e.dirty[i] {
		e.dirty[i] = true
		e.dirtyN = append(e.dirtyN, i)
	}
}

// due marks the deferred metrics whose minimum interval is over and returns
// when the next one is.
func (e *EdgeNode) due(now time.Time) time.Time {
	var next time.Time
	for i, p := range e.pending {
		if p.IsZero() {
			continue
		}
		if !p.After(now) {
			if significant(e.cur[i], e.sent[i], e.cfg.Exports[i].Deadband) {
				e.markDirty(i)
			} else {
				e.pending[i] = time.Time{}
			}
			continue
		}
		if next.IsZero() || p.Before(next) {
			next = p
		}
	}
	return next
}

func significant(a, b sparkplug.Sample, deadband float64) bool {
	if a.Quality != b.Quality {
		return true
	}
	av, bv := a.Value, b.Value
	if (av.Kind() == signals.Invalid) != (bv.Kind() == signals.Invalid) {
		return true
	}
	if deadband > 0 && av.Kind() != signals.String && av.Kind() != signals.Bool && av.Kind() == bv.Kind() {
		x, _ := av.Float()
		y, _ := bv.Float()
		if math.IsNaN(x) || math.IsNaN(y) {
			return math.IsNaN(x) != math.IsNaN(y)
		}
		return math.Abs(x-y) >= deadband
	}
	return !av.Equal(bv)
}

func (e *EdgeNode) alias(i int) uint64 { return uint64(i) + 1 }

func (e *EdgeNode) resultAlias() uint64 { return uint64(len(e.dts)) + 1 }

// birth publishes NBIRTH with every metric's current value; seq restarts at 0.
func (e *EdgeNode) birth(now time.Time) {
	p := &sparkplugpb.Payload{
		Timestamp: proto.Uint64(uint64(now.UnixMilli())),
		Seq:       proto.Uint64(0),
		Metrics:   make([]*sparkplugpb.Payload_Metric, 0, len(e.dts)+3),
	}
	p.Metrics = append(p.Metrics, bdSeqMetric(e.bdSeq.Load()),
		&sparkplugpb.Payload_Metric{
			Name:     proto.String(sparkplug.RebirthMetric),
			Datatype: proto.Uint32(uint32(sparkplugpb.DataType_Boolean)),
			Value:    &sparkplugpb.Payload_Metric_BooleanValue{BooleanValue: false},
		},
		&sparkplugpb.Payload_Metric{
			Name:     proto.String(WriteResultMetric),
			Alias:    proto.Uint64(e.resultAlias()),
			Datatype: proto.Uint32(uint32(sparkplugpb.DataType_String)),
			IsNull:   proto.Bool(true),
		})
	for i, x := range e.cfg.Exports {
		m := &sparkplugpb.Payload_Metric{Name: proto.String(x.Name), Alias: proto.Uint64(e.alias(i))}
		s := e.cur[i]
		if err := sparkplug.Metric(m, e.dts[i], s, sparkplug.PropertySet(x.Props, s.Quality)); err != nil {
			// A value of the wrong kind from the caller: announce the metric
			// without a value rather than a converted one.
			s = sparkplug.Sample{Quality: signals.BadInput, Stamp: s.Stamp}
			_ = sparkplug.Metric(m, e.dts[i], sparkplug.Sample{Quality: signals.Initial, Stamp: s.Stamp}, sparkplug.PropertySet(x.Props, signals.BadInput))
			e.cur[i] = s
		}
		p.Metrics = append(p.Metrics, m)
	}
	b, err := proto.MarshalOptions{}.MarshalAppend(e.buf[:0], p)
	if err != nil {
		e.pubE.Add(1)
		return
	}
	e.buf = b
	if err := e.conn.Publish(context.Background(), e.topics.birth, b, 0, false); err != nil {
		e.pubE.Add(1)
		e.born = false
		return
	}
	e.born = true
	e.seq = 0
	e.births.Add(1)
	copy(e.sent, e.cur)
	for i := range e.sentAt {
		e.sentAt[i] = now
		e.dirty[i] = false
		e.pending[i] = time.Time{}
	}
	e.dirtyN = e.dirtyN[:0]
}

// flush publishes one NDATA with the dirty metrics and the write results.
func (e *EdgeNode) flush(now time.Time) {
	e.seq++
	var b []byte
	if len(e.pend) == 0 {
		b = e.encodeData(now)
	} else if b = e.marshalData(now); b == nil {
		return
	}
	if err := e.conn.Publish(context.Background(), e.topics.data, b, 0, false); err != nil {
		// Lost with the connection; the next connection's birth carries the
		// current values, and the results are kept for it.
		e.pubE.Add(1)
		e.seq--
		if errors.Is(err, mqttconn.ErrNotConnected) {
			e.born = false
		}
		return
	}
	e.data.Add(1)
	for _, i := range e.dirtyN {
		e.sent[i] = e.cur[i]
		e.sentAt[i] = now
		e.dirty[i] = false
	}
	e.dirtyN = e.dirtyN[:0]
	e.pend = e.pend[:0]
}

// encodeData writes an NDATA of the dirty metrics with the data encoder,
// allocating nothing: the message of every tick that changed something.
func (e *EdgeNode) encodeData(now time.Time) []byte {
	e.enc.Begin(uint64(now.UnixMilli()))
	for _, i := range e.dirtyN {
		if err := e.enc.Metric(e.alias(i), e.dts[i], e.cur[i]); err != nil {
			// A value of the wrong kind from the caller: no value rather
			// than a converted one.
			e.cur[i] = sparkplug.Sample{Quality: signals.BadInput, Stamp: e.cur[i].Stamp}
			_ = e.enc.Metric(e.alias(i), e.dts[i], e.cur[i])
		}
	}
	return e.enc.End(uint64(e.seq))
}

// marshalData builds an NDATA that carries write results too; nil when it
// cannot be marshalled.
func (e *EdgeNode) marshalData(now time.Time) []byte {
	p := &sparkplugpb.Payload{
		Timestamp: proto.Uint64(uint64(now.UnixMilli())),
		Seq:       proto.Uint64(uint64(e.seq)),
		Metrics:   make([]*sparkplugpb.Payload_Metric, 0, len(e.dirtyN)+len(e.pend)),
	}
	for _, i := range e.dirtyN {
		m := &sparkplugpb.Payload_Metric{Alias: proto.Uint64(e.alias(i))}
		s := e.cur[i]
		if err := sparkplug.Metric(m, e.dts[i], s, nil); err != nil {
			s = sparkplug.Sample{Quality: signals.BadInput, Stamp: s.Stamp}
			m = &sparkplugpb.Payload_Metric{Alias: proto.Uint64(e.alias(i))}
			_ = sparkplug.Metric(m, e.dts[i], s, nil)
			e.cur[i] = s
		}
		p.Metrics = append(p.Metrics, m)
	}
	for _, r := range e.pend {
		p.Metrics = append(p.Metrics, e.resultMetric(r))
	}
	b, err := proto.MarshalOptions{}.MarshalAppend(e.buf[:0], p)
	if err != nil {
		e.pubE.Add(1)
		e.seq--
		return nil
	}
	e.buf = b
	return b
}

func (e *EdgeNode) resultMetric(r writeResult) *sparkplugpb.Payload_Metric {
	text := r.metric + " = " + r.v.String() + ": accepted"
	if !r.ok {
		text = r.metric + " = " + r.v.String() + ": refused: " + r.reason
	}
	ps := &sparkplugpb.Payload_PropertySet{}
	if r.id != "" {
		sparkplug.AddStringProp(ps, PropWriteID, r.id)
	}
	sparkplug.AddStringProp(ps, PropWriteMetric, r.metric)
	sparkplug.AddBoolProp(ps, PropWriteAccepted, r.ok)
	if !r.ok {
		sparkplug.AddStringProp(ps, PropWriteReason, r.reason)
	}
	return &sparkplugpb.Payload_Metric{
		Alias:      proto.Uint64(e.resultAlias()),
		Timestamp:  proto.Uint64(uint64(r.at.UnixMilli())),
		Datatype:   proto.Uint32(uint32(sparkplugpb.DataType_String)),
		Value:      &sparkplugpb.Payload_Metric_StringValue{StringValue: text},
		Properties: ps,
	}
}

// onCommand runs on the dispatch goroutine for every NCMD: a rebirth
// request is flagged for the edge node's goroutine; writes are checked here
// (known, writable, type, range) and queued for the write goroutines.
func (e *EdgeNode) onCommand(msg *mqttconn.Message) {
	var p sparkplugpb.Payload
	if err := proto.Unmarshal(msg.Payload, &p); err != nil {
		e.badCmd.Add(1)
		if e.cfg.Log != nil {
			e.cfg.Log.Warn().Err(err).Str("topic", msg.Topic).Msg("sparkplug edge node: NCMD payload does not decode")
		}
		return
	}
	for _, m := range p.GetMetrics() {
		name := m.GetName()
		if name == sparkplug.RebirthMetric {
			if m.GetBooleanValue() {
				e.rebirths.Add(1)
				e.birthRq.Store(true)
				e.poke()
			}
			continue
		}
		i, ok := e.byName[name]
		if m.Name == nil && m.Alias != nil && m.GetAlias() >= 1 && m.GetAlias() <= uint64(len(e.dts)) {
			i, ok = int(m.GetAlias()-1), true
			name = e.cfg.Exports[i].Name
		}
		var id string
		if v := sparkplug.Prop(m.GetProperties(), PropWriteID); v != nil {
			id = v.GetStringValue()
		}
		if !ok {
			if name == "" {
				name = fmt.Sprintf("alias %d", m.GetAlias())
			}
			e.refuse(name, id, signals.Value{}, "no such metric")
			continue
		}
		x := &e.cfg.Exports[i]
		if !x.Writable {
			e.refuse(name, id, signals.Value{}, "not writable")
			continue
		}
		if m.Datatype != nil {
			if k, err := sparkplug.KindOf(m.GetDatatype()); err != nil || k != x.Kind {
				e.refuse(name, id, signals.Value{}, fmt.Sprintf("datatype %s does not match the metric's %s", sparkplug.DataTypeName(m.GetDatatype()), e.dts[i]))
				continue
			}
		}
		v, err := sparkplug.GetValue(m, uint32(e.dts[i]))
		if m.Datatype != nil && err != nil && !errors.Is(err, sparkplug.ErrNull) {
			// The writer's own datatype may put the value in another field
			// (Int32 in int_value for an Int64 metric): read it as sent, then
			// check it is the same kind, never converting across kinds.
			v, err = sparkplug.GetValue(m, m.GetDatatype())
		}
		if err != nil {
			e.refuse(name, id, signals.Value{}, "value: "+err.Error())
			continue
		}
		if x.HasRange {
			f, _ := v.Float()
			if v.Kind() == signals.String || v.Kind() == signals.Bool {
				f = x.Low
			}
			if math.IsNaN(f) || f < x.Low || f > x.High {
				e.refuse(name, id, v, fmt.Sprintf("%v is outside the range %v..%v", v, x.Low, x.High))
				continue
			}
		}
		if e.cfg.Write == nil {
			e.refuse(name, id, v, "this edge node accepts no writes")
			continue
		}
		if !e.enqueue(writeJob{index: i, v: v, id: id}) {
			e.refuse(name, id, v, "too many writes waiting")
		}
	}
}

func (e *EdgeNode) refuse(metric, id string, v signals.Value, reason string) {
	e.writesNo.Add(1)
	e.result(writeResult{metric: metric, id: id, v: v, reason: reason, at: time.Now()})
}

func (e *EdgeNode) result(r writeResult) {
	select {
	case e.results <- r:
	default:
		// The run goroutine is far behind; the writer times out.
	}
}

// maxWrites bounds the writes waiting to be applied, over all metrics.
const maxWrites = 64

// enqueue queues a write for its metric's goroutine, starting one when the
// metric has none; false when too many writes wait.
func (e *EdgeNode) enqueue(j writeJob) bool {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	if e.wtotal >= maxWrites || e.wctx == nil || e.wctx.Err() != nil {
		return false
	}
	q := e.wqueue[j.index]
	e.wqueue[j.index] = append(q, j)
	e.wtotal++
	if len(q) == 0 {
		e.wdone.Add(1)
		go e.writer(e.wctx, j.index)
	}
	return true
}

// writer applies the writes of one metric, in order, through the caller's
// function, and ends when none is left: writes are rare, and one that
// waits for a slow component holds up no other metric's.
func (e *EdgeNode) writer(ctx context.Context, index int) {
	defer e.wdone.Done()
	for {
		e.wmu.Lock()
		q := e.wqueue[index]
		if len(q) == 0 {
			delete(e.wqueue, index)
			e.wmu.Unlock()
			return
		}
		j := q[0]
		e.wmu.Unlock()
		{
			wctx, cancel := context.WithTimeout(ctx, e.cfg.WriteTimeout)
			err := e.cfg.Write(wctx, j.index, j.v)
			if err == nil && wctx.Err() != nil {
				err = wctx.Err()
			}
			cancel()
			r := writeResult{metric: e.cfg.Exports[j.index].Name, id: j.id, v: j.v, ok: err == nil, at: time.Now()}
			if err != nil {
				e.writesNo.Add(1)
				r.reason = err.Error()
				if errors.Is(err, context.DeadlineExceeded) {
					r.reason = fmt.Sprintf("not applied within %v", e.cfg.WriteTimeout)
				}
			} else {
				e.writesOK.Add(1)
			}
			e.result(r)
		}
		e.wmu.Lock()
		e.wqueue[index] = e.wqueue[index][1:]
		e.wtotal--
		e.wmu.Unlock()
	}
}
