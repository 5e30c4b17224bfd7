package scheduler

import "fmt"

// OverrunPolicy says what a task's timeline does when a tick starts late or
// a run takes longer than its period.
type OverrunPolicy struct {
	// CatchUp is how many missed periods may be run back to back to catch
	// up; 0 (the default) skips every missed period and re-aligns to the
	// next deadline on the original timeline, so there is never a burst.
	CatchUp int
	// AlarmAfter is how many consecutive overruns raise the component's
	// overrun alarm; 0 uses DefaultAlarmAfter.
	AlarmAfter int
	// Suspend stops running the task once the alarm is raised, leaving the
	// rest of its rate group on time.
	Suspend bool
}

// DefaultAlarmAfter is the number of consecutive overruns that raise the
// overrun alarm when a policy does not say.
const DefaultAlarmAfter = 10

// Validate checks the policy's numbers.
func (p OverrunPolicy) Validate() error {
	if p.CatchUp < 0 {
		return fmt.Errorf("catch_up must be 0 or more, got %d", p.CatchUp)
	}
	if p.AlarmAfter < 0 {
		return fmt.Errorf("alarm_after must be 0 or more, got %d", p.AlarmAfter)
	}
	return nil
}
