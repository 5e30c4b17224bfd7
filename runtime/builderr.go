package runtime

import "fmt"

// FieldError reports a mistake that Build finds in the component's config
// (a name that clashes with a signal the type declares itself, say), at
// the config key path names, as a config's Validate would with
// FieldErrors: "publish[2].name". The loader then points at that key in
// the YAML rather than at the component. Build's other errors (returned,
// or made by declarations) are placed at the component.
func (b *Builder) FieldError(path, format string, args ...any) {
	b.errs = append(b.errs, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// Declared reports whether name is already a signal, parameter or alarm of
// the component being built, so that Build can report a configured name
// that clashes with one at its own key (see FieldError) before declaring
// it.
func (b *Builder) Declared(name string) bool {
	_, taken := b.node.byName[name]
	return taken
}
