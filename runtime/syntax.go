package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Stage 1, syntax: read a file within bounds, check its characters and
// parse it into a YAML tree with every node's position, then expand
// ${...}. A file that fails here contributes nothing to later stages.

// maxFileSize bounds one application or included file: far above any
// hand-written application, far below what a parser holds in memory
// without trouble.
const maxFileSize = 4 << 20

// maxTotalSize bounds all files of one application together, each include
// counted every time it is included, so that a file included many times
// over cannot multiply the work.
const maxTotalSize = 32 << 20

// maxIncludes bounds how many includes one load follows.
const maxIncludes = 4096

// maxCharErrors bounds how many character errors one file reports: a
// binary file would otherwise produce one per line.
const maxCharErrors = 10

// source is the text of one parsed file, kept so that an error inside a
// scalar can be placed at its exact character.
type source struct {
	name  string
	data  []byte
	lines []int // byte offset of the start of each line, as YAML counts lines
}

// lineStart returns the byte offset where line (1-based) starts, or -1.
func (s *source) lineStart(line int) int {
	if s.lines == nil {
		s.lines = yamlLineStarts(s.data)
	}
	if line < 1 || line > len(s.lines) {
		return -1
	}
	return s.lines[line-1]
}

// yamlLineStarts splits text into lines where YAML does: at \n, \r\n, a
// lone \r, and the Unicode breaks NEL, LS and PS.
func yamlLineStarts(data []byte) []int {
	starts := []int{0}
	for i := 0; i < len(data); {
		c := data[i]
		switch {
		case c == '\n':
			i++
		case c == '\r':
			i++
			if i < len(data) && data[i] == '\n' {
				i++
			}
		case c == 0xC2 && i+1 < len(data) && data[i+1] == 0x85:
			i += 2
		case c == 0xE2 && i+2 < len(data) && data[i+1] == 0x80 && (data[i+2] == 0xA8 || data[i+2] == 0xA9):
			i += 3
		default:
			i++
			continue
		}
		starts = append(starts, i)
	}
	return starts
}

// readBudget counts what one load has read, across includes.
type readBudget struct {
	bytes    int
	includes int
}

// errTooBig says that a file is above maxFileSize.
type errTooBig struct{ size int64 }

func (e errTooBig) Error() string {
	return fmt.Sprintf("%s is more than the %s an application file may hold", sizeText(e.size), sizeText(maxFileSize))
}

func sizeText(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.3g MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.3g KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// readBounded reads a file of at most maxFileSize bytes. With regularOnly
// (includes) anything but a regular file is refused before it is opened:
// opening a FIFO blocks and /dev/zero never ends. The application file
// itself may be a pipe (`runtime validate /dev/stdin`); reading it stops
// past the limit.
func readBounded(name string, regularOnly bool) ([]byte, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return nil, err
	}
	if regularOnly && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s, not a regular file", fileKind(fi.Mode()))
	}
	if fi.Mode().IsRegular() && fi.Size() > maxFileSize {
		return nil, errTooBig{fi.Size()}
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, errTooBig{int64(len(data))}
	}
	return data, nil
}

func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	}
	return "a special file"
}

// readInclude reads an included file within the load's budget.
func (l *loader) readInclude(name string) ([]byte, error) {
	l.budget.includes++
	if l.budget.includes > maxIncludes {
		return nil, fmt.Errorf("the application follows more than %d includes", maxIncludes)
	}
	var data []byte
	var err error
	if l.opts.ReadFile != nil {
		data, err = l.opts.ReadFile(name)
		if err == nil && len(data) > maxFileSize {
			err = errTooBig{int64(len(data))}
		}
	} else {
		data, err = readBounded(name, true)
	}
	if err != nil {
		return nil, err
	}
	l.budget.bytes += len(data)
	if l.budget.bytes > maxTotalSize {
		return nil, fmt.Errorf("the application's files, includes counted each time, hold more than %s", sizeText(maxTotalSize))
	}
	return data, nil
}

// parse reads one YAML document, reporting syntax errors with a position.
// It returns the document's top node, or nil if the file is unusable.
func (l *loader) parse(file string, data []byte) (*yaml.Node, *source) {
	if len(data) > maxFileSize {
		l.errs.add(Pos{File: file, Line: 1, Col: 1}, "", "%v", errTooBig{int64(len(data))})
		return nil, nil
	}
	tabs := checkTabs(file, data, l.errs)
	chars := checkChars(file, data, l.errs)
	if tabs || chars {
		return nil, nil
	}
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			l.errs.add(Pos{File: file, Line: 1, Col: 1}, "", "the file is empty")
			return nil, nil
		}
		line, msg := yamlErrorLine(err)
		if strings.HasPrefix(msg, "did not find expected") {
			line = problemLine(data, line, err.Error())
		}
		msg += syntaxHint(msg)
		l.errs.add(Pos{File: file, Line: line, Col: firstCol(data, line)}, "", "%s", msg)
		return nil, nil
	}
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 && isNull(root.Content[0]) && root.Content[0].Value == "" {
		root.Content = nil // "---" alone: a document with nothing in it
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		l.errs.add(Pos{File: file, Line: extra.Line, Col: extra.Column}, "", "a second YAML document (---) in one file: put each application in its own file")
	}
	if len(root.Content) == 0 {
		l.errs.add(Pos{File: file, Line: 1, Col: 1}, "", "the file is empty")
		return nil, nil
	}
	if !checkAliases(file, &root, l.errs) {
		return nil, nil
	}
	src := &source{name: file, data: data}
	l.interpolate(&root, &decoder{file: file, src: src, errs: l.errs})
	return root.Content[0], src
}

// maxAliased bounds how many nodes aliases may add to a document when they
// are expanded: far above what sharing parameter sets needs, far below what
// exhausts memory or time.
const maxAliased = 1 << 16

// checkAliases rejects aliases that refer to a node containing them, which
// would expand forever, and documents whose aliases add more than maxAliased
// nodes (the "billion laughs"). Aliases that merely reuse a mapping, such as
// a shared parameter set, pass.
func checkAliases(file string, root *yaml.Node, e *errs) bool {
	aliases := false
	var count func(n *yaml.Node) int
	count = func(n *yaml.Node) int {
		aliases = aliases || n.Kind == yaml.AliasNode
		total := 1
		for _, c := range n.Content {
			total += count(c)
		}
		return total
	}
	maxExpanded := count(root) + maxAliased
	if !aliases {
		return true // nothing to expand: the common case, without the maps below
	}
	size := map[*yaml.Node]int{}
	active := map[*yaml.Node]bool{}
	ok := true
	var walk func(n *yaml.Node) int
	walk = func(n *yaml.Node) int {
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			if active[n.Alias] {
				e.add(Pos{File: file, Line: n.Line, Col: n.Column}, "", "alias *%s refers to a node that contains it, so it would repeat forever", n.Value)
				ok = false
				return 1
			}
			return 1 + walk(n.Alias)
		}
		if s, done := size[n]; done {
			return s
		}
		active[n] = true
		total := 1
		for _, c := range n.Content {
			total += walk(c)
			if total > maxExpanded {
				break
			}
		}
		active[n] = false
		size[n] = min(total, maxExpanded+1)
		return size[n]
	}
	if walk(root) > maxExpanded && ok {
		e.add(Pos{File: file, Line: 1, Col: 1}, "", "the file's aliases (*name) expand it by more than %d nodes", maxAliased)
		ok = false
	}
	return ok
}

// checkTabs reports tabs in indentation, which YAML forbids, at their
// exact column (the parser itself only gives a line).
func checkTabs(file string, data []byte, e *errs) bool {
	found := false
	for i, line := range bytes.Split(data, []byte("\n")) {
		for col, c := range line {
			if c == '\t' {
				e.add(Pos{File: file, Line: i + 1, Col: col + 1}, "", "tab in indentation: YAML indents with spaces only")
				found = true
				break
			}
			if c != ' ' {
				break
			}
		}
	}
	return found
}

// checkChars reports bytes that are not UTF-8 and characters YAML does not
// allow, at their line and column (the parser names neither), at most one
// per line. Files starting with a UTF-16 byte order mark are left to the
// parser, which decodes them.
func checkChars(file string, data []byte, e *errs) bool {
	if bytes.HasPrefix(data, []byte{0xFF, 0xFE}) || bytes.HasPrefix(data, []byte{0xFE, 0xFF}) {
		return false
	}
	if printableText(data) {
		return false // the common case, without counting lines
	}
	starts := yamlLineStarts(data)
	found := 0
	for li, start := range starts {
		end := len(data)
		if li+1 < len(starts) {
			end = starts[li+1]
		}
		col := 1
		for i := start; i < end; col++ {
			r, size := utf8.DecodeRune(data[i:end])
			msg := ""
			switch {
			case r == utf8.RuneError && size <= 1:
				msg = fmt.Sprintf("invalid UTF-8 (byte 0x%02X): YAML files are UTF-8 text; save the file as UTF-8", data[i])
			case !yamlPrintable(r):
				msg = fmt.Sprintf("control character U+%04X is not allowed in YAML (in a double-quoted string write it as %s)", r, yamlEscape(r))
			}
			if msg != "" {
				e.add(Pos{File: file, Line: li + 1, Col: col}, "", "%s", msg)
				found++
				break
			}
			i += size
		}
		if found >= maxCharErrors {
			break
		}
	}
	return found > 0
}

// yamlEscape is how a double-quoted YAML string spells r.
func yamlEscape(r rune) string {
	if r <= 0xFF {
		return fmt.Sprintf("\\x%02X", r)
	}
	return fmt.Sprintf("\\u%04X", r)
}

// printableText is a fast check that data holds only characters YAML
// allows; checkChars finds where when it does not.
func printableText(data []byte) bool {
	for i := 0; i < len(data); {
		if c := data[i]; c < utf8.RuneSelf {
			if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(data[i:])
		if (r == utf8.RuneError && size == 1) || !yamlPrintable(r) {
			return false
		}
		i += size
	}
	return true
}

// yamlPrintable is YAML's set of characters allowed in a stream (as
// yaml.v3's reader checks it): tab, line breaks and printable characters.
func yamlPrintable(r rune) bool {
	switch {
	case r == '\t' || r == '\n' || r == '\r':
		return true
	case r >= 0x20 && r <= 0x7E:
		return true
	case r == 0x85:
		return true
	case r >= 0xA0 && r <= 0xD7FF:
		return true
	case r >= 0xE000 && r <= 0xFFFD:
		return true
	case r >= 0x10000 && r <= 0x10FFFF:
		return true
	}
	return false
}

// firstCol is the column of the first non-blank character of a line (1 if
// there is none), where a syntax error the parser gives only a line for is
// best pointed at.
func firstCol(data []byte, line int) int {
	lines := bytes.Split(data, []byte("\n"))
	if line < 1 || line > len(lines) {
		return 1
	}
	return len(lines[line-1]) - len(bytes.TrimLeft(lines[line-1], " ")) + 1
}

// yamlErrorLine pulls the line number out of a yaml.v3 error message.
// yaml.v3 reports the parser's "did not find expected ..." errors with the
// zero-based line where the unfinished list or mapping began, so those are
// moved one line down to point at that line.
func yamlErrorLine(err error) (int, string) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var line int
	if _, scanErr := fmt.Sscanf(msg, "line %d:", &line); scanErr == nil {
		if i := strings.Index(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
		if strings.HasPrefix(msg, "did not find expected") {
			line++
		}
		return line, msg
	}
	return 1, msg
}

// problemLine finds the line a parser error is really on: yaml.v3 names
// the line where the unfinished list or mapping began, which may be far
// above the line that broke it. The first prefix of the file, from that
// line on, that fails with the same error ends at the culprit.
func problemLine(data []byte, from int, full string) int {
	lines := bytes.SplitAfter(data, []byte("\n"))
	end := min(len(lines), from+200) // bound the work on huge inputs
	for k := max(from, 1); k <= end; k++ {
		var n yaml.Node
		err := yaml.Unmarshal(bytes.Join(lines[:k], nil), &n)
		if err != nil && strings.HasSuffix(err.Error(), full[strings.LastIndex(full, ": ")+2:]) {
			return k
		}
	}
	return from
}

// syntaxHint says what usually causes a YAML syntax error.
func syntaxHint(msg string) string {
	switch {
	case strings.Contains(msg, "expected ',' or '}'"):
		return " (a {...} mapping is not closed, or one of its values holds a brace or colon: quote such values, for example \"${VAR}\")"
	case strings.Contains(msg, "expected ',' or ']'"):
		return " (a [...] list is not closed)"
	case strings.Contains(msg, "mapping values are not allowed"),
		strings.Contains(msg, "did not find expected key"),
		strings.Contains(msg, "did not find expected '-' indicator"):
		return " (check the indentation: the keys of one mapping line up, and a list item's keys line up after its dash)"
	}
	return ""
}
