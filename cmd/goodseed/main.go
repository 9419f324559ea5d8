// Command goodseed is GoodSeed Go's user CLI, as GoodSeed's Python CLI:
//
//	goodseed [serve] [DIR] [--port 8765] [--host 127.0.0.1] [--api-v1 --api-key KEY[:ws1,ws2]]
//	goodseed list [DIR] [-p PROJECT]
//	goodseed sync [RUN... | -p PROJECT | --all] [--follow] [--url URL]
//	goodseed import [RUN... | -p PROJECT | --all]
//	goodseed upload -p PROJECT [-r RUN_ID]
//
// serve starts the local HTTP server the GoodSeed web UI reads
// (docs/http-api.md, Part A), and with --api-v1 the remote API the Python
// client syncs to (Part B); it runs until SIGINT or SIGTERM. list lists the
// projects, or the runs of one project. sync ships runs to a tracking server's
// /api/v1 (package remote), incrementally. import converts runs the Python
// client wrote (SQLite) into ours, verified (package pyrun); until then serve
// and list show them read-only. DIR is the data directory holding
// projects/ (default $GOODSEED_HOME, else ~/.goodseed). Exit status: 0 on
// success, 1 on an error, 2 on a usage mistake.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	gsrun "github.com/goodseed/goodseed-go/run"
)

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.Getenv)) }

// usageError is a command-line mistake: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// env is what a command may touch; tests build one around buffers.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

// command is one subcommand; each lives in its own file.
type command struct {
	name     string
	synopsis string
	summary  string
	help     string // more lines for --help, examples included
	run      func(e *env, args []string) error
}

var commands = map[string]*command{}

func register(c *command) { commands[c.name] = c }

const topUsage = `Usage:
  goodseed [serve] [DIR] [--port 8765] [--host 127.0.0.1]   serve runs to the web UI (the default)
  goodseed list [DIR] [-p PROJECT]                          list projects, or the runs of one
  goodseed sync [RUN... | -p PROJECT | --all] [--follow]    ship runs to a server's /api/v1
  goodseed import [RUN... | -p PROJECT | --all]             convert Python-written runs, verified
  goodseed upload -p PROJECT [-r RUN_ID]                    the Python CLI's spelling of sync
  goodseed help [COMMAND]

DIR is the projects directory, or the data directory holding projects/ (default
$GOODSEED_HOME, else ~/.goodseed).
Run 'goodseed COMMAND --help' for a command's flags and examples.
`

// run runs the command line args and returns the exit status.
func run(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	e := &env{stdout: stdout, stderr: stderr, getenv: getenv}
	name, rest := "serve", args // no command: serve, as the Python CLI
	if len(args) > 0 {
		switch a := args[0]; {
		case a == "help" || a == "-h" || a == "--help":
			if len(args) > 1 && a == "help" {
				if c := commands[args[1]]; c != nil {
					printHelp(stdout, c)
					return exitOK
				}
				fmt.Fprintf(stderr, "goodseed: unknown command %q\n\n%s", args[1], topUsage)
				return exitUsage
			}
			fmt.Fprint(stdout, topUsage)
			return exitOK
		case commands[a] != nil:
			name, rest = a, args[1:]
		case strings.HasPrefix(a, "-"):
			// Flags of the default command.
		default:
			// "goodseed DIR" serves DIR, as the Python CLI; anything else
			// is most likely a mistyped command.
			if fi, err := os.Stat(a); err != nil || !fi.IsDir() {
				fmt.Fprintf(stderr, "goodseed: unknown command %q (and no such directory)\n\n%s", a, topUsage)
				return exitUsage
			}
		}
	}
	c := commands[name]
	err := c.run(e, rest)
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		printHelp(stdout, c)
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "goodseed %s: %v\nUsage: %s\nRun 'goodseed %s --help' for more.\n", c.name, err, c.synopsis, c.name)
		return exitUsage
	}
	fmt.Fprintf(stderr, "goodseed %s: %v\n", c.name, err)
	return exitError
}

func printHelp(w io.Writer, c *command) {
	fmt.Fprintf(w, "Usage: %s\n\n%s\n\n%s", c.synopsis, c.summary, c.help)
}

// newFlags returns a flag set that reports its errors instead of printing
// them.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseArgs parses flags wherever they stand among the positional
// arguments ("list DIR -p x" and "list -p x DIR" alike) and returns the
// positional ones. Everything after "--" is positional.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usagef("%v", err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// flag stops at the first positional argument, or after "--".
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// servedDirs is what a DIR argument names: GoodSeed's data directory (which
// holds projects/), or its projects directory itself (as the Python CLI
// takes it).
type servedDirs struct {
	home     string // the data directory; "" when DIR is a projects directory
	projects string
}

// describe says which it is, for the user.
func (s servedDirs) describe() string {
	if s.home != "" {
		return fmt.Sprintf("data directory %s (its projects: %s)", s.home, s.projects)
	}
	return "projects directory " + s.projects
}

// servedDir resolves DIR as GoodSeed's Python CLI does (its projects
// directory), and also accepts the data directory holding projects/; no
// DIR is $GOODSEED_HOME, else ~/.goodseed.
func (e *env) servedDir(pos []string) (servedDirs, error) {
	if len(pos) == 1 {
		dir := pos[0]
		if fi, err := os.Stat(filepath.Join(dir, "projects")); err == nil && fi.IsDir() {
			return servedDirs{home: dir, projects: filepath.Join(dir, "projects")}, nil
		}
		return servedDirs{projects: dir}, nil
	}
	home, err := e.home(pos)
	if err != nil {
		return servedDirs{}, err
	}
	return servedDirs{home: home, projects: filepath.Join(home, "projects")}, nil
}

// wrongDirHint is what to say when DIR holds no runs.
func wrongDirHint(dir string) string {
	return fmt.Sprintf("(%s holds no <project>/runs/. DIR is GoodSeed's projects directory, such as ~/.goodseed/projects, or the data directory holding it, such as ~/.goodseed; $%s names the data directory when DIR is left out.)", dir, gsrun.EnvHome)
}

// home resolves the data directory: the DIR argument, else
// $GOODSEED_HOME, else ~/.goodseed.
func (e *env) home(pos []string) (string, error) {
	switch {
	case len(pos) > 1:
		return "", usagef("one DIR at most, got %d: %s", len(pos), strings.Join(pos, " "))
	case len(pos) == 1:
		return pos[0], nil
	}
	if h := e.getenv(gsrun.EnvHome); h != "" {
		return h, nil
	}
	h, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the home directory: %w; set %s or give DIR", err, gsrun.EnvHome)
	}
	return filepath.Join(h, ".goodseed"), nil
}
