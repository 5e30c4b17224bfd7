// Package gen reads the doc comments of a component package's config
// fields and writes them as Go source, for the configdoc command and for
// the test that the committed files are current.
package gen

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// FileName is the file written into each component package.
const FileName = "configdoc_gen.go"

const runtimePath = "github.com/metronome-rt/metronome/runtime"

// PackageDirs lists the directories in or below roots that may hold a Go
// package: every directory but testdata and hidden ones.
func PackageDirs(roots ...string) ([]string, error) {
	var dirs []string
	for _, root := range roots {
		err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			switch {
			case err != nil:
				return err
			case !d.IsDir():
				return nil
			case path != root && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")):
				return filepath.SkipDir
			}
			dirs = append(dirs, path)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return dirs, nil
}

// Generate returns the configdoc_gen.go of every package in dirs, by
// directory: nil for a package that gets none (it declares no config
// struct, or none with fields). A config struct is a type argument of
// runtime.Spec in a package in dirs, or a struct reached from one through
// its fields. It may be declared in another package of the module than
// the Spec that uses it (a config that several component packages share);
// that package gets the FieldDocs of the struct, and is in the result even
// when it is not in dirs. An exported config field without a doc comment
// is an error: its key would be documented by nothing.
func Generate(dirs []string) (map[string][]byte, error) {
	if len(dirs) == 0 {
		return nil, nil
	}
	l, err := newLoader(dirs[0])
	if err != nil {
		return nil, err
	}
	var queue []typeRef
	var given []*pkg
	for _, dir := range dirs {
		p, err := l.load(dir)
		if err != nil {
			return nil, err
		}
		given = append(given, p)
		for _, f := range p.files {
			queue = append(queue, l.specTypes(p, f)...)
		}
	}
	reached := map[*pkg][]string{}
	seen := map[typeRef]bool{}
	var errs []error
	for len(queue) > 0 {
		r := queue[0]
		queue = queue[1:]
		if seen[r] {
			continue
		}
		seen[r] = true
		dir, _ := l.dirOf(r.path) // named resolves only names of the module
		p, err := l.load(dir)
		if err != nil {
			return nil, err
		}
		s, ok := p.structs[r.name]
		if !ok {
			continue // not a struct: a key of its own, documented where it is used
		}
		reached[p] = append(reached[p], r.name)
		for _, field := range s.st.Fields.List {
			queue = append(queue, l.fieldTypes(p, s.file, field.Type)...)
		}
	}
	out := map[string][]byte{}
	for _, p := range given {
		out[p.dir] = nil
	}
	pkgs := make([]*pkg, 0, len(reached))
	for p := range reached {
		pkgs = append(pkgs, p)
	}
	sort.Slice(pkgs, func(i, j int) bool { return pkgs[i].path < pkgs[j].path })
	for _, p := range pkgs {
		file, err := p.generate(reached[p])
		if err != nil {
			errs = append(errs, err)
			delete(out, p.dir)
			continue
		}
		out[p.dir] = file
	}
	return out, errors.Join(errs...)
}

// typeRef names a type by its package's import path.
type typeRef struct{ path, name string }

// pkg is one parsed package of the module.
type pkg struct {
	dir, path string
	files     []*ast.File
	structs   map[string]structDecl
}

type structDecl struct {
	st   *ast.StructType
	file *ast.File // for the imports its field types name
}

// loader parses the packages of one module, each once.
type loader struct {
	modPath, modRoot string
	rootAsGiven      string          // modRoot as the caller's directories name it
	byDir            map[string]*pkg // by absolute directory
}

// newLoader finds the module that holds dir: the go.mod in it or above.
func newLoader(dir string) (*loader, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	for d := abs; ; d = filepath.Dir(d) {
		data, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil {
			for _, line := range strings.Split(string(data), "\n") {
				if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
					up, err := filepath.Rel(abs, d)
					if err != nil {
						return nil, err
					}
					return &loader{modPath: strings.Trim(f[1], `"`), modRoot: d, rootAsGiven: filepath.Join(dir, up), byDir: map[string]*pkg{}}, nil
				}
			}
			return nil, fmt.Errorf("%s: no module line", filepath.Join(d, "go.mod"))
		}
		if filepath.Dir(d) == d {
			return nil, fmt.Errorf("%s is in no Go module (no go.mod in it or above it)", dir)
		}
	}
}

// dirOf is the directory of a package of the module, named as the caller
// names the directories it gives: relative or absolute like them.
func (l *loader) dirOf(path string) (string, bool) {
	rel, ok := strings.CutPrefix(path, l.modPath)
	if !ok || (rel != "" && rel[0] != '/') {
		return "", false
	}
	if p, ok := l.byDir[filepath.Join(l.modRoot, filepath.FromSlash(rel))]; ok {
		return p.dir, true
	}
	return filepath.Join(l.rootAsGiven, filepath.FromSlash(rel)), true
}

// load parses the package in dir (its Go files, not its tests nor the
// generated file).
func (l *loader) load(dir string) (*pkg, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if p, ok := l.byDir[abs]; ok {
		return p, nil
	}
	rel, err := filepath.Rel(l.modRoot, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return nil, fmt.Errorf("%s is outside module %s (%s)", dir, l.modPath, l.modRoot)
	}
	p := &pkg{dir: dir, path: strings.TrimSuffix(l.modPath+"/"+filepath.ToSlash(rel), "/."), structs: map[string]structDecl{}}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") || n == FileName {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, n), nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		p.files = append(p.files, f)
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.TYPE {
				continue
			}
			for _, s := range g.Specs {
				ts := s.(*ast.TypeSpec)
				if st, ok := ts.Type.(*ast.StructType); ok && ts.TypeParams == nil {
					p.structs[ts.Name.Name] = structDecl{st: st, file: f}
				}
			}
		}
	}
	l.byDir[abs] = p
	return p, nil
}

// generate renders the FieldDocs of the config structs names of p.
func (p *pkg) generate(names []string) ([]byte, error) {
	names = unique(names)
	docs := map[string]string{}
	var missing, documented []string
	for _, name := range names {
		st := p.structs[name].st
		keys := yamlKeys(st)
		n0 := len(docs)
		for _, field := range st.Fields.List {
			names := field.Names
			if len(names) == 0 { // embedded: named by its type
				if id := typeIdent(field.Type); id != nil {
					names = []*ast.Ident{id}
				}
			}
			tag := ""
			if field.Tag != nil {
				tag, _ = strconv.Unquote(field.Tag.Value)
			}
			yamlName, opts, _ := strings.Cut(reflect.StructTag(tag).Get("yaml"), ",")
			for _, n := range names {
				if !n.IsExported() || yamlName == "-" {
					continue
				}
				doc := text(field.Doc)
				if doc == "" {
					doc = text(field.Comment)
				}
				if doc == "" {
					if !strings.Contains(opts, "inline") {
						missing = append(missing, fmt.Sprintf("%s.%s", name, n.Name))
					}
					continue
				}
				docs[name+"."+n.Name] = yamlWords(doc, n.Name, keys)
			}
		}
		if len(docs) > n0 {
			documented = append(documented, name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("%s: config fields without a doc comment (it is the documentation of their key): %s", p.dir, strings.Join(missing, ", "))
	}
	if len(docs) == 0 {
		return nil, nil
	}
	return render(p.files[0].Name.Name, p.path == runtimePath, documented, docs)
}

// specTypes finds the type arguments of runtime.Spec in a file of p.
func (l *loader) specTypes(p *pkg, f *ast.File) []typeRef {
	local := ""
	for _, im := range f.Imports {
		if path, _ := strconv.Unquote(im.Path.Value); path == runtimePath {
			local = "runtime"
			if im.Name != nil {
				local = im.Name.Name
			}
		}
	}
	if local == "" {
		return nil
	}
	var out []typeRef
	ast.Inspect(f, func(n ast.Node) bool {
		ix, ok := n.(*ast.IndexExpr)
		if !ok {
			return true
		}
		sel, ok := ix.X.(*ast.SelectorExpr)
		if !ok || sel.Sel.Name != "Spec" {
			return true
		}
		if id, ok := sel.X.(*ast.Ident); !ok || id.Name != local {
			return true
		}
		out = append(out, l.named(p, f, ix.Index)...)
		return true
	})
	return out
}

// fieldTypes lists the named types of the module that a field's type
// refers to: T, *T, []T, map[K]T, with T local or from an import.
func (l *loader) fieldTypes(p *pkg, f *ast.File, e ast.Expr) []typeRef {
	switch t := e.(type) {
	case *ast.StarExpr:
		return l.fieldTypes(p, f, t.X)
	case *ast.ArrayType:
		return l.fieldTypes(p, f, t.Elt)
	case *ast.MapType:
		return append(l.fieldTypes(p, f, t.Key), l.fieldTypes(p, f, t.Value)...)
	}
	return l.named(p, f, e)
}

// named resolves a type name written in file f of p: a local name or
// pkg.Name of an import of this module.
func (l *loader) named(p *pkg, f *ast.File, e ast.Expr) []typeRef {
	switch t := e.(type) {
	case *ast.Ident:
		if _, ok := p.structs[t.Name]; ok {
			return []typeRef{{p.path, t.Name}}
		}
	case *ast.SelectorExpr:
		x, ok := t.X.(*ast.Ident)
		if !ok {
			return nil
		}
		for _, im := range f.Imports {
			path, _ := strconv.Unquote(im.Path.Value)
			dir, inModule := l.dirOf(path)
			if !inModule {
				continue // the standard library's or another module's: no config docs of ours
			}
			name := ""
			if im.Name != nil {
				name = im.Name.Name
			} else if q, err := l.load(dir); err == nil && len(q.files) > 0 {
				name = q.files[0].Name.Name
			}
			if name == x.Name {
				return []typeRef{{path, t.Sel.Name}}
			}
		}
	}
	return nil
}

func typeIdent(e ast.Expr) *ast.Ident {
	switch t := e.(type) {
	case *ast.Ident:
		return t
	case *ast.StarExpr:
		return typeIdent(t.X)
	case *ast.SelectorExpr:
		return t.Sel
	}
	return nil
}

// yamlKeys maps a struct's Go field names to their YAML keys.
func yamlKeys(st *ast.StructType) map[string]string {
	out := map[string]string{}
	for _, field := range st.Fields.List {
		tag := ""
		if field.Tag != nil {
			tag, _ = strconv.Unquote(field.Tag.Value)
		}
		key, _, _ := strings.Cut(reflect.StructTag(tag).Get("yaml"), ",")
		for _, n := range field.Names {
			if key == "" {
				key = strings.ToLower(n.Name)
			}
			if key != "-" {
				out[n.Name] = key
			}
		}
	}
	return out
}

// yamlWords speaks of the fields of a doc comment by their YAML keys, as
// the reader writes them: the comment's first word when it is the field's
// own Go name ("ClientID identifies ..." becomes "`client_id` identifies
// ...") and the CamelCase names of sibling fields ("up to RetryMax"), but
// not CDP's names ("CDP KeepAlive").
func yamlWords(doc, field string, keys map[string]string) string {
	words := strings.Split(doc, " ")
	for i, w := range words {
		core := strings.TrimRight(w, ".,;:)")
		key, ok := keys[core]
		switch {
		case !ok:
			continue
		case i == 0:
			if core != field {
				continue
			}
		case core == field, !camel(core), strings.HasSuffix(words[i-1], "CDP"):
			continue // prose (an acronym such as TLS too), or CDP's own name for the setting
		}
		words[i] = "`" + key + "`" + w[len(core):]
	}
	return strings.Join(words, " ")
}

// camel reports whether a word is a CamelCase identifier (RetryMax,
// ClientID) rather than a word or an acronym of prose (Name, TLS, QoS).
func camel(s string) bool {
	upper, lower := 0, 0
	for _, r := range s {
		switch {
		case r >= 'A' && r <= 'Z':
			upper++
		case r >= 'a' && r <= 'z':
			lower++
		}
	}
	return upper >= 2 && lower >= 2
}

// text is a doc comment as one line of prose.
func text(g *ast.CommentGroup) string {
	if g == nil {
		return ""
	}
	return strings.Join(strings.Fields(g.Text()), " ")
}

func unique(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}

func render(pkg string, inRuntime bool, structs []string, docs map[string]string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("// Code generated by \"go run ./runtime/configdoc\"; DO NOT EDIT.\n\n")
	fmt.Fprintf(&b, "package %s\n\n", pkg)
	qual := ""
	if !inRuntime {
		b.WriteString("import \"github.com/metronome-rt/metronome/runtime\"\n\n")
		qual = "runtime."
	}
	for _, s := range structs {
		fmt.Fprintf(&b, "// FieldDocs returns the doc comments of the config fields, the one\n// description of each key for `runtime types` and the generated docs.\n")
		fmt.Fprintf(&b, "func (*%s) FieldDocs() %sFieldDocs { return configFieldDocs }\n\n", s, qual)
	}
	keys := make([]string, 0, len(docs))
	for k := range docs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(&b, "var configFieldDocs = %sFieldDocs{\n", qual)
	for _, k := range keys {
		fmt.Fprintf(&b, "\t%s: %s,\n", strconv.Quote(k), strconv.Quote(docs[k]))
	}
	b.WriteString("}\n")
	return format.Source(b.Bytes())
}
