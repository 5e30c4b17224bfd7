// Package all lists every component type built into Metronome. The runtime
// binary builds its registry from this list; a program embedding Metronome
// can build its own from any subset plus its own types.
package all

import (
	"github.com/metronome-rt/metronome/components/arith"
	"github.com/metronome-rt/metronome/components/control"
	"github.com/metronome-rt/metronome/components/generators"
	"github.com/metronome-rt/metronome/components/logic"
	"github.com/metronome-rt/metronome/components/mqttbroker"
	"github.com/metronome-rt/metronome/components/mqttclient"
	"github.com/metronome-rt/metronome/components/quality"
	"github.com/metronome-rt/metronome/components/structure"
	"github.com/metronome-rt/metronome/runtime"
)

// Types returns the built-in component types.
func Types() []*runtime.Type {
	return []*runtime.Type{
		// sources
		generators.Constant,
		generators.Sine,
		generators.Square,
		generators.Ramp,
		generators.Pulse,
		generators.Noise,
		// arithmetic
		arith.Add,
		arith.Multiply,
		arith.Divide,
		arith.Min,
		arith.Max,
		arith.Average,
		arith.Abs,
		arith.MovingAverage,
		arith.Expression,
		// logic and timing
		logic.And,
		logic.Or,
		logic.Xor,
		logic.Not,
		logic.SR,
		logic.RS,
		logic.RTrig,
		logic.FTrig,
		logic.TON,
		logic.TOF,
		logic.TP,
		logic.CTUD,
		logic.Select,
		logic.Mux,
		logic.Alarm,
		// control
		control.Gain,
		control.PID,
		control.TwoPoint,
		control.Comparator,
		control.Limiter,
		control.RateLimiter,
		control.DeadBand,
		control.LowPass,
		control.FOPDT,
		control.LinearScale,
		control.TableScale,
		// quality and structure
		quality.SafeValue,
		quality.Discrepancy,
		structure.Container,
		// I/O
		mqttbroker.Type,
		mqttclient.Type,
	}
}

// Registry returns a registry of the built-in types.
func Registry() *runtime.Registry { return runtime.MustRegistry(Types()...) }
