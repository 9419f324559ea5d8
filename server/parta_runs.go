package server

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/run"
	"github.com/goodseed/goodseed-go/segment"
	"github.com/goodseed/goodseed-go/series"
)

// paDamageHeader names, on a response that skipped damaged data, what was
// skipped. The response holds everything else that verified; damaged bytes
// are never served (DESIGN.md, reliability contract).
const paDamageHeader = "X-Goodseed-Damage"

// projects serves GET /api/projects.
func (a *partA) projects(w http.ResponseWriter) error {
	ents, err := a.cat.scan()
	if err != nil {
		return err
	}
	b := []byte(`{"projects": [`)
	for i, p := range catProjects(ents) {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, `{"name": `...)
		b = paString(b, p.Name)
		b = append(b, `, "run_count": `...)
		b = strconv.AppendInt(b, int64(p.RunCount), 10)
		b = append(b, `, "last_modified": `...)
		if p.LastModified.IsZero() {
			b = append(b, "null"...)
		} else {
			b = paString(b, paISO(p.LastModified))
		}
		b = append(b, '}')
	}
	paWriteBody(w, http.StatusOK, append(b, "]}"...))
	return nil
}

// runs serves GET /api/runs[?project=P]. Runs that cannot be read are left
// out, as the Python server leaves them out.
func (a *partA) runs(w http.ResponseWriter, project string) error {
	ents, err := a.cat.scan()
	if err != nil {
		return err
	}
	b := make([]byte, 0, 256*len(ents)+16)
	b = append(b, `{"runs": [`...)
	first := true
	for _, e := range ents {
		if project != "" && e.key.project != project {
			continue
		}
		e.mu.Lock()
		if e.sum.Err != nil {
			e.mu.Unlock()
			continue
		}
		if e.enc == nil || e.encLive != e.live {
			e.enc, e.encLive = paAppendRun(nil, e.summaryLocked()), e.live
		}
		if !first {
			b = append(b, ", "...)
		}
		first = false
		b = append(b, e.enc...)
		e.mu.Unlock()
	}
	paWriteBody(w, http.StatusOK, append(b, "]}"...))
	return nil
}

// paAppendRun appends one element of /api/runs. status is running, finished
// or failed, the values the web UI knows; a crashed run (it says running
// but no writer holds its LOCK) is "failed" with "crashed": true, a field
// the Python server does not have.
func paAppendRun(b []byte, s RunSummary) []byte {
	status, crashed := string(s.Status), false
	if s.Status == run.StatusCrashed {
		status, crashed = string(run.StatusFailed), true
	}
	b = append(b, `{"project": `...)
	b = paString(b, s.Project)
	b = append(b, `, "run_id": `...)
	b = paString(b, s.RunID)
	b = append(b, `, "experiment_name": `...)
	b = paNullable(b, s.Name)
	b = append(b, `, "created_at": `...)
	b = paTimeOrRaw(b, s.Created, s.CreatedRaw)
	b = append(b, `, "closed_at": `...)
	b = paTimeOrRaw(b, s.Closed, s.ClosedRaw)
	b = append(b, `, "status": `...)
	b = paNullable(b, status)
	b = append(b, `, "crashed": `...)
	b = paBool(b, crashed)
	b = append(b, `, "trashed": `...)
	b = paBool(b, s.Trashed)
	b = append(b, `, "string_series_paths": `...)
	b = paStrings(b, s.StringPaths)
	b = append(b, `, "metric_paths": `...)
	b = paStrings(b, s.MetricPaths)
	return append(b, '}')
}

// paTimeOrRaw appends t as an ISO string; a meta value that did not
// parse as a time is passed on as recorded; none is null.
func paTimeOrRaw(b []byte, t time.Time, raw string) []byte {
	if !t.IsZero() {
		return paString(b, paISO(t))
	}
	return paNullable(b, raw)
}

// paConfigs serves GET .../configs: every config, typed, in the order the
// Python server gives (its SQLite rows: a config set again moves to the
// end), which the web UI shows: by the time each was set last, then by
// the order of those sets in the stream (one request's configs share a
// millisecond).
func paConfigs(w http.ResponseWriter, sr *catReader) error {
	cs := sr.rd.Configs()
	paths := make([]string, 0, len(cs))
	for p := range cs {
		paths = append(paths, p)
	}
	slices.SortFunc(paths, func(a, b string) int {
		if c := cmp.Compare(cs[a].TimeMs, cs[b].TimeMs); c != 0 {
			return c
		}
		return cmp.Compare(cs[a].Order, cs[b].Order)
	})
	b := []byte(`{"configs": {`)
	for i, p := range paths {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = paString(b, p)
		b = append(b, ": "...)
		b = paValue(b, cs[p].Value)
	}
	paWriteBody(w, http.StatusOK, append(b, "}}"...))
	return nil
}

// paSeriesPaths returns the sorted paths of the series of kind holding at
// least one point.
func paSeriesPaths(rd *engine.Reader, kind engine.FieldKind) []string {
	var out []string
	for _, f := range rd.Fields() {
		if f.Kind != kind {
			continue
		}
		if s, ok := rd.Summary(f.Path, f.Kind); ok && s.Count > 0 {
			out = append(out, f.Path)
		}
	}
	slices.Sort(out)
	return out
}

// paMetricPaths serves GET .../metric-paths.
func paMetricPaths(w http.ResponseWriter, sr *catReader) error {
	b := append([]byte(`{"paths": `), paStrings(nil, paSeriesPaths(sr.rd, engine.KindMetric))...)
	paWriteBody(w, http.StatusOK, append(b, '}'))
	return nil
}

// paReadError sorts a read error: damage is reported in a header (the
// response holds everything else), anything else fails the request as a
// readFailure. A missing path or one of another kind holds no points.
func paReadError(w http.ResponseWriter, err error, damage *[]string) error {
	switch {
	case err == nil, errors.Is(err, engine.ErrNotFound), errors.Is(err, engine.ErrKindMismatch):
		return nil
	case isDamage(err):
		*damage = append(*damage, err.Error())
		return nil
	}
	return &readFailure{err}
}

// isDamage says whether a read error reports damage, from whichever layer
// found it: a block that fails its checksum (segment.ErrCorrupt), records
// that do not decode (engine.ErrCorrupt), data the run's records say was
// written and is gone (engine.LossError, which matches both). Both parts
// serve what verifies and signal the rest; neither fails the request.
func isDamage(err error) bool {
	return errors.Is(err, segment.ErrCorrupt) || errors.Is(err, engine.ErrCorrupt)
}

// readFailure is a read of a series that failed for a reason that is not
// damage, before anything of the response was written: a reader kept open
// across requests can meet one after its run changed under it in a way
// Refresh does not follow (a segment it had read removed or cut short),
// which a fresh reader reports as damage. Both parts retry such a read once
// on a fresh reader.
type readFailure struct{ err error }

func (e *readFailure) Error() string { return e.err.Error() }
func (e *readFailure) Unwrap() error { return e.err }

// damageLines turns damage errors into one line each (errors.Join's lines
// apart), once each, with the run directory taken off the paths: a client
// is told which file of the run, never where the server keeps it.
func damageLines(dir string, damage []string) []string {
	var msgs []string
	for _, d := range damage {
		for _, m := range strings.Split(d, "\n") { // errors.Join
			m = strings.ReplaceAll(m, dir+string(filepath.Separator), "")
			if !slices.Contains(msgs, m) {
				msgs = append(msgs, m)
			}
		}
	}
	return msgs
}

func paSetDamage(w http.ResponseWriter, dir string, damage []string) {
	if len(damage) == 0 {
		return
	}
	msgs := damageLines(dir, damage)
	msg := strings.Map(func(r rune) rune {
		if r < ' ' || r > '~' {
			return ' '
		}
		return r
	}, strings.Join(msgs, "; "))
	if len(msg) > 2000 {
		msg = msg[:2000] + "..."
	}
	w.Header().Set(paDamageHeader, msg)
}

// paMetrics serves GET .../metrics: every point of one series (path) or of
// all, ordered by path then step; or, with pointCount, one series
// downsampled.
func paMetrics(w http.ResponseWriter, r *http.Request, sr *catReader, q url.Values) error {
	path := q.Get("path")
	if q.Get("pointCount") != "" {
		if path == "" {
			return paErrorf(http.StatusBadRequest, "pointCount requires a path parameter")
		}
		return paDownsample(w, sr, q, path)
	}
	// Python validates these only with pointCount; http-api.md says a
	// non-integer one is 400, so they are checked here too.
	for _, name := range []string{"firstPointIndex", "lastPointIndex"} {
		if _, _, err := paIntParam(q, name); err != nil {
			return err
		}
	}
	paths := []string{path}
	if path == "" {
		paths = paSeriesPaths(sr.rd, engine.KindMetric)
	}
	cols := make([]series.MetricColumns, len(paths))
	var damage []string
	for i, p := range paths {
		if err := paReadError(w, sr.rd.ReadMetric(p, &cols[i]), &damage); err != nil {
			return err
		}
	}
	paSetDamage(w, sr.rd.Dir(), damage)
	return paStream(w, r, `{"metrics": [`, "]}", func(bw *bufio.Writer, buf []byte) []byte {
		var ts paTimes
		first := true
		for i, p := range paths {
			prefix := paString(append([]byte(nil), `{"path": `...), p)
			prefix = append(prefix, `, "step": `...)
			c := &cols[i]
			for j := range c.Steps {
				if !first {
					buf = append(buf, ", "...)
				}
				first = false
				buf = append(buf, prefix...)
				buf = paFloat(buf, c.Steps[j])
				buf = append(buf, `, "value": `...)
				buf = paFloat(buf, c.Values[j])
				buf = append(buf, `, "logged_at": `...)
				buf = ts.append(buf, c.TimesMs[j])
				buf = append(buf, '}')
				if len(buf) > 32<<10 {
					_, _ = bw.Write(buf)
					buf = buf[:0]
				}
			}
		}
		return buf
	})
}

// paStream writes head, the elements fill appends, and tail, through
// a buffer, so a response of millions of points is never held whole.
func paStream(w http.ResponseWriter, r *http.Request, head, tail string, fill func(*bufio.Writer, []byte) []byte) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return nil
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	buf := make([]byte, 0, 40<<10)
	buf = append(buf, head...)
	buf = fill(bw, buf)
	buf = append(buf, tail...)
	_, _ = bw.Write(buf)
	_ = bw.Flush()
	return nil
}

// paDownsample serves .../metrics?path=P&pointCount=N[&firstPointIndex=i&lastPointIndex=j]
// with the engine's implementation of the power-of-two bucketing of
// http-api.md. Where the Python server answers an edge differently from the
// engine's Downsample, the Python server's answer is kept:
//
//   - a path with no points (or none at all) is {"points": [],
//     "firstPointIndex": 0, "lastPointIndex": 0, "totalCount": 0,
//     "downsampled": false}, whatever the window asked;
//   - a negative lastPointIndex is an empty window reported as asked (the
//     engine reads last < 0 as "to the end");
//
// and pointCount below 1, for which the algorithm has no answer (Python
// loops forever), is 400.
func paDownsample(w http.ResponseWriter, sr *catReader, q url.Values, path string) error {
	n, _, err := paIntParam(q, "pointCount")
	if err != nil {
		return err
	}
	if n < 1 {
		return paErrorf(http.StatusBadRequest, "pointCount must be a positive integer, not %d", n)
	}
	first, _, err := paIntParam(q, "firstPointIndex")
	if err != nil {
		return err
	}
	last, hasLast, err := paIntParam(q, "lastPointIndex")
	if err != nil {
		return err
	}
	if !hasLast {
		last = -1 // to the end
	}
	var res series.DownResult
	var damage []string
	if hasLast && last < 0 {
		// An empty window: ask only for the count (first > last).
		res, err = sr.rd.Downsample(path, math.MaxInt, math.MaxInt-1, n)
		res.FirstPointIndex, res.LastPointIndex, res.Points, res.Downsampled = max(first, 0), last, nil, false
	} else {
		res, err = sr.rd.Downsample(path, first, last, n)
	}
	if err := paReadError(w, err, &damage); err != nil {
		return err
	}
	paSetDamage(w, sr.rd.Dir(), damage)
	if res.TotalCount == 0 {
		res = series.DownResult{}
	}
	b := make([]byte, 0, 160*len(res.Points)+128)
	b = append(b, `{"points": [`...)
	var ts paTimes
	prefix := paString([]byte(`{"path": `), path)
	prefix = append(prefix, `, "step": `...)
	for i, p := range res.Points {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, prefix...)
		b = paFloat(b, p.Step)
		b = append(b, `, "value": `...)
		b = paFloat(b, p.Value)
		b = append(b, `, "minY": `...)
		b = paFloat(b, p.MinY)
		b = append(b, `, "maxY": `...)
		b = paFloat(b, p.MaxY)
		b = append(b, `, "downsampled": `...)
		b = paBool(b, p.Downsampled)
		b = append(b, `, "logged_at": `...)
		b = ts.append(b, p.TimeMs)
		b = append(b, '}')
	}
	b = append(b, `], "firstPointIndex": `...)
	b = strconv.AppendInt(b, int64(res.FirstPointIndex), 10)
	b = append(b, `, "lastPointIndex": `...)
	b = strconv.AppendInt(b, int64(res.LastPointIndex), 10)
	b = append(b, `, "totalCount": `...)
	b = strconv.AppendInt(b, int64(res.TotalCount), 10)
	b = append(b, `, "downsampled": `...)
	b = paBool(b, res.Downsampled)
	paWriteBody(w, http.StatusOK, append(b, '}'))
	return nil
}

// paStringPoint is one entry of .../string_series.
type paStringPoint struct {
	path   string
	step   float64
	value  string
	timeMs int64
}

// paStringSeries serves GET .../string_series[?path=P][&limit=L&offset=O][&tail=T]:
// the points of one string series or of all, ordered by path then step;
// total counts them before paging. tail=T returns the last T in ascending
// order and overrides limit and offset; offset applies with or without
// limit. Negative values are 400.
func paStringSeries(w http.ResponseWriter, r *http.Request, sr *catReader, q url.Values) error {
	var p [3]int
	var has [3]bool
	for i, name := range []string{"limit", "offset", "tail"} {
		v, ok, err := paIntParam(q, name)
		if err != nil {
			return err
		}
		if v < 0 {
			return paErrorf(http.StatusBadRequest, "%s must not be negative, not %d", name, v)
		}
		p[i], has[i] = v, ok
	}
	limit, offset, tail := p[0], p[1], p[2]
	path := q.Get("path")
	paths := []string{path}
	if path == "" {
		paths = paSeriesPaths(sr.rd, engine.KindString)
	}
	var all []paStringPoint
	var damage []string
	for _, sp := range paths {
		var c series.StringColumns
		if err := paReadError(w, sr.rd.ReadString(sp, &c), &damage); err != nil {
			return err
		}
		for i := range c.Steps {
			all = append(all, paStringPoint{sp, c.Steps[i], c.Values[i], c.TimesMs[i]})
		}
	}
	paSetDamage(w, sr.rd.Dir(), damage)
	total := len(all)
	page := all
	switch {
	case has[2]:
		page = all[max(0, total-tail):]
	default:
		page = all[min(offset, total):]
		if has[0] {
			page = page[:min(limit, len(page))]
		}
	}
	return paStream(w, r, `{"string_series": [`, "}", func(bw *bufio.Writer, buf []byte) []byte {
		var ts paTimes
		for i, e := range page {
			if i > 0 {
				buf = append(buf, ", "...)
			}
			buf = append(buf, `{"path": `...)
			buf = paString(buf, e.path)
			buf = append(buf, `, "step": `...)
			buf = paFloat(buf, e.step)
			buf = append(buf, `, "value": `...)
			buf = paString(buf, e.value)
			buf = append(buf, `, "logged_at": `...)
			buf = ts.append(buf, e.timeMs)
			buf = append(buf, '}')
			if len(buf) > 32<<10 {
				_, _ = bw.Write(buf)
				buf = buf[:0]
			}
		}
		buf = append(buf, `], "total": `...)
		return strconv.AppendInt(buf, int64(total), 10)
	})
}

// trash serves POST .../trash (on) and .../trash/restore (off).
//
// The flag is run meta "trashed" ("true" or "false"), recorded through the
// engine like every other fact of the run: append-only, checksummed, and
// kept by every copy, salvage and reader of the run. Recording it means
// opening the run for writing, which takes its LOCK; a run a live writer
// holds is therefore refused with 409 and a message naming the writer
// (trash it once it has finished). A crashed run is opened as a resume
// would open it: the torn tail its writer left is cut and kept aside, and
// the run stays crashed (its status is not touched). Nothing is ever
// deleted.
func (a *partA) trash(w http.ResponseWriter, rr paRunRequest, on bool) error {
	a.trashMu.Lock()
	defer a.trashMu.Unlock()
	key := catKey{rr.project, rr.id}
	sr, e, err := a.cat.acquire(key, rr.dir)
	if errors.Is(err, errCatNoRun) {
		return paErrorf(http.StatusNotFound, "Run not found: %s/%s", rr.project, rr.id)
	}
	if err != nil {
		return err
	}
	if e.pyDB != "" {
		sr.release()
		return paErrorf(http.StatusConflict, "Run %s/%s is a Python-written run (%s), served read-only: import it (goodseed import) to trash it", rr.project, rr.id, filepath.Base(e.pyDB))
	}
	want := strconv.FormatBool(on)
	cur := sr.rd.Meta()[catMetaTrashed].Val
	sr.release()
	if cur == want || (!on && cur == "") {
		paWriteBody(w, http.StatusOK, []byte(`{"ok": true}`))
		return nil
	}
	st, err := engine.Open(rr.dir, engine.Options{})
	if err != nil {
		var le *engine.LockedError
		if errors.As(err, &le) {
			o := le.Owner
			return paErrorf(http.StatusConflict, "run %s/%s is being written (pid %d on %s since %s): trash and restore wait until its writer has finished",
				rr.project, rr.id, o.PID, o.Host, paISO(o.Start))
		}
		if errors.Is(err, engine.ErrLocked) {
			return paErrorf(http.StatusConflict, "run %s/%s is being written: trash and restore wait until its writer has finished", rr.project, rr.id)
		}
		return fmt.Errorf("open run %s/%s to record trashed: %w", rr.project, rr.id, err)
	}
	err = st.SetMeta(catMetaTrashed, want)
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	a.cat.invalidate(e)
	if err != nil {
		return fmt.Errorf("record trashed in run %s/%s: %w", rr.project, rr.id, err)
	}
	paWriteBody(w, http.StatusOK, []byte(`{"ok": true}`))
	return nil
}
