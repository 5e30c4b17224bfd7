package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"

	"github.com/metronome-rt/metronome/scheduler"
	"github.com/metronome-rt/metronome/signals"
)

// LoadOptions configure Load.
type LoadOptions struct {
	// Env resolves ${NAME}; nil uses the process environment.
	Env Env
	// Log is the application's logger; the zero value discards.
	Log zerolog.Logger
	// Scheduler configures the clock: real (default) or virtual for tests.
	Scheduler scheduler.Options
	// OnAlarm, if set, receives every alarm event synchronously on the tick
	// that caused it (tests); otherwise events are logged asynchronously.
	OnAlarm func(AlarmEvent)
	// ReadFile reads included files; nil uses os.ReadFile.
	ReadFile func(name string) ([]byte, error)
}

// Load reads, validates and builds the application in file. On mistakes it
// returns ConfigErrors: every one found, each with file:line:col.
func Load(file string, reg *Registry, opts LoadOptions) (*App, error) {
	read := opts.ReadFile
	if read == nil {
		read = os.ReadFile
	}
	data, err := read(file)
	if err != nil {
		return nil, fmt.Errorf("read application: %w", err)
	}
	return LoadBytes(file, data, reg, opts)
}

// LoadBytes is Load for YAML already in memory; file names it in errors and
// anchors relative includes.
func LoadBytes(file string, data []byte, reg *Registry, opts LoadOptions) (*App, error) {
	if opts.Env == nil {
		opts.Env = OSEnv
	}
	if opts.ReadFile == nil {
		opts.ReadFile = os.ReadFile
	}
	l := &loader{reg: reg, opts: opts, errs: &errs{}, app: newApp(opts)}
	l.load(file, data)
	l.attachSeams()
	if err := l.errs.err(); err != nil {
		return nil, err
	}
	return l.app, nil
}

type loader struct {
	reg       *Registry
	opts      LoadOptions
	errs      *errs
	app       *App
	entries   []*entry
	including []string // include stack, for cycles
	edges     []*edge
	// failed holds the paths of components that could not be built; their
	// mistakes are reported, so routes into or out of them are not.
	failed map[string]bool
}

func (l *loader) fail(path string) {
	if l.failed == nil {
		l.failed = map[string]bool{}
	}
	l.failed[path] = true
}

// entry is a component entry with where it came from, kept until routes
// are resolved.
type entry struct {
	node   *Node
	d      *decoder
	yaml   *componentEntry
	pos    Pos
	inputs *yaml.Node
}

// parse reads one YAML document, reporting syntax errors with a position.
func (l *loader) parse(file string, data []byte) *yaml.Node {
	if checkTabs(file, data, l.errs) {
		return nil
	}
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			l.errs.add(Pos{File: file, Line: 1, Col: 1}, "", "the file is empty")
			return nil
		}
		line, msg := yamlErrorLine(err)
		if strings.HasPrefix(msg, "did not find expected") {
			line = problemLine(data, line, err.Error())
		}
		msg += syntaxHint(msg)
		l.errs.add(Pos{File: file, Line: line, Col: firstCol(data, line)}, "", "%s", msg)
		return nil
	}
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 && isNull(root.Content[0]) && root.Content[0].Value == "" {
		root.Content = nil // "---" alone: a document with nothing in it
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		l.errs.add(Pos{File: file, Line: extra.Line, Col: extra.Column}, "", "a second YAML document (---) in one file: put each application in its own file")
	}
	if len(root.Content) == 0 {
		l.errs.add(Pos{File: file, Line: 1, Col: 1}, "", "the file is empty")
		return nil
	}
	if !checkAliases(file, &root, l.errs) {
		return nil
	}
	d := &decoder{file: file, errs: l.errs}
	interpolate(&root, l.opts.Env, d)
	return root.Content[0]
}

// maxAliased bounds how many nodes aliases may add to a document when they
// are expanded: far above what sharing parameter sets needs, far below what
// exhausts memory or time.
const maxAliased = 1 << 16

// checkAliases rejects aliases that refer to a node containing them, which
// would expand forever, and documents whose aliases add more than maxAliased
// nodes (the "billion laughs"). Aliases that merely reuse a mapping, such as
// a shared parameter set, pass.
func checkAliases(file string, root *yaml.Node, e *errs) bool {
	var count func(n *yaml.Node) int
	count = func(n *yaml.Node) int {
		total := 1
		for _, c := range n.Content {
			total += count(c)
		}
		return total
	}
	maxExpanded := count(root) + maxAliased
	size := map[*yaml.Node]int{}
	active := map[*yaml.Node]bool{}
	ok := true
	var walk func(n *yaml.Node) int
	walk = func(n *yaml.Node) int {
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			if active[n.Alias] {
				e.add(Pos{File: file, Line: n.Line, Col: n.Column}, "", "alias *%s refers to a node that contains it, so it would repeat forever", n.Value)
				ok = false
				return 1
			}
			return 1 + walk(n.Alias)
		}
		if s, done := size[n]; done {
			return s
		}
		active[n] = true
		total := 1
		for _, c := range n.Content {
			total += walk(c)
			if total > maxExpanded {
				break
			}
		}
		active[n] = false
		size[n] = min(total, maxExpanded+1)
		return size[n]
	}
	if walk(root) > maxExpanded && ok {
		e.add(Pos{File: file, Line: 1, Col: 1}, "", "the file's aliases (*name) expand it by more than %d nodes", maxAliased)
		ok = false
	}
	return ok
}

// checkTabs reports tabs in indentation, which YAML forbids, at their
// exact column (the parser itself only gives a line).
func checkTabs(file string, data []byte, e *errs) bool {
	found := false
	for i, line := range bytes.Split(data, []byte("\n")) {
		for col, c := range line {
			if c == '\t' {
				e.add(Pos{File: file, Line: i + 1, Col: col + 1}, "", "tab in indentation: YAML indents with spaces only")
				found = true
				break
			}
			if c != ' ' {
				break
			}
		}
	}
	return found
}

// firstCol is the column of the first non-blank character of a line (1 if
// there is none), where a syntax error the parser gives only a line for is
// best pointed at.
func firstCol(data []byte, line int) int {
	lines := bytes.Split(data, []byte("\n"))
	if line < 1 || line > len(lines) {
		return 1
	}
	return len(lines[line-1]) - len(bytes.TrimLeft(lines[line-1], " ")) + 1
}

// yamlErrorLine pulls the line number out of a yaml.v3 error message.
// yaml.v3 reports the parser's "did not find expected ..." errors with the
// zero-based line where the unfinished list or mapping began, so those are
// moved one line down to point at that line.
func yamlErrorLine(err error) (int, string) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var line int
	if _, scanErr := fmt.Sscanf(msg, "line %d:", &line); scanErr == nil {
		if i := strings.Index(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
		if strings.HasPrefix(msg, "did not find expected") {
			line++
		}
		return line, msg
	}
	return 1, msg
}

// problemLine finds the line a parser error is really on: yaml.v3 names
// the line where the unfinished list or mapping began, which may be far
// above the line that broke it. The first prefix of the file, from that
// line on, that fails with the same error ends at the culprit.
func problemLine(data []byte, from int, full string) int {
	lines := bytes.SplitAfter(data, []byte("\n"))
	end := min(len(lines), from+200) // bound the work on huge inputs
	for k := max(from, 1); k <= end; k++ {
		var n yaml.Node
		err := yaml.Unmarshal(bytes.Join(lines[:k], nil), &n)
		if err != nil && strings.HasSuffix(err.Error(), full[strings.LastIndex(full, ": ")+2:]) {
			return k
		}
	}
	return from
}

// syntaxHint says what usually causes a YAML syntax error.
func syntaxHint(msg string) string {
	switch {
	case strings.Contains(msg, "expected ',' or '}'"):
		return " (a {...} mapping is not closed, or one of its values holds a brace or colon: quote such values, for example \"${VAR}\")"
	case strings.Contains(msg, "expected ',' or ']'"):
		return " (a [...] list is not closed)"
	case strings.Contains(msg, "mapping values are not allowed"),
		strings.Contains(msg, "did not find expected key"),
		strings.Contains(msg, "did not find expected '-' indicator"):
		return " (check the indentation: the keys of one mapping line up, and a list item's keys line up after its dash)"
	}
	return ""
}

func (l *loader) load(file string, data []byte) {
	root := l.parse(file, data)
	if root == nil {
		return
	}
	d := &decoder{file: file, errs: l.errs}
	if root.Kind != yaml.MappingNode {
		d.fail(root, "", "an application file is a mapping with the keys application, components, ...; got %s", describe(root))
		return
	}
	var af appFile
	d.decode(root, reflect.ValueOf(&af).Elem(), "")
	app := l.app
	app.File = file
	app.Description = af.Description
	switch {
	case af.Application == "" && badAt(root, "application"):
		// reported where the variable is named
	case af.Application == "":
		l.errs.add(d.pos(root), "", "missing key \"application\": the application's name, which absolute routing paths start with")
	default:
		if err := checkName(af.Application); err != nil {
			l.errs.add(keyPos(d, root, "application"), "application", "%v", err)
		}
	}
	app.Name = af.Application
	app.View = l.viewConfig(d, root, af.View)
	def := Rate{FS: DefaultFS, Priority: scheduler.Normal, Group: DefaultGroup}
	l.applyRate(d, root, "", &def, af.FS, af.Priority, af.Group, af.Overrun)
	if len(af.Components) == 0 {
		switch at := valueAt(root, "components"); {
		case at == nil:
			l.errs.add(d.pos(root), "", "the application has no components (add a `components:` list)")
		case at.Kind == yaml.SequenceNode || isNull(at):
			l.errs.add(d.pos(at), "components", "the application has no components")
		}
	}
	app.Nodes = l.components(d, af.Components, nil, def)
	if len(l.errs.list) == 0 {
		l.addGroupStats()
	}
	// Routes are resolved even when other mistakes were found, so that one
	// run reports them all; routes touching a component that could not be
	// built are skipped. Ordering and loops need a clean tree.
	l.resolve()
	if len(l.errs.list) > 0 {
		return
	}
	l.schedule()
}

// keyPos finds the position of a key's value in a mapping.
func keyPos(d *decoder, m *yaml.Node, key string) Pos {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return d.pos(m.Content[i+1])
		}
	}
	return d.pos(m)
}

// valueAt returns the value node of a key in a mapping, or nil.
func valueAt(m *yaml.Node, key string) *yaml.Node {
	if m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// badAt reports whether a key's value is a ${...} that failed to expand.
func badAt(m *yaml.Node, key string) bool {
	v := valueAt(m, key)
	return v != nil && isBad(v)
}

// scalarAt returns the value of a scalar key in a mapping, or "".
func scalarAt(m *yaml.Node, key string) string {
	if m.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key && m.Content[i+1].Kind == yaml.ScalarNode {
			return m.Content[i+1].Value
		}
	}
	return ""
}

// applyRate overrides inherited rate settings with the ones given.
func (l *loader) applyRate(d *decoder, m *yaml.Node, path string, r *Rate, fs *float64, prio, group string, ov *overrunConfig) {
	if fs != nil {
		p := keyPos(d, m, "fs")
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
			l.errs.add(keyPos(d, m, "priority"), joinPath(path, "priority"), "%v", err)
		}
		r.Priority = p
	}
	if group != "" {
		if err := checkName(group); err != nil {
			l.errs.add(keyPos(d, m, "group"), joinPath(path, "group"), "scheduling group: %v", err)
		}
		r.Group = group
	}
	if ov != nil {
		var om *yaml.Node
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == "overrun" {
				om = m.Content[i+1]
			}
		}
		bad := false
		for _, f := range []struct {
			key string
			v   *int
		}{{"catch_up", ov.CatchUp}, {"alarm_after", ov.AlarmAfter}} {
			if f.v != nil && *f.v < 0 && om != nil {
				l.errs.add(keyPos(d, om, f.key), joinPath(path, "overrun."+f.key), "%s must be 0 or more, got %d", f.key, *f.v)
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
			l.errs.add(keyPos(d, m, "overrun"), joinPath(path, "overrun"), "%v", err)
		}
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + ": " + key
}

// components builds a components list, following includes.
func (l *loader) components(d *decoder, list []yaml.Node, parent *Node, inherit Rate) []*Node {
	var out []*Node
	seen := map[string]Pos{}
	if parent != nil {
		for name := range parent.byName {
			seen[name] = Pos{}
		}
	}
	for i := range list {
		n := &list[i]
		if inc, ok := includeOf(n); ok {
			out = append(out, l.include(d, inc, n, parent, inherit, seen)...)
			continue
		}
		if node := l.component(d, n, parent, inherit, seen); node != nil {
			out = append(out, node)
		}
	}
	return out
}

// includeOf reports whether a list item is `{include: file}`.
func includeOf(n *yaml.Node) (*yaml.Node, bool) {
	if n.Kind != yaml.MappingNode {
		return nil, false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "include" {
			return n.Content[i+1], true
		}
	}
	return nil, false
}

// include loads a file holding a list of component entries, or one entry,
// relative to the including file.
func (l *loader) include(d *decoder, inc, item *yaml.Node, parent *Node, inherit Rate, seen map[string]Pos) []*Node {
	if len(item.Content) != 2 {
		at := item
		for i := 0; i+1 < len(item.Content); i += 2 {
			if item.Content[i].Value != "include" {
				at = item.Content[i]
				break
			}
		}
		d.fail(at, "include", "unexpected key %q: an include entry has only the key \"include\"; put the component's settings in the included file", at.Value)
		return nil
	}
	if isBad(inc) {
		return nil // reported where the variable is named
	}
	if inc.Kind != yaml.ScalarNode || inc.Value == "" {
		d.fail(inc, "include", "want a file path, got %s", describe(inc))
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
			return nil
		}
	}
	data, err := l.opts.ReadFile(file)
	if err != nil {
		d.fail(inc, "include", "cannot read %s: %v", file, unwrapPathError(err))
		return nil
	}
	root := l.parse(file, data)
	if root == nil {
		return nil
	}
	l.including = append(l.including, d.file)
	defer func() { l.including = l.including[:len(l.including)-1] }()
	sub := &decoder{file: file, errs: l.errs, path: d.path}
	switch root.Kind {
	case yaml.SequenceNode:
		items := make([]yaml.Node, len(root.Content))
		for i, c := range root.Content {
			items[i] = *c
		}
		var out []*Node
		for i := range items {
			n := &items[i]
			if inc2, ok := includeOf(n); ok {
				out = append(out, l.include(sub, inc2, n, parent, inherit, seen)...)
			} else if node := l.component(sub, n, parent, inherit, seen); node != nil {
				out = append(out, node)
			}
		}
		return out
	case yaml.MappingNode:
		if node := l.component(sub, root, parent, inherit, seen); node != nil {
			return []*Node{node}
		}
		return nil
	}
	sub.fail(root, "", "an included file holds a list of components or one component, got %s", describe(root))
	return nil
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// component decodes, builds and configures one component entry and its
// subcomponents.
func (l *loader) component(d *decoder, n *yaml.Node, parent *Node, inherit Rate, seen map[string]Pos) *Node {
	var ce componentEntry
	parentPath := l.app.Name
	if parent != nil {
		parentPath = parent.Path
	}
	cd := &decoder{file: d.file, errs: l.errs, path: d.path}
	if name := scalarAt(n, "name"); checkName(name) == nil {
		// Name the component in messages about its own keys too.
		cd.path = parentPath + "." + name
	}
	cd.decode(n, reflect.ValueOf(&ce).Elem(), "")
	if n.Kind != yaml.MappingNode {
		if isNull(n) { // a lone dash: decoding reported nothing
			l.errs.add(d.pos(n), d.path, "empty list item: a component needs at least `name:` and `type:`")
		}
		return nil
	}
	switch {
	case ce.Name == "" && badAt(n, "name"):
		return nil // reported where the variable is named
	case ce.Name == "":
		l.errs.add(d.pos(n), d.path, "component without a name (every component needs `name:`)")
		return nil
	case checkName(ce.Name) != nil:
		l.errs.add(keyPos(d, n, "name"), d.path, "component name: %v", checkName(ce.Name))
		return nil
	}
	path := parentPath + "." + ce.Name
	namePos := keyPos(d, n, "name")
	prev, dup := seen[ce.Name]
	switch {
	case dup && prev.Line == 0:
		l.errs.add(namePos, path, "name %q is already used by a signal, parameter or alarm of %s", ce.Name, parentPath)
	case dup && prev.File == namePos.File:
		l.errs.add(namePos, path, "duplicate component name %q (first on line %d)", ce.Name, prev.Line)
	case dup:
		l.errs.add(namePos, path, "duplicate component name %q (first at %s)", ce.Name, prev)
	default:
		seen[ce.Name] = namePos
	}
	cd.path = path
	rate := inherit
	l.applyRate(cd, n, path, &rate, ce.FS, ce.Priority, ce.Group, ce.Overrun)
	typ, ok := l.reg.Lookup(ce.Type)
	switch {
	case ce.Type == "" && badAt(n, "type"):
		l.fail(path)
		return nil // reported where the variable is named
	case ce.Type == "":
		l.errs.add(d.pos(n), path, "missing key \"type\": the component type (see `runtime types`)")
		l.fail(path)
		return nil
	case !ok:
		l.errs.add(keyPos(d, n, "type"), path, "unknown component type %q%s", ce.Type, suggest(ce.Type, l.reg.Names()))
		l.fail(path)
		return nil
	}
	node := &Node{Name: ce.Name, Path: path, TypeName: typ.name, Parent: parent, Rate: rate, Description: ce.Description}
	node.log = l.opts.Log.With().Str("component", path).Logger()
	b := &Builder{node: node, path: path, emit: l.app.emit}
	declareStd(b)

	cfg := typ.newConfig()
	before := len(l.errs.list)
	if ce.Config.Kind != 0 {
		cd.decode(&ce.Config, reflect.ValueOf(cfg).Elem(), "config")
	}
	cfgOK := len(l.errs.list) == before // mistakes elsewhere do not stop this build
	if v, ok := cfg.(Validator); ok && cfgOK {
		if err := v.Validate(); err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				at := d.pos(n)
				if ce.Config.Kind != 0 {
					at = d.pos(locateKey(&ce.Config, line))
				}
				l.errs.add(at, joinPath(path, "config"), "%s", line)
			}
			cfgOK = false
		}
	}
	if cfgOK {
		comp, err := typ.build(b, cfg)
		if err != nil {
			l.errs.add(d.pos(n), path, "%v", err)
			l.fail(path)
		}
		for _, e := range b.errs {
			l.errs.add(d.pos(n), path, "%v", e)
		}
		node.comp = comp
	}
	if !cfgOK {
		l.fail(path)
	}
	if cfgOK {
		// Without a build there are no declared parameters or alarms to
		// check the entry's against.
		l.parameters(cd, node, &ce.Parameters)
		l.alarms(cd, n, node, ce.Alarms)
	}
	l.app.all = append(l.app.all, node)
	l.entries = append(l.entries, &entry{node: node, d: cd, yaml: &ce, pos: d.pos(n), inputs: &ce.Inputs})
	if len(ce.Components) > 0 {
		node.Children = l.components(cd, ce.Components, node, rate)
	}
	if dup {
		return nil // checked, but kept out of the tree: routes find the first
	}
	return node
}

// parameters applies the entry's `parameters:` to the declared parameters.
func (l *loader) parameters(d *decoder, node *Node, m *yaml.Node) {
	if m.Kind == 0 || isNull(m) || isBad(m) {
		return
	}
	if m.Kind != yaml.MappingNode {
		d.fail(m, "parameters", "want a mapping of parameter names to values, got %s", describe(m))
		return
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		key := "parameters." + k.Value
		p, ok := node.Param(k.Value)
		if !ok {
			var names []string
			for _, q := range node.params {
				names = append(names, q.Info().Name)
			}
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

// alarms applies the entry's `alarms:` overrides.
func (l *loader) alarms(d *decoder, n *yaml.Node, node *Node, cfg map[string]alarmConfig) {
	if len(cfg) == 0 {
		return
	}
	var m *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "alarms" {
			m = n.Content[i+1]
		}
	}
	for i := 0; m != nil && i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		c := cfg[k.Value]
		a, ok := node.Alarm(k.Value)
		if !ok {
			var names []string
			for _, x := range node.alarms {
				names = append(names, x.info.Name)
			}
			d.fail(k, "alarms", "unknown alarm %q%s", k.Value, suggest(k.Value, names))
			continue
		}
		if c.Level != "" {
			lv, err := ParseLevel(c.Level)
			if err != nil {
				d.errs.add(keyPos(d, v, "level"), d.join("alarms."+k.Value+".level"), "%v", err)
			}
			a.info.Level = lv
		}
		if c.Delay != nil {
			if *c.Delay < 0 {
				d.errs.add(keyPos(d, v, "delay"), d.join("alarms."+k.Value+".delay"), "delay must not be negative, got %s", *c.Delay)
			}
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

// locateKey finds the config node a validation message is about. Messages
// from a config's Validate start with the key path they concern, segments
// separated by ": " ("publish[0] Temp: qos 3: want 0, 1 or 2", "tls:
// cert_file and key_file go together", "keep_alive 5ms: ..."): the first word
// of each segment is looked up as a key (with an optional [index] into a
// list) for as long as that works. The deepest node found is returned, the
// config mapping itself when even the first word is not a key.
func locateKey(cfg *yaml.Node, msg string) *yaml.Node {
	node, best := cfg, cfg
	for _, seg := range strings.Split(msg, ": ") {
		word, _, _ := strings.Cut(strings.TrimSpace(seg), " ")
		key, idx := word, -1
		if i := strings.IndexByte(word, '['); i > 0 && strings.HasSuffix(word, "]") {
			n, err := strconv.Atoi(word[i+1 : len(word)-1])
			if err != nil {
				return best
			}
			key, idx = word[:i], n
		}
		if node.Kind != yaml.MappingNode {
			return best
		}
		var val *yaml.Node
		for i := 0; i+1 < len(node.Content); i += 2 {
			if node.Content[i].Value == key {
				val = node.Content[i+1]
			}
		}
		if val == nil {
			return best
		}
		node, best = val, val
		if idx >= 0 {
			if val.Kind != yaml.SequenceNode || idx >= len(val.Content) {
				return best
			}
			node, best = val.Content[idx], val.Content[idx]
		}
	}
	return best
}
