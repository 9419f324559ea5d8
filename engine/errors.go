package engine

import (
	"errors"
	"fmt"
)

// Sentinel errors. Test for them with errors.Is; the returned errors wrap
// them with the run directory, path or offset involved.
var (
	// ErrLocked: another writer holds the run's LOCK. The error names it.
	ErrLocked = errors.New("engine: run is locked by another writer")
	// ErrClosed: the store was closed; nothing more can be written.
	ErrClosed = errors.New("engine: store is closed")
	// ErrReadOnly: the store was opened for reading.
	ErrReadOnly = errors.New("engine: store is read-only")
	// ErrKindMismatch: a path already holds another kind of field.
	ErrKindMismatch = errors.New("engine: field kind mismatch")
	// ErrInvalidPath: a field path breaks the rules in doc.go.
	ErrInvalidPath = errors.New("engine: invalid field path")
	// ErrInvalidStep: a step is NaN or infinite.
	ErrInvalidStep = errors.New("engine: invalid step")
	// ErrInvalidValue: a value is malformed (invalid UTF-8, for example).
	ErrInvalidValue = errors.New("engine: invalid value")
	// ErrLimit: a published limit (doc.go) would be exceeded.
	ErrLimit = errors.New("engine: limit exceeded")
	// ErrNotFound: no such field or run.
	ErrNotFound = errors.New("engine: not found")
	// ErrInvalidWriter: a writer name that ValidateWriterName refuses.
	ErrInvalidWriter = errors.New("engine: invalid writer name")
	// ErrExist: Create found a run already in the directory.
	ErrExist = errors.New("engine: run already exists")
	// ErrCorrupt marks a record that cannot be decoded.
	ErrCorrupt = errors.New("engine: corrupt record")
	// ErrFilesRemoved: a file the writer vouches for — its current
	// segment, an earlier segment of its stream, or LOCK — was removed
	// while the store was open (deleted by hand, a cleanup job, the whole
	// run directory removed). Flush, Sync and Close return it, wrapped with
	// the file that is gone, and it is sticky: what was written there is
	// lost, and a writer whose LOCK is gone no longer keeps a second writer
	// out. It deliberately does not match ErrCorrupt: no byte on disk
	// fails to verify, so there is nothing for recovery or a reader to cut
	// around; the data is gone, not damaged.
	ErrFilesRemoved = errors.New("engine: run files removed under the writer")
)

// LockedError tells who holds a run's lock.
type LockedError struct {
	Dir   string
	Owner Owner
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("engine: run %s is locked by pid %d on %s (writer since %s)",
		e.Dir, e.Owner.PID, e.Owner.Host, e.Owner.Start.UTC().Format("2006-01-02T15:04:05Z"))
}

// Is makes errors.Is(err, ErrLocked) hold.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }
