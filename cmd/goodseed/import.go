package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/pyrun"
	gsrun "github.com/goodseed/goodseed-go/run"
)

func init() {
	register(&command{
		name:     "import",
		synopsis: "goodseed import [RUN... | -p PROJECT | --all] [--home DIR]",
		summary: `Convert runs GoodSeed's Python client wrote (runs/<id>.sqlite) into GoodSeed Go
runs beside them (runs/<id>/), losslessly: every meta key, config and point is
read back and compared before the run appears, and the SQLite file is only read.
A run imported already is skipped; a kill midway leaves no half-made run. RUN is
a run id (looked up in every project, or in -p) or the path of a .sqlite file.
Exit status 1 when a run could not be imported (each is said).`,
		help: `Flags:
  -p, --project P   import the Python runs of project P
      --all         import every Python run under the data directory
      --home DIR    the data directory (default $GOODSEED_HOME, else ~/.goodseed)

Examples:
  goodseed import --all
  goodseed import -p acme/research
  goodseed import bright-falcon-42
  goodseed import ~/old/projects/vision/runs/baseline.sqlite
`,
		run: runImport,
	})
}

func runImport(e *env, args []string) error {
	fs := newFlags("import")
	var project, home string
	var all bool
	fs.StringVar(&project, "p", "", "")
	fs.StringVar(&project, "project", "", "")
	fs.BoolVar(&all, "all", false, "")
	fs.StringVar(&home, "home", "", "")
	names, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(names) == 0 && project == "" && !all:
		return usagef("name runs, -p PROJECT or --all")
	case all && (project != "" || len(names) > 0):
		return usagef("--all takes no -p and no RUN")
	}
	if home == "" {
		if home, err = e.home(nil); err != nil {
			return err
		}
	}
	todo, err := pickPyRuns(home, project, names)
	if err != nil {
		return err
	}
	if len(todo) == 0 {
		fmt.Fprintf(e.stdout, "No Python runs found in %s.\n", filepath.Join(home, "projects"))
		return nil
	}
	var failed, imported, skipped int
	for _, f := range todo {
		if err := gsrun.ValidateProject(f.Project); err != nil {
			fmt.Fprintf(e.stderr, "  %s/%s: not imported: %v\n", f.Project, f.RunID, err)
			failed++
			continue
		}
		if err := gsrun.ValidateRunID(f.RunID); err != nil {
			fmt.Fprintf(e.stderr, "  %s/%s: not imported: %v\n", f.Project, f.RunID, err)
			failed++
			continue
		}
		res, err := pyrun.Import(f.Path, strings.TrimSuffix(f.Path, pyrun.Ext), engine.Options{})
		switch {
		case err != nil:
			fmt.Fprintf(e.stderr, "  %s/%s: not imported: %v\n", f.Project, f.RunID, err)
			failed++
		case res.AlreadyImported:
			fmt.Fprintf(e.stdout, "  %s/%s: imported already\n", f.Project, f.RunID)
			skipped++
		default:
			fmt.Fprintf(e.stdout, "  %s/%s: %s, %s, %s, %s (verified)\n", f.Project, f.RunID,
				plural(res.Configs, "config"), plural(res.Metrics, "metric"), plural(res.Strings, "string series"), plural(int(res.Points), "point"))
			imported++
		}
	}
	fmt.Fprintf(e.stdout, "\n%d imported, %d imported already, %d failed\n", imported, skipped, failed)
	if failed > 0 {
		return fmt.Errorf("%d of %d run(s) not imported", failed, len(todo))
	}
	return nil
}

// pickPyRuns finds the Python runs the command line names.
func pickPyRuns(home, project string, names []string) ([]pyrun.Found, error) {
	var found []pyrun.Found
	projects := filepath.Join(home, "projects")
	needFind := len(names) == 0
	for _, n := range names {
		if !strings.HasSuffix(n, pyrun.Ext) {
			needFind = true
		}
	}
	if needFind {
		var err error
		if found, err = pyrun.Find(projects); err != nil {
			return nil, err
		}
	}
	var out []pyrun.Found
	if len(names) == 0 {
		for _, f := range found {
			if project == "" || f.Project == project {
				out = append(out, f)
			}
		}
		return out, nil
	}
	for _, n := range names {
		if strings.HasSuffix(n, pyrun.Ext) {
			if _, err := os.Stat(n); err != nil {
				return nil, fmt.Errorf("run %s: %w", n, err)
			}
			abs, _ := filepath.Abs(n)
			out = append(out, pyrun.Found{Project: filepath.Base(filepath.Dir(filepath.Dir(abs))), RunID: strings.TrimSuffix(filepath.Base(n), pyrun.Ext), Path: n})
			continue
		}
		var match []pyrun.Found
		for _, f := range found {
			if f.RunID == n && (project == "" || f.Project == project) {
				match = append(match, f)
			}
		}
		switch len(match) {
		case 0:
			return nil, fmt.Errorf("no Python run %q in %s", n, projects)
		case 1:
			out = append(out, match[0])
		default:
			var ps []string
			for _, m := range match {
				ps = append(ps, m.Project)
			}
			return nil, usagef("run %q is in several projects (%s): give -p", n, strings.Join(ps, ", "))
		}
	}
	return out, nil
}
