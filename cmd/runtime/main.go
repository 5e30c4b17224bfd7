// Command runtime runs Metronome applications.
//
//	runtime run [flags] APP.yaml  run until SIGINT/SIGTERM
//	runtime validate APP.yaml...  check applications without running them
//	runtime test FILE_test.yaml...  run application tests written in YAML
//	runtime types [--json]        list the component types
//	runtime types --markdown      rewrite the generated component docs
//	runtime bench timer|broker|client|link  measure this machine
//	runtime passwd                password hash for MQTTBroker users
//	runtime watch|get|set|ack|force|unforce   look at and operate a running application
package main

import (
	"fmt"
	"io"
	"os"
)

const usage = `usage: runtime <command> [flags] [args]

Commands:
  run [flags] APP.yaml   run an application until SIGINT or SIGTERM (flags: --log-format,
                         --log-level, --stop-timeout, --memory-limit, --lock-dir, --http)
  validate APP.yaml...   check applications; print every error and warning as file:line:col: message
  test FILE_test.yaml... run application tests (YAML) on a virtual clock, with no network
  types [--json] [TYPE]  list the component types with their config keys, signals, parameters and alarms
  types --markdown       rewrite docs/components.md and the config tables of the component READMEs
  bench timer|broker|client|link
                         measure timer precision, broker and client throughput, and the latency
                         between linked runtimes on this machine
  An application with a system: section runs linked to its system; given together, validate
  checks the routes and writes between applications (docs/yaml.md, "A system of runtimes").
  passwd                 print a password hash for an MQTTBroker user (reads the password from stdin)
  watch [PATTERN...]     live table of a running application's signals, quality and alarms
  get PATTERN...         print current values (patterns: * one level, ** any depth)
  set PATH VALUE         write a parameter (needs view: writes and a user); with --system APP.yaml
                         or --broker URL --group NAME: through the system's broker (Sparkplug NCMD)
  ack PATH... | --all    acknowledge alarms
  force PATH VALUE       force a signal; force --list lists the forces
  unforce PATH... | --all
                         release forces
  version                print the version

Run 'runtime <command> --help' for a command's flags.
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run dispatches a command line and returns the exit code: 0 success, 1 a
// failure (an invalid application, a failed run), 2 a usage mistake.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return runApp(rest, stdout, stderr)
	case "validate":
		return validate(rest, stdout, stderr)
	case "test":
		return testApps(rest, stdout, stderr)
	case "types":
		return types(rest, stdout, stderr)
	case "bench":
		return bench(rest, stdout, stderr)
	case "passwd":
		return passwdCmd(rest, stdin, stdout, stderr)
	case "watch":
		return watchCmd(rest, stdout, stderr)
	case "get":
		return getCmd(rest, stdout, stderr)
	case "set", "ack", "force", "unforce":
		return writeCmd(cmd, rest, stdin, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "metronome runtime", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "runtime: unknown command %q\n\n%s", cmd, usage)
	return 2
}

const benchUsage = `usage: runtime bench <timer|broker|client|link> [flags]

  timer    lateness of Metronome's timer, time.Ticker and cyclictest at a rate
  broker   throughput and latency of the embedded broker beside mosquitto
  client   publish throughput of the MQTT client beside raw autopaho
  link     latency between two linked runtimes beside raw paho, and the birth
           storm after a broker restart

Run 'runtime bench <name> --help' for its flags.
`

func bench(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, benchUsage)
		return 2
	}
	switch args[0] {
	case "timer":
		return benchTimer(args[1:], stdout, stderr)
	case "broker":
		return benchBroker(args[1:], stdout, stderr)
	case "client":
		return benchMQTTClient(args[1:], stdout, stderr)
	case "link":
		return benchLink(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, benchUsage)
		return 0
	}
	fmt.Fprintf(stderr, "runtime bench: unknown benchmark %q\n\n%s", args[0], benchUsage)
	return 2
}
