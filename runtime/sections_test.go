package runtime_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// linkConf is a test section's config.
type linkConf struct {
	Group    string     `yaml:"group"`
	Password string     `yaml:"password" secret:"true"`
	Items    []linkItem `yaml:"items"`
}

type linkItem struct {
	Name  string `yaml:"name"`
	Limit int    `yaml:"limit"`
}

func (c *linkConf) Validate() error {
	var es runtime.FieldErrors
	if c.Group == "" {
		es.Add("group", "the group is missing")
	}
	for i, it := range c.Items {
		if it.Limit < 0 {
			es.Add(fmt.Sprintf("items[%d].limit", i), "limit %d is negative", it.Limit)
		}
	}
	return es.Err()
}

var linkStateType = runtime.Define(runtime.Spec[linkConf]{
	Name: "LinkState",
	Build: func(b *runtime.Builder, c *linkConf) (runtime.Component, error) {
		s := &linkState{up: runtime.Output[bool](b, "Up")}
		for _, it := range c.Items {
			runtime.Output[int64](b, it.Name)
		}
		return s, nil
	},
})

type linkState struct{ up *signals.Signal[bool] }

func (s *linkState) Process(runtime.Tick) { s.up.Set(true) }

// linkSection records what its Check was given and returns checkErr.
type linkSection struct {
	checked  []any
	checkErr func(app *runtime.App) error
}

func (s *linkSection) section() runtime.Section {
	return runtime.Section{
		Key: "link", New: func() any { return &linkConf{} },
		Component: linkStateType, ComponentName: "Link",
		Check: func(app *runtime.App, cfg any) error {
			s.checked = append(s.checked, cfg)
			if s.checkErr != nil {
				return s.checkErr(app)
			}
			return nil
		},
	}
}

func loadSection(s *linkSection, yaml string) (*runtime.App, []string, error) {
	var warns []string
	app, err := runtime.LoadBytes("app.yaml", []byte(yaml), testReg, runtime.LoadOptions{
		Scheduler: virtual(), Sections: []runtime.Section{s.section()},
		OnWarning: func(w *runtime.ConfigError) { warns = append(warns, w.Error()) },
	})
	return app, warns, err
}

func wantErrors(t *testing.T, err error, want ...string) {
	t.Helper()
	var ce runtime.ConfigErrors
	if !errors.As(err, &ce) {
		t.Fatalf("error %v, want ConfigErrors", err)
	}
	var got []string
	for _, e := range ce {
		got = append(got, e.Error())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A registered section is decoded strictly and validated, its mistakes at
// their keys; its component joins the tree and can be routed from.
func TestSectionDecodesValidatesAndAddsItsComponent(t *testing.T) {
	s := &linkSection{}
	app, warns, err := loadSection(s, `application: T
fs: 100
components:
  - {name: B, type: Pass, inputs: {In: T.Link.Count}}
link:
  group: g
  password: hunter2
  items: [{name: Count, limit: 3}]
`)
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 1 || !strings.Contains(warns[0], "app.yaml:7:13: link.password: the password is written into the file") {
		t.Errorf("warnings %q", warns)
	}
	c, ok := app.Section("link").(*linkConf)
	if !ok || c.Group != "g" || len(c.Items) != 1 {
		t.Fatalf("section %#v", app.Section("link"))
	}
	if len(s.checked) != 1 || s.checked[0] != c {
		t.Errorf("Check given %v, want the config", s.checked)
	}
	n, ok := app.Find("Link")
	if !ok || n.TypeName != "LinkState" {
		t.Fatalf("no Link component")
	}
	app.Advance(20 * time.Millisecond)
	if up := get(t, app, "T.Link.Up"); up.Quality() != signals.Good {
		t.Errorf("Link.Up %s: the component does not tick", up.Quality())
	}
	if pos := app.SectionPos("link", &runtime.FieldError{Path: "items[0].limit"}); pos.String() != "app.yaml:8:32" {
		t.Errorf("SectionPos %s", pos)
	}

	_, _, err = loadSection(&linkSection{}, `application: T
components:
  - {name: Link, type: Pass}
link:
  group: ""
  itemz: []
  items: [{name: X, limit: -1}]
link: {group: again}
`)
	wantErrors(t, err,
		`app.yaml:3:12: T.Link: the name Link is reserved: the application's link: section puts its state there`,
		`app.yaml:6:3: link: unknown key "itemz" (did you mean "items"?)`,
		`app.yaml:8:1: link: key given twice (first on line 4)`)
	_, _, err = loadSection(&linkSection{}, `application: T
components:
  - {name: Link, type: Pass}
link:
  group: ""
  items: [{name: X, limit: -1}]
`)
	wantErrors(t, err,
		`app.yaml:3:12: T.Link: the name Link is reserved: the application's link: section puts its state there`,
		`app.yaml:5:10: link.group: the group is missing`,
		`app.yaml:6:28: link.items[0].limit: limit -1 is negative`)
}

// Check runs without the key too, and its errors are placed: field errors
// at their keys, configuration errors where they say.
func TestSectionCheckPlacesItsErrors(t *testing.T) {
	s := &linkSection{}
	_, _, err := loadSection(s, `application: T
components:
  - {name: B, type: Pass, inputs: {In: Other.Pump.Speed}}
`)
	if err != nil || len(s.checked) != 1 || s.checked[0] != nil {
		t.Fatalf("without the key: err %v, Check given %v", err, s.checked)
	}
	s = &linkSection{checkErr: func(app *runtime.App) error {
		r := app.Remote[0]
		return errors.Join(
			runtime.FieldErrors{{Path: "items[0].name", Msg: "no such item"}},
			runtime.SectionError(r.Pos, r.Sink, "not reachable"),
			errors.New("something else"))
	}}
	_, _, err = loadSection(s, `application: T
components:
  - {name: B, type: Pass, inputs: {In: Other.Pump.Speed}}
link:
  group: g
  items: [{name: X}]
`)
	wantErrors(t, err,
		`app.yaml:3:40: T.B.In: not reachable`,
		`app.yaml:4:1: link: something else`,
		`app.yaml:6:18: link.items[0].name: no such item`)
}
