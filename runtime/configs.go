package runtime

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/metronome-rt/metronome/signals"
)

// Stage 3, component configs: each component of a known type has its
// config decoded, validated and built, parents before children; then the
// entry's parameters and alarms are checked against what the build
// declared. A config's Validate and a type's Build report FieldErrors,
// which are placed at the exact key or value (or character) they name.

func (l *loader) configure() {
	for _, e := range l.entries {
		l.checkClash(e)
		if e.typ != nil {
			l.build(e)
		}
	}
}

// checkClash reports a component whose name is already a signal,
// parameter or alarm of its parent: a route could not tell them apart.
func (l *loader) checkClash(e *entry) {
	if e.parent == nil || e.clash {
		return
	}
	p := e.parent.node
	if e.parent.typ == nil || l.failed[p] {
		return // the parent was not built: its members are not known
	}
	if _, taken := p.byName[e.node.Name]; !taken {
		return
	}
	l.errs.add(e.namePos, e.node.Path, "name %q is already used by a signal, parameter or alarm of %s", e.node.Name, p.Path)
	e.clash = true
	kept := p.Children[:0]
	for _, c := range p.Children {
		if c != e.node {
			kept = append(kept, c)
		}
	}
	p.Children = kept
}

// build decodes, validates and builds one component.
func (l *loader) build(e *entry) {
	node, d, ce := e.node, e.d, &e.ce
	node.log = l.opts.Log.With().Str("component", node.Path).Logger()
	b := &Builder{node: node, path: node.Path, emit: l.app.emit}
	declareStd(b)
	cfg := e.typ.newConfig()
	if isBad(&ce.Config) {
		l.fail(node) // reported where the variable is named
		return
	}
	before := len(l.errs.list)
	if ce.Config.Kind != 0 {
		d.decode(&ce.Config, reflect.ValueOf(cfg).Elem(), "config")
		l.secrets(e, reflect.TypeOf(cfg).Elem())
	}
	if len(l.errs.list) > before {
		l.fail(node) // its config is not what the file says
		return
	}
	if v, ok := cfg.(Validator); ok {
		if err := v.Validate(); err != nil {
			for _, fe := range AsFieldErrors(err) {
				l.fieldError(e, fe)
			}
			l.fail(node)
			return
		}
	}
	comp, err := e.typ.build(b, cfg)
	node.comp = comp
	errs := append([]error{err}, b.errs...)
	if errors.Join(errs...) != nil {
		l.fail(node)
	}
	for _, err := range errs {
		fes, plain := splitFieldErrors(err)
		for _, fe := range fes {
			l.fieldError(e, fe)
		}
		for _, p := range plain {
			l.errs.add(d.pos(e.n), node.Path, "%v", p)
		}
	}
	if e.inst == nil { // an instance's come with what it exposes (model.go)
		l.parameters(e)
		l.alarms(e)
		l.outputOps(e)
	}
}

// fieldError reports a mistake in a component's config at the key or
// value its path names. Where the path leads to a key the file does not
// hold (a default found wrong), the error goes to the nearest enclosing
// node that is there; without a `config:` at all, to the component.
func (l *loader) fieldError(e *entry, fe *FieldError) {
	at := JoinFieldPath("config", fe.Path)
	l.errs.add(l.fieldPos(e, fe), e.d.join(at), "%s", fe.Msg)
}

func (l *loader) fieldPos(e *entry, fe *FieldError) Pos {
	if e.ce.Config.Kind == 0 {
		return e.d.pos(e.n)
	}
	return l.placeField(e.d, &e.ce.Config, fe)
}

// placeField is the position of a field error below the YAML node n that
// its path starts from: the key or value the path names, the character
// Offset points at, or the nearest enclosing node the file holds.
func (l *loader) placeField(d *decoder, n *yaml.Node, fe *FieldError) Pos {
	val, key, found := fieldNode(n, fe.Path)
	switch {
	case !found:
		return d.pos(val)
	case fe.AtKey && key != nil:
		return d.pos(key)
	case fe.Offset > 0:
		if _, interpolated := l.expanded[val]; !interpolated {
			if line, col, ok := scalarPos(d.srcOf(val), val, fe.Offset); ok {
				return Pos{File: d.fileOf(val), Line: line, Col: col}
			}
		}
	}
	return d.pos(val)
}

// parameters applies the entry's `parameters:` to the declared parameters.
func (l *loader) parameters(e *entry) {
	d, node, m := e.d, e.node, &e.ce.Parameters
	if m.Kind != yaml.MappingNode || isBad(m) {
		return // nothing given, or reported by the structure stage
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], deref(m.Content[i+1])
		key := "parameters." + k.Value
		p, ok := node.Param(k.Value)
		if !ok {
			if l.failed[node] {
				continue // the build did not finish: the parameter may be missing for that
			}
			names := paramNames(node)
			hint := suggest(k.Value, names)
			if hint == "" {
				hint = fmt.Sprintf(" (%s %s)", node.TypeName, listOrNone(names))
			}
			d.fail(k, "parameters", "unknown parameter %q%s", k.Value, hint)
			continue
		}
		if isBad(v) {
			continue // already reported: a failed ${...}
		}
		if v.Kind != yaml.ScalarNode || isNull(v) {
			d.fail(v, key, "want a %s value, got %s", p.Info().Kind, describe(v))
			continue
		}
		val, err := signals.ParseValue(p.Info().Kind, v.Value)
		if err != nil {
			d.fail(v, key, "want a %s, got %q", p.Info().Kind, v.Value)
			continue
		}
		if err := p.SetValue(val); err != nil {
			d.fail(v, key, "%s", strings.TrimPrefix(err.Error(), "parameter "+p.Info().Path+": "))
		}
	}
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "has no parameters"
	}
	return "parameters: " + strings.Join(names, ", ")
}

// alarms applies the entry's `alarms:` overrides; their values were
// checked by the structure stage.
func (l *loader) alarms(e *entry) {
	d, node := e.d, e.node
	if len(e.ce.Alarms) == 0 {
		return
	}
	m := deref(valueAt(e.n, "alarms"))
	for i := 0; m != nil && i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		c := e.ce.Alarms[k.Value]
		a, ok := node.Alarm(k.Value)
		if !ok {
			if l.failed[node] {
				continue
			}
			var names []string
			for _, x := range node.alarms {
				names = append(names, x.info.Name)
			}
			d.fail(k, "alarms", "unknown alarm %q%s", k.Value, suggest(k.Value, names))
			continue
		}
		if c.Level != "" {
			if lv, err := ParseLevel(c.Level); err == nil {
				a.info.Level = lv
			}
		}
		if c.Delay != nil && *c.Delay >= 0 {
			a.info.Delay = *c.Delay
		}
		if c.Enabled != nil {
			a.enabled = *c.Enabled
		}
		if c.Text != "" {
			a.info.Text, a.text = c.Text, c.Text
		}
	}
}

// paramNames lists a component's parameters, those an instance exposes
// included.
func paramNames(n *Node) []string {
	var names, exposed []string
	for _, q := range n.params {
		names = append(names, q.Info().Name)
	}
	for name := range n.aliases {
		if _, ok := n.byName[name].(AnyParam); ok {
			exposed = append(exposed, name)
		}
	}
	sort.Strings(exposed)
	return append(names, exposed...)
}
