package run

import (
	"errors"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/segment"
)

// Sentinel errors. Test for them with errors.Is; the errors returned wrap
// them with the run id, path or directory involved and say what to do.
//
// Those shared with the engine are the engine's own values, so an error from
// any layer matches the same sentinel.
var (
	// ErrClosed: the run was closed; nothing more can be written to it.
	ErrClosed = engine.ErrClosed
	// ErrReadOnly: the run was opened with OpenReadOnly.
	ErrReadOnly = engine.ErrReadOnly
	// ErrKindMismatch: a path already holds another kind of field (a
	// metric series, a string series or a config).
	ErrKindMismatch = engine.ErrKindMismatch
	// ErrInvalidPath: a field path is empty, too long or malformed.
	ErrInvalidPath = engine.ErrInvalidPath
	// ErrInvalidStep: a step is NaN or infinite.
	ErrInvalidStep = engine.ErrInvalidStep
	// ErrInvalidValue: a value cannot be stored (invalid UTF-8, too long, an
	// unsupported type).
	ErrInvalidValue = engine.ErrInvalidValue
	// ErrLimit: a published limit of the engine would be exceeded.
	ErrLimit = engine.ErrLimit
	// ErrRunning: the run has a live writer, so it cannot be resumed. The
	// error names the writer's host and pid.
	ErrRunning = engine.ErrLocked
	// ErrInvalidWriter: Join without a writer name, or with one that
	// engine.ValidateWriterName refuses.
	ErrInvalidWriter = engine.ErrInvalidWriter
	// ErrRunExists: New was given an explicit run id that already exists.
	ErrRunExists = engine.ErrExist
	// ErrNotFound: no such run, or no such field in it.
	ErrNotFound = engine.ErrNotFound
	// ErrCorrupt: bytes of the run's files no longer verify (a flipped
	// bit, a damaged block). Reads return what still verifies together
	// with an error matching it, which names each damaged file and offset;
	// the same error matches segment.ErrCorrupt, and errors.As finds the
	// *segment.CorruptionError of a damaged block.
	ErrCorrupt = engine.ErrCorrupt
	// ErrFilesRemoved: the run's files (a segment, LOCK, or the whole run
	// directory) were removed while the run was being written. Flush, Sync
	// and Close fail with it from then on, naming the file: what those
	// files held is lost. It does not match ErrCorrupt.
	ErrFilesRemoved = engine.ErrFilesRemoved

	// ErrInvalidRunID: a run id breaks the rules of ValidateRunID.
	ErrInvalidRunID = errors.New("run: invalid run id")
	// ErrInvalidName: a run name breaks the rules of ValidateName.
	ErrInvalidName = errors.New("run: invalid run name")
	// ErrInvalidProject: a project name breaks the rules of ValidateProject.
	ErrInvalidProject = errors.New("run: invalid project")
	// ErrDisabled: the run was created with StorageDisabled, so it holds
	// nothing to read.
	ErrDisabled = errors.New("run: storage is disabled")
	// ErrUnsupportedStorage: a storage mode this client does not offer.
	ErrUnsupportedStorage = errors.New("run: unsupported storage mode")
	// ErrReservedPath: a sys/ field the run manages itself (sys/id,
	// sys/state, ...) was assigned.
	ErrReservedPath = errors.New("run: path is managed by the run")
)

// corruptError marks an error that reports damage, from whichever layer
// found it, so that it matches both ErrCorrupt and segment.ErrCorrupt: a
// block checksum failure comes from the segment package, a record that
// does not decode from the engine.
type corruptError struct{ err error }

func (e *corruptError) Error() string { return e.err.Error() }
func (e *corruptError) Unwrap() error { return e.err }
func (e *corruptError) Is(target error) bool {
	return target == ErrCorrupt || target == segment.ErrCorrupt
}

// markCorrupt returns err marked as corruption when any error it wraps is,
// else err unchanged.
func markCorrupt(err error) error {
	if err == nil || !(errors.Is(err, ErrCorrupt) || errors.Is(err, segment.ErrCorrupt)) {
		return err
	}
	return &corruptError{err: err}
}

// joinOnce is errors.Join saying each failure once. A store that failed
// returns its sticky error from every call after it, so the steps of Close
// (each write of the final status, then the store's own Close) would
// otherwise repeat one ENOSPC five times. Of two errors where one wraps the
// other, the wrapper is kept: it says more.
func joinOnce(errs ...error) error {
	var out []error
next:
	for _, e := range errs {
		if e == nil {
			continue
		}
		for i, k := range out {
			switch {
			case errors.Is(k, e):
				continue next
			case errors.Is(e, k):
				out[i] = e
				continue next
			}
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}
