package main

import (
	"fmt"
	"os"
	"time"

	"github.com/goodseed/goodseed-go/server"
)

func init() {
	register(&command{
		name:     "list",
		synopsis: "goodseed list [DIR] [-p PROJECT] [-v]",
		summary: `List the projects under DIR with their run counts and when each last changed,
or, with -p, the runs of one project, newest first: state, id, name and creation
time (UTC). The state is running, finished or failed as the run recorded it, or
crashed for a run that says running while no process writes it.`,
		help: `DIR is the projects directory (as GoodSeed's Python CLI takes it), or the data
directory holding projects/; default $GOODSEED_HOME, else ~/.goodseed.

Flags:
  -p, --project P   list the runs of project P (e.g. vision or workspace/project)
  -v, --verbose     say which directory is listed

Examples:
  goodseed list
  goodseed list -p vision
  goodseed list /data/goodseed -p acme/research
`,
		run: runList,
	})
}

// shortTime renders t as the Python CLI does: the first 19 characters of
// its ISO form (UTC, to the second).
func shortTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02T15:04:05")
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func runList(e *env, args []string) error {
	fs := newFlags("list")
	var project string
	var verbose bool
	fs.StringVar(&project, "p", "", "")
	fs.StringVar(&project, "project", "", "")
	fs.BoolVar(&verbose, "v", false, "")
	fs.BoolVar(&verbose, "verbose", false, "")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	where, err := e.servedDir(pos)
	if err != nil {
		return err
	}
	if verbose {
		fmt.Fprintf(e.stderr, "Listing %s\n", where.describe())
	}
	if fi, err := os.Stat(where.projects); err != nil || !fi.IsDir() {
		fmt.Fprintf(e.stdout, "Projects directory does not exist: %s\n", where.projects)
		fmt.Fprintln(e.stderr, wrongDirHint(where.projects))
		return nil
	}
	w := e.stdout
	if project == "" {
		ps, err := server.ListProjectsIn(where.projects)
		if err != nil {
			return err
		}
		if len(ps) == 0 {
			fmt.Fprintln(w, "No projects found.")
			fmt.Fprintln(e.stderr, wrongDirHint(where.projects))
			return nil
		}
		for _, p := range ps {
			fmt.Fprintf(w, "  %s  (%s, last modified: %s)\n", p.Name, plural(p.RunCount, "run"), shortTime(p.LastModified))
		}
		fmt.Fprintf(w, "\n%d project(s)\n", len(ps))
		return nil
	}
	all, err := server.ListRunsIn(where.projects)
	if err != nil {
		return err
	}
	n := 0
	for _, r := range all {
		if r.Project != project {
			continue
		}
		n++
		if r.Err != nil {
			fmt.Fprintf(w, "  [unreadable] %s\n      error: %v\n", r.RunID, r.Err)
			continue
		}
		trashed := ""
		if r.Trashed {
			trashed = "  (trashed)"
		}
		status := string(r.Status)
		if status == "" {
			status = "unknown"
		}
		python := ""
		if r.Python != "" {
			python = "  (Python run, read-only: goodseed import converts it)"
		}
		fmt.Fprintf(w, "  [%s] %s%s%s\n", status, r.RunID, trashed, python)
		if r.Name != "" {
			fmt.Fprintf(w, "      name: %s\n", r.Name)
		}
		created := r.CreatedRaw
		if !r.Created.IsZero() {
			created = shortTime(r.Created)
		} else if created == "" {
			created = "-"
		}
		fmt.Fprintf(w, "      created: %s\n", created)
	}
	if n == 0 {
		fmt.Fprintf(w, "No runs found in project '%s'.\n", project)
		return nil
	}
	fmt.Fprintf(w, "\n%d run(s) in %s\n", n, project)
	return nil
}
