package runtime

import (
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Reusable models, as CDP's model files: a group of components with their
// routes, defined once in a file of its own and instantiated by component
// entries that say `model: FILE` instead of `type:`. The model exposes some
// members of its components under names of its own (`expose:`), which the
// instance's entry routes into (`inputs:`), sets (`parameters:`, `alarms:`)
// and transforms (`outputs:`) as it would a component's, and which other
// components route from. `override:` changes the model's components for
// one instance: their parameters, config, routes, alarms and rates.
//
// An instance is a component of its own in the tree (App.Kitchen), whose
// children are the model's components (App.Kitchen.Control). An exposed
// member is the component's member itself under a second name, so an
// exposed signal costs nothing on the tick.

// modelFile is the YAML of a model file.
type modelFile struct {
	// Model is the model's name: the type name its instances show.
	Model string `yaml:"model"`
	// Description says what the model does.
	Description string `yaml:"description"`
	// Expose maps a name of the instance to a member of a component inside:
	// Temperature: Control.In.
	Expose yaml.Node `yaml:"expose"`
	// Components are the model's components, as in an application.
	Components []yaml.Node `yaml:"components"`
}

// modelDef is a model file read once per load.
type modelDef struct {
	name   string
	file   string
	src    *source
	d      *decoder
	expose []exposeSpec
	comps  []yaml.Node
	ok     bool // the file is a usable model
}

// exposeSpec is one `expose:` entry.
type exposeSpec struct {
	k, v *yaml.Node
}

// instance is a model instance being built: what later stages and error
// messages need to know of it.
type instance struct {
	e        *entry
	def      *modelDef
	at       Pos                     // of the instance's `model:` key
	override map[string]*overrideSet // by component path inside the model
	names    []string                // paths of the model's components, for hints
}

// overrideSet is one `override:` entry.
type overrideSet struct {
	k, v *yaml.Node
	used bool
}

// modelInstanceType builds the component that stands for an instance: it
// has the standard members and does nothing on its tick.
var modelInstanceType = Define(Spec[noConfig]{
	Name:    "model",
	Summary: "an instance of a model file",
	Build:   func(*Builder, *noConfig) (Component, error) { return modelInstance{}, nil },
})

type modelInstance struct{}

func (modelInstance) Process(Tick) {}

// overridable are the keys `override:` may set on a model's component.
var overridable = []string{"description", "fs", "priority", "group", "overrun", "parameters", "inputs", "outputs", "alarms", "config"}

// instantiate reads the model an entry names and makes the entry its
// instance. It returns false if the model cannot be used.
func (l *loader) instantiate(e *entry, d *decoder) bool {
	n, ce := e.n, &e.ce
	mv := valueAt(n, "model")
	if isBad(mv) {
		return false
	}
	for _, key := range []string{"type", "config", "components"} {
		if k, v := mapEntry(n, key); k != nil && !isNull(v) {
			switch key {
			case "type":
				d.fail(k, key, "give either type or model, not both")
			case "config":
				d.fail(k, key, "a model instance has no config of its own: set its components' config under override:")
			default:
				d.fail(k, key, "a model instance's components are the model's: change them under override:")
			}
			return false
		}
	}
	file := ce.Model
	if !filepath.IsAbs(file) {
		file = filepath.Join(filepath.Dir(d.fileOf(mv)), file)
	}
	file = filepath.Clean(file)
	for i, f := range l.modelStack {
		if f == file {
			d.fail(mv, "model", "model cycle: %s -> %s", strings.Join(l.modelStack[i:], " -> "), file)
			return false
		}
	}
	def := l.readModel(d, mv, file)
	if def == nil || !def.ok {
		return false
	}
	inst := &instance{e: e, def: def, at: d.pos(mv)}
	l.overrides(inst, d)
	e.inst = inst
	e.typ = modelInstanceType
	e.node.TypeName = def.name
	l.instances = append(l.instances, inst)
	return true
}

// readModel reads and checks a model file once per load; its own mistakes
// are reported once, however many instances it has.
func (l *loader) readModel(d *decoder, at *yaml.Node, file string) *modelDef {
	if def, ok := l.models[file]; ok {
		return def
	}
	if l.models == nil {
		l.models = map[string]*modelDef{}
	}
	def := &modelDef{file: file}
	l.models[file] = def
	data, err := l.readInclude(file)
	if err != nil {
		d.fail(at, "model", "cannot read %s: %v", file, unwrapPathError(err))
		return def
	}
	root, src := l.parse(file, data)
	if root == nil {
		return def
	}
	md := &decoder{file: file, src: src, errs: l.errs, origin: l.origin}
	def.src, def.d = src, md
	if root.Kind != yaml.MappingNode {
		md.fail(root, "", "a model file is a mapping with the keys model, expose, components; got %s", describe(root))
		return def
	}
	before := len(l.errs.list)
	var mf modelFile
	md.decode(root, reflect.ValueOf(&mf).Elem(), "")
	switch {
	case mf.Model == "" && !given(root, "model"):
		md.fail(root, "", "missing key \"model\": the model's name, which its instances show as their type")
	case mf.Model != "" && checkName(mf.Model) != nil:
		md.fail(valueAt(root, "model"), "model", "model name: %v", checkName(mf.Model))
	}
	if len(mf.Components) == 0 && !badAt(root, "components") && mf.Model != "" {
		md.errs.add(md.keyPos(root, "components"), "components", "the model has no components")
	}
	if m := &mf.Expose; m.Kind != 0 && !isNull(m) && !isBad(m) {
		if m.Kind != yaml.MappingNode {
			md.fail(m, "expose", "want a mapping of names to members inside, such as {Temperature: Control.In}, got %s", describe(m))
		}
		for i := 0; m.Kind == yaml.MappingNode && i+1 < len(m.Content); i += 2 {
			k, v := m.Content[i], deref(m.Content[i+1])
			switch {
			case checkName(k.Value) != nil:
				md.fail(k, "expose", "%v", checkName(k.Value))
			case isBad(v):
			case v.Kind != yaml.ScalarNode || strings.TrimSpace(v.Value) == "":
				md.fail(v, "expose."+k.Value, "want the path of a member inside the model, such as Control.In, got %s", describe(v))
			case strings.HasPrefix(strings.TrimSpace(v.Value), "."):
				md.fail(v, "expose."+k.Value, "%q: a path inside the model starts with a component's name, without dots", v.Value)
			default:
				def.expose = append(def.expose, exposeSpec{k: k, v: v})
			}
		}
	}
	if len(l.errs.list) > before {
		return def
	}
	def.name, def.comps, def.ok = mf.Model, mf.Components, true
	return def
}

// overrides reads an instance's `override:` mapping.
func (l *loader) overrides(inst *instance, d *decoder) {
	m := deref(valueAt(inst.e.n, "override"))
	if m == nil || isNull(m) || isBad(m) {
		return
	}
	if m.Kind != yaml.MappingNode {
		d.fail(m, "override", "want a mapping of the model's component names to what changes, such as {Control: {parameters: {K: 2}}}, got %s", describe(m))
		return
	}
	inst.override = map[string]*overrideSet{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], deref(m.Content[i+1])
		key := "override." + k.Value
		if isBad(v) {
			continue
		}
		if v.Kind != yaml.MappingNode {
			d.fail(v, key, "want a mapping of keys to change (%s), got %s", strings.Join(overridable, ", "), describe(v))
			continue
		}
		// What may be overridden is, even beside what may not.
		kept := *v
		kept.Content = nil
		for j := 0; j+1 < len(v.Content); j += 2 {
			name := v.Content[j].Value
			if contains(overridable, name) {
				kept.Content = append(kept.Content, v.Content[j], v.Content[j+1])
				continue
			}
			hint := ""
			switch name {
			case "name", "type", "model", "components", "include":
				hint = ": a model's components keep their name, type and subcomponents"
			default:
				hint = suggest(name, overridable)
			}
			d.fail(v.Content[j], key, "%q cannot be overridden%s (override sets %s)", name, hint, strings.Join(overridable, ", "))
		}
		markOrigin(l.origin, v, d.srcOf(v))
		l.origin[&kept] = d.srcOf(v)
		inst.override[k.Value] = &overrideSet{k: k, v: &kept}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// markOrigin records that a tree of nodes comes from src, for nodes that
// are read through a decoder of another file (an override merged into a
// model's component).
func markOrigin(origin map[*yaml.Node]*source, n *yaml.Node, src *source) {
	if n == nil || src == nil {
		return
	}
	origin[n] = src
	for _, c := range n.Content {
		markOrigin(origin, c, src)
	}
}

// overridden returns a component entry of a model with the overrides of
// every instance it is inside merged into it, innermost first, so that the
// outermost instance has the last word.
func (l *loader) overridden(path string, n *yaml.Node) *yaml.Node {
	for i := len(l.active) - 1; i >= 0; i-- {
		inst := l.active[i]
		rel, ok := strings.CutPrefix(path, inst.e.node.Path+".")
		if !ok {
			continue
		}
		inst.names = append(inst.names, rel)
		if o := inst.override[rel]; o != nil {
			o.used = true
			n = mergeNodes(n, o.v)
		}
	}
	return n
}

// mergeNodes lays over on base: mappings merge key by key, anything else
// in over replaces what base has. Neither is changed.
func mergeNodes(base, over *yaml.Node) *yaml.Node {
	base, over = deref(base), deref(over)
	if base == nil || base.Kind != yaml.MappingNode || over.Kind != yaml.MappingNode {
		return over
	}
	out := *base
	out.Content = append([]*yaml.Node(nil), base.Content...)
	for i := 0; i+1 < len(over.Content); i += 2 {
		k, v := over.Content[i], over.Content[i+1]
		found := false
		for j := 0; j+1 < len(out.Content); j += 2 {
			if out.Content[j].Value == k.Value {
				out.Content[j+1] = mergeNodes(out.Content[j+1], v)
				found = true
				break
			}
		}
		if !found {
			out.Content = append(out.Content, k, v)
		}
	}
	return &out
}

// modelComponents reads the components of an instance's model into the
// tree below the instance.
func (l *loader) modelComponents(e *entry, rate Rate) []*Node {
	inst := e.inst
	def := inst.def
	l.modelStack = append(l.modelStack, def.file)
	l.active = append(l.active, inst)
	defer func() {
		l.modelStack = l.modelStack[:len(l.modelStack)-1]
		l.active = l.active[:len(l.active)-1]
	}()
	md := def.d.with(e.node.Path)
	out := l.components(md, def.comps, e, rate, map[string]*entry{})
	var keys []string
	for k := range inst.override {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if o := inst.override[k]; !o.used {
			e.d.fail(o.k, "override", "model %s has no component %q%s", def.name, k, suggest(k, inst.names))
		}
	}
	return out
}

// expose gives every instance its exposed members, then applies what its
// entry sets on them. Instances inside other instances come first, so an
// instance may expose what an inner one exposes.
func (l *loader) expose() {
	order := append([]*instance(nil), l.instances...)
	depth := func(n *Node) int { return strings.Count(n.Path, ".") }
	sort.SliceStable(order, func(i, j int) bool { return depth(order[i].e.node) > depth(order[j].e.node) })
	for _, inst := range order {
		e := inst.e
		if l.failed[e.node] || e.node.comp == nil {
			continue
		}
		node, md := e.node, inst.def.d.with(e.node.Path)
		for _, x := range inst.def.expose {
			name := x.k.Value
			if _, taken := node.byName[name]; taken {
				md.fail(x.k, "expose", "%s is a standard member of every component; expose it under another name", name)
				continue
			}
			if child, _ := l.app.child(node, name); child != nil {
				md.fail(x.k, "expose", "%q is the name of a component of the model; expose it under another name", name)
				continue
			}
			path := strings.TrimSpace(x.v.Value)
			f := l.app.lookup(node, "."+path, l.namesakes, nil)
			switch {
			case f.err != nil:
				if !l.unsure(f) {
					md.fail(x.v, "expose."+name, "%s", strings.Replace(f.err.Error(), "route \"."+path+"\"", "\""+path+"\"", 1))
				}
				continue
			case f.owner == node:
				md.fail(x.v, "expose."+name, "%q is a member of the instance itself, not of a component inside", path)
				continue
			}
			if _, isNode := f.target.(*Node); isNode {
				md.fail(x.v, "expose."+name, "%s is a component; expose one of its signals, parameters or alarms", path)
				continue
			}
			if node.aliases == nil {
				node.aliases = map[string]*Node{}
			}
			node.byName[name] = f.target
			node.aliases[name] = f.owner
		}
		l.parameters(e)
		l.alarms(e)
		l.outputOps(e)
	}
}

// annotate names the instance in every mistake found inside its model's
// file, since the file's line is the same for all its instances.
func (l *loader) annotate(list ConfigErrors) {
	for _, ce := range list {
		var best *instance
		for _, inst := range l.instances {
			p := inst.e.node.Path
			inside := ce.Path == p || strings.HasPrefix(ce.Path, p+".") || strings.HasPrefix(ce.Path, p+":")
			if inside && ce.Pos.File == inst.def.file && (best == nil || len(p) > len(best.e.node.Path)) {
				best = inst
			}
		}
		if best != nil {
			ce.Instance = "in " + best.e.node.Path + ", an instance of " + best.def.name + " at " + best.at.String()
		}
	}
}
