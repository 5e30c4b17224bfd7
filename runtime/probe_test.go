package runtime_test

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/metronome-rt/metronome/components/all"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// probeConfig has a key of every shape a config's Validate or a type's
// Build reports mistakes in, so that the corpus checks where the loader
// places each kind of FieldError.
type probeConfig struct {
	// Listeners must be at least one, each of type tcp or ws with a port.
	Listeners []probeListener `yaml:"listeners"`
	// ValueMap keys must be true or false (an error at the key).
	ValueMap map[string]string `yaml:"value_map"`
	// Templates may hold {{value}} and {{time}} (an error at the character).
	Templates []string `yaml:"templates"`
	// Names declare one output each; a name the type already declares is
	// reported by Build at the name.
	Names []string `yaml:"names"`
	// Password is a secret.
	Password string `yaml:"password" secret:"true"`
	// PasswordFile holds the password.
	PasswordFile string `yaml:"password_file"`
	// Users have secrets of their own.
	Users []probeUser `yaml:"users"`
	// Whole makes Validate fail with an error that names no key.
	Whole bool `yaml:"whole"`
	// FailBuild makes Build return an error that names no key.
	FailBuild bool `yaml:"fail_build"`
}

type probeListener struct {
	Type string `yaml:"type"`
	Port *int   `yaml:"port"`
}

type probeUser struct {
	Name   string `yaml:"name"`
	Secret string `yaml:"secret" secret:"true"`
}

func (c *probeConfig) Validate() error {
	var es runtime.FieldErrors
	if len(c.Listeners) == 0 {
		es.Add("listeners", "at least one listener is needed")
	}
	for i, l := range c.Listeners {
		at := fmt.Sprintf("listeners[%d]", i)
		if l.Type != "tcp" && l.Type != "ws" {
			es.Add(at+".type", "unknown listener type %q (want tcp or ws)", l.Type)
		}
		switch {
		case l.Port == nil:
			es.Add(at+".port", "a port is needed")
		case *l.Port < 0 || *l.Port > 65535:
			es.Add(at+".port", "%d is not a TCP port (0..65535)", *l.Port)
		}
	}
	keys := make([]string, 0, len(c.ValueMap))
	for k := range c.ValueMap {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k != "true" && k != "false" {
			es.AddKey("value_map."+k, "%q is not true or false", k)
		}
	}
	for i, t := range c.Templates {
		for off := 0; ; {
			j := strings.Index(t[off:], "{{")
			if j < 0 {
				break
			}
			j += off
			end := strings.Index(t[j:], "}}")
			if end < 0 {
				es = append(es, &runtime.FieldError{Path: fmt.Sprintf("templates[%d]", i), Offset: j, Msg: "{{ is not closed"})
				break
			}
			if p := t[j+2 : j+end]; p != "value" && p != "time" {
				es = append(es, &runtime.FieldError{Path: fmt.Sprintf("templates[%d]", i), Offset: j, Msg: fmt.Sprintf("unknown placeholder {{%s}} (want {{value}} or {{time}})", p)})
			}
			off = j + end + 2
		}
	}
	if c.Whole {
		return errors.Join(es.Err(), errors.New("the config as a whole is wrong"))
	}
	return es.Err()
}

// probeType declares an input In and an output Connected of its own, and
// one output per configured name.
var probeType = runtime.Define(runtime.Spec[probeConfig]{
	Name: "Probe",
	Build: func(b *runtime.Builder, c *probeConfig) (runtime.Component, error) {
		p := &probe{in: runtime.Input[float64](b, "In"), conn: runtime.Output[bool](b, "Connected")}
		for i, name := range c.Names {
			if b.Declared(name) {
				b.FieldError(fmt.Sprintf("names[%d]", i), "%q is already a signal of Probe", name)
				continue
			}
			runtime.Output[float64](b, name)
		}
		if c.FailBuild {
			return nil, errors.New("the build failed")
		}
		return p, nil
	},
})

type probe struct {
	in   *signals.Signal[float64]
	conn *signals.Signal[bool]
}

func (p *probe) Process(runtime.Tick) {}

// corpusRegistry is the built-in types plus Probe.
func corpusRegistry() *runtime.Registry {
	return runtime.MustRegistry(append(all.Types(), probeType)...)
}
