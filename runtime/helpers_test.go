package runtime_test

import "github.com/metronome-rt/metronome/scheduler"

func virtual() scheduler.Options { return scheduler.Options{Virtual: true} }
