package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/metronome-rt/metronome/scheduler"
)

const benchTimerUsage = `usage: runtime bench timer [--rate HZ] [--duration D] [--json] [--gc-load] [--priority P]

Measures how late periodic wake-ups are on this machine: Metronome's precise
timer on a bound thread (the way a rate group waits), Go's time.Ticker, and
cyclictest (Debian package rt-tests) when it is on PATH, each for the whole
duration at the same rate. They take turns in up to ten rounds (of a second
each at the default 10s), so all meet the same background activity. Run it on
new controller hardware to learn what rate it holds.

  --rate HZ      ticks per second (default 1000)
  --duration D   time per contender: 10s, 1m, or seconds (default 10s)
  --json         print one JSON object instead of the table
  --gc-load      allocate about 50 MB/s (8 MB live) in another goroutine while
                 the Go contenders run, so the garbage collector runs ~6 times a second
  --priority P   the rate-group priority metronome binds with: low, normal
                 (default; SCHED_OTHER, as is cyclictest) or high (SCHED_FIFO
                 for the timing thread when permitted, and cyclictest then runs
                 at the same SCHED_FIFO priority); time.Ticker stays as it is

Lateness is the wake-up time minus the absolute deadline (start + k*period),
in µs. Missed counts whole periods skipped because a wake-up came more than a
period late. CPU is percent of one core over the run: the timing thread's CPU
for metronome; the whole process's for time.Ticker (its wake-ups run on the Go
runtime's threads), less the load generator's own thread but including garbage
collection work under --gc-load; the cyclictest process's for cyclictest.
`

// timerResult is one contender's line, in the JSON field order.
type timerResult struct {
	Name   string  `json:"name"`
	P50    float64 `json:"p50_us"`
	P99    float64 `json:"p99_us"`
	P999   float64 `json:"p999_us"`
	Max    float64 `json:"max_us"`
	Missed uint64  `json:"missed"`
	CPU    float64 `json:"cpu_pct"`

	note string // shown under the table
}

type timerReport struct {
	Bench     string        `json:"bench"`
	RateHz    float64       `json:"rate_hz"`
	DurationS float64       `json:"duration_s"`
	GCLoad    bool          `json:"gc_load"`
	Results   []timerResult `json:"results"`
}

// benchTimer runs `runtime bench timer`; it returns the exit code.
func benchTimer(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("runtime bench timer", flag.ContinueOnError)
	rate := fs.Float64("rate", 1000, "")
	dur := 10 * time.Second
	fs.Func("duration", "", func(s string) error {
		d, err := parseSeconds(s)
		dur = d
		return err
	})
	asJSON := fs.Bool("json", false, "")
	gcLoad := fs.Bool("gc-load", false, "")
	prio := scheduler.Normal
	fs.Func("priority", "", func(s string) error {
		p, err := scheduler.ParsePriority(s)
		prio = p
		return err
	})
	code, usage := benchArgs(fs, args, benchTimerUsage, stdout, stderr)
	if code >= 0 {
		return code
	}
	if !(*rate > 0) || *rate > 1e6 || math.IsInf(*rate, 0) {
		return usage(fmt.Sprintf("--rate must be above 0 and at most 1000000 Hz, got %v", *rate))
	}
	if dur <= 0 {
		return usage(fmt.Sprintf("--duration must be above 0, got %v", dur))
	}
	period := time.Duration(float64(time.Second) / *rate)
	if period < time.Microsecond {
		return usage(fmt.Sprintf("--rate %v gives a period under 1 µs", *rate))
	}
	if dur < period {
		return usage(fmt.Sprintf("--duration %v is shorter than one period (%v)", dur, period))
	}

	// The contenders take turns in up to ten rounds, so that all of them
	// meet the same background activity on a shared machine.
	rounds := int(dur / time.Second)
	rounds = max(1, min(rounds, 10))
	roundDur := dur / time.Duration(rounds)
	if roundDur < 10*period {
		rounds, roundDur = 1, dur
	}

	rep := timerReport{Bench: "timer", RateHz: *rate, DurationS: dur.Seconds(), GCLoad: *gcLoad}
	var notes []string
	var met, tick, cyc tally
	ctPath, err := exec.LookPath("cyclictest")
	if err != nil {
		notes = append(notes, "cyclictest: not on PATH (Debian package rt-tests), so not measured")
	}
	names, total := "metronome, time.Ticker", 2*dur
	if ctPath != "" {
		names, total = names+", cyclictest", 3*dur
	}
	fmt.Fprintf(stderr, "measuring %s at %v Hz in %d round(s) of %v each (about %v)...\n", names, *rate, rounds, roundDur, total)

	var load *gcLoader
	if *gcLoad {
		load = startGCLoad()
		defer load.stop()
	}
	var info scheduler.BindInfo
	for range rounds {
		load.pause(false)
		info = measureMetronome(period, roundDur, prio, load, &met)
		measureTicker(period, roundDur, load, &tick)
		load.pause(true)
		if ctPath != "" {
			if err := measureCyclictest(ctPath, period, roundDur, info.RealTime, &cyc); err != nil {
				notes = append(notes, "cyclictest: "+err.Error())
				ctPath, cyc = "", tally{}
			}
		}
	}

	m := met.result("metronome")
	m.note = bindText(info)
	if load != nil {
		m.note += fmt.Sprintf("; %d GCs during its turns; whole process less the load generator %.2f%% CPU", met.gcs, cpuPercent(met.proc, met.elapsed))
	} else {
		m.note += fmt.Sprintf("; whole process %.2f%% CPU", cpuPercent(met.proc, met.elapsed))
	}
	rep.Results = append(rep.Results, m)
	t := tick.result("time.Ticker")
	if load != nil {
		t.note = "CPU includes garbage collection work"
	}
	rep.Results = append(rep.Results, t)
	if cyc.h.Count() > 0 {
		c := cyc.result("cyclictest")
		c.note = cyc.note
		rep.Results = append(rep.Results, c)
	}

	if *asJSON {
		for _, n := range notes {
			fmt.Fprintln(stderr, n)
		}
		b, err := json.Marshal(rep)
		if err != nil {
			fmt.Fprintf(stderr, "runtime bench timer: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, string(b))
		return 0
	}
	gcText := "off"
	if *gcLoad {
		gcText = "on (~50 MB/s allocated)"
	}
	fmt.Fprintf(stdout, "timer lateness at %v Hz (period %v), %v per contender in %d interleaved round(s), GC load %s; µs\n\n",
		*rate, period, dur, rounds, gcText)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "name\tp50\tp99\tp99.9\tmax\tmissed\tcpu %\t")
	for _, r := range rep.Results {
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%.1f\t%.1f\t%d\t%.2f\t\n", r.Name, r.P50, r.P99, r.P999, r.Max, r.Missed, r.CPU)
	}
	tw.Flush()
	fmt.Fprintln(stdout)
	for _, r := range rep.Results {
		if r.note != "" {
			fmt.Fprintf(stdout, "%s: %s\n", r.Name, r.note)
		}
	}
	for _, n := range notes {
		fmt.Fprintln(stdout, n)
	}
	return 0
}

// tally accumulates one contender's measurements over the rounds.
type tally struct {
	h       scheduler.Histogram
	missed  uint64
	cpu     time.Duration // CPU charged to the contender
	elapsed time.Duration
	proc    time.Duration // metronome: the whole process's CPU, less the load generator
	gcs     uint64        // metronome: GC cycles during its turns
	note    string
}

func (t *tally) result(name string) timerResult {
	r := timerResult{Name: name, Missed: t.missed, CPU: cpuPercent(t.cpu, t.elapsed)}
	r.fill(&t.h)
	return r
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// parseSeconds reads a Go duration ("10s", "1m30s") or a number of seconds.
func parseSeconds(s string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) || f > 1e9 {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q (want 10s, 1m or a number of seconds)", s)
	}
	return d, nil
}

// fill sets the percentile fields from h.
func (r *timerResult) fill(h *scheduler.Histogram) {
	us := func(d time.Duration) float64 { return math.Round(float64(d)/1e2) / 10 }
	r.P50, r.P99, r.P999, r.Max = us(h.Quantile(0.5)), us(h.Quantile(0.99)), us(h.Quantile(0.999)), us(h.Max())
}

func cpuPercent(cpu, elapsed time.Duration) float64 {
	if elapsed <= 0 || cpu < 0 {
		return 0
	}
	return math.Round(float64(cpu)/float64(elapsed)*1e4) / 100
}

// measureMetronome runs the loop a rate group runs for d: a bound thread
// waits for start + k*period with the precise timer and skips missed
// periods.
func measureMetronome(period, d time.Duration, prio scheduler.Priority, load *gcLoader, acc *tally) scheduler.BindInfo {
	var info scheduler.BindInfo
	done := make(chan struct{})
	go func() {
		defer close(done)
		// The goroutine ends locked, so the Go runtime ends its tuned thread.
		t := scheduler.NewPreciseTimer()
		info = t.(scheduler.Binder).Bind(prio)
		gc0 := gcCycles()
		load0 := load.cpu()
		proc0 := scheduler.ProcessCPUTime()
		cpu0 := scheduler.ThreadCPUTime()
		start := t.Now()
		end := start + d
		next := start + period
		for next <= end {
			t.Wait(next, nil)
			now := t.Now()
			acc.h.Record(now - next)
			next += period
			if now >= next {
				k := (now-next)/period + 1
				acc.missed += uint64(k)
				next += k * period
			}
		}
		acc.elapsed += t.Now() - start
		acc.cpu += scheduler.ThreadCPUTime() - cpu0
		acc.proc += scheduler.ProcessCPUTime() - proc0 - (load.cpu() - load0)
		acc.gcs += gcCycles() - gc0
	}()
	<-done
	return info
}

func bindText(info scheduler.BindInfo) string {
	parts := []string{}
	if info.Locked {
		parts = append(parts, "thread locked")
	}
	if info.Slack {
		parts = append(parts, "timer slack 1 ns")
	}
	if info.RealTime {
		parts = append(parts, "SCHED_FIFO")
	} else {
		parts = append(parts, "SCHED_OTHER")
	}
	s := strings.Join(parts, ", ")
	if info.Note != "" {
		s += " (" + info.Note + ")"
	}
	return s
}

// measureTicker reads a time.Ticker for d. Each tick carries the time it
// was due (Go 1.23 and later), so lateness is the receive time minus that,
// and a gap in the tick grid counts as missed periods.
func measureTicker(period, d time.Duration, load *gcLoader, acc *tally) {
	load0 := load.cpu()
	cpu0 := scheduler.ProcessCPUTime()
	start := time.Now()
	tk := time.NewTicker(period)
	var first time.Time
	var last int64
	for {
		due := <-tk.C
		now := time.Now()
		acc.h.Record(now.Sub(due))
		if first.IsZero() {
			first = due
		} else {
			k := int64(math.Round(float64(due.Sub(first)) / float64(period)))
			if k > last+1 {
				acc.missed += uint64(k - last - 1)
			}
			last = k
		}
		if now.Sub(start) >= d {
			break
		}
	}
	tk.Stop()
	acc.elapsed += time.Since(start)
	acc.cpu += scheduler.ProcessCPUTime() - cpu0 - (load.cpu() - load0)
}

// measureCyclictest runs cyclictest for the periods in d, one thread at
// SCHED_OTHER like our default (or at metronome's SCHED_FIFO priority when
// metronome got it), without its system tuning (it would otherwise pin
// /dev/cpu_dma_latency to 0 for its run only), and reads its histogram of
// 1 µs buckets.
func measureCyclictest(path string, period, d time.Duration, fifo bool, acc *tally) error {
	intervalUS := int64(math.Round(float64(period) / float64(time.Microsecond)))
	if intervalUS < 1 {
		intervalUS = 1
	}
	acc.note = ""
	if time.Duration(intervalUS)*time.Microsecond != period {
		acc.note = fmt.Sprintf("interval rounded to %d µs", intervalUS)
	}
	loops := max(int64(d/period), 1)
	// Histogram up to 10 periods, at least 10 ms: later wake-ups overflow,
	// and count at cyclictest's max.
	maxUS := max(10*intervalUS, 10000)
	policy := []string{"--policy=other"}
	if fifo {
		policy = []string{"--policy=fifo", "-p", strconv.Itoa(scheduler.FIFOPriority)}
		acc.note = joinNote(acc.note, fmt.Sprintf("SCHED_FIFO priority %d", scheduler.FIFOPriority))
	}
	args := append(policy, "-q", "-t1", "--default-system",
		"-i", strconv.FormatInt(intervalUS, 10),
		"-l", strconv.FormatInt(loops, 10),
		"-h", strconv.FormatInt(maxUS, 10))
	ctx, cancel := context.WithTimeout(context.Background(), 2*d+30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errOut.String())
		if len(msg) > 200 {
			msg = msg[:200]
		}
		return fmt.Errorf("run failed: %v: %s", err, msg)
	}
	maxLat, overflows, err := parseCyclictestHistogram(&out, intervalUS, &acc.h, &acc.missed)
	if err != nil {
		return err
	}
	if overflows > 0 {
		// Overflows are at least the histogram's bound; the latest is
		// cyclictest's max.
		for range overflows - 1 {
			acc.h.Record(time.Duration(maxUS) * time.Microsecond)
		}
		acc.h.Record(time.Duration(maxLat) * time.Microsecond)
		acc.missed += (overflows-1)*uint64(maxUS/intervalUS) + uint64(maxLat/intervalUS)
	}
	if st := cmd.ProcessState; st != nil {
		acc.cpu += st.UserTime() + st.SystemTime()
	}
	acc.elapsed += time.Duration(loops) * period
	return nil
}

// parseCyclictestHistogram reads cyclictest -h output: lines "LAT COUNT"
// (LAT in µs), then "# Max Latencies: N" and "# Histogram Overflows: N".
// It records each bucket in h and adds to missed the whole periods each
// sample was late by.
func parseCyclictestHistogram(r io.Reader, intervalUS int64, h *scheduler.Histogram, missed *uint64) (maxLat int64, overflows uint64, err error) {
	sc := bufio.NewScanner(r)
	sawMax := false
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "#"); ok {
			key, val, ok := strings.Cut(rest, ":")
			if !ok {
				continue
			}
			fields := strings.Fields(val)
			if len(fields) == 0 {
				continue
			}
			switch strings.TrimSpace(key) {
			case "Max Latencies":
				if maxLat, err = strconv.ParseInt(fields[0], 10, 64); err != nil {
					return 0, 0, fmt.Errorf("bad max latency line %q", line)
				}
				sawMax = true
			case "Histogram Overflows":
				if overflows, err = strconv.ParseUint(fields[0], 10, 64); err != nil {
					return 0, 0, fmt.Errorf("bad overflow line %q", line)
				}
			}
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		lat, err1 := strconv.ParseInt(f[0], 10, 64)
		n, err2 := strconv.ParseUint(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		if n == 0 {
			continue
		}
		d := time.Duration(lat) * time.Microsecond
		for range n {
			h.Record(d)
		}
		*missed += n * uint64(lat/intervalUS)
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if !sawMax {
		return 0, 0, errors.New("no histogram in its output")
	}
	return maxLat, overflows, nil
}

// gcLoader allocates about 50 MB/s, keeping about 8 MB live, on its own
// locked thread: the moderate garbage-collector load of the reference
// measurements (about 6 GCs a second with GOGC=100). A nil *gcLoader is no
// load.
type gcLoader struct {
	quit    chan struct{}
	done    chan struct{}
	paused  atomic.Bool
	cpuNano atomic.Int64 // the load thread's CPU time, updated every batch
}

type loadNode struct {
	next *loadNode
	pad  [240]byte
}

func startGCLoad() *gcLoader {
	l := &gcLoader{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		const (
			batch     = 10 * time.Millisecond
			perBatch  = 2048  // nodes of 256 B: 512 KiB per 10 ms
			liveNodes = 32768 // 8 MiB live
		)
		live := make([]*loadNode, liveNodes)
		i := 0
		next := time.Now()
		tm := time.NewTimer(batch)
		defer tm.Stop()
		for {
			if !l.paused.Load() {
				var prev *loadNode
				for range perBatch {
					n := &loadNode{next: prev}
					n.pad[0] = byte(i)
					live[i%liveNodes] = n
					prev = n
					i++
				}
			}
			l.cpuNano.Store(int64(scheduler.ThreadCPUTime()))
			next = next.Add(batch)
			tm.Reset(time.Until(next))
			select {
			case <-l.quit:
				return
			case <-tm.C:
			}
		}
	}()
	return l
}

// cpu returns the load thread's CPU time so far (0 for no load).
func (l *gcLoader) cpu() time.Duration {
	if l == nil {
		return 0
	}
	return time.Duration(l.cpuNano.Load())
}

// pause stops or restarts allocating; the live data stays.
func (l *gcLoader) pause(p bool) {
	if l != nil {
		l.paused.Store(p)
	}
}

func (l *gcLoader) stop() {
	close(l.quit)
	<-l.done
}

// gcCycles returns the number of completed GC cycles, read without
// stopping the world.
func gcCycles() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
