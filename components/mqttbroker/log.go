package mqttbroker

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/rs/zerolog"
)

// slogHandler routes mochi's log/slog output into the component's zerolog
// logger. mochi logs routine events loudly (a WARN with an empty message
// for every socket that closes before CONNECT, INFO for its own start-up);
// those go to debug, real problems keep their level.
type slogHandler struct {
	log   zerolog.Logger
	attrs []slog.Attr
	group string
}

func newSlogHandler(l zerolog.Logger) *slogHandler { return &slogHandler{log: l} }

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
	ev := h.log.WithLevel(level)
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
			ev.Str(key, v.String())
		case slog.KindInt64:
			ev.Int64(key, v.Int64())
		case slog.KindBool:
			ev.Bool(key, v.Bool())
		default:
			if e, ok := v.Any().(error); ok {
				ev.AnErr(key, e)
			} else {
				ev.Str(key, v.String())
			}
		}
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	msg := r.Message
	if msg == "" {
		msg = "mqtt"
	}
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
