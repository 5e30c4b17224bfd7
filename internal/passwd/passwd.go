// Package passwd holds Metronome's user credentials: the salted PBKDF2
// hashes `runtime passwd` prints, passwords from files or the environment,
// and their constant-time verification. The live view checks its writers
// with it; it is the one place the hash format is defined.
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

// maxIterations bounds the work one verification may cost, so a hash in a
// configuration cannot stall a login for minutes.
const maxIterations = 100_000_000

// Hash is a parsed pbkdf2-sha256$iterations$salt$key string.
type Hash struct {
	iter      int
	salt, key []byte
}

// New returns the string to store for a password: PBKDF2-SHA256 with a
// random 16-byte salt and the given iteration count.
func New(password string, iterations int) (string, error) {
	if iterations < MinIterations || iterations > maxIterations {
		return "", fmt.Errorf("iterations %d outside %d..%d", iterations, MinIterations, maxIterations)
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return "", err
	}
	enc := base64.RawStdEncoding
	return fmt.Sprintf("%s$%d$%s$%s", Scheme, iterations, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// Parse decodes a stored hash.
func Parse(s string) (*Hash, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 4 || parts[0] != Scheme {
		return nil, fmt.Errorf("not a %s$iterations$salt$hash string (make one with `runtime passwd`)", Scheme)
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < MinIterations || iter > maxIterations {
		return nil, fmt.Errorf("iterations %q must be a number from %d to %d", parts[1], MinIterations, maxIterations)
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

// Account is a user's stored credential: a PBKDF2 hash, or the SHA-256 of
// a password given in plain text (from the environment or a file), so the
// plain text is not kept in memory.
type Account struct {
	hash   *Hash
	digest []byte
}

// Check reports whether password is the account's, in constant time.
func (a *Account) Check(password string) bool {
	if a.hash != nil {
		key, err := pbkdf2.Key(sha256.New, password, a.hash.salt, a.hash.iter, len(a.hash.key))
		return err == nil && subtle.ConstantTimeCompare(key, a.hash.key) == 1
	}
	d := sha256.Sum256([]byte(password))
	return subtle.ConstantTimeCompare(d[:], a.digest) == 1
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

// Load resolves a user's credential, reading its password file if it has one.
func (u *User) Load() (*Account, error) {
	switch {
	case u.PasswordHash != "":
		h, err := Parse(u.PasswordHash)
		if err != nil {
			return nil, fmt.Errorf("user %q: password_hash: %w", u.Name, err)
		}
		return &Account{hash: h}, nil
	case u.PasswordFile != "":
		b, err := os.ReadFile(u.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("user %q: password_file: %w", u.Name, err)
		}
		s := strings.TrimRight(string(b), "\r\n")
		if s == "" {
			return nil, fmt.Errorf("user %q: password_file %s is empty", u.Name, u.PasswordFile)
		}
		if strings.HasPrefix(s, Scheme+"$") {
			h, err := Parse(s)
			if err != nil {
				return nil, fmt.Errorf("user %q: password_file %s: %w", u.Name, u.PasswordFile, err)
			}
			return &Account{hash: h}, nil
		}
		d := sha256.Sum256([]byte(s))
		return &Account{digest: d[:]}, nil
	case u.Password != "":
		d := sha256.Sum256([]byte(u.Password))
		return &Account{digest: d[:]}, nil
	}
	return nil, fmt.Errorf("user %q: no password", u.Name)
}
