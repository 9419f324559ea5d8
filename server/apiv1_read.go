package server

// Reads of /api/v1. NaN and infinities: JSON has none, so a metric value
// (or a bucket's min, max or avg) that is NaN, +Inf or -Inf is written as
// the string "NaN", "Infinity" or "-Infinity", as the local API does; the
// Python client hands them on as those strings (float() reads them back).

import (
	"encoding/json"
	"errors"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/internal/pyform"
	"github.com/goodseed/goodseed-go/internal/vfs"
	"github.com/goodseed/goodseed-go/run"
	"github.com/goodseed/goodseed-go/series"
)

// Reader cache tuning: readers of runs read recently stay open, so a read
// only replays the blocks written since (Refresh), not the whole run.
const (
	v1ReaderIdleTimeout = time.Minute
	v1MaxOpenReaders    = 64
)

type v1ReaderCache struct {
	mu        sync.Mutex
	m         map[string]*v1CachedReader
	closed    bool
	lastSweep time.Time
}

type v1CachedReader struct {
	dir     string
	r       *engine.Reader
	refs    int       // v1ReaderCache.mu
	lastUse time.Time // v1ReaderCache.mu
	evicted bool      // v1ReaderCache.mu: out of the map; closed by its last user
}

func newV1ReaderCache() *v1ReaderCache { return &v1ReaderCache{m: map[string]*v1CachedReader{}} }

// get returns an up-to-date reader of the run in dir; release it with put.
func (c *v1ReaderCache) get(dir string) (*v1CachedReader, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, errors.New("server: closing")
	}
	cr := c.m[dir]
	if cr != nil {
		cr.refs++
	}
	c.mu.Unlock()
	if cr != nil {
		if err := cr.r.Refresh(); err == nil {
			return cr, nil
		}
		c.evict(cr) // reopen below
		c.put(cr)
	}
	r, err := engine.OpenReader(dir, nil)
	if err != nil {
		return nil, err
	}
	cr = &v1CachedReader{dir: dir, r: r, refs: 1}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		_ = r.Close()
		return nil, errors.New("server: closing")
	}
	if old := c.m[dir]; old != nil {
		old.evicted = true
		if old.refs == 0 {
			defer old.r.Close()
		}
	}
	c.m[dir] = cr
	victims := c.sweepLocked()
	c.mu.Unlock()
	for _, v := range victims {
		_ = v.r.Close()
	}
	return cr, nil
}

func (c *v1ReaderCache) evict(cr *v1CachedReader) {
	c.mu.Lock()
	if !cr.evicted {
		cr.evicted = true
		if c.m[cr.dir] == cr {
			delete(c.m, cr.dir)
		}
	}
	c.mu.Unlock()
}

// put ends a use of cr.
func (c *v1ReaderCache) put(cr *v1CachedReader) {
	c.mu.Lock()
	cr.refs--
	cr.lastUse = time.Now()
	closeIt := cr.evicted && cr.refs == 0
	c.mu.Unlock()
	if closeIt {
		_ = cr.r.Close()
	}
}

// sweepLocked evicts idle readers past their time or past the cap and
// returns those to close.
func (c *v1ReaderCache) sweepLocked() []*v1CachedReader {
	now := time.Now()
	if len(c.m) <= v1MaxOpenReaders && now.Sub(c.lastSweep) < v1ReaderIdleTimeout/4 {
		return nil
	}
	c.lastSweep = now
	var victims []*v1CachedReader
	for dir, cr := range c.m {
		if cr.refs == 0 && now.Sub(cr.lastUse) > v1ReaderIdleTimeout {
			cr.evicted = true
			delete(c.m, dir)
			victims = append(victims, cr)
		}
	}
	for len(c.m) > v1MaxOpenReaders {
		var lru *v1CachedReader
		for _, cr := range c.m {
			if cr.refs == 0 && (lru == nil || cr.lastUse.Before(lru.lastUse)) {
				lru = cr
			}
		}
		if lru == nil {
			break
		}
		lru.evicted = true
		delete(c.m, lru.dir)
		victims = append(victims, lru)
	}
	return victims
}

func (c *v1ReaderCache) close() error {
	c.mu.Lock()
	c.closed = true
	var idle []*v1CachedReader
	for dir, cr := range c.m {
		cr.evicted = true
		delete(c.m, dir)
		if cr.refs == 0 {
			idle = append(idle, cr)
		}
	}
	c.mu.Unlock()
	var errs []error
	for _, cr := range idle {
		errs = append(errs, cr.r.Close())
	}
	return errors.Join(errs...)
}

// openRun resolves the {id} parameter and returns a reader of the run:
// 404 when there is none.
func (v *apiV1) openRun(r *http.Request, g keyGrant) (runRef, *v1CachedReader, *apiError) {
	ref, dir, e := v.resolveRun(r, g)
	if e != nil {
		return runRef{}, nil, e
	}
	cr, err := v.readers.get(dir)
	if errors.Is(err, engine.ErrNotFound) {
		return runRef{}, nil, v1RunNotFound(ref)
	}
	if err != nil {
		return runRef{}, nil, v1ServerError(err)
	}
	return ref, cr, nil
}

// ---- GET /api/v1/runs/{id} ----

type v1ConfigJSON struct {
	Path      string `json:"path"`
	TypeTag   string `json:"type_tag"`
	Value     string `json:"value"`
	UpdatedAt string `json:"updated_at"`
}

type v1RunJSON struct {
	ID        string         `json:"id"`
	Workspace string         `json:"workspace"`
	Project   string         `json:"project"`
	RunID     string         `json:"run_id"`
	Name      string         `json:"name"`
	Status    string         `json:"status"`
	Live      bool           `json:"live"` // some writer holds its lock now
	CreatedAt string         `json:"created_at,omitempty"`
	ClosedAt  string         `json:"closed_at,omitempty"`
	Configs   []v1ConfigJSON `json:"configs"`
}

func (v *apiV1) getRun(w http.ResponseWriter, r *http.Request, g keyGrant) *apiError {
	ref, cr, e := v.openRun(r, g)
	if e != nil {
		return e
	}
	defer v.readers.put(cr)
	rd := cr.r
	meta := rd.Meta()
	// A run of several writers runs while any of them does; its status is
	// what its writers recorded together (run.RecordedState).
	_, live, _ := engine.AnyWriterLive(vfs.Default, rd.Dir())
	out := v1RunJSON{
		ID: ref.id(), Workspace: ref.ws, Project: ref.proj, RunID: ref.runID,
		Name: meta[v1MetaName].Val, Status: string(run.RecordedState(rd)), Live: live,
		CreatedAt: meta[v1MetaCreatedAt].Val, ClosedAt: meta[v1MetaClosedAt].Val,
		Configs: []v1ConfigJSON{},
	}
	cfgs := rd.Configs()
	for _, path := range slices.Sorted(maps.Keys(cfgs)) {
		c := cfgs[path]
		out.Configs = append(out.Configs, v1ConfigJSON{
			Path: path, TypeTag: c.Value.Type.String(), Value: pyform.Format(c.Value),
			UpdatedAt: pyform.FormatTime(time.UnixMilli(c.TimeMs)),
		})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// ---- GET /api/v1/runs/{id}/paths ----

type v1PathJSON struct {
	Path string `json:"path"`
	Type string `json:"type"`
}

func (v *apiV1) getPaths(w http.ResponseWriter, r *http.Request, g keyGrant) *apiError {
	_, cr, e := v.openRun(r, g)
	if e != nil {
		return e
	}
	defer v.readers.put(cr)
	out := []v1PathJSON{}
	for _, f := range cr.r.Fields() {
		switch f.Kind {
		case engine.KindMetric:
			out = append(out, v1PathJSON{f.Path, "metric"})
		case engine.KindString:
			out = append(out, v1PathJSON{f.Path, "string"})
		}
	}
	slices.SortFunc(out, func(a, b v1PathJSON) int { return strings.Compare(a.Path, b.Path) })
	writeJSON(w, http.StatusOK, out)
	return nil
}

// ---- GET /api/v1/runs/{id}/data/metrics ----

// v1SeriesPath returns the path query parameter naming a series of kind.
func v1SeriesPath(r *http.Request, rd *engine.Reader, kind engine.FieldKind) (string, *apiError) {
	q := r.URL.Query()
	if !q.Has("path") || q.Get("path") == "" {
		return "", v1BadRequest("the query parameter path is required")
	}
	path := q.Get("path")
	if _, ok := rd.Lookup(path, kind); !ok {
		what := "metric"
		if kind == engine.KindString {
			what = "string"
		}
		return "", &apiError{http.StatusNotFound, "Path.NotFound", "Series not found",
			"no " + what + " series " + v1Quote(path) + " in this run"}
	}
	return path, nil
}

// v1QueryFloat parses an optional finite number parameter.
func v1QueryFloat(r *http.Request, name string, def float64) (float64, *apiError) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, v1BadRequest("%s must be a number, not %s", name, v1Quote(s))
	}
	return f, nil
}

// v1QueryInt parses an optional integer parameter >= min.
func v1QueryInt(r *http.Request, name string, def, min int) (int, *apiError) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < min {
		return 0, v1BadRequest("%s must be an integer >= %d, not %s", name, min, v1Quote(s))
	}
	return n, nil
}

// readSeries runs read, a read of one series, on the run's reader, and says
// what it skipped for the "warnings" of the answer: damage, found by
// whichever layer (isDamage), is served as Part A serves it, what verifies
// with a warning per damaged file or block, the run directory taken off
// its paths. A read that fails otherwise is retried once on a fresh reader
// (see readFailure), then is a 500. read must reset what it fills.
func (v *apiV1) readSeries(cr *v1CachedReader, read func(*engine.Reader) error) ([]string, *apiError) {
	err := read(cr.r)
	if err != nil && !isDamage(err) {
		v.readers.evict(cr)
		fresh, ferr := v.readers.get(cr.dir)
		if ferr != nil {
			return nil, v1ServerError(err)
		}
		defer v.readers.put(fresh)
		err = read(fresh.r)
	}
	switch {
	case err == nil:
		return nil, nil
	case isDamage(err):
		return damageLines(cr.dir, []string{err.Error()}), nil
	}
	return nil, v1ServerError(err)
}

func (v *apiV1) getMetrics(w http.ResponseWriter, r *http.Request, g keyGrant) *apiError {
	_, cr, e := v.openRun(r, g)
	if e != nil {
		return e
	}
	defer v.readers.put(cr)
	path, e := v1SeriesPath(r, cr.r, engine.KindMetric)
	if e != nil {
		return e
	}
	lo, e := v1QueryFloat(r, "step_min", math.Inf(-1))
	if e != nil {
		return e
	}
	hi, e := v1QueryFloat(r, "step_max", math.Inf(1))
	if e != nil {
		return e
	}
	maxPoints, e := v1QueryInt(r, "max_points", 0, 1)
	if e != nil {
		return e
	}
	var cols series.MetricColumns
	warnings, e := v.readSeries(cr, func(rd *engine.Reader) error { return rd.ReadMetricRange(path, lo, hi, &cols) })
	if e != nil {
		return e
	}
	out := make([]byte, 0, 64+cols.Len()*32)
	out = append(out, `{"path":`...)
	out = v1AppendString(out, path)
	if maxPoints == 0 || cols.Len() <= maxPoints {
		out = append(out, `,"downsampled":false,"raw_points":[`...)
		for i := range cols.Len() {
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, `{"step":`...)
			out = v1AppendFloat(out, cols.Steps[i])
			out = append(out, `,"y":`...)
			out = v1AppendFloat(out, cols.Values[i])
			out = append(out, '}')
		}
	} else {
		out = append(out, `,"downsampled":true,"buckets":[`...)
		for i, b := range series.BucketByStep(&cols, maxPoints) {
			if i > 0 {
				out = append(out, ',')
			}
			out = append(out, `{"step_min":`...)
			out = v1AppendFloat(out, b.StepMin)
			out = append(out, `,"step_max":`...)
			out = v1AppendFloat(out, b.StepMax)
			out = append(out, `,"min":`...)
			out = v1AppendFloat(out, b.Min)
			out = append(out, `,"max":`...)
			out = v1AppendFloat(out, b.Max)
			out = append(out, `,"avg":`...)
			out = v1AppendFloat(out, b.Avg)
			out = append(out, `,"count":`...)
			out = strconv.AppendInt(out, int64(b.Count), 10)
			out = append(out, '}')
		}
	}
	out = append(out, ']')
	if len(warnings) > 0 {
		out = append(out, `,"warnings":[`...)
		for i, s := range warnings {
			if i > 0 {
				out = append(out, ',')
			}
			out = v1AppendString(out, s)
		}
		out = append(out, ']')
	}
	out = append(out, "}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
	return nil
}

// v1AppendFloat writes f as a JSON number, or as "NaN", "Infinity" or
// "-Infinity" (see the file comment), in encoding/json's number format.
func v1AppendFloat(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(b, `"-Infinity"`...)
	}
	abs := math.Abs(f)
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		return strconv.AppendFloat(b, f, 'e', -1, 64)
	}
	return strconv.AppendFloat(b, f, 'f', -1, 64)
}

// v1AppendString writes s as a JSON string.
func v1AppendString(b []byte, s string) []byte {
	q, _ := json.Marshal(s)
	return append(b, q...)
}

// ---- GET /api/v1/runs/{id}/data/strings ----

type v1StringPointJSON struct {
	Step  float64 `json:"step"`
	Value string  `json:"value"`
}

type v1StringsJSON struct {
	Points   []v1StringPointJSON `json:"points"`
	Total    int                 `json:"total"`
	Warnings []string            `json:"warnings,omitempty"`
}

func (v *apiV1) getStrings(w http.ResponseWriter, r *http.Request, g keyGrant) *apiError {
	_, cr, e := v.openRun(r, g)
	if e != nil {
		return e
	}
	defer v.readers.put(cr)
	path, e := v1SeriesPath(r, cr.r, engine.KindString)
	if e != nil {
		return e
	}
	limit, e := v1QueryInt(r, "limit", -1, 0)
	if e != nil {
		return e
	}
	offset, e := v1QueryInt(r, "offset", 0, 0)
	if e != nil {
		return e
	}
	var cols series.StringColumns
	warnings, e := v.readSeries(cr, func(rd *engine.Reader) error {
		cols.Reset()
		return rd.ReadString(path, &cols)
	})
	if e != nil {
		return e
	}
	out := v1StringsJSON{Points: []v1StringPointJSON{}, Total: cols.Len(), Warnings: warnings}
	lo := min(offset, cols.Len())
	hi := cols.Len()
	if limit >= 0 {
		hi = min(hi, lo+limit)
	}
	for i := lo; i < hi; i++ {
		out.Points = append(out.Points, v1StringPointJSON{cols.Steps[i], cols.Values[i]})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
