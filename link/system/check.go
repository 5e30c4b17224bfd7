package system

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/metronome-rt/metronome/link/sparkplug"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// exported is one member an application publishes.
type exported struct {
	Path   string // full dotted path
	Metric string // Comp/Sub/Member
	Kind   signals.Kind
	Port   signals.Port     // nil for a parameter
	Param  runtime.AnyParam // nil for a signal
	Props  sparkplug.Props
	// Deadband and MinInterval come from the export pattern.
	Deadband    float64
	MinInterval time.Duration
}

// MetricName is the Sparkplug metric name of a member at a path inside
// its application (without the application's name): the dots become
// slashes, Sparkplug's folder separator.
func MetricName(rel string) string { return strings.ReplaceAll(rel, ".", "/") }

// isStd reports whether a member is one of the standard timing members
// every component has, which only a pattern naming them exports.
func isStd(name string) bool {
	switch name {
	case runtime.StdProcessTime, runtime.StdProcessPeriod, runtime.StdOverruns:
		return true
	}
	return false
}

// exports lists what the application publishes, in tree order; unused
// reports the export patterns that matched nothing (by index) and the
// writable ones that matched no parameter.
func exports(app *runtime.App, c *Config) (out []exported, unused, notWritable []int) {
	matched := make([]bool, len(c.Export))
	params := make([]bool, len(c.Export))
	pick := func(path, name string, isParam, isOutput bool) (int, bool) {
		rel := strings.TrimPrefix(path, app.Name+".")
		if len(c.Export) == 0 {
			return -1, (isParam || isOutput) && !isStd(name)
		}
		for i, x := range c.Export {
			pat := strings.TrimPrefix(strings.TrimSpace(x.Match), app.Name+".")
			if !runtime.MatchPath(pat, rel) {
				continue
			}
			if isStd(name) && !strings.HasSuffix(pat, "."+name) && pat != name {
				continue // Pump.* does not mean Pump's timing signals
			}
			matched[i] = true
			if isParam {
				params[i] = true
			}
			return i, true
		}
		return -1, false
	}
	for _, n := range app.All() {
		if len(c.Export) == 0 && n.Parent == nil && n.Name == ComponentName && n.TypeName == componentType.Name() {
			continue // the link's own state goes out only when a pattern asks
		}
		for _, p := range n.Ports() {
			info := p.Info()
			i, ok := pick(info.Path, info.Name, false, info.Dir == signals.Output)
			if !ok {
				continue
			}
			x := exported{Path: info.Path, Metric: MetricName(strings.TrimPrefix(info.Path, app.Name+".")), Kind: p.Kind(), Port: p,
				Props: sparkplug.Props{Unit: info.Unit, Description: info.Desc}}
			if i >= 0 {
				x.Deadband, x.MinInterval = c.Export[i].Deadband, c.Export[i].MinInterval
			}
			out = append(out, x)
		}
		for _, p := range n.Params() {
			info := p.Info()
			i, ok := pick(info.Path, info.Name, true, false)
			if !ok {
				continue
			}
			x := exported{Path: info.Path, Metric: MetricName(strings.TrimPrefix(info.Path, app.Name+".")), Kind: info.Kind, Param: p,
				Props: sparkplug.Props{Unit: info.Unit, Description: info.Desc}}
			if info.Min != nil && info.Max != nil {
				x.Props.HasRange, x.Props.Low, x.Props.High = true, *info.Min, *info.Max
			}
			if i >= 0 {
				x.Deadband, x.MinInterval = c.Export[i].Deadband, c.Export[i].MinInterval
				x.Props.Writable = c.Export[i].Writable
			}
			out = append(out, x)
		}
	}
	for i, x := range c.Export {
		switch {
		case !matched[i]:
			unused = append(unused, i)
		case x.Writable && !params[i]:
			notWritable = append(notWritable, i)
		}
	}
	return out, unused, notWritable
}

// member finds a signal or parameter of the application by its path, with
// or without the application's name.
func member(app *runtime.App, path string) (kind signals.Kind, full string, ok bool) {
	rel := strings.TrimPrefix(path, app.Name+".")
	i := strings.LastIndexByte(rel, '.')
	if i < 0 {
		return signals.Invalid, "", false
	}
	n, found := app.Find(rel[:i])
	if !found {
		return signals.Invalid, "", false
	}
	if p, isPort := n.Port(rel[i+1:]); isPort {
		return p.Kind(), p.Info().Path, true
	}
	if p, isParam := n.Param(rel[i+1:]); isParam {
		return p.Info().Kind, p.Info().Path, true
	}
	return signals.Invalid, "", false
}

// routeAt names a remote route's input as the loader names inputs.
func routeAt(r runtime.RemoteRoute) string {
	i := strings.LastIndexByte(r.Sink, '.')
	if i < 0 {
		return r.Sink
	}
	return r.Sink[:i] + ": inputs." + r.Sink[i+1:]
}

// check is the section's check of one application (Section.Check).
func check(app *runtime.App, c *Config) error {
	var errs runtime.ConfigErrors
	if c == nil {
		for _, r := range app.Remote {
			a, _, _ := strings.Cut(r.Source, ".")
			errs = append(errs, runtime.SectionError(r.Pos, routeAt(r),
				"route %q names application %s, but %s belongs to no system: routes between applications need a system: section with %s among its peers",
				r.Source, a, app.Name, a))
		}
		if len(errs) == 0 {
			return nil
		}
		return errs
	}
	var fes runtime.FieldErrors
	peers := map[string]bool{}
	for i, p := range c.Peers {
		if p == app.Name {
			fes.Add(fmt.Sprintf("peers[%d]", i), "%s is this application's own name; peers are the other applications", p)
		}
		peers[p] = true
	}
	for _, r := range app.Remote {
		a, _, _ := strings.Cut(r.Source, ".")
		if !peers[a] {
			hint := ""
			if best := runtime.Closest(a, c.Peers); best != "" {
				hint = fmt.Sprintf(" (did you mean %s?)", best)
			}
			errs = append(errs, runtime.SectionError(r.Pos, routeAt(r),
				"route %q names application %s, which is not a peer of %s in system %s%s: list it under system: peers (peers: %s)",
				r.Source, a, app.Name, c.Name, hint, listOrNone(c.Peers)))
		}
	}
	_, unused, notWritable := exports(app, c)
	for _, i := range unused {
		fes.Add(fmt.Sprintf("export[%d].match", i), "%q matches no signal or parameter of %s", c.Export[i].Match, app.Name)
	}
	for _, i := range notWritable {
		fes.Add(fmt.Sprintf("export[%d].writable", i), "%q matches no parameter: only parameters can be written", c.Export[i].Match)
	}
	for i, w := range c.Writes {
		if w.From == "" {
			continue
		}
		if _, _, ok := member(app, w.From); !ok {
			fes.Add(fmt.Sprintf("writes[%d].from", i), "%s has no signal or parameter %s", app.Name, strings.TrimPrefix(w.From, app.Name+"."))
		}
	}
	for _, fe := range fes {
		errs = append(errs, &runtime.ConfigError{Pos: app.SectionPos(Key, fe), Path: runtime.JoinFieldPath(Key, fe.Path), Msg: fe.Msg})
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// CheckApps checks the applications of one `runtime validate` run against
// each other: every route to, and every write into, an application among
// them must name a member it exports, of the same type (routes between
// applications are never converted), writable where written, in the same
// system. Each mistake is placed at the route or write that makes it.
func CheckApps(apps []*runtime.App) runtime.ConfigErrors {
	byName := map[string]*runtime.App{}
	for _, a := range apps {
		if a != nil {
			byName[a.Name] = a
		}
	}
	published := map[string]map[string]exported{}
	exportsOf := func(a *runtime.App) map[string]exported {
		if m, ok := published[a.Name]; ok {
			return m
		}
		m := map[string]exported{}
		if c := Of(a); c != nil {
			xs, _, _ := exports(a, c)
			for _, x := range xs {
				m[strings.TrimPrefix(x.Path, a.Name+".")] = x
			}
		}
		published[a.Name] = m
		return m
	}
	var errs runtime.ConfigErrors
	for _, b := range apps {
		cb := Of(b)
		if b == nil || cb == nil {
			continue
		}
		// source returns what application a exports at rel, or why not.
		source := func(a *runtime.App, rel string) (exported, string) {
			ca := Of(a)
			switch {
			case ca == nil:
				return exported{}, fmt.Sprintf("%s has no system: section, so it exports nothing", a.Name)
			case ca.Name != cb.Name:
				return exported{}, fmt.Sprintf("%s is in system %s, %s in system %s", a.Name, ca.Name, b.Name, cb.Name)
			}
			x, ok := exportsOf(a)[rel]
			if !ok {
				if _, _, exists := member(a, rel); exists {
					return exported{}, fmt.Sprintf("%s does not export %s: add it to its system: export patterns", a.Name, rel)
				}
				return exported{}, fmt.Sprintf("%s has no signal or parameter %s", a.Name, rel)
			}
			return x, ""
		}
		for _, r := range b.RemoteInputs() {
			a := byName[r.App]
			if a == nil {
				continue
			}
			x, why := source(a, r.Path)
			if why == "" && x.Kind != r.Kind() {
				why = fmt.Sprintf("type mismatch: %s is %s, the input is %s; routes between applications are not converted", r.Source, x.Kind, r.Kind())
			}
			if why != "" {
				errs = append(errs, runtime.SectionError(r.Pos, routeAt(r.RemoteRoute), "route %q: %s", r.Source, why))
			}
		}
		for i, w := range cb.Writes {
			an, rel, _ := strings.Cut(w.To, ".")
			a := byName[an]
			if a == nil {
				continue
			}
			x, why := source(a, rel)
			kind, _, _ := member(b, w.From)
			if n, ok := a.Find(rel[:max(strings.LastIndexByte(rel, '.'), 0)]); ok {
				if _, isPort := n.Port(rel[strings.LastIndexByte(rel, '.')+1:]); isPort {
					why = fmt.Sprintf("%s is a signal of %s; only parameters can be written", rel, an)
				}
			}
			switch {
			case why != "":
			case x.Param == nil:
				why = fmt.Sprintf("%s is a signal of %s; only parameters can be written", rel, an)
			case !x.Props.Writable:
				why = fmt.Sprintf("%s exports %s read-only: mark its export pattern writable: true", an, rel)
			case kind != signals.Invalid && kind != x.Kind:
				why = fmt.Sprintf("type mismatch: %s is %s, %s is %s; writes between applications are not converted", w.To, x.Kind, w.From, kind)
			}
			if why != "" {
				fe := &runtime.FieldError{Path: fmt.Sprintf("writes[%d].to", i)}
				errs = append(errs, &runtime.ConfigError{Pos: b.SectionPos(Key, fe), Path: Key + "." + fe.Path, Msg: why})
			}
		}
	}
	sort.SliceStable(errs, func(i, j int) bool {
		if errs[i].Pos.File != errs[j].Pos.File {
			return errs[i].Pos.File < errs[j].Pos.File
		}
		if errs[i].Pos.Line != errs[j].Pos.Line {
			return errs[i].Pos.Line < errs[j].Pos.Line
		}
		return errs[i].Pos.Col < errs[j].Pos.Col
	})
	return errs
}
