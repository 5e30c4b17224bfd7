package control

import (
	"fmt"
	"math"
	"sort"

	"github.com/metronome-rt/metronome/internal/blockkit"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// LinearScale is the LinearScale type: two-point linear scaling.
var LinearScale = blockkit.About{
	Name:    "LinearScale",
	Summary: "linear scaling through two points: (InLow, OutLow) and (InHigh, OutHigh), e.g. 4..20 mA to 0..100 %",
	Doc: `Out = OutLow + (In - InLow) * (OutHigh - OutLow) / (InHigh - InLow),
clamped to the output range when Clamp is true. InLow = InHigh has no
meaning: Out holds with quality bad input. Celsius to Fahrenheit is InLow 0,
InHigh 100, OutLow 32, OutHigh 212.`,
	Example: `name: Level
type: LinearScale
parameters: {InLow: 4, InHigh: 20, OutLow: 0, OutHigh: 100, Clamp: true}
inputs: {In: App.Io.Current}`,
}.Define(func(b *runtime.Builder) runtime.Component {
	return &linearScale{
		unary:   newUnary(b, "value to scale", "scaled value", ""),
		inLow:   runtime.Param(b, "InLow", 0.0, runtime.PDesc("input of the first point")),
		inHigh:  runtime.Param(b, "InHigh", 1.0, runtime.PDesc("input of the second point")),
		outLow:  runtime.Param(b, "OutLow", 0.0, runtime.PDesc("output at InLow")),
		outHigh: runtime.Param(b, "OutHigh", 1.0, runtime.PDesc("output at InHigh")),
		clamp:   runtime.Param(b, "Clamp", false, runtime.PDesc("keep Out between OutLow and OutHigh")),
	}
})

type linearScale struct {
	unary
	inLow, inHigh, outLow, outHigh *runtime.Parameter[float64]
	clamp                          *runtime.Parameter[bool]
}

func (s *linearScale) Process(runtime.Tick) {
	m, ok := s.begin()
	if !ok {
		return
	}
	x0, x1, y0, y1 := s.inLow.Get(), s.inHigh.Get(), s.outLow.Get(), s.outHigh.Get()
	y := y0 + (s.in.Get()-x0)*(y1-y0)/(x1-x0)
	if x0 == x1 {
		y = math.NaN()
	}
	if s.clamp.Get() {
		y = clamp(y, math.Min(y0, y1), math.Max(y0, y1))
	}
	m.SetFloat(s.out, y)
}

// TableScaleConfig holds the table.
type TableScaleConfig struct {
	// Points are the table's [in, out] pairs, at least two, with strictly
	// increasing inputs.
	Points [][]float64 `yaml:"points"`
	// Extrapolate extends the first and last segments beyond the table;
	// false holds the end values.
	Extrapolate bool `yaml:"extrapolate"`
}

// Validate checks the table.
func (c *TableScaleConfig) Validate() error {
	var errs runtime.FieldErrors
	if len(c.Points) < 2 {
		errs.Add("points", "want at least 2 points, got %d", len(c.Points))
		return errs
	}
	for i, p := range c.Points {
		path := fmt.Sprintf("points[%d]", i)
		switch {
		case len(p) != 2:
			errs.Add(path, "want a pair [in, out], got %d numbers", len(p))
		case !signals.Finite(p[0]) || !signals.Finite(p[1]):
			errs.Add(path, "want finite numbers, got [%v, %v]", p[0], p[1])
		case i > 0 && len(c.Points[i-1]) == 2 && p[0] <= c.Points[i-1][0]:
			errs.Add(path+"[0]", "inputs must increase strictly: %v follows %v", p[0], c.Points[i-1][0])
		}
	}
	return errs.Err()
}

// TableScale is the TableScale type: piecewise linear scaling.
var TableScale = runtime.Define(runtime.Spec[TableScaleConfig]{
	Name:    "TableScale",
	Summary: "piecewise linear scaling through a table of points (a sensor's characteristic, a valve curve)",
	Doc: `Out interpolates linearly between the two points whose inputs surround
In. Outside the table Out holds the end value, or extends the end segment
with config.extrapolate. The lookup is a binary search: its cost grows with
the logarithm of the table's length.`,
	Example: `name: Thermistor
type: TableScale
config:
  points: [[0.5, 120], [1.2, 80], [2.0, 40], [3.1, 0]]
inputs: {In: App.Io.Volts}`,
	Build: func(b *runtime.Builder, cfg *TableScaleConfig) (runtime.Component, error) {
		if err := cfg.Validate(); err != nil {
			return nil, err
		}
		s := &tableScale{unary: newUnary(b, "value to scale", "interpolated value", ""), extrapolate: cfg.Extrapolate}
		for _, p := range cfg.Points {
			s.x = append(s.x, p[0])
			s.y = append(s.y, p[1])
		}
		return s, nil
	},
})

type tableScale struct {
	unary
	x, y        []float64
	extrapolate bool
}

func (s *tableScale) Process(runtime.Tick) {
	m, ok := s.begin()
	if !ok {
		return
	}
	x, n := s.in.Get(), len(s.x)
	var y float64
	switch {
	case math.IsNaN(x):
		y = x
	case x <= s.x[0] && !s.extrapolate:
		y = s.y[0]
	case x >= s.x[n-1] && !s.extrapolate:
		y = s.y[n-1]
	default:
		// The segment [i-1, i] with x[i-1] <= x < x[i], ends included.
		i := sort.SearchFloat64s(s.x, x)
		i = min(max(i, 1), n-1)
		x0, x1, y0, y1 := s.x[i-1], s.x[i], s.y[i-1], s.y[i]
		y = y0 + (x-x0)*(y1-y0)/(x1-x0)
	}
	m.SetFloat(s.out, y)
}
