package runtime

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// decoder decodes YAML nodes into Go values strictly: unknown keys,
// duplicate keys and wrong types are errors that keep the node's line and
// column, and decoding goes on after a mistake so every one is reported.
// (yaml.v3's Node.Decode ignores KnownFields and reports lines without
// columns, which is why this exists.)
type decoder struct {
	file string
	src  *source // the file's text, for positions inside scalars
	errs *errs
	path string // node path prefix for messages, e.g. "Plant.Pump"
	// origin holds the nodes that come from another file than this one:
	// an instance's overrides merged into its model's components.
	origin map[*yaml.Node]*source
}

// with returns a decoder for the same file whose messages name path.
func (d *decoder) with(path string) *decoder {
	return &decoder{file: d.file, src: d.src, errs: d.errs, path: path, origin: d.origin}
}

// srcOf returns the text of the file a node comes from.
func (d *decoder) srcOf(n *yaml.Node) *source {
	if s := d.origin[n]; s != nil {
		return s
	}
	return d.src
}

// fileOf returns the name of the file a node comes from.
func (d *decoder) fileOf(n *yaml.Node) string {
	if s := d.origin[n]; s != nil {
		return s.name
	}
	return d.file
}

// nodeUnmarshaler lets a config type decode itself from a node with the
// decoder's error reporting.
type nodeUnmarshaler interface {
	UnmarshalYAML(n *yaml.Node) error
}

var (
	nodeType     = reflect.TypeFor[yaml.Node]()
	durationType = reflect.TypeFor[time.Duration]()
	unmarshalerT = reflect.TypeFor[nodeUnmarshaler]()
)

func (d *decoder) pos(n *yaml.Node) Pos { return Pos{File: d.fileOf(n), Line: n.Line, Col: n.Column} }

func (d *decoder) fail(n *yaml.Node, key, format string, args ...any) {
	d.errs.add(d.pos(n), d.join(key), format, args...)
}

func (d *decoder) join(key string) string {
	switch {
	case d.path == "":
		return key
	case key == "":
		return d.path
	}
	return d.path + ": " + key
}

// decode decodes n into v (a settable value); key is n's key path.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, key string) {
	for n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	t := v.Type()
	if t == nodeType {
		v.Set(reflect.ValueOf(*n)) // a copy keeps a bad mark: it is in the tag
		if s := d.origin[n]; s != nil {
			d.origin[v.Addr().Interface().(*yaml.Node)] = s // and its file
		}
		return
	}
	if isBad(n) {
		return // already reported: a failed ${...}
	}
	if reflect.PointerTo(t).Implements(unmarshalerT) {
		if err := v.Addr().Interface().(nodeUnmarshaler).UnmarshalYAML(n); err != nil {
			d.fail(n, key, "%v", err)
		}
		return
	}
	if isNull(n) && (t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map) {
		v.Set(reflect.Zero(t))
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		// Decode into a fresh value and keep it only if it decoded cleanly,
		// so a value that failed is not checked again as a zero. A struct
		// keeps the fields that did decode, so they are still checked.
		nv := reflect.New(t.Elem())
		if !v.IsNil() {
			nv.Elem().Set(v.Elem())
		}
		before := len(d.errs.list)
		d.decode(n, nv.Elem(), key)
		if len(d.errs.list) == before || t.Elem().Kind() == reflect.Struct {
			v.Set(nv)
		}
	case reflect.Struct:
		d.decodeStruct(n, v, key)
	case reflect.Map:
		d.decodeMap(n, v, key)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, key, "want a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.decode(c, s.Index(i), fmt.Sprintf("%s[%d]", key, i))
		}
		v.Set(s)
	case reflect.Interface:
		var x any
		if err := n.Decode(&x); err != nil {
			d.fail(n, key, "%v", err)
			return
		}
		if x != nil {
			v.Set(reflect.ValueOf(x))
		}
	default:
		d.decodeScalar(n, v, key)
	}
}

// badTag marks a scalar whose ${...} could not be expanded: the mistake is
// reported once, where the variable is named, and the value is then left
// alone rather than reported again as a wrong value. A tag, unlike a set
// of pointers, survives the copies the decoder makes of nodes.
const badTag = "!metronome/unexpanded"

func isBad(n *yaml.Node) bool { return n.Tag == badTag }

// mapEntry finds key in mapping m and returns its key and value nodes, or
// nils when m is not a mapping or lacks the key. The first of duplicate
// keys counts (the decoder reports the second).
func mapEntry(m *yaml.Node, key string) (k, v *yaml.Node) {
	m = deref(m)
	if m == nil || m.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i], m.Content[i+1]
		}
	}
	return nil, nil
}

// deref follows aliases to the node they name.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// valueAt returns the value node of a key in a mapping, or nil.
func valueAt(m *yaml.Node, key string) *yaml.Node {
	_, v := mapEntry(m, key)
	return v
}

// scalarAt returns the value of a scalar key in a mapping, or "".
func scalarAt(m *yaml.Node, key string) string {
	if v := valueAt(m, key); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value
	}
	return ""
}

// badAt reports whether a key's value is a ${...} that failed to expand.
func badAt(m *yaml.Node, key string) bool {
	v := valueAt(m, key)
	return v != nil && isBad(v)
}

// keyPos is the position of a key's value in a mapping, or of the mapping
// when the key is absent.
func (d *decoder) keyPos(m *yaml.Node, key string) Pos {
	if v := valueAt(m, key); v != nil {
		return d.pos(v)
	}
	return d.pos(m)
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	if isNull(n) {
		return "nothing"
	}
	return fmt.Sprintf("%q", n.Value)
}

// fieldKeys lists a struct's YAML keys, following inline structs.
func fieldKeys(t reflect.Type) map[string][]int {
	out := map[string][]int{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") && f.Type.Kind() == reflect.Struct {
			for k, idx := range fieldKeys(f.Type) {
				out[k] = append([]int{i}, idx...)
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = []int{i}
	}
	return out
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind != yaml.MappingNode {
		if isNull(n) {
			return // an empty entry keeps the defaults
		}
		d.fail(n, key, "want a mapping of keys, got %s", describe(n))
		return
	}
	fields := fieldKeys(v.Type())
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		name := k.Value
		sub := joinKey(key, name)
		if line, dup := seen[name]; dup {
			d.fail(k, sub, "key given twice (first on line %d)", line)
			continue
		}
		seen[name] = k.Line
		idx, ok := fields[name]
		if !ok {
			known := make([]string, 0, len(fields))
			for f := range fields {
				known = append(known, f)
			}
			sort.Strings(known) // ties in the suggestion go the same way every run
			best := closest(name, known)
			hint := suggestion(best)
			if len(known) == 0 {
				hint = " (this takes no keys)"
			}
			if best != "" {
				d.errs.guess(n, best)
			}
			d.fail(k, key, "unknown key %q%s", name, hint)
			continue
		}
		d.decode(val, v.FieldByIndex(idx), sub)
	}
}

func joinKey(key, name string) string {
	if key == "" {
		return name
	}
	return key + "." + name
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, key, "want a mapping, got %s", describe(n))
		return
	}
	t := v.Type()
	if t.Key().Kind() != reflect.String {
		d.fail(n, key, "unsupported map key type %s", t.Key())
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(t))
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if line, dup := seen[k.Value]; dup {
			d.fail(k, joinKey(key, k.Value), "key given twice (first on line %d)", line)
			continue
		}
		seen[k.Value] = k.Line
		e := reflect.New(t.Elem()).Elem()
		d.decode(val, e, joinKey(key, k.Value))
		v.SetMapIndex(reflect.ValueOf(k.Value).Convert(t.Key()), e)
	}
}

func (d *decoder) decodeScalar(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n, key, "want a %s, got %s", kindWord(v.Type()), describe(n))
		return
	}
	s := n.Value
	t := v.Type()
	if t == durationType {
		dur, err := time.ParseDuration(s)
		if err != nil {
			if _, nerr := strconv.ParseFloat(s, 64); nerr == nil {
				d.fail(n, key, "duration %q needs a unit, for example %ss or %sms", s, s, s)
			} else {
				d.fail(n, key, "invalid duration %q (use a number with a unit: 500ms, 2s, 1m30s)", s)
			}
			return
		}
		v.SetInt(int64(dur))
		return
	}
	switch t.Kind() {
	case reflect.String:
		if isNull(n) {
			v.SetString("")
			return
		}
		v.SetString(s)
	case reflect.Bool:
		switch strings.ToLower(s) {
		case "true", "yes", "on":
			v.SetBool(true)
		case "false", "no", "off":
			v.SetBool(false)
		default:
			d.fail(n, key, "want true or false, got %q", s)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 0, t.Bits())
		if err != nil {
			d.fail(n, key, "want an integer%s, got %q", rangeHint(t), s)
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		u, err := strconv.ParseUint(strings.ReplaceAll(s, "_", ""), 0, t.Bits())
		if err != nil {
			d.fail(n, key, "want a whole number 0 or more%s, got %q", rangeHint(t), s)
			return
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		f, err := parseYAMLFloat(s)
		if err != nil {
			d.fail(n, key, "want a number, got %q", s)
			return
		}
		v.SetFloat(f)
	default:
		d.fail(n, key, "unsupported config field type %s", t)
	}
}

// parseYAMLFloat accepts YAML's float spellings as well as Go's.
func parseYAMLFloat(s string) (float64, error) {
	switch strings.ToLower(s) {
	case ".inf", "+.inf":
		return math.Inf(1), nil
	case "-.inf":
		return math.Inf(-1), nil
	case ".nan":
		return math.NaN(), nil
	}
	return strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64)
}

func rangeHint(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Uint8:
		return " up to 255"
	case reflect.Uint16:
		return " up to 65535"
	case reflect.Int8:
		return " from -128 to 127"
	case reflect.Int16:
		return " from -32768 to 32767"
	}
	return ""
}

func kindWord(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "true or false"
	case reflect.Float32, reflect.Float64:
		return "number"
	}
	if t == durationType {
		return "duration"
	}
	return "value"
}
