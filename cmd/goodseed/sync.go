package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/goodseed/goodseed-go/remote"
	"github.com/goodseed/goodseed-go/server"
)

func init() {
	register(&command{
		name:     "sync",
		synopsis: "goodseed sync [RUN... | -p PROJECT | --all] [--follow] [--home DIR] [--url URL] [--key KEY]",
		summary: `Ship runs written here to a tracking server's /api/v1 (goodseed serve --api-v1,
or any server speaking GoodSeed's remote API): each writer of each run from where
the server has it, so a second sync sends nothing new and an interrupted one goes
on where it stopped. RUN is a run id (looked up in every project, or in -p) or a
run directory. --follow keeps shipping live runs until they close (with -p or
--all, also runs that start later) until SIGINT. Exit status 1 when a run could
not be shipped or the server refused part of it (each refusal is printed).`,
		help: `Flags:
  -p, --project P   sync the runs of project P
      --all         sync every run under the data directory
  -f, --follow      keep shipping live runs (and, with -p/--all, new ones) until SIGINT
      --home DIR    the data directory (default $GOODSEED_HOME, else ~/.goodseed)
      --url URL     the server (default $GOODSEED_API_URL)
      --key KEY     the API key (default $GOODSEED_API_KEY)
      --poll D      how often --follow looks for more (default 2s)
  -q, --quiet       no progress bar

Examples:
  goodseed sync --all
  goodseed sync -p acme/research --follow
  GOODSEED_API_URL=http://tracker:8765 goodseed sync bright-falcon-42
`,
		run: runSync,
	})
}

func runSync(e *env, args []string) error {
	fs := newFlags("sync")
	var project, home, url, key string
	var all, follow, quiet bool
	poll := 2 * time.Second
	fs.StringVar(&project, "p", "", "")
	fs.StringVar(&project, "project", "", "")
	fs.BoolVar(&all, "all", false, "")
	fs.BoolVar(&follow, "f", false, "")
	fs.BoolVar(&follow, "follow", false, "")
	fs.StringVar(&home, "home", "", "")
	fs.StringVar(&url, "url", e.getenv(remote.EnvAPIURL), "")
	fs.StringVar(&key, "key", e.getenv(remote.EnvAPIKey), "")
	fs.DurationVar(&poll, "poll", poll, "")
	fs.BoolVar(&quiet, "q", false, "")
	fs.BoolVar(&quiet, "quiet", false, "")
	runs, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(runs) == 0 && project == "" && !all:
		return usagef("name runs, -p PROJECT or --all")
	case len(runs) > 0 && (project != "" && all):
		return usagef("-p and --all together")
	case url == "":
		return usagef("no server: give --url or set %s", remote.EnvAPIURL)
	}
	if home == "" {
		if home, err = e.home(nil); err != nil {
			return err
		}
	}
	c, err := remote.NewClient(url, key, remote.ClientOptions{OnRetry: func(err error, wait time.Duration) {
		fmt.Fprintf(e.stderr, "goodseed sync: %v; retrying in %s\n", err, wait.Round(time.Millisecond))
	}})
	if err != nil {
		return err
	}
	bar := newProgressBar(e.stderr, quiet)
	sy := remote.NewSyncer(c, remote.Options{Progress: bar.update})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	s := &syncCmd{e: e, sy: sy, bar: bar, home: home, project: project, all: all, named: runs,
		done: map[string]time.Time{}}
	for {
		dirs, err := s.targets()
		if err != nil {
			return err
		}
		pending := s.pass(ctx, dirs)
		if !follow || (pending == 0 && len(runs) > 0) || ctx.Err() != nil {
			break
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		if ctx.Err() != nil {
			break
		}
	}
	bar.clear()
	fmt.Fprintf(e.stdout, "%d run(s) synced to %s: %d points, %d configs", s.synced, c.URL(), s.total.Points, s.total.Configs)
	if s.total.Resent > 0 {
		fmt.Fprintf(e.stdout, " (%d batch(es) the server had already)", s.total.Resent)
	}
	fmt.Fprintln(e.stdout)
	if s.failed > 0 || len(s.total.Refused) > 0 {
		return fmt.Errorf("%d run(s) not synced, %d item(s) refused", s.failed, len(s.total.Refused))
	}
	return nil
}

type syncCmd struct {
	e             *env
	sy            *remote.Syncer
	bar           *progressBar
	home, project string
	all           bool
	named         []string

	// done holds the runs shipped whole with no writer live, with their
	// last change then: a later change (a resume) ships them again.
	done           map[string]time.Time
	total          remote.Report
	synced, failed int
	notedPython    map[string]bool
}

// target is a run to sync and when it last changed (zero: unknown).
type target struct {
	dir string
	mod time.Time
}

// targets resolves the runs to sync to their directories.
func (s *syncCmd) targets() ([]target, error) {
	var list []server.RunSummary
	if s.all || s.project != "" || len(s.named) > 0 {
		var err error
		if list, err = server.ListRuns(s.home); err != nil && len(s.named) == 0 {
			return nil, err
		}
	}
	var dirs []target
	if len(s.named) == 0 {
		for _, r := range list {
			if !s.all && r.Project != s.project {
				continue
			}
			if r.Python != "" {
				s.notePython(r)
				continue
			}
			dirs = append(dirs, target{r.Dir, r.LastModified})
		}
		return dirs, nil
	}
	for _, name := range s.named {
		if fi, err := os.Stat(name); err == nil && fi.IsDir() && strings.ContainsRune(name, filepath.Separator) {
			dirs = append(dirs, target{dir: name})
			continue
		}
		var found []target
		for _, r := range list {
			if r.RunID == name && (s.project == "" || r.Project == s.project) {
				if r.Python != "" {
					return nil, fmt.Errorf("run %s/%s was written by GoodSeed's Python client (%s): convert it with 'goodseed import %s' first", r.Project, r.RunID, r.Python, r.RunID)
				}
				found = append(found, target{r.Dir, r.LastModified})
			}
		}
		switch len(found) {
		case 0:
			return nil, fmt.Errorf("no run %q under %s", name, s.home)
		case 1:
			dirs = append(dirs, found[0])
		default:
			return nil, usagef("run id %q is in %d projects; say which with -p", name, len(found))
		}
	}
	return dirs, nil
}

// notePython says, once, that a Python-written run is not shipped: its
// SQLite file is served read-only from a mirror, which is no place for a
// sync cursor.
func (s *syncCmd) notePython(r server.RunSummary) {
	if s.notedPython == nil {
		s.notedPython = map[string]bool{}
	}
	if !s.notedPython[r.Python] {
		s.notedPython[r.Python] = true
		fmt.Fprintf(s.e.stderr, "goodseed sync: %s/%s was written by GoodSeed's Python client: not shipped; 'goodseed import %s' converts it\n", r.Project, r.RunID, r.RunID)
	}
}

// pass syncs each run once; it returns how many are not done.
func (s *syncCmd) pass(ctx context.Context, dirs []target) int {
	pending := 0
	for _, t := range dirs {
		dir := t.dir
		if mod, ok := s.done[dir]; ok && !t.mod.After(mod) {
			continue
		}
		rep, err := s.sy.SyncRun(ctx, dir)
		s.bar.clear()
		s.total.Add(rep)
		for _, d := range rep.Damage {
			fmt.Fprintf(s.e.stderr, "goodseed sync: %s: not shipped, damaged: %v\n", dir, d)
		}
		for _, r := range rep.Refused {
			fmt.Fprintf(s.e.stderr, "goodseed sync: %s: writer %08x: the server refused %s: %s\n", rep.RunID, r.Writer, r.Item, r.Reason)
		}
		switch {
		case errors.Is(err, remote.ErrBusy):
			fmt.Fprintf(s.e.stderr, "goodseed sync: %s: skipped: %v\n", dir, err)
			pending++
		case err != nil:
			fmt.Fprintf(s.e.stderr, "goodseed sync: %s: %v\n", dir, err)
			s.failed++
			s.done[dir] = farFuture // not again this call
		default:
			if rep.Points > 0 || rep.Configs > 0 || rep.Statuses > 0 {
				fmt.Fprintf(s.e.stdout, "%s → %s: %d points, %d configs\n", rep.RunID, rep.RemoteID, rep.Points, rep.Configs)
			}
			if rep.Done {
				if _, again := s.done[dir]; !again {
					s.synced++
				}
				s.done[dir] = t.mod
			} else {
				pending++
			}
		}
	}
	return pending
}

var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// progressBar draws one line on a terminal: the run, its writer, bytes
// shipped of its stream. Off when stderr is not a terminal.
type progressBar struct {
	w     io.Writer
	on    bool
	last  time.Time
	drawn bool
}

func newProgressBar(w io.Writer, quiet bool) *progressBar {
	f, ok := w.(*os.File)
	on := false
	if ok && !quiet {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			on = true
		}
	}
	return &progressBar{w: w, on: on}
}

func (b *progressBar) update(p remote.Progress) {
	if !b.on || (time.Since(b.last) < 100*time.Millisecond && p.Done < p.Total) {
		return
	}
	b.last = time.Now()
	const width = 30
	frac := 1.0
	if p.Total > 0 {
		frac = float64(p.Done) / float64(p.Total)
	}
	n := int(frac * width)
	fmt.Fprintf(b.w, "\r%-24.24s %08x [%s%s] %3.0f%% %s/%s %d points ", p.RunID, p.Writer,
		strings.Repeat("=", n), strings.Repeat(" ", width-n), 100*frac, byteSize(p.Done), byteSize(p.Total), p.Points)
	b.drawn = true
}

func (b *progressBar) clear() {
	if b.drawn {
		fmt.Fprintf(b.w, "\r%s\r", strings.Repeat(" ", 100))
		b.drawn = false
	}
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
