package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/goodseed/goodseed-go/internal/vfs"
)

// Liveness: noticing that the files a writer vouches for were removed
// under it.
//
// A file removed while the writer holds it open stays writable through the
// writer's descriptor: every write and fsync succeeds, into an inode no
// name reaches, and everything is lost when the descriptor is closed.
// Nothing fails on its own (a removed run directory shows up only when the
// next segment is created, many flushes later), so the writer asks:
//
//   - after every flush that wrote blocks, and in Flush, one fstat of the
//     current segment and one of LOCK (checkLinked): a link count of 0
//     means the file was unlinked — removed, replaced by a rename, or its
//     whole directory removed, which unlinks both. Two fstats per flush,
//     off the Log path;
//   - in Sync and Close, before they vouch, also a lookup by name of every
//     segment of this writer's stream the index lists (checkFiles): a
//     sealed segment is no longer open, and a segment renamed away keeps
//     its links. They are few: one per SegmentTargetBytes written.
//
// What is found fails the store for good (Store.fail): ErrFilesRemoved,
// naming the file.

// checkLinked fails the store when its open segment or LOCK has no name
// left. flushMu held.
func (s *Store) checkLinked() error {
	if s.seg != nil {
		if err := s.checkOpenFile(s.seg.Path(), s.seg.Stat); err != nil {
			return err
		}
	}
	return s.checkOpenFile(filepath.Join(s.dir, LockFileNameOf(s.opts.WriterID)), s.lock.File().Stat)
}

// checkFiles is checkLinked, then a Stat of every segment of this writer
// in the index, so a segment sealed and closed, or moved away, is missed
// too. flushMu held.
func (s *Store) checkFiles() error {
	if err := s.checkLinked(); err != nil {
		return err
	}
	for _, se := range s.ix.Segments {
		if se.WriterID != s.opts.WriterID {
			continue
		}
		path := filepath.Join(s.dir, se.Name)
		if _, err := s.fsys.Stat(path); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return s.fail(fmt.Errorf("%w: %s: %w", ErrFilesRemoved, path, err))
			}
			return s.fail(fmt.Errorf("engine: check %s is still there: %w", path, err))
		}
	}
	return nil
}

// checkOpenFile fails the store when the open file at path, as stat (an
// fstat of its handle) describes it, has a link count of 0. An FS that
// reports no link count is trusted.
func (s *Store) checkOpenFile(path string, stat func() (fs.FileInfo, error)) error {
	fi, err := stat()
	if err != nil {
		return s.fail(fmt.Errorf("engine: check %s is still there: %w", path, err))
	}
	if n, ok := vfs.Nlink(fi); ok && n == 0 {
		return s.fail(fmt.Errorf("%w: %s was removed while open (link count 0)", ErrFilesRemoved, path))
	}
	return nil
}

// checkLive is checkLinked for a caller not holding flushMu.
func (s *Store) checkLive() error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	if err := s.stateErrIfNotOpen(); err != nil {
		return err
	}
	return s.checkLinked()
}

// removedCause says whether a failure to create a file in the run
// directory comes of the run's files being removed (the directory gone, or
// LOCK unlinked), so the store fails with ErrFilesRemoved, as the checks
// above would have found a flush later, and not with the create's ENOENT.
func (s *Store) removedCause(createErr error) error {
	if fi, err := s.lock.File().Stat(); err == nil {
		if n, ok := vfs.Nlink(fi); ok && n == 0 {
			return fmt.Errorf("%w: %s was removed while open (link count 0); then: %w", ErrFilesRemoved, filepath.Join(s.dir, LockFileNameOf(s.opts.WriterID)), createErr)
		}
	}
	if _, err := s.fsys.Stat(s.dir); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: the run directory %s is gone; then: %w", ErrFilesRemoved, s.dir, createErr)
	}
	return nil
}
