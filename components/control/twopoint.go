package control

import (
	"github.com/metronome-rt/metronome/internal/blockkit"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// TwoPointConfig chooses the controller's action.
type TwoPointConfig struct {
	// Action is reverse (Out on below the setpoint, as in heating) or
	// direct (on above it, as in cooling).
	Action string `yaml:"action"`
}

// Validate checks the action.
func (c *TwoPointConfig) Validate() error {
	var errs runtime.FieldErrors
	checkAction(&errs, c.Action)
	return errs.Err()
}

// TwoPoint is the TwoPoint type: an on/off controller with hysteresis, the
// thermostat.
var TwoPoint = runtime.Define(runtime.Spec[TwoPointConfig]{
	Name:    "TwoPoint",
	Summary: "on/off controller with hysteresis (thermostat): Out switches on below SP - Hysteresis/2 and off above SP + Hysteresis/2",
	Doc: `Reverse action (the default, heating): Out turns true when In < SP -
Hysteresis/2 and false when In > SP + Hysteresis/2, and keeps its state in
between. Direct action (cooling) swaps the two. Out starts false. The
setpoint is the input SP when it is routed, else the parameter Setpoint.`,
	Example: `name: Thermostat
type: TwoPoint
parameters: {Setpoint: 21, Hysteresis: 1}
inputs: {In: App.Mqtt.Temperature}`,
	Defaults: func() TwoPointConfig { return TwoPointConfig{Action: "reverse"} },
	Build: func(b *runtime.Builder, cfg *TwoPointConfig) (runtime.Component, error) {
		return &twoPoint{
			in:       runtime.Input[float64](b, "In", runtime.Desc("the measurement")),
			sp:       runtime.OptionalInput[float64](b, "SP", runtime.Desc("setpoint (optional: the parameter Setpoint when not routed)")),
			out:      runtime.Output[bool](b, "Out", runtime.Desc("the switch: true is on")),
			setpoint: runtime.Param(b, "Setpoint", 20.0, runtime.PDesc("setpoint used while SP is not routed")),
			hyst:     runtime.Param(b, "Hysteresis", 1.0, runtime.Min(0), runtime.PDesc("width of the band around the setpoint in which Out keeps its state")),
			cooling:  cfg.Action == "direct",
		}, nil
	},
})

type twoPoint struct {
	in             *signals.Signal[float64]
	sp             *runtime.Optional[float64]
	out            *signals.Signal[bool]
	setpoint, hyst *runtime.Parameter[float64]
	cooling        bool
	on             bool
}

func (c *twoPoint) Process(runtime.Tick) {
	var m signals.Merge
	m.Add(c.in)
	c.sp.AddTo(&m)
	x, sp := c.in.Get(), c.sp.Or(c.setpoint.Get())
	if !signals.Finite(x) || !signals.Finite(sp) {
		m.AddQ(signals.BadInput, 0)
	}
	if !m.Ready(c.out) {
		return
	}
	h := c.hyst.Get() / 2
	low, high := x < sp-h, x > sp+h
	if c.cooling {
		low, high = high, low
	}
	switch {
	case low:
		c.on = true
	case high:
		c.on = false
	}
	signals.Set(m, c.out, c.on)
}

// Comparator is the Comparator type: In > Threshold with hysteresis below.
var Comparator = blockkit.About{
	Name:    "Comparator",
	Summary: "In > Threshold with hysteresis: Out rises above Threshold and falls below Threshold - Hysteresis",
	Doc: `Out turns true when In > Threshold and false when In < Threshold -
Hysteresis, and keeps its state in between, so a noisy In near the threshold
does not chatter. Out starts false. A level switch, an alarm limit with a
reset band.`,
	Example: `name: HighLevel
type: Comparator
parameters: {Threshold: 90, Hysteresis: 5}
inputs: {In: App.Tank.Level}`,
}.Define(func(b *runtime.Builder) runtime.Component {
	return &comparator{
		in:        runtime.Input[float64](b, "In", runtime.Desc("value to compare")),
		out:       runtime.Output[bool](b, "Out", runtime.Desc("In is above the threshold")),
		threshold: runtime.Param(b, "Threshold", 0.0, runtime.PDesc("Out rises when In goes above this")),
		hyst:      runtime.Param(b, "Hysteresis", 0.0, runtime.Min(0), runtime.PDesc("Out falls when In goes below Threshold minus this")),
	}
})

type comparator struct {
	in              *signals.Signal[float64]
	out             *signals.Signal[bool]
	threshold, hyst *runtime.Parameter[float64]
	on              bool
}

func (c *comparator) Process(runtime.Tick) {
	var m signals.Merge
	m.Add(c.in)
	x := c.in.Get()
	if !signals.Finite(x) {
		m.AddQ(signals.BadInput, 0)
	}
	if !m.Ready(c.out) {
		return
	}
	switch th := c.threshold.Get(); {
	case x > th:
		c.on = true
	case x < th-c.hyst.Get():
		c.on = false
	}
	signals.Set(m, c.out, c.on)
}
