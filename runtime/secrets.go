package runtime

import (
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// secretTag marks a config field whose value must not be written into
// the application file, such as a password: `secret:"true"`. The loader
// warns when the file holds one literally rather than taking it from the
// environment with ${NAME}; documentation marks the key too.
const secretTag = "secret"

// isSecret reports whether a config field carries the secret tag.
func isSecret(f reflect.StructField) bool { return f.Tag.Get(secretTag) == "true" }

// secrets warns about every secret field in an entry's config whose value
// is text of the file. A warning is not an error: the application loads.
func (l *loader) secrets(e *entry, t reflect.Type) {
	l.findSecrets(e, t, &e.ce.Config, "config")
}

func (l *loader) findSecrets(e *entry, t reflect.Type, n *yaml.Node, path string) {
	n = deref(n)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return
		}
		fields := fieldKeys(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			idx, ok := fields[k.Value]
			if !ok {
				continue
			}
			f := t.FieldByIndex(idx)
			sub := joinKey(path, k.Value)
			if isSecret(f) {
				l.checkSecret(e, deref(v), sub, k.Value, fields)
				continue
			}
			l.findSecrets(e, f.Type, v, sub)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, c := range n.Content {
			l.findSecrets(e, t.Elem(), c, fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			l.findSecrets(e, t.Elem(), n.Content[i+1], joinKey(path, n.Content[i].Value))
		}
	}
}

func (l *loader) checkSecret(e *entry, v *yaml.Node, path, key string, fields map[string][]int) {
	if v.Kind != yaml.ScalarNode || v.Value == "" || isNull(v) || isBad(v) {
		return
	}
	x, expanded := l.expanded[v]
	if expanded && !x.literal && x.defaulted == "" {
		return // all of it came from the environment
	}
	what := strings.ReplaceAll(key, "_", " ")
	alt := ""
	if _, ok := fields[key+"_file"]; ok {
		alt = fmt.Sprintf(", or use %s_file", key)
	}
	if x.defaulted != "" && !x.literal {
		l.warns.add(e.d.pos(v), e.d.join(path), "%s is not set, so the %s is the default written into the file: set %s, or drop the default so that an unset variable is an error%s", x.defaulted, what, x.defaulted, alt)
		return
	}
	env := strings.ToUpper(e.node.Name + "_" + key)
	l.warns.add(e.d.pos(v), e.d.join(path), "the %s is written into the file, where anyone who can read the file can read it: write %s: ${%s} to take it from the environment%s", what, key, env, alt)
}
