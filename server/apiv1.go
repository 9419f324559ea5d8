package server

// Part B: the remote API under /api/v1 that GoodSeed's Python client syncs
// to with storage="cloud" (docs/http-api.md, Part B).
//
// Routes (every one needs "Authorization: Bearer <key>"; 401 without a
// known key, 403 for a workspace the key does not grant):
//
//	GET  /api/v1/auth/me                                   200 {"name": <default workspace>}
//	POST /api/v1/runs                                      200 {"id": <remote id>, "created": bool}
//	POST /api/v1/runs/{id}/configs                         204
//	POST /api/v1/runs/{id}/ingest                          200 {"points": n}
//	POST /api/v1/runs/{id}/status                          204
//	POST /api/v1/runs/{id}/heartbeat                       204
//	GET  /api/v1/runs/{id}                                 200 run fields + configs
//	GET  /api/v1/runs/{id}/paths                           200 [{"path", "type"}]
//	GET  /api/v1/runs/{id}/data/metrics?path=...           200 raw points or buckets
//	GET  /api/v1/runs/{id}/data/strings?path=...           200 {"points", "total"}
//	GET  /api/v1/workspaces                                200 [{"id", "role"}]
//	GET  /api/v1/workspaces/{ws}/projects                  200 [{"name"}]
//	POST /api/v1/workspaces/{ws}/projects                  200 {"name"}
//	GET  /api/v1/workspaces/{ws}/projects/{project}/runs   200 [{"run_id", ...}]
//
// Errors are {"error_code", "title", "detail"}: 400 Request.Invalid (a
// malformed body, parameter or id), 401 Auth.InvalidKey, 403 Auth.Forbidden,
// 404 Run.NotFound / Project.NotFound / Path.NotFound / Route.NotFound,
// 409 Run.Locked (another process writes the run), 413 Request.TooLarge
// (a body, or its gzip expansion, over MaxBodyBytes), 415
// Request.UnsupportedMediaType, 500 Server.StorageError (the client
// retries), 503 Server.Closing.
//
// # Remote ids
//
// The remote id of a run is "<workspace>~<project>~<run_id>". None of the
// three names may contain '~' (run.ValidateProject and run.ValidateRunID
// allow letters, digits, '_', '-' and, in project names, '.'), so the id
// splits back into exactly one (workspace, project, run_id), and each part
// is validated again on every request before it names a directory. The id
// is a pure function of the names: the same run always gets the same id,
// across retries, resumes and server restarts, with no registry to keep
// consistent, lose or corrupt. '~' is an unreserved URL character, so the
// id travels in a path segment unescaped. Knowing an id grants nothing:
// every request is authorized against the id's workspace.
//
// # Writing
//
// Ingested runs live in <home>/projects/<workspace>/<project>/runs/<run_id>
// (project "workspace/project" for the run package) and are normal runs,
// written by the engine with this server as their one writer: Part A,
// gsinspect and run.OpenReadOnly read them like local runs. The server keeps
// one engine.Store open per run being written (writerPool): POST runs
// creates the run and records its meta and sys/ fields as the run package
// does; later writes reopen it with engine.Open (resume) when it is not
// open. A run whose LOCK another process holds answers 409. Requests on one
// run are serialized; different runs are written in parallel.
//
// Durability: configs and ingest flush the run before answering success,
// so a batch the client saw acknowledged survives a crash of the server
// process (not a power loss: that needs an fsync, which the final status
// does). A failed or unacknowledged batch is resent by the client; since
// last write wins per (path, step), a resent batch overwrites itself and
// never duplicates. Validation happens before anything is written: a 400
// means nothing of that request was stored.
//
// A writer idle for writerIdleTimeout is closed (LOCK released), so a
// client that went away leaves its run looking crashed to readers, as a
// killed local process does, and a local process may resume it; the next
// write reopens it. Status finished or failed closes the run at once
// (fsync, index, LOCK released). Server.Close closes every writer.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/internal/pyform"
	"github.com/goodseed/goodseed-go/run"
)

func init() { routeSetters = append(routeSetters, setAPIv1Routes) }

// Run meta keys and states, as the run package records them.
const (
	v1MetaRunID      = "run_id"
	v1MetaProject    = "project"
	v1MetaCreatedAt  = "created_at"
	v1MetaModifiedAt = "modified_at"
	v1MetaStatus     = "status"
	v1MetaName       = "name"
	v1MetaClosedAt   = "closed_at"
	v1MetaFailure    = "failure_reason"

	// A joined writer's own (run/join.go), for a writer a client names.
	v1MetaWriterName      = "writer_name"
	v1MetaWriterStatus    = "writer_status"
	v1MetaWriterStartedAt = "writer_started_at"
	v1MetaWriterClosedAt  = "writer_closed_at"
	v1MetaWriterFailure   = "writer_failure_reason"

	v1StateRunning  = "running"
	v1StateFinished = "finished"
	v1StateFailed   = "failed"
)

// Our request headers beyond the Python client's (the Go syncer sends
// them; a client that does not gets the behaviour it always had).
const (
	// v1HeaderWriter names the writer of a run that sent the request (a
	// rank): its points, configs and status go to that writer's own
	// stream, kept apart from the others' as on the client's disk.
	v1HeaderWriter = "X-Goodseed-Writer"
	// v1HeaderStream and v1HeaderRange say which stream an ingest comes
	// from (an opaque origin the client derives) and which byte range of
	// it the points are (start-end, each "seq.offset"): the server
	// remembers the end it stored and answers a range it already has
	// without storing it again, so a resend after a lost answer or a
	// client crash stores nothing twice.
	v1HeaderStream = "X-Goodseed-Stream"
	v1HeaderRange  = "X-Goodseed-Range"
)

// v1RemoteIDSep separates the parts of a remote id.
const v1RemoteIDSep = "~"

// apiV1 is Part B's state: keys, open writers, cached readers.
type apiV1 struct {
	s       *Server
	keys    *keyring
	writers *writerPool
	readers *v1ReaderCache
	// bodies bounds the request bodies being read and decoded at once: each
	// may take MaxBodyBytes of memory.
	bodies chan struct{}
}

// v1MaxBodiesInFlight bounds the bodies expanded, decoded and written at
// once. Each may hold MaxBodyBytes of raw body, as much expanded, and its
// decoded points (48 bytes each, at most ~1 M from a body of minimal
// protobuf points): about 100 MiB at worst, so four bound the server's
// ingest memory to about 400 MiB whatever the number of clients. On a
// 2-core machine more would not decode faster.
const v1MaxBodiesInFlight = 4

func setAPIv1Routes(s *Server, mux *http.ServeMux) error {
	if !s.opts.APIv1 {
		off := func(w http.ResponseWriter, r *http.Request) {
			writeAPIError(w, &apiError{http.StatusNotFound, "API.Disabled", "Not found",
				"the remote API /api/v1 is not enabled on this server"})
		}
		mux.HandleFunc("GET /api/v1/", off)
		mux.HandleFunc("POST /api/v1/", off)
		return nil
	}
	v := &apiV1{
		s:       s,
		keys:    newKeyring(s.opts.APIKeys),
		writers: newWriterPool(),
		readers: newV1ReaderCache(),
		bodies:  make(chan struct{}, v1MaxBodiesInFlight),
	}
	if len(v.keys.digests) == 0 {
		return errors.New("server: /api/v1 needs at least one non-empty API key")
	}
	s.onClose(v.close)

	h := v.handle
	mux.HandleFunc("GET /api/v1/auth/me", h(v.authMe))
	mux.HandleFunc("POST /api/v1/runs", h(v.createRun))
	mux.HandleFunc("POST /api/v1/runs/{id}/configs", h(v.postConfigs))
	mux.HandleFunc("POST /api/v1/runs/{id}/ingest", h(v.ingest))
	mux.HandleFunc("POST /api/v1/runs/{id}/status", h(v.postStatus))
	mux.HandleFunc("POST /api/v1/runs/{id}/heartbeat", h(v.heartbeat))
	mux.HandleFunc("GET /api/v1/runs/{id}", h(v.getRun))
	mux.HandleFunc("GET /api/v1/runs/{id}/paths", h(v.getPaths))
	mux.HandleFunc("GET /api/v1/runs/{id}/data/metrics", h(v.getMetrics))
	mux.HandleFunc("GET /api/v1/runs/{id}/data/strings", h(v.getStrings))
	mux.HandleFunc("GET /api/v1/workspaces", h(v.listWorkspaces))
	mux.HandleFunc("GET /api/v1/workspaces/{ws}/projects", h(v.listProjects))
	mux.HandleFunc("POST /api/v1/workspaces/{ws}/projects", h(v.createProject))
	mux.HandleFunc("GET /api/v1/workspaces/{ws}/projects/{project}/runs", h(v.listRuns))
	notFound := h(func(w http.ResponseWriter, r *http.Request, _ keyGrant) *apiError {
		return &apiError{http.StatusNotFound, "Route.NotFound", "Not found", "no such /api/v1 route"}
	})
	mux.HandleFunc("GET /api/v1/", notFound)
	mux.HandleFunc("POST /api/v1/", notFound)
	return nil
}

// close closes every writer and reader (registered with Server.onClose).
func (v *apiV1) close() error {
	return errors.Join(v.writers.close(), v.readers.close())
}

// apiError is an error answer: status and the body the client shows.
type apiError struct {
	status int
	code   string
	title  string
	detail string
}

func (e *apiError) Error() string { return e.code + ": " + e.detail }

func v1BadRequest(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "Request.Invalid", "Invalid request", fmt.Sprintf(format, args...)}
}

func v1ServerError(err error) *apiError {
	return &apiError{http.StatusInternalServerError, "Server.StorageError", "Storage error", err.Error()}
}

func v1RunNotFound(ref runRef) *apiError {
	return &apiError{http.StatusNotFound, "Run.NotFound", "Run not found",
		fmt.Sprintf("no run %s in project %s", v1Quote(ref.runID), v1Quote(ref.project()))}
}

type v1ErrorBody struct {
	ErrorCode string `json:"error_code"`
	Title     string `json:"title"`
	Detail    string `json:"detail"`
}

func writeAPIError(w http.ResponseWriter, e *apiError) {
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="goodseed"`)
	}
	writeJSON(w, e.status, v1ErrorBody{e.code, e.title, e.detail})
}

// v1Handler serves an authenticated request; a non-nil error is answered.
type v1Handler func(w http.ResponseWriter, r *http.Request, g keyGrant) *apiError

// handle authenticates, then serves.
func (v *apiV1) handle(h v1Handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		g, e := v.authenticate(r)
		if e == nil {
			e = h(w, r, g)
		}
		if e != nil {
			writeAPIError(w, e)
		}
	}
}

// runRef names a run of Part B.
type runRef struct{ ws, proj, runID string }

func (ref runRef) project() string { return ref.ws + "/" + ref.proj }
func (ref runRef) id() string      { return remoteID(ref.ws, ref.proj, ref.runID) }

// remoteID is the stable remote id of a run (see the file comment).
func remoteID(ws, proj, runID string) string {
	return ws + v1RemoteIDSep + proj + v1RemoteIDSep + runID
}

// parseRemoteID splits and validates a remote id.
func parseRemoteID(id string) (runRef, error) {
	parts := strings.Split(id, v1RemoteIDSep)
	if len(parts) != 3 {
		return runRef{}, fmt.Errorf("run id %s is not of the form workspace~project~run_id", v1Quote(id))
	}
	ref := runRef{parts[0], parts[1], parts[2]}
	if err := v1ValidateWorkspaceProject(ref.ws, ref.proj); err != nil {
		return runRef{}, err
	}
	if err := run.ValidateRunID(ref.runID); err != nil {
		return runRef{}, err
	}
	return ref, nil
}

// v1ValidateWorkspaceProject checks that ws and proj are one valid project
// segment each.
func v1ValidateWorkspaceProject(ws, proj string) error {
	if strings.Contains(ws, "/") || strings.Contains(proj, "/") {
		return fmt.Errorf("workspace %s and project %s may not contain '/'", v1Quote(ws), v1Quote(proj))
	}
	return run.ValidateProject(ws + "/" + proj)
}

// v1ValidateWorkspace checks a workspace name alone.
func v1ValidateWorkspace(ws string) error {
	if strings.Contains(ws, "/") {
		return fmt.Errorf("workspace %s may not contain '/'", v1Quote(ws))
	}
	return run.ValidateProject(ws)
}

// resolveRun parses the {id} path parameter, authorizes its workspace and
// resolves the run directory (validated, symlinks inside the home).
func (v *apiV1) resolveRun(r *http.Request, g keyGrant) (runRef, string, *apiError) {
	ref, err := parseRemoteID(r.PathValue("id"))
	if err != nil {
		return runRef{}, "", v1BadRequest("%v", err)
	}
	if e := v1Authorize(g, ref.ws); e != nil {
		return runRef{}, "", e
	}
	dir, err := v.s.runDir(ref.project(), ref.runID)
	if err != nil {
		return runRef{}, "", v1BadRequest("%v", err)
	}
	return ref, dir, nil
}

// projectDir resolves <home>/projects/<ws>/<proj> (or <home>/projects/<ws>
// when proj is empty) after validating the names.
func (v *apiV1) projectDir(ws, proj string) (string, error) {
	var err error
	if proj == "" {
		err = v1ValidateWorkspace(ws)
	} else {
		err = v1ValidateWorkspaceProject(ws, proj)
	}
	if err != nil {
		return "", err
	}
	dir := filepath.Join(v.s.projects, ws, proj)
	if err := v.s.inside(dir); err != nil {
		return "", err
	}
	return dir, nil
}

// v1MetaTime renders t as the run package does (ISO 8601, UTC, microseconds).
func v1MetaTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z07:00") }

// ---- auth/me, runs, status, heartbeat ----

func (v *apiV1) authMe(w http.ResponseWriter, r *http.Request, g keyGrant) *apiError {
	name := v.s.opts.DefaultWorkspace
	if name == "" && len(g.workspaces) > 0 {
		name = g.workspaces[0]
	}
	if name == "" {
		name = "default"
	}
	writeJSON(w, http.StatusOK, map[string]string{"name": name})
	return nil
}

// v1CreateRunBody is POST /api/v1/runs.
type v1CreateRunBody struct {
	Workspace      string  `json:"workspace"`
	Project        string  `json:"project"`
	RunID          string  `json:"run_id"`
	ExperimentName *string `json:"experiment_name"`
	CreatedAt      *string `json:"created_at"`
	ModifiedAt     *string `json:"modified_at"`
}

func (v *apiV1) createRun(w http.ResponseWriter, r *http.Request, g keyGrant) *apiError {
	var body v1CreateRunBody
	if e := v.readJSON(w, r, &body); e != nil {
		return e
	}
	if body.Workspace == "" || body.Project == "" || body.RunID == "" {
		return v1BadRequest("workspace, project and run_id are required")
	}
	if e := v1Authorize(g, body.Workspace); e != nil {
		return e
	}
	if err := v1ValidateWorkspaceProject(body.Workspace, body.Project); err != nil {
		return v1BadRequest("%v", err)
	}
	if err := run.ValidateRunID(body.RunID); err != nil {
		return v1BadRequest("%v", err)
	}
	ref := runRef{body.Workspace, body.Project, body.RunID}
	info := v1NewRunInfo{runID: ref.runID, project: ref.project(), created: time.Now()}
	if body.ExperimentName != nil {
		if err := run.ValidateName(*body.ExperimentName); err != nil {
			return v1BadRequest("experiment_name: %v", err)
		}
		info.name = *body.ExperimentName
	}
	if body.CreatedAt != nil && *body.CreatedAt != "" {
		t, err := pyform.ParseTime(*body.CreatedAt)
		if err != nil {
			return v1BadRequest("created_at: %v", err)
		}
		info.created = t
	}
	if body.ModifiedAt != nil && *body.ModifiedAt != "" {
		t, err := pyform.ParseTime(*body.ModifiedAt)
		if err != nil {
			return v1BadRequest("modified_at: %v", err)
		}
		info.modified = v1MetaTime(t)
	}
	dir, err := v.s.runDir(ref.project(), ref.runID)
	if err != nil {
		return v1BadRequest("%v", err)
	}
	created, e := v.writers.create(dir, info)
	if e != nil {
		return e
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": ref.id(), "created": created})
	return nil
}

// v1RecordCreation writes a new run's meta and sys/ fields as the run
// package does.
func v1RecordCreation(st *engine.Store, info v1NewRunInfo) error {
	errs := []error{
		st.SetMeta(v1MetaRunID, info.runID),
		st.SetMeta(v1MetaProject, info.project),
		st.SetMeta(v1MetaCreatedAt, v1MetaTime(info.created)),
		st.SetMeta(v1MetaStatus, v1StateRunning),
		st.SetMeta(v1MetaName, info.name),
		st.SetConfig(run.PathID, engine.String(info.runID)),
		st.SetConfig(run.PathCreationTime, engine.Time(info.created)),
		st.SetConfig(run.PathState, engine.String(v1StateRunning)),
	}
	if info.name != "" {
		errs = append(errs, st.SetConfig(run.PathName, engine.String(info.name)))
	}
	if info.modified != "" {
		errs = append(errs, st.SetMeta(v1MetaModifiedAt, info.modified))
	}
	return errors.Join(errs...)
}

type v1StatusBody struct {
	Status string `json:"status"`
	// FailureReason is ours: what a failed run (or rank) gave.
	FailureReason string `json:"failure_reason,omitempty"`
}

func (v *apiV1) postStatus(w http.ResponseWriter, r *http.Request, g keyGrant) *apiError {
	ref, dir, e := v.resolveRun(r, g)
	if e != nil {
		return e
	}
	var body v1StatusBody
	if e := v.readJSON(w, r, &body); e != nil {
		return e
	}
	switch body.Status {
	case v1StateRunning, v1StateFinished, v1StateFailed:
	default:
		return v1BadRequest("status must be running, finished or failed, not %s", v1Quote(body.Status))
	}
	if writer := r.Header.Get(v1HeaderWriter); writer != "" {
		return v.postWriterStatus(w, dir, ref, writer, body)
	}
	rw, e := v.writers.acquire(dir, ref)
	if e != nil {
		return e
	}
	defer v.writers.release(rw)
	st := rw.store
	if body.FailureReason != "" {
		if err := st.SetMeta(v1MetaFailure, body.FailureReason); err != nil {
			v.writers.fail(rw)
			return v1ServerError(err)
		}
	}
	if body.Status == v1StateRunning {
		err := errors.Join(st.SetMeta(v1MetaStatus, v1StateRunning),
			st.SetConfig(run.PathState, engine.String(v1StateRunning)), st.Flush())
		if err != nil {
			v.writers.fail(rw)
			return v1ServerError(err)
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	// A resent final status (the client retries) keeps the first close
	// time. The sys/ configs are the client's when it set them itself (the
	// Python client sets sys/state and sys/closed_time just before the
	// status); the server records them for a client that did not.
	m, _ := st.Meta(v1MetaStatus)
	_, closed := st.Meta(v1MetaClosedAt)
	var err error
	if m.Val != body.Status || !closed {
		now := time.Now()
		err = errors.Join(st.SetMeta(v1MetaStatus, body.Status), st.SetMeta(v1MetaClosedAt, v1MetaTime(now)))
		if c, ok := st.Config(run.PathState); !ok || !c.Value.Equal(engine.String(body.Status)) {
			err = errors.Join(err,
				st.SetConfig(run.PathState, engine.String(body.Status)),
				st.SetConfig(run.PathClosedTime, engine.Time(now)))
		}
	}
	// Closing seals and fsyncs the run, writes its index and releases LOCK.
	if cerr := v.writers.closeStore(rw); err == nil {
		err = cerr
	}
	if err != nil {
		return v1ServerError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// postWriterStatus records the status of one named writer of a run (a
// synced rank) in its own stream, as run.Join's writers record theirs:
// the run's state is derived from every writer's (run.DeriveState).
func (v *apiV1) postWriterStatus(w http.ResponseWriter, dir string, ref runRef, writer string, body v1StatusBody) *apiError {
	rw, e := v.writers.acquireAs(dir, ref, writer)
	if e != nil {
		return e
	}
	defer v.writers.release(rw)
	st := rw.store
	errs := []error{st.SetMeta(v1MetaWriterStatus, body.Status)}
	if body.Status != v1StateRunning {
		if _, closed := st.Meta(v1MetaWriterClosedAt); !closed {
			errs = append(errs, st.SetMeta(v1MetaWriterClosedAt, v1MetaTime(time.Now())))
		}
	}
	if body.FailureReason != "" {
		errs = append(errs, st.SetMeta(v1MetaWriterFailure, body.FailureReason))
	}
	if err := errors.Join(append(errs, st.Flush())...); err != nil {
		v.writers.fail(rw)
		return v1ServerError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (v *apiV1) heartbeat(w http.ResponseWriter, r *http.Request, g keyGrant) *apiError {
	ref, dir, e := v.resolveRun(r, g)
	if e != nil {
		return e
	}
	writer := r.Header.Get(v1HeaderWriter)
	if !v.writers.isOpen(dir, writer) {
		// The client's last beat may come after its final status: it must
		// not reopen a closed run, which would then show live until the
		// writer idles out.
		if cr, err := v.readers.get(dir); err == nil {
			state := run.RecordedState(cr.r)
			v.readers.put(cr)
			if state == run.StatusFinished || state == run.StatusFailed {
				w.WriteHeader(http.StatusNoContent)
				return nil
			}
		}
	}
	rw, e := v.writers.acquireAs(dir, ref, writer)
	if e != nil {
		return e
	}
	v.writers.release(rw)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ---- workspaces and projects ----

type v1WorkspaceJSON struct {
	ID   string `json:"id"`
	Role string `json:"role"`
}

func (v *apiV1) listWorkspaces(w http.ResponseWriter, r *http.Request, g keyGrant) *apiError {
	set := map[string]bool{}
	for _, ws := range g.workspaces {
		set[ws] = true
	}
	if g.all {
		if v.s.opts.DefaultWorkspace != "" {
			set[v.s.opts.DefaultWorkspace] = true
		}
		ents, _ := os.ReadDir(v.s.projects)
		for _, e := range ents {
			if v1ValidateWorkspace(e.Name()) == nil && len(v.projectsOf(e.Name())) > 0 {
				set[e.Name()] = true
			}
		}
	}
	out := []v1WorkspaceJSON{}
	for _, ws := range slices.Sorted(maps.Keys(set)) {
		out = append(out, v1WorkspaceJSON{ws, "owner"})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// projectsOf lists the projects of workspace ws: the directories
// <home>/projects/<ws>/<p> with a runs/ directory.
func (v *apiV1) projectsOf(ws string) []string {
	dir, err := v.projectDir(ws, "")
	if err != nil {
		return nil
	}
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		p := e.Name()
		if v1ValidateWorkspaceProject(ws, p) != nil {
			continue
		}
		pd, err := v.projectDir(ws, p)
		if err != nil {
			continue
		}
		if fi, err := os.Stat(filepath.Join(pd, "runs")); err == nil && fi.IsDir() {
			out = append(out, p)
		}
	}
	return out
}

type v1ProjectJSON struct {
	Name string `json:"name"`
}

func (v *apiV1) listProjects(w http.ResponseWriter, r *http.Request, g keyGrant) *apiError {
	ws := r.PathValue("ws")
	if err := v1ValidateWorkspace(ws); err != nil {
		return v1BadRequest("%v", err)
	}
	if e := v1Authorize(g, ws); e != nil {
		return e
	}
	if _, err := v.projectDir(ws, ""); err != nil {
		return v1BadRequest("%v", err)
	}
	out := []v1ProjectJSON{}
	for _, p := range v.projectsOf(ws) {
		out = append(out, v1ProjectJSON{p})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (v *apiV1) createProject(w http.ResponseWriter, r *http.Request, g keyGrant) *apiError {
	ws := r.PathValue("ws")
	if err := v1ValidateWorkspace(ws); err != nil {
		return v1BadRequest("%v", err)
	}
	if e := v1Authorize(g, ws); e != nil {
		return e
	}
	var body v1ProjectJSON
	if e := v.readJSON(w, r, &body); e != nil {
		return e
	}
	dir, err := v.projectDir(ws, body.Name)
	if err != nil || body.Name == "" {
		return v1BadRequest("project name %s: %v", v1Quote(body.Name), err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "runs"), 0o755); err != nil {
		return v1ServerError(err)
	}
	writeJSON(w, http.StatusOK, v1ProjectJSON{body.Name})
	return nil
}

// v1RunListJSON is one run of GET .../projects/{p}/runs.
type v1RunListJSON struct {
	RunID     string `json:"run_id"`
	ID        string `json:"id"`
	Name      string `json:"name"`
	Status    string `json:"status"`
	CreatedAt string `json:"created_at,omitempty"`
	ClosedAt  string `json:"closed_at,omitempty"`
}

func (v *apiV1) listRuns(w http.ResponseWriter, r *http.Request, g keyGrant) *apiError {
	ws, proj := r.PathValue("ws"), r.PathValue("project")
	if err := v1ValidateWorkspaceProject(ws, proj); err != nil {
		return v1BadRequest("%v", err)
	}
	if e := v1Authorize(g, ws); e != nil {
		return e
	}
	dir, err := v.projectDir(ws, proj)
	if err != nil {
		return v1BadRequest("%v", err)
	}
	ents, err := os.ReadDir(filepath.Join(dir, "runs"))
	if errors.Is(err, fs.ErrNotExist) {
		return &apiError{http.StatusNotFound, "Project.NotFound", "Project not found",
			fmt.Sprintf("no project %s", v1Quote(ws+"/"+proj))}
	}
	if err != nil {
		return v1ServerError(err)
	}
	out := []v1RunListJSON{}
	for _, e := range ents {
		id := e.Name()
		if run.ValidateRunID(id) != nil {
			continue
		}
		rdir, err := v.s.runDir(ws+"/"+proj, id)
		if err != nil {
			continue
		}
		rd, err := engine.OpenReader(rdir, nil)
		if err != nil {
			continue // not a run (no segments yet) or unreadable
		}
		meta := rd.Meta()
		_ = rd.Close()
		out = append(out, v1RunListJSON{
			RunID: id, ID: remoteID(ws, proj, id), Name: meta[v1MetaName].Val,
			Status: meta[v1MetaStatus].Val, CreatedAt: meta[v1MetaCreatedAt].Val, ClosedAt: meta[v1MetaClosedAt].Val,
		})
	}
	slices.SortStableFunc(out, func(a, b v1RunListJSON) int {
		if c := strings.Compare(b.CreatedAt, a.CreatedAt); c != 0 {
			return c // newest first (ISO UTC strings order as times)
		}
		return strings.Compare(a.RunID, b.RunID)
	})
	writeJSON(w, http.StatusOK, out)
	return nil
}

// ---- helpers ----

// readJSON reads a small JSON body (gzip allowed) into dst: 400 when it is
// malformed. JSON is UTF-8 (RFC 8259); encoding/json would quietly turn
// invalid bytes inside a string into U+FFFD, storing a config, path or
// name other than the one sent, so a body that is not UTF-8 is refused,
// as the ingest decoders refuse one.
func (v *apiV1) readJSON(w http.ResponseWriter, r *http.Request, dst any) *apiError {
	buf, e := v.readBody(w, r)
	if e != nil {
		return e
	}
	defer v.putBody(buf)
	if !utf8.Valid(buf.data) {
		return v1BadRequest("malformed JSON body: not valid UTF-8")
	}
	if err := json.Unmarshal(buf.data, dst); err != nil {
		return v1BadRequest("malformed JSON body: %v", err)
	}
	return nil
}
