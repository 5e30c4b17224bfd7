package system

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/metronome-rt/metronome/internal/mqttconn"
	"github.com/metronome-rt/metronome/link"
	"github.com/metronome-rt/metronome/signals"
)

// Set writes one parameter of an application in system group from
// outside the system, as `runtime set --system` does: a short-lived
// Sparkplug host connects with transport t (its client ID is made unique
// when empty), waits for the application's birth, reads the parameter's
// type there, parses text as that type (never converting across types),
// sends the write (NCMD) and waits for the application's answer. path is
// App.Component.Parameter. It returns the value written; a refusal is a
// *link.WriteRefused with the application's reason; no answer before ctx
// ends is link.ErrWriteTimeout.
func Set(ctx context.Context, t mqttconn.Options, group, path, text string) (signals.Value, error) {
	app, rel, ok := strings.Cut(path, ".")
	if !ok || !strings.Contains(rel, ".") {
		return signals.Value{}, fmt.Errorf("path %q: want Application.Component.Parameter", path)
	}
	if t.ClientID == "" {
		b := make([]byte, 4)
		rand.Read(b)
		t.ClientID = "metronome-set-" + hex.EncodeToString(b)
	}
	online := make(chan struct{})
	h, err := link.NewHost(link.HostConfig{Group: group, Follow: []string{app}, OnlyFollowed: true, Transport: t,
		OnNode: func(node string, on bool) {
			if on && node == app {
				select {
				case <-online:
				default:
					close(online)
				}
			}
		}})
	if err != nil {
		return signals.Value{}, err
	}
	if err := h.Start(context.WithoutCancel(ctx)); err != nil {
		return signals.Value{}, err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		h.Stop(sctx)
	}()
	select {
	case <-online:
	case <-ctx.Done():
		if !h.Conn().Connected() {
			return signals.Value{}, fmt.Errorf("no connection to the broker %s: %w", strings.Join(t.Servers, ", "), ctx.Err())
		}
		return signals.Value{}, fmt.Errorf("%s is not online in system %s (no Sparkplug birth): %w", app, group, link.ErrNodeOffline)
	}
	metric := MetricName(rel)
	infos, _ := h.Metrics(app)
	kind := signals.Invalid
	found := false
	for _, m := range infos {
		if m.Name == metric {
			kind, found = m.Kind, true
			if !m.Writable {
				return signals.Value{}, &link.WriteRefused{Node: app, Metric: metric, Reason: "not writable: " + app + " exports it read-only"}
			}
		}
	}
	if !found {
		return signals.Value{}, &link.WriteRefused{Node: app, Metric: metric, Reason: app + " exports no " + rel}
	}
	v, err := signals.ParseValue(kind, text)
	if err != nil {
		return signals.Value{}, &link.WriteRefused{Node: app, Metric: metric, Reason: err.Error()}
	}
	return v, h.Write(ctx, app, metric, v)
}
