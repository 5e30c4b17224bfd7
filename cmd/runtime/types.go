package main

//go:generate go run ../../runtime/configdoc ../../components ../../internal
//go:generate go run . types --markdown --root ../..

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/metronome-rt/metronome/components/all"
	"github.com/metronome-rt/metronome/runtime"
)

// types lists the component types from the types themselves: config keys
// with the doc comments of their fields, signals, parameters and alarms.
// With --markdown it writes the same into docs/components.md and the
// config-key tables of every component README instead.
func types(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("types", "types [--json] [TYPE...] | types --markdown [--root DIR] [--check]", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	markdown := fs.Bool("markdown", false, "write docs/components.md and the generated config-key tables of the component READMEs under --root")
	root := fs.String("root", ".", "with --markdown: the repository's root directory")
	check := fs.Bool("check", false, "with --markdown: write nothing; list the files that are not current and exit 1 if any")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	reg := all.Registry()
	docs := reg.DescribeAll()
	std := runtime.StandardMembers()
	if *markdown {
		if fs.NArg() > 0 {
			fmt.Fprintln(stderr, "runtime types: --markdown documents every type; give no TYPE")
			return 2
		}
		return writeMarkdown(*root, docs, std, *check, stdout, stderr)
	}
	if fs.NArg() > 0 {
		var pick []runtime.TypeDoc
		for _, name := range fs.Args() {
			found := false
			for _, d := range docs {
				if strings.EqualFold(d.Name, name) {
					pick, found = append(pick, d), true
				}
			}
			if !found {
				fmt.Fprintf(stderr, "runtime types: unknown type %q (known: %s)\n", name, strings.Join(reg.Names(), ", "))
				return 1
			}
		}
		docs = pick
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"types": docs, "standard": std}); err != nil {
			fmt.Fprintln(stderr, "runtime types:", err)
			return 1
		}
		return 0
	}
	for _, d := range docs {
		printType(stdout, d)
	}
	fmt.Fprintln(stdout, "Every component also has:")
	printMembers(stdout, std)
	fmt.Fprint(stdout, systemNote)
	return 0
}

// systemNote tells of the component a system: section adds, which no
// registry lists.
const systemNote = `
An application with a system: section (docs/yaml.md, "A system of runtimes") is a
Sparkplug B edge node of its system, and has the component System besides its own:
    output Connected            bool    the link to the system's broker is up
    output <Peer>_Online        bool    the peer application is online (per peer)
    output <Write>_Result       string  the last result of a write to a peer (per write)
    alarm  Disconnected         error   the link has been down for alarm_delay
    alarm  <Peer>_Offline       warning the peer has been offline for alarm_delay
    alarm  <Peer>_Mismatch      error   a route from the peer cannot be used (missing or another type)
    alarm  <Write>_Failed       warning the write was refused or not answered
`

// writeMarkdown brings the generated parts of the docs up to date.
func writeMarkdown(root string, docs []runtime.TypeDoc, std runtime.TypeDoc, check bool, stdout, stderr io.Writer) int {
	files, err := renderDocs(root, docs, std)
	if err != nil {
		fmt.Fprintln(stderr, "runtime types --markdown:", err)
		return 1
	}
	names := make([]string, 0, len(files))
	for f := range files {
		names = append(names, f)
	}
	sort.Strings(names)
	for _, f := range names {
		if check {
			fmt.Fprintf(stderr, "%s is not current: run go generate ./cmd/runtime\n", f)
			continue
		}
		if err := os.WriteFile(f, files[f], 0o644); err != nil {
			fmt.Fprintln(stderr, "runtime types --markdown:", err)
			return 1
		}
		fmt.Fprintln(stdout, "wrote", f)
	}
	if check && len(files) > 0 {
		return 1
	}
	return 0
}

func printType(w io.Writer, d runtime.TypeDoc) {
	fmt.Fprintf(w, "%s: %s\n", d.Name, d.Summary)
	if d.Note != "" {
		fmt.Fprintf(w, "  (%s)\n", d.Note)
	}
	if len(d.Config) > 0 {
		fmt.Fprintln(w, "  config:")
		for _, k := range d.Config {
			line := fmt.Sprintf("    %-28s %s", k.Key, k.Type)
			if k.Default != "" {
				line += " = " + k.Default
			}
			if k.Secret {
				line += "  (secret: give it as ${ENV_VAR} or in a file)"
			}
			fmt.Fprintln(w, line)
			for _, l := range wrap(k.Doc, 70) {
				fmt.Fprintln(w, "        "+l)
			}
		}
	}
	printMembers(w, ownMembers(d))
	fmt.Fprintln(w)
}

// wrap breaks text into lines of at most width characters, at spaces.
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(text) {
		if line != "" && len(line)+1+len(word) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

// ownMembers leaves out the standard members every component has, which
// are documented once.
func ownMembers(d runtime.TypeDoc) runtime.TypeDoc {
	own := d
	own.Signals, own.Alarms = nil, nil
	for _, s := range d.Signals {
		if !isStdName(s.Name) {
			own.Signals = append(own.Signals, s)
		}
	}
	for _, a := range d.Alarms {
		if !isStdName(a.Name) {
			own.Alarms = append(own.Alarms, a)
		}
	}
	return own
}

func isStdName(n string) bool {
	switch n {
	case runtime.StdProcessTime, runtime.StdProcessPeriod, runtime.StdOverruns, runtime.StdOverrunAlarm:
		return true
	}
	return false
}

func printMembers(w io.Writer, d runtime.TypeDoc) {
	if len(d.Signals) > 0 {
		fmt.Fprintln(w, "  signals:")
		for _, s := range d.Signals {
			unit := ""
			if s.Unit != "" {
				unit = " [" + s.Unit + "]"
			}
			fmt.Fprintf(w, "    %-6s %-20s %-6s%s  %s\n", s.Dir, s.Name, s.Type, unit, s.Desc)
		}
	}
	if len(d.Parameters) > 0 {
		fmt.Fprintln(w, "  parameters:")
		for _, p := range d.Parameters {
			fmt.Fprintf(w, "    %-20s %-6s = %s%s%s  %s\n", p.Name, p.Type, p.Default, unitText(p.Unit), rangeText(p), p.Desc)
		}
	}
	if len(d.Alarms) > 0 {
		fmt.Fprintln(w, "  alarms:")
		for _, a := range d.Alarms {
			delay := ""
			if a.Delay != "" {
				delay = " after " + a.Delay
			}
			fmt.Fprintf(w, "    %-20s %-7s%s  %s\n", a.Name, a.Level, delay, a.Text)
		}
	}
}

func unitText(u string) string {
	if u == "" {
		return ""
	}
	return " [" + u + "]"
}

func rangeText(p runtime.ParamDoc) string {
	if p.Min == nil && p.Max == nil {
		return ""
	}
	return " range " + bound(p.Min, "-inf") + ".." + bound(p.Max, "+inf")
}

func bound(f *float64, none string) string {
	if f == nil {
		return none
	}
	return fmt.Sprint(*f)
}

// The generated parts of the docs sit between markers that say what goes
// there, so that everything around them stays hand-written:
//
//	<!-- generated: component types -->          (docs/components.md)
//	<!-- generated: config keys of TYPE -->       (a component README)
//	<!-- generated: config keys of TYPE under publish[] -->
//	<!-- end generated -->
//
// A README's block for TYPE lists every key of TYPE's config that no block
// with a longer "under" prefix lists. The README of the package that
// defines a type with config keys must have a block for it; a type without
// keys may have one (it says so).
const (
	markTypes = "<!-- generated: component types -->"
	markKeys  = "<!-- generated: config keys of "
	markEnd   = "<!-- end generated -->"
)

// renderDocs returns, by path, every generated doc file under root whose
// content is not what the types say now.
func renderDocs(root string, docs []runtime.TypeDoc, std runtime.TypeDoc) (map[string][]byte, error) {
	out := map[string][]byte{}
	ref := filepath.Join(root, "docs", "components.md")
	have, err := os.ReadFile(ref)
	if err != nil {
		return nil, fmt.Errorf("%v (give --root the repository's root directory)", err)
	}
	want, err := replaceBlocks(ref, have, func(what string) (string, error) {
		if what != "component types" {
			return "", fmt.Errorf("unknown generated block %q", what)
		}
		return referenceMarkdown(docs, std), nil
	})
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(have, want) {
		out[ref] = want
	}
	readmes := map[string][]runtime.TypeDoc{}
	module := modulePath()
	for _, d := range docs {
		if rel, ok := strings.CutPrefix(d.Package, module+"/"); ok {
			path := filepath.Join(root, filepath.FromSlash(rel), "README.md")
			readmes[path] = append(readmes[path], d)
		}
	}
	paths := make([]string, 0, len(readmes))
	for path := range readmes {
		paths = append(paths, path)
	}
	sort.Strings(paths)
	for _, path := range paths {
		types := readmes[path]
		have, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) && !slices.ContainsFunc(types, hasKeys) {
			continue // nothing to generate, so no README needed
		}
		if err != nil {
			return nil, err
		}
		byName := map[string]runtime.TypeDoc{}
		for _, d := range types {
			byName[d.Name] = d
		}
		prefixes := map[string][]string{}
		for _, what := range blocks(have) {
			if typ, under, ok := keysBlock(what); ok {
				prefixes[typ] = append(prefixes[typ], under)
			}
		}
		for _, d := range types {
			if hasKeys(d) && len(prefixes[d.Name]) == 0 {
				return nil, fmt.Errorf("%s: no %s%s --> block for its config keys", path, markKeys, d.Name)
			}
		}
		want, err := replaceBlocks(path, have, func(what string) (string, error) {
			typ, under, ok := keysBlock(what)
			d, known := byName[typ]
			if !ok || !known {
				return "", fmt.Errorf("unknown generated block %q", what)
			}
			return keyTable(d, under, prefixes[typ]), nil
		})
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(have, want) {
			out[path] = want
		}
	}
	return out, nil
}

func hasKeys(d runtime.TypeDoc) bool { return len(d.Config) > 0 }

// modulePath is the import path of this module, whose component
// packages have their README beside their code.
func modulePath() string {
	return strings.TrimSuffix(reflect.TypeFor[runtime.App]().PkgPath(), "/runtime")
}

// blocks lists what each generated block of a file holds.
func blocks(text []byte) []string {
	var out []string
	for _, line := range strings.Split(string(text), "\n") {
		if what, ok := blockStart(line); ok {
			out = append(out, what)
		}
	}
	return out
}

func blockStart(line string) (string, bool) {
	line = strings.TrimSpace(line)
	rest, ok := strings.CutPrefix(line, "<!-- generated: ")
	if !ok {
		return "", false
	}
	what, ok := strings.CutSuffix(rest, " -->")
	return strings.TrimSpace(what), ok
}

// keysBlock parses "config keys of TYPE [under PREFIX]".
func keysBlock(what string) (typ, under string, ok bool) {
	rest, ok := strings.CutPrefix(what, "config keys of ")
	if !ok {
		return "", "", false
	}
	typ, under, _ = strings.Cut(rest, " under ")
	return strings.TrimSpace(typ), strings.TrimSpace(under), true
}

// replaceBlocks rewrites the inside of every generated block of a file.
func replaceBlocks(path string, text []byte, render func(what string) (string, error)) ([]byte, error) {
	lines := strings.SplitAfter(string(text), "\n")
	var b strings.Builder
	for i := 0; i < len(lines); i++ {
		b.WriteString(lines[i])
		what, ok := blockStart(lines[i])
		if !ok {
			continue
		}
		end := i + 1
		for end < len(lines) && strings.TrimSpace(lines[end]) != markEnd {
			end++
		}
		if end == len(lines) {
			return nil, fmt.Errorf("%s:%d: %q has no %s after it", path, i+1, strings.TrimSpace(lines[i]), markEnd)
		}
		body, err := render(what)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, i+1, err)
		}
		b.WriteString("\n" + body + "\n")
		b.WriteString(lines[end])
		i = end
	}
	return []byte(b.String()), nil
}

// keyTable is the table of the config keys of d under prefix ("" or a
// key such as "publish[]") that no other block (others) takes.
func keyTable(d runtime.TypeDoc, under string, others []string) string {
	prefix := under
	if prefix != "" {
		prefix += "."
	}
	var rows []string
	for _, k := range d.Config {
		if owner(k.Key, others) != under {
			continue
		}
		typ := k.Type
		if k.Secret {
			typ += ", secret: use `${ENV_VAR}` or a file"
		}
		def := ""
		if k.Default != "" {
			def = "`" + cell(k.Default) + "`"
		}
		rows = append(rows, fmt.Sprintf("| `%s` | %s | %s | %s |", strings.TrimPrefix(k.Key, prefix), typ, def, cell(k.Doc)))
	}
	if len(rows) == 0 {
		return "No `config:` keys.\n"
	}
	return "| key | type | default | meaning |\n|---|---|---|---|\n" + strings.Join(rows, "\n") + "\n"
}

// owner is the longest of the block prefixes that key is under ("" when
// none is).
func owner(key string, unders []string) string {
	best := ""
	for _, u := range unders {
		if u != "" && strings.HasPrefix(key, u+".") && len(u) > len(best) {
			best = u
		}
	}
	return best
}

// cell makes text fit in a Markdown table cell.
func cell(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ")
}

// referenceMarkdown documents every type, as docs/components.md lists them.
func referenceMarkdown(docs []runtime.TypeDoc, std runtime.TypeDoc) string {
	var b strings.Builder
	module := modulePath()
	link := func(d runtime.TypeDoc) string {
		rel, ok := strings.CutPrefix(d.Package, module+"/")
		if !ok {
			return "`" + d.Package + "`"
		}
		return fmt.Sprintf("[%s](../%s/README.md)", rel, rel)
	}
	b.WriteString("| type | package | what it does |\n|---|---|---|\n")
	for _, d := range docs {
		fmt.Fprintf(&b, "| [`%s`](#%s) | %s | %s |\n", d.Name, strings.ToLower(d.Name), link(d), cell(d.Summary))
	}
	for _, d := range docs {
		fmt.Fprintf(&b, "\n## %s\n\n%s. Package %s.\n\n", d.Name, upperFirst(d.Summary), link(d))
		if doc := strings.TrimSpace(d.Doc); doc != "" {
			b.WriteString(doc + "\n\n") // Markdown as written: paragraphs and indented formulas kept
		}
		if d.Note != "" {
			fmt.Fprintf(&b, "Note: %s.\n\n", d.Note)
		}
		b.WriteString("### `config:`\n\n")
		b.WriteString(keyTable(d, "", nil))
		membersMarkdown(&b, ownMembers(d), "### ")
		if d.Example != "" {
			fmt.Fprintf(&b, "\n### Example\n\n```yaml\n%s\n```\n", strings.TrimRight(d.Example, "\n"))
		}
	}
	b.WriteString("\n## Members of every component\n")
	membersMarkdown(&b, std, "### ")
	return b.String()
}

func membersMarkdown(b *strings.Builder, d runtime.TypeDoc, h string) {
	if len(d.Signals) > 0 {
		fmt.Fprintf(b, "\n%sSignals\n\n| signal | direction | type | unit | meaning |\n|---|---|---|---|---|\n", h)
		for _, s := range d.Signals {
			fmt.Fprintf(b, "| `%s` | %s | %s | %s | %s |\n", s.Name, s.Dir, s.Type, cell(s.Unit), cell(s.Desc))
		}
	}
	if len(d.Parameters) > 0 {
		fmt.Fprintf(b, "\n%sParameters\n\n| parameter | type | default | range | unit | meaning |\n|---|---|---|---|---|---|\n", h)
		for _, p := range d.Parameters {
			rng := strings.TrimPrefix(rangeText(p), " range ")
			fmt.Fprintf(b, "| `%s` | %s | `%s` | %s | %s | %s |\n", p.Name, p.Type, cell(p.Default), rng, cell(p.Unit), cell(p.Desc))
		}
	}
	if len(d.Alarms) > 0 {
		fmt.Fprintf(b, "\n%sAlarms\n\n| alarm | level | delay | text |\n|---|---|---|---|\n", h)
		for _, a := range d.Alarms {
			fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", a.Name, a.Level, a.Delay, cell(a.Text))
		}
	}
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
