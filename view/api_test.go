package view_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/metronome-rt/metronome/internal/passwd"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/view"
)

func dial(t testing.TB, r *rig) *view.Client {
	t.Helper()
	c, err := view.Dial(within(t, 10*time.Second), r.srv.Addr(), view.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// await reads frames until one of type typ satisfies ok.
func await[T any](t testing.TB, c *view.Client, typ string, d time.Duration, ok func(*T) bool) *T {
	t.Helper()
	ctx := within(t, d)
	for {
		f, err := c.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for a %s frame: %v", typ, err)
		}
		if f.Type != typ {
			continue
		}
		v := new(T)
		if err := f.Decode(v); err != nil {
			t.Fatalf("bad %s frame %s: %v", typ, f.Raw, err)
		}
		if ok == nil || ok(v) {
			return v
		}
	}
}

func find(vals []view.Value, c *view.Client, path string) *view.Value {
	for i := range vals {
		if vals[i].Path == path || c.PathOf(vals[i].ID) == path {
			return &vals[i]
		}
	}
	return nil
}

func TestHelloStructureSnapshotThenDeltas(t *testing.T) {
	r := startRig(t, runtime.ViewConfig{})
	c := dial(t, r)
	if c.Hello.App != "T" || c.Hello.Writes {
		t.Fatalf("hello %+v", c.Hello)
	}
	var limitComp *view.Component
	for i, comp := range c.Structure.Components {
		if comp.Path == "T.Guard" {
			limitComp = &c.Structure.Components[i]
		}
	}
	if limitComp == nil || len(limitComp.Alarms) == 0 || limitComp.Alarms[1].Name != "High" {
		t.Fatalf("structure lacks T.Guard with its alarm: %+v", limitComp)
	}
	if _, err := c.Send(view.Request{Type: "subscribe", Sub: "a", Paths: []string{"T.Wave.Out", "T.Guard.*"}, MaxRate: 20}); err != nil {
		t.Fatal(err)
	}
	snap := await[view.ValuesFrame](t, c, "snapshot", 5*time.Second, nil)
	spare := find(snap.Values, c, "T.Guard.Spare")
	if spare == nil || string(spare.V) != "null" || spare.Q != "initial" {
		t.Fatalf("a never-written input in the snapshot: %+v; want null and initial", spare)
	}
	if find(snap.Values, c, "T.Wave.Out") == nil || find(snap.Values, c, "T.Guard.Limit") == nil {
		t.Fatalf("snapshot lacks members: %+v", snap.Values)
	}
	// Deltas carry only what changed: the wave, not the parameter.
	var last float64
	changes := 0
	deadline := time.Now().Add(10 * time.Second)
	for changes < 3 && time.Now().Before(deadline) {
		d := await[view.ValuesFrame](t, c, "delta", 5*time.Second, nil)
		if find(d.Values, c, "T.Guard.Limit") != nil {
			t.Fatal("an unchanged parameter came in a delta")
		}
		if w := find(d.Values, c, "T.Wave.Out"); w != nil {
			var f float64
			json.Unmarshal(w.V, &f)
			if w.Q != "good" || w.T == 0 || f == last {
				t.Fatalf("wave delta %+v", w)
			}
			last = f
			changes++
		}
	}
	if changes < 3 {
		t.Fatal("fewer than 3 changes of the wave in 10s")
	}
}

func TestReconnectGetsAFreshSnapshot(t *testing.T) {
	r := startRig(t, runtime.ViewConfig{})
	c := dial(t, r)
	c.Send(view.Request{Type: "subscribe", Sub: "a", Paths: []string{"T.Wave.Out"}})
	await[view.ValuesFrame](t, c, "snapshot", 5*time.Second, nil)
	first := await[view.ValuesFrame](t, c, "delta", 5*time.Second, nil)
	c.Close()
	time.Sleep(200 * time.Millisecond)
	c2 := dial(t, r)
	c2.Send(view.Request{Type: "subscribe", Sub: "a", Paths: []string{"T.Wave.Out"}})
	second := await[view.ValuesFrame](t, c2, "snapshot", 5*time.Second, nil)
	if second.Values[0].S <= first.Values[0].S || second.Values[0].Q != "good" {
		t.Fatalf("second snapshot %+v is not newer than the first %+v", second.Values[0], first.Values[0])
	}
}

func TestStaleInputIsMarkedStale(t *testing.T) {
	r := startRig(t, runtime.ViewConfig{})
	c := dial(t, r)
	c.Send(view.Request{Type: "subscribe", Sub: "h", Paths: []string{"T.Heater.In"}, MaxRate: 20})
	// The setpoint is published once (it does not change), so after
	// max_age the subscribed copy and the input routed from it go stale.
	good, stale := false, false
	ctx := within(t, 15*time.Second)
	for !(good && stale) {
		f, err := c.Next(ctx)
		if err != nil {
			t.Fatalf("good seen %v, stale seen %v: %v", good, stale, err)
		}
		if f.Type != "snapshot" && f.Type != "delta" {
			continue
		}
		var vf view.ValuesFrame
		f.Decode(&vf)
		for _, v := range vf.Values {
			switch v.Q {
			case "good":
				good = true
			case "stale":
				stale = good
				if string(v.V) != "20" {
					t.Fatalf("stale value %s, want the last received 20", v.V)
				}
			}
		}
	}
}

func TestReadOnlyRefusesWrites(t *testing.T) {
	r := startRig(t, runtime.ViewConfig{})
	c := dial(t, r)
	for _, typ := range []string{"set", "force", "ack", "release"} {
		res, err := c.Write(within(t, 5*time.Second), typ, "T.Setpoint.Value", 30)
		if err != nil {
			t.Fatal(err)
		}
		if res.OK || res.Code != "forbidden" {
			t.Fatalf("%s on a read-only view: %+v", typ, res)
		}
	}
	if err := c.Login(within(t, 5*time.Second), "op", testPassword); err == nil {
		t.Fatal("login succeeded with no users configured")
	}
}

func TestWritesNeedLoginAndReportRefusals(t *testing.T) {
	r := startRig(t, writableConfig(t))
	c := dial(t, r)
	ctx := within(t, 20*time.Second)
	res, _ := c.Write(ctx, "set", "T.Setpoint.Value", 30)
	if res == nil || res.OK || res.Code != "unauthenticated" {
		t.Fatalf("set before login: %+v", res)
	}
	if err := c.Login(ctx, "op", "wrong"); err == nil {
		t.Fatal("login with a wrong password succeeded")
	}
	if err := c.Login(ctx, "nobody", testPassword); err == nil {
		t.Fatal("login as an unknown user succeeded")
	}
	if err := c.Login(ctx, "op", testPassword); err != nil {
		t.Fatal(err)
	}
	res, err := c.Write(ctx, "set", "T.Setpoint.Value", 30)
	if err != nil || !res.OK || res.Old != "20" {
		t.Fatalf("set: %+v, %v", res, err)
	}
	// The write's result comes when its tick applied it; the values reach
	// readers when that tick's pass ends, which under load can be later.
	for {
		vals, err := c.Get(ctx, "Setpoint.Value")
		if err != nil {
			t.Fatal(err)
		}
		if len(vals) == 1 && string(vals[0].V) == "30" {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, tc := range []struct {
		path  string
		value any
		code  string
	}{
		{"T.Setpoint.Value", 1000, "out_of_range"},
		{"T.Wave.Frequency", -1, "out_of_range"},
		{"T.Setpoint.Value", "hot", "wrong_type"},
		{"T.Setpoint.Out", 1, "not_writable"},
		{"T.Nothing.Here", 1, "not_found"},
	} {
		res, err := c.Write(ctx, "set", tc.path, tc.value)
		if err != nil || res.OK || res.Code != tc.code || res.Error == "" {
			t.Errorf("set %s = %v: %+v, %v; want %s with a reason", tc.path, tc.value, res, err, tc.code)
		}
	}
	vals, err := c.Get(ctx, "Setpoint.Value") // the application's name may be left out
	if err != nil || len(vals) != 1 || string(vals[0].V) != "30" {
		t.Fatalf("after refused writes the parameter is %+v (%v), want 30", vals, err)
	}
	log := r.log.String()
	if !strings.Contains(log, `"user":"op@127.0.0.1"`) || !strings.Contains(log, `"refused"`) {
		t.Errorf("writes not logged with their user and refusals: %s", log)
	}
}

func TestForceShowsRealValueAndReleaseOverAPI(t *testing.T) {
	r := startRig(t, writableConfig(t))
	c := dial(t, r)
	ctx := within(t, 20*time.Second)
	if err := c.Login(ctx, "op", testPassword); err != nil {
		t.Fatal(err)
	}
	c.Send(view.Request{Type: "subscribe", Sub: "f", Paths: []string{"T.Heater.In", "T.Heater.Out"}, MaxRate: 20})
	await[view.ValuesFrame](t, c, "snapshot", 5*time.Second, nil)
	res, err := c.Write(ctx, "force", "T.Heater.In", 7)
	if err != nil || !res.OK {
		t.Fatalf("force: %+v %v", res, err)
	}
	await[view.ForcesFrame](t, c, "forces", 5*time.Second, func(f *view.ForcesFrame) bool {
		return len(f.Forces) == 1 && f.Forces[0].Path == "T.Heater.In" && f.Forces[0].Value == "7" && f.Forces[0].By == "op@127.0.0.1"
	})
	await[view.ValuesFrame](t, c, "delta", 5*time.Second, func(d *view.ValuesFrame) bool {
		in, out := find(d.Values, c, "T.Heater.In"), find(d.Values, c, "T.Heater.Out")
		return in != nil && in.F && string(in.V) == "7" && string(in.R) == "20" && out != nil && string(out.V) == "14"
	})
	res, err = c.Write(ctx, "release", "*", nil)
	if err != nil || !res.OK || res.Count != 1 {
		t.Fatalf("release all: %+v %v", res, err)
	}
	await[view.ValuesFrame](t, c, "delta", 5*time.Second, func(d *view.ValuesFrame) bool {
		in := find(d.Values, c, "T.Heater.In")
		return in != nil && !in.F && string(in.V) == "20"
	})
	res, _ = c.Write(ctx, "force", "T.Heater.In", "warm")
	if res == nil || res.OK || res.Code != "wrong_type" {
		t.Fatalf("forcing a double to \"warm\": %+v", res)
	}
}

func TestAlarmAckAndEventReplay(t *testing.T) {
	r := startRig(t, writableConfig(t))
	c := dial(t, r)
	ctx := within(t, 20*time.Second)
	if err := c.Login(ctx, "op", testPassword); err != nil {
		t.Fatal(err)
	}
	c.Send(view.Request{Type: "events"})
	if res, err := c.Write(ctx, "set", "T.Guard.Limit", -100); err != nil || !res.OK {
		t.Fatalf("set limit: %+v %v", res, err)
	}
	await[view.EventFrame](t, c, "event", 5*time.Second, func(e *view.EventFrame) bool {
		return e.Kind == "set" && e.Path == "T.Guard.High" && e.Level == "error"
	})
	await[view.AlarmsFrame](t, c, "alarms", 5*time.Second, func(a *view.AlarmsFrame) bool {
		for _, s := range a.Alarms {
			if s.Path == "T.Guard.High" {
				return s.Active && s.Unacked
			}
		}
		return false
	})
	if res, err := c.Write(ctx, "ack", "T.Guard.High", nil); err != nil || !res.OK {
		t.Fatalf("ack: %+v %v", res, err)
	}
	await[view.EventFrame](t, c, "event", 5*time.Second, func(e *view.EventFrame) bool {
		return e.Kind == "acknowledged" && e.Path == "T.Guard.High" && e.By == "op@127.0.0.1"
	})
	// A new client replays the history from the first event.
	c2 := dial(t, r)
	c2.Send(view.Request{Type: "events", Seq: 1})
	kinds := map[string]bool{}
	for !(kinds["written"] && kinds["set"] && kinds["acknowledged"]) {
		e := await[view.EventFrame](t, c2, "event", 5*time.Second, nil)
		if !e.Replay {
			t.Fatalf("replayed event not marked replay: %+v", e)
		}
		kinds[e.Kind] = true
	}
	// Replay from a time after everything so far gives nothing old.
	c3 := dial(t, r)
	c3.Send(view.Request{Type: "events", Since: float64(time.Now().Add(time.Hour).UnixMilli())})
	a := await[view.AlarmsFrame](t, c3, "alarms", 5*time.Second, nil)
	if len(a.Alarms) == 0 {
		t.Fatal("no alarm list after an events request")
	}
}

func TestGarbageFramesAreReportedAndCounted(t *testing.T) {
	r := startRig(t, runtime.ViewConfig{})
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+r.srv.Addr()+"/api", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	for _, junk := range []string{"{{{", `{"type":"explode"}`, `{"type":"subscribe","sub":"x","paths":["No.Such.*"]}`, `{"type":"subscribe"}`, strings.Repeat("x", 100)} {
		ws.WriteMessage(websocket.TextMessage, []byte(junk))
	}
	errs := 0
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for errs < 5 {
		_, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("after %d error frames: %v", errs, err)
		}
		if strings.Contains(string(data), `"type":"error"`) {
			errs++
		}
	}
	// The connection still works.
	ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"get","ref":"g","paths":["T.Wave.Out"]}`))
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), `"type":"values"`) {
			break
		}
	}
	if m := scrape(t, r); !strings.Contains(m, "metronome_viewer_bad_frames_total 3") {
		t.Errorf("bad frames not counted:\n%s", grep(m, "bad_frames"))
	}
	// An oversized frame closes the connection, nothing else.
	ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"get","paths":["`+strings.Repeat("a", 70000)+`"]}`))
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			break
		}
	}
	dial(t, r) // the server still accepts clients
}

func TestForeignOriginIsRefused(t *testing.T) {
	r := startRig(t, writableConfig(t))
	h := http.Header{"Origin": []string{"http://evil.example"}}
	_, resp, err := websocket.DefaultDialer.Dial("ws://"+r.srv.Addr()+"/api", h)
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a page from another site connected: %v %v", err, resp)
	}
}

// A client that stops reading is throttled, then dropped; the ticks go on.
func TestSlowClientIsThrottledThenDropped(t *testing.T) {
	r := startRig(t, runtime.ViewConfig{})
	d := websocket.Dialer{NetDial: func(network, addr string) (net.Conn, error) {
		nd := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048) })
			return serr
		}}
		return nd.Dial(network, addr)
	}}
	ws, _, err := d.Dial("ws://"+r.srv.Addr()+"/api", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	start := time.Now()
	for _, sub := range []string{"a", "b", "c", "d"} {
		ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"subscribe","sub":"`+sub+`","paths":["**"],"max_rate":50}`))
	}
	// Read slowly: a throttle notice arrives among the deltas.
	ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("no throttle notice: %v", err)
		}
		if strings.Contains(string(data), `"type":"throttled"`) && strings.Contains(string(data), `"active":true`) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("throttled after %v", time.Since(start))
	// Stop reading and ask for much more than the socket buffers hold:
	// the server drops the client after its send timeout.
	for i := 0; i < 300; i++ {
		ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"get","paths":["**"]}`))
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(scrape(t, r), "metronome_viewer_dropped_total 1") {
		if time.Now().After(deadline) {
			t.Fatalf("a client that stopped reading was not dropped:\n%s", grep(scrape(t, r), "viewer"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if strings.Contains(scrape(t, r), "metronome_viewer_throttled_total 0") {
		t.Error("throttling not counted")
	}
}

func TestMetricsAndHealth(t *testing.T) {
	r := startRig(t, writableConfig(t))
	c := dial(t, r)
	ctx := within(t, 20*time.Second)
	c.Login(ctx, "op", testPassword)
	if res, err := c.Write(ctx, "force", "T.Heater.In", 1); err != nil || !res.OK {
		t.Fatalf("force: %+v %v", res, err)
	}
	want := []string{
		`metronome_tick_lateness_seconds{group="Default_normal",quantile="0.99"}`,
		`metronome_tick_overruns_total{group="Default_normal"}`,
		`metronome_component_process_seconds{component="T.Wave"}`,
		`metronome_mqtt_connection_up{client="T.Mqtt"} 1`,
		`metronome_mqtt_messages_received_total{client="T.Mqtt"}`,
		`metronome_broker_clients{broker="T.Broker"} 1`,
		`metronome_alarms_active{level="warning"} 1`, // ForcesActive
		`metronome_forces_active 1`,
		`metronome_viewer_clients 1`,
		`metronome_writes_total{result="ok"} 1`,
		`metronome_build_info{application="T",version="test"} 1`,
	}
	deadline := time.Now().Add(15 * time.Second)
	var m string
	for {
		m = scrape(t, r)
		missing := ""
		for _, w := range want {
			if !strings.Contains(m, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics lack %s:\n%s", missing, grep(m, "metronome_"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get("http://" + r.srv.Addr() + p)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", p, err, resp)
		}
		resp.Body.Close()
	}
}

func TestOffLoopbackNeedsTLSOrOptIn(t *testing.T) {
	app, err := runtime.LoadBytes("t.yaml", []byte(testApp(1)), registry(), runtime.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := view.New(app, runtime.ViewConfig{Listen: "0.0.0.0:0"}, view.Options{}); err == nil || !strings.Contains(err.Error(), "tls") {
		t.Fatalf("plain http on all interfaces: %v", err)
	}
	if _, err := view.New(app, runtime.ViewConfig{Listen: "0.0.0.0:0", Insecure: true}, view.Options{}); err != nil {
		t.Fatalf("explicit opt-in refused: %v", err)
	}
	if _, err := view.New(app, runtime.ViewConfig{Writes: true}, view.Options{}); err == nil {
		t.Fatal("writes without users accepted")
	}
}

func scrape(t testing.TB, r *rig) string {
	t.Helper()
	resp, err := http.Get("http://" + r.srv.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// The README's promise: apps/plant.yaml serves a read-only live view on
// this machine.
func TestPlantOpensALoopbackLiveView(t *testing.T) {
	app, err := runtime.Load("../apps/plant.yaml", registry(), runtime.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if app.View == nil || app.View.Addr() != "127.0.0.1:7689" || app.View.Writes {
		t.Fatalf("plant's view: %+v", app.View)
	}
	cfg := *app.View
	cfg.Listen = "127.0.0.1:0" // the test must not depend on 7689 being free
	srv, err := view.New(app, cfg, view.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	resp, err := http.Get(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Metronome live view") || strings.Contains(string(body), "http://") {
		t.Fatalf("page: %d\n%s", resp.StatusCode, body)
	}
	c, err := view.Dial(within(t, 5*time.Second), srv.Addr(), view.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Hello.App != "Plant" || c.Hello.Writes {
		t.Fatalf("hello %+v", c.Hello)
	}
}

func TestDeadbandAndMaxRate(t *testing.T) {
	r := startRig(t, runtime.ViewConfig{})
	c := dial(t, r)
	for { // a change of quality always goes out: start from a good value
		v, err := c.Get(within(t, 5*time.Second), "T.Wave.Out")
		if err != nil {
			t.Fatal(err)
		}
		if v[0].Q == "good" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The wave swings ±10: a dead band of 100 holds every change back.
	c.Send(view.Request{Type: "subscribe", Sub: "db", Paths: []string{"T.Wave.Out"}, MaxRate: 20, Deadband: 100})
	// Without one, at most 2 deltas a second.
	c.Send(view.Request{Type: "subscribe", Sub: "slow", Paths: []string{"T.Wave.Out"}, MaxRate: 2})
	await[view.ValuesFrame](t, c, "snapshot", 5*time.Second, func(f *view.ValuesFrame) bool { return f.Sub == "slow" })
	start := time.Now()
	slow := 0
	ctx := within(t, 10*time.Second)
	for time.Since(start) < 3*time.Second {
		f, err := c.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if f.Type != "delta" {
			continue
		}
		var d view.ValuesFrame
		f.Decode(&d)
		switch d.Sub {
		case "db":
			t.Fatalf("a change within the dead band was sent: %+v", d.Values)
		case "slow":
			slow++
		}
	}
	elapsed := time.Since(start).Seconds()
	if slow == 0 || float64(slow) > elapsed*2+1 {
		t.Fatalf("%d deltas in %.1fs at max_rate 2", slow, elapsed)
	}
	c.Send(view.Request{Type: "subscribe", Sub: "bad", Paths: []string{"T.Wave.Out"}, Deadband: -1})
	await[view.ErrorFrame](t, c, "error", 5*time.Second, nil)
}

// metric returns the value of a metric without labels from /metrics.
func metric(t testing.TB, r *rig, name string) float64 {
	t.Helper()
	for _, l := range strings.Split(scrape(t, r), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == name {
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// A login as a user who does not exist costs a password hash, like a
// wrong password for one who does, so timing does not tell which users
// exist (counted from the metrics, not timed). After repeated failures
// from one address further logins are refused without a hash, the right
// password too, until the backoff has passed.
func TestLoginsCostTheSameAndAreThrottled(t *testing.T) {
	r := startRigWith(t, writableConfig(t), func(o *view.Options) { o.LoginBackoff = time.Minute })
	c := dial(t, r)
	ctx := within(t, 30*time.Second)
	const checks = "metronome_viewer_password_checks_total"
	for _, user := range []string{"nobody", "op"} {
		before := metric(t, r, checks)
		if err := c.Login(ctx, user, "wrong"); err == nil {
			t.Fatalf("login as %s with a wrong password succeeded", user)
		}
		if n := metric(t, r, checks) - before; n != 1 {
			t.Errorf("a failed login as %s ran %v password hashes, want 1", user, n)
		}
	}
	for i := 2; i <= passwd.FreeFailures; i++ {
		c.Login(ctx, "op", "wrong")
	}
	before := metric(t, r, checks)
	if err := c.Login(ctx, "op", testPassword); err == nil {
		t.Fatal("the right password was checked during the backoff after failed logins")
	}
	if n := metric(t, r, checks) - before; n != 0 {
		t.Errorf("a login during the backoff ran %v password hashes", n)
	}
	if n := metric(t, r, "metronome_viewer_logins_throttled_total"); n != 1 {
		t.Errorf("%v logins counted as throttled, want 1", n)
	}
}
