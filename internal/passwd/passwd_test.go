package passwd_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/metronome-rt/metronome/components/mqttbroker"
	"github.com/metronome-rt/metronome/internal/passwd"
)

func TestHashRoundTripAndWrongPassword(t *testing.T) {
	h, err := passwd.New("s3cret", passwd.MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	u := passwd.User{Name: "op", PasswordHash: h}
	if _, err := u.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := u.Load()
	if err != nil {
		t.Fatal(err)
	}
	if !a.Check("s3cret") || a.Check("s3cret ") || a.Check("") {
		t.Fatal("hash accepts the wrong password or refuses the right one")
	}
}

// The broker's `runtime passwd` hashes must verify here: the live view and
// the broker share one user model.
func TestBrokerHashesVerify(t *testing.T) {
	h, err := mqttbroker.HashPassword("pw", mqttbroker.MinHashIterations)
	if err != nil {
		t.Fatal(err)
	}
	a, err := (&passwd.User{Name: "x", PasswordHash: h}).Load()
	if err != nil || !a.Check("pw") || a.Check("pW") {
		t.Fatalf("broker hash %q: %v", h, err)
	}
}

func TestPasswordFileAndValidation(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "pw")
	if err := os.WriteFile(f, []byte("plain\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := (&passwd.User{Name: "x", PasswordFile: f}).Load()
	if err != nil || !a.Check("plain") || a.Check("plain\n") {
		t.Fatalf("password file: %v", err)
	}
	for _, c := range []struct {
		u    passwd.User
		key  string
		want string
	}{
		{passwd.User{Password: "x"}, "name", "needs a name"},
		{passwd.User{Name: "a"}, "", "needs password"},
		{passwd.User{Name: "a", Password: "x", PasswordFile: f}, "", "only one"},
		{passwd.User{Name: "a", PasswordHash: "pbkdf2-sha256$5$c2FsdHNhbHQ$x"}, "password_hash", "iterations"},
	} {
		key, err := c.u.Validate()
		if err == nil || key != c.key || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: key %q err %v; want key %q and %q", c.u, key, err, c.key, c.want)
		}
	}
}
