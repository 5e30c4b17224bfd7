package control

import (
	"fmt"
	"math"

	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/signals"
)

// PIDConfig chooses the PID's action and anti-windup; both change how it
// works rather than how hard, so they are fixed at load.
type PIDConfig struct {
	// Action is reverse (error = SP - PV: the output rises when PV falls
	// below SP, as in heating) or direct (error = PV - SP, as in cooling).
	Action string `yaml:"action"`
	// AntiWindup is back_calculation (the integral tracks the limited
	// output with time constant Tt), conditional (the integral stops while
	// the output is limited in the error's direction) or none.
	AntiWindup string `yaml:"anti_windup"`
}

// Validate checks the action and the anti-windup method.
func (c *PIDConfig) Validate() error {
	var errs runtime.FieldErrors
	checkAction(&errs, c.Action)
	switch c.AntiWindup {
	case "back_calculation", "conditional", "none":
	default:
		errs.Add("anti_windup", "want back_calculation, conditional or none, got %q", c.AntiWindup)
	}
	return errs.Err()
}

// checkAction validates an `action:` key shared by PID and TwoPoint.
func checkAction(errs *runtime.FieldErrors, action string) {
	if action != "reverse" && action != "direct" {
		errs.Add("action", "want reverse (error = SP - PV, e.g. heating) or direct (error = PV - SP, e.g. cooling), got %q", action)
	}
}

// actionSign is +1 for reverse action, -1 for direct.
func actionSign(action string) float64 {
	if action == "direct" {
		return -1
	}
	return 1
}

// PID is the PID type: a PID controller with the features practice expects.
var PID = runtime.Define(runtime.Spec[PIDConfig]{
	Name:    "PID",
	Summary: "PID controller: derivative on measurement, filtered D, anti-windup, bumpless manual/auto and retuning, limits",
	Doc: `Parallel form with setpoint weights, on the error e = SP - PV (reverse
action) or PV - SP (direct):

    P  = Kp * (Wp*SP - PV)          (signs swapped for direct action)
    I += Ki * e * dt                (plus the anti-windup correction)
    D  = Kd * d/dt (Wd*SP - PV), low-pass filtered with time constant Tf
    Out = clamp(P + I + D + FF, OutMin, OutMax), then rate-limited

dt is the component's period (fixed-cycle). Wd = 0 (the default) takes the
derivative on the measurement only, so a setpoint step gives no derivative
kick; Wd = 1 takes it on the error. The controller starts from rest: the
integral is 0 and the setpoint's history is 0, the measurement's is its
first value (no derivative kick from the measurement at start-up). So the
textbook vector Kp=2, Ki=1, Kd=1, Wd=1, SP=10, PV=0, dt=0.1 s gives 121 on
the first tick.

The integral accumulates Ki*e*dt, so changing Ki never bumps the output;
changing Kp, Kd or Wp moves the difference into the integral, so the output
does not jump either. While Manual is true, Out = ManualValue (clamped to
the limits; the last output if ManualValue is not routed), and on the
return to automatic the integral is set so that the first automatic output
continues from the last manual one (bumpless transfer). Limited is true
while the output is clamped or rate-limited. A NaN or infinite PV, SP, FF or
ManualValue holds every output (quality bad input) and the controller's
state.`,
	Example: `name: Heating
type: PID
fs: 10
config: {action: reverse, anti_windup: back_calculation}
parameters: {Kp: 2.5, Ki: 0.3, Kd: 0.5, Tf: 0.2, OutMin: 0, OutMax: 100, Setpoint: 21}
inputs: {PV: App.Mqtt.Temperature}`,
	Defaults: func() PIDConfig { return PIDConfig{Action: "reverse", AntiWindup: "back_calculation"} },
	Build: func(b *runtime.Builder, cfg *PIDConfig) (runtime.Component, error) {
		p := &pid{
			pv:     runtime.Input[float64](b, "PV", runtime.Desc("process value: the measurement")),
			sp:     runtime.OptionalInput[float64](b, "SP", runtime.Desc("setpoint (optional: the parameter Setpoint when not routed)")),
			ff:     runtime.OptionalInput[float64](b, "FF", runtime.Desc("feed-forward, added to the output before the limits (optional: 0)")),
			manual: runtime.OptionalInput[bool](b, "Manual", runtime.Desc("manual mode while true (optional: false)")),
			manVal: runtime.OptionalInput[float64](b, "ManualValue", runtime.Desc("the output in manual mode (optional: the output is held)")),

			out:     runtime.Output[float64](b, "Out", runtime.Desc("the controller output")),
			limited: runtime.Output[bool](b, "Limited", runtime.Desc("the output is clamped to OutMin/OutMax or rate-limited")),
			pOut:    runtime.Output[float64](b, "P", runtime.Desc("proportional term of the last automatic tick")),
			iOut:    runtime.Output[float64](b, "I", runtime.Desc("integral term of the last automatic tick")),
			dOut:    runtime.Output[float64](b, "D", runtime.Desc("derivative term of the last automatic tick")),

			kp:       runtime.Param(b, "Kp", 1.0, runtime.PDesc("proportional gain")),
			ki:       runtime.Param(b, "Ki", 0.1, runtime.Min(0), runtime.PUnit("1/s"), runtime.PDesc("integral gain (Kp/Ti)")),
			kd:       runtime.Param(b, "Kd", 0.0, runtime.Min(0), runtime.PUnit("s"), runtime.PDesc("derivative gain (Kp*Td)")),
			tf:       runtime.Param(b, "Tf", 0.0, runtime.Min(0), runtime.PUnit("s"), runtime.PDesc("time constant of the derivative's low-pass filter (0: none; Td/10 is usual)")),
			wp:       runtime.Param(b, "Wp", 1.0, runtime.Range(0, 1), runtime.PDesc("setpoint weight of the proportional term")),
			wd:       runtime.Param(b, "Wd", 0.0, runtime.Range(0, 1), runtime.PDesc("setpoint weight of the derivative term (0: derivative on measurement)")),
			tt:       runtime.Param(b, "Tt", 0.0, runtime.Min(0), runtime.PUnit("s"), runtime.PDesc("tracking time constant of back-calculation (0: sqrt(Ti*Td), or Ti without D)")),
			outMin:   runtime.Param(b, "OutMin", 0.0, runtime.PDesc("lowest output")),
			outMax:   runtime.Param(b, "OutMax", 100.0, runtime.PDesc("highest output")),
			rate:     runtime.Param(b, "RateLimit", 0.0, runtime.Min(0), runtime.PUnit("1/s"), runtime.PDesc("largest change of the output per second (0: no limit)")),
			setpoint: runtime.Param(b, "Setpoint", 0.0, runtime.PDesc("setpoint used while the input SP is not routed")),

			sign:   actionSign(cfg.Action),
			windup: cfg.AntiWindup,
		}
		if b.Rate().FS <= 0 {
			return nil, fmt.Errorf("a PID needs a rate above 0 Hz, got %v", b.Rate().FS)
		}
		return p, nil
	},
})

type pid struct {
	pv                       *signals.Signal[float64]
	sp, ff, manVal           *runtime.Optional[float64]
	manual                   *runtime.Optional[bool]
	out, pOut, iOut, dOut    *signals.Signal[float64]
	limited                  *signals.Signal[bool]
	kp, ki, kd, tf, wp, wd   *runtime.Parameter[float64]
	tt, outMin, outMax, rate *runtime.Parameter[float64]
	setpoint                 *runtime.Parameter[float64]

	sign   float64
	windup string

	// State.
	integral     float64
	df           float64 // filtered derivative of Wd*SP - PV (signed), per second
	prevSP       float64 // setpoint and measurement of the last automatic tick
	prevPV       float64
	last         float64 // the last output, for rate limiting and bumpless transfer
	haveLast     bool
	initialized  bool    // an automatic tick has run since start
	needInit     bool    // the next automatic tick follows manual mode
	gap          bool    // the last tick held: the derivative has no history
	kpUsed, kdUs float64 // tuning of the last automatic tick, for bumpless retuning
	wpUsed       float64
}

func (p *pid) Process(t runtime.Tick) {
	var m signals.Merge
	p.manual.AddTo(&m)
	m.AddTime(t.Wall.UnixNano())
	if !m.Ready(p.out, p.limited, p.pOut, p.iOut, p.dOut) {
		return
	}
	if p.manual.Or(false) {
		p.manualTick(m)
		return
	}
	m.Add(p.pv)
	p.sp.AddTo(&m)
	p.ff.AddTo(&m)
	sp, pv, ff := p.sp.Or(p.setpoint.Get()), p.pv.Get(), p.ff.Or(0)
	if m.HasValue() && !(signals.Finite(sp) && signals.Finite(pv) && signals.Finite(ff)) {
		m.AddQ(signals.BadInput, 0)
	}
	if !m.Ready(p.out, p.limited, p.pOut, p.iOut, p.dOut) {
		p.gap = true
		return
	}
	p.autoTick(m, t.Dt(), sp, pv, ff)
}

// manualTick sets the output from ManualValue and arms the bumpless return.
func (p *pid) manualTick(m signals.Merge) {
	v := p.last
	switch {
	case p.manVal.Present():
		m.Add(p.manVal.Signal)
		v = p.manVal.Get()
		if m.HasValue() && !signals.Finite(v) {
			m.AddQ(signals.BadInput, 0)
		}
	case !p.haveLast:
		m.AddQ(signals.Initial, 0) // no output yet to hold
	}
	if !m.Ready(p.out, p.limited) {
		return
	}
	lim := clamp(v, p.outMin.Get(), p.outMax.Get())
	p.last, p.haveLast, p.needInit = lim, true, true
	m.SetFloat(p.out, lim)
	signals.Set(m, p.limited, lim != v)
	m.Hold(p.pOut)
	m.Hold(p.iOut)
	m.Hold(p.dOut)
}

func (p *pid) autoTick(m signals.Merge, dt, sp, pv, ff float64) {
	kp, ki, kd, wp, wd, s := p.kp.Get(), p.ki.Get(), p.kd.Get(), p.wp.Get(), p.wd.Get(), p.sign
	integral, df := p.integral, p.df
	switch {
	case !p.initialized:
		// Start from rest: setpoint history 0, measurement history PV.
		p.prevSP, p.prevPV, p.initialized = 0, pv, true
		p.kpUsed, p.kdUs, p.wpUsed = kp, kd, wp
	case p.gap:
		// After held ticks the last samples are old: no derivative from them.
		p.prevSP, p.prevPV, df = sp, pv, 0
	}
	e := s * (sp - pv)
	ep := s * (wp*sp - pv)
	if p.needInit {
		// Bumpless return from manual: no derivative history, and the
		// integral that makes P + I + FF equal the last output.
		p.prevSP, p.prevPV, df = sp, pv, 0
		integral = p.last - kp*ep - ff
	} else {
		// The derivative of (Wd*SP - PV), with today's Wd on both samples so
		// that changing Wd gives no kick, through the filter Tf.
		delta := s * (wd*(sp-p.prevSP) - (pv - p.prevPV))
		tf := p.tf.Get()
		df = (tf*df + delta) / (tf + dt)
		// Bumpless retuning: what Kp, Kd or Wp changed moves into the integral.
		if kp != p.kpUsed || kd != p.kdUs || wp != p.wpUsed {
			old := p.kpUsed*(s*(p.wpUsed*sp-pv)) + p.kdUs*df
			integral += old - (kp*ep + kd*df)
		}
	}
	step := ki * e * dt
	P, D := kp*ep, kd*df
	raw := P + integral + step + D + ff
	lo, hi := p.outMin.Get(), p.outMax.Get()
	applied := clamp(raw, lo, hi)
	if r := p.rate.Get(); r > 0 && p.haveLast {
		applied = clamp(applied, p.last-r*dt, p.last+r*dt)
	}
	switch p.windup {
	case "back_calculation":
		if ki > 0 { // without integral action there is nothing to wind up
			integral += step + (applied-raw)*dt/p.trackingTime(kp, ki, kd, dt)
		}
	case "conditional":
		// Integrate unless the output is limited and the step pushes further.
		if !((applied < raw && step > 0) || (applied > raw && step < 0)) {
			integral += step
		}
	default:
		integral += step
	}
	if !signals.Finite(applied) || !signals.Finite(integral) || !signals.Finite(df) {
		// A NaN or infinite parameter: publish nothing, keep the state.
		m.AddQ(signals.BadInput, 0)
		m.Ready(p.out, p.limited, p.pOut, p.iOut, p.dOut)
		return
	}
	p.integral, p.df, p.prevSP, p.prevPV = integral, df, sp, pv
	p.last, p.haveLast, p.needInit, p.gap = applied, true, false, false
	p.kpUsed, p.kdUs, p.wpUsed = kp, kd, wp
	m.SetFloat(p.out, applied)
	signals.Set(m, p.limited, applied != raw)
	m.SetFloat(p.pOut, P)
	m.SetFloat(p.iOut, integral)
	m.SetFloat(p.dOut, D)
}

// trackingTime is back-calculation's time constant: the parameter Tt, or
// sqrt(Ti*Td) (Ti = Kp/Ki, Td = Kd/Kp), or Ti without D; never below dt,
// which would over-correct.
func (p *pid) trackingTime(kp, ki, kd, dt float64) float64 {
	tt := p.tt.Get()
	if tt == 0 && kp > 0 {
		ti := kp / ki
		tt = ti
		if kd > 0 {
			tt = math.Sqrt(ti * kd / kp)
		}
	}
	return math.Max(tt, dt)
}

// clamp limits v to [lo, hi]; if lo > hi, hi wins.
func clamp(v, lo, hi float64) float64 { return math.Min(math.Max(v, lo), hi) }
