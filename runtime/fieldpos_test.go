package runtime

import (
	"testing"

	"gopkg.in/yaml.v3"
)

// TestScalarPos places an offset into a scalar's value at its character
// in the file, for every style that maps onto the value character by
// character (literal blocks line by line), and declines for the others.
func TestScalarPos(t *testing.T) {
	cases := []struct {
		name, text string
		off        int
		line, col  int // 0: declined
	}{
		{"plain", "k: abc{{x}}\n", 3, 1, 7},
		{"plain end", "k: abc\n", 3, 1, 7},
		{"plain after non-ASCII", "k: été {{x}}\n", 6, 1, 8},
		{"flow plain", "{a: 1, k: ab(x), c: 2}\n", 2, 1, 13},
		{"single quoted", "k: 'it''s {{x}}'\n", 5, 1, 11},
		{"double quoted escapes", "k: \"\\u00e9\\t\\\"{{x}}\"\n", 4, 1, 15},
		{"inside an escape", "k: \"a\\u00e9b\"\n", 2, 1, 6},
		{"after CRLF lines", "x: 1\r\ny: 2\r\nk: ab{{x}}\r\n", 2, 3, 6},
		{"after a NEL break", "x: \"a\"\u0085k: ab{{x}}\n", 2, 2, 6},
		{"literal block", "k: |\n  ab{{x}}\n", 2, 2, 5},
		{"literal block, second line", "k: |\n  x\n\n  ab{{x}}\n", 5, 4, 5},
		{"literal block, more indented line", "k: |\n  x\n    ab{{x}}\n", 6, 3, 7},
		{"literal block with a comment before", "k: | # c\n  ab{{x}}\n", 2, 2, 5},
		{"literal block with an indentation indicator", "k: |4\n      ab{{x}}\n", 2, 0, 0},
		{"folded block", "k: >\n  ab{{x}}\n", 2, 0, 0},
		{"folded plain", "k: ab\n  {{x}}\n", 3, 0, 0},
		{"past the end", "k: ab\n", 3, 0, 0},
	}
	for _, c := range cases {
		var root yaml.Node
		if err := yaml.Unmarshal([]byte(c.text), &root); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		v := valueAt(root.Content[0], "k")
		line, col, ok := scalarPos(&source{data: []byte(c.text)}, v, c.off)
		if !ok {
			line, col = 0, 0
		}
		if line != c.line || col != c.col {
			t.Errorf("%s: offset %d of %q at %d:%d, want %d:%d", c.name, c.off, v.Value, line, col, c.line, c.col)
		}
	}
}

// TestFieldNode follows FieldError paths, aliases and keys with dots
// included, and stops at the deepest node the file has.
func TestFieldNode(t *testing.T) {
	text := `base: &b {port: 1}
items:
  - *b
  - {port: 2, "a.b": {c: 3}, a: {b: 4}}
`
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(text), &root); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path      string
		line, col int
		key       bool
		found     bool
	}{
		{"items[0].port", 1, 17, true, true},
		{"items[1].a.b.c", 4, 26, true, true},
		{"items[1].a.b", 4, 22, true, true}, // the longest key that matches: "a.b"
		{"items[1].nope", 4, 5, false, false},
		{"items[7].port", 3, 3, true, false},
		{"items[1]", 4, 5, false, true},
	}
	for _, c := range cases {
		val, key, found := fieldNode(root.Content[0], c.path)
		if val.Line != c.line || val.Column != c.col || (key != nil) != c.key || found != c.found {
			t.Errorf("%s: %d:%d key %v found %v, want %d:%d key %v found %v", c.path, val.Line, val.Column, key != nil, found, c.line, c.col, c.key, c.found)
		}
	}
}
