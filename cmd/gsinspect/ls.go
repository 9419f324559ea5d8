package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/run"
)

func init() {
	register(&command{
		name:    "ls",
		args:    "[HOME]",
		summary: "projects and runs under HOME: state, writer, size, points, bytes/point",
		example: "gsinspect ls                 # runs under $GOODSEED_HOME (default ~/.goodseed)\n" +
			"gsinspect ls /data/goodseed\n\n" +
			"STATE is the run's recorded status (running, finished, failed), or crashed\n" +
			"for a run that says running while no writer holds its LOCK. A run that\n" +
			"cannot be opened is listed as unreadable, with the reason in a note below\n" +
			"the table (exit status 0: 'gsinspect verify' is the damage check).\n" +
			"SIZE counts every file of the run directory; POINTS counts points written\n" +
			"(overwrites included); B/PT is SIZE/POINTS; CREATED is UTC.",
		run: runLs,
	})
}

// Meta keys the run package records (run/run.go). gsinspect reads them
// only; a run written by the engine alone may have none.
const (
	metaStatus        = "status"
	metaName          = "name"
	metaProject       = "project"
	metaCreatedAt     = "created_at"
	metaClosedAt      = "closed_at"
	metaResumedAt     = "resumed_at"
	metaResumedFrom   = "resumed_from"
	metaFailureReason = "failure_reason"
)

// derivedState is the state a reader reports: the recorded status, or
// crashed for a run that says running while no writer holds its lock.
// A run without a status (written by the engine alone) is running while
// its writer lives, unknown otherwise.
func derivedState(status string, live bool) string {
	switch {
	case status == "running" && !live:
		return "crashed"
	case status == "" && live:
		return "running"
	case status == "":
		return "unknown"
	}
	return status
}

// parseMetaTime reads a meta timestamp (RFC 3339, as the run package
// writes them); zero when absent or malformed.
func parseMetaTime(meta map[string]engine.MetaEntry, key string) time.Time {
	m, ok := meta[key]
	if !ok {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, m.Val)
	if err != nil {
		return time.Time{}
	}
	return t
}

// seriesPoints sums the points written to every series (overwrites
// included), from the index summaries: no block is read.
func seriesPoints(rd *engine.Reader) uint64 {
	var n uint64
	for _, f := range rd.Fields() {
		if f.Kind == engine.KindConfig {
			continue
		}
		if s, ok := rd.Summary(f.Path, f.Kind); ok {
			n += s.Count
		}
	}
	return n
}

// dirSize sums the sizes of the regular files in dir.
func dirSize(dir string) (int64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, de := range ents {
		if !de.Type().IsRegular() {
			continue
		}
		fi, err := de.Info()
		if err != nil {
			continue // removed while we looked
		}
		n += fi.Size()
	}
	return n, nil
}

// stateText is a derived run state as gsinspect prints it: unknown when
// no writer recorded one and none is live.
func stateText(st run.Status) string {
	if st == "" {
		return "unknown"
	}
	return sanitize(string(st))
}

// liveWriters renders the writers holding their locks for a table cell
// (the one live writer's pid@host, or how many are live) and says whether
// any is: "-" when none.
func liveWriters(ws []run.WriterState) (string, bool) {
	var live []run.WriterState
	for _, w := range ws {
		if w.Live {
			live = append(live, w)
		}
	}
	switch len(live) {
	case 0:
		return "-", false
	case 1:
		return writerLabel(live[0].Owner), true
	}
	return fmt.Sprintf("%d of %d writers", len(live), len(ws)), true
}

// writerLabel renders a live writer as pid@host.
func writerLabel(o engine.Owner) string {
	if o.Host == "" && o.PID == 0 {
		return "pid ?"
	}
	return fmt.Sprintf("pid %d@%s", o.PID, o.Host)
}

// runRef is one run directory found under a home.
type runRef struct {
	project, id, dir string
}

// findRuns lists the run directories under home: <home>/projects/<project>/runs/<id>
// with project one or two levels deep ("workspace/project").
func findRuns(home string) ([]runRef, error) {
	fi, err := os.Stat(home)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: no such directory (set %s or pass HOME)", home, "GOODSEED_HOME")
		}
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", home)
	}
	projects := filepath.Join(home, "projects")
	tops, err := os.ReadDir(projects)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	type runsDir struct{ project, dir string }
	var dirs []runsDir
	isDir := func(p string) bool {
		fi, err := os.Stat(p)
		return err == nil && fi.IsDir()
	}
	for _, a := range tops {
		if !a.IsDir() {
			continue
		}
		ap := filepath.Join(projects, a.Name())
		if p := filepath.Join(ap, "runs"); isDir(p) {
			dirs = append(dirs, runsDir{a.Name(), p})
		}
		subs, err := os.ReadDir(ap)
		if err != nil {
			return nil, err
		}
		for _, b := range subs {
			if p := filepath.Join(ap, b.Name(), "runs"); b.IsDir() && isDir(p) {
				dirs = append(dirs, runsDir{a.Name() + "/" + b.Name(), p})
			}
		}
	}
	// A project named "runs" inside a workspace (ws/runs) puts its runs
	// directory inside ws/runs: that one is a project's, not a run.
	isRunsDir := make(map[string]bool, len(dirs))
	for _, d := range dirs {
		isRunsDir[d.dir] = true
	}
	var out []runRef
	for _, d := range dirs {
		ents, err := os.ReadDir(d.dir)
		if err != nil {
			return nil, err
		}
		for _, de := range ents {
			p := filepath.Join(d.dir, de.Name())
			if !de.IsDir() || isRunsDir[p] && !hasRunFiles(p) {
				continue
			}
			out = append(out, runRef{project: d.project, id: de.Name(), dir: p})
		}
	}
	return out, nil
}

// hasRunFiles reports whether dir holds a segment or a LOCK.
func hasRunFiles(dir string) bool { return checkRunDir(dir) == nil }

// lsRow is one line of the ls table.
type lsRow struct {
	ref     runRef
	created time.Time
	ok      bool // the run opened
	size    int64
	points  uint64
	cells   []string
}

func runLs(e *env, _ any, args []string) error {
	if len(args) > 1 {
		return usagef("ls takes at most one argument, HOME")
	}
	var home string
	if len(args) == 1 {
		home = args[0]
	} else {
		h, err := e.home()
		if err != nil {
			return err
		}
		home = h
	}
	refs, err := findRuns(home)
	if err != nil {
		return err
	}
	if len(refs) == 0 {
		fmt.Fprintf(e.stdout, "no runs under %s\n", home)
		return nil
	}
	bar := e.newProgress("reading runs", int64(len(refs)))
	var (
		rows     []lsRow
		notes    []string
		total    int64
		points   uint64
		projects = map[string]bool{}
	)
	for _, ref := range refs {
		if err := e.ctx.Err(); err != nil {
			bar.finish()
			return err
		}
		row, note := lsOne(ref)
		if note != "" {
			notes = append(notes, note)
			row.cells[2] += fmt.Sprintf(" [%d]", len(notes))
		}
		rows = append(rows, row)
		projects[ref.project] = true
		bar.add(1)
	}
	bar.finish()
	slices.SortStableFunc(rows, func(a, b lsRow) int {
		if c := strings.Compare(a.ref.project, b.ref.project); c != 0 {
			return c
		}
		if a.ok != b.ok {
			if a.ok {
				return -1
			}
			return 1
		}
		if c := a.created.Compare(b.created); c != 0 {
			return c
		}
		return strings.Compare(a.ref.id, b.ref.id)
	})
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PROJECT\tRUN\tSTATE\tWRITER\tSIZE\tPOINTS\tB/PT\tCREATED\tNAME")
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r.cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range rows {
		total += r.size
		points += r.points
	}
	fmt.Fprintf(e.stdout, "\n%s in %s, %s, %s\n", plural(len(rows), "run"), plural(len(projects), "project"), humanBytes(total), plural(int(points), "point"))
	for i, n := range notes {
		fmt.Fprintf(e.stdout, "[%d] %s\n", i+1, n)
	}
	return nil
}

// lsOne reads one run for the table. A run that does not open is a row
// in state unreadable and a note saying why.
func lsOne(ref runRef) (lsRow, string) {
	size, _ := dirSize(ref.dir)
	row := lsRow{ref: ref, size: size}
	rd, err := engine.OpenReader(ref.dir, nil)
	if err != nil {
		row.cells = []string{ref.project, sanitize(ref.id), "unreadable", "-", humanBytes(size), "-", "-", "-", ""}
		return row, fmt.Sprintf("%s/%s: %v", ref.project, sanitize(ref.id), err)
	}
	defer rd.Close()
	row.ok = true
	meta := rd.Meta()
	state, ws, werr := run.DeriveState(rd)
	var note string
	writer, live := liveWriters(ws)
	if werr != nil {
		note = fmt.Sprintf("%s/%s: writers: %v", ref.project, sanitize(ref.id), werr)
	}
	for _, w := range ws {
		if w.Err != nil && note == "" {
			note = fmt.Sprintf("%s/%s: %s: %v", ref.project, sanitize(ref.id), engine.LockFileNameOf(w.ID), w.Err)
		}
	}
	rep := rd.Report()
	if live {
		rep.Torn = nil // a block the live writer is writing now
	}
	if !rep.Clean() && note == "" {
		note = fmt.Sprintf("%s/%s: %s (see 'gsinspect info')", ref.project, sanitize(ref.id), damageSummary(rep))
	}
	pts := seriesPoints(rd)
	row.points = pts
	bpp := "-"
	if pts > 0 {
		bpp = fmt.Sprintf("%.2f", float64(size)/float64(pts))
	}
	row.created = parseMetaTime(meta, metaCreatedAt)
	created := "-"
	if !row.created.IsZero() {
		created = row.created.UTC().Format("2006-01-02 15:04")
	}
	row.cells = []string{
		ref.project, sanitize(ref.id), stateText(state), writer,
		humanBytes(size), fmt.Sprint(pts), bpp, created, sanitize(meta[metaName].Val),
	}
	return row, note
}
