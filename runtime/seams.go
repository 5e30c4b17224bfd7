package runtime

import (
	"sync"
	"sync/atomic"

	"github.com/metronome-rt/metronome/scheduler"
	"github.com/metronome-rt/metronome/signals"
)

// nodeExt is what reaches a node from outside its tick: a mailbox of
// writes (parameters, acknowledgements, forces) that the node's next Run
// applies before latching its inputs, the forces it applies at the tick
// boundary, and its share of the application's Tap. Everything but the
// mailbox's producer side belongs to the node's rate group.
type nodeExt struct {
	node  *Node
	inMu  sync.Mutex // serialises producers; the tick side takes no lock
	in    *Queue[*request]
	apply func(**request) // x.applyOne, bound once so draining allocates nothing

	forced  []forceSlot // by port index
	nforced int

	tap   *Tap
	group *groupTap
	base  int32    // ID of the node's first member in the tap
	seqs  []uint64 // last observed write counter, ports then parameters
}

// forceSlot is one port's force, owned by the node's rate group.
type forceSlot struct {
	on        bool
	dirty     bool // the forced value changed: write it at the next boundary
	value     signals.Value
	real      signals.Value
	realQ     signals.Quality
	realStamp int64
	lastSeq   uint64 // the port's write counter right after the force wrote it
}

// mailboxSize bounds the writes that may wait for one component's tick.
const mailboxSize = 16

type opKind uint8

const (
	opParam opKind = iota
	opAck
	opForce
	opRelease
)

// Request states: the writer and the tick race to move a pending request
// on, so a write that timed out is never applied afterwards.
const (
	reqPending uint32 = iota
	reqTaken
	reqCancelled
)

// request is one write waiting in a node's mailbox.
type request struct {
	op    opKind
	idx   int // port index (force, release)
	param AnyParam
	alarm *Alarm
	value signals.Value
	who   string
	state atomic.Uint32
	done  chan struct{}
	// Results, written by the tick before done is closed.
	err     error
	old     signals.Value
	changed bool // ack: the alarm was unacknowledged; release: a force was active
}

// attachSeams gives every node that ticks its mailbox, force table and
// share of the tap. It runs once, after the tree is scheduled and before
// anything ticks.
func (a *App) attachSeams() {
	groupOf := map[*scheduler.Member]*scheduler.Group{}
	for _, g := range a.sched.Groups() {
		for _, m := range g.Members() {
			groupOf[m] = g
		}
	}
	for _, n := range a.observable() {
		if n.member == nil || n.comp == nil {
			continue
		}
		x := &nodeExt{node: n, in: NewQueue[*request](mailboxSize), forced: make([]forceSlot, len(n.ports))}
		x.apply = x.applyOne
		n.x = x
	}
	a.tap = newTap(a, groupOf)
	a.forces = newForceTable(a)
}

// applyRequests applies the writes waiting in the mailbox. Tick side.
func (x *nodeExt) applyRequests() { x.in.Drain(x.apply) }

func (x *nodeExt) applyOne(slot **request) {
	r := *slot
	*slot = nil
	if r == nil || !r.state.CompareAndSwap(reqPending, reqTaken) {
		return // the writer gave up waiting
	}
	n := x.node
	switch r.op {
	case opParam:
		r.old = r.param.Value()
		r.err = r.param.SetValue(r.value)
	case opAck:
		a := r.alarm
		r.changed = a.unacked
		a.ackBy = r.who
		a.Ack()
		a.ackBy = ""
	case opForce:
		f, p := &x.forced[r.idx], n.ports[r.idx]
		if !f.on {
			f.on = true
			x.nforced++
			f.real, f.realQ, f.realStamp, f.lastSeq = p.Value(), p.Quality(), p.Stamp(), p.Seq()
		}
		r.old = f.real
		f.value, f.dirty = r.value, true
	case opRelease:
		f, p := &x.forced[r.idx], n.ports[r.idx]
		if f.on {
			r.changed = true
			f.on, f.dirty = false, false
			x.nforced--
			if p.Seq() == f.lastSeq {
				// Nothing wrote the port since the force did: put back the
				// value it would have, so no forced value outlives the force.
				p.SetValue(f.real, f.realQ, f.realStamp)
				n.passOverOps(p)
			}
			r.old = f.value
		}
	}
	close(r.done)
}

// applyForces writes the forced values of the ports of one direction:
// inputs right after they are latched, outputs right after Process, so the
// forced value is what Process and every sink see. A value that the route
// or Process wrote meanwhile is kept as the real value shown beside the
// forced one. Tick side; allocates nothing.
func (x *nodeExt) applyForces(dir signals.Direction) {
	ports := x.node.ports
	for i := range x.forced {
		f := &x.forced[i]
		if !f.on {
			continue
		}
		p := ports[i]
		if p.Info().Dir != dir {
			continue
		}
		seq := p.Seq()
		changed := seq != f.lastSeq
		if changed {
			f.real, f.realQ, f.realStamp = p.Value(), p.Quality(), p.Stamp()
		}
		if changed || f.dirty {
			p.SetValue(f.value, signals.Good, x.node.clock.Now)
			x.node.passOverOps(p)
			f.lastSeq, f.dirty = p.Seq(), false
		}
	}
}

// observe copies the node's members that changed since the last look into
// its group's pending buffer. Tick side; allocates nothing.
func (x *nodeExt) observe() {
	t := x.tap
	if t == nil || t.active.Load() == 0 {
		return
	}
	n, g := x.node, x.group
	for i, p := range n.ports {
		var s *tapSample
		// Doubles, the common case, without interface calls.
		if d, ok := p.(*signals.Signal[float64]); ok {
			seq := d.Seq()
			if seq == x.seqs[i] {
				continue
			}
			x.seqs[i] = seq
			s = g.slot(t, x.base+int32(i))
			s.v, s.q, s.stamp, s.seq = signals.FloatValue(d.Get()), d.Quality(), d.Stamp(), seq
		} else {
			seq := p.Seq()
			if seq == x.seqs[i] {
				continue
			}
			x.seqs[i] = seq
			s = g.slot(t, x.base+int32(i))
			s.v, s.q, s.stamp, s.seq = p.Value(), p.Quality(), p.Stamp(), seq
		}
		if x.nforced > 0 && x.forced[i].on {
			f := &x.forced[i]
			g.setReal(s, f.real, f.realQ)
		} else {
			s.forced = false // its real entry, if any, stays for reuse
		}
	}
	np := len(n.ports)
	for j, p := range n.params {
		seq := p.Seq()
		if seq == x.seqs[np+j] {
			continue
		}
		x.seqs[np+j] = seq
		s := g.slot(t, x.base+int32(np+j))
		s.v, s.q, s.seq = p.Value(), signals.Good, seq
		s.stamp = p.Changed().UnixNano()
	}
}

// Tap returns the application's observation point (nil if the application
// could not be scheduled).
func (a *App) Tap() *Tap { return a.tap }

// passOverOps keeps an input's operators from running over a value the
// force machinery wrote: the forced value, or the real value (already
// transformed) put back on release. Without it the operators would
// transform it again on the next tick and the real value would drift.
func (n *Node) passOverOps(p signals.Port) {
	if p.Info().Dir != signals.Input {
		return
	}
	for _, l := range n.links {
		if ops, ok := l.(inputOps); ok {
			ops.passOver(p)
		}
	}
}
