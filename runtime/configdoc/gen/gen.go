// Package gen reads the doc comments of a component package's config
// fields and writes them as Go source, for the configdoc command and for
// the test that the committed files are current.
package gen

import (
	"bytes"
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

// Package returns the configdoc_gen.go for the package in dir, or nil if
// the package passes no config struct to runtime.Spec (or its config
// structs have no fields). An exported config field without a doc comment
// is an error: its key would be documented by nothing.
func Package(dir string) ([]byte, error) {
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []*ast.File
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") || n == FileName {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, n), nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		return nil, nil
	}
	structs := map[string]*ast.StructType{}
	var roots []string
	for _, f := range files {
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.TYPE {
				continue
			}
			for _, s := range g.Specs {
				ts := s.(*ast.TypeSpec)
				if st, ok := ts.Type.(*ast.StructType); ok && ts.TypeParams == nil {
					structs[ts.Name.Name] = st
				}
			}
		}
		roots = append(roots, specTypes(f)...)
	}
	roots = unique(roots)
	var rooted []string
	for _, r := range roots {
		if _, ok := structs[r]; ok {
			rooted = append(rooted, r)
		}
	}
	if len(rooted) == 0 {
		return nil, nil
	}
	docs := map[string]string{}
	var missing []string
	seen := map[string]bool{}
	queue := append([]string(nil), rooted...)
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if seen[name] {
			continue
		}
		seen[name] = true
		keys := yamlKeys(structs[name])
		for _, field := range structs[name].Fields.List {
			for _, t := range localTypes(field.Type) {
				if _, ok := structs[t]; ok {
					queue = append(queue, t)
				}
			}
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
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("%s: config fields without a doc comment (it is the documentation of their key): %s", dir, strings.Join(missing, ", "))
	}
	if len(docs) == 0 {
		return nil, nil
	}
	return render(files[0].Name.Name, rooted, docs)
}

// specTypes finds the type arguments of runtime.Spec in a file.
func specTypes(f *ast.File) []string {
	local := ""
	for _, im := range f.Imports {
		if p, _ := strconv.Unquote(im.Path.Value); p == runtimePath {
			local = "runtime"
			if im.Name != nil {
				local = im.Name.Name
			}
		}
	}
	if local == "" {
		return nil
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		ix, ok := n.(*ast.IndexExpr)
		if !ok {
			return true
		}
		sel, ok := ix.X.(*ast.SelectorExpr)
		if !ok || sel.Sel.Name != "Spec" {
			return true
		}
		if pkg, ok := sel.X.(*ast.Ident); !ok || pkg.Name != local {
			return true
		}
		if id, ok := ix.Index.(*ast.Ident); ok {
			out = append(out, id.Name)
		}
		return true
	})
	return out
}

// localTypes lists the package-local type names a field's type refers to.
func localTypes(e ast.Expr) []string {
	switch t := e.(type) {
	case *ast.Ident:
		return []string{t.Name}
	case *ast.StarExpr:
		return localTypes(t.X)
	case *ast.ArrayType:
		return localTypes(t.Elt)
	case *ast.MapType:
		return append(localTypes(t.Key), localTypes(t.Value)...)
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

func render(pkg string, roots []string, docs map[string]string) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("// Code generated by \"go run ./runtime/configdoc\"; DO NOT EDIT.\n\n")
	fmt.Fprintf(&b, "package %s\n\nimport \"github.com/metronome-rt/metronome/runtime\"\n\n", pkg)
	for _, r := range roots {
		fmt.Fprintf(&b, "// FieldDocs returns the doc comments of the config fields, the one\n// description of each key for `runtime types` and the generated docs.\n")
		fmt.Fprintf(&b, "func (*%s) FieldDocs() runtime.FieldDocs { return configFieldDocs }\n\n", r)
	}
	keys := make([]string, 0, len(docs))
	for k := range docs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b.WriteString("var configFieldDocs = runtime.FieldDocs{\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "\t%s: %s,\n", strconv.Quote(k), strconv.Quote(docs[k]))
	}
	b.WriteString("}\n")
	return format.Source(b.Bytes())
}
