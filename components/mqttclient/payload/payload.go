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
	"sort"
	"strconv"
	"strings"
	"time"
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
	Number Number       // how a double is written; the zero Number is signals.AppendFloat
	path   []string
}

// Spec describes a codec before it is compiled.
type Spec struct {
	Format    Format
	Fields    []Field
	Template  string // JSON publish: text with {{Name}} / {{value}} / {{time}} / {{quality}} / {{now}} placeholders
	Separator string // CSV separator, default ","
	// TimeKey and QualityKey, for JSON, say where the payload carries the
	// time its values were produced and their quality: dotted paths that
	// Decode reads (so a value from another system keeps both), and keys
	// that Encode writes into the object form. Empty: not carried.
	TimeKey, QualityKey string
}

// Meta is what a payload says besides its values.
type Meta struct {
	// Quality of the values: on encoding the worst of them, written where
	// the payload carries a quality; on decoding the quality the source
	// sent (Good when the payload carries none).
	Quality signals.Quality
	// Time the values were produced, Unix ns: on encoding the newest of
	// them; on decoding the time stamp the source sent, 0 when the payload
	// carries none.
	Time int64
	// Now is the time of the publication, Unix ns, for {{now}}.
	Now int64
}

// Codec encodes and decodes one topic's payload. A compiled Codec is
// read-only and safe for concurrent use.
type Codec struct {
	format       Format
	fields       []Field
	tmpl         []segment
	sep          byte
	timeKey      string
	qualityKey   string
	timePath     []string
	qualityPath  []string
	carryQuality bool
	carryTime    bool
}

// Template placeholder kinds besides a field index.
const (
	segLiteral = -1 - iota
	segTime
	segQuality
	segNow
	segTimeLocal
	segNowLocal
)

// placeholders are the template placeholders other than values.
var placeholders = map[string]int{
	"time": segTime, "quality": segQuality, "now": segNow,
	"time.local": segTimeLocal, "now.local": segNowLocal,
}

// localTime is how Tasmota writes its "Time": local time without an
// offset, which time_field reads back as local time.
const localTime = "2006-01-02T15:04:05"

// segment is a template piece: literal text, a field value, the time, the
// quality or the publication time.
type segment struct {
	lit   string
	field int // a field index, or one of the seg constants
}

// SyntaxError is a mistake in a template or a number format, with the byte
// offset of the character it concerns, so a configuration error can point
// at it.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string { return e.Msg }

// Number is how a double is written: a restricted printf verb (%f, %e or
// %g) with an optional precision, compiled once so that writing allocates
// nothing. The zero Number writes 15 significant digits in the shortest
// form (signals.AppendFloat).
type Number struct {
	verb byte
	prec int
}

// ParseNumber compiles a number format: "%.2f" (two decimals), "%.4g" (four
// significant digits), "%.3e" (scientific), "%f", "%e", "%g". The error
// says which character is wrong (its Offset).
func ParseNumber(s string) (Number, error) {
	bad := func(off int, msg string) (Number, error) { return Number{}, &SyntaxError{Offset: off, Msg: msg} }
	if s == "" {
		return Number{}, nil
	}
	if s[0] != '%' {
		return bad(0, fmt.Sprintf("number format %q must start with %%, as in %%.2f", s))
	}
	i, prec := 1, -1
	if i < len(s) && s[i] == '.' {
		i++
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == j || i-j > 2 {
			return bad(j, fmt.Sprintf("number format %q: want a precision of 0 to 99 digits after the dot", s))
		}
		prec, _ = strconv.Atoi(s[j:i])
	}
	if i >= len(s) || !strings.ContainsRune("feg", rune(s[i])) || i != len(s)-1 {
		if i < len(s)-1 && strings.ContainsRune("feg", rune(s[i])) {
			i++ // a verb, then something more
		}
		return bad(min(i, len(s)-1), fmt.Sprintf("number format %q: want %%f, %%e or %%g with an optional precision (%%.2f, %%.4g)", s))
	}
	if prec < 0 {
		prec = 6 // printf's default
	}
	return Number{verb: s[i], prec: prec}, nil
}

// append writes f in the format.
func (n Number) append(dst []byte, f float64) []byte {
	if n.verb == 0 {
		return signals.AppendFloat(dst, f)
	}
	return strconv.AppendFloat(dst, f, n.verb, n.prec, 64)
}

// MapFrom compiles a config value map (signal text -> payload text) for a
// field of kind k. Keys that do not parse as k are an error (a *MapKeyError
// naming the key), so a typo in the map is reported at load time rather
// than never matching.
func MapFrom(k signals.Kind, m map[string]string) ([]MapEntry, error) {
	out := make([]MapEntry, 0, len(m))
	keys := make([]string, 0, len(m))
	for key := range m {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		v, err := signals.ParseValue(k, key)
		if err != nil {
			return nil, &MapKeyError{Key: key, Err: err}
		}
		out = append(out, MapEntry{Value: v, Payload: m[key]})
	}
	// Sorted for a stable encode choice when two keys map to one value.
	sort.SliceStable(out, func(i, j int) bool { return out[i].Payload < out[j].Payload })
	return out, nil
}

// MapKeyError is a value map key that does not parse as the signal's type.
type MapKeyError struct {
	Key string
	Err error
}

func (e *MapKeyError) Error() string { return fmt.Sprintf("value map key %q: %v", e.Key, e.Err) }

// New compiles a codec.
func New(s Spec) (*Codec, error) {
	if len(s.Fields) == 0 {
		return nil, errors.New("payload: no values")
	}
	c := &Codec{format: s.Format, fields: append([]Field(nil), s.Fields...), sep: ',', timeKey: s.TimeKey, qualityKey: s.QualityKey}
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
			p, err := splitPath(f.Key)
			if err != nil {
				return nil, fmt.Errorf("value %s: %v", f.Name, err)
			}
			f.path = p
		}
	}
	if s.TimeKey != "" || s.QualityKey != "" {
		if s.Format != JSON {
			return nil, fmt.Errorf("time and quality keys need format json, not %s", s.Format)
		}
		var err error
		if c.timePath, err = splitPath(s.TimeKey); err != nil {
			return nil, fmt.Errorf("time key: %v", err)
		}
		if c.qualityPath, err = splitPath(s.QualityKey); err != nil {
			return nil, fmt.Errorf("quality key: %v", err)
		}
		c.carryTime, c.carryQuality = s.TimeKey != "", s.QualityKey != ""
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
		for _, seg := range t {
			c.carryTime = c.carryTime || seg.field == segTime || seg.field == segTimeLocal
			c.carryQuality = c.carryQuality || seg.field == segQuality
		}
	}
	if s.Format == Text && len(c.fields) > 1 {
		return nil, errors.New("text payloads carry one value; use json or csv for several")
	}
	return c, nil
}

// splitPath splits a dotted JSON path; "" is no path.
func splitPath(key string) ([]string, error) {
	if key == "" {
		return nil, nil
	}
	p := strings.Split(key, ".")
	for _, e := range p {
		if e == "" {
			return nil, fmt.Errorf("empty element in JSON path %q", key)
		}
	}
	return p, nil
}

// CarriesQuality reports whether the payload says its values' quality (a
// {{quality}} placeholder or a quality key), so a value that is not usable
// can be sent as null with its quality rather than as a number.
func (c *Codec) CarriesQuality() bool { return c.carryQuality }

// CarriesTime reports whether the payload says when its values were
// produced.
func (c *Codec) CarriesTime() bool { return c.carryTime }

func (c *Codec) compileTemplate(t string) ([]segment, error) {
	var out []segment
	off := 0 // offset of t's start in the whole template
	for t != "" {
		i := strings.Index(t, "{{")
		if i < 0 {
			out = append(out, segment{lit: t, field: segLiteral})
			break
		}
		if i > 0 {
			out = append(out, segment{lit: t[:i], field: segLiteral})
		}
		j := strings.Index(t[i:], "}}")
		if j < 0 {
			return nil, &SyntaxError{Offset: off + i, Msg: "template: {{ is not closed by }}"}
		}
		name := strings.TrimSpace(t[i+2 : i+j])
		at := off + i
		off += i + j + 2
		t = t[i+j+2:]
		if seg, ok := placeholders[name]; ok {
			out = append(out, segment{field: seg})
			continue
		}
		if name == "value" && len(c.fields) == 1 {
			out = append(out, segment{field: 0})
			continue
		}
		k := -1
		for n, f := range c.fields {
			if f.Name == name {
				k = n
			}
		}
		if k >= 0 {
			out = append(out, segment{field: k})
			continue
		}
		names := make([]string, len(c.fields))
		for n, f := range c.fields {
			names[n] = "{{" + f.Name + "}}"
		}
		if name == "value" {
			return nil, &SyntaxError{Offset: at, Msg: fmt.Sprintf("template: {{value}} stands for the value of a single-value topic; this topic carries %d values, so name each one: %s", len(c.fields), strings.Join(names, ", "))}
		}
		want := "{{value}}"
		if len(c.fields) > 1 {
			want = "a value's name (" + strings.Join(names, ", ") + ")"
		}
		return nil, &SyntaxError{Offset: at, Msg: fmt.Sprintf("template: unknown placeholder {{%s}}: want %s, {{time}}, {{time.local}}, {{quality}}, {{now}} or {{now.local}}", name, want)}
	}
	return out, nil
}

// Fields returns the codec's values in order.
func (c *Codec) Fields() []Field { return c.fields }

// Format returns the codec's format.
func (c *Codec) Format() Format { return c.format }

// Encode appends the payload for vals (one per field, in field order) to
// dst, with m's quality and times where the payload carries them. A value
// of kind Invalid (one that is not usable, sent with its quality) is
// written as JSON null, or as nothing in text and CSV. It allocates nothing
// when dst has room.
func (c *Codec) Encode(dst []byte, vals []signals.Value, m Meta) []byte {
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
				case segLiteral:
					dst = append(dst, s.lit...)
				case segTime:
					dst = strconv.AppendInt(dst, m.Time/1e6, 10)
				case segNow:
					dst = strconv.AppendInt(dst, m.Now/1e6, 10)
				case segTimeLocal:
					dst = appendLocalTime(dst, m.Time)
				case segNowLocal:
					dst = appendLocalTime(dst, m.Now)
				case segQuality:
					dst = appendJSONString(dst, m.Quality.String())
				default:
					dst = c.appendJSON(dst, s.field, vals[s.field])
				}
			}
			return dst
		}
		if len(c.fields) == 1 && c.fields[0].Key == "" && c.timeKey == "" && c.qualityKey == "" {
			return c.appendJSON(dst, 0, vals[0])
		}
		dst = append(dst, '{')
		for i := range c.fields {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, c.key(i))
			dst = append(dst, ':')
			dst = c.appendJSON(dst, i, vals[i])
		}
		if c.timeKey != "" {
			dst = append(dst, ',')
			dst = appendJSONString(dst, c.timeKey)
			dst = append(dst, ':')
			dst = strconv.AppendInt(dst, m.Time/1e6, 10)
		}
		if c.qualityKey != "" {
			dst = append(dst, ',')
			dst = appendJSONString(dst, c.qualityKey)
			dst = append(dst, ':')
			dst = appendJSONString(dst, m.Quality.String())
		}
		return append(dst, '}')
	}
	return c.appendText(dst, 0, vals[0])
}

// key is field i's key in the JSON object form: its Key, its Name in a
// multi-value topic, "value" for a single value that shares the object
// with a time or a quality.
func (c *Codec) key(i int) string {
	f := &c.fields[i]
	switch {
	case f.Key != "":
		return f.Key
	case len(c.fields) == 1:
		return "value"
	}
	return f.Name
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
	if v.Kind() == signals.Float {
		f, _ := v.Float()
		return c.fields[i].Number.append(dst, f)
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
		return signals.AppendFloat(dst, f)
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
		return c.fields[i].Number.append(dst, f)
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

// maxQuoted is how much of a payload an error message quotes: enough to
// recognise it, never enough for a hostile payload to flood a log.
const maxQuoted = 40

// Quote returns s quoted for a message, cut to its first few characters
// with its length when it is longer.
func Quote(s string) string {
	head, tail := cut(s)
	return strconv.Quote(head) + tail
}

// Short returns s, or its first few characters and its length when it is
// longer, for a log field that must stay short whatever a peer sent.
func Short(s string) string {
	head, tail := cut(s)
	return head + tail
}

func cut(s string) (head, tail string) {
	if len(s) <= maxQuoted {
		return s, ""
	}
	n := maxQuoted
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n], fmt.Sprintf("... (%d bytes)", len(s))
}

// Decode fills out (one slot per field) from payload and returns the time
// stamp and quality the payload carries (Meta.Time 0 and Good when it
// carries none). A field that does not decode is left as the zero Value
// (kind Invalid), its bad[i] is set, and the first such failure is
// returned; the other fields are still decoded, so one bad column of a
// multi-value payload spoils only its own signal. A JSON null where the
// payload says its quality is not usable is no failure: out[i] stays
// Invalid and bad[i] false, and the caller keeps the previous value with
// the quality sent. bad may be nil.
func (c *Codec) Decode(payload []byte, out []signals.Value, bad []bool) (Meta, error) {
	for i := range out {
		out[i] = signals.Value{}
		if bad != nil {
			bad[i] = false
		}
	}
	mark := func(i int) {
		if bad != nil {
			bad[i] = true
		}
	}
	m := Meta{Quality: signals.Good}
	switch c.format {
	case JSON:
		return c.decodeJSON(payload, out, mark)
	case CSV:
		return m, c.decodeCSV(payload, out, mark)
	}
	v, err := c.parseText(0, string(payload))
	if err != nil {
		mark(0)
		return m, &FieldError{c.fields[0].Name, err}
	}
	out[0] = v
	return m, nil
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
	v, err := signals.ParseValue(f.Kind, t)
	if err != nil {
		// ParseValue quotes the whole text; a payload may be megabytes.
		return signals.Value{}, fmt.Errorf("cannot parse %s as %s", Quote(t), f.Kind)
	}
	return v, nil
}

func (c *Codec) decodeCSV(payload []byte, out []signals.Value, mark func(int)) error {
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
			mark(i)
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

func (c *Codec) decodeJSON(payload []byte, out []signals.Value, mark func(int)) (Meta, error) {
	m := Meta{Quality: signals.Good}
	all := func(err error) (Meta, error) {
		for i := range c.fields {
			mark(i)
		}
		return m, &FieldError{c.fields[0].Name, err}
	}
	if depth(payload) > maxJSONDepth {
		return all(fmt.Errorf("JSON nested deeper than %d", maxJSONDepth))
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return all(fmt.Errorf("not JSON: %v", err))
	}
	if dec.More() {
		return all(errors.New("not JSON: data after the value"))
	}
	var err error
	if c.timePath != nil {
		if m.Time, err = at(doc, c.timePath, parseTime); err != nil {
			return all(fmt.Errorf("time %s: %v", c.timeKey, err))
		}
	}
	if c.qualityPath != nil {
		if m.Quality, err = at(doc, c.qualityPath, parseQuality); err != nil {
			return all(fmt.Errorf("quality %s: %v", c.qualityKey, err))
		}
	}
	object := len(c.fields) > 1 || c.timePath != nil || c.qualityPath != nil
	var first error
	for i, f := range c.fields {
		node := doc
		var err error
		switch {
		case f.path != nil:
			node, err = walk(doc, f.path)
		case object:
			node, err = walk(doc, []string{c.key(i)})
		}
		if err == nil && node == nil && c.qualityPath != nil && !m.Quality.Usable() {
			continue // no value, and the source says why: its quality
		}
		var v signals.Value
		if err == nil {
			v, err = c.fromJSON(i, node)
		}
		if err != nil {
			mark(i)
			if first == nil {
				first = &FieldError{f.Name, err}
			}
			continue
		}
		out[i] = v
	}
	return m, first
}

// at parses the node at path in doc.
func at[T any](doc any, path []string, parse func(any) (T, error)) (T, error) {
	node, err := walk(doc, path)
	if err != nil {
		var zero T
		return zero, err
	}
	return parse(node)
}

// parseTime reads a source's time stamp: a number of seconds, milliseconds,
// microseconds or nanoseconds since 1970 (told apart by size: below 1e11 is
// seconds, below 1e14 milliseconds, below 1e17 microseconds), or RFC 3339
// text ("2024-05-01T12:00:00Z", fractions and offsets allowed; without an
// offset, local time as Tasmota sends it).
func parseTime(node any) (int64, error) {
	switch n := node.(type) {
	case json.Number:
		f, err := n.Float64()
		if err != nil || f <= 0 || f >= 9.2e18 {
			return 0, fmt.Errorf("%s is not a time stamp", Quote(string(n)))
		}
		unit := int64(1) // nanoseconds
		switch {
		case f < 1e11:
			unit = 1e9
		case f < 1e14:
			unit = 1e6
		case f < 1e17:
			unit = 1e3
		}
		if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
			return i * unit, nil // whole numbers exactly: a double would round nanoseconds
		}
		return int64(f * float64(unit)), nil
	case string:
		if t, err := time.Parse(time.RFC3339Nano, n); err == nil {
			return t.UnixNano(), nil
		}
		if t, err := time.ParseInLocation("2006-01-02T15:04:05.999999999", n, time.Local); err == nil {
			return t.UnixNano(), nil
		}
		return 0, fmt.Errorf("%s is not an RFC 3339 time", Quote(n))
	}
	return 0, errors.New("want a number or an RFC 3339 text")
}

// parseQuality reads a source's quality: a quality's name ("good", "stale",
// "comm lost", ...), or true (good) / false (bad input).
func parseQuality(node any) (signals.Quality, error) {
	switch n := node.(type) {
	case string:
		if q, ok := signals.ParseQuality(n); ok {
			return q, nil
		}
		return signals.BadInput, fmt.Errorf("unknown quality %s (want good, last known, initial, stale, comm lost, bad input, or true/false)", Quote(n))
	case bool:
		if n {
			return signals.Good, nil
		}
		return signals.BadInput, nil
	}
	return signals.BadInput, errors.New("want a quality's name or true/false")
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

// appendLocalTime writes Unix nanoseconds as a JSON string of local time
// in Tasmota's form, "2024-05-01T12:00:00".
func appendLocalTime(dst []byte, ns int64) []byte {
	dst = append(dst, '"')
	dst = time.Unix(0, ns).AppendFormat(dst, localTime)
	return append(dst, '"')
}
