package run

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/internal/vfs"
)

// Status is a run's lifecycle state.
type Status string

// Run states. Running, Finished and Failed are stored in the run (meta
// "status" and config sys/state) as GoodSeed stores them. Crashed is never
// stored: readers derive it for a run that says running but whose writer is
// gone (no process holds its lock).
const (
	StatusRunning  Status = "running"
	StatusFinished Status = "finished"
	StatusFailed   Status = "failed"
	StatusCrashed  Status = "crashed"
)

// Meta keys a run records (GoodSeed's run meta, plus what a Go run adds).
const (
	metaRunID         = "run_id"
	metaProject       = "project"
	metaCreatedAt     = "created_at"
	metaStatus        = "status"
	metaName          = "name"
	metaClosedAt      = "closed_at"
	metaResumedAt     = "resumed_at"
	metaResumedFrom   = "resumed_from" // the derived state the run was resumed from
	metaFailureReason = "failure_reason"
)

type mode uint8

const (
	modeWrite mode = iota
	modeReadOnly
	modeDisabled
)

// Run is one training run: its configs, metric series, string series and
// string sets. A Run from New or Resume writes; one from OpenReadOnly only
// reads. All methods are safe for concurrent use.
type Run struct {
	id      string
	project string
	dir     string // "" when storage is disabled
	mode    mode
	opts    resolved

	store  *engine.Store  // modeWrite
	reader *engine.Reader // modeReadOnly; guarded by readMu
	readMu sync.Mutex

	fields fieldTable

	writer string // the Join name; "" for the primary writer

	recovery engine.RecoveryReport // what Resume found and cut

	gitDone chan struct{} // closed when the background Git collection ends

	closed   atomic.Bool // set once Close starts; writes then fail fast
	closeMu  sync.Mutex
	closeErr error
	isClosed bool // guarded by closeMu: Close finished

	mon *monitor // nil when monitoring is off or the run does not write

	up *uploader // StorageCloud: ships this writer to the server

	failMu      sync.Mutex
	failReason  string
	failedStack []byte // stack of the panic that ended the run
}

// New creates a run and starts recording. It prints "Goodseed run: <id>"
// and the data directory to stderr unless Options.Quiet is set. Close the
// run when done, typically with defer r.Close().
//
// The run id is Options.RunID, else env GOODSEED_RUN_ID, else a generated
// "adjective-animal" id; a generated id that is taken gets a suffix -2, -3,
// ... An explicit id that already exists is ErrRunExists: use Resume to add
// to that run. A New that fails leaves no run behind (a full disk, for
// one), so a retry with the same id works.
func New(opts Options) (*Run, error) {
	o, err := resolve(opts)
	if err != nil {
		return nil, err
	}
	id := o.RunID
	if id == "" {
		id = os.Getenv(EnvRunID)
	}
	explicit := id != ""
	if explicit {
		if err := ValidateRunID(id); err != nil {
			return nil, err
		}
	}
	if o.Storage == StorageDisabled {
		if !explicit {
			id = generateID()
		}
		return newDisabled(id, o), nil
	}
	var store *engine.Store
	if explicit {
		store, err = createExplicit(o, id)
	} else {
		id, store, err = createGenerated(o)
	}
	if err != nil {
		return nil, err
	}
	r := newRun(id, o, modeWrite)
	r.store = store
	if err := r.recordCreation(time.Now()); err != nil {
		store.Discard() // nothing was acknowledged: leave no half-made run
		return nil, fmt.Errorf("run %s: record creation: %w", id, err)
	}
	r.startGit()
	register(r)
	fmt.Fprintf(o.stderr, "Goodseed run: %s\nGoodseed data: %s\n", id, r.dir)
	if err := r.startMonitoring(); err != nil {
		r.discard()
		return nil, fmt.Errorf("run %s: start monitoring: %w", id, err)
	}
	r.startUpload()
	return r, nil
}

// discard undoes a New that fails once the run is registered: the caller
// gets an error, not the run, so nothing of it is kept.
func (r *Run) discard() {
	<-r.gitDone // git collection writes to the store
	unregister(r)
	r.closeMu.Lock()
	r.closed.Store(true)
	r.isClosed = true
	r.closeMu.Unlock()
	_ = r.store.Discard() // best effort: New's error says what went wrong
}

func createExplicit(o resolved, id string) (*engine.Store, error) {
	dir := o.runDir(id)
	s, err := engine.Create(dir, id, o.Engine)
	switch {
	case err == nil:
		return s, nil
	case errors.Is(err, engine.ErrExist):
		return nil, fmt.Errorf("run: %w: %q in %s; resume it with run.Resume or choose another id", ErrRunExists, id, dir)
	case errors.Is(err, engine.ErrLocked):
		return nil, fmt.Errorf("run: %w: %q is being written right now (%w); choose another id", ErrRunExists, id, err)
	}
	return nil, fmt.Errorf("run: create %q: %w", id, err)
}

// createGenerated tries base, base-2, ... base-999 for a generated base id.
// A directory that exists is skipped without opening it; engine.Create
// settles the race with another process choosing the same id.
func createGenerated(o resolved) (string, *engine.Store, error) {
	fsys := o.fs()
	base := generateID()
	for n := 1; n <= maxSuffix; n++ {
		id := candidateID(base, n)
		dir := o.runDir(id)
		if _, err := fsys.Stat(dir); err == nil {
			continue
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", nil, fmt.Errorf("run: check %s: %w", dir, err)
		}
		s, err := engine.Create(dir, id, o.Engine)
		if errors.Is(err, engine.ErrExist) || errors.Is(err, engine.ErrLocked) {
			continue
		}
		if err != nil {
			return "", nil, fmt.Errorf("run: create %q: %w", id, err)
		}
		return id, s, nil
	}
	return "", nil, fmt.Errorf("run: %w: ids %s to %s are all taken; pass Options.RunID", ErrRunExists, base, candidateID(base, maxSuffix))
}

func (o resolved) fs() vfs.FS {
	if o.Engine.FS != nil {
		return o.Engine.FS
	}
	return vfs.Default
}

func newRun(id string, o resolved, m mode) *Run {
	r := &Run{id: id, project: o.Project, mode: m, opts: o}
	if m != modeDisabled {
		r.dir = o.runDir(id)
	}
	r.fields.init(r)
	return r
}

func newDisabled(id string, o resolved) *Run {
	r := newRun(id, o, modeDisabled)
	fmt.Fprintf(o.stderr, "Goodseed run: %s (storage disabled: nothing is recorded)\n", id)
	return r
}

// Resume reopens run runID to add data: new points, configs and fields.
// Options locate the run (Home, Project, LogDir) and may set a new Name,
// Description or more Tags; Options.RunID must be empty or runID.
//
// A run whose writer is alive is ErrRunning, and the error names that
// writer's host and pid. A run whose writer crashed (killed, OOM,
// preempted) resumes at once: the engine cuts the torn tail the crash left,
// and Recovery reports what it cut. The run's state becomes running again.
func Resume(runID string, opts Options) (*Run, error) {
	o, err := resolve(opts)
	if err != nil {
		return nil, err
	}
	if o.RunID != "" && o.RunID != runID {
		return nil, fmt.Errorf("%w: Resume(%q) with Options.RunID %q; set one of them", ErrInvalidRunID, runID, o.RunID)
	}
	if err := ValidateRunID(runID); err != nil {
		return nil, err
	}
	if o.Storage == StorageDisabled {
		return newDisabled(runID, o), nil
	}
	dir := o.runDir(runID)
	store, err := engine.Open(dir, o.Engine)
	switch {
	case errors.Is(err, engine.ErrNotFound):
		return nil, fmt.Errorf("run: resume %q: %w: no run in %s (project %q); check the id, project and home", runID, ErrNotFound, dir, o.Project)
	case errors.Is(err, engine.ErrLocked):
		return nil, fmt.Errorf("run: cannot resume run %q: it is still running: %w; stop that process or wait for it to close the run", runID, err)
	case err != nil:
		return nil, fmt.Errorf("run: resume %q: %w", runID, err)
	}
	r := newRun(runID, o, modeWrite)
	r.store = store
	r.recovery = store.Recovery()
	if err := r.recordResume(time.Now()); err != nil {
		store.Close()
		return nil, fmt.Errorf("run %s: record resume: %w", runID, err)
	}
	r.startGit()
	register(r)
	fmt.Fprintf(o.stderr, "Goodseed run: %s (resumed)\nGoodseed data: %s\n", runID, r.dir)
	if !r.recovery.Clean() {
		fmt.Fprintf(o.stderr, "Goodseed run %s: recovered after a crash: %s\n", runID, describeRecovery(r.recovery))
	}
	if err := r.startMonitoring(); err != nil {
		r.Close()
		return nil, fmt.Errorf("run %s: start monitoring: %w", runID, err)
	}
	r.startUpload()
	return r, nil
}

func describeRecovery(rep engine.RecoveryReport) string {
	var cut int64
	for _, c := range rep.Cuts {
		cut += c.Bytes
	}
	return fmt.Sprintf("%d torn tail(s) cut (%d bytes kept aside), %d damaged block(s), %d missing segment(s)",
		len(rep.Cuts), cut, len(rep.Corruptions), len(rep.MissingSegments))
}

// OpenReadOnly opens run runID for reading. It takes no lock, so it works
// on a finished run, on a crashed one and on one still being written (it
// sees what the writer has flushed; Refresh picks up more). Every write
// fails with ErrReadOnly.
//
// A damaged run opens: Recovery says what the reader found missing or
// damaged, and series reads return what verifies with an error matching
// ErrCorrupt.
func OpenReadOnly(runID string, opts Options) (*Run, error) {
	if opts.Storage == "" || opts.Storage == StorageCloud {
		// GOODSEED_STORAGE=disabled is for writers; a cloud run reads its
		// local copy.
		opts.Storage = StorageLocal
	}
	opts.Quiet = true
	o, err := resolve(opts)
	if err != nil {
		return nil, err
	}
	if err := ValidateRunID(runID); err != nil {
		return nil, err
	}
	if o.Storage == StorageDisabled {
		return nil, fmt.Errorf("run: open %q: %w: a disabled run has nothing to read", runID, ErrDisabled)
	}
	dir := o.runDir(runID)
	if _, err := o.fs().Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("run: open %q: %w: no run in %s (project %q)", runID, ErrNotFound, dir, o.Project)
	}
	rd, err := engine.OpenReader(dir, o.Engine.FS)
	if err != nil {
		return nil, fmt.Errorf("run: open %q: %w", runID, err)
	}
	r := newRun(runID, o, modeReadOnly)
	r.reader = rd
	if p, ok := rd.Meta()[metaProject]; ok {
		r.project = p.Val
	}
	return r, nil
}

// ID returns the run id.
func (r *Run) ID() string { return r.id }

// Project returns the run's project.
func (r *Run) Project() string { return r.project }

// Dir returns the run's directory; "" when storage is disabled.
func (r *Run) Dir() string { return r.dir }

// ReadOnly reports whether the run was opened with OpenReadOnly.
func (r *Run) ReadOnly() bool { return r.mode == modeReadOnly }

// Disabled reports whether the run's storage is disabled.
func (r *Run) Disabled() bool { return r.mode == modeDisabled }

// Recovery reports what opening the run found wrong with it.
//
// For a run from Resume it is what the engine found and cut in a run whose
// writer had crashed; it is empty (Clean) for a new run and for a cleanly
// closed one.
//
// For a run from OpenReadOnly it is what the reader found, as of the open
// or the last Refresh: damaged blocks, segments missing or shorter than the
// index or their writer's mark say, torn tails left alone (usually a live
// writer's block in flight), and whether the index was rebuilt. It is not
// Clean for a damaged run, and each series read over the damage returns an
// error matching ErrCorrupt as well.
func (r *Run) Recovery() engine.RecoveryReport {
	if r.mode == modeReadOnly {
		r.readMu.Lock()
		defer r.readMu.Unlock()
		return r.reader.Report()
	}
	return r.recovery
}

// Flush returns when everything logged before it is written to the run's
// segment: it then survives a crash of this process (not of the machine).
// It is a no-op on read-only and disabled runs.
func (r *Run) Flush() error {
	if r.mode != modeWrite {
		return r.closedErr("flush")
	}
	return r.wrap("flush", "", r.store.Flush())
}

// Sync is Flush followed by an fsync: what was logged before it then
// survives a power loss.
func (r *Run) Sync() error {
	if r.mode != modeWrite {
		return r.closedErr("sync")
	}
	return r.wrap("sync", "", r.store.Sync())
}

func (r *Run) closedErr(op string) error {
	if r.closed.Load() {
		return fmt.Errorf("run %s: %s: %w", r.id, op, ErrClosed)
	}
	return nil
}

// Close records the run as finished, writes everything out, fsyncs it and
// releases the run. It prints "Goodseed run closed: <id>". Closing again
// is a no-op that returns the first Close's result.
func (r *Run) Close() error { return r.close(StatusFinished, "") }

// CloseFailed is Close recording the run as failed, with reason (an error
// message, "panic: ...", "signal: terminated"; may be empty) kept in the
// config sys/failure_reason.
func (r *Run) CloseFailed(reason string) error { return r.close(StatusFailed, reason) }

func (r *Run) close(st Status, reason string) error {
	r.closeMu.Lock()
	defer r.closeMu.Unlock()
	if r.isClosed {
		return r.closeErr
	}
	var err error
	switch r.mode {
	case modeReadOnly:
		r.readMu.Lock()
		err = r.reader.Close()
		r.readMu.Unlock()
	case modeWrite:
		if r.mon != nil {
			err = r.mon.close() // the last console lines land before the status
		}
		// Git fields land before the status: collection is time-bounded.
		<-r.gitDone
		record := r.recordClose
		if r.writer != "" {
			record = r.recordWriterClose
		}
		err = joinOnce(err, record(st, reason, time.Now()), r.store.Close())
		if r.up != nil {
			r.up.finish() // the status ships too
		}
		r.readMu.Lock()
		if r.reader != nil { // opened by a read of this run
			err = joinOnce(err, r.reader.Close())
		}
		r.readMu.Unlock()
		unregister(r)
		fmt.Fprintf(r.opts.stderr, "Goodseed run closed: %s\n", r.id)
	}
	r.closed.Store(true)
	r.isClosed = true
	if err != nil {
		err = fmt.Errorf("run %s: close: %w", r.id, err)
	}
	r.closeErr = err
	return err
}

// wrap adds the run, the operation and advice to an error from the engine.
func (r *Run) wrap(op, path string, err error) error {
	if err == nil {
		return nil
	}
	where := op
	if path != "" {
		where = fmt.Sprintf("%s %q", op, path)
	}
	switch {
	case errors.Is(err, ErrClosed):
		return fmt.Errorf("run %s: %s: %w; resume the run with run.Resume to add more", r.id, where, err)
	case errors.Is(err, ErrKindMismatch):
		return fmt.Errorf("run %s: %s: %w; a path keeps the kind it was first used with, use another path", r.id, where, err)
	case errors.Is(err, ErrFilesRemoved):
		return fmt.Errorf("run %s: %s: %w; the run's files were deleted while it was written: what they held is lost", r.id, where, err)
	}
	return fmt.Errorf("run %s: %s: %w", r.id, where, err)
}

// errReadOnly is the error of a write to a read-only run.
func (r *Run) errReadOnly(op, path string) error {
	return fmt.Errorf("run %s: %s %q: %w: opened with OpenReadOnly; use run.Resume to write", r.id, op, path, ErrReadOnly)
}

// writable says whether a write should go ahead: nil and true in write mode,
// nil and false for the silent no-op of a disabled run, an error otherwise.
func (r *Run) writable(op, path string) (bool, error) {
	switch {
	case r.closed.Load() && r.mode != modeWrite:
		return false, fmt.Errorf("run %s: %s %q: %w", r.id, op, path, ErrClosed)
	case r.mode == modeDisabled:
		return false, nil
	case r.mode == modeReadOnly:
		return false, r.errReadOnly(op, path)
	}
	return true, nil
}

// startGit collects source_code/ fields in the background, bounded by
// Options.Git.Timeout, so a slow or hung git never delays New.
func (r *Run) startGit() {
	r.gitDone = make(chan struct{})
	if r.opts.Git.Disabled {
		close(r.gitDone)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.opts.Git.Timeout)
	go func() {
		defer close(r.gitDone)
		defer cancel()
		r.recordGit(ctx)
	}()
}
