package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/goodseed/goodseed-go/run"
)

// Part A, the local read API (docs/http-api.md, Part A): what the GoodSeed
// web UI reads. Every response carries the CORS headers; OPTIONS on any
// path is 204; errors are {"error": "<message>"} with 400, 404, 409 (a
// trash or restore of a run a live writer holds) or 500.
//
//	GET  /api/projects
//	GET  /api/runs[?project=P]
//	GET  /api/runs/<project>/<run>/configs
//	GET  /api/runs/<project>/<run>/metric-paths
//	GET  /api/runs/<project>/<run>/metrics[?path=P[&pointCount=N[&firstPointIndex=i&lastPointIndex=j]]]
//	GET  /api/runs/<project>/<run>/string_series[?path=P][&limit=L&offset=O][&tail=T]
//	POST /api/runs/<project>/<run>/trash
//	POST /api/runs/<project>/<run>/trash/restore
//
// <project> may hold one '/' (workspace/project); the run id is the last
// segment before the verb. The path is parsed from the request's escaped
// form: an encoded slash (%2F) or backslash (%5C) and a dot segment, plain
// or encoded, are refused (400) before anything touches the file system;
// each segment is then decoded once and checked with the run package's
// rules (400), and the run directory is resolved with Server.runDir, which
// refuses symlinks leading out of the home (404, as for a run that does not
// exist). Literal "." and ".." segments and "//" never get here: the
// server refuses them first (Server.serveHTTP, 400).
//
// The bytes are those of the Python server's json.dumps (parta_json.go).
// Where http-api.md leaves an answer open, the Python server's is kept; where
// it had none or a broken one, this is ours:
//
//   - /api/runs adds "crashed": a run that says running while no writer holds
//     its LOCK is "status": "failed" (the web UI knows running, finished and
//     failed) with "crashed": true; closed_at is null unless the run finished
//     or failed (a resumed run keeps its earlier closed_at in meta).
//   - configs with a string set (tags) or a datetime: a sorted array and an
//     ISO string (the Python server answers 500).
//   - trash and restore of a run a live writer holds: 409 (see partA.trash).
//   - an empty query value counts as absent (as in Python); pointCount below
//     1 is 400 (Python never answers); negative limit, offset or tail are
//     400; offset applies without limit too (Python ignores it then).
//   - a response that skipped damaged blocks says so in X-Goodseed-Damage;
//     damaged bytes are never served.

func init() {
	routeSetters = append(routeSetters, func(s *Server, mux *http.ServeMux) error {
		a := &partA{s: s}
		var err error
		if a.cat, err = newCatalog(s.projects); err != nil {
			return err
		}
		s.onClose(a.cat.close)
		// "/" takes every path Part B's /api/v1/ does not: Part A's routes,
		// OPTIONS anywhere, and the JSON 404 for the rest.
		mux.Handle("/", a)
		return nil
	})
}

// partA serves the local read API.
type partA struct {
	s   *Server
	cat *catalog

	// trashMu makes trash and restore take turns, so that two of them on
	// one run never race for its LOCK.
	trashMu sync.Mutex
}

// paError is an error with its HTTP status.
type paError struct {
	status int
	msg    string
}

func (e *paError) Error() string { return e.msg }

func paErrorf(status int, format string, args ...any) *paError {
	return &paError{status: status, msg: fmt.Sprintf(format, args...)}
}

// paSetCORS sets the CORS headers every Part A response carries.
func paSetCORS(h http.Header) {
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Content-Type")
}

// paWriteBody writes a JSON body built by hand.
func paWriteBody(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// paWriteError writes {"error": "<message>"}.
func paWriteError(w http.ResponseWriter, err error) {
	status, msg := http.StatusInternalServerError, err.Error()
	var ae *paError
	if errors.As(err, &ae) {
		status = ae.status
	}
	b := append([]byte(`{"error": `), paString(nil, msg)...)
	paWriteBody(w, status, append(b, '}'))
}

func (a *partA) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	paSetCORS(w.Header())
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if err := a.route(w, r); err != nil {
		paWriteError(w, err)
	}
}

var errPaNotFound = paErrorf(http.StatusNotFound, "Not found")

// route dispatches a request; an error it returns is written as the
// response.
func (a *partA) route(w http.ResponseWriter, r *http.Request) error {
	get := r.Method == http.MethodGet || r.Method == http.MethodHead
	raw := r.URL.EscapedPath()
	switch {
	case raw == "/api/projects":
		if !get {
			return paMethodError(r, "GET")
		}
		return a.projects(w)
	case raw == "/api/runs":
		if !get {
			return paMethodError(r, "GET")
		}
		q, err := paQuery(r)
		if err != nil {
			return err
		}
		return a.runs(w, q.Get("project"))
	case strings.HasPrefix(raw, "/api/runs/"):
		return a.runRoute(w, r, strings.TrimPrefix(raw, "/api/runs/"))
	}
	return errPaNotFound
}

func paMethodError(r *http.Request, allowed string) error {
	return paErrorf(http.StatusNotFound, "Not found: %s %s (use %s)", r.Method, r.URL.EscapedPath(), allowed)
}

// paQuery parses the query string; a malformed one is 400.
func paQuery(r *http.Request) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, paErrorf(http.StatusBadRequest, "malformed query string: %v", err)
	}
	return q, nil
}

// paRunRequest is a parsed /api/runs/<project>/<run>/<verb> request.
type paRunRequest struct {
	project, id, verb string
	dir               string
}

// Verbs of /api/runs/<project>/<run>/<verb>.
const (
	paVerbConfigs      = "configs"
	paVerbMetricPaths  = "metric-paths"
	paVerbMetrics      = "metrics"
	paVerbStringSeries = "string_series"
	paVerbTrash        = "trash"
	paVerbRestore      = "trash/restore"
)

// paParseRunPath splits the escaped rest of /api/runs/<rest> into project,
// run id and verb. It refuses encoded separators and dot segments, and
// decodes each segment once.
func paParseRunPath(rest string) (paRunRequest, error) {
	segs := strings.Split(rest, "/")
	var rr paRunRequest
	n := len(segs)
	switch {
	case n >= 2 && segs[n-2] == "trash" && segs[n-1] == "restore":
		rr.verb, segs = paVerbRestore, segs[:n-2]
	case n >= 1:
		switch segs[n-1] {
		case paVerbConfigs, paVerbMetricPaths, paVerbMetrics, paVerbStringSeries, paVerbTrash:
			rr.verb, segs = segs[n-1], segs[:n-1]
		}
	}
	if rr.verb == "" || len(segs) < 2 {
		return rr, errPaNotFound
	}
	dec := make([]string, len(segs))
	for i, s := range segs {
		low := strings.ToLower(s)
		if strings.Contains(low, "%2f") || strings.Contains(low, "%5c") {
			return rr, paErrorf(http.StatusBadRequest, "invalid path: encoded separator in %q", s)
		}
		d, err := url.PathUnescape(s)
		if err != nil {
			return rr, paErrorf(http.StatusBadRequest, "invalid path: %v", err)
		}
		if d == "" || d == "." || d == ".." {
			return rr, paErrorf(http.StatusBadRequest, "invalid path: empty or dot segment %q", s)
		}
		dec[i] = d
	}
	rr.project = strings.Join(dec[:len(dec)-1], "/")
	rr.id = dec[len(dec)-1]
	if err := run.ValidateProject(rr.project); err != nil {
		return rr, paErrorf(http.StatusBadRequest, "invalid project %q: %v", rr.project, err)
	}
	if err := run.ValidateRunID(rr.id); err != nil {
		return rr, paErrorf(http.StatusBadRequest, "invalid run id %q: %v", rr.id, err)
	}
	return rr, nil
}

// runRoute serves /api/runs/<project>/<run>/<verb>.
func (a *partA) runRoute(w http.ResponseWriter, r *http.Request, rest string) error {
	rr, err := paParseRunPath(rest)
	if err != nil {
		return err
	}
	post := rr.verb == paVerbTrash || rr.verb == paVerbRestore
	switch {
	case post && r.Method != http.MethodPost:
		return paMethodError(r, "POST")
	case !post && r.Method != http.MethodGet && r.Method != http.MethodHead:
		return paMethodError(r, "GET")
	}
	// Valid names that still resolve outside the home (a symlinked
	// project directory) are, for this API, runs that do not exist.
	if rr.dir, err = a.s.runDir(rr.project, rr.id); err != nil {
		return paErrorf(http.StatusNotFound, "Run not found: %s/%s", rr.project, rr.id)
	}
	q, err := paQuery(r)
	if err != nil {
		return err
	}
	switch rr.verb {
	case paVerbTrash, paVerbRestore:
		return a.trash(w, rr, rr.verb == paVerbTrash)
	}
	key := catKey{rr.project, rr.id}
	for retried := false; ; retried = true {
		sr, e, err := a.cat.acquire(key, rr.dir)
		if errors.Is(err, errCatNoRun) {
			return paErrorf(http.StatusNotFound, "Run not found: %s/%s", rr.project, rr.id)
		}
		if err != nil {
			return err
		}
		err = paServeRun(w, r, sr, rr.verb, q)
		sr.release()
		var rf *readFailure
		if retried || !errors.As(err, &rf) {
			return err
		}
		a.cat.reopen(e) // see readFailure; nothing was written yet
	}
}

// paServeRun serves a read verb of /api/runs/<project>/<run>/<verb>.
func paServeRun(w http.ResponseWriter, r *http.Request, sr *catReader, verb string, q url.Values) error {
	switch verb {
	case paVerbConfigs:
		return paConfigs(w, sr)
	case paVerbMetricPaths:
		return paMetricPaths(w, sr)
	case paVerbMetrics:
		return paMetrics(w, r, sr, q)
	case paVerbStringSeries:
		return paStringSeries(w, r, sr, q)
	}
	return errPaNotFound
}

// paIntParam reads an optional integer query parameter. An empty value counts
// as absent (as the Python server has it); anything else that is not a
// base-10 integer is 400.
func paIntParam(q url.Values, name string) (int, bool, error) {
	s := q.Get(name)
	if s == "" {
		return 0, false, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, false, paErrorf(http.StatusBadRequest, "%s must be an integer, not %q", name, s)
	}
	return v, true, nil
}
