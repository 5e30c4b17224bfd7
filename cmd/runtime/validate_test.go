package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateWarnsOfLiteralSecrets: a password written into the file (or
// a default of ${...} in the file that was used) is a warning that names
// ${...} and password_file; the exit code stays 0, and a password from the
// environment is not a warning.
func TestValidateWarnsOfLiteralSecrets(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "a.yaml")
	os.WriteFile(file, []byte(`application: A
components:
  - name: Mqtt
    type: MQTTClient
    config:
      servers: [mqtt://127.0.0.1:1883]
      username: plant
      password: hunter2
  - name: Broker
    type: MQTTBroker
    config:
      users:
        - {name: plant, password: "${PLANT_PASSWORD:-hunter2}"}
        - {name: other, password: "${OTHER_PASSWORD}"}
      acl: [{topic: "#", access: readwrite}]
`), 0o644)
	t.Setenv("OTHER_PASSWORD", "from-the-environment")
	code, out, errOut := runCmd("validate", file)
	if code != 0 {
		t.Fatalf("exit %d, want 0 (warnings are not errors)\n%s%s", code, out, errOut)
	}
	want := file + ":8:17: warning: A.Mqtt: config.password: the password is written into the file, where anyone who can read the file can read it: write password: ${MQTT_PASSWORD} to take it from the environment, or use password_file\n" +
		file + ":13:35: warning: A.Broker: config.users[0].password: PLANT_PASSWORD is not set, so the password is the default written into the file: set PLANT_PASSWORD, or drop the default so that an unset variable is an error, or use password_file\n"
	if errOut != want {
		t.Errorf("stderr:\n%s\nwant:\n%s", errOut, want)
	}
	if !strings.Contains(out, ": ok: ") {
		t.Errorf("stdout %q", out)
	}
}
