// Command nicrt runs Proxy-Wasm filters in a sidecar proxy or on a simulated
// FPGA SmartNIC, and measures both on Istio's Bookinfo application.
//
// Each subcommand lives in its own file and registers itself in init, so the
// CLI grows with the packages it fronts without one file knowing them all.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/spf13/pflag"
)

// command is one nicrt subcommand.
type command struct {
	name    string
	summary string // one line for `nicrt help`
	usage   string // argument synopsis after the command name
	// flags declares the command's flags on fs; it may be nil.
	flags func(fs *pflag.FlagSet)
	// run executes the command with the positional arguments left after flag
	// parsing. A returned usageError prints the command's help.
	run func(fs *pflag.FlagSet, args []string) error
	// normalize, when set, rewrites the arguments before flag parsing (for
	// spellings pflag cannot express, like -H-resp).
	normalize func(args []string) []string
}

var commands = map[string]*command{}

func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("nicrt: duplicate command " + c.name)
	}
	commands[c.name] = c
}

// usageError reports a wrong invocation; main prints the command's help after it.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// exitError carries a specific exit status without printing anything more.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
}

func runMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				printCommandHelp(stdout, c, newFlagSet(c))
				return 0
			}
			fmt.Fprintf(stderr, "nicrt: unknown command %q\n", args[1])
			return 2
		}
		printHelp(stdout)
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "nicrt: unknown command %q (see 'nicrt help')\n", args[0])
		return 2
	}
	fs := newFlagSet(c)
	rest := args[1:]
	if c.normalize != nil {
		rest = c.normalize(append([]string(nil), rest...))
	}
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			printCommandHelp(stdout, c, fs)
			return 0
		}
		fmt.Fprintf(stderr, "nicrt %s: %v\n", c.name, err)
		printCommandHelp(stderr, c, fs)
		return 2
	}
	err := c.run(fs, fs.Args())
	var ue usageError
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "nicrt %s: %v\n", c.name, err)
		printCommandHelp(stderr, c, fs)
		return 2
	default:
		fmt.Fprintf(stderr, "nicrt %s: %v\n", c.name, err)
		return 1
	}
}

func newFlagSet(c *command) *pflag.FlagSet {
	fs := pflag.NewFlagSet(c.name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard) // we print help ourselves
	fs.SortFlags = false
	if c.flags != nil {
		c.flags(fs)
	}
	return fs
}

func printHelp(w io.Writer) {
	fmt.Fprint(w, `nicrt runs the same Proxy-Wasm filter in a sidecar proxy or offloaded onto a
simulated FPGA SmartNIC, and times both on Istio's Bookinfo application.

Usage:
  nicrt <command> [flags] [args]

Commands:
`)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprint(w, "\nRun 'nicrt help <command>' or 'nicrt <command> --help' for a command's flags.\n")
}

func printCommandHelp(w io.Writer, c *command, fs *pflag.FlagSet) {
	fmt.Fprintf(w, "nicrt %s — %s\n\nUsage:\n  nicrt %s %s\n", c.name, c.summary, c.name, c.usage)
	if fs.HasFlags() {
		fmt.Fprintf(w, "\nFlags:\n%s", fs.FlagUsages())
	}
}
