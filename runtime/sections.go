package runtime

import (
	"errors"
	"fmt"
	"reflect"

	"gopkg.in/yaml.v3"
)

// Section is an application-level YAML key that a package outside the
// runtime defines: the system of runtimes' `system:` is one. The runtime
// decodes it as strictly as any config, places every mistake at its key,
// and gives the defining package a look at the resolved application; it
// never learns what the section does. The binary registers sections through
// LoadOptions.Sections, so an application loaded without them (a unit test
// of a component) does not know the key.
type Section struct {
	// Key is the top-level key, for example "system".
	Key string
	// New returns a pointer to a fresh config struct with its defaults. The
	// key's value is decoded into it strictly (unknown keys, wrong types);
	// fields tagged `secret:"true"` warn when written into the file; if it
	// implements Validator, Validate's FieldErrors are placed at their keys
	// below Key.
	New func() any
	// Component, when set, is added at the top level of every application
	// that has the key, under the reserved name ComponentName, built from
	// the decoded config (its config type must be New's): signals and alarms
	// that show the section's state on the tick, routable and observable
	// like any component's. No component of the application may take the
	// name.
	Component     *Type
	ComponentName string
	// Check, when set, runs once the application's routes are resolved,
	// also when the key is absent (cfg is then nil): it checks what the
	// section says against the application, and what the application needs
	// from the section (RemoteRoutes name applications the section must
	// know). It returns FieldErrors, placed at their keys below Key, and
	// *ConfigError or ConfigErrors with positions of their own (a remote
	// route's Pos); any other error is placed at the key.
	Check func(app *App, cfg any) error
}

// sectionState is a section as loaded into an application, kept so that a
// mistake found later (across applications) can still be placed at its key.
type sectionState struct {
	sec  *Section
	cfg  any        // nil when the key is absent or did not decode
	key  *yaml.Node // nil when absent
	val  *yaml.Node
	d    *decoder
	node *Node // the section's component, if any
}

// Section returns the decoded config of a registered section (a pointer to
// the struct its New returns), or nil when the application lacks the key.
func (a *App) Section(key string) any {
	for _, s := range a.sections {
		if s.sec.Key == key {
			return s.cfg
		}
	}
	return nil
}

// SectionPos is where a field error in a section's config belongs in the
// application's file: the key or value its path names, or the nearest
// enclosing node the file holds. Tools that check several applications
// together (runtime validate a.yaml b.yaml) use it to place what they find.
func (a *App) SectionPos(key string, fe *FieldError) Pos {
	for _, s := range a.sections {
		if s.sec.Key != key || s.val == nil {
			continue
		}
		return placeIn(s.d, s.val, fe)
	}
	return Pos{File: a.File}
}

// placeIn is placeField without the loader: positions inside a scalar are
// taken from the text as written.
func placeIn(d *decoder, n *yaml.Node, fe *FieldError) Pos {
	val, key, found := fieldNode(n, fe.Path)
	switch {
	case !found:
	case fe.AtKey && key != nil:
		return d.pos(key)
	case fe.Offset > 0:
		if line, col, ok := scalarPos(d.src, val, fe.Offset); ok {
			return Pos{File: d.file, Line: line, Col: col}
		}
	}
	return d.pos(val)
}

// takeSections removes the registered sections' keys from the
// application's mapping, so that the strict decoding of the application's
// own keys does not see them, and keeps their nodes for sectionsLoad.
func (l *loader) takeSections(d *decoder, root *yaml.Node) {
	if len(l.opts.Sections) == 0 || root.Kind != yaml.MappingNode {
		return
	}
	byKey := map[string]*sectionState{}
	for i := range l.opts.Sections {
		s := &sectionState{sec: &l.opts.Sections[i], d: d}
		l.app.sections = append(l.app.sections, s)
		byKey[s.sec.Key] = s
	}
	kept := root.Content[:0:0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		s := byKey[k.Value]
		switch {
		case s == nil:
			kept = append(kept, k, v)
		case s.key != nil:
			d.fail(k, k.Value, "key given twice (first on line %d)", s.key.Line)
		default:
			s.key, s.val = k, v
		}
	}
	root.Content = kept
}

// sectionsLoad decodes and validates every section given, and adds the
// components of the sections that have one. It runs in the structure stage,
// after the application's own components, so that their names are known.
func (l *loader) sectionsLoad(inherit Rate) {
	for _, s := range l.app.sections {
		if s.val == nil {
			continue
		}
		l.sectionLoad(s, inherit)
	}
}

func (l *loader) sectionLoad(s *sectionState, inherit Rate) {
	d, key := s.d, s.sec.Key
	if s.sec.Component != nil {
		l.reserve(s)
	}
	if isBad(s.val) {
		return // reported where the variable is named
	}
	cfg := s.sec.New()
	before := len(l.errs.list)
	d.decode(s.val, reflect.ValueOf(cfg).Elem(), key)
	l.findSecrets(&entry{d: d, node: &Node{Name: key}}, reflect.TypeOf(cfg).Elem(), s.val, key)
	if len(l.errs.list) > before {
		return
	}
	if v, ok := cfg.(Validator); ok {
		if fes := AsFieldErrors(v.Validate()); len(fes) > 0 {
			for _, fe := range fes {
				l.errs.add(l.placeField(d, s.val, fe), JoinFieldPath(key, fe.Path), "%s", fe.Msg)
			}
			return
		}
	}
	s.cfg = cfg
	if s.sec.Component != nil {
		l.sectionComponent(s, inherit)
	}
}

// reserve reports a top-level component that takes the name of the
// section's component.
func (l *loader) reserve(s *sectionState) {
	for _, e := range l.entries {
		if e.parent == nil && e.node.Name == s.sec.ComponentName && !e.clash {
			l.errs.add(e.namePos, e.node.Path, "the name %s is reserved: the application's %s: section puts its state there", s.sec.ComponentName, s.sec.Key)
			e.clash = true
		}
	}
}

// sectionComponent builds a section's component at the top level.
func (l *loader) sectionComponent(s *sectionState, inherit Rate) {
	a, name, d := l.app, s.sec.ComponentName, s.d
	n := &Node{Name: name, Path: a.Name + "." + name, TypeName: s.sec.Component.name, Rate: inherit}
	n.log = l.opts.Log.With().Str("component", n.Path).Logger()
	b := &Builder{node: n, path: n.Path, emit: a.emit}
	declareStd(b)
	comp, err := s.sec.Component.build(b, s.cfg)
	n.comp = comp
	if err = errors.Join(append([]error{err}, b.errs...)...); err != nil {
		fes, plain := splitFieldErrors(err)
		for _, fe := range fes {
			l.errs.add(l.placeField(d, s.val, fe), JoinFieldPath(s.sec.Key, fe.Path), "%s", fe.Msg)
		}
		for _, p := range plain {
			l.errs.add(d.pos(s.key), s.sec.Key, "%v", p)
		}
		return
	}
	s.node = n
	a.Nodes = append(a.Nodes, n)
	a.all = append(a.all, n)
	a.top = nil
}

// sectionsResolved runs once routes are resolved: remote routes get their
// inputs' mailboxes, and every section checks the application.
func (l *loader) sectionsResolved() {
	l.remoteInputs()
	for _, s := range l.app.sections {
		if s.sec.Check == nil || (s.val != nil && s.cfg == nil) {
			continue // a section that did not load is reported already
		}
		var cfg any
		if s.cfg != nil {
			cfg = s.cfg
		}
		err := s.sec.Check(l.app, cfg)
		if err == nil {
			continue
		}
		l.sectionErrors(s, err)
	}
}

// sectionErrors places what a section's Check returned.
func (l *loader) sectionErrors(s *sectionState, err error) {
	var walk func(error)
	walk = func(err error) {
		switch x := err.(type) {
		case nil:
			return
		case *ConfigError:
			l.errs.list = append(l.errs.list, x)
			return
		case ConfigErrors:
			l.errs.list = append(l.errs.list, x...)
			return
		case FieldErrors, *FieldError:
			for _, fe := range AsFieldErrors(x) {
				l.errs.add(l.sectionPos(s, fe), JoinFieldPath(s.sec.Key, fe.Path), "%s", fe.Msg)
			}
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		l.errs.add(l.sectionPos(s, &FieldError{}), s.sec.Key, "%v", err)
	}
	walk(err)
}

func (l *loader) sectionPos(s *sectionState, fe *FieldError) Pos {
	switch {
	case s.val == nil:
		return Pos{File: l.app.File, Line: 1, Col: 1}
	case fe.Path == "":
		return s.d.pos(s.key)
	}
	return l.placeField(s.d, s.val, fe)
}

// SectionError is a mistake a section's Check finds at a place of its own
// choosing, such as a remote route.
func SectionError(pos Pos, path, format string, args ...any) *ConfigError {
	return &ConfigError{Pos: pos, Path: path, Msg: fmt.Sprintf(format, args...)}
}

// CheckName checks an application, component or member name: letters,
// digits and _, starting with a letter, since names are joined with dots
// in routing paths. Sections that name applications use it too.
func CheckName(name string) error { return checkName(name) }

// Closest returns the known name within two edits of unknown, or "", for
// a "did you mean" hint.
func Closest(unknown string, known []string) string { return closest(unknown, known) }
