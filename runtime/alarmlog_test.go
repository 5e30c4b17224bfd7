package runtime_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// TestAlarmLogLevels is issue 9 item 8: an alarm's line has one level, the
// log's: a raised error alarm at error, a raised warning at warn, a clear
// at info; the alarm's own level is a separate key.
func TestAlarmLogLevels(t *testing.T) {
	var buf bytes.Buffer // written by the alarm log goroutine, read after Stop waited for it
	app := load(t, `
application: T
fs: 100
overrun: {alarm_after: 2}
components:
  - {name: E, type: Spend, group: A, alarms: {Overrun: {level: error}}}
  - {name: W, type: Spend, group: B}
`, runtime.LoadOptions{Log: zerolog.New(&buf)})
	spendClock = app.Scheduler().Virtual()
	if err := app.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"E", "W"} {
		n, _ := app.Find(name)
		p, _ := n.Param("Spend")
		p.SetValue(signals.FloatValue(0.015))
	}
	app.Advance(100 * time.Millisecond)
	for _, name := range []string{"E", "W"} {
		n, _ := app.Find(name)
		p, _ := n.Param("Spend")
		p.SetValue(signals.FloatValue(0))
	}
	app.Advance(100 * time.Millisecond)
	if err := app.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"T.E.Overrun set": "error", "T.E.Overrun cleared": "info", "T.W.Overrun set": "warn", "T.W.Overrun cleared": "info"}
	got := map[string]string{}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	for _, l := range lines {
		if strings.Count(l, `"level":`) != 1 {
			t.Errorf("a line with %d level keys: %s", strings.Count(l, `"level":`), l)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		if a, ok := m["alarm"].(string); ok {
			got[a+" "+m["event"].(string)] = m["level"].(string)
		}
	}
	for k, lv := range want {
		if got[k] != lv {
			t.Errorf("%s logged at %q, want %q (all: %v)", k, got[k], lv, got)
		}
	}
}
