package runtime

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// TypeDoc is what `runtime types` prints about a component type, taken from
// the type itself so that it cannot drift from the code.
type TypeDoc struct {
	Name       string      `json:"name"`
	Package    string      `json:"package,omitempty"` // import path of the package that defines the type
	Summary    string      `json:"summary"`
	Doc        string      `json:"doc,omitempty"`
	Example    string      `json:"example,omitempty"`
	Config     []ConfigKey `json:"config,omitempty"`
	Signals    []SignalDoc `json:"signals,omitempty"`
	Parameters []ParamDoc  `json:"parameters,omitempty"`
	Alarms     []AlarmDoc  `json:"alarms,omitempty"`
	Note       string      `json:"note,omitempty"`
}

// ConfigKey is one key of a type's `config:` mapping.
type ConfigKey struct {
	Key     string `json:"key"`
	Type    string `json:"type"`
	Default string `json:"default,omitempty"`
	// Doc is the doc comment of the key's field (see FieldDocs).
	Doc string `json:"doc,omitempty"`
	// Secret keys (tagged `secret:"true"`) belong in the environment or a
	// file, not in the application file.
	Secret bool `json:"secret,omitempty"`
}

// FieldDocs holds the doc comments of a package's config fields, keyed by
// "Type.Field" (Go names: "Config.Servers"), so that the comment written on
// a field is the one description of its key: `runtime types` prints it and
// the generated docs show it. The generator `go run ./runtime/configdoc`
// writes them into the package of each config struct (configdoc_gen.go) as
// a FieldDocs method on the struct, also when the struct is declared in
// another package than the type that uses it; `go generate ./cmd/runtime`
// runs it and then rewrites the docs.
type FieldDocs map[string]string

// fieldDocumenter is a config struct whose package holds its field docs.
type fieldDocumenter interface{ FieldDocs() FieldDocs }

// fieldDocs returns the docs of the fields of the struct type t: each
// struct says its own, so a struct from another package than the config
// that nests it brings its docs along.
func fieldDocs(t reflect.Type) FieldDocs {
	if fd, ok := reflect.New(t).Interface().(fieldDocumenter); ok {
		return fd.FieldDocs()
	}
	return nil
}

// SignalDoc describes a signal of a type built with its default config.
type SignalDoc struct {
	Name string `json:"name"`
	Dir  string `json:"dir"`
	Type string `json:"type"`
	Unit string `json:"unit,omitempty"`
	Desc string `json:"desc,omitempty"`
}

// ParamDoc describes a parameter.
type ParamDoc struct {
	Name    string   `json:"name"`
	Type    string   `json:"type"`
	Default string   `json:"default"`
	Min     *float64 `json:"min,omitempty"`
	Max     *float64 `json:"max,omitempty"`
	Unit    string   `json:"unit,omitempty"`
	Desc    string   `json:"desc,omitempty"`
}

// AlarmDoc describes an alarm.
type AlarmDoc struct {
	Name  string `json:"name"`
	Level string `json:"level"`
	Text  string `json:"text"`
	Delay string `json:"delay,omitempty"`
}

// StandardMembers documents the signals and alarm every component has.
func StandardMembers() TypeDoc {
	d, _ := Describe(Define(Spec[struct{}]{Name: "Standard", Build: func(*Builder, *struct{}) (Component, error) { return nil, nil }}))
	d.Name, d.Package, d.Summary = "", "", "every component has these, besides its own"
	return d
}

// Describe builds an instance of t with its default config (without
// validating it) at the default rate, as a component that sets neither,
// and reports its config keys, signals, parameters and alarms. Signals
// that depend on configuration (MQTT topics, for example) appear only as
// the config keys that declare them.
func Describe(t *Type) (TypeDoc, error) {
	d := TypeDoc{Name: t.name, Package: t.pkg, Summary: t.summary, Doc: t.doc, Example: t.example}
	cfg := t.newConfig()
	d.Config = configKeys(reflect.ValueOf(cfg).Elem(), "")
	node := &Node{Name: "X", Path: "X", TypeName: t.name, Rate: defaultRate()}
	b := &Builder{node: node, path: "X"}
	std := t.name == "Standard"
	if std {
		declareStd(b)
	}
	if _, err := t.build(b, cfg); err != nil {
		d.Note = fmt.Sprintf("its signals depend on its configuration (with the defaults: %v)", err)
	}
	for _, p := range node.ports {
		i := p.Info()
		d.Signals = append(d.Signals, SignalDoc{Name: i.Name, Dir: i.Dir.String(), Type: i.Kind.String(), Unit: i.Unit, Desc: i.Desc})
	}
	for _, p := range node.params {
		i := p.Info()
		d.Parameters = append(d.Parameters, ParamDoc{Name: i.Name, Type: i.Kind.String(), Default: i.Default.Text(), Min: i.Min, Max: i.Max, Unit: i.Unit, Desc: i.Desc})
	}
	for _, a := range node.alarms {
		ad := AlarmDoc{Name: a.info.Name, Level: a.info.Level.String(), Text: a.info.Text}
		if a.info.Delay > 0 {
			ad.Delay = a.info.Delay.String()
		}
		d.Alarms = append(d.Alarms, ad)
	}
	return d, nil
}

// configKeys lists the YAML keys of a config struct, with nested structs and
// lists of structs flattened as "key.sub" and "key[].sub".
func configKeys(v reflect.Value, prefix string) []ConfigKey {
	var out []ConfigKey
	t := v.Type()
	if t.Kind() != reflect.Struct {
		return nil
	}
	docs := fieldDocs(t)
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		fv := v.Field(i)
		if strings.Contains(opts, "inline") {
			out = append(out, configKeys(fv, prefix)...)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		key := prefix + name
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		k := ConfigKey{Key: key, Type: typeWord(f.Type), Doc: docs[t.Name()+"."+f.Name], Secret: isSecret(f)}
		nested := ft.Kind() == reflect.Struct && ft != reflect.TypeFor[time.Time]()
		if def := defaultText(fv); def != "" && !nested {
			k.Default = def // a nested mapping's defaults show on its keys
		}
		out = append(out, k)
		switch {
		case nested:
			sub := fv
			if sub.Kind() == reflect.Pointer {
				if sub.IsNil() {
					sub = reflect.New(ft)
				}
				sub = sub.Elem()
			}
			out = append(out, configKeys(sub, key+".")...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			out = append(out, configKeys(reflect.New(ft.Elem()).Elem(), key+"[].")...)
		case ft.Kind() == reflect.Map && ft.Elem().Kind() == reflect.Struct:
			out = append(out, configKeys(reflect.New(ft.Elem()).Elem(), key+".*.")...)
		}
	}
	return out
}

func typeWord(t reflect.Type) string {
	if t == durationType {
		return "duration"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return typeWord(t.Elem())
	case reflect.Slice:
		return "list of " + typeWord(t.Elem())
	case reflect.Map:
		return "map of " + typeWord(t.Elem())
	case reflect.Struct:
		return "mapping"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "unsigned integer"
	case reflect.Interface:
		return "any"
	}
	return t.Kind().String()
}

func defaultText(v reflect.Value) string {
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return ""
		}
		v = v.Elem()
	}
	if v.IsZero() {
		switch v.Kind() {
		case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
			break // false and 0 are defaults like any other
		default:
			return "" // nothing: no default
		}
	}
	switch v.Kind() {
	case reflect.Struct, reflect.Map, reflect.Slice:
		return flowYAML(v.Interface())
	}
	if v.Type() == durationType {
		return time.Duration(v.Int()).String()
	}
	return fmt.Sprint(v.Interface())
}

// DescribeAll describes every type in the registry, sorted by name.
func (r *Registry) DescribeAll() []TypeDoc {
	var out []TypeDoc
	for _, t := range r.Types() {
		d, _ := Describe(t)
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// flowYAML renders a default as one line of YAML, as a user would write it.
func flowYAML(v any) string {
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return ""
	}
	var flow func(*yaml.Node)
	flow = func(n *yaml.Node) {
		n.Style |= yaml.FlowStyle
		if n.Kind == yaml.MappingNode { // leave out keys at their zero value
			kept := n.Content[:0]
			for i := 0; i+1 < len(n.Content); i += 2 {
				v := n.Content[i+1]
				empty := v.Tag == "!!null" || (v.Kind == yaml.ScalarNode && v.Value == "") ||
					((v.Kind == yaml.SequenceNode || v.Kind == yaml.MappingNode) && len(v.Content) == 0)
				if !empty {
					kept = append(kept, n.Content[i], v)
				}
			}
			n.Content = kept
		}
		for _, c := range n.Content {
			flow(c)
		}
	}
	flow(&n)
	out, err := yaml.Marshal(&n)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
