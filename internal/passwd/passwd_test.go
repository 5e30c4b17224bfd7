package passwd_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	a, err := passwd.LoadForTest(u)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Check("s3cret") || a.Check("s3cret ") || a.Check("") {
		t.Fatal("hash accepts the wrong password or refuses the right one")
	}
}

func TestPasswordFileAndValidation(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "pw")
	if err := os.WriteFile(f, []byte("plain\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := passwd.LoadForTest(passwd.User{Name: "x", PasswordFile: f})
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

// Secret tells a hash from a plain password, wherever it comes from, so a
// checker can decide how to keep plain text (the broker hashes it with the
// work of its strongest hash).
func TestSecretAndHashedAccount(t *testing.T) {
	dir := t.TempDir()
	h, err := passwd.New("hashed", 2*passwd.MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	hashFile, plainFile := filepath.Join(dir, "h"), filepath.Join(dir, "p")
	os.WriteFile(hashFile, []byte(h+"\r\n"), 0o600)
	os.WriteFile(plainFile, []byte("from-file\n"), 0o600)
	for _, c := range []struct {
		u         passwd.User
		iter      int
		plain     string
		wantCheck string
	}{
		{passwd.User{Name: "a", PasswordHash: h}, 2 * passwd.MinIterations, "", "hashed"},
		{passwd.User{Name: "b", PasswordFile: hashFile}, 2 * passwd.MinIterations, "", "hashed"},
		{passwd.User{Name: "c", PasswordFile: plainFile}, 0, "from-file", "from-file"},
		{passwd.User{Name: "d", Password: "env"}, 0, "env", "env"},
	} {
		ph, plain, err := c.u.Secret()
		if err != nil {
			t.Fatalf("%s: %v", c.u.Name, err)
		}
		var a *passwd.Account
		if c.iter > 0 {
			if ph == nil || ph.Iterations() != c.iter || plain != "" || ph.String() != h {
				t.Fatalf("%s: hash %v plain %q, want the hash of %d iterations", c.u.Name, ph, plain, c.iter)
			}
			a = passwd.HashAccount(ph)
		} else {
			if ph != nil || plain != c.plain {
				t.Fatalf("%s: hash %v plain %q, want plain %q", c.u.Name, ph, plain, c.plain)
			}
			if a, err = passwd.HashedAccount(plain, 3*passwd.MinIterations); err != nil {
				t.Fatal(err)
			}
			if a.Iterations() != 3*passwd.MinIterations {
				t.Fatalf("%s: hashed account has %d iterations", c.u.Name, a.Iterations())
			}
		}
		if !a.Check(c.wantCheck) || a.Check(c.wantCheck+"x") {
			t.Errorf("%s: the account does not check its password", c.u.Name)
		}
		if l, err := passwd.LoadForTest(c.u); err != nil || !l.Check(c.wantCheck) || l.Check("") {
			t.Errorf("%s: Load: %v", c.u.Name, err)
		}
	}
	if _, err := passwd.HashedAccount("x", passwd.MinIterations-1); err == nil {
		t.Error("an account hashed below the minimum work")
	}
	if _, _, err := (&passwd.User{Name: "e", PasswordFile: filepath.Join(dir, "missing")}).Secret(); err == nil || !strings.Contains(err.Error(), `user "e": password_file`) {
		t.Errorf("missing password file: %v", err)
	}
}
