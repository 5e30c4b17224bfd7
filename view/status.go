package view

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// statusIDs are the tap IDs of the runtime's own statistics, looked up
// once: what the status frame and the metrics are made of.
type statusIDs struct {
	groups  []groupIDs
	comps   []compIDs
	clients []clientIDs
	brokers []brokerIDs
	all     []int32
}

type groupIDs struct {
	name                           string
	p50, p99, p999, max, over, cpu int32
	wakes                          int32
}

type compIDs struct {
	path        string
	ptime, over int32
}

type clientIDs struct {
	path                                string
	connected, in, out, dropped, queued int32
}

type brokerIDs struct {
	path             string
	clients, dropped int32
}

// Type names of the MQTT components whose statistics the status shows;
// named here rather than imported, since the view knows no component.
const (
	mqttClientType = "MQTTClient"
	mqttBrokerType = "MQTTBroker"
)

func newStatusIDs(app *runtime.App) *statusIDs {
	tap := app.Tap()
	s := &statusIDs{}
	id := func(path string) int32 {
		if i, ok := tap.Lookup(path); ok {
			s.all = append(s.all, i)
			return i
		}
		return -1
	}
	if rg := app.RateGroups(); rg != nil {
		for _, g := range rg.Children {
			p := g.Path + "."
			s.groups = append(s.groups, groupIDs{name: g.Name, p50: id(p + "LatenessP50"), p99: id(p + "LatenessP99"), p999: id(p + "LatenessP999"),
				max: id(p + "LatenessMax"), over: id(p + "TotalOverruns"), cpu: id(p + "CPUShare"), wakes: id(p + "Wakes")})
		}
	}
	for _, n := range app.All() {
		p := n.Path + "."
		s.comps = append(s.comps, compIDs{path: n.Path, ptime: id(p + runtime.StdProcessTime), over: id(p + runtime.StdOverruns)})
		switch n.TypeName {
		case mqttClientType:
			s.clients = append(s.clients, clientIDs{path: n.Path, connected: id(p + "Connected"), in: id(p + "MessagesIn"),
				out: id(p + "MessagesOut"), dropped: id(p + "Dropped"), queued: id(p + "Queued")})
		case mqttBrokerType:
			s.brokers = append(s.brokers, brokerIDs{path: n.Path, clients: id(p + "Clients"), dropped: id(p + "MessagesDroppedTotal")})
		}
	}
	return s
}

// statusValues reads the statistics' latest samples, by ID.
func (s *Server) statusValues() map[int32]runtime.Sample {
	samples, _ := s.app.Tap().Read(0, s.stat.all, nil)
	out := make(map[int32]runtime.Sample, len(samples))
	for _, x := range samples {
		out[x.ID] = x
	}
	return out
}

// num returns a sample as a float, false when it carries no honest number
// (never received, stale, lost or bad).
func num(m map[int32]runtime.Sample, id int32) (float64, bool) {
	x, ok := m[id]
	if !ok || x.Quality != signals.Good {
		return 0, false
	}
	return x.Value.Float()
}

// StatusFrame is the overall state, sent every second.
type StatusFrame struct {
	Type    string         `json:"type"` // "status"
	Time    float64        `json:"time"`
	Groups  []GroupStatus  `json:"groups"`
	MQTT    []ClientStatus `json:"mqtt,omitempty"`
	Brokers []BrokerStatus `json:"brokers,omitempty"`
	Forces  int            `json:"forces"`
	Alarms  map[string]int `json:"alarms"` // active alarms by level
	Unacked int            `json:"unacked"`
	Viewers int64          `json:"viewers"`
}

// GroupStatus is one rate group's timing; nil fields are not measured yet.
type GroupStatus struct {
	Name     string   `json:"name"`
	P50      *float64 `json:"lateness_p50,omitempty"`
	P99      *float64 `json:"lateness_p99,omitempty"`
	Max      *float64 `json:"lateness_max,omitempty"`
	Overruns *float64 `json:"overruns,omitempty"`
	CPU      *float64 `json:"cpu_percent,omitempty"`
}

// ClientStatus is one MQTT client's connection.
type ClientStatus struct {
	Path      string   `json:"path"`
	Connected bool     `json:"connected"`
	In        *float64 `json:"messages_in,omitempty"`
	Out       *float64 `json:"messages_out,omitempty"`
	Dropped   *float64 `json:"dropped,omitempty"`
}

// BrokerStatus is one embedded broker.
type BrokerStatus struct {
	Path    string   `json:"path"`
	Clients *float64 `json:"clients,omitempty"`
}

func ptr(m map[int32]runtime.Sample, id int32) *float64 {
	if v, ok := num(m, id); ok {
		return &v
	}
	return nil
}

func (s *Server) status() *StatusFrame {
	m := s.statusValues()
	f := &StatusFrame{Type: "status", Alarms: map[string]int{}, Viewers: s.clients.Load(), Forces: len(s.app.Forces())}
	for _, g := range s.stat.groups {
		f.Groups = append(f.Groups, GroupStatus{Name: g.name, P50: ptr(m, g.p50), P99: ptr(m, g.p99), Max: ptr(m, g.max), Overruns: ptr(m, g.over), CPU: ptr(m, g.cpu)})
	}
	for _, c := range s.stat.clients {
		v, _ := num(m, c.connected)
		f.MQTT = append(f.MQTT, ClientStatus{Path: c.path, Connected: v != 0, In: ptr(m, c.in), Out: ptr(m, c.out), Dropped: ptr(m, c.dropped)})
	}
	for _, b := range s.stat.brokers {
		f.Brokers = append(f.Brokers, BrokerStatus{Path: b.path, Clients: ptr(m, b.clients)})
	}
	for _, a := range s.app.AlarmStates() {
		if a.Active {
			f.Alarms[a.Level.String()]++
		}
		if a.Unacked {
			f.Unacked++
		}
	}
	return f
}

// collector converts the runtime's own statistics into Prometheus metrics
// when scraped; nothing runs on a tick for it.
type collector struct{ s *Server }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("metronome_"+name, help, labels, nil)
}

var (
	dBuild        = desc("build_info", "the running build and application", "version", "application")
	dLateness     = desc("tick_lateness_seconds", "rate group wake-up lateness over the last 10 s, by quantile (1 = max)", "group", "quantile")
	dOverruns     = desc("tick_overruns_total", "overruns of a rate group's components since start", "group")
	dCPU          = desc("group_cpu_ratio", "CPU time of a rate group's thread, share of one core since start", "group")
	dProcess      = desc("component_process_seconds", "how long a component's last Process took", "component")
	dCompOver     = desc("component_overruns_total", "a component's overruns since start", "component")
	dMQTTUp       = desc("mqtt_connection_up", "1 while an MQTT client component is connected to a broker", "client")
	dMQTTIn       = desc("mqtt_messages_received_total", "messages an MQTT client component received", "client")
	dMQTTOut      = desc("mqtt_messages_sent_total", "messages an MQTT client component sent (QoS 0) or had acknowledged", "client")
	dMQTTDrop     = desc("mqtt_dropped_total", "messages an MQTT client component lost", "client")
	dMQTTQueue    = desc("mqtt_queued_messages", "outgoing messages waiting for the broker", "client")
	dBrokerCli    = desc("broker_clients", "clients connected to an embedded broker", "broker")
	dBrokerDrop   = desc("broker_dropped_total", "messages an embedded broker dropped", "broker")
	dAlarms       = desc("alarms_active", "active alarms by level", "level")
	dUnacked      = desc("alarms_unacked", "unacknowledged alarms by level", "level")
	dForces       = desc("forces_active", "signals forced by an operator")
	dViewers      = desc("viewer_clients", "live view clients connected")
	dViewDrop     = desc("viewer_dropped_total", "live view clients dropped because they did not read")
	dViewThrottle = desc("viewer_throttled_total", "times a live view client was throttled for reading too slowly")
	dViewSkip     = desc("viewer_deltas_coalesced_total", "value deltas coalesced into later ones for slow clients")
	dViewBad      = desc("viewer_bad_frames_total", "frames from clients that could not be understood")
	dLoginFail    = desc("viewer_login_failures_total", "failed logins to the live view")
	dLoginThrot   = desc("viewer_logins_throttled_total", "logins to the live view refused unchecked: backoff after failures, or too many waiting")
	dLoginChecks  = desc("viewer_password_checks_total", "passwords checked for live view logins, a login as an unknown user included")
	dWrites       = desc("writes_total", "writes from outside (set, ack, force, release) by result", "result")
	dDeferred     = desc("tap_deferred_passes_total", "rate group passes whose changes waited for a slow observer")
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{dBuild, dLateness, dOverruns, dCPU, dProcess, dCompOver, dMQTTUp, dMQTTIn, dMQTTOut, dMQTTDrop, dMQTTQueue,
		dBrokerCli, dBrokerDrop, dAlarms, dUnacked, dForces, dViewers, dViewDrop, dViewThrottle, dViewSkip, dViewBad, dLoginFail, dLoginThrot, dLoginChecks, dWrites, dDeferred} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	m := s.statusValues()
	gauge := func(d *prometheus.Desc, id int32, scale float64, labels ...string) {
		if v, ok := num(m, id); ok {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v*scale, labels...)
		}
	}
	counter := func(d *prometheus.Desc, id int32, labels ...string) {
		if v, ok := num(m, id); ok {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
		}
	}
	ch <- prometheus.MustNewConstMetric(dBuild, prometheus.GaugeValue, 1, s.opts.Version, s.app.Name)
	for _, g := range s.stat.groups {
		gauge(dLateness, g.p50, 1, g.name, "0.5")
		gauge(dLateness, g.p99, 1, g.name, "0.99")
		gauge(dLateness, g.p999, 1, g.name, "0.999")
		gauge(dLateness, g.max, 1, g.name, "1")
		counter(dOverruns, g.over, g.name)
		gauge(dCPU, g.cpu, 0.01, g.name)
	}
	for _, cp := range s.stat.comps {
		gauge(dProcess, cp.ptime, 1, cp.path)
		counter(dCompOver, cp.over, cp.path)
	}
	for _, cl := range s.stat.clients {
		if x, ok := m[cl.connected]; ok && x.Quality != signals.Initial {
			up, _ := x.Value.Float()
			ch <- prometheus.MustNewConstMetric(dMQTTUp, prometheus.GaugeValue, up, cl.path)
		}
		counter(dMQTTIn, cl.in, cl.path)
		counter(dMQTTOut, cl.out, cl.path)
		counter(dMQTTDrop, cl.dropped, cl.path)
		gauge(dMQTTQueue, cl.queued, 1, cl.path)
	}
	for _, b := range s.stat.brokers {
		gauge(dBrokerCli, b.clients, 1, b.path)
		counter(dBrokerDrop, b.dropped, b.path)
	}
	active, unacked := map[string]float64{}, map[string]float64{}
	for _, l := range []runtime.Level{runtime.Notify, runtime.Warning, runtime.Error} {
		active[l.String()], unacked[l.String()] = 0, 0
	}
	for _, a := range s.app.AlarmStates() {
		if a.Active {
			active[a.Level.String()]++
		}
		if a.Unacked {
			unacked[a.Level.String()]++
		}
	}
	for l, v := range active {
		ch <- prometheus.MustNewConstMetric(dAlarms, prometheus.GaugeValue, v, l)
		ch <- prometheus.MustNewConstMetric(dUnacked, prometheus.GaugeValue, unacked[l], l)
	}
	ch <- prometheus.MustNewConstMetric(dForces, prometheus.GaugeValue, float64(len(s.app.Forces())))
	ch <- prometheus.MustNewConstMetric(dViewers, prometheus.GaugeValue, float64(s.clients.Load()))
	ch <- prometheus.MustNewConstMetric(dViewDrop, prometheus.CounterValue, float64(s.dropped.Load()))
	ch <- prometheus.MustNewConstMetric(dViewThrottle, prometheus.CounterValue, float64(s.throttled.Load()))
	ch <- prometheus.MustNewConstMetric(dViewSkip, prometheus.CounterValue, float64(s.skipped.Load()))
	ch <- prometheus.MustNewConstMetric(dViewBad, prometheus.CounterValue, float64(s.badFrames.Load()))
	ch <- prometheus.MustNewConstMetric(dLoginFail, prometheus.CounterValue, float64(s.loginFails.Load()))
	ch <- prometheus.MustNewConstMetric(dLoginThrot, prometheus.CounterValue, float64(s.loginsThrottled.Load()))
	var checks uint64
	if s.guard != nil {
		checks = s.guard.Checks()
	}
	ch <- prometheus.MustNewConstMetric(dLoginChecks, prometheus.CounterValue, float64(checks))
	ch <- prometheus.MustNewConstMetric(dWrites, prometheus.CounterValue, float64(s.writes.Load()), "ok")
	ch <- prometheus.MustNewConstMetric(dWrites, prometheus.CounterValue, float64(s.refused.Load()), "refused")
	ch <- prometheus.MustNewConstMetric(dDeferred, prometheus.CounterValue, float64(s.app.Tap().Deferred()))
}
