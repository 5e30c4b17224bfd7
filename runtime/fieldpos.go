package runtime

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// fieldNode follows a FieldError path ("listeners[0].type",
// "publish[1].value_map.true") from a config node. It returns the deepest
// node reached, the key node that led to it (nil for a list item or the
// root) and whether the whole path was found. A map key may itself hold
// dots or brackets: at each mapping the longest key that matches the rest
// of the path wins.
func fieldNode(n *yaml.Node, path string) (val, key *yaml.Node, found bool) {
	val = deref(n)
	rest := path
	for rest != "" {
		if rest[0] == '[' {
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return val, key, false
			}
			i, err := strconv.Atoi(rest[1:end])
			if err != nil || val.Kind != yaml.SequenceNode || i < 0 || i >= len(val.Content) {
				return val, key, false
			}
			val, key = deref(val.Content[i]), nil
			rest = strings.TrimPrefix(rest[end+1:], ".")
			continue
		}
		if val.Kind != yaml.MappingNode {
			return val, key, false
		}
		best := -1
		for i := 0; i+1 < len(val.Content); i += 2 {
			k := val.Content[i].Value
			if strings.HasPrefix(rest, k) && (len(rest) == len(k) || rest[len(k)] == '.' || rest[len(k)] == '[') &&
				(best < 0 || len(k) > len(val.Content[best].Value)) {
				best = i
			}
		}
		if best < 0 {
			return val, key, false
		}
		k := val.Content[best]
		val, key = deref(val.Content[best+1]), k
		rest = strings.TrimPrefix(rest[len(k.Value):], ".")
	}
	return val, key, true
}

// scalarPos is the line and column of the character at byte offset off of
// a scalar's value, found by reading the scalar's text in the file: plain
// and quoted scalars on one line, escapes of double-quoted ones included.
// Literal block scalars (|) map line by line. ok is false where the
// file's text does not map onto the value that way (folded and multi-line
// flow scalars); the caller then points at the scalar.
func scalarPos(src *source, n *yaml.Node, off int) (line, col int, ok bool) {
	if src == nil || n.Kind != yaml.ScalarNode || off < 0 || off > len(n.Value) {
		return 0, 0, false
	}
	if n.Style == yaml.LiteralStyle {
		return literalPos(src, n, off)
	}
	start := src.lineStart(n.Line)
	if start < 0 {
		return 0, 0, false
	}
	i := start
	for c := 1; c < n.Column; c++ { // columns count characters
		if i >= len(src.data) || src.data[i] == '\n' {
			return 0, 0, false
		}
		_, size := utf8.DecodeRune(src.data[i:])
		i += size
	}
	raw := src.data[i:]
	if nl := strings.IndexAny(string(raw), "\r\n"); nl >= 0 {
		raw = raw[:nl]
	}
	var rawOff int // byte offset into raw of the character holding off
	switch n.Style {
	case 0:
		if !strings.HasPrefix(string(raw), n.Value) {
			return 0, 0, false
		}
		rawOff = off
	case yaml.SingleQuotedStyle:
		r, ok := singleQuotedOffset(raw, n.Value, off)
		if !ok {
			return 0, 0, false
		}
		rawOff = r
	case yaml.DoubleQuotedStyle:
		r, ok := doubleQuotedOffset(raw, off)
		if !ok {
			return 0, 0, false
		}
		rawOff = r
	default:
		return 0, 0, false
	}
	return n.Line, n.Column + utf8.RuneCount(raw[:rawOff]), true
}

// singleQuotedOffset maps a value offset into 'text', where ” is a quote.
func singleQuotedOffset(raw []byte, value string, off int) (int, bool) {
	if len(raw) == 0 || raw[0] != '\'' {
		return 0, false
	}
	i, v := 1, 0
	for v < off {
		switch {
		case i >= len(raw):
			return 0, false
		case raw[i] == '\'' && i+1 < len(raw) && raw[i+1] == '\'':
			i += 2
			v++
		case raw[i] == '\'':
			return 0, false // the closing quote before off: the value goes on past this line
		default:
			_, size := utf8.DecodeRune(raw[i:])
			i += size
			v += size
		}
	}
	if v != off || v > len(value) {
		return 0, false
	}
	return i, true
}

// doubleQuotedOffset maps a value offset into "text" with its escapes;
// an offset inside what an escape produces points at the backslash.
func doubleQuotedOffset(raw []byte, off int) (int, bool) {
	if len(raw) == 0 || raw[0] != '"' {
		return 0, false
	}
	i, v := 1, 0
	for {
		if i < len(raw) && v == off {
			return i, true // the closing quote for the end of the value
		}
		if i >= len(raw) || raw[i] == '"' {
			return 0, false
		}
		rawLen, valLen := 0, 0
		if raw[i] == '\\' {
			if i+1 >= len(raw) {
				return 0, false
			}
			rawLen, valLen = escapeLen(raw[i+1:])
			if rawLen == 0 {
				return 0, false
			}
			rawLen++
		} else {
			_, rawLen = utf8.DecodeRune(raw[i:])
			valLen = rawLen
		}
		if off < v+valLen {
			return i, true
		}
		i += rawLen
		v += valLen
	}
}

// escapeLen is how many bytes a double-quoted escape takes after its
// backslash and how many bytes of value it makes; 0 if it cannot tell.
func escapeLen(esc []byte) (raw, value int) {
	hex := 0
	switch esc[0] {
	case 'x':
		hex = 2
	case 'u':
		hex = 4
	case 'U':
		hex = 8
	case 'N', '_':
		return 1, 2 // U+0085, U+00A0
	case 'L', 'P':
		return 1, 3 // U+2028, U+2029
	case '0', 'a', 'b', 't', '\t', 'n', 'v', 'f', 'r', 'e', ' ', '"', '/', '\\':
		return 1, 1
	default:
		return 0, 0
	}
	if len(esc) < 1+hex {
		return 0, 0
	}
	r, err := strconv.ParseUint(string(esc[1:1+hex]), 16, 32)
	if err != nil {
		return 0, 0
	}
	n := utf8.RuneLen(rune(r))
	if n < 0 {
		return 0, 0
	}
	return 1 + hex, n
}

// literalPos is scalarPos for a literal block scalar: the value's lines
// are the file's lines after the indicator, each without the block's
// indentation. Each line of the value up to off is checked against the
// file, so a block the file does not hold that way (tabs, an indentation
// indicator, a comment the parser dropped) is not guessed at.
func literalPos(src *source, n *yaml.Node, off int) (line, col int, ok bool) {
	lines := strings.Split(n.Value[:off], "\n")
	indent := -1
	for i, want := range lines {
		l := n.Line + 1 + i
		start := src.lineStart(l)
		if start < 0 {
			return 0, 0, false
		}
		end := len(src.data)
		if next := src.lineStart(l + 1); next >= 0 {
			end = next
		}
		text := strings.TrimRight(string(src.data[start:end]), "\r\n")
		if indent < 0 {
			indent = len(text) - len(strings.TrimLeft(text, " "))
			if indent == 0 {
				return 0, 0, false
			}
		}
		last := i == len(lines)-1
		switch {
		case len(text) < indent && strings.TrimSpace(text) == "" && want == "" && !last:
			continue // an empty line inside the block
		case len(text) < indent || strings.TrimLeft(text[:indent], " ") != "":
			return 0, 0, false
		case last && !strings.HasPrefix(text[indent:], want):
			return 0, 0, false
		case !last && text[indent:] != want:
			return 0, 0, false
		}
		if last {
			return l, indent + utf8.RuneCountInString(want) + 1, true
		}
	}
	return 0, 0, false
}
