package runtime

import "github.com/metronome-rt/metronome/signals"

// stdSignals are the timing signals every component has, as in CDP.
type stdSignals struct {
	processTime   *signals.Signal[float64]
	processPeriod *signals.Signal[float64]
	overruns      *signals.Signal[uint64]
	suspended     *Alarm
}
