package runtime

import (
	"math"
	"path/filepath"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/metronome-rt/metronome/scheduler"
)

// Stage 2, structure: the application's own keys and every component
// entry, following includes. It names and places every component, checks
// names, rates and types, and the shape of each entry's parameters,
// inputs and alarms; what those name is checked once the component is
// built.

// entry is a component entry with where it came from, kept for the later
// stages.
type entry struct {
	node    *Node
	parent  *entry
	d       *decoder   // its messages name the component
	n       *yaml.Node // the entry's mapping
	ce      componentEntry
	typ     *Type // nil: unknown, so the component is not built
	namePos Pos
	inputs  []inputSpec
	// clash: the name is taken (by a sibling, a member of the parent or
	// the runtime), so the component is checked but kept out of the tree.
	clash bool
	// inst: the entry instantiates a model (model.go).
	inst *instance
}

// inputSpec is one `inputs:` entry as written.
type inputSpec struct {
	k, v  *yaml.Node
	route inputRoute
	pos   Pos      // of the routing path
	ops   []opSpec // its operators whose form is right
	// opsBad: some operator's form is wrong, so none is installed.
	opsBad bool
}

// structure checks the application's keys and builds the component tree
// without building components. It returns false if the file is not an
// application at all.
func (l *loader) structure(d *decoder, root *yaml.Node) bool {
	if root.Kind != yaml.MappingNode {
		d.fail(root, "", "an application file is a mapping with the keys application, components, ...; got %s", describe(root))
		return false
	}
	var af appFile
	l.takeSections(d, root)
	d.decode(root, reflect.ValueOf(&af).Elem(), "")
	app := l.app
	app.Description = af.Description
	switch {
	case af.Application == "":
		l.nameFailed = true
		switch {
		case given(root, "application"):
			// reported by the decoder, or where the variable is named
		case valueAt(root, "application") != nil:
			l.errs.add(d.keyPos(root, "application"), "application", "the name is empty: give the application's name, which absolute routing paths start with")
		case !l.errs.misspelt(root, "application"):
			l.errs.add(d.pos(root), "", "missing key \"application\": the application's name, which absolute routing paths start with")
		}
	default:
		if err := checkName(af.Application); err != nil {
			l.errs.add(d.keyPos(root, "application"), "application", "%v", err)
			l.nameFailed = true
		}
	}
	app.Name = af.Application
	app.View = l.viewConfig(d, root, af.View)
	def := defaultRate()
	l.applyRate(d, root, "", &def, af.FS, af.Priority, af.Group, af.Overrun)
	app.Rate = def
	if len(af.Components) == 0 {
		switch at := valueAt(root, "components"); {
		case at == nil:
			if !l.errs.misspelt(root, "components") {
				l.errs.add(d.pos(root), "", "the application has no components (add a `components:` list)")
			}
		case at.Kind == yaml.SequenceNode || isNull(at):
			l.errs.add(d.pos(at), "components", "the application has no components")
		default:
			l.unknownIn(nil) // reported by the decoder
		}
	}
	app.Nodes = l.components(d, af.Components, nil, def, map[string]*entry{})
	l.sectionsLoad(def)
	return true
}

// applyRate overrides inherited rate settings with the ones given. A
// mistake leaves the rate group unknown.
func (l *loader) applyRate(d *decoder, m *yaml.Node, path string, r *Rate, fs *float64, prio, group string, ov *overrunConfig) {
	before := len(l.errs.list)
	defer func() {
		if len(l.errs.list) > before {
			l.rateFailed = true
		}
	}()
	for _, key := range []string{"fs", "priority", "group", "overrun"} {
		if badAt(m, key) {
			l.rateFailed = true // reported where the variable is named
		}
	}
	if fs != nil {
		p := d.keyPos(m, "fs")
		switch {
		case math.IsNaN(*fs) || *fs <= 0:
			l.errs.add(p, joinPath(path, "fs"), "fs must be above 0 Hz, got %v", *fs)
		case *fs > MaxFS:
			l.errs.add(p, joinPath(path, "fs"), "fs %v Hz is above the maximum of %d Hz", *fs, MaxFS)
		default:
			r.FS = *fs
		}
	}
	if prio != "" {
		p, err := scheduler.ParsePriority(prio)
		if err != nil {
			l.errs.add(d.keyPos(m, "priority"), joinPath(path, "priority"), "%v", err)
		}
		r.Priority = p
	}
	if group != "" {
		if err := checkName(group); err != nil {
			l.errs.add(d.keyPos(m, "group"), joinPath(path, "group"), "scheduling group: %v", err)
		}
		r.Group = group
	}
	if ov != nil {
		om := valueAt(m, "overrun")
		bad := false
		for _, f := range []struct {
			key string
			v   *int
		}{{"catch_up", ov.CatchUp}, {"alarm_after", ov.AlarmAfter}} {
			if f.v != nil && *f.v < 0 && om != nil {
				l.errs.add(d.keyPos(om, f.key), joinPath(path, "overrun."+f.key), "%s must be 0 or more, got %d", f.key, *f.v)
				bad = true
			}
		}
		if ov.CatchUp != nil {
			r.Overrun.CatchUp = *ov.CatchUp
		}
		if ov.AlarmAfter != nil {
			r.Overrun.AlarmAfter = *ov.AlarmAfter
		}
		if ov.Suspend != nil {
			r.Overrun.Suspend = *ov.Suspend
		}
		if err := r.Overrun.Validate(); err != nil && !bad {
			l.errs.add(d.keyPos(m, "overrun"), joinPath(path, "overrun"), "%v", err)
		}
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + ": " + key
}

// components reads a components list, following includes, and returns the
// components that join the tree. seen holds the names used in the list so
// far (includes add to the list that holds them).
func (l *loader) components(d *decoder, list []yaml.Node, parent *entry, inherit Rate, seen map[string]*entry) []*Node {
	var out []*Node
	for i := range list {
		out = append(out, l.item(d, &list[i], parent, inherit, seen)...)
	}
	return out
}

// item reads one item of a components list: an include or an entry.
func (l *loader) item(d *decoder, n *yaml.Node, parent *entry, inherit Rate, seen map[string]*entry) []*Node {
	if _, inc := mapEntry(n, "include"); inc != nil {
		return l.include(d, inc, n, parent, inherit, seen)
	}
	if e := l.component(d, n, parent, inherit, seen); e != nil && !e.clash {
		return []*Node{e.node}
	}
	return nil
}

// include loads a file holding a list of component entries, or one entry,
// relative to the including file.
func (l *loader) include(d *decoder, inc, item *yaml.Node, parent *entry, inherit Rate, seen map[string]*entry) []*Node {
	scope := parentNode(parent)
	if len(item.Content) != 2 {
		at := item
		for i := 0; i+1 < len(item.Content); i += 2 {
			if item.Content[i].Value != "include" {
				at = item.Content[i]
				break
			}
		}
		d.fail(at, "include", "unexpected key %q: an include entry has only the key \"include\"; put the component's settings in the included file", at.Value)
		l.unknownIn(scope)
		return nil
	}
	if isBad(inc) {
		l.unknownIn(scope)
		return nil // reported where the variable is named
	}
	if inc.Kind != yaml.ScalarNode || inc.Value == "" {
		d.fail(inc, "include", "want a file path, got %s", describe(inc))
		l.unknownIn(scope)
		return nil
	}
	file := inc.Value
	if !filepath.IsAbs(file) {
		file = filepath.Join(filepath.Dir(d.file), file)
	}
	stack := append(l.including[:len(l.including):len(l.including)], d.file)
	for i, f := range stack {
		if filepath.Clean(f) == filepath.Clean(file) {
			d.fail(inc, "include", "include cycle: %s -> %s", strings.Join(stack[i:], " -> "), file)
			l.unknownIn(scope)
			return nil
		}
	}
	data, err := l.readInclude(file)
	if err != nil {
		d.fail(inc, "include", "cannot read %s: %v", file, unwrapPathError(err))
		l.unknownIn(scope)
		return nil
	}
	root, src := l.parse(file, data)
	if root == nil {
		l.unknownIn(scope)
		return nil
	}
	l.including = append(l.including, d.file)
	defer func() { l.including = l.including[:len(l.including)-1] }()
	sub := &decoder{file: file, src: src, errs: l.errs, path: d.path, origin: l.origin}
	switch root.Kind {
	case yaml.SequenceNode:
		var out []*Node
		for _, c := range root.Content {
			out = append(out, l.item(sub, c, parent, inherit, seen)...)
		}
		return out
	case yaml.MappingNode:
		return l.item(sub, root, parent, inherit, seen)
	}
	sub.fail(root, "", "an included file holds a list of components or one component, got %s", describe(root))
	l.unknownIn(scope)
	return nil
}

func parentNode(e *entry) *Node {
	if e == nil {
		return nil
	}
	return e.node
}

// component reads one component entry and its subcomponents. It returns
// nil for an entry without a usable name.
func (l *loader) component(d *decoder, n *yaml.Node, parent *entry, inherit Rate, seen map[string]*entry) *entry {
	scope := parentNode(parent)
	parentPath := l.app.Name
	if scope != nil {
		parentPath = scope.Path
	}
	join := func(name string) string {
		if parentPath == "" { // the application's name is missing
			return name
		}
		return parentPath + "." + name
	}
	cd := d.with(d.path)
	if name := scalarAt(n, "name"); checkName(name) == nil {
		// Name the component in messages about its own keys too.
		cd.path = join(name)
		n = l.overridden(cd.path, n) // inside a model instance
	}
	e := &entry{parent: parent, n: n}
	cd.decode(n, reflect.ValueOf(&e.ce).Elem(), "")
	ce := &e.ce
	if n.Kind != yaml.MappingNode {
		if isNull(n) { // a lone dash: decoding reported nothing
			l.errs.add(d.pos(n), d.path, "empty list item: a component needs at least `name:` and `type:`")
		}
		l.unknownIn(scope)
		return nil
	}
	switch {
	case ce.Name == "":
		l.unknownIn(scope)
		if !given(n, "name") && !l.errs.misspelt(n, "name") {
			l.errs.add(d.pos(n), d.path, "component without a name (every component needs `name:`)")
		}
		return nil
	case checkName(ce.Name) != nil:
		// No route can name it, so nothing else is unknown.
		l.errs.add(d.keyPos(n, "name"), d.path, "component name: %v", checkName(ce.Name))
		return nil
	}
	path := join(ce.Name)
	e.namePos = d.keyPos(n, "name")
	prev, dup := seen[ce.Name]
	switch {
	case dup && prev.namePos.File == e.namePos.File:
		l.errs.add(e.namePos, path, "duplicate component name %q (first on line %d)", ce.Name, prev.namePos.Line)
	case dup:
		l.errs.add(e.namePos, path, "duplicate component name %q (first at %s)", ce.Name, prev.namePos)
	case scope == nil && ce.Name == RateGroupsName:
		l.errs.add(e.namePos, path, "the name %s is reserved: the runtime puts the rate groups' statistics there", RateGroupsName)
		e.clash = true
	case scope == nil && ce.Name == ForcesActiveAlarm:
		l.errs.add(e.namePos, path, "the name %s is reserved: it is the application's alarm raised while signals are forced", ForcesActiveAlarm)
		e.clash = true
	default:
		seen[ce.Name] = e
	}
	cd.path = path
	e.d = cd
	rate := inherit
	l.applyRate(cd, n, path, &rate, ce.FS, ce.Priority, ce.Group, ce.Overrun)
	node := &Node{Name: ce.Name, Path: path, TypeName: ce.Type, Parent: scope, Rate: rate, Description: ce.Description}
	e.node = node
	if dup {
		e.clash = true
		if l.namesakes == nil {
			l.namesakes = map[*Node][]*Node{}
		}
		l.namesakes[prev.node] = append(l.namesakes[prev.node], node)
	}
	typ, known := l.reg.Lookup(ce.Type)
	_, modelKey := mapEntry(n, "model")
	switch {
	case modelKey != nil && ce.Model == "":
		l.fail(node)
		if !isBad(modelKey) && !isNull(modelKey) {
			l.errs.add(d.keyPos(n, "model"), joinPath(path, "model"), "empty: give the model's file")
		} else if isNull(modelKey) {
			l.errs.add(d.keyPos(n, "model"), joinPath(path, "model"), "empty: give the model's file")
		}
	case modelKey != nil:
		if !l.instantiate(e, cd) {
			l.fail(node)
		}
	case ce.Type == "":
		l.fail(node)
		switch {
		case given(n, "type"):
			// reported by the decoder, or where the variable is named
		case valueAt(n, "type") != nil:
			l.errs.add(d.keyPos(n, "type"), joinPath(path, "type"), "empty: give the component type (see `runtime types`)")
		case !l.errs.misspelt(n, "type"):
			l.errs.add(d.pos(n), path, "missing key \"type\": the component type (see `runtime types`), or \"model\": a model file")
		}
	case !known:
		l.errs.add(d.keyPos(n, "type"), path, "unknown component type %q%s", ce.Type, suggest(ce.Type, l.reg.Names()))
		l.fail(node)
	default:
		e.typ = typ
		node.TypeName = typ.name
	}
	l.shapes(e)
	l.app.all = append(l.app.all, node)
	l.entries = append(l.entries, e)
	switch {
	case e.inst != nil:
		node.Children = l.modelComponents(e, rate)
	case len(ce.Components) > 0:
		node.Children = l.components(cd, ce.Components, e, rate, map[string]*entry{})
	}
	return e
}

// given reports whether a mapping has key with a value that is there,
// though perhaps not usable (a list where a name belongs, a failed
// ${...}): the decoder has reported that already. `name:` with nothing
// after it is not given.
func given(m *yaml.Node, key string) bool {
	v := valueAt(m, key)
	return v != nil && !isNull(v) && !(v.Kind == yaml.ScalarNode && v.Value == "" && !isBad(v))
}

// shapes checks the form of an entry's parameters, inputs and alarms,
// which does not depend on its type; their names are checked once the
// component is built.
func (l *loader) shapes(e *entry) {
	d := e.d
	if m := &e.ce.Parameters; m.Kind != 0 && !isNull(m) && !isBad(m) && m.Kind != yaml.MappingNode {
		d.fail(m, "parameters", "want a mapping of parameter names to values, got %s", describe(m))
	}
	for name, c := range e.ce.Alarms {
		v := valueAt(valueAt(e.n, "alarms"), name)
		if v == nil {
			continue
		}
		if c.Level != "" {
			if _, err := ParseLevel(c.Level); err != nil {
				d.errs.add(d.keyPos(v, "level"), d.join("alarms."+name+".level"), "%v", err)
			}
		}
		if c.Delay != nil && *c.Delay < 0 {
			d.errs.add(d.keyPos(v, "delay"), d.join("alarms."+name+".delay"), "delay must not be negative, got %s", *c.Delay)
		}
	}
	m := &e.ce.Inputs
	if m.Kind == 0 || isNull(m) || isBad(m) {
		return
	}
	if m.Kind != yaml.MappingNode {
		d.fail(m, "inputs", "want a mapping of input names to routes, got %s", describe(m))
		return
	}
	e.inputs = make([]inputSpec, 0, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		if in, ok := l.input(e, m.Content[i], m.Content[i+1]); ok {
			e.inputs = append(e.inputs, in)
		}
	}
}

// input reads one `inputs:` entry: a routing path, or {route: path,
// delay: true}.
func (l *loader) input(e *entry, k, v *yaml.Node) (inputSpec, bool) {
	d := e.d
	v = deref(v)
	if isBad(v) {
		return inputSpec{}, false // already reported: a failed ${...}
	}
	in := inputSpec{k: k, v: v, pos: d.pos(v)}
	switch v.Kind {
	case yaml.ScalarNode:
		in.route.Route = v.Value
	case yaml.MappingNode:
		before := len(l.errs.list)
		d.decode(v, reflect.ValueOf(&in.route).Elem(), "inputs."+k.Value)
		if len(l.errs.list) > before {
			return in, false
		}
		in.pos = d.keyPos(v, "route") // point at the path, not the braces
		in.ops, in.opsBad = parseOps(d, &in.route.Ops, "inputs."+k.Value+".ops")
		in.opsBad = !in.opsBad
	default:
		d.fail(v, "inputs."+k.Value, "want a routing path such as %s.Comp.Out, or {route: ..., delay: true, ops: [...]}, got %s", l.app.Name, describe(v))
		return in, false
	}
	in.route.Route = strings.TrimSpace(in.route.Route)
	if in.route.Route == "" {
		if v.Kind == yaml.MappingNode && valueAt(v, "route") == nil {
			d.errs.add(in.pos, d.join("inputs."+k.Value), "missing key \"route\": the routing path, for example %s.Comp.Out", l.app.Name)
			return in, false
		}
		d.errs.add(in.pos, d.join("inputs."+k.Value), "empty route")
		return in, false
	}
	return in, true
}
