package main

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/metronome-rt/metronome/components/all"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/runtime/apptest"
	"github.com/metronome-rt/metronome/scheduler"
)

// TestGeneratedDocsAreCurrent fails when docs/components.md or the config
// tables of a component README are not what `runtime types --markdown`
// makes of the types now: a doc comment, a default or a signal changed and
// `go generate ./cmd/runtime` was not run.
func TestGeneratedDocsAreCurrent(t *testing.T) {
	reg := all.Registry()
	stale, err := renderDocs("../..", reg.DescribeAll(), runtime.StandardMembers())
	if err != nil {
		t.Fatal(err)
	}
	for f := range stale {
		t.Errorf("%s is not current: run go generate ./cmd/runtime", f)
	}
}

// TestGeneratedDocsNoticeChanges copies the docs, changes what a type
// says, and checks that the check sees it and --markdown repairs it, and
// that a README without a block for a type with config keys is refused.
func TestGeneratedDocsNoticeChanges(t *testing.T) {
	root := t.TempDir()
	copyFile(t, "../../docs/components.md", filepath.Join(root, "docs/components.md"))
	readmes, _ := filepath.Glob("../../components/*/README.md")
	for _, f := range readmes {
		copyFile(t, f, filepath.Join(root, "components", filepath.Base(filepath.Dir(f)), "README.md"))
	}
	docs := all.Registry().DescribeAll()
	std := runtime.StandardMembers()
	if stale, err := renderDocs(root, docs, std); err != nil || len(stale) != 0 {
		t.Fatalf("fresh copy: stale %v, error %v", keys(stale), err)
	}
	for i := range docs {
		if docs[i].Name == "MQTTClient" {
			docs[i].Config[0].Doc = "a changed description"
		}
	}
	stale, err := renderDocs(root, docs, std)
	want := []string{filepath.Join(root, "components/mqttclient/README.md"), filepath.Join(root, "docs/components.md")}
	if err != nil || strings.Join(keys(stale), " ") != strings.Join(want, " ") {
		t.Fatalf("after a change: stale %v (want %v), error %v", keys(stale), want, err)
	}
	if !bytes.Contains(stale[want[0]], []byte("| a changed description |")) {
		t.Error("the README's table lacks the new description")
	}
	var out, errOut bytes.Buffer
	if code := writeMarkdown(root, docs, std, false, &out, &errOut); code != 0 {
		t.Fatalf("write: exit %d: %s", code, errOut.String())
	}
	if stale, _ := renderDocs(root, docs, std); len(stale) != 0 {
		t.Errorf("still stale after writing: %v", keys(stale))
	}
	readme := filepath.Join(root, "components/control/README.md")
	data, _ := os.ReadFile(readme)
	os.WriteFile(readme, bytes.ReplaceAll(data, []byte("<!-- generated: config keys of PID -->"), nil), 0o644)
	if _, err := renderDocs(root, docs, std); err == nil || !strings.Contains(err.Error(), "no <!-- generated: config keys of PID --> block") {
		t.Errorf("a README without its block: error %v", err)
	}
}

// TestReferenceKeepsDocMarkdown: a type's Doc is Markdown, and the
// reference shows it as written: paragraphs and indented formulas (the
// PID's) are not run together into one line.
func TestReferenceKeepsDocMarkdown(t *testing.T) {
	d := runtime.TypeDoc{Name: "X", Package: "example.com/x", Summary: "does x", Doc: "First paragraph,\nwrapped:\n\n    Out = K * In\n    dt  = 1/fs\n\nSecond paragraph.\n"}
	md := referenceMarkdown([]runtime.TypeDoc{d}, runtime.StandardMembers())
	want := "## X\n\nDoes x. Package `example.com/x`.\n\nFirst paragraph,\nwrapped:\n\n    Out = K * In\n    dt  = 1/fs\n\nSecond paragraph.\n\n"
	if !strings.Contains(md, want) {
		t.Errorf("reference lacks\n%s\nin\n%s", want, md)
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestTypesPrintsKeyDescriptions: `runtime types` describes every config
// key of every type with its field's doc comment.
func TestTypesPrintsKeyDescriptions(t *testing.T) {
	for _, d := range all.Registry().DescribeAll() {
		for _, k := range d.Config {
			if k.Doc == "" {
				t.Errorf("%s: config key %s has no description", d.Name, k.Key)
			}
		}
	}
	code, out, errOut := runCmd("types", "MQTTClient")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"    keep_alive                   duration = 30s\n        `keep_alive` is the MQTT keep-alive interval",
		"    password                     string  (secret: give it as ${ENV_VAR} or in a file)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("runtime types MQTTClient lacks %q:\n%s", want, out)
		}
	}
}

// brokenExamples are examples known not to validate, in files another
// change has to fix, with why; the test fails once one of them validates,
// so that the entry is removed.
var brokenExamples = map[string]string{}

// fragmentMark, on the line before a ```yaml fence, marks a block that is
// deliberately not a whole application or component entry (a piece of
// one, shown for its syntax); it is only parsed.
const fragmentMark = "<!-- yaml fragment"

// fileMark, on the line before a ```yaml fence, names the file the block
// is (<!-- yaml file: models/valve.yaml -->): it is written under that name
// beside the document's other named blocks, so that an application can use
// a model file shown before it, and a test file the application. A model
// file must be used by an application of the same document; a test file is
// run, and must pass.
const fileMark = "<!-- yaml file:"

// TestEveryYAMLExampleValidates loads every ```yaml block of the docs and
// the READMEs: an application as it is, a component entry (or a list of
// them) inside an application. Loading must succeed without warnings.
// Model and test files (named with fileMark) are used and run.
func TestEveryYAMLExampleValidates(t *testing.T) {
	files, _ := filepath.Glob("../../docs/*.md")
	readmes, _ := filepath.Glob("../../components/*/README.md")
	files = append(append(files, readmes...), "../../README.md")
	reg := all.Registry()
	n := 0
	for _, file := range files {
		dir := t.TempDir()
		read := map[string]bool{} // the files the document's applications read
		models := map[string]string{}
		for _, ex := range yamlBlocks(t, file) {
			n++
			name := filepath.ToSlash(strings.TrimPrefix(file, "../../")) + ":" + strconv.Itoa(ex.line)
			t.Run(name, func(t *testing.T) {
				var root yaml.Node
				if err := yaml.Unmarshal([]byte(ex.text), &root); err != nil {
					t.Fatalf("%s: not YAML: %v\n%s", name, err, ex.text)
				}
				if ex.fragment {
					return
				}
				path := ""
				if ex.file != "" {
					path = filepath.Join(dir, ex.file)
					if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, []byte(ex.text), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				switch top := topKeys(&root); {
				case top["model"]:
					if path == "" {
						t.Fatalf("%s: a model file: name it with %s models/NAME.yaml --> so that an application can use it", name, fileMark)
					}
					models[filepath.Clean(path)] = name
					return
				case top["app"] && top["tests"]:
					if path == "" {
						t.Fatalf("%s: a test file: name it with %s NAME_test.yaml --> so that it runs", name, fileMark)
					}
					res := apptest.RunFile(path, apptest.Options{Registry: reg})
					var out strings.Builder
					res.Print(&out, false)
					if res.Failed() || len(res.Tests) == 0 {
						t.Errorf("%s: the test does not pass:\n%s", name, out.String())
					}
					return
				}
				app, ok := asApplication(&root, ex.text)
				if !ok {
					t.Fatalf("%s: neither an application nor a component entry; mark a deliberate fragment with %s: why -->\n%s", name, fragmentMark, ex.text)
				}
				var warnings []string
				loadAs := name
				if path != "" {
					loadAs = path
				}
				_, err := runtime.LoadBytes(loadAs, []byte(app), reg, runtime.LoadOptions{
					Env:       func(string) (string, bool) { return "example", true },
					Sections:  exampleSections(app, ex.text),
					Scheduler: scheduler.Options{Virtual: true},
					OnWarning: func(w *runtime.ConfigError) { warnings = append(warnings, w.Error()) },
					ReadFile: func(f string) ([]byte, error) {
						read[filepath.Clean(f)] = true
						return os.ReadFile(f)
					},
				})
				if why, known := brokenExamples[name]; known {
					if err == nil {
						t.Errorf("%s validates now: take it out of brokenExamples", name)
					} else {
						t.Logf("%s does not validate yet (%s):\n%v", name, why, err)
					}
					return
				}
				if err != nil {
					t.Errorf("%s does not validate:\n%v\n%s", name, err, app)
				}
				if len(warnings) > 0 {
					t.Errorf("%s: an example must not teach what warns:\n%s", name, strings.Join(warnings, "\n"))
				}
			})
		}
		for path, name := range models {
			if !read[path] {
				t.Errorf("%s: no application of the document uses this model file", name)
			}
		}
	}
	if n < 8 {
		t.Errorf("found %d YAML examples, want at least 8", n)
	}
}

type yamlBlock struct {
	text     string
	line     int
	fragment bool
	file     string // the name fileMark gives it
}

// topKeys returns the keys of a document's top mapping.
func topKeys(root *yaml.Node) map[string]bool {
	keys := map[string]bool{}
	if len(root.Content) == 1 && root.Content[0].Kind == yaml.MappingNode {
		m := root.Content[0]
		for i := 0; i+1 < len(m.Content); i += 2 {
			keys[m.Content[i].Value] = true
		}
	}
	return keys
}

func yamlBlocks(t *testing.T, file string) []yamlBlock {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []yamlBlock
	var cur *yamlBlock
	prev := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		l := sc.Text()
		switch {
		case cur == nil && strings.TrimSpace(l) == "```yaml":
			cur = &yamlBlock{line: line + 1, fragment: strings.HasPrefix(strings.TrimSpace(prev), fragmentMark)}
			if f, ok := strings.CutPrefix(strings.TrimSpace(prev), fileMark); ok {
				cur.file = strings.TrimSpace(strings.TrimSuffix(f, "-->"))
			}
		case cur != nil && strings.TrimSpace(l) == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.text += l + "\n"
		}
		prev = l
	}
	if cur != nil {
		t.Errorf("%s: a ```yaml block is not closed", file)
	}
	return out
}

// asApplication makes a whole application of an example: an application
// as it is, component entries inside one (named Example, so that routes
// from the examples' App are remote routes).
func asApplication(root *yaml.Node, text string) (string, bool) {
	if len(root.Content) != 1 {
		return "", false
	}
	top := root.Content[0]
	entry := func(n *yaml.Node) bool {
		if n.Kind != yaml.MappingNode {
			return false
		}
		has := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			has[n.Content[i].Value] = true
		}
		return has["name"] && has["type"]
	}
	switch {
	case top.Kind == yaml.MappingNode && entry(top):
		return "application: Example\ncomponents:\n" + indentEntry(text), true
	case top.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(top.Content); i += 2 {
			if top.Content[i].Value == "application" {
				return text, true
			}
		}
	case top.Kind == yaml.SequenceNode && len(top.Content) > 0:
		for _, c := range top.Content {
			if !entry(c) {
				return "", false
			}
		}
		return "application: Example\ncomponents:\n" + indent(text, "  "), true
	}
	return "", false
}

func indentEntry(text string) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	for i, l := range lines {
		if i == 0 {
			lines[i] = "  - " + l
		} else {
			lines[i] = "    " + l
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

func indent(text, by string) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	for i := range lines {
		lines[i] = by + lines[i]
	}
	return strings.Join(lines, "\n") + "\n"
}
