package main

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/metronome-rt/metronome/scheduler"
)

func TestBenchTimerUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--bogus"},
		{"--rate"},
		{"--rate", "0"},
		{"--rate", "-5"},
		{"--rate", "abc"},
		{"--duration", "0"},
		{"--duration", "soon"},
		{"--rate", "10", "--duration", "50ms"}, // shorter than a period
		{"extra"},
	} {
		var out, errOut bytes.Buffer
		if code := benchTimer(args, &out, &errOut); code != 2 {
			t.Errorf("bench timer %q: exit %d, want 2", args, code)
		}
		if !strings.Contains(errOut.String(), "usage: runtime bench timer") {
			t.Errorf("bench timer %q: no usage on stderr:\n%s", args, errOut.String())
		}
		if out.Len() != 0 {
			t.Errorf("bench timer %q: wrote to stdout: %s", args, out.String())
		}
	}
	var out, errOut bytes.Buffer
	if code := benchTimer([]string{"--help"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "--gc-load") {
		t.Errorf("--help: exit %d, stdout %q", code, out.String())
	}
}

func TestParseSeconds(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"10s": 10 * time.Second, "1m": time.Minute, "2": 2 * time.Second, "0.5": 500 * time.Millisecond, "250ms": 250 * time.Millisecond,
	} {
		got, err := parseSeconds(in)
		if err != nil || got != want {
			t.Errorf("parseSeconds(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "1e99", "NaN"} {
		if _, err := parseSeconds(in); err == nil {
			t.Errorf("parseSeconds(%q) accepted", in)
		}
	}
}

// A trimmed cyclictest -h report at a 1000 µs interval.
const cyclictestSample = `# /dev/cpu_dma_latency set to 0us
# Histogram
000000 000000
000010 000500
000020 000400
000030 000090
000900 000005
001500 000003
002600 000001
# Total: 000000999
# Min Latencies: 00010
# Avg Latencies: 00021
# Max Latencies: 12000
# Histogram Overflows: 00001
# Histogram Overflow at cycle number:
# Thread 0: 00777
`

func TestParseCyclictestHistogram(t *testing.T) {
	var h scheduler.Histogram
	var missed uint64
	maxLat, overflows, err := parseCyclictestHistogram(strings.NewReader(cyclictestSample), 1000, &h, &missed)
	if err != nil {
		t.Fatal(err)
	}
	if maxLat != 12000 || overflows != 1 {
		t.Fatalf("max %d overflows %d, want 12000 and 1", maxLat, overflows)
	}
	if h.Count() != 999 {
		t.Fatalf("recorded %d samples, want 999", h.Count())
	}
	// 3 samples a period late and 1 two periods late.
	if missed != 5 {
		t.Fatalf("missed %d, want 5", missed)
	}
	if p50 := h.Quantile(0.5); p50 < 10*time.Microsecond || p50 > 11*time.Microsecond {
		t.Fatalf("p50 %v, want 10µs", p50)
	}
	if p99 := h.Quantile(0.99); p99 < 30*time.Microsecond || p99 > 31*time.Microsecond {
		t.Fatalf("p99 %v, want 30µs", p99)
	}
	if p995 := h.Quantile(0.995); p995 < 900*time.Microsecond || p995 > 930*time.Microsecond {
		t.Fatalf("p99.5 %v, want 900µs", p995)
	}
	if _, _, err := parseCyclictestHistogram(strings.NewReader("T: 0 ( 1234) P: 0 I:1000\n"), 1000, &h, &missed); err == nil {
		t.Fatal("output without a histogram accepted")
	}
}

// A short real run: the JSON has exactly the documented fields, every Go
// contender reports, and cyclictest appears exactly when it is on PATH.
func TestBenchTimerJSON(t *testing.T) {
	var out, errOut bytes.Buffer
	code := benchTimer([]string{"--rate", "500", "--duration", "200ms", "--json", "--gc-load"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut.String())
	}
	var rep map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(out.Bytes()))
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, out.String())
	}
	var keys []string
	for k := range rep {
		keys = append(keys, k)
	}
	if len(rep) != 5 || rep["bench"] == nil || rep["rate_hz"] == nil || rep["duration_s"] == nil || rep["gc_load"] == nil || rep["results"] == nil {
		t.Fatalf("top-level keys %v", keys)
	}
	if string(rep["bench"]) != `"timer"` || string(rep["rate_hz"]) != "500" || string(rep["duration_s"]) != "0.2" || string(rep["gc_load"]) != "true" {
		t.Fatalf("header %s", out.String())
	}
	var results []map[string]any
	if err := json.Unmarshal(rep["results"], &results); err != nil {
		t.Fatal(err)
	}
	want := []string{"metronome", "time.Ticker"}
	if _, err := exec.LookPath("cyclictest"); err == nil {
		want = append(want, "cyclictest")
	} else if !strings.Contains(errOut.String(), "cyclictest: not on PATH") {
		t.Errorf("cyclictest missing but not said so on stderr: %s", errOut.String())
	}
	if len(results) != len(want) {
		t.Fatalf("results %v, want %v", results, want)
	}
	for i, r := range results {
		if r["name"] != want[i] {
			t.Errorf("result %d is %v, want %s", i, r["name"], want[i])
		}
		if len(r) != 7 {
			t.Errorf("result %v: want exactly name, p50_us, p99_us, p999_us, max_us, missed, cpu_pct", r)
		}
		for _, k := range []string{"p50_us", "p99_us", "p999_us", "max_us", "missed", "cpu_pct"} {
			v, ok := r[k].(float64)
			if !ok || v < 0 {
				t.Errorf("result %v: %s = %v", r["name"], k, r[k])
			}
		}
		if r["p50_us"].(float64) > r["p99_us"].(float64) || r["p99_us"].(float64) > r["p999_us"].(float64) || r["p999_us"].(float64) > r["max_us"].(float64) {
			t.Errorf("result %v: percentiles out of order", r)
		}
	}
}

func TestBenchTimerTable(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := benchTimer([]string{"--rate", "1000", "--duration", "0.1"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut.String())
	}
	s := out.String()
	for _, want := range []string{"p99.9", "metronome", "time.Ticker", "cpu %", "thread locked"} {
		if !strings.Contains(s, want) {
			t.Errorf("table lacks %q:\n%s", want, s)
		}
	}
}
