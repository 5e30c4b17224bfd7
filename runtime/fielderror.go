package runtime

import (
	"errors"
	"fmt"
	"strings"
)

// FieldError is a mistake in one key of a component's `config:`. A config's
// Validate returns field errors rather than prose, so that the loader can
// point at the exact key in the YAML: the path says where, the message says
// what, and neither carries the other.
type FieldError struct {
	// Path is the key path from the config's root: keys joined by dots,
	// list items as [i], map keys as keys ("listeners[0].type",
	// "publish[2].value_map.true"). Empty means the config as a whole.
	Path string
	// AtKey places the error at the key itself rather than at its value:
	// for a map key that does not parse, or a name that clashes.
	AtKey bool
	// Offset, for an error inside a scalar value (a character of an
	// expression or a template), is the byte offset into the value's text,
	// so the loader can point at that character; 0 points at the value.
	Offset int
	// Msg says what is wrong, without the path.
	Msg string
}

func (e *FieldError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// FieldErrors collects the field errors of one Validate, so that every
// mistake of a config is reported in one run.
type FieldErrors []*FieldError

// Add records a mistake in the value at path.
func (es *FieldErrors) Add(path, format string, args ...any) {
	*es = append(*es, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// AddKey records a mistake in the key at path (not its value).
func (es *FieldErrors) AddKey(path, format string, args ...any) {
	*es = append(*es, &FieldError{Path: path, AtKey: true, Msg: fmt.Sprintf(format, args...)})
}

// Merge records the errors of a nested validation under prefix: field
// errors keep their own path below it, any other error is placed at prefix.
func (es *FieldErrors) Merge(prefix string, err error) {
	if err == nil {
		return
	}
	for _, fe := range AsFieldErrors(err) {
		*es = append(*es, &FieldError{Path: JoinFieldPath(prefix, fe.Path), AtKey: fe.AtKey, Offset: fe.Offset, Msg: fe.Msg})
	}
}

// Err returns the collected errors, or nil if there are none.
func (es FieldErrors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

func (es FieldErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// JoinFieldPath appends a key path to a prefix: ("publish[0]", "qos") gives
// "publish[0].qos", and a path starting with an index joins without a dot.
func JoinFieldPath(prefix, path string) string {
	switch {
	case prefix == "":
		return path
	case path == "":
		return prefix
	case strings.HasPrefix(path, "["):
		return prefix + path
	}
	return prefix + "." + path
}

// AsFieldErrors flattens what a Validate returned into field errors: field
// errors as they are (also inside errors.Join), any other error as one
// field error about the config as a whole.
func AsFieldErrors(err error) FieldErrors {
	fes, plain := splitFieldErrors(err)
	for _, p := range plain {
		fes = append(fes, &FieldError{Msg: p.Error()})
	}
	return fes
}

// splitFieldErrors separates the field errors in err (also inside
// FieldErrors and errors.Join) from the other errors, keeping their order
// within each.
func splitFieldErrors(err error) (fes FieldErrors, plain []error) {
	var walk func(error)
	walk = func(err error) {
		switch x := err.(type) {
		case nil:
			return
		case FieldErrors:
			fes = append(fes, x...)
			return
		case *FieldError:
			fes = append(fes, x)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		var fe *FieldError
		if errors.As(err, &fe) {
			fes = append(fes, fe)
			return
		}
		plain = append(plain, err)
	}
	walk(err)
	return fes, plain
}
