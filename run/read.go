package run

import (
	"errors"
	"fmt"
	"time"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/series"
)

// Kind says what a path holds.
type Kind = engine.FieldKind

// Field kinds.
const (
	KindMetric = engine.KindMetric // a series of float64 points
	KindString = engine.KindString // a series of string points
	KindConfig = engine.KindConfig // one typed value (string sets included)
)

// FieldInfo names one field of a run and its kind.
type FieldInfo struct {
	Path string
	Kind Kind
}

// Point is one point of a metric series.
type Point struct {
	Step  float64
	Value float64
	Time  time.Time // when it was logged
}

// StringPoint is one point of a string series.
type StringPoint struct {
	Step  float64
	Value string
	Time  time.Time
}

// Info describes a run as a reader sees it.
type Info struct {
	ID      string
	Project string
	Name    string
	Dir     string
	// State is running, finished or failed as the run recorded it, or
	// crashed for a run that says running while no writer holds its lock.
	// A run of several writers is running while any writer is live, then
	// crashed if any stopped without closing, failed if any failed, and
	// finished when all closed (Writers says which writer is which).
	State   Status
	Created time.Time
	Closed  time.Time // zero unless closed
	// Writer is the owner record of the primary writer (host, pid, start,
	// heartbeat); WriterLive says whether any writer holds its lock now.
	Writer     engine.Owner
	WriterLive bool
	// Writers lists every writer of the run, the primary writer first:
	// several for a run that ranks Join.
	Writers []WriterState
}

// readable returns an error for a run that cannot be read.
func (r *Run) readable(op string) error {
	switch {
	case r.mode == modeDisabled:
		return fmt.Errorf("run %s: %s: %w: nothing is recorded", r.id, op, ErrDisabled)
	case r.closed.Load():
		return fmt.Errorf("run %s: %s: %w; open it with run.OpenReadOnly to read", r.id, op, ErrClosed)
	}
	return nil
}

// readErr wraps an error of a series read as wrap does, marked so that
// damage found by the segment package or by the engine matches ErrCorrupt
// and segment.ErrCorrupt alike.
func (r *Run) readErr(op, path string, err error) error {
	return markCorrupt(r.wrap(op, path, err))
}

// withReader runs fn on an up-to-date reader of the run. A writing run
// flushes first, so fn sees everything logged so far.
func (r *Run) withReader(op string, fn func(*engine.Reader) error) error {
	if err := r.readable(op); err != nil {
		return err
	}
	r.readMu.Lock()
	defer r.readMu.Unlock()
	if r.mode == modeWrite {
		if err := r.store.Flush(); err != nil {
			return r.wrap(op, "", err)
		}
		if r.reader == nil {
			rd, err := engine.OpenReader(r.dir, r.opts.Engine.FS)
			if err != nil {
				return r.wrap(op, "", err)
			}
			r.reader = rd
		} else if err := r.reader.Refresh(); err != nil {
			return r.wrap(op, "", err)
		}
	}
	return fn(r.reader)
}

// Refresh makes a read-only run see what its writer flushed since it was
// opened, and Recovery report what the reader found in it. Reads of a
// writing run are always current.
func (r *Run) Refresh() error {
	if r.mode != modeReadOnly {
		return nil
	}
	return r.withReader("refresh", func(rd *engine.Reader) error { return r.wrap("refresh", "", rd.Refresh()) })
}

// Exists reports whether path holds a config or a series.
func (r *Run) Exists(path string) bool {
	lookup := r.store.Lookup
	switch r.mode {
	case modeWrite:
	case modeReadOnly:
		r.readMu.Lock()
		defer r.readMu.Unlock()
		lookup = r.reader.Lookup
	default:
		return false
	}
	if _, ok := lookupAny(lookup, path); ok {
		return true
	}
	_, ok := lookupAny(lookup, normPath(path))
	return ok
}

// readPath is the path a read names: as given when the run holds it (a
// run a server stored for GoodSeed's client may hold "/x" or "a/"), else
// without leading and trailing '/', as this API writes paths.
func readPath(rd *engine.Reader, path string) string {
	if _, ok := lookupAny(rd.Lookup, path); ok {
		return path
	}
	return normPath(path)
}

// lookupAny returns path's field: its config, else its metric series,
// else its string series. Through this API a path holds one kind; a run a
// server stored for GoodSeed's client may hold all three at one path.
func lookupAny(lookup func(string, engine.FieldKind) (engine.FieldInfo, bool), path string) (engine.FieldInfo, bool) {
	for _, k := range [...]engine.FieldKind{engine.KindConfig, engine.KindMetric, engine.KindString} {
		if fi, ok := lookup(path, k); ok {
			return fi, true
		}
	}
	return engine.FieldInfo{}, false
}

// Get returns the current value at path: a config's value, the value at
// the greatest step of a metric series (as a float), or the text at the
// greatest step of a string series. A missing path is ErrNotFound.
//
// On damage to a string series, Get returns the text at the greatest step
// that still verifies together with an error matching ErrCorrupt that names
// the file and offset of each damaged block; the value may then be older
// than the one last logged.
func (r *Run) Get(path string) (Value, error) {
	var v Value
	err := r.withReader("get", func(rd *engine.Reader) error {
		path = readPath(rd, path)
		fi, ok := lookupAny(rd.Lookup, path)
		if !ok {
			return fmt.Errorf("run %s: get %q: %w", r.id, path, ErrNotFound)
		}
		switch fi.Kind {
		case engine.KindConfig:
			c, ok := rd.Configs()[path]
			if !ok {
				return fmt.Errorf("run %s: get %q: %w: the config was defined but never set", r.id, path, ErrNotFound)
			}
			v = c.Value
		case engine.KindMetric:
			s, ok := rd.Summary(path, engine.KindMetric)
			if !ok || s.Count == 0 {
				return fmt.Errorf("run %s: get %q: %w: the series has no points", r.id, path, ErrNotFound)
			}
			v = engine.Float(s.LastValue)
		case engine.KindString:
			var c series.StringColumns
			err := r.readErr("get", path, rd.ReadString(path, &c))
			if c.Len() == 0 {
				if err != nil {
					return err
				}
				return fmt.Errorf("run %s: get %q: %w: the series has no points", r.id, path, ErrNotFound)
			}
			v = engine.String(c.Values[c.Len()-1])
			return err
		}
		return nil
	})
	return v, err
}

// Metric reads a metric series: one point per step, ordered by step, the
// last write of a step winning.
//
// On damage, Metric returns the points that verify together with an error
// matching ErrCorrupt that names the file and offset of each damaged block:
// a damaged block costs only its own points, never the whole series.
func (r *Run) Metric(path string) ([]Point, error) {
	var c series.MetricColumns
	err := r.withReader("read metric", func(rd *engine.Reader) error {
		path = readPath(rd, path)
		return r.readErr("read metric", path, rd.ReadMetric(path, &c))
	})
	if err != nil && c.Len() == 0 {
		return nil, err
	}
	pts := make([]Point, c.Len())
	for i := range pts {
		pts[i] = Point{Step: c.Steps[i], Value: c.Values[i], Time: time.UnixMilli(c.TimesMs[i])}
	}
	return pts, err
}

// Strings reads a string series, ordered by step, the last write of a step
// winning.
//
// On damage, Strings returns the points that verify together with an error
// matching ErrCorrupt that names the file and offset of each damaged block,
// as Metric does.
func (r *Run) Strings(path string) ([]StringPoint, error) {
	var c series.StringColumns
	err := r.withReader("read strings", func(rd *engine.Reader) error {
		path = readPath(rd, path)
		return r.readErr("read strings", path, rd.ReadString(path, &c))
	})
	if err != nil && c.Len() == 0 {
		return nil, err
	}
	pts := make([]StringPoint, c.Len())
	for i := range pts {
		pts[i] = StringPoint{Step: c.Steps[i], Value: c.Values[i], Time: time.UnixMilli(c.TimesMs[i])}
	}
	return pts, err
}

// Fields lists every field of the run in the order they were defined.
func (r *Run) Fields() ([]FieldInfo, error) {
	var out []FieldInfo
	err := r.withReader("list fields", func(rd *engine.Reader) error {
		for _, f := range rd.Fields() {
			out = append(out, FieldInfo{Path: f.Path, Kind: f.Kind})
		}
		return nil
	})
	return out, err
}

// Configs returns every config value by path.
func (r *Run) Configs() (map[string]Value, error) {
	var out map[string]Value
	err := r.withReader("read configs", func(rd *engine.Reader) error {
		cs := rd.Configs()
		out = make(map[string]Value, len(cs))
		for p, c := range cs {
			out[p] = c.Value
		}
		return nil
	})
	return out, err
}

// Info describes the run: ids, name, times and its state, with crashed
// derived for a run that says running but has no live writer.
func (r *Run) Info() (Info, error) {
	var info Info
	err := r.withReader("info", func(rd *engine.Reader) error {
		meta := rd.Meta()
		info = Info{ID: r.id, Project: r.project, Name: meta[metaName].Val, Dir: r.dir, State: Status(meta[metaStatus].Val)}
		info.Created, _ = time.Parse(time.RFC3339Nano, meta[metaCreatedAt].Val)
		if m, ok := meta[metaClosedAt]; ok && info.State != StatusRunning {
			info.Closed, _ = time.Parse(time.RFC3339Nano, m.Val)
		}
		var err error
		info.Writer, info.WriterLive, err = rd.Owner()
		if err != nil && !errors.Is(err, engine.ErrCorrupt) {
			return r.wrap("info", "", err)
		}
		st, ws, err := deriveState(rd)
		if err != nil {
			return r.wrap("info", "", err)
		}
		info.Writers = ws
		for _, w := range ws {
			info.WriterLive = info.WriterLive || w.Live
		}
		if st != "" {
			info.State = st
		} else if info.State == StatusRunning && !info.WriterLive {
			info.State = StatusCrashed
		}
		return nil
	})
	return info, err
}
