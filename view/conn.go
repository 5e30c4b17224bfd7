package view

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/gorilla/websocket"

	"github.com/metronome-rt/metronome/internal/passwd"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// Limits that keep one client from costing the server without bound.
const (
	maxFrame       = 64 << 10 // bytes of one client frame
	maxSubs        = 16       // subscriptions per connection
	maxOps         = 8        // writes and logins in flight per connection
	defaultRate    = 10.0     // deltas per second when a subscription names none
	maxRate        = 50.0     // deltas per second at most
	minRate        = 0.1
	flushEvery     = 10 * time.Millisecond // how often due subscriptions are looked at
	statusEvery    = time.Second
	pingEvery      = 20 * time.Second
	readTimeout    = 60 * time.Second // a client silent for this long (no pong) is gone
	maxThrottledTo = 5 * time.Second  // the slowest a throttled subscription is sent
)

// conn is one WebSocket client. One goroutine (run) owns everything and
// does all the writing; another reads frames; writes and logins run on
// goroutines of their own and hand their results back.
type conn struct {
	s       *Server
	ws      *websocket.Conn
	remote  string
	user    string
	in      chan Request
	results chan any
	ops     chan struct{}
	quit    chan struct{}
	subs    map[string]*sub
	evWake  chan struct{}
	evOn    bool
	evNext  uint64
	evBuf   []runtime.Event
	buf     []byte
	err     error
}

// sub is one subscription: its members, its rate and dead band, and what
// was last sent of each member.
type sub struct {
	name     string
	ids      []int32
	ver      uint64
	interval time.Duration // asked for
	eff      time.Duration // sent at: longer while throttled
	next     time.Time
	deadband float64
	last     map[int32]lastSent
	throttle bool
	skipped  uint64
	samples  []runtime.Sample
}

type lastSent struct {
	f      float64
	num    bool
	q      signals.Quality
	forced bool
	rq     signals.Quality
	real   signals.Value
}

// loginDone carries a login's outcome back to the connection's goroutine.
type loginDone struct {
	ref, user string
	err       error
	code      string
}

func newConn(s *Server, ws *websocket.Conn, remote string) *conn {
	return &conn{s: s, ws: ws, remote: remote, in: make(chan Request, 16), results: make(chan any, 16),
		ops: make(chan struct{}, maxOps), quit: make(chan struct{}), subs: map[string]*sub{}, evWake: make(chan struct{}, 1)}
}

func (c *conn) run() {
	defer c.ws.Close()
	defer close(c.quit)
	defer c.s.app.Tap().Attach()()
	c.ws.SetReadLimit(maxFrame)
	c.ws.SetReadDeadline(time.Now().Add(readTimeout))
	c.ws.SetPongHandler(func(string) error { return c.ws.SetReadDeadline(time.Now().Add(readTimeout)) })
	go c.readLoop()
	app := c.s.app
	c.sendJSON(&Hello{Type: "hello", App: app.Name, Description: app.Description, Version: c.s.opts.Version,
		Writes: c.s.cfg.Writes, AuthRequired: c.s.cfg.Writes, ServerTime: timeMs(time.Now())})
	c.sendJSON(c.s.st)
	_, c.evNext, _ = app.Events(^uint64(0), nil)
	defer app.WakeEvents(c.evWake)()
	c.sendForces()
	flush := time.NewTicker(flushEvery)
	defer flush.Stop()
	status := time.NewTicker(statusEvery)
	defer status.Stop()
	ping := time.NewTicker(pingEvery)
	defer ping.Stop()
	c.sendJSON(c.s.status())
	for c.err == nil {
		select {
		case r, ok := <-c.in:
			if !ok {
				return
			}
			c.handle(r)
		case res := <-c.results:
			c.result(res)
		case <-c.evWake:
			c.sendEvents()
		case now := <-flush.C:
			c.flush(now)
		case <-status.C:
			c.sendJSON(c.s.status())
		case <-ping.C:
			c.ws.SetWriteDeadline(time.Now().Add(c.s.opts.SendTimeout))
			if err := c.ws.WriteMessage(websocket.PingMessage, nil); err != nil {
				c.fail(err)
			}
		case <-c.s.done:
			return
		}
	}
	c.s.log.Debug().Str("remote", c.remote).Err(c.err).Msg("live view client gone")
}

func (c *conn) readLoop() {
	defer close(c.in)
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		c.ws.SetReadDeadline(time.Now().Add(readTimeout))
		var r Request
		if err := json.Unmarshal(data, &r); err != nil {
			c.s.badFrames.Add(1)
			r = Request{Type: "_bad", Path: fmt.Sprintf("frame is not a JSON request: %v", err)}
		}
		select {
		case c.in <- r:
		case <-c.quit:
			return
		}
	}
}

// fail ends the connection after a send error, counting clients dropped
// because they did not read in time.
func (c *conn) fail(err error) {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.s.dropped.Add(1)
		c.s.log.Warn().Str("remote", c.remote).Dur("send_timeout", c.s.opts.SendTimeout).Msg("live view client dropped: it did not read")
	}
	c.err = err
}

func (c *conn) send(data []byte) {
	if c.err != nil {
		return
	}
	c.ws.SetWriteDeadline(time.Now().Add(c.s.opts.SendTimeout))
	if err := c.ws.WriteMessage(websocket.TextMessage, data); err != nil {
		c.fail(err)
	}
}

func (c *conn) sendJSON(v any) {
	data, err := json.Marshal(v)
	if err != nil {
		c.s.log.Error().Err(err).Msg("live view: encode frame")
		return
	}
	c.send(data)
}

func (c *conn) errorFrame(ref, format string, args ...any) {
	c.sendJSON(&ErrorFrame{Type: "error", Ref: ref, Error: fmt.Sprintf(format, args...)})
}

func (c *conn) handle(r Request) {
	switch r.Type {
	case "_bad":
		c.errorFrame("", "%s", r.Path)
	case "subscribe":
		c.subscribe(r)
	case "unsubscribe":
		delete(c.subs, r.Sub)
	case "get":
		ids, bad := c.match(r.Paths)
		if bad != "" {
			c.errorFrame(r.Ref, "%s", bad)
			return
		}
		samples, _ := c.s.app.Tap().Read(0, ids, nil)
		c.sendValues("values", "", r.Ref, samples, true)
	case "events":
		c.events(r)
	case "alarms":
		c.sendAlarms()
	case "forces":
		c.sendForces()
	case "login":
		c.login(r)
	case "set", "ack", "force", "release":
		c.write(r)
	default:
		c.s.badFrames.Add(1)
		c.errorFrame(r.Ref, "unknown request type %q (want subscribe, unsubscribe, get, events, alarms, forces, login, set, ack, force, release)", r.Type)
	}
}

// match resolves path patterns to tap IDs; bad names the first that
// matched nothing.
func (c *conn) match(patterns []string) (ids []int32, bad string) {
	if len(patterns) == 0 {
		return nil, "no paths given"
	}
	tap := c.s.app.Tap()
	seen := map[int32]bool{}
	for _, p := range patterns {
		m := tap.Match(p)
		if len(m) == 0 { // a path may leave out the application's name
			m = tap.Match(c.s.app.Name + "." + p)
		}
		if len(m) == 0 {
			return nil, fmt.Sprintf("no signal or parameter matches %q", p)
		}
		for _, id := range m {
			if !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
	}
	return ids, ""
}

func (c *conn) subscribe(r Request) {
	if r.Sub == "" {
		c.errorFrame(r.Ref, "subscribe needs a name in sub")
		return
	}
	if _, ok := c.subs[r.Sub]; !ok && len(c.subs) >= maxSubs {
		c.errorFrame(r.Ref, "at most %d subscriptions per connection", maxSubs)
		return
	}
	ids, bad := c.match(r.Paths)
	if bad != "" {
		c.errorFrame(r.Ref, "%s", bad)
		return
	}
	rate := r.MaxRate
	if rate == 0 {
		rate = defaultRate
	}
	rate = min(max(rate, minRate), maxRate)
	if r.Deadband < 0 {
		c.errorFrame(r.Ref, "deadband must not be negative, got %v", r.Deadband)
		return
	}
	iv := time.Duration(float64(time.Second) / rate)
	s := &sub{name: r.Sub, ids: ids, interval: iv, eff: iv, next: time.Now().Add(iv), deadband: r.Deadband, last: make(map[int32]lastSent, len(ids))}
	c.subs[r.Sub] = s
	samples, ver := c.s.app.Tap().Read(0, ids, nil)
	s.ver = ver
	for i := range samples {
		s.remember(&samples[i])
	}
	c.sendValues("snapshot", s.name, r.Ref, samples, true)
}

func (s *sub) remember(x *runtime.Sample) {
	f, ok := x.Value.Float()
	s.last[x.ID] = lastSent{f: f, num: ok && x.Value.Kind() != signals.String, q: x.Quality, forced: x.Forced, rq: x.RealQuality, real: x.Real}
}

// changed applies the dead band: a numeric value is resent only when it
// moved by more than the dead band, or when its quality or force changed.
func (s *sub) changed(x *runtime.Sample) bool {
	l, ok := s.last[x.ID]
	if !ok || s.deadband == 0 || !l.num || l.q != x.Quality || l.forced != x.Forced {
		return true
	}
	if x.Forced && (l.rq != x.RealQuality || !l.real.Equal(x.Real)) {
		return true
	}
	f, _ := x.Value.Float()
	d := f - l.f
	return d > s.deadband || d < -s.deadband || f != f
}

// flush sends the deltas of every subscription that is due. A client that
// takes longer to accept a delta than its interval is throttled: its
// deltas are spaced further apart, coalescing values in the Tap (never in
// a queue here), and it is told; when it keeps up again the rate goes back.
func (c *conn) flush(now time.Time) {
	tap := c.s.app.Tap()
	for _, s := range c.subs {
		if now.Before(s.next) || c.err != nil {
			continue
		}
		var ver uint64
		s.samples, ver = tap.Read(s.ver, s.ids, s.samples[:0])
		s.ver = ver
		out := s.samples[:0]
		for i := range s.samples {
			x := &s.samples[i]
			if s.changed(x) {
				s.remember(x)
				out = append(out, *x)
			}
		}
		start := time.Now()
		if len(out) > 0 {
			c.sendValues("delta", s.name, "", out, false)
		}
		took := time.Since(start)
		late := now.Sub(s.next)
		slow := took > s.interval/2 || late > s.interval
		switch {
		case slow:
			s.eff = min(s.eff*2, maxThrottledTo)
			if !s.throttle {
				s.throttle = true
				c.s.throttled.Add(1)
				c.notifyThrottle(s, fmt.Sprintf("the client took %v to accept a delta; values are coalesced", took.Round(time.Millisecond)))
			}
		case s.throttle && took < s.interval/8:
			s.eff /= 2
			if s.eff <= s.interval {
				s.eff, s.throttle = s.interval, false
				c.notifyThrottle(s, "the client keeps up again")
			}
		}
		if s.eff > s.interval {
			n := uint64(s.eff/s.interval) - 1
			s.skipped += n
			c.s.skipped.Add(n)
		}
		s.next = time.Now().Add(s.eff)
	}
}

func (c *conn) notifyThrottle(s *sub, reason string) {
	c.sendJSON(&Throttled{Type: "throttled", Sub: s.name, Active: s.throttle, Rate: float64(time.Second) / float64(s.eff),
		Skipped: s.skipped, Reason: reason, Requests: float64(time.Second) / float64(s.interval)})
}

// sendValues encodes a values frame by hand: deltas are the bulk of the
// traffic, and this keeps their cost to one buffer reused.
func (c *conn) sendValues(typ, subName, ref string, samples []runtime.Sample, withPath bool) {
	entries := c.s.app.Tap().Entries()
	b := append(c.buf[:0], `{"type":"`...)
	b = append(b, typ...)
	b = append(b, '"')
	if subName != "" {
		b = append(b, `,"sub":`...)
		b = appendString(b, subName)
	}
	if ref != "" {
		b = append(b, `,"ref":`...)
		b = appendString(b, ref)
	}
	b = append(b, `,"values":[`...)
	for i := range samples {
		if i > 0 {
			b = append(b, ',')
		}
		path := ""
		if withPath {
			path = entries[samples[i].ID].Path
		}
		b = appendSample(b, &samples[i], path)
	}
	b = append(b, "]}"...)
	c.buf = b
	c.send(b)
}

func (c *conn) events(r Request) {
	app := c.s.app
	from := c.evNext
	switch {
	case r.Seq > 0:
		from = r.Seq
	case r.Since > 0:
		from = app.EventSeqAt(time.UnixMilli(int64(r.Since)))
	}
	c.evOn = true
	c.evNext = from
	c.sendEventsFrom(true)
	c.sendAlarms()
}

func (c *conn) sendEvents() { c.sendEventsFrom(false) }

func (c *conn) sendEventsFrom(replay bool) {
	evs, next, lost := c.s.app.Events(c.evNext, c.evBuf[:0])
	c.evBuf = evs
	c.evNext = next
	if lost > 0 && c.evOn {
		c.sendJSON(map[string]any{"type": "events_lost", "count": lost})
	}
	alarms, forces := false, false
	for i := range evs {
		e := &evs[i]
		switch e.Kind {
		case runtime.EventForced, runtime.EventReleased:
			forces = true
		case runtime.EventSet, runtime.EventCleared, runtime.EventAcked:
			alarms = true
		}
		if !c.evOn {
			continue // not asked for: the force list is sent all the same
		}
		c.sendJSON(&EventFrame{Type: "event", Seq: e.Seq, Time: timeMs(e.Time), Kind: string(e.Kind), Path: e.Path, Level: e.Level, Text: e.Text,
			Active: e.Active, Acked: e.Acked, By: e.By, Value: e.Value, Old: e.Old, Replay: replay})
	}
	if c.evOn && !replay && alarms {
		c.sendAlarms()
	}
	if forces {
		c.sendForces()
	}
}

func (c *conn) sendAlarms() {
	f := &AlarmsFrame{Type: "alarms", Alarms: []AlarmState{}}
	for _, a := range c.s.app.AlarmStates() {
		f.Alarms = append(f.Alarms, AlarmState{Path: a.Path, Level: a.Level.String(), Text: a.Text, Active: a.Active, Unacked: a.Unacked, Since: timeMs(a.Since)})
	}
	c.sendJSON(f)
}

func (c *conn) sendForces() {
	f := &ForcesFrame{Type: "forces", Forces: []Force{}}
	for _, x := range c.s.app.Forces() {
		f.Forces = append(f.Forces, Force{Path: x.Path, Dir: x.Dir.String(), Value: x.Value.Text(), By: x.By, Since: timeMs(x.Since)})
	}
	c.sendJSON(f)
}

// post hands a result from a worker goroutine to the connection's.
func (c *conn) post(v any) {
	select {
	case c.results <- v:
	case <-c.quit:
	}
}

// startOp reserves a slot for a write or login; false (answered) when the
// client already has maxOps in flight.
func (c *conn) startOp(r Request) bool {
	select {
	case c.ops <- struct{}{}:
		return true
	default:
		c.sendJSON(&WriteResult{Type: "write_result", Ref: r.Ref, Code: string(runtime.Busy), Error: fmt.Sprintf("%d requests in flight already; wait for their results", maxOps)})
		return false
	}
}

func (c *conn) login(r Request) {
	if c.s.guard == nil {
		c.sendJSON(&WriteResult{Type: "login_result", Ref: r.Ref, Code: "forbidden", Error: "no users are configured (view: users)"})
		return
	}
	if !c.startOp(r) {
		return
	}
	go func() {
		defer func() { <-c.ops }()
		res := loginDone{ref: r.Ref, user: r.User}
		switch c.s.guard.Login(c.remote, r.User, []byte(r.Password)) {
		case passwd.Accepted:
		case passwd.Refused:
			c.s.loginFails.Add(1)
			c.s.log.Warn().Str("user", r.User).Str("remote", c.remote).Msg("live view: failed login")
			res.err, res.code = errors.New("wrong user or password"), "unauthenticated"
		case passwd.Throttled:
			c.s.loginsThrottled.Add(1)
			c.s.log.Warn().Str("user", r.User).Str("remote", c.remote).Msg("live view: login refused unchecked after failed logins")
			res.err, res.code = errors.New("too many failed logins from this address or for this user: try again later"), "throttled"
		default:
			c.s.loginsThrottled.Add(1)
			res.err, res.code = errors.New("too many logins wait for a password check: try again"), string(runtime.Busy)
		}
		c.post(res)
	}()
}

func (c *conn) result(v any) {
	switch r := v.(type) {
	case loginDone:
		if r.err != nil {
			c.sendJSON(&WriteResult{Type: "login_result", Ref: r.ref, Code: r.code, Error: r.err.Error()})
			return
		}
		c.user = r.user
		c.s.log.Info().Str("user", r.user).Str("remote", c.remote).Msg("live view: login")
		c.sendJSON(&WriteResult{Type: "login_result", Ref: r.ref, OK: true, User: r.user})
	case *WriteResult:
		if r.OK {
			c.s.writes.Add(1)
		} else {
			c.s.refused.Add(1)
		}
		c.sendJSON(r)
	}
}

// write runs a set, ack, force or release for an authenticated user.
func (c *conn) write(r Request) {
	refuse := func(code, format string, args ...any) {
		c.s.refused.Add(1)
		c.sendJSON(&WriteResult{Type: "write_result", Ref: r.Ref, Code: code, Error: fmt.Sprintf(format, args...)})
	}
	if !c.s.cfg.Writes {
		refuse("forbidden", "writes are disabled: this live view is read-only (view: writes: true enables them)")
		return
	}
	if c.user == "" {
		refuse("unauthenticated", "log in before you %s", r.Type)
		return
	}
	if r.Path == "" {
		refuse("bad_request", "%s needs a path", r.Type)
		return
	}
	var v signals.Value
	if r.Type == "set" || r.Type == "force" {
		var err error
		if v, err = parseValue(r.Value); err != nil {
			refuse(string(runtime.WrongType), "%s %s: %v", r.Type, r.Path, err)
			return
		}
	}
	if !c.startOp(r) {
		return
	}
	who := c.user + "@" + hostOf(c.remote)
	app := c.s.app
	go func() {
		defer func() { <-c.ops }()
		ctx, cancel := context.WithTimeout(context.Background(), c.s.opts.WriteTimeout)
		defer cancel()
		res := &WriteResult{Type: "write_result", Ref: r.Ref}
		var err error
		switch {
		case r.Type == "set":
			var old signals.Value
			old, err = app.SetParam(ctx, r.Path, v, who)
			res.Old = old.Text()
		case r.Type == "ack" && r.Path == "*":
			res.Count, err = app.AckAll(ctx, who)
		case r.Type == "ack":
			err = app.Ack(ctx, r.Path, who)
		case r.Type == "force":
			err = app.Force(ctx, r.Path, v, who)
		case r.Type == "release" && r.Path == "*":
			res.Count, err = app.ReleaseAll(ctx, who)
		case r.Type == "release":
			err = app.Release(ctx, r.Path, who)
		}
		res.OK = err == nil
		if err != nil {
			res.Error = err.Error()
			var we *runtime.WriteError
			if errors.As(err, &we) {
				res.Code, res.Error = string(we.Code), we.Msg
			}
		}
		c.post(res)
	}()
}
