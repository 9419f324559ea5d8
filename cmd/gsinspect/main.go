// Command gsinspect is the forensic tool for GoodSeed Go run directories. It
// reads any run — live, closed, crashed or damaged — without modifying it,
// and explains what is on disk.
//
//	gsinspect ls [HOME]                      projects and runs, state, size, bytes/point
//	gsinspect info RUN                       header facts, writers, segments, fields, state, lock holder
//	gsinspect verify RUN|SEGMENT [--json]    every checksum, header, footer and the index; exit 1 on damage
//	gsinspect blocks SEGMENT                 segment → blocks → records, with offsets and checksums
//	gsinspect fields RUN                     paths, kinds, counts, step ranges, last values, sparklines
//	gsinspect dump RUN [--path P] [--format jsonl|csv]
//	gsinspect tail RUN [--follow]            new points and lines as a live writer flushes them
//	gsinspect recover RUN OUT                copy every valid block into a new clean run
//	gsinspect plot RUN --path P -o chart.svg
//
// RUN is a run directory, or project/run_id (workspace/project/run_id) under
// $GOODSEED_HOME (default ~/.goodseed). Exit status: 0 clean, 1 damage
// found, 2 usage or I/O error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// Exit statuses.
const (
	exitOK     = 0
	exitDamage = 1
	exitError  = 2
)

// errDamage is returned by a command that found damage: exit status 1.
var errDamage = errors.New("damage found")

// usageError is a command-line mistake: exit status 2 with the usage.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// env is what a command may touch: its output streams and the environment.
// Tests build one around buffers.
type env struct {
	ctx      context.Context // cancelled on SIGINT/SIGTERM: long commands (tail --follow) stop
	stdout   io.Writer
	stderr   io.Writer
	getenv   func(string) string
	terminal bool // stderr is a terminal: progress bars are drawn
}

// command is one subcommand. Each lives in its own file and registers
// itself from init.
type command struct {
	name    string
	args    string // argument synopsis, e.g. "RUN [--follow]"
	summary string // one line for the command list
	example string // shown by --help
	// flags declares the command's flags on fs; run gets fs's arguments.
	flags func(fs *flag.FlagSet) any
	run   func(e *env, opts any, args []string) error
}

var commands = map[string]*command{}

func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("gsinspect: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	e := &env{ctx: ctx, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, terminal: isTerminal(os.Stderr)}
	code := execute(e, os.Args[1:])
	stop()
	os.Exit(code)
}

// execute runs one command line and returns the exit status.
func execute(e *env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				printHelp(e.stdout, c, nil)
				return exitOK
			}
		}
		printUsage(e.stdout)
		if len(args) == 0 {
			return exitError
		}
		return exitOK
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "gsinspect: unknown command %q\n\n", args[0])
		printUsage(e.stderr)
		return exitError
	}
	fs := flag.NewFlagSet("gsinspect "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var opts any
	if c.flags != nil {
		opts = c.flags(fs)
	}
	if err := fs.Parse(interleave(fs, args[1:])); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printHelp(e.stdout, c, fs)
			return exitOK
		}
		fmt.Fprintf(e.stderr, "gsinspect %s: %v\n\n", c.name, err)
		printHelp(e.stderr, c, fs)
		return exitError
	}
	err := c.run(e, opts, fs.Args())
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errDamage):
		return exitDamage
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "gsinspect %s: %v\n\n", c.name, err)
		printHelp(e.stderr, c, fs)
		return exitError
	default:
		fmt.Fprintf(e.stderr, "gsinspect %s: %v\n", c.name, err)
		return exitError
	}
}

// interleave moves flags after positional arguments to the front, so
// "gsinspect dump RUN --path p" works as well as "dump --path p RUN".
func interleave(fs *flag.FlagSet, args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		if f := fs.Lookup(name); f != nil {
			if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
				continue
			}
			if i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
		}
	}
	return append(flags, pos...)
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, "usage: gsinspect <command> [arguments]\n\nA forensic tool for GoodSeed Go runs; it never modifies a run.\n\ncommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, commands[n].summary)
	}
	fmt.Fprint(w, "\nRUN is a run directory or project/run_id under $GOODSEED_HOME (default ~/.goodseed).\n"+
		"Exit status: 0 clean, 1 damage found, 2 usage or I/O error.\n"+
		"'gsinspect help <command>' shows a command's flags and an example.\n")
}

func printHelp(w io.Writer, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: gsinspect %s %s\n\n%s\n", c.name, c.args, c.summary)
	if fs == nil {
		fs = flag.NewFlagSet(c.name, flag.ContinueOnError)
		if c.flags != nil {
			c.flags(fs)
		}
	}
	var hasFlags bool
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprint(w, "\nflags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	if c.example != "" {
		fmt.Fprintf(w, "\nexample:\n%s\n", indent(c.example, "  "))
	}
}

func indent(s, pre string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = pre + l
	}
	return strings.Join(lines, "\n")
}
