package runtime_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/metronome-rt/metronome/components/all"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// TestModelInstancesWithOverrides runs testdata/valid/zones.yaml: the model
// Zone twice at the top (one instance sets an exposed parameter, the other
// overrides a parameter inside) and twice more inside the model House.
func TestModelInstancesWithOverrides(t *testing.T) {
	app := mustLoad(t, "testdata/valid/zones.yaml", nil)
	app.Advance(300 * time.Millisecond)
	for _, c := range []struct {
		path string
		want float64
	}{
		{"Home.Kitchen.Limit.Out", 8}, // 4 * K=2, under Max 10
		{"Home.Kitchen.Heat", 80},     // the same, through the instance's operator
		{"Home.Bath.Heat", 3},         // 4 * 1, limited by the overridden Max 3
		{"Home.Total.Out", 83},        // routed from two instances' outputs
		{"Home.Villa.GroundHeat", 5},  // (4 + 1) from an inner instance, exposed again
		{"Home.Villa.UpperHeat", 15},  // 5 * 3, Max overridden from the application
	} {
		s, ok := app.Signal(c.path)
		if !ok {
			t.Errorf("no signal %s", c.path)
			continue
		}
		if f, _ := s.Value().Float(); f != c.want || s.Quality() != signals.Good {
			t.Errorf("%s = %v (%s), want %v", c.path, s.Value(), s.Quality(), c.want)
		}
	}
	for _, c := range []struct {
		path string
		want bool
	}{{"Home.Bath.AtMax", true}, {"Home.Kitchen.AtMax", false}} {
		s, _ := app.Signal(c.path)
		if b, _ := s.Value().Bool(); b != c.want {
			t.Errorf("%s = %v, want %v", c.path, s.Value(), c.want)
		}
	}
	// The instances are components of their own, typed by the model; the
	// model's components are theirs.
	k, _ := app.Find("Kitchen")
	if k.TypeName != "Zone" || len(k.Children) != 2 || k.Children[0].Path != "Home.Kitchen.Scale" {
		t.Errorf("Kitchen: type %q, children %d", k.TypeName, len(k.Children))
	}
	bath, _ := app.Find("Home.Bath.Limit")
	if p, _ := bath.Param("Max"); !p.Value().Equal(signals.FloatValue(3)) {
		t.Errorf("Bath.Limit.Max = %v, want the override 3", p.Value())
	}
	kitchen, _ := app.Find("Home.Kitchen.Limit")
	if p, _ := kitchen.Param("Max"); !p.Value().Equal(signals.FloatValue(10)) {
		t.Errorf("Kitchen.Limit.Max = %v, want the model's 10: an override is one instance's", p.Value())
	}
	// An exposed parameter is the inner parameter: a write at run time
	// through either name is the same write.
	kp, _ := k.Param("K")
	if err := kp.SetValue(signals.FloatValue(1)); err != nil {
		t.Fatal(err)
	}
	app.Advance(100 * time.Millisecond)
	if s, _ := app.Signal("Home.Kitchen.Heat"); !s.Value().Equal(signals.FloatValue(40)) {
		t.Errorf("after K = 1, Heat = %v, want 40", s.Value())
	}
}

// TestExposedMembersAreWrittenAndForcedByTheirComponent: a parameter set
// and a signal forced through an instance's exposed names are the inner
// members, applied by the component that owns them.
func TestExposedMembersAreWrittenAndForcedByTheirComponent(t *testing.T) {
	app := mustLoad(t, "testdata/valid/zones.yaml", nil)
	app.Advance(300 * time.Millisecond)
	var err error
	drive(app, func() { _, err = app.SetParam(context.Background(), "Home.Bath.K", signals.FloatValue(0.5), "test") })
	if err != nil {
		t.Fatal(err)
	}
	app.Advance(200 * time.Millisecond)
	if s, _ := app.Signal("Home.Bath.Heat"); !s.Value().Equal(signals.FloatValue(2)) {
		t.Errorf("after Bath.K = 0.5, Bath.Heat = %v, want 2", s.Value())
	}
	drive(app, func() { err = app.Force(context.Background(), "Home.Bath.Heat", signals.FloatValue(9), "test") })
	if err != nil {
		t.Fatal(err)
	}
	app.Advance(200 * time.Millisecond)
	for path, want := range map[string]float64{"Home.Bath.Heat": 9, "Home.Bath.Limit.Out": 9, "Home.Total.Out": 89} {
		if s, _ := app.Signal(path); !s.Value().Equal(signals.FloatValue(want)) {
			t.Errorf("with Bath.Heat forced to 9, %s = %v, want %v", path, s.Value(), want)
		}
	}
}

// writeFiles writes name -> text into a new directory and returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func loadErrors(t *testing.T, file string) []string {
	t.Helper()
	_, err := runtime.Load(file, all.Registry(), loadOpts())
	var ces runtime.ConfigErrors
	if !errors.As(err, &ces) {
		t.Fatalf("want ConfigErrors, got %v", err)
	}
	dir := filepath.Dir(file) + string(filepath.Separator)
	var got []string
	for _, e := range ces {
		got = append(got, strings.ReplaceAll(e.Error(), dir, ""))
	}
	return got
}

func sameLines(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors differ\n got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

const brokenModel = `model: Broken
expose:
  In: Scale.In
  Out: Scale.Out
  Gone: Scale.Nothing
components:
  - name: Scale
    type: Gain
    inputs: {In: ..Missing.Out}
  - name: Typo
    type: Gian
`

// TestModelErrorNamesTheModelFileAndTheInstance: a mistake inside a model
// is at the model file's line and column, and names every instance it was
// found in and where that instance is written.
func TestModelErrorNamesTheModelFileAndTheInstance(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"models/broken.yaml": brokenModel,
		"app.yaml": `application: A
components:
  - name: One
    model: models/broken.yaml
  - name: Two
    model: models/broken.yaml
`,
	})
	got := loadErrors(t, filepath.Join(dir, "app.yaml"))
	sameLines(t, got, []string{
		`models/broken.yaml:5:9: A.One: expose.Gone: "Scale.Nothing": A.One.Scale has no component or signal named "Nothing" (Gain outputs: Out) (in A.One, an instance of Broken at app.yaml:4:12)`,
		`models/broken.yaml:5:9: A.Two: expose.Gone: "Scale.Nothing": A.Two.Scale has no component or signal named "Nothing" (Gain outputs: Out) (in A.Two, an instance of Broken at app.yaml:6:12)`,
		`models/broken.yaml:9:18: A.One.Scale: inputs.In: route "..Missing.Out": A.One has no component or signal named "Missing" (in A.One, an instance of Broken at app.yaml:4:12)`,
		`models/broken.yaml:9:18: A.Two.Scale: inputs.In: route "..Missing.Out": A.Two has no component or signal named "Missing" (in A.Two, an instance of Broken at app.yaml:6:12)`,
		`models/broken.yaml:11:11: A.One.Typo: unknown component type "Gian" (did you mean "Gain"?) (in A.One, an instance of Broken at app.yaml:4:12)`,
		`models/broken.yaml:11:11: A.Two.Typo: unknown component type "Gian" (did you mean "Gain"?) (in A.Two, an instance of Broken at app.yaml:6:12)`,
	})
}

// TestModelInstanceMistakes: what an instance's entry says wrong is at the
// instance's file, overrides included, even where the override is merged
// into a component of the model; a mistake inside an overridden formula
// is at its character in the application file.
func TestModelInstanceMistakes(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"models/zone.yaml": `model: Zone
expose:
  Temperature: Scale.In
  K: Scale.K
  Formula: F.Out
components:
  - name: Scale
    type: Gain
    inputs: {In: ..F.Out}
  - name: F
    type: Expression
    config: {inputs: [X], expression: "X * 2"}
`,
		"models/loop-a.yaml": "model: LoopA\ncomponents:\n  - {name: B, model: loop-b.yaml}\n",
		"models/loop-b.yaml": "model: LoopB\ncomponents:\n  - {name: A, model: loop-a.yaml}\n",
		"app.yaml": `application: A
components:
  - {name: Src, type: Constant}
  - name: Z
    model: models/zone.yaml
    parameters: {K: high, Kp: 2}
    inputs: {Temperature: A.Src.Out}
    override:
      F: {config: {expression: "X * (2 +"}}
      Scale: {type: Limiter, parameters: {K: abc}}
      Scael: {fs: 5}
  - name: Both
    type: Gain
    model: models/zone.yaml
  - {name: Nowhere, model: models/none.yaml}
  - {name: Loop, model: models/loop-a.yaml}
  - name: Cfg
    model: models/zone.yaml
    config: {x: 1}
`,
	})
	got := loadErrors(t, filepath.Join(dir, "app.yaml"))
	sameLines(t, got, []string{
		`app.yaml:6:21: A.Z: parameters.K: want a double, got "high"`,
		`app.yaml:6:27: A.Z: parameters: unknown parameter "Kp" (did you mean "K"?)`,
		`app.yaml:7:14: A.Z: inputs: A.Z.Scale.In is routed twice: here and at models/zone.yaml:9:18 (an input a model exposes is routed either by the instance or inside the model)`,
		`app.yaml:9:41: A.Z.F: config.expression: want a number, an input or (, got end of the formula`,
		`app.yaml:10:15: A.Z: override.Scale: "type" cannot be overridden: a model's components keep their name, type and subcomponents (override sets description, fs, priority, group, overrun, parameters, inputs, outputs, alarms, config)`,
		`app.yaml:10:46: A.Z.Scale: parameters.K: want a double, got "abc"`,
		`app.yaml:11:7: A.Z: override: model Zone has no component "Scael" (did you mean "Scale"?)`,
		`app.yaml:13:5: A.Both: type: give either type or model, not both`,
		`app.yaml:15:28: A.Nowhere: model: cannot read models/none.yaml: no such file or directory`,
		`app.yaml:19:5: A.Cfg: config: a model instance has no config of its own: set its components' config under override:`,
		`models/loop-b.yaml:3:22: A.Loop.B.A: model: model cycle: models/loop-a.yaml -> models/loop-b.yaml -> models/loop-a.yaml (in A.Loop.B, an instance of LoopB at models/loop-a.yaml:3:22)`,
	})
}
