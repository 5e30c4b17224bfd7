package system

import (
	"sync/atomic"

	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// Link states as the runner reports them; unknown until the runner runs
// (in `runtime validate`, or a test without the link, the System
// component's outputs stay Initial and its alarms clear).
const (
	stUnknown int32 = iota
	stUp
	stDown
)

// state is what the runner (network goroutines) tells the System
// component (its tick): atomics and immutable strings only, so neither
// side waits and the tick allocates nothing.
type state struct {
	connected atomic.Int32
	peers     []peerState
	writes    []writeState
}

type peerState struct {
	name   string
	online atomic.Int32
	// mismatch says why some routed values from the peer cannot be used
	// (a metric missing from its birth, another type); nil: none.
	mismatch atomic.Pointer[string]
}

type writeState struct {
	result atomic.Pointer[writeOutcome]
}

// writeOutcome is one write's last result.
type writeOutcome struct {
	text   string
	failed bool
}

// component is the System component: the link's state on the tick.
type component struct {
	st        *state
	connected *signals.Signal[bool]
	disc      *runtime.Alarm
	peers     []peerMembers
	writes    []writeMembers
	lastConn  int32
}

type peerMembers struct {
	online            *signals.Signal[bool]
	offline, mismatch *runtime.Alarm
	last              int32
	lastWhy           *string
}

type writeMembers struct {
	result *signals.Signal[string]
	failed *runtime.Alarm
	last   *writeOutcome
}

var componentType = runtime.Define(runtime.Spec[Config]{
	Name:    "System",
	Summary: "the state of the application's link to its system of runtimes (added by the system: section)",
	Doc: `Added at the top level of an application with a system: section, under
the reserved name System. Connected says whether the link is connected to
the broker; per peer application P, P_Online says whether P is online (has
announced itself with a Sparkplug birth), the alarm P_Offline is raised
when it has been offline for alarm_delay, and the alarm P_Mismatch while a
route from P cannot be used (P does not announce the source, or announces
another type). Per write W, W_Result is its last result and the alarm
W_Failed is raised while it is refused or unanswered.`,
	Defaults: func() Config { return *defaults() },
	Build:    buildComponent,
})

func buildComponent(b *runtime.Builder, c *Config) (runtime.Component, error) {
	comp := &component{st: &state{peers: make([]peerState, len(c.Peers)), writes: make([]writeState, len(c.Writes))}}
	comp.connected = runtime.Output[bool](b, "Connected", runtime.Desc("the link to the system's broker is up"))
	comp.disc = b.Alarm("Disconnected", runtime.Error, "the link to the system's broker is down", runtime.Delay(c.AlarmDelay))
	for i, p := range c.Peers {
		comp.st.peers[i].name = p
		comp.peers = append(comp.peers, peerMembers{
			online:   runtime.Output[bool](b, p+"_Online", runtime.Desc(p+" is online: it has announced itself (Sparkplug birth) and not died since")),
			offline:  b.Alarm(p+"_Offline", runtime.Warning, p+" is offline: its values are comm lost", runtime.Delay(c.AlarmDelay)),
			mismatch: b.Alarm(p+"_Mismatch", runtime.Error, "a route from "+p+" cannot be used"),
		})
	}
	for _, w := range c.Writes {
		n := w.name()
		comp.writes = append(comp.writes, writeMembers{
			result: runtime.Output[string](b, n+"_Result", runtime.Desc("the last result of writing "+w.To)),
			failed: b.Alarm(n+"_Failed", runtime.Warning, "writing "+w.To+" failed"),
		})
	}
	return comp, nil
}

// Process shows the runner's state. It reads atomics only and allocates
// nothing; outputs are written when they change.
func (c *component) Process(runtime.Tick) {
	st := c.st
	conn := st.connected.Load()
	if conn == stUnknown {
		return
	}
	if conn != c.lastConn {
		c.lastConn = conn
		c.connected.Set(conn == stUp)
	}
	c.disc.Update(conn == stDown)
	for i := range c.peers {
		m, s := &c.peers[i], &st.peers[i]
		on := s.online.Load()
		if on != m.last {
			m.last = on
			m.online.Set(on == stUp)
		}
		m.offline.Update(on != stUp)
		if why := s.mismatch.Load(); why != m.lastWhy {
			m.lastWhy = why
			if why == nil {
				m.mismatch.Clear()
			} else {
				m.mismatch.SetText(*why)
			}
		}
	}
	for i := range c.writes {
		m := &c.writes[i]
		r := st.writes[i].result.Load()
		if r == nil || r == m.last {
			continue
		}
		m.last = r
		m.result.Set(r.text)
		if r.failed {
			m.failed.SetText(r.text)
		} else {
			m.failed.Clear()
		}
	}
}
