package mqttbroker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// slogHandler routes mochi's log/slog output into the component's zerolog
// logger. mochi logs routine events loudly (a WARN with an empty message
// for every socket that closes before CONNECT, INFO for its own start-up);
// those go to debug, real problems keep their level. Warnings and errors
// are sampled (mochi logs one per bad packet, and clients choose how many
// to send) and strings are clipped (mochi logs client IDs and topics,
// which a client may make 64 kB long).
type slogHandler struct {
	log     zerolog.Logger
	sampled *sampledLog
	attrs   []slog.Attr
	group   string
}

func newSlogHandler(l zerolog.Logger, sampled *sampledLog) *slogHandler {
	return &slogHandler{log: l, sampled: sampled}
}

// Enabled reports whether zerolog would write at the mapped level; mochi
// info records become debug.
func (h *slogHandler) Enabled(_ context.Context, l slog.Level) bool {
	zl := zerolog.DebugLevel
	switch {
	case l >= slog.LevelError:
		zl = zerolog.ErrorLevel
	case l >= slog.LevelWarn:
		zl = zerolog.WarnLevel
	}
	return zl >= h.log.GetLevel() && zl >= zerolog.GlobalLevel()
}

// Handle writes one record.
func (h *slogHandler) Handle(_ context.Context, r slog.Record) error {
	level := zerolog.DebugLevel
	switch {
	case r.Level >= slog.LevelError:
		level = zerolog.ErrorLevel
	case r.Level >= slog.LevelWarn:
		level = zerolog.WarnLevel
	}
	var errAttr error
	collect := func(a slog.Attr) bool {
		if e, ok := a.Value.Any().(error); ok && a.Key == "error" {
			errAttr = e
		}
		return true
	}
	for _, a := range h.attrs {
		collect(a)
	}
	r.Attrs(collect)
	if level == zerolog.WarnLevel && demoted(r.Message, errAttr) {
		level = zerolog.DebugLevel
	}
	msg := r.Message
	if msg == "" {
		msg = "mqtt"
	}
	var ev *zerolog.Event
	if level >= zerolog.WarnLevel && h.sampled != nil && h.log.GetLevel() <= level {
		ev = h.sampled.at(level, msg)
	} else {
		ev = h.log.WithLevel(level)
	}
	if ev == nil {
		return nil
	}
	add := func(a slog.Attr) bool {
		key := a.Key
		if key == "pk" || key == "packet" {
			return true // whole packets are noise in logs (and may hold payloads)
		}
		if h.group != "" {
			key = h.group + "." + key
		}
		switch v := a.Value.Resolve(); v.Kind() {
		case slog.KindString:
			ev.Str(key, clip(v.String()))
		case slog.KindInt64:
			ev.Int64(key, v.Int64())
		case slog.KindBool:
			ev.Bool(key, v.Bool())
		default:
			if e, ok := v.Any().(error); ok {
				ev.Str(key, clipTo(e.Error(), 4*clipLen))
			} else {
				ev.Str(key, clip(v.String()))
			}
		}
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	ev.Str("source", "mochi").Msg(msg)
	return nil
}

// countedWarnings are mochi warnings logged once per dropped message; the
// drops are counted in MessagesDroppedTotal and raise the MessagesDropped
// alarm, so logging each one would only flood the log.
var countedWarnings = map[string]bool{
	"client store quota reached": true,
	"packet ids exhausted":       true,
}

// demoted reports whether a mochi warning is routine and belongs at debug.
func demoted(msg string, err error) bool {
	if countedWarnings[msg] {
		return true
	}
	if err == nil {
		return false
	}
	return quietError(err) || strings.Contains(msg, "processing packet") && routineProcessingError(err)
}

// routineProcessingError reports errors mochi logs while processing a
// packet that are normal protocol outcomes (a denied publish, a client
// that disconnected), not broker faults.
func routineProcessingError(err error) bool {
	s := err.Error()
	return quietError(err) || strings.Contains(s, "not authorized") || strings.Contains(s, "disconnect") || errors.Is(err, errRefused)
}

// WithAttrs returns a handler adding attrs to every record.
func (h *slogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append(append([]slog.Attr(nil), h.attrs...), attrs...)
	return &n
}

// WithGroup returns a handler prefixing keys with the group name.
func (h *slogHandler) WithGroup(name string) slog.Handler {
	n := *h
	if n.group != "" {
		name = n.group + "." + name
	}
	n.group = name
	return &n
}

// logEvery is how often a repeated warning is written: the first time,
// then at most once per interval with the number of repeats not written.
const logEvery = 30 * time.Second

// clipLen is the most a log line carries of a string a client chose (a
// client ID, a username, a topic): enough to recognise it, never a flood.
const clipLen = 64

// clip shortens a client-chosen string for a log line.
func clip(s string) string { return clipTo(s, clipLen) }

// clipTo shortens s to n bytes, saying how long it was.
func clipTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return fmt.Sprintf("%s…(%d bytes)", strings.ToValidUTF8(s[:n], ""), len(s))
}

// sampledLog writes warnings that clients can cause at will (malformed
// packets, failed logins, refused origins) so that a flood of them cannot
// flood the log: each message is written the first time, then at most
// once per interval, carrying the count of the repeats not written
// ("suppressed"); flush writes the counts left when the broker stops.
type sampledLog struct {
	log   zerolog.Logger
	every time.Duration
	now   func() time.Time

	mu   sync.Mutex
	seen map[string]*sample
}

type sample struct {
	next       time.Time // when the message may be written again
	level      zerolog.Level
	suppressed uint64
}

func newSampledLog(l zerolog.Logger, every time.Duration) *sampledLog {
	return &sampledLog{log: l, every: every, now: time.Now, seen: map[string]*sample{}}
}

// maxSampled bounds the messages tracked; beyond it new ones are written
// as they come (their text is the broker's, not a client's, so they are
// few).
const maxSampled = 256

// at returns an event for msg at level if it is to be written now (the
// caller adds fields and calls Msg(msg)), or nil if it is a repeat to
// count only.
func (s *sampledLog) at(level zerolog.Level, msg string) *zerolog.Event {
	now := s.now()
	s.mu.Lock()
	sm := s.seen[msg]
	if sm == nil && len(s.seen) < maxSampled {
		sm = &sample{level: level}
		s.seen[msg] = sm
	}
	var n uint64
	if sm != nil {
		if now.Before(sm.next) {
			sm.suppressed++
			s.mu.Unlock()
			return nil
		}
		n, sm.suppressed, sm.next = sm.suppressed, 0, now.Add(s.every)
	}
	s.mu.Unlock()
	ev := s.log.WithLevel(level)
	if ev != nil && n > 0 {
		ev = ev.Uint64("suppressed", n)
	}
	return ev
}

// warn is at for a warning.
func (s *sampledLog) warn(msg string) *zerolog.Event { return s.at(zerolog.WarnLevel, msg) }

// flush writes, for each message with repeats not yet written, their count.
func (s *sampledLog) flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for msg, sm := range s.seen {
		if sm.suppressed > 0 {
			s.log.WithLevel(sm.level).Uint64("suppressed", sm.suppressed).Msg(msg)
			sm.suppressed = 0
		}
	}
}
