// Package passwd holds Metronome's user credentials and the one way logins
// are checked: the salted PBKDF2 hashes `runtime passwd` prints, passwords
// from files or the environment, their constant-time verification, and
// the Guard that the embedded MQTT broker and the live view put every
// login through (the same work for unknown users as for known ones,
// hashes on low-priority threads, throttling after failures). It is the
// one place the hash format and the login policy are defined.
package passwd

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Scheme prefixes password hashes so the format can evolve.
const Scheme = "pbkdf2-sha256"

// DefaultIterations is the PBKDF2 work factor `runtime passwd` uses (OWASP
// 2023 guidance for PBKDF2-HMAC-SHA256).
const DefaultIterations = 600_000

// MinIterations is the weakest work factor a configured hash may use; below
// it an offline guess costs too little.
const MinIterations = 10_000

// MaxIterations bounds the work one verification may cost, so a hash in a
// configuration cannot stall a login for minutes.
const MaxIterations = 100_000_000

// Hash is a parsed pbkdf2-sha256$iterations$salt$key string.
type Hash struct {
	iter      int
	salt, key []byte
}

// New returns the string to store for a password: PBKDF2-SHA256 with a
// random 16-byte salt and the given iteration count.
func New(password string, iterations int) (string, error) {
	h, err := hash(password, iterations)
	if err != nil {
		return "", err
	}
	return h.String(), nil
}

// hash derives a PBKDF2-SHA256 key for password with a random salt.
func hash(password string, iterations int) (*Hash, error) {
	if iterations < MinIterations || iterations > MaxIterations {
		return nil, fmt.Errorf("iterations %d outside %d..%d", iterations, MinIterations, MaxIterations)
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	key, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return nil, err
	}
	return &Hash{iter: iterations, salt: salt, key: key}, nil
}

// String formats the hash as it is stored: pbkdf2-sha256$iterations$salt$key.
func (h *Hash) String() string {
	enc := base64.RawStdEncoding
	return fmt.Sprintf("%s$%d$%s$%s", Scheme, h.iter, enc.EncodeToString(h.salt), enc.EncodeToString(h.key))
}

// Iterations is the hash's work factor. A checker that must spend the same
// work on every login (so timing does not tell which users exist) hashes
// its other credentials with the highest one.
func (h *Hash) Iterations() int { return h.iter }

// Parse decodes a stored hash.
func Parse(s string) (*Hash, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 4 || parts[0] != Scheme {
		return nil, fmt.Errorf("not a %s$iterations$salt$hash string (make one with `runtime passwd`)", Scheme)
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < MinIterations || iter > MaxIterations {
		return nil, fmt.Errorf("iterations %q must be a number from %d to %d", parts[1], MinIterations, MaxIterations)
	}
	enc := base64.RawStdEncoding
	salt, err := enc.DecodeString(parts[2])
	if err != nil || len(salt) < 8 {
		return nil, fmt.Errorf("salt %q is not base64 of at least 8 bytes", parts[2])
	}
	key, err := enc.DecodeString(parts[3])
	if err != nil || len(key) != sha256.Size {
		return nil, fmt.Errorf("hash %q is not base64 of %d bytes", parts[3], sha256.Size)
	}
	return &Hash{iter: iter, salt: salt, key: key}, nil
}

// Account is a user's stored credential: a PBKDF2 hash (a password given
// in plain text is hashed at start, see NewAccounts, so that checking it
// costs as much as checking any other).
type Account struct {
	hash *Hash
}

// HashAccount is the account of a stored hash.
func HashAccount(h *Hash) *Account { return &Account{hash: h} }

// HashedAccount hashes a password given in plain text with a random salt
// and the given work factor, so that checking it costs as much as checking
// a stored hash of that work.
func HashedAccount(password string, iterations int) (*Account, error) {
	h, err := hash(password, iterations)
	if err != nil {
		return nil, err
	}
	return &Account{hash: h}, nil
}

// Iterations is the PBKDF2 work a check of the account costs. A checker
// that hides which users exist needs every account, and its stand-in for
// unknown users, at the same work.
func (a *Account) Iterations() int { return a.hash.iter }

// Check reports whether password is the account's, in constant time.
// Logins go through a Guard, which calls it on its low-priority threads.
func (a *Account) Check(password string) bool {
	key, err := pbkdf2.Key(sha256.New, password, a.hash.salt, a.hash.iter, len(a.hash.key))
	return err == nil && subtle.ConstantTimeCompare(key, a.hash.key) == 1
}

// User is how a configuration names a user's credential: exactly one of
// a plain password (best from ${ENV}), a hash, or a file holding either.
type User struct {
	Name         string `yaml:"name"`
	Password     string `yaml:"password" doc:"plain password; use ${ENV} rather than writing it in the file"`
	PasswordHash string `yaml:"password_hash" doc:"output of runtime passwd"`
	PasswordFile string `yaml:"password_file" doc:"file holding the password or its hash, read at start"`
}

// Validate checks what can be checked without reading files: that exactly
// one credential is given and that a hash parses. It returns a key
// ("password_hash") with each message so callers can point at it.
func (u *User) Validate() (key string, err error) {
	n := 0
	for _, s := range []string{u.Password, u.PasswordHash, u.PasswordFile} {
		if s != "" {
			n++
		}
	}
	switch {
	case u.Name == "":
		return "name", fmt.Errorf("a user needs a name")
	case n == 0:
		return "", fmt.Errorf("user %q needs password, password_hash or password_file", u.Name)
	case n > 1:
		return "", fmt.Errorf("user %q: give only one of password, password_hash and password_file", u.Name)
	case u.PasswordHash != "":
		if _, err := Parse(u.PasswordHash); err != nil {
			return "password_hash", err
		}
	}
	return "", nil
}

// Secret resolves a user's credential without deciding how to keep a
// plain-text one: it returns the parsed hash (from password_hash, or a
// password file holding a hash) or else the password itself (from
// password, or a password file holding it). Password files are read here,
// so call it at start, never during validation.
func (u *User) Secret() (h *Hash, plain string, err error) {
	switch {
	case u.PasswordHash != "":
		h, err := Parse(u.PasswordHash)
		if err != nil {
			return nil, "", fmt.Errorf("user %q: password_hash: %w", u.Name, err)
		}
		return h, "", nil
	case u.PasswordFile != "":
		b, err := os.ReadFile(u.PasswordFile)
		if err != nil {
			return nil, "", fmt.Errorf("user %q: password_file: %w", u.Name, err)
		}
		s := strings.TrimRight(string(b), "\r\n")
		if s == "" {
			return nil, "", fmt.Errorf("user %q: password_file %s is empty", u.Name, u.PasswordFile)
		}
		if !strings.HasPrefix(s, Scheme+"$") {
			return nil, s, nil
		}
		h, err := Parse(s)
		if err != nil {
			return nil, "", fmt.Errorf("user %q: password_file %s: %w", u.Name, u.PasswordFile, err)
		}
		return h, "", nil
	case u.Password != "":
		return nil, u.Password, nil
	}
	return nil, "", fmt.Errorf("user %q: no password", u.Name)
}
