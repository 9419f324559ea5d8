package run

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/goodseed/goodseed-go/engine"
)

// Meta keys a joined writer records in its own stream. The run-level keys
// (status, closed_at, ...) stay the primary writer's, so a rank that
// finishes early never makes the run look finished.
const (
	metaWriterName          = "writer_name"
	metaWriterStatus        = "writer_status"
	metaWriterStartedAt     = "writer_started_at"
	metaWriterClosedAt      = "writer_closed_at"
	metaWriterFailureReason = "writer_failure_reason"
)

// Join adds this process to run runID as one of several writers: a rank of
// a DDP or FSDP job, one task of a SLURM array. opts.Writer names the
// writer ("rank-3"; default env GOODSEED_WRITER; see WriterFromEnv). Each
// writer has its own lock and its own stream of segments, so no writer
// ever waits for another, a crash of one harms no other, and every reader
// merges them (a step's point: the one logged last; configs: the last
// set; tags: every writer's).
//
// Ranks may start in any order: Join creates the run when it does not
// exist yet, and the primary writer (New) or other ranks join it. A
// writer that joins again (after its process crashed or closed) resumes
// its own stream; a writer whose process is still alive is ErrRunning.
//
// The run is running while any writer is live, crashed when a writer
// stopped without closing, failed when one failed (Info says which), and
// finished when all closed.
func Join(runID string, opts Options) (*Run, error) {
	o, err := resolve(opts)
	if err != nil {
		return nil, err
	}
	if o.RunID != "" && o.RunID != runID {
		return nil, fmt.Errorf("%w: Join(%q) with Options.RunID %q; set one of them", ErrInvalidRunID, runID, o.RunID)
	}
	if err := ValidateRunID(runID); err != nil {
		return nil, err
	}
	name := o.Writer
	if name == "" {
		name = os.Getenv(EnvWriter)
	}
	if name == "" {
		return nil, fmt.Errorf("run: join %q: %w: no writer name; set Options.Writer or %s (run.WriterFromEnv derives one from RANK or SLURM_PROCID)", runID, ErrInvalidWriter, EnvWriter)
	}
	if o.Storage == StorageDisabled {
		return newDisabled(runID, o), nil
	}
	dir := o.runDir(runID)
	fsys := o.fs()
	_, statErr := fsys.Stat(dir)
	fresh := errors.Is(statErr, os.ErrNotExist)
	w, err := engine.ClaimWriter(fsys, dir, runID, name)
	if err != nil {
		return nil, fmt.Errorf("run: join %q as %q: %w", runID, name, err)
	}
	eo := o.Engine
	eo.WriterID = w
	store, err := engine.Join(dir, runID, eo)
	switch {
	case errors.Is(err, engine.ErrLocked):
		return nil, fmt.Errorf("run: cannot join run %q as writer %q: that writer is still running: %w", runID, name, err)
	case err != nil:
		return nil, fmt.Errorf("run: join %q as %q: %w", runID, name, err)
	}
	if !fresh {
		// The run's creator records the Git state; every rank doing it
		// again would only repeat it.
		o.Git.Disabled = true
	}
	r := newRun(runID, o, modeWrite)
	r.store = store
	r.writer = name
	r.recovery = store.Recovery()
	if err := r.recordJoin(time.Now(), fresh); err != nil {
		store.Close()
		return nil, fmt.Errorf("run %s: record join of %q: %w", runID, name, err)
	}
	r.startGit()
	register(r)
	fmt.Fprintf(o.stderr, "Goodseed run: %s (writer %s)\nGoodseed data: %s\n", runID, name, r.dir)
	if !r.recovery.Clean() {
		fmt.Fprintf(o.stderr, "Goodseed run %s: writer %s recovered after a crash: %s\n", runID, name, describeRecovery(r.recovery))
	}
	if err := r.startMonitoring(); err != nil {
		r.Close()
		return nil, fmt.Errorf("run %s: start monitoring: %w", runID, err)
	}
	r.startUpload()
	return r, nil
}

// Writer returns the name this process writes the run as: "" for the
// primary writer (New, Resume), the Join name otherwise.
func (r *Run) Writer() string { return r.writer }

// WriterFromEnv returns a writer name from the variables launchers set:
// "rank-<RANK>" under torchrun (and most MPI-style launchers),
// "rank-<SLURM_PROCID>" under srun, "rank-<LOCAL_RANK>" when only that is
// set (one node). ok is false when none is set. It is opt-in: Join uses it
// only when the caller passes it, e.g.
//
//	name, _ := run.WriterFromEnv()
//	r, err := run.Join(id, run.Options{Writer: name})
func WriterFromEnv() (name string, ok bool) {
	for _, v := range []string{"RANK", "SLURM_PROCID", "LOCAL_RANK"} {
		if s := os.Getenv(v); s != "" {
			if n, err := strconv.ParseUint(s, 10, 32); err == nil {
				return "rank-" + strconv.FormatUint(n, 10), true
			}
		}
	}
	return "", false
}

// recordJoin writes what a joined writer records of itself and, when it
// created the run, what New records of a run.
func (r *Run) recordJoin(now time.Time, fresh bool) error {
	s := r.store
	errs := []error{
		s.SetMeta(metaWriterName, r.writer),
		s.SetMeta(metaWriterStatus, string(StatusRunning)),
		s.SetMeta(metaWriterStartedAt, isoTime(now)),
	}
	if fresh {
		errs = append(errs,
			s.SetMeta(metaRunID, r.id),
			s.SetMeta(metaProject, r.project),
			s.SetMeta(metaCreatedAt, isoTime(now)),
			s.SetConfig(PathID, engine.String(r.id)),
			s.SetConfig(PathCreationTime, engine.Time(now)))
		errs = append(errs, r.recordBuildInfo()...)
	}
	errs = append(errs, r.recordIdentity(r.opts.Options)...)
	return joinOnce(errs...)
}

// recordWriterClose writes a joined writer's final status.
func (r *Run) recordWriterClose(st Status, reason string, now time.Time) error {
	s := r.store
	errs := []error{
		s.SetMeta(metaWriterStatus, string(st)),
		s.SetMeta(metaWriterClosedAt, isoTime(now)),
	}
	if reason != "" {
		errs = append(errs, s.SetMeta(metaWriterFailureReason, reason))
	}
	return joinOnce(errs...)
}

// WriterState is one writer of a run as a reader sees it.
type WriterState struct {
	// ID is the writer's id in the run's files; Name its Join name, ""
	// for the primary writer.
	ID   uint32
	Name string
	// State is what the writer recorded, or crashed when it recorded
	// running and no process holds its lock.
	State Status
	// FailureReason is what a failed writer gave.
	FailureReason string
	// Owner is the writer's last owner record; Live whether it holds its
	// lock now.
	Owner engine.Owner
	Live  bool
	// Err is what kept the writer's claim or owner record from reading
	// (engine.WriterInfo.Err); the state is derived without them then.
	Err error
}

// deriveState reads the state of every writer of the run rd reads and the
// run's state from them: running while any writer is live; else crashed
// when any writer stopped without closing; else failed when any writer
// failed; else finished. For a run of one writer this is its recorded
// status, crashed when it says running and nobody holds its lock.
func deriveState(rd *engine.Reader) (Status, []WriterState, error) {
	infos, err := rd.Writers()
	if err != nil {
		return "", nil, err
	}
	byID := make(map[uint32]engine.WriterInfo, len(infos))
	for _, wi := range infos {
		byID[wi.ID] = wi
	}
	var out []WriterState
	for _, w := range rd.StreamWriters() {
		meta := rd.StreamMeta(w)
		wi := byID[w]
		ws := WriterState{ID: w, Name: wi.Name, Owner: wi.Owner, Live: wi.Live, Err: wi.Err}
		if w == 1 {
			ws.State = Status(meta[metaStatus].Val)
			ws.FailureReason = meta[metaFailureReason].Val
		} else {
			ws.State = Status(meta[metaWriterStatus].Val)
			ws.FailureReason = meta[metaWriterFailureReason].Val
			if n := meta[metaWriterName].Val; n != "" {
				ws.Name = n
			}
		}
		switch {
		case ws.Live:
			ws.State = StatusRunning
		case ws.State == StatusRunning:
			ws.State = StatusCrashed
		}
		out = append(out, ws)
	}
	return runState(out), out, nil
}

// runState is the run's state from its writers' (see deriveState); ""
// when no writer recorded any.
func runState(ws []WriterState) Status {
	has := map[Status]bool{}
	for _, w := range ws {
		has[w.State] = true
	}
	for _, st := range []Status{StatusRunning, StatusCrashed, StatusFailed, StatusFinished} {
		if has[st] {
			return st
		}
	}
	return ""
}

// RecordedState is the run's state from what its writers recorded, before
// asking whether any is live: running when any writer recorded running
// (or, as a run just created, nothing yet), else failed when any failed,
// else finished. A reader that caches it derives the state with one
// liveness check of every writer (engine.AnyWriterLive): running when one
// is live, crashed when none is and this says running.
func RecordedState(rd *engine.Reader) Status {
	var ws []WriterState
	for _, w := range rd.StreamWriters() {
		meta := rd.StreamMeta(w)
		key := metaWriterStatus
		if w == 1 {
			key = metaStatus
		}
		st := Status(meta[key].Val)
		if st == "" {
			st = StatusRunning
		}
		ws = append(ws, WriterState{ID: w, State: st})
	}
	if len(ws) == 0 {
		return ""
	}
	return runState(ws)
}

// DeriveState returns the state of the run rd reads and of each of its
// writers, as Info derives them. Servers and tools that read runs with an
// engine.Reader use it so every reader agrees.
func DeriveState(rd *engine.Reader) (Status, []WriterState, error) { return deriveState(rd) }
