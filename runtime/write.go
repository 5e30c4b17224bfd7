package runtime

import (
	"context"
	"fmt"
	"strings"

	"github.com/metronome-rt/metronome/signals"
)

// WriteCode says why a write from outside was refused, in a form a client
// can act on; WriteError.Msg says it for a person.
type WriteCode string

// Reasons a write is refused.
const (
	NotFound    WriteCode = "not_found"    // no member at that path
	NotWritable WriteCode = "not_writable" // the member cannot be written this way
	WrongType   WriteCode = "wrong_type"   // the value does not convert exactly to the member's type
	OutOfRange  WriteCode = "out_of_range" // outside the parameter's range
	Busy        WriteCode = "busy"         // too many writes wait for the component already
	Timeout     WriteCode = "timeout"      // the component did not tick in time; the write was withdrawn
)

// WriteError is a refused write: which member, why, and what to do.
type WriteError struct {
	Path string
	Code WriteCode
	Msg  string
}

func (e *WriteError) Error() string { return fmt.Sprintf("write %s: %s", e.Path, e.Msg) }

// member resolves a full dotted path (with or without the application's
// name) to the node and the signal, parameter or alarm it names.
func (a *App) member(path string) (*Node, any, error) {
	rel := strings.TrimPrefix(path, a.Name+".")
	i := strings.LastIndexByte(rel, '.')
	if i < 0 {
		if al := a.appAlarm(rel); al != nil {
			return nil, al, nil
		}
		return nil, nil, &WriteError{Path: path, Code: NotFound, Msg: fmt.Sprintf("%q names no signal, parameter or alarm (write App.Component.Member)", path)}
	}
	n, ok := a.Find(rel[:i])
	if !ok {
		return nil, nil, &WriteError{Path: path, Code: NotFound, Msg: fmt.Sprintf("no component %s", rel[:i])}
	}
	m, ok := n.byName[rel[i+1:]]
	if !ok {
		return nil, nil, &WriteError{Path: path, Code: NotFound, Msg: fmt.Sprintf("%s has no signal, parameter or alarm named %q", n.Path, rel[i+1:])}
	}
	if owner := n.aliasOwner(rel[i+1:]); owner != nil {
		n = owner // a member a model instance exposes: its component applies the write
	}
	return n, m, nil
}

// SetParam writes a parameter from any goroutine. The value is checked at
// once (type and range); the write is applied by the component's next tick,
// before its inputs are latched, and SetParam returns the value it replaced
// when that tick has run. If ctx ends first the write is withdrawn and the
// error says so: a write that reports a timeout is never applied later.
// who names the writer in the log.
func (a *App) SetParam(ctx context.Context, path string, v signals.Value, who string) (old signals.Value, err error) {
	defer func() { a.logWrite("set", path, v, old, who, err) }()
	n, m, err := a.member(path)
	if err != nil {
		return old, err
	}
	p, ok := m.(AnyParam)
	if !ok {
		return old, &WriteError{Path: path, Code: NotWritable, Msg: fmt.Sprintf("%s is %s, not a parameter; a signal can be forced", path, whatIs(m))}
	}
	if n.x == nil {
		return old, &WriteError{Path: path, Code: NotWritable, Msg: fmt.Sprintf("%s does not run, so its parameters cannot change", n.Path)}
	}
	if err := p.Check(v); err != nil {
		return old, err
	}
	r := &request{op: opParam, param: p, value: v, who: who}
	if err := a.submit(ctx, n, path, r); err != nil {
		return old, err
	}
	if r.err != nil {
		return old, &WriteError{Path: path, Code: OutOfRange, Msg: r.err.Error()}
	}
	a.evlog.add(Event{Kind: EventWritten, Path: p.Info().Path, Value: v.String(), Old: r.old.String(), By: who})
	return r.old, nil
}

// Ack acknowledges an alarm from any goroutine, through the owner's
// mailbox like a parameter write; the acknowledgement event names who.
func (a *App) Ack(ctx context.Context, path string, who string) (err error) {
	defer func() { a.logWrite("ack", path, signals.Value{}, signals.Value{}, who, err) }()
	n, m, err := a.member(path)
	if err != nil {
		return err
	}
	al, ok := m.(*Alarm)
	if !ok {
		return &WriteError{Path: path, Code: NotWritable, Msg: fmt.Sprintf("%s is %s, not an alarm", path, whatIs(m))}
	}
	if n == nil { // an application-level alarm: not driven by a tick
		a.forces.mu.Lock()
		al.ackBy = who
		al.Ack()
		al.ackBy = ""
		a.forces.mu.Unlock()
		return nil
	}
	if n.x == nil {
		return &WriteError{Path: path, Code: NotWritable, Msg: fmt.Sprintf("%s does not run", n.Path)}
	}
	return a.submit(ctx, n, path, &request{op: opAck, alarm: al, who: who})
}

// AckAll acknowledges every unacknowledged alarm and returns how many it
// acknowledged; the first error stops it.
func (a *App) AckAll(ctx context.Context, who string) (int, error) {
	count := 0
	for _, s := range a.AlarmStates() {
		if !s.Unacked {
			continue
		}
		if err := a.Ack(ctx, s.Path, who); err != nil {
			return count, err
		}
		count++
	}
	return count, nil
}

// submit puts a request in a node's mailbox and waits for its tick.
func (a *App) submit(ctx context.Context, n *Node, path string, r *request) error {
	r.done = make(chan struct{})
	x := n.x
	x.inMu.Lock()
	ok := x.in.Put(r)
	x.inMu.Unlock()
	if !ok {
		return &WriteError{Path: path, Code: Busy, Msg: fmt.Sprintf("%d writes already wait for %s to run; try again", mailboxSize, n.Path)}
	}
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
	}
	if r.state.CompareAndSwap(reqPending, reqCancelled) {
		return &WriteError{Path: path, Code: Timeout, Msg: fmt.Sprintf("%s did not run in time (%v); the write was withdrawn", n.Path, ctx.Err())}
	}
	<-r.done // the tick took it just now
	return nil
}

func (a *App) logWrite(op, path string, v, old signals.Value, who string, err error) {
	if who == "" {
		who = "anonymous"
	}
	e := a.log.Info()
	if err != nil {
		e = a.log.Warn().Str("refused", err.Error())
	}
	e = e.Str("op", op).Str("path", path).Str("user", who)
	if v.Kind() != signals.Invalid {
		e = e.Str("value", v.String())
	}
	if old.Kind() != signals.Invalid {
		e = e.Str("old", old.String())
	}
	e.Msg("write from outside")
}

// convertTo converts v to kind k, refusing conversions that lose something
// a user would notice (2.5 into an int, "abc" into a double).
func convertTo(k signals.Kind, v signals.Value) (signals.Value, bool) {
	var out signals.Value
	var ok bool
	switch k {
	case signals.Bool:
		var b bool
		b, ok = signals.As[bool](v)
		out = signals.BoolValue(b)
	case signals.Int:
		var i int64
		i, ok = signals.As[int64](v)
		out = signals.IntValue(i)
	case signals.Uint:
		var u uint64
		u, ok = signals.As[uint64](v)
		out = signals.UintValue(u)
	case signals.Float:
		var f float64
		f, ok = signals.As[float64](v)
		out = signals.FloatValue(f)
	case signals.String:
		out, ok = signals.StringValue(v.Text()), v.Kind() != signals.Invalid
	}
	return out, ok && exact(v, out)
}
