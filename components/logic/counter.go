package logic

import (
	"math"

	"github.com/metronome-rt/metronome/internal/blockkit"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// CTUD is the CTUD type: the IEC up/down counter.
var CTUD = blockkit.About{
	Name:    "CTUD",
	Summary: "up/down counter: rising CU counts up, rising CD down; R resets, LD loads PV",
	Doc: `IEC 61131-3 CTUD on int64. On each tick: R true sets CV to 0; else LD
true sets CV to PV; else a rising CU adds 1 and a rising CD subtracts 1 (both
rising on one tick cancel). CV saturates at the int64 limits: it never
wraps. QU = CV >= PV, QD = CV <= 0. CU and CD count edges between ticks:
memories start false, so an input that is true on its first evaluation is a
rising edge (as in R_TRIG). All four inputs are optional: an input that is
neither routed nor written is false.`,
	Example: `name: Parts
type: CTUD
parameters: {PV: 100}
inputs: {CU: App.Sensor.Out, R: App.Mqtt.ResetCount}`,
}.Define(func(b *runtime.Builder) runtime.Component {
	return &ctud{
		cu: runtime.OptionalInput[bool](b, "CU", runtime.Desc("count up on a rising edge (optional)")),
		cd: runtime.OptionalInput[bool](b, "CD", runtime.Desc("count down on a rising edge (optional)")),
		r:  runtime.OptionalInput[bool](b, "R", runtime.Desc("reset CV to 0 while true; wins over LD and counting (optional)")),
		ld: runtime.OptionalInput[bool](b, "LD", runtime.Desc("load PV into CV while true (optional)")),
		cv: runtime.Output[int64](b, "CV", runtime.Desc("the count")),
		qu: runtime.Output[bool](b, "QU", runtime.Desc("CV >= PV")),
		qd: runtime.Output[bool](b, "QD", runtime.Desc("CV <= 0")),
		pv: runtime.Param(b, "PV", int64(10), runtime.PDesc("preset: the count QU waits for, and the value LD loads")),
	}
})

type ctud struct {
	cu, cd, r, ld  *runtime.Optional[bool]
	cv             *signals.Signal[int64]
	qu, qd         *signals.Signal[bool]
	pv             *runtime.Parameter[int64]
	count          int64
	prevCU, prevCD bool
}

func (c *ctud) Process(runtime.Tick) {
	var m signals.Merge
	for _, in := range [...]*runtime.Optional[bool]{c.cu, c.cd, c.r, c.ld} {
		in.AddTo(&m)
	}
	if !m.Ready(c.cv, c.qu, c.qd) {
		return
	}
	cu, cd := c.cu.Or(false), c.cd.Or(false)
	up, down := cu && !c.prevCU, cd && !c.prevCD
	c.prevCU, c.prevCD = cu, cd
	switch {
	case c.r.Or(false):
		c.count = 0
	case c.ld.Or(false):
		c.count = c.pv.Get()
	case up && down:
	case up && c.count < math.MaxInt64:
		c.count++
	case down && c.count > math.MinInt64:
		c.count--
	}
	signals.Set(m, c.cv, c.count)
	signals.Set(m, c.qu, c.count >= c.pv.Get())
	signals.Set(m, c.qd, c.count <= 0)
}
