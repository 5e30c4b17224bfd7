package field_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/metronome-rt/metronome/components/all"
	"github.com/metronome-rt/metronome/link/system"
	"github.com/metronome-rt/metronome/runtime"
	"github.com/metronome-rt/metronome/scheduler"
)

func loadController(env map[string]string) (*runtime.App, error) {
	return runtime.Load("controller.yaml", all.Registry(), runtime.LoadOptions{
		Env:       func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		Scheduler: scheduler.Options{Virtual: true},
		Sections:  system.Sections(),
	})
}

// TestBrokerChosenByEnvironment: FIELD_BROKER picks the file the
// controller includes, so one controller file serves with its own broker
// and with another; a value that names no file is an error at the include.
func TestBrokerChosenByEnvironment(t *testing.T) {
	for _, c := range []struct {
		env    map[string]string
		broker bool
	}{
		{nil, true},
		{map[string]string{"FIELD_BROKER": "embedded"}, true},
		{map[string]string{"FIELD_BROKER": "external"}, false},
	} {
		app, err := loadController(c.env)
		if err != nil {
			t.Fatalf("%v: %v", c.env, err)
		}
		if _, ok := app.Find("Field.Broker"); ok != c.broker {
			t.Errorf("%v: a broker component: %v, want %v", c.env, ok, c.broker)
		}
		if _, ok := app.Find("Field.Mqtt"); !ok {
			t.Errorf("%v: no MQTT client", c.env)
		}
	}
	_, err := loadController(map[string]string{"FIELD_BROKER": "mosquitto"})
	var ces runtime.ConfigErrors
	if !errors.As(err, &ces) || !strings.Contains(err.Error(), "controller.yaml:36:14:") || !strings.Contains(err.Error(), "broker-mosquitto.yaml") {
		t.Errorf("FIELD_BROKER=mosquitto: %v", err)
	}
}
