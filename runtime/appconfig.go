package runtime

import (
	"time"

	"gopkg.in/yaml.v3"
)

// MaxFS is the highest component rate accepted, in Hz. Above it a period is
// shorter than the precise timer can hold on a general-purpose Linux box
// (see `runtime bench timer`).
const MaxFS = 20000

// DefaultFS is the rate of a component that sets none, as in CDP.
const DefaultFS = 10

// DefaultGroup is the scheduling group of a component that names none.
const DefaultGroup = "Default"

// appFile is the top level of an application's YAML.
type appFile struct {
	// Application is the application's name; absolute routing paths start with it.
	Application string `yaml:"application"`
	// Description says what the application does.
	Description string `yaml:"description"`
	// FS is the default rate of components, in Hz (default 10).
	FS *float64 `yaml:"fs"`
	// Priority is the default priority: low, normal (default) or high.
	Priority string `yaml:"priority"`
	// Group is the default scheduling group ("Default").
	Group string `yaml:"group"`
	// Overrun is the default overrun policy.
	Overrun *overrunConfig `yaml:"overrun"`
	// Components are the application's top-level components, or includes.
	Components []yaml.Node `yaml:"components"`
	// View serves the live view, metrics and health checks (viewconfig.go).
	View *ViewConfig `yaml:"view"`
}

// componentEntry is one item of a `components:` list.
type componentEntry struct {
	Name        string                 `yaml:"name"`
	Type        string                 `yaml:"type"`
	Model       string                 `yaml:"model"`
	Override    yaml.Node              `yaml:"override"`
	Description string                 `yaml:"description"`
	FS          *float64               `yaml:"fs"`
	Priority    string                 `yaml:"priority"`
	Group       string                 `yaml:"group"`
	Overrun     *overrunConfig         `yaml:"overrun"`
	Parameters  yaml.Node              `yaml:"parameters"`
	Inputs      yaml.Node              `yaml:"inputs"`
	Outputs     yaml.Node              `yaml:"outputs"`
	Alarms      map[string]alarmConfig `yaml:"alarms"`
	Config      yaml.Node              `yaml:"config"`
	Components  []yaml.Node            `yaml:"components"`
}

// overrunConfig is the YAML form of scheduler.OverrunPolicy.
type overrunConfig struct {
	// CatchUp is how many missed periods may run back to back (default 0: skip and re-align).
	CatchUp *int `yaml:"catch_up"`
	// AlarmAfter is how many consecutive overruns raise the Overrun alarm (default 10).
	AlarmAfter *int `yaml:"alarm_after"`
	// Suspend stops the component once the Overrun alarm is raised.
	Suspend *bool `yaml:"suspend"`
}

// alarmConfig changes a declared alarm for one instance.
type alarmConfig struct {
	Level   string         `yaml:"level"`
	Delay   *time.Duration `yaml:"delay"`
	Enabled *bool          `yaml:"enabled"`
	Text    string         `yaml:"text"`
}

// inputRoute is one `inputs:` value: a path, or {route: path, delay: true,
// ops: [...]}.
type inputRoute struct {
	Route string    `yaml:"route"`
	Delay bool      `yaml:"delay"`
	Ops   yaml.Node `yaml:"ops"`
}
