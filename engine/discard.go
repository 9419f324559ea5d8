package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
)

// Undoing a Create: a Create that fails (a full disk refusing the first
// segment, or LOCK's owner record) and a caller that discards the run it
// could not set up leave nothing behind, so that a retry with the same run
// id finds the directory as it was. Only what Create made is removed:
//
//   - the directory itself only if Create made it (it did not exist
//     before), and only if it is empty once the files below are gone;
//   - LOCK and this writer's mark, which hold no data;
//   - this writer's segments, and only those of the store being discarded:
//     a failed Create removes no segment at all, and never touches a
//     directory where any segment is found, since a run is there then
//     (another writer's, raced in).
//
// Everything is removed while LOCK is held, LOCK last, so a writer racing
// for the same directory either gets ErrLocked or finds it gone.

// createUndo is what a Create made, for undoing it.
type createUndo struct {
	madeDir bool // the run directory did not exist before Create
}

// newCreateUndo notes, before Create touches dir, whether it exists.
func newCreateUndo(opts Options, dir string) *createUndo {
	_, err := opts.FS.Stat(dir)
	return &createUndo{madeDir: errors.Is(err, fs.ErrNotExist)}
}

// onError, deferred by Create, removes what a failed Create left: a run
// directory it made holding nothing but LOCK (and a mark). A directory
// that held a run (ErrExist) or has a live writer (ErrLocked) is left
// alone; so is one Create did not make.
func (u *createUndo) onError(opts Options, dir string, errp *error) {
	err := *errp
	if err == nil || !u.madeDir || errors.Is(err, ErrExist) || errors.Is(err, ErrLocked) {
		return
	}
	// The failed Create released the lock: take it again, so nobody is
	// starting a run here while its files go.
	l, lerr := opts.FS.Lock(filepath.Join(dir, LockFileNameOf(opts.WriterID)))
	if lerr != nil {
		return // another writer's now, or nothing is left to lock
	}
	if segs, serr := listSegments(opts.FS, dir); serr != nil || len(segs) > 0 {
		l.Release() // a run is there after all: not ours to remove
		return
	}
	_ = removeRunFiles(opts, dir, nil, l, true) // best effort: the error is Create's
}

// removeRunFiles removes segs (names in dir), the writer's mark and LOCK,
// releases l, and removes dir when rmdir is set and it is empty then. A
// name already gone is no error.
func removeRunFiles(opts Options, dir string, segs []string, l interface{ Release() error }, rmdir bool) error {
	var errs []error
	remove := func(name string) {
		if err := opts.FS.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	for _, name := range segs {
		remove(name)
	}
	remove(MarkFileName(opts.WriterID))
	remove(LockFileNameOf(opts.WriterID))
	if err := l.Release(); err != nil {
		errs = append(errs, err)
	}
	if rmdir {
		// Anything else in it (someone else's file) keeps it: Remove of
		// a directory that is not empty fails, and that is left.
		if err := opts.FS.Remove(dir); err == nil {
			_ = opts.FS.SyncDir(filepath.Dir(dir)) // best effort: at worst the empty directory comes back
		}
	} else {
		_ = opts.FS.SyncDir(dir)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("engine: discard run in %s: %w", dir, err)
	}
	return nil
}

// Discard closes a store Create returned and removes the run it made, for
// a caller that failed to set the new run up and returns an error instead
// of it: nothing buffered is written, this writer's segments, its mark and
// LOCK are removed, and the run directory too when Create made it and
// nothing else is in it. A retry with the same run id then starts afresh.
// Discard of a store Open returned is refused (it would delete a run's
// data); of a closed store, ErrClosed.
func (s *Store) Discard() error {
	if s.made == nil {
		return fmt.Errorf("engine: discard %s: only a run Create made can be discarded", s.dir)
	}
	prev := s.state.Load()
	if prev == stateClosed {
		return fmt.Errorf("%w: run %s", ErrClosed, s.dir)
	}
	if !s.state.CompareAndSwap(prev, stateClosed) {
		return s.Discard()
	}
	s.bpMu.Lock()
	s.bpCond.Broadcast()
	s.bpMu.Unlock()
	close(s.stop)
	<-s.done
	defer releaseClock()

	s.flushMu.Lock()
	var segs []string
	for _, se := range s.ix.Segments {
		if se.WriterID == s.opts.WriterID {
			segs = append(segs, se.Name)
		}
	}
	if s.seg != nil {
		s.seg.Close()
		s.seg = nil
	}
	s.flushMu.Unlock()
	s.mark.close()
	return removeRunFiles(s.opts, s.dir, segs, s.lock, s.made.madeDir)
}
