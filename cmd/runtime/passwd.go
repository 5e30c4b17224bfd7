package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/metronome-rt/metronome/components/mqttbroker"
)

const passwdUsage = `usage: runtime passwd [--iterations N] < password

Prints the password_hash for an MQTTBroker user, so the YAML holds a salted
PBKDF2-SHA256 hash instead of the password. The password is the first line
of standard input; on a terminal it is asked for without echo.

  --iterations N   PBKDF2 work factor (default 600000, minimum 10000)

Example:
  runtime passwd > plant.hash
  users: [{name: plant, password_hash: "<contents of plant.hash>"}]
`

// passwd runs `runtime passwd`; it returns the exit code.
func passwd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("runtime passwd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	iter := fs.Int("iterations", mqttbroker.DefaultHashIterations, "")
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
	if *iter < mqttbroker.MinHashIterations || *iter > 100_000_000 {
		return usageErr(fmt.Sprintf("--iterations must be %d..100000000, got %d", mqttbroker.MinHashIterations, *iter))
	}
	pw, err := readPassword(stdin, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "runtime passwd: %v\n", err)
		return 1
	}
	h, err := mqttbroker.HashPassword(pw, *iter)
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
