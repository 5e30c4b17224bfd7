package link_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/metronome-rt/metronome/internal/mqttconn"
	"github.com/metronome-rt/metronome/internal/mqtttest"
	"github.com/metronome-rt/metronome/link"
	"github.com/metronome-rt/metronome/link/sparkplug"
	"github.com/metronome-rt/metronome/signals"
)

// tahuDir returns the directory with Eclipse Tahu's npm packages installed
// (`npm ci` in link/testdata/tahu; .ci/run does it). Missing node or
// packages skip locally and fail in CI.
func tahuDir(t *testing.T) (node, dir string) {
	t.Helper()
	node = mqtttest.RequireTool(t, "node")
	dir, _ = filepath.Abs(filepath.Join("testdata", "tahu"))
	for _, p := range []string{"sparkplug-client", "sparkplug-payload", "long"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", p, "package.json")); err != nil {
			if mqtttest.InCI() {
				t.Fatalf("Tahu npm package %s not installed in %s (run npm ci there): %v", p, dir, err)
			}
			t.Skipf("Tahu npm packages not installed (npm ci in %s)", dir)
		}
	}
	return node, dir
}

type decoded struct {
	Topic   string `json:"topic"`
	Payload struct {
		Timestamp json.RawMessage `json:"timestamp"`
		Seq       json.RawMessage `json:"seq"`
		Metrics   []struct {
			Name       string                     `json:"name"`
			Alias      json.RawMessage            `json:"alias"`
			Type       string                     `json:"type"`
			Value      json.RawMessage            `json:"value"`
			Timestamp  json.RawMessage            `json:"timestamp"`
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"metrics"`
	} `json:"payload"`
}

// Tahu's decoder reads Metronome's NBIRTH and NDATA exactly: names, types,
// values of every kind (extremes included), null for a never-set value,
// quality and engineering properties, time stamps, seq and bdSeq.
func TestTahuDecodesMetronome(t *testing.T) {
	node, dir := tahuDir(t)
	url := brokers(t)[0].url
	g := uniq("g")
	r := record(t, url, "spBv1.0/"+g+"/#")
	ex := []link.Export{
		{Name: "Pump/Speed", Kind: signals.Float, Props: sparkplug.Props{Unit: "rpm", Description: "pump speed", HasRange: true, Low: 0, High: 3000, Writable: true}},
		{Name: "Pump/Running", Kind: signals.Bool},
		{Name: "Pump/Count", Kind: signals.Int},
		{Name: "Pump/Total", Kind: signals.Uint},
		{Name: "Pump/State", Kind: signals.String},
		{Name: "Pump/Never", Kind: signals.Float},
	}
	e := startEdge(t, g, "A", transport(url, mqttconn.V5), edgeOpts{exports: ex})
	r.waitN("/NBIRTH/A", 1)
	const stamp = int64(1700000000123) * 1e6
	e.Update([]link.Change{
		{Index: 0, Sample: sparkplug.Sample{Value: signals.FloatValue(0.1), Quality: signals.Good, Stamp: stamp}},
		{Index: 1, Sample: sparkplug.Sample{Value: signals.BoolValue(true), Quality: signals.Good, Stamp: stamp}},
		{Index: 2, Sample: sparkplug.Sample{Value: signals.IntValue(math.MinInt64), Quality: signals.Good, Stamp: stamp}},
		{Index: 3, Sample: sparkplug.Sample{Value: signals.UintValue(math.MaxUint64), Quality: signals.Stale, Stamp: stamp}},
		{Index: 4, Sample: sparkplug.Sample{Value: signals.StringValue("ünïcode ✓"), Quality: signals.CommLost, Stamp: stamp}},
	})
	r.waitN("/NDATA/A", 1)
	r.publish(sparkplug.NodeTopic(g, sparkplug.NCMD, "A"), rebirthCmd(), 0) // a birth holding the values
	r.waitN("/NBIRTH/A", 2)
	out := tahuDecode(t, node, dir, r.all("/A"))
	var birth, data *decoded
	for i := range out {
		switch {
		case strings.Contains(out[i].Topic, "/NBIRTH/"):
			birth = &out[i]
		case strings.Contains(out[i].Topic, "/NDATA/") && data == nil:
			data = &out[i]
		}
	}
	if birth == nil || data == nil {
		t.Fatalf("decoded: %+v", out)
	}
	if string(birth.Payload.Seq) != `"0"` && string(birth.Payload.Seq) != "0" {
		t.Errorf("birth seq %s", birth.Payload.Seq)
	}
	want := map[string]struct{ typ, value string }{
		"bdSeq":                {"Int64", `"0"`},
		"Node Control/Rebirth": {"Boolean", "false"},
		"Pump/Speed":           {"Double", "0.1"},
		"Pump/Running":         {"Boolean", "true"},
		"Pump/Count":           {"Int64", `"-9223372036854775808"`},
		"Pump/Total":           {"UInt64", `"18446744073709551615"`},
		"Pump/State":           {"String", `"ünïcode ✓"`},
		"Pump/Never":           {"Double", "null"},
	}
	seen := 0
	for _, m := range birth.Payload.Metrics {
		w, ok := want[m.Name]
		if !ok {
			continue
		}
		seen++
		if m.Type != w.typ || string(m.Value) != w.value {
			t.Errorf("Tahu decoded %s as %s %s, want %s %s", m.Name, m.Type, m.Value, w.typ, w.value)
		}
		switch m.Name {
		case "Pump/Speed":
			if string(m.Timestamp) != `"1700000000123"` {
				t.Errorf("Pump/Speed timestamp %s", m.Timestamp)
			}
			for k, v := range map[string]string{"engUnit": `{"value":"rpm","type":"String"}`, "engLow": `{"value":0,"type":"Double"}`,
				"engHigh": `{"value":3000,"type":"Double"}`, "documentation": `{"value":"pump speed","type":"String"}`, "readOnly": `{"value":false,"type":"Boolean"}`} {
				if got := string(m.Properties[k]); got != v {
					t.Errorf("Pump/Speed property %s = %s, want %s", k, got, v)
				}
			}
			if _, ok := m.Properties["Quality"]; ok {
				t.Error("a good value carries a Quality property")
			}
		case "Pump/Total":
			if got := string(m.Properties["Quality"]); got != `{"value":500,"type":"Int32"}` {
				t.Errorf("stale Quality property %s", got)
			}
		case "Pump/State":
			if got := string(m.Properties["Quality"]); got != `{"value":500,"type":"Int32"}` {
				t.Errorf("comm lost Quality property %s", got)
			}
			if got := string(m.Properties["metronomeQuality"]); got != `{"value":"comm lost","type":"String"}` {
				t.Errorf("comm lost detail %s", got)
			}
		}
	}
	if seen != len(want) {
		t.Errorf("birth had %d of the %d expected metrics: %+v", seen, len(want), birth.Payload.Metrics)
	}
	if len(data.Payload.Metrics) != 5 {
		t.Errorf("NDATA decoded to %d metrics, want 5", len(data.Payload.Metrics))
	}
	if string(data.Payload.Seq) != `"1"` && string(data.Payload.Seq) != "1" {
		t.Errorf("NDATA seq %s", data.Payload.Seq)
	}
}

func tahuDecode(t *testing.T, node, dir string, msgs []rec) []decoded {
	t.Helper()
	type in struct {
		Topic string `json:"topic"`
		B64   string `json:"b64"`
	}
	var ins []in
	for _, m := range msgs {
		ins = append(ins, in{m.topic, base64.StdEncoding.EncodeToString(m.raw)})
	}
	f := filepath.Join(t.TempDir(), "in.json")
	b, _ := json.Marshal(ins)
	if err := os.WriteFile(f, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "decode.js"), f)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	outb, err := cmd.Output()
	if err != nil {
		t.Fatalf("node decode.js: %v\n%s", err, stderr.String())
	}
	var out []decoded
	if err := json.Unmarshal(outb, &out); err != nil {
		t.Fatalf("decode.js output: %v\n%s", err, outb)
	}
	return out
}

// Metronome's host consumes an Eclipse Tahu edge node: every datatype read
// exactly, with its time stamp and quality; a never-set value stays without
// a number; data after the birth arrives.
func TestHostConsumesTahuEdgeNode(t *testing.T) {
	node, dir := tahuDir(t)
	url := brokers(t)[0].url
	g := uniq("g")
	wants := []link.Want{
		{Node: "tahu", Metric: "T/i32", Kind: signals.Int},
		{Node: "tahu", Metric: "T/i64", Kind: signals.Int},
		{Node: "tahu", Metric: "T/u32", Kind: signals.Uint},
		{Node: "tahu", Metric: "T/u64", Kind: signals.Uint},
		{Node: "tahu", Metric: "T/f", Kind: signals.Float},
		{Node: "tahu", Metric: "T/d", Kind: signals.Float},
		{Node: "tahu", Metric: "T/b", Kind: signals.Bool},
		{Node: "tahu", Metric: "T/s", Kind: signals.String},
		{Node: "tahu", Metric: "T/stale", Kind: signals.Float},
		{Node: "tahu", Metric: "T/null", Kind: signals.Int},
		{Node: "tahu", Metric: "T/s", Kind: signals.Float}, // a mismatch
	}
	h, s := startHost(t, link.HostConfig{Group: g, Transport: transport(url, mqttconn.V5), Wants: wants})
	eventually(t, func() bool { return h.Conn().Connected() }, "host connected")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "edge.js"), url, g, "tahu")
	cmd.Dir = dir
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
		if t.Failed() {
			t.Logf("tahu edge node stderr: %s", stderr.String())
		}
	})
	go io.Copy(io.Discard, bufio.NewReader(stdout))
	const ts = int64(1700000000123) * 1e6
	s.waitValue(t, 1, signals.IntValue(-1234567890123), signals.Good)
	for i, v := range []signals.Value{signals.IntValue(-1234567890123), signals.UintValue(4000000000), signals.UintValue(math.MaxUint64),
		signals.FloatValue(1.5), signals.Value{}, signals.BoolValue(true), signals.StringValue("héllo")} {
		i++
		d := s.waitValue(t, i, v, signals.Good)
		if d.Stamp != ts && i != 5 {
			t.Errorf("want %d stamp %d, want %d", i, d.Stamp, ts)
		}
	}
	s.waitValue(t, 8, signals.FloatValue(2.5), signals.Stale)
	s.waitValue(t, 9, signals.Value{}, signals.Initial)
	if d := s.waitValue(t, 10, signals.Value{}, signals.BadInput); d.Err == nil {
		t.Error("String metric routed to a double: no error")
	}
	// The NDATA after the birth.
	d := s.waitValue(t, 0, signals.IntValue(-8), signals.Good)
	if d.Stamp != int64(1700000000456)*1e6 {
		t.Errorf("NDATA stamp %d", d.Stamp)
	}
	s.waitValue(t, 5, signals.FloatValue(1e300), signals.Good)
	if st := h.Stats(); st.SeqGaps != 0 || st.UnknownAlias != 0 {
		t.Errorf("host stats %+v", st)
	}
}
