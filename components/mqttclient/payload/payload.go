// Package payload converts between MQTT payloads and Metronome signal
// values: plain text, JSON (a scalar, a field chosen by a path, or an object
// built from a template) and CSV lines, each optionally through a value map
// (true <-> "ON"). One codec may carry several values (a multi-value topic).
//
// Encoding appends to a caller's buffer and allocates nothing, because it
// runs on the tick. Decoding runs on the I/O side; it never panics on bad
// input and reports which values did not decode.
package payload

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/metronome-rt/metronome/signals"
)

// Format is how a payload is written.
type Format uint8

// Payload formats.
const (
	Text Format = iota // the value as text, as a string route would format it
	JSON               // a JSON scalar, a field of a JSON object, or a template
	CSV                // one line of separated values
)

// ParseFormat maps a config name to a Format; "" is Text.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "", "text", "plain":
		return Text, nil
	case "json":
		return JSON, nil
	case "csv":
		return CSV, nil
	}
	return Text, fmt.Errorf("unknown payload format %q (want text, json or csv)", s)
}

func (f Format) String() string { return [...]string{"text", "json", "csv"}[f] }

// MapEntry is one value map pair: the signal value and the payload text that
// stands for it.
type MapEntry struct {
	Value   signals.Value
	Payload string
}

// Field is one value carried by a payload.
type Field struct {
	Name   string       // signal name, and the JSON key when Key is empty
	Kind   signals.Kind // the signal's type
	Key    string       // JSON: dotted path into the object ("a.b.0.c"); "" = the whole payload (one field) or Name
	Column int          // CSV: zero-based column
	Map    []MapEntry   // value map, tried before plain formatting/parsing
	path   []string
}

// Spec describes a codec before it is compiled.
type Spec struct {
	Format    Format
	Fields    []Field
	Template  string // JSON publish: text with {{Name}} / {{value}} / {{time}} placeholders
	Separator string // CSV separator, default ","
}

// Codec encodes and decodes one topic's payload. A compiled Codec is
// read-only and safe for concurrent use.
type Codec struct {
	format Format
	fields []Field
	tmpl   []segment
	sep    byte
}

// segment is a template piece: literal text, a field value or the time.
type segment struct {
	lit   string
	field int // -1: literal, -2: time (Unix ms)
}

// MapFrom compiles a config value map (signal text -> payload text) for a
// field of kind k. Keys that do not parse as k are an error, so a typo in
// the map is reported at load time rather than never matching.
func MapFrom(k signals.Kind, m map[string]string) ([]MapEntry, error) {
	out := make([]MapEntry, 0, len(m))
	for key, p := range m {
		v, err := signals.ParseValue(k, key)
		if err != nil {
			return nil, fmt.Errorf("value map key %q: %v", key, err)
		}
		out = append(out, MapEntry{Value: v, Payload: p})
	}
	// Sorted for a stable encode choice when two keys map to one value.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Payload < out[j-1].Payload; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out, nil
}

// New compiles a codec.
func New(s Spec) (*Codec, error) {
	if len(s.Fields) == 0 {
		return nil, errors.New("payload: no values")
	}
	c := &Codec{format: s.Format, fields: append([]Field(nil), s.Fields...), sep: ','}
	if s.Separator != "" {
		if len(s.Separator) != 1 {
			return nil, fmt.Errorf("csv separator %q must be one character", s.Separator)
		}
		c.sep = s.Separator[0]
	}
	for i := range c.fields {
		f := &c.fields[i]
		if f.Kind == signals.Invalid {
			return nil, fmt.Errorf("value %s: no type", f.Name)
		}
		if f.Key != "" {
			f.path = strings.Split(f.Key, ".")
			for _, p := range f.path {
				if p == "" {
					return nil, fmt.Errorf("value %s: empty element in JSON path %q", f.Name, f.Key)
				}
			}
		}
	}
	if s.Template != "" {
		if s.Format != JSON {
			return nil, fmt.Errorf("a template needs format json, not %s", s.Format)
		}
		t, err := c.compileTemplate(s.Template)
		if err != nil {
			return nil, err
		}
		c.tmpl = t
	}
	if s.Format == Text && len(c.fields) > 1 {
		return nil, errors.New("text payloads carry one value; use json or csv for several")
	}
	return c, nil
}

func (c *Codec) compileTemplate(t string) ([]segment, error) {
	var out []segment
	for t != "" {
		i := strings.Index(t, "{{")
		if i < 0 {
			out = append(out, segment{lit: t, field: -1})
			break
		}
		if i > 0 {
			out = append(out, segment{lit: t[:i], field: -1})
		}
		j := strings.Index(t[i:], "}}")
		if j < 0 {
			return nil, fmt.Errorf("template: unclosed {{ in %q", t)
		}
		name := strings.TrimSpace(t[i+2 : i+j])
		t = t[i+j+2:]
		switch {
		case name == "time":
			out = append(out, segment{field: -2})
		case name == "value" && len(c.fields) == 1:
			out = append(out, segment{field: 0})
		default:
			k := -1
			for n, f := range c.fields {
				if f.Name == name {
					k = n
				}
			}
			if k < 0 {
				return nil, fmt.Errorf("template: unknown placeholder {{%s}} (want {{value}}, {{time}} or a value name)", name)
			}
			out = append(out, segment{field: k})
		}
	}
	return out, nil
}

// Fields returns the codec's values in order.
func (c *Codec) Fields() []Field { return c.fields }

// Format returns the codec's format.
func (c *Codec) Format() Format { return c.format }

// Encode appends the payload for vals (one per field, in field order) to dst.
// now is the Unix time in ns, for the {{time}} placeholder. It allocates
// nothing when dst has room.
func (c *Codec) Encode(dst []byte, vals []signals.Value, now int64) []byte {
	switch c.format {
	case CSV:
		// Columns are written where Decode reads them; unused ones stay empty.
		last := 0
		for _, f := range c.fields {
			last = max(last, f.Column)
		}
		for col := 0; col <= last; col++ {
			if col > 0 {
				dst = append(dst, c.sep)
			}
			for i, f := range c.fields {
				if f.Column == col {
					dst = c.appendText(dst, i, vals[i])
					break
				}
			}
		}
		return dst
	case JSON:
		if c.tmpl != nil {
			for _, s := range c.tmpl {
				switch s.field {
				case -1:
					dst = append(dst, s.lit...)
				case -2:
					dst = strconv.AppendInt(dst, now/1e6, 10)
				default:
					dst = c.appendJSON(dst, s.field, vals[s.field])
				}
			}
			return dst
		}
		if len(c.fields) == 1 && c.fields[0].Key == "" {
			return c.appendJSON(dst, 0, vals[0])
		}
		dst = append(dst, '{')
		for i, f := range c.fields {
			if i > 0 {
				dst = append(dst, ',')
			}
			k := f.Key
			if k == "" {
				k = f.Name
			}
			dst = appendJSONString(dst, k)
			dst = append(dst, ':')
			dst = c.appendJSON(dst, i, vals[i])
		}
		return append(dst, '}')
	}
	return c.appendText(dst, 0, vals[0])
}

func (c *Codec) mapped(i int, v signals.Value) (string, bool) {
	for _, m := range c.fields[i].Map {
		if m.Value.Equal(v) {
			return m.Payload, true
		}
	}
	return "", false
}

// appendText formats v as text without allocating.
func (c *Codec) appendText(dst []byte, i int, v signals.Value) []byte {
	if p, ok := c.mapped(i, v); ok {
		return append(dst, p...)
	}
	return AppendValue(dst, v)
}

// AppendValue formats v as a string route would, without allocating.
func AppendValue(dst []byte, v signals.Value) []byte {
	switch v.Kind() {
	case signals.Bool:
		b, _ := v.Bool()
		return strconv.AppendBool(dst, b)
	case signals.Int:
		i, _ := v.Int()
		return strconv.AppendInt(dst, i, 10)
	case signals.Uint:
		u, _ := v.Uint()
		return strconv.AppendUint(dst, u, 10)
	case signals.Float:
		f, _ := v.Float()
		return strconv.AppendFloat(dst, f, 'g', -1, 64)
	case signals.String:
		return append(dst, v.Text()...)
	}
	return dst
}

func (c *Codec) appendJSON(dst []byte, i int, v signals.Value) []byte {
	if p, ok := c.mapped(i, v); ok {
		return appendJSONString(dst, p)
	}
	switch v.Kind() {
	case signals.Float:
		f, _ := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return append(dst, "null"...) // JSON has no NaN or infinity
		}
		return strconv.AppendFloat(dst, f, 'g', -1, 64)
	case signals.String:
		return appendJSONString(dst, v.Text())
	case signals.Invalid:
		return append(dst, "null"...)
	}
	return AppendValue(dst, v)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string literal; invalid UTF-8 becomes
// U+FFFD so the output is always valid JSON.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			switch {
			case b == '"' || b == '\\':
				dst = append(dst, '\\', b)
			case b == '\n':
				dst = append(dst, '\\', 'n')
			case b == '\r':
				dst = append(dst, '\\', 'r')
			case b == '\t':
				dst = append(dst, '\\', 't')
			case b < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			default:
				dst = append(dst, b)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, "\ufffd"...)
		} else {
			dst = append(dst, s[i:i+n]...)
		}
		i += n
	}
	return append(dst, '"')
}

// FieldError says which value of a payload did not decode and why.
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return fmt.Sprintf("value %s: %v", e.Field, e.Err) }

// Decode fills out (one slot per field) from payload. A field that does not
// decode is left as the zero Value (kind Invalid) and the first such failure
// is returned; the other fields are still decoded, so one bad column of a
// multi-value payload spoils only its own signal.
func (c *Codec) Decode(payload []byte, out []signals.Value) error {
	for i := range out {
		out[i] = signals.Value{}
	}
	switch c.format {
	case JSON:
		return c.decodeJSON(payload, out)
	case CSV:
		return c.decodeCSV(payload, out)
	}
	v, err := c.parseText(0, string(payload))
	if err != nil {
		return &FieldError{c.fields[0].Name, err}
	}
	out[0] = v
	return nil
}

// parseText turns text into field i's kind, through the value map first.
func (c *Codec) parseText(i int, s string) (signals.Value, error) {
	f := &c.fields[i]
	t := strings.TrimSpace(s)
	for _, m := range f.Map {
		if m.Payload == t {
			return m.Value, nil
		}
	}
	for _, m := range f.Map {
		if strings.EqualFold(m.Payload, t) {
			return m.Value, nil
		}
	}
	if f.Kind == signals.String {
		if !utf8.ValidString(s) {
			return signals.Value{}, errors.New("not valid UTF-8 text")
		}
		return signals.StringValue(s), nil
	}
	return signals.ParseValue(f.Kind, t)
}

func (c *Codec) decodeCSV(payload []byte, out []signals.Value) error {
	line := string(bytes.TrimRight(payload, "\r\n"))
	var first error
	for i, f := range c.fields {
		col, ok := column(line, c.sep, f.Column)
		var v signals.Value
		var err error
		if !ok {
			err = fmt.Errorf("no column %d in %d columns", f.Column, strings.Count(line, string(c.sep))+1)
		} else {
			v, err = c.parseText(i, col)
		}
		if err != nil {
			if first == nil {
				first = &FieldError{f.Name, err}
			}
			continue
		}
		out[i] = v
	}
	return first
}

func column(line string, sep byte, n int) (string, bool) {
	for k := 0; k < n; k++ {
		i := strings.IndexByte(line, sep)
		if i < 0 {
			return "", false
		}
		line = line[i+1:]
	}
	if i := strings.IndexByte(line, sep); i >= 0 {
		line = line[:i]
	}
	return line, true
}

// maxJSONDepth bounds nesting so a hostile payload cannot exhaust the stack.
const maxJSONDepth = 64

func (c *Codec) decodeJSON(payload []byte, out []signals.Value) error {
	if depth(payload) > maxJSONDepth {
		return &FieldError{c.fields[0].Name, fmt.Errorf("JSON nested deeper than %d", maxJSONDepth)}
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return &FieldError{c.fields[0].Name, fmt.Errorf("not JSON: %v", err)}
	}
	if dec.More() {
		return &FieldError{c.fields[0].Name, errors.New("not JSON: data after the value")}
	}
	var first error
	for i, f := range c.fields {
		node := doc
		var err error
		switch {
		case f.path != nil:
			node, err = walk(doc, f.path)
		case len(c.fields) > 1:
			node, err = walk(doc, []string{f.Name})
		}
		var v signals.Value
		if err == nil {
			v, err = c.fromJSON(i, node)
		}
		if err != nil {
			if first == nil {
				first = &FieldError{f.Name, err}
			}
			continue
		}
		out[i] = v
	}
	return first
}

// depth returns the deepest bracket nesting in b, ignoring brackets inside
// strings.
func depth(b []byte) int {
	d, max, inStr, esc := 0, 0, false, false
	for _, c := range b {
		switch {
		case esc:
			esc = false
		case inStr:
			if c == '\\' {
				esc = true
			} else if c == '"' {
				inStr = false
			}
		case c == '"':
			inStr = true
		case c == '{' || c == '[':
			d++
			if d > max {
				max = d
			}
		case c == '}' || c == ']':
			d--
		}
	}
	return max
}

func walk(node any, path []string) (any, error) {
	for _, p := range path {
		switch n := node.(type) {
		case map[string]any:
			v, ok := n[p]
			if !ok {
				return nil, fmt.Errorf("no key %q", p)
			}
			node = v
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(n) {
				return nil, fmt.Errorf("no element %q in an array of %d", p, len(n))
			}
			node = n[i]
		default:
			return nil, fmt.Errorf("cannot look up %q in a scalar", p)
		}
	}
	return node, nil
}

func (c *Codec) fromJSON(i int, node any) (signals.Value, error) {
	f := &c.fields[i]
	switch n := node.(type) {
	case json.Number:
		return c.parseText(i, string(n))
	case string:
		return c.parseText(i, n)
	case bool:
		if len(f.Map) > 0 {
			if v, err := c.parseText(i, strconv.FormatBool(n)); err == nil {
				return v, nil
			}
		}
		v, ok := convertBool(n, f.Kind)
		if !ok {
			return signals.Value{}, fmt.Errorf("cannot use %v as %s", n, f.Kind)
		}
		return v, nil
	case nil:
		return signals.Value{}, errors.New("null")
	}
	return signals.Value{}, fmt.Errorf("an object or array, not a %s", f.Kind)
}

func convertBool(b bool, k signals.Kind) (signals.Value, bool) {
	v := signals.BoolValue(b)
	switch k {
	case signals.Bool:
		return v, true
	case signals.Int:
		i, ok := v.Int()
		return signals.IntValue(i), ok
	case signals.Uint:
		u, ok := v.Uint()
		return signals.UintValue(u), ok
	case signals.Float:
		f, ok := v.Float()
		return signals.FloatValue(f), ok
	case signals.String:
		return signals.StringValue(v.Text()), true
	}
	return signals.Value{}, false
}
