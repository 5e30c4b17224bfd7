package runtime

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/metronome-rt/metronome/scheduler"
	"github.com/metronome-rt/metronome/signals"
)

// Sample is one observed value: a signal's or a parameter's value with the
// time it was produced, its quality, its write counter and, for a forced
// signal, the value the force overrides. Copying a Sample never allocates.
type Sample struct {
	ID      int32 // index into Tap.Entries
	Quality signals.Quality
	// Forced is set while an operator's force overrides the signal; Real
	// and RealQuality are then the value and quality it would have.
	Forced      bool
	RealQuality signals.Quality
	Value       signals.Value
	Real        signals.Value
	Stamp       int64  // Unix ns when the value was produced; 0 if never
	Seq         uint64 // the signal's write counter
}

// TapEntry describes one observable member: a signal or a parameter.
type TapEntry struct {
	ID    int32
	Path  string
	Node  *Node
	Port  signals.Port // nil for a parameter
	Param AnyParam     // nil for a signal
	// Group names the rate group whose tick produces the value,
	// <group>_<priority>.
	Group string
}

// Kind returns the entry's value kind.
func (e *TapEntry) Kind() signals.Kind {
	if e.Port != nil {
		return e.Port.Kind()
	}
	return e.Param.Info().Kind
}

// Tap is the application's observation point. Each rate group, at the end
// of every run of a component, copies the values of that component that
// changed into a buffer it alone owns; at the end of the pass it hands the
// buffer over through a lock-free queue and wakes the consumers that asked
// to be woken. The tick never waits and never allocates: when the queue is
// full (no one has read for a while) the changes stay in the group's buffer,
// coalesced per value, and go out with the next pass.
//
// Consumers read with Read: the first read (since 0) is a snapshot of every
// value, later reads return what changed since the version they got. Reads
// take a mutex the ticks never touch. A consumer that must see every pass
// soon after it ends (a network link) registers a wake channel with Wake; a
// viewer simply reads at its own rate and gets the values coalesced.
//
// Observation costs the ticks nothing until a consumer attaches (Attach).
type Tap struct {
	entries []TapEntry
	byPath  map[string]int32
	groups  []*groupTap
	slotOf  []int32 // by ID: index in its group's pending buffer, or -1; each index touched by one group only

	active atomic.Int32
	// buffers allocates the groups' hand-over buffers on the first Attach;
	// ready, set after, lets the ticks hand over.
	buffers sync.Once
	ready   atomic.Bool
	kick    chan struct{} // wakes the pump when hand-over queues fill
	wakers  atomic.Pointer[[]chan<- struct{}]
	wakeMu  sync.Mutex

	mu      sync.Mutex // readers and the pump; never the ticks
	store   []Sample
	ver     []uint64
	version uint64
}

// groupTap is one rate group's side of the tap.
type groupTap struct {
	name    string
	pending []tapSample  // tick-owned: this pass's changes, one per ID
	reals   []realSample // tick-owned: the real values of the forced ones
	q       *Queue[tapBatch]
	ver     uint64 // tap.mu: version of the last batch applied
	ids     []int32
}

// tapSample is a Sample as the tick copies it: without the real value of a
// forced signal (kept apart, since forces are rare), so that the tick moves
// as few bytes as it can.
type tapSample struct {
	v      signals.Value
	stamp  int64
	seq    uint64
	id     int32
	real   int32 // index into reals when forced
	q      signals.Quality
	forced bool
}

type realSample struct {
	id int32
	q  signals.Quality
	v  signals.Value
}

type tapBatch struct {
	samples []tapSample
	reals   []realSample
}

// tapQueue is how many passes' changes may wait for a reader before a
// group coalesces them in its own buffer.
const tapQueue = 4

// newTap numbers every observable member of the scheduled nodes (signals
// first, then parameters, node by node) and fills the store with their
// values; the groups' hand-over buffers come with the first Attach.
func newTap(a *App, groupOf map[*scheduler.Member]*scheduler.Group) *Tap {
	nodes := a.observable()
	members := 0
	for _, n := range nodes {
		members += len(n.ports) + len(n.params)
	}
	t := &Tap{entries: make([]TapEntry, 0, members), byPath: make(map[string]int32, members),
		kick: make(chan struct{}, 1), version: 1}
	gts := map[*scheduler.Group]*groupTap{}
	for _, n := range nodes {
		g := groupOf[n.member]
		if g == nil || n.x == nil {
			continue
		}
		gt := gts[g]
		if gt == nil {
			gt = &groupTap{name: g.Name + "_" + g.Priority.String()}
			gts[g] = gt
			t.groups = append(t.groups, gt)
		}
		x := n.x
		x.tap, x.group = t, gt
		x.base = int32(len(t.entries))
		for _, p := range n.ports {
			t.add(TapEntry{Path: p.Info().Path, Node: n, Port: p, Group: gt.name}, gt)
			x.seqs = append(x.seqs, p.Seq())
		}
		for _, p := range n.params {
			t.add(TapEntry{Path: p.Info().Path, Node: n, Param: p, Group: gt.name}, gt)
			x.seqs = append(x.seqs, p.Seq())
		}
	}
	t.store = make([]Sample, len(t.entries))
	t.ver = make([]uint64, len(t.entries))
	t.slotOf = make([]int32, len(t.entries))
	for i := range t.entries {
		e := &t.entries[i]
		t.slotOf[i] = -1
		s := &t.store[i]
		s.ID = int32(i)
		if e.Port != nil {
			s.Value, s.Quality, s.Stamp, s.Seq = e.Port.Value(), e.Port.Quality(), e.Port.Stamp(), e.Port.Seq()
		} else {
			s.Value, s.Quality, s.Seq = e.Param.Value(), signals.Good, e.Param.Seq()
			if c := e.Param.Changed(); !c.IsZero() {
				s.Stamp = c.UnixNano()
			}
		}
	}
	for _, gt := range t.groups {
		gt.q = NewQueue[tapBatch](tapQueue)
	}
	for g, gt := range gts {
		prev := g.AfterPass
		gt := gt
		if prev == nil {
			g.AfterPass = func() { t.commit(gt) }
		} else {
			g.AfterPass = func() { prev(); t.commit(gt) }
		}
	}
	return t
}

func (t *Tap) add(e TapEntry, gt *groupTap) {
	e.ID = int32(len(t.entries))
	t.entries = append(t.entries, e)
	t.byPath[e.Path] = e.ID
	gt.ids = append(gt.ids, e.ID)
}

// Entries returns every observable member; a Sample's ID indexes it.
func (t *Tap) Entries() []TapEntry { return t.entries }

// Lookup returns the ID of the signal or parameter at a full dotted path.
func (t *Tap) Lookup(path string) (int32, bool) {
	id, ok := t.byPath[path]
	return id, ok
}

// Match returns the IDs of the members whose paths match a pattern: dotted
// segments where * matches one segment and ** any number of them (none
// included); a pattern without wildcards that names a component matches
// the component's members and everything below it.
func (t *Tap) Match(pattern string) []int32 {
	var out []int32
	for i := range t.entries {
		if MatchPath(pattern, t.entries[i].Path) {
			out = append(out, t.entries[i].ID)
		}
	}
	return out
}

// MatchPath reports whether a full dotted path matches a pattern as
// Tap.Match matches them, for tools that select members by pattern before
// the application runs.
func MatchPath(pattern, path string) bool {
	return matchPath(strings.Split(pattern, "."), strings.Split(path, ".")) ||
		strings.HasPrefix(path, pattern+".") && !strings.Contains(pattern, "*")
}

func matchPath(pat, segs []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for k := 0; k <= len(segs); k++ {
				if matchPath(pat[1:], segs[k:]) {
					return true
				}
			}
			return false
		}
		if len(segs) == 0 || !matchSeg(pat[0], segs[0]) {
			return false
		}
		pat, segs = pat[1:], segs[1:]
	}
	return len(segs) == 0
}

// matchSeg matches one segment where * stands for any run of characters.
func matchSeg(p, s string) bool {
	star := strings.IndexByte(p, '*')
	if star < 0 {
		return p == s
	}
	if !strings.HasPrefix(s, p[:star]) {
		return false
	}
	rest := p[star+1:]
	for i := star; i <= len(s); i++ {
		if matchSeg(rest, s[i:]) {
			return true
		}
	}
	return false
}

// Attach turns observation on for one consumer; call the returned function
// when it stops reading. Values that changed while no one was attached are
// picked up when the next consumer attaches, since every component compares
// write counters rather than remembering events.
func (t *Tap) Attach() (detach func()) {
	t.buffers.Do(t.allocate)
	t.active.Add(1)
	var once sync.Once
	return func() { once.Do(func() { t.active.Add(-1) }) }
}

// allocate gives every group its hand-over buffers, each sized for all of
// the group's members so that no tick ever allocates. They are most of a
// tap's memory (about 500 bytes a member), so an application no one
// observes does without them: the first Attach makes them, before any
// tick can see a consumer.
func (t *Tap) allocate() {
	for _, gt := range t.groups {
		n := len(gt.ids)
		gt.pending, gt.reals = make([]tapSample, 0, n), make([]realSample, 0, n)
		for i := range gt.q.slots {
			gt.q.slots[i].samples, gt.q.slots[i].reals = make([]tapSample, 0, n), make([]realSample, 0, n)
		}
	}
	t.ready.Store(true)
}

// Wake registers a channel that is signalled, without blocking, after every
// pass of a rate group that handed over changes. Give it a buffer of one:
// a wake-up already pending stands for any number of passes. The returned
// function unregisters it.
func (t *Tap) Wake(ch chan<- struct{}) (remove func()) {
	t.wakeMu.Lock()
	defer t.wakeMu.Unlock()
	var list []chan<- struct{}
	if p := t.wakers.Load(); p != nil {
		list = append(list, *p...)
	}
	list = append(list, ch)
	t.wakers.Store(&list)
	return func() {
		t.wakeMu.Lock()
		defer t.wakeMu.Unlock()
		var kept []chan<- struct{}
		if p := t.wakers.Load(); p != nil {
			for _, c := range *p {
				if c != ch {
					kept = append(kept, c)
				}
			}
		}
		t.wakers.Store(&kept)
	}
}

// Read appends to dst the samples of ids (every member if ids is nil) that
// changed after version since, and returns the current version to pass as
// since next time (never 0). since 0 returns every requested sample: a
// snapshot.
// Values of one pass of a rate group are applied together, so a read never
// sees half a pass.
func (t *Tap) Read(since uint64, ids []int32, dst []Sample) ([]Sample, uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pump()
	if ids == nil {
		for _, g := range t.groups {
			if since != 0 && g.ver <= since {
				continue
			}
			for _, id := range g.ids {
				if since == 0 || t.ver[id] > since {
					dst = append(dst, t.store[id])
				}
			}
		}
		return dst, t.version
	}
	for _, id := range ids {
		if id >= 0 && int(id) < len(t.store) && (since == 0 || t.ver[id] > since) {
			dst = append(dst, t.store[id])
		}
	}
	return dst, t.version
}

// Get returns the latest sample of one member.
func (t *Tap) Get(id int32) Sample {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pump()
	return t.store[id]
}

// Deferred counts passes whose changes had to wait in their group's buffer
// because no one had read the earlier ones: a measure of slow consumers.
func (t *Tap) Deferred() uint64 {
	var n uint64
	for _, g := range t.groups {
		n += g.q.Dropped()
	}
	return n
}

// pump applies the batches the groups handed over. t.mu held.
func (t *Tap) pump() {
	for _, g := range t.groups {
		g.q.Drain(func(b *tapBatch) {
			t.version++
			for i := range b.samples {
				s := &b.samples[i]
				d := &t.store[s.id]
				d.Value, d.Stamp, d.Seq, d.Quality, d.Forced = s.v, s.stamp, s.seq, s.q, s.forced
				if s.forced {
					r := &b.reals[s.real]
					d.Real, d.RealQuality = r.v, r.q
				} else {
					d.Real, d.RealQuality = signals.Value{}, signals.Good
				}
				t.ver[s.id] = t.version
			}
			g.ver = t.version
		})
	}
}

// commit hands a pass's changes over, at the end of the pass, on the
// group's goroutine. It never waits and allocates nothing.
func (t *Tap) commit(g *groupTap) {
	if !t.ready.Load() || len(g.pending) == 0 {
		return
	}
	slot, ok := g.q.Reserve()
	if !ok {
		t.kickPump()
		return // counted by the queue; the changes wait, coalesced, for the next pass
	}
	for i := range g.pending {
		t.slotOf[g.pending[i].id] = -1
	}
	slot.samples, g.pending = g.pending, slot.samples[:0]
	slot.reals, g.reals = g.reals, slot.reals[:0]
	g.q.Commit()
	if g.q.Len() >= tapQueue/2 {
		t.kickPump()
	}
	if p := t.wakers.Load(); p != nil {
		for _, ch := range *p {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}

func (t *Tap) kickPump() {
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

// runPump empties the hand-over queues whenever a group finds them half
// full, so that values reach the store even when no consumer reads for a
// while, until done is closed.
func (t *Tap) runPump(done <-chan struct{}) {
	for {
		select {
		case <-t.kick:
			t.mu.Lock()
			t.pump()
			t.mu.Unlock()
		case <-done:
			return
		}
	}
}

// slot returns the pending sample for id, adding it on first use this pass.
func (g *groupTap) slot(t *Tap, id int32) *tapSample {
	if k := t.slotOf[id]; k >= 0 {
		return &g.pending[k]
	}
	g.pending = append(g.pending, tapSample{id: id, real: -1})
	t.slotOf[id] = int32(len(g.pending) - 1)
	return &g.pending[len(g.pending)-1]
}

// setReal records the real value beside a forced sample, once per pending
// sample, so the list never outgrows the group's signals.
func (g *groupTap) setReal(s *tapSample, v signals.Value, q signals.Quality) {
	if s.real < 0 {
		s.real = int32(len(g.reals))
		g.reals = append(g.reals, realSample{id: s.id})
	}
	s.forced = true
	r := &g.reals[s.real]
	r.v, r.q = v, q
}

// observable lists every node that ticks, parents first, rate group
// statistics last.
func (a *App) observable() []*Node {
	out := append([]*Node(nil), a.all...)
	if a.stats != nil {
		out = append(out, a.stats.Children...)
	}
	return out
}
