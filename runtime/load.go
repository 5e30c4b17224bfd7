package runtime

import (
	"fmt"
	"os"

	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"

	"github.com/metronome-rt/metronome/scheduler"
)

// LoadOptions configure Load.
type LoadOptions struct {
	// Env resolves ${NAME}; nil uses the process environment.
	Env Env
	// Log is the application's logger; the zero value discards. Warnings
	// found while loading (see OnWarning) are logged to it too.
	Log zerolog.Logger
	// Scheduler configures the clock: real (default) or virtual for tests.
	Scheduler scheduler.Options
	// OnAlarm, if set, receives every alarm event synchronously on the tick
	// that caused it (tests); otherwise events are logged asynchronously.
	OnAlarm func(AlarmEvent)
	// ReadFile reads included files; nil reads regular files of at most
	// 4 MiB from disk.
	ReadFile func(name string) ([]byte, error)
	// OnWarning, if set, receives every warning of the load in file order,
	// whether the load succeeds or not: things that work but should not be
	// left as they are, such as a password written into the file.
	OnWarning func(*ConfigError)
	// Sections are the application-level keys defined outside the runtime
	// (see Section); the binary registers them.
	Sections []Section
}

// Load reads, validates and builds the application in file. On mistakes it
// returns ConfigErrors: every one found, each with file:line:col.
func Load(file string, reg *Registry, opts LoadOptions) (*App, error) {
	var data []byte
	var err error
	if opts.ReadFile != nil {
		data, err = opts.ReadFile(file)
	} else {
		data, err = readBounded(file, false)
	}
	if err != nil {
		return nil, fmt.Errorf("read application: %s: %w", file, unwrapPathError(err))
	}
	return LoadBytes(file, data, reg, opts)
}

// LoadBytes is Load for YAML already in memory; file names it in errors and
// anchors relative includes.
func LoadBytes(file string, data []byte, reg *Registry, opts LoadOptions) (*App, error) {
	if opts.Env == nil {
		opts.Env = OSEnv
	}
	l := &loader{reg: reg, opts: opts, errs: &errs{}, warns: &errs{}, app: newApp(opts), origin: map[*yaml.Node]*source{}}
	l.load(file, data)
	l.annotate(l.errs.list)
	l.annotate(l.warns.list)
	l.warn()
	l.attachSeams()
	if err := l.errs.err(); err != nil {
		return nil, err
	}
	return l.app, nil
}

// loader builds one application in stages:
//
//  1. syntax (syntax.go): each file is read within bounds, its characters
//     checked and parsed, ${...} expanded;
//  2. structure (structure.go): the application's keys and every
//     component entry, following includes: names, rates, types;
//  3. component configs (configs.go): each config decoded, validated and
//     built, then the entry's parameters and alarms checked against what
//     the build declared;
//  4. routes and types (resolve.go): every input's source found and its
//     type checked;
//  5. loops (schedule.go): data-flow order in each rate group, routing
//     loops, and the scheduler.
//
// Every stage looks at everything and reports every mistake it finds, but
// skips what depends on an earlier mistake (the members of a component
// that could not be built, names inside a file that could not be read), so
// that each error reported is one the user has to fix.
type loader struct {
	reg   *Registry
	opts  LoadOptions
	errs  *errs
	warns *errs
	app   *App

	entries []*entry // every component entry, parents first, in file order
	inOps   map[*Node]inputOps
	// Models (model.go): each file read once; the files and instances
	// being read, innermost last; every instance; the file of each node
	// merged in from another file.
	models     map[string]*modelDef
	modelStack []string
	active     []*instance
	instances  []*instance
	origin     map[*yaml.Node]*source
	edges      []*edge
	including  []string // include stack, for cycles
	budget     readBudget
	// expanded holds the scalars that named a ${...} variable.
	expanded map[*yaml.Node]expansion

	// What later stages must not report as mistakes of their own:
	// failed components could not be built, so their members are unknown;
	// an unknown scope (nil for the application root) holds an entry or
	// include whose names could not be read; namesakes are the components
	// that repeat an earlier sibling's name, by that sibling: a route
	// through the name may mean any of them.
	failed       map[*Node]bool
	unknownScope map[*Node]bool
	namesakes    map[*Node][]*Node
	// rateFailed: some component's rate group is not known, so the list
	// of rate groups (App.RateGroups) may be incomplete.
	rateFailed bool
	// nameFailed: the application's name is missing or invalid, so
	// absolute routes cannot be told from remote ones.
	nameFailed bool
}

func (l *loader) load(file string, data []byte) {
	root, src := l.parse(file, data)
	if root == nil {
		return
	}
	l.app.File = file
	d := &decoder{file: file, src: src, errs: l.errs, origin: l.origin}
	if !l.structure(d, root) {
		return
	}
	l.configure()
	l.expose()
	l.addGroupStats()
	l.resolve()
	l.sectionsResolved()
	l.schedule()
}

func (l *loader) fail(n *Node) {
	if l.failed == nil {
		l.failed = map[*Node]bool{}
	}
	l.failed[n] = true
}

// unknownIn marks a scope (nil: the application root) as holding
// components whose names are not known.
func (l *loader) unknownIn(parent *Node) {
	if l.unknownScope == nil {
		l.unknownScope = map[*Node]bool{}
	}
	l.unknownScope[parent] = true
}

// warn hands the load's warnings to the caller and the log.
func (l *loader) warn() {
	if len(l.warns.list) == 0 {
		return
	}
	for _, w := range l.warns.list.sorted() {
		l.opts.Log.Warn().Str("at", w.Pos.String()).Str("node", w.Path).Msg(w.Msg)
		if l.opts.OnWarning != nil {
			l.opts.OnWarning(w)
		}
	}
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
