package runtime

import (
	"fmt"
	"reflect"
	goruntime "runtime"
	"sort"
	"strings"
)

// Spec is everything a component type declares, in one place in its own
// package: its name, its docs, its config struct with defaults, and how to
// build an instance. C is the type's config struct: a plain struct with
// `yaml` tags and a doc comment on every field; if *C implements Validator,
// the loader calls Validate after decoding.
type Spec[C any] struct {
	Name     string // type name used in YAML, PascalCase as in CDP: "SineGenerator"
	Summary  string // one line for `runtime types`
	Doc      string // longer description (Markdown)
	Example  string // a YAML component entry using the type; checked by tests
	Defaults func() C
	// Build declares the component's signals, parameters and alarms on b and
	// returns the component. It must not do I/O: validation runs it too.
	Build func(b *Builder, cfg *C) (Component, error)
}

// Type is a registered component type. Make one with Define.
type Type struct {
	name, summary, doc, example string
	newConfig                   func() any // *C filled with defaults
	build                       func(b *Builder, cfg any) (Component, error)
	configType                  reflect.Type
	pkg                         string // import path of the package that defines the type
}

// Define turns a Spec into a Type for the registry.
func Define[C any](s Spec[C]) *Type {
	if s.Name == "" || s.Build == nil {
		panic("runtime.Define: a type needs a Name and a Build function")
	}
	return &Type{
		name: s.Name, summary: s.Summary, doc: s.Doc, example: s.Example,
		newConfig: func() any {
			c := new(C)
			if s.Defaults != nil {
				*c = s.Defaults()
			}
			return c
		},
		build:      func(b *Builder, cfg any) (Component, error) { return s.Build(b, cfg.(*C)) },
		configType: reflect.TypeFor[C](),
		pkg:        definingPackage(),
	}
}

// definingPackage names the package that defines a type, for the docs
// (its README is beside it): the package whose initialisation calls
// Define, also through a helper of another package (a block kit's) and
// whatever package declares the config struct; for a type defined after
// initialisation (in a test), the first caller outside this package.
func definingPackage() string {
	self := reflect.TypeFor[Type]().PkgPath()
	var pcs [32]uintptr
	frames := goruntime.CallersFrames(pcs[:goruntime.Callers(2, pcs[:])])
	first := ""
	for {
		f, more := frames.Next()
		pkg, fn := splitFuncName(f.Function)
		if pkg != self && pkg != "" {
			if fn == "init" || strings.HasPrefix(fn, "init.") {
				return pkg
			}
			if first == "" {
				first = pkg
			}
		}
		if !more {
			return first
		}
	}
}

// splitFuncName splits "example.com/m/pkg.Type.Method" into the package
// path and the rest.
func splitFuncName(name string) (pkg, fn string) {
	slash := strings.LastIndexByte(name, '/') + 1
	dot := strings.IndexByte(name[slash:], '.')
	if dot < 0 {
		return "", name
	}
	return name[:slash+dot], name[slash+dot+1:]
}

// Package returns the import path of the package that defines the type.
func (t *Type) Package() string { return t.pkg }

// Name returns the type's YAML name.
func (t *Type) Name() string { return t.name }

// Summary returns the one-line description.
func (t *Type) Summary() string { return t.summary }

// Doc returns the long description.
func (t *Type) Doc() string { return t.doc }

// Example returns the YAML example entry.
func (t *Type) Example() string { return t.example }

// NewConfig returns a pointer to a config struct filled with the defaults.
func (t *Type) NewConfig() any { return t.newConfig() }

// ConfigType returns the config struct's type, for documentation.
func (t *Type) ConfigType() reflect.Type { return t.configType }

// Registry is the list of component types an application may use. It is a
// value, not a global: the binary builds one from components/all, and tests
// build their own.
type Registry struct {
	types map[string]*Type
}

// NewRegistry returns a registry of the given types; a duplicate or empty
// name is an error.
func NewRegistry(types ...*Type) (*Registry, error) {
	r := &Registry{types: map[string]*Type{}}
	for _, t := range types {
		if t == nil || t.name == "" {
			return nil, fmt.Errorf("registry: a type without a name")
		}
		if _, dup := r.types[t.name]; dup {
			return nil, fmt.Errorf("registry: type %q registered twice", t.name)
		}
		r.types[t.name] = t
	}
	return r, nil
}

// MustRegistry is NewRegistry for static lists, panicking on a mistake.
func MustRegistry(types ...*Type) *Registry {
	r, err := NewRegistry(types...)
	if err != nil {
		panic(err)
	}
	return r
}

// Lookup finds a type by name.
func (r *Registry) Lookup(name string) (*Type, bool) {
	t, ok := r.types[name]
	return t, ok
}

// Types returns every type, sorted by name.
func (r *Registry) Types() []*Type {
	out := make([]*Type, 0, len(r.types))
	for _, t := range r.types {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// Names returns every type name, sorted.
func (r *Registry) Names() []string {
	var out []string
	for _, t := range r.Types() {
		out = append(out, t.name)
	}
	return out
}
