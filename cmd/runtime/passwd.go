package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/metronome-rt/metronome/internal/passwd"
)

const passwdUsage = `usage: runtime passwd [--iterations N] < password

Prints the password_hash for a user of an MQTTBroker or of the live view,
so the YAML holds a salted PBKDF2-SHA256 hash instead of the password. The
password is the first line of standard input; on a terminal it is asked for
without echo.

  --iterations N   PBKDF2 work factor (default 600000, minimum 10000)

Example:
  runtime passwd > plant.hash
  users: [{name: plant, password_hash: "<contents of plant.hash>"}]
`

// passwdCmd runs `runtime passwd`; it returns the exit code.
func passwdCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("runtime passwd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	iter := fs.Int("iterations", passwd.DefaultIterations, "")
	help := fs.Bool("help", false, "")
	fs.BoolVar(help, "h", false, "")
	usageErr := func(msg string) int {
		fmt.Fprintf(stderr, "runtime passwd: %s\n\n%s", msg, passwdUsage)
		return 2
	}
	if err := fs.Parse(args); err != nil {
		return usageErr(err.Error())
	}
	if *help {
		fmt.Fprint(stdout, passwdUsage)
		return 0
	}
	if fs.NArg() > 0 {
		return usageErr(fmt.Sprintf("unexpected argument %q (the password is read from standard input, never from the command line)", fs.Arg(0)))
	}
	if *iter < passwd.MinIterations || *iter > passwd.MaxIterations {
		return usageErr(fmt.Sprintf("--iterations must be %d..%d, got %d", passwd.MinIterations, passwd.MaxIterations, *iter))
	}
	pw, err := readPassword(stdin, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "runtime passwd: %v\n", err)
		return 1
	}
	h, err := passwd.New(pw, *iter)
	if err != nil {
		fmt.Fprintf(stderr, "runtime passwd: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, h)
	return 0
}

// readPassword reads a password from the first line of stdin, asking for
// it without echo when stdin is a terminal.
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok {
		if restore, ok := noEcho(f); ok {
			fmt.Fprint(stderr, "password: ")
			defer func() { restore(); fmt.Fprintln(stderr) }()
		}
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("read password: %v", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", fmt.Errorf("empty password on standard input")
	}
	return pw, nil
}
