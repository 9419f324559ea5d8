package main

import (
	"cmp"
	"flag"
	"fmt"
	"maps"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/internal/vfs"
	"github.com/goodseed/goodseed-go/run"
	"github.com/goodseed/goodseed-go/series"
)

type tailOpts struct {
	follow   bool
	n        int
	interval time.Duration
	paths    pathList
}

func init() {
	register(&command{
		name:    "tail",
		args:    "RUN [--follow] [-n N] [--interval D] [--path P]...",
		summary: "the last points of each series; with --follow, new points and lines as a live writer flushes them",
		example: "gsinspect tail vision/bold-falcon -n 3\n" +
			"gsinspect tail vision/bold-falcon --follow --path train/loss --path notes\n\n" +
			"Lines read:\n" +
			"  train/loss  step 1234  0.4321  (12:00:01.234)\n" +
			"path, step, value (a string series' text, escaped) and the UTC time it was\n" +
			"logged. Without --follow: the last N points of each series (or of the\n" +
			"--path ones), series by path, points by step, the last write of a step\n" +
			"winning. --follow then polls the run every --interval and prints every\n" +
			"point written since, once, in the order of their times, until the writer\n" +
			"closes the run (\"run <id> closed: finished\", exit 0), the writer is gone\n" +
			"without closing it (\"... crashed\"), or gsinspect is interrupted. --follow\n" +
			"prints writes, not merged series: a step written again shows again with\n" +
			"its new value ('dump' shows the series with the last write winning).",
		flags: func(fs *flag.FlagSet) any {
			o := &tailOpts{}
			fs.BoolVar(&o.follow, "follow", false, "keep printing new points until the run closes")
			fs.IntVar(&o.n, "n", 10, "print the last `N` points of each series first")
			fs.DurationVar(&o.interval, "interval", 500*time.Millisecond, "how often --follow looks for new points")
			fs.Var(&o.paths, "path", "only series `P` (repeatable)")
			return o
		},
		run: runTail,
	})
}

// tailer prints the points of one run.
type tailer struct {
	e       *env
	rd      *engine.Reader
	dir     string
	only    map[string]bool // the --path series; nil: all
	width   int             // path column
	damaged bool
	warned  map[string]bool // damage already reported
}

func (t *tailer) selected(f engine.FieldInfo) bool {
	return f.Kind != engine.KindConfig && (t.only == nil || t.only[f.Path])
}

func (t *tailer) line(path string, step float64, value string, timeMs int64) {
	t.width = max(t.width, utf8.RuneCountInString(path))
	fmt.Fprintf(t.e.stdout, "%-*s  step %s  %s  (%s)\n", t.width, path, num(step), value,
		time.UnixMilli(timeMs).UTC().Format("15:04:05.000"))
}

// warn reports damage once: a reader refreshing past a damaged block of
// a live segment finds it again on every poll.
func (t *tailer) warn(err error) {
	t.damaged = true
	msg := sanitize(err.Error())
	if t.warned[msg] {
		return
	}
	if t.warned == nil {
		t.warned = map[string]bool{}
	}
	t.warned[msg] = true
	fmt.Fprintf(t.e.stderr, "gsinspect tail: damaged blocks skipped: %s\n", msg)
}

func runTail(e *env, opts any, args []string) error {
	o := opts.(*tailOpts)
	if o.n < 0 {
		return usagef("-n %d: want 0 or more", o.n)
	}
	if o.interval <= 0 {
		return usagef("--interval %s: want a positive duration", o.interval)
	}
	dir, rd, err := e.openRun("tail", args)
	if err != nil {
		return err
	}
	defer rd.Close()
	t := &tailer{e: e, rd: rd, dir: dir}
	if len(o.paths) > 0 {
		t.only = map[string]bool{}
		for _, p := range o.paths {
			_, metric := rd.Lookup(p, engine.KindMetric)
			_, text := rd.Lookup(p, engine.KindString)
			_, config := rd.Lookup(p, engine.KindConfig)
			switch {
			case metric || text:
			case config:
				return fmt.Errorf("%q is a config, not a series: 'gsinspect dump --path %s' shows it", p, p)
			default:
				return fmt.Errorf("no field %q in run %s ('gsinspect fields' lists them)", p, sanitize(rd.RunID()))
			}
			t.only[p] = true
		}
	}
	// Each writer's index as of the last points printed: --follow prints
	// the blocks added to them from here on. The reader changes only on
	// Refresh.
	seen := map[uint32]int{}
	for w, ix := range rd.Indexes() {
		seen[w] = len(ix.Blocks)
	}
	var fields []engine.FieldInfo
	for _, f := range sortedFields(rd) {
		if t.selected(f) {
			fields = append(fields, f)
			t.width = max(t.width, utf8.RuneCountInString(sanitize(f.Path)))
		}
	}
	if err := t.last(fields, o.n); err != nil {
		return err
	}
	if o.follow {
		if err := t.follow(seen, o.interval); err != nil {
			return err
		}
	}
	if t.damaged {
		return errDamage
	}
	return nil
}

// last prints the last n points of each series.
func (t *tailer) last(fields []engine.FieldInfo, n int) error {
	var mc series.MetricColumns
	var sc series.StringColumns
	for _, f := range fields {
		if err := t.e.ctx.Err(); err != nil {
			return nil
		}
		path := sanitize(f.Path)
		var err error
		if f.Kind == engine.KindMetric {
			err = t.rd.ReadMetric(f.Path, &mc)
			for i := max(mc.Len()-n, 0); i < mc.Len(); i++ {
				t.line(path, mc.Steps[i], num(mc.Values[i]), mc.TimesMs[i])
			}
		} else {
			sc.Reset()
			err = t.rd.ReadString(f.Path, &sc)
			for i := max(sc.Len()-n, 0); i < sc.Len(); i++ {
				t.line(path, sc.Steps[i], sanitize(sc.Values[i]), sc.TimesMs[i])
			}
		}
		if err != nil {
			t.warn(err)
		}
	}
	return nil
}

// tailEvent is one point written, as --follow prints it.
type tailEvent struct {
	timeMs int64
	path   string
	step   float64
	value  string
}

// follow polls the run and prints the points of every block each
// writer's index gains past the ordinal seen holds for it (0 for a writer
// that joins later). A writer's block table only grows on Refresh (a
// replay appends the blocks it finds), so each block is read exactly once
// and every point written is printed exactly once; a block a writer has
// not finished writing (a torn tail, to a reader) is not in the table
// until a later Refresh finds it whole. It returns when no writer is live.
func (t *tailer) follow(seen map[uint32]int, interval time.Duration) error {
	br := newBlockReader(t.dir)
	defer br.close()
	corruptions := len(t.rd.Report().Corruptions)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var (
		mc     series.MetricColumns
		sc     series.StringColumns
		events []tailEvent
	)
	for {
		select {
		case <-t.e.ctx.Done():
			return nil
		case <-tick.C:
		}
		// Ask for the locks before refreshing: a writer that no longer
		// holds its lock has written everything it ever will, so when no
		// writer is live this refresh sees the run's last blocks.
		_, live, lerr := engine.AnyWriterLive(vfs.Default, t.dir)
		if err := t.rd.Refresh(); err != nil {
			return err
		}
		events = events[:0]
		indexes := t.rd.Indexes()
		for _, w := range slices.Sorted(maps.Keys(indexes)) {
			ix := indexes[w]
			fields := t.rd.StreamFields(w) // records name fields by the stream's own ids
			for ord := seen[w]; ord < len(ix.Blocks); ord++ {
				err := br.records(ix, uint32(ord), func(rec *engine.Record) error {
					if rec.Kind != engine.RecMetricChunk && rec.Kind != engine.RecStringChunk ||
						int(rec.Field) >= len(fields) || !t.selected(fields[rec.Field]) {
						return nil
					}
					path := sanitize(fields[rec.Field].Path)
					if rec.Kind == engine.RecMetricChunk {
						mc.Reset()
						if err := series.DecodeMetricChunk(rec.Chunk, &mc); err != nil {
							return err
						}
						for i := range mc.Len() {
							events = append(events, tailEvent{mc.TimesMs[i], path, mc.Steps[i], num(mc.Values[i])})
						}
						return nil
					}
					sc.Reset()
					if err := series.DecodeStringChunk(rec.Chunk, &sc); err != nil {
						return err
					}
					for i := range sc.Len() {
						events = append(events, tailEvent{sc.TimesMs[i], path, sc.Steps[i], sanitize(sc.Values[i])})
					}
					return nil
				})
				if err != nil {
					t.warn(fmt.Errorf("block %d: %w", ord, err))
				}
			}
			seen[w] = len(ix.Blocks)
		}
		// Blocks are in write order per writer; times order the points
		// across fields and writers. The sort is stable: points of one
		// millisecond keep their write order.
		slices.SortStableFunc(events, func(a, b tailEvent) int { return cmp.Compare(a.timeMs, b.timeMs) })
		for _, ev := range events {
			t.line(ev.path, ev.step, ev.value, ev.timeMs)
		}
		if c := t.rd.Report().Corruptions; len(c) > corruptions {
			for _, err := range c[corruptions:] {
				t.warn(err)
			}
			corruptions = len(c)
		}
		if lerr == nil && !live {
			id := sanitize(t.rd.RunID())
			state, _, _ := run.DeriveState(t.rd)
			if state == run.StatusCrashed {
				fmt.Fprintf(t.e.stdout, "run %s: writer gone without closing the run: crashed\n", id)
			} else if state == "" {
				fmt.Fprintf(t.e.stdout, "run %s closed: unknown\n", id)
			} else {
				fmt.Fprintf(t.e.stdout, "run %s closed: %s\n", id, sanitize(string(state)))
			}
			return nil
		}
	}
}
