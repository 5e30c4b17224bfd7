package runtime

import (
	"time"

	"github.com/metronome-rt/metronome/scheduler"
)

// Rate is where and how often a component runs: its frequency, priority and
// scheduling group (together they pick its rate group) and what happens
// when it overruns.
type Rate struct {
	FS       float64 // runs per second
	Priority scheduler.Priority
	Group    string // scheduling group; "Default" unless set
	Overrun  scheduler.OverrunPolicy
}

// defaultRate is the rate of a component when its application and its
// parents set none.
func defaultRate() Rate {
	return Rate{FS: DefaultFS, Priority: scheduler.Normal, Group: DefaultGroup}
}

// Period returns 1/fs rounded to the nanosecond.
func (r Rate) Period() time.Duration {
	if r.FS <= 0 {
		return 0
	}
	return time.Duration(float64(time.Second)/r.FS + 0.5)
}
