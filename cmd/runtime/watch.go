package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/metronome-rt/metronome/view"
)

// watchState is what `runtime watch` shows, built from the API's frames:
// the same for the full-screen table and the plain printout.
type watchState struct {
	app     string
	units   map[string]string
	rows    map[int32]*watchRow
	order   []int32
	alarms  []view.AlarmState
	forces  int
	status  *view.StatusFrame
	note    string // the last throttle notice or error
	updated time.Time
}

type watchRow struct {
	path string
	v    view.Value
}

func newWatchState(c *view.Client) *watchState {
	return &watchState{app: c.Hello.App, units: unitsOf(c), rows: map[int32]*watchRow{}}
}

// apply takes one frame into the state; it reports whether the screen changed.
func (w *watchState) apply(c *view.Client, f view.Frame) bool {
	switch f.Type {
	case "snapshot", "delta":
		var vf view.ValuesFrame
		if f.Decode(&vf) != nil {
			return false
		}
		for _, v := range vf.Values {
			r := w.rows[v.ID]
			if r == nil {
				path := v.Path
				if path == "" {
					path = c.PathOf(v.ID)
				}
				r = &watchRow{path: path}
				w.rows[v.ID] = r
				w.order = append(w.order, v.ID)
				sort.Slice(w.order, func(i, j int) bool { return w.rows[w.order[i]].path < w.rows[w.order[j]].path })
			}
			r.v = v
		}
	case "alarms":
		var af view.AlarmsFrame
		if f.Decode(&af) != nil {
			return false
		}
		w.alarms = af.Alarms
	case "forces":
		var ff view.ForcesFrame
		if f.Decode(&ff) != nil {
			return false
		}
		w.forces = len(ff.Forces)
	case "status":
		var sf view.StatusFrame
		if f.Decode(&sf) != nil {
			return false
		}
		w.status = &sf
	case "throttled":
		var t view.Throttled
		if f.Decode(&t) != nil {
			return false
		}
		w.note = "server: " + t.Reason
	case "error":
		var e view.ErrorFrame
		f.Decode(&e)
		w.note = "error: " + e.Error
	default:
		return false
	}
	w.updated = time.Now()
	return true
}

// ANSI styles; the plain printout leaves them out.
const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiYellow = "\x1b[33m"
	ansiRed    = "\x1b[31m"
	ansiMag    = "\x1b[35m"
	ansiDim    = "\x1b[2m"
)

// render draws the state in at most height lines (0: no limit), from row
// offset top of the table.
func (w *watchState) render(width, height, top int, color bool) string {
	style := func(code, s string) string {
		if !color {
			return s
		}
		return code + s + ansiReset
	}
	var b strings.Builder
	head := fmt.Sprintf("%s  %d signals", w.app, len(w.rows))
	if s := w.status; s != nil {
		for _, g := range s.Groups {
			if g.P99 != nil {
				head += fmt.Sprintf("  %s p99 %s", g.Name, fmtSeconds(*g.P99))
			}
			if g.Overruns != nil && *g.Overruns > 0 {
				head += fmt.Sprintf(" overruns %g", *g.Overruns)
			}
		}
		for _, m := range s.MQTT {
			state := "connected"
			if !m.Connected {
				state = style(ansiRed, "DISCONNECTED")
			}
			head += fmt.Sprintf("  %s %s", m.Path, state)
		}
	}
	b.WriteString(style(ansiBold, head) + "\n")
	if w.forces > 0 {
		b.WriteString(style(ansiMag, fmt.Sprintf("FORCES ACTIVE: %d (runtime force --list)", w.forces)) + "\n")
	}
	var active []view.AlarmState
	for _, a := range w.alarms {
		if a.Active || a.Unacked {
			active = append(active, a)
		}
	}
	lines := []string{}
	pathW := 20
	for _, id := range w.order {
		pathW = max(pathW, len(w.rows[id].path))
	}
	lines = append(lines, fmt.Sprintf("%-*s  %-24s %-10s %s", pathW, "PATH", "VALUE", "QUALITY", "AGE"))
	now := time.Now()
	for _, id := range w.order {
		r := w.rows[id]
		q := r.v.Q
		switch q {
		case "good":
		case "stale", "initial":
			q = style(ansiYellow, fmt.Sprintf("%-10s", q))
		default:
			q = style(ansiRed, fmt.Sprintf("%-10s", q))
		}
		if r.v.Q == "good" {
			q = fmt.Sprintf("%-10s", q)
		}
		age := "-"
		if r.v.T > 0 {
			age = fmtSeconds(now.Sub(time.UnixMicro(int64(r.v.T * 1000))).Seconds())
		}
		val := valueText(r.v, w.units[r.path])
		if r.v.F {
			val = style(ansiMag, val)
		}
		lines = append(lines, fmt.Sprintf("%-*s  %-24s %s %s", pathW, r.path, val, q, age))
	}
	alarmLines := []string{}
	if len(active) > 0 {
		alarmLines = append(alarmLines, style(ansiBold, "ALARMS"))
		for _, a := range active {
			state := "active"
			if !a.Active {
				state = "cleared"
			}
			if a.Unacked {
				state += ", unacknowledged"
			}
			code := ansiYellow
			if a.Level == "error" {
				code = ansiRed
			}
			alarmLines = append(alarmLines, style(code, fmt.Sprintf("  %-7s %s: %s (%s)", a.Level, a.Path, a.Text, state)))
		}
	}
	if w.note != "" {
		alarmLines = append(alarmLines, style(ansiDim, w.note))
	}
	if height > 0 {
		room := height - strings.Count(b.String(), "\n") - len(alarmLines) - 1
		if room < 2 {
			room = 2
		}
		body := lines[1:]
		top = max(0, min(top, len(body)-(room-1)))
		if len(body) > room-1 {
			body = body[top : top+room-1]
		}
		lines = append(lines[:1:1], body...)
	}
	for _, l := range append(lines, alarmLines...) {
		if width > 0 && len(l) > width+20 { // leave room for escape codes
			l = l[:width+20]
		}
		b.WriteString(l + "\n")
	}
	return b.String()
}

func fmtSeconds(s float64) string {
	switch {
	case s < 1e-3:
		return fmt.Sprintf("%.0fµs", s*1e6)
	case s < 1:
		return fmt.Sprintf("%.1fms", s*1e3)
	case s < 120:
		return fmt.Sprintf("%.1fs", s)
	}
	return fmt.Sprintf("%.0fm", s/60)
}

// watchCmd runs `runtime watch`.
func watchCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("watch", "watch [--view ADDR] [--rate HZ] [--plain [--count N]] [PATTERN...]", stderr)
	cf := addClientFlags(fs)
	rate := fs.Float64("rate", 4, "table refreshes per second (at most 10)")
	plain := fs.Bool("plain", false, "print the table at each refresh instead of a full-screen view (for logs and pipes)")
	count := fs.Int("count", 0, "with --plain: stop after this many printouts (0: run until interrupted)")
	deadband := fs.Float64("deadband", 0, "do not show numeric changes smaller than this")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if *rate <= 0 || *rate > 10 {
		fmt.Fprintf(stderr, "runtime watch: --rate must be above 0 and at most 10, got %v\n", *rate)
		return 2
	}
	patterns := fs.Args()
	if len(patterns) == 0 {
		patterns = []string{"**"}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dctx, cancel := context.WithTimeout(ctx, *cf.timeout)
	c, err := cf.connect(dctx, false, nil, stderr)
	cancel()
	if err != nil {
		fmt.Fprintln(stderr, "runtime watch:", err)
		return 1
	}
	defer c.Close()
	if _, err := c.Send(view.Request{Type: "subscribe", Sub: "watch", Paths: patterns, MaxRate: *rate, Deadband: *deadband}); err != nil {
		fmt.Fprintln(stderr, "runtime watch:", err)
		return 1
	}
	c.Send(view.Request{Type: "events"})
	w := newWatchState(c)
	if *plain {
		return watchPlain(ctx, c, w, *rate, *count, stdout, stderr)
	}
	frames, errc := readFrames(ctx, c)
	m := &watchModel{c: c, w: w, frames: frames, errc: errc, every: time.Duration(float64(time.Second) / *rate)}
	p := tea.NewProgram(m, tea.WithAltScreen(), tea.WithOutput(stdout), tea.WithFPS(int(max(*rate, 1))), tea.WithContext(ctx))
	if _, err := p.Run(); err != nil && !strings.Contains(err.Error(), "context canceled") {
		fmt.Fprintln(stderr, "runtime watch:", err)
		return 1
	}
	if m.err != nil {
		fmt.Fprintln(stderr, "runtime watch:", m.err)
		return 1
	}
	return 0
}

// readFrames reads the client's frames on a goroutine until ctx ends or the
// connection fails (the error then comes on errc).
func readFrames(ctx context.Context, c *view.Client) (<-chan view.Frame, <-chan error) {
	frames := make(chan view.Frame, 64)
	errc := make(chan error, 1)
	go func() {
		for {
			f, err := c.Next(ctx)
			if err != nil {
				errc <- err
				return
			}
			select {
			case frames <- f:
			case <-ctx.Done():
				return
			}
		}
	}()
	return frames, errc
}

// watchPlain prints the table at the refresh rate, count times.
func watchPlain(ctx context.Context, c *view.Client, w *watchState, rate float64, count int, stdout, stderr io.Writer) int {
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	frames, errc := readFrames(ctx, c)
	printed := 0
	for count == 0 || printed < count {
		select {
		case f := <-frames:
			w.apply(c, f)
		case <-tick.C:
			if len(w.rows) == 0 {
				continue
			}
			fmt.Fprintf(stdout, "--- %s\n%s", time.Now().Format("15:04:05.000"), w.render(0, 0, 0, false))
			printed++
		case err := <-errc:
			if ctx.Err() != nil {
				return 0
			}
			fmt.Fprintln(stderr, "runtime watch:", err)
			return 1
		case <-ctx.Done():
			return 0
		}
	}
	return 0
}

// watchModel is the full-screen view. Frames are applied as they come;
// the screen is redrawn at the refresh rate at most (bubbletea's FPS), so
// a busy application costs the terminal nothing more.
type watchModel struct {
	c      *view.Client
	w      *watchState
	frames <-chan view.Frame
	errc   <-chan error
	every  time.Duration
	width  int
	height int
	top    int
	err    error
}

type frameMsg view.Frame
type errMsg struct{ error }

func (m *watchModel) wait() tea.Cmd {
	return func() tea.Msg {
		select {
		case f := <-m.frames:
			return frameMsg(f)
		case err := <-m.errc:
			return errMsg{err}
		}
	}
}

func (m *watchModel) Init() tea.Cmd { return m.wait() }

func (m *watchModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case frameMsg:
		m.w.apply(m.c, view.Frame(msg))
		return m, m.wait()
	case errMsg:
		m.err = msg.error
		return m, tea.Quit
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
	case tea.KeyMsg:
		switch msg.String() {
		case "q", "ctrl+c", "esc":
			return m, tea.Quit
		case "down", "j":
			m.top++
		case "up", "k":
			m.top = max(0, m.top-1)
		case "pgdown", " ":
			m.top += max(1, m.height-4)
		case "pgup":
			m.top = max(0, m.top-max(1, m.height-4))
		case "home", "g":
			m.top = 0
		}
	}
	return m, nil
}

func (m *watchModel) View() string {
	return m.w.render(m.width, m.height, m.top, true) + "q quits, arrows scroll"
}
