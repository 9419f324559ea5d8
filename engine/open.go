package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/goodseed/goodseed-go/index"
	"github.com/goodseed/goodseed-go/internal/vfs"
	"github.com/goodseed/goodseed-go/segment"
)

// Create makes a new run in dir (created if needed) with the given run id,
// takes its lock and writes the first segment's header, so the run exists
// on disk when Create returns. A directory that already holds segments is
// ErrExist. A Create that fails otherwise removes the run directory it
// made (discard.go), so a retry with the same id starts afresh.
func Create(dir, runID string, opts Options) (_ *Store, err error) {
	opts = opts.withDefaults()
	if runID == "" {
		return nil, errors.New("engine: Create: empty run id")
	}
	undo := newCreateUndo(opts, dir)
	defer undo.onError(opts, dir, &err)
	if err := mkdirAllSync(opts.FS, dir); err != nil {
		return nil, err
	}
	s, err := open(dir, opts)
	if err != nil {
		return nil, err
	}
	if len(s.st.fields) > 0 || len(s.ix.Segments) > 0 {
		s.abandon()
		return nil, fmt.Errorf("%w: %s", ErrExist, dir)
	}
	s.runID, s.ix.RunID = runID, runID
	s.made = undo
	s.flushMu.Lock()
	err = s.startMark()
	if err == nil {
		err = s.openSegment()
	}
	s.flushMu.Unlock()
	if err != nil {
		s.abandon()
		return nil, err
	}
	return s, nil
}

// Open opens an existing run in dir for writing (resume). It takes the
// lock, so a run whose writer crashed opens at once while a live one is
// ErrLocked; it cuts torn tails left by a crash and rebuilds what the
// index does not cover. Recovery() reports what it found.
func Open(dir string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	if _, err := opts.FS.Stat(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: run directory %s", ErrNotFound, dir)
		}
		return nil, fmt.Errorf("engine: open %s: %w", dir, err)
	}
	s, err := open(dir, opts)
	if err != nil {
		return nil, err
	}
	if s.runID == "" {
		s.abandon()
		return nil, fmt.Errorf("%w: %s holds no run (no segments)", ErrNotFound, dir)
	}
	s.flushMu.Lock()
	err = s.startMark()
	s.flushMu.Unlock()
	if err != nil {
		s.abandon()
		return nil, err
	}
	return s, nil
}

// Join opens writer opts.WriterID's own stream of run runID in dir for
// writing, beside the run's other writers (writers.go): the stream is
// created on first join (and the run directory with it, so writers may
// start in any order) and resumed on the next, cutting a torn tail its
// crash left, as Open does. The writer takes only its own lock: a second
// process of the same writer is ErrLocked, no other writer is waited for.
// Writer 1 is the primary writer's, opened with Create and Open; a
// directory whose segments are of another run is ErrExist.
func Join(dir, runID string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	if runID == "" {
		return nil, errors.New("engine: Join: empty run id")
	}
	if opts.WriterID == 1 {
		return nil, errors.New("engine: Join: writer 1 is the run's primary writer; use Create or Open")
	}
	if err := mkdirAllSync(opts.FS, dir); err != nil {
		return nil, err
	}
	if other := otherRunID(opts.FS, dir, runID); other != "" {
		return nil, fmt.Errorf("%w: %s holds run %q, not %q", ErrExist, dir, other, runID)
	}
	s, err := open(dir, opts)
	if err != nil {
		return nil, err
	}
	if s.runID != "" && s.runID != runID {
		s.abandon()
		return nil, fmt.Errorf("%w: writer %d's stream in %s is of run %q, not %q", ErrExist, opts.WriterID, dir, s.runID, runID)
	}
	fresh := s.runID == ""
	s.runID, s.ix.RunID = runID, runID
	s.flushMu.Lock()
	err = s.startMark()
	if err == nil && fresh {
		err = s.openSegment()
	}
	s.flushMu.Unlock()
	if err != nil {
		s.abandon()
		return nil, err
	}
	return s, nil
}

// otherRunID returns the run id the primary writer's newest readable
// segment header names when it is not runID, else "". (One header: a
// joining writer must not pay for reading the whole run.)
func otherRunID(fsys vfs.FS, dir, runID string) string {
	segs, err := listSegments(fsys, dir)
	if err != nil {
		return ""
	}
	for i := len(segs) - 1; i >= 0; i-- {
		sr, err := segment.Open(fsys, filepath.Join(dir, segs[i].name))
		if err != nil {
			continue
		}
		id := sr.Header().RunID
		sr.Close()
		if id != runID {
			return id
		}
		return ""
	}
	return ""
}

// startMark starts this writer session's mark (mark.go) at the end of the
// writer's newest segment: recovery has cut what was torn and fsynced what
// is left (syncUnsealed), so every byte there is durable. A sealed one is
// vouched for whole, and its footer with it: the mark then names the next
// segment, at offset 0. flushMu held.
func (s *Store) startMark() error {
	at := StreamPos{Seq: s.lastSegSeq}
	name := segment.SegmentName(s.opts.WriterID, s.lastSegSeq)
	if i := slices.IndexFunc(s.ix.Segments, func(se index.SegmentEntry) bool { return se.Name == name }); i >= 0 && s.ix.Segments[i].Sealed {
		at = StreamPos{Seq: s.lastSegSeq + 1}
	} else if s.lastSegSeq > 0 {
		fi, err := s.fsys.Stat(filepath.Join(s.dir, segment.SegmentName(s.opts.WriterID, s.lastSegSeq)))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("engine: resume %s: %w", s.dir, err)
		}
		if err == nil {
			at.Offset = fi.Size()
		}
	}
	mw, err := createMark(s.fsys, s.dir, s.opts.WriterID, runHash(s.runID), at)
	if err != nil {
		return s.fail(err)
	}
	s.mark = mw
	return nil
}

func open(dir string, opts Options) (*Store, error) {
	owner := Owner{Host: hostname(), PID: os.Getpid(), Start: time.Now().UTC(), WriterID: opts.WriterID}
	owner.Heartbeat = owner.Start
	lock, err := acquireLock(opts.FS, dir, owner)
	if err != nil {
		return nil, err
	}
	w := opts.WriterID
	removeIndexTemps(opts.FS, dir, w)
	ms := readMarks(opts.FS, dir).only(w)
	segs, err := listWriterSegments(opts.FS, dir, w)
	var l *loaded
	var rep RecoveryReport
	if err == nil {
		err = cutTornTails(opts.FS, dir, w, segs, ms, &rep)
	}
	if err == nil {
		// Cutting may have removed a segment that was all tail.
		segs, err = listWriterSegments(opts.FS, dir, w)
	}
	if err == nil {
		l, err = load(opts.FS, dir, w, segs, ms)
	}
	if err == nil {
		err = syncUnsealed(opts.FS, dir, l.ix)
	}
	if err == nil && len(l.report.UnknownVersion) > 0 {
		// Appending to a run this build cannot fully read could only make
		// things worse: leave it to gsinspect recover.
		err = fmt.Errorf("engine: resume %s: %w", dir, l.report.UnknownVersion[0])
	}
	if err != nil {
		lock.Release()
		return nil, err
	}
	l.report.Cuts = rep.Cuts
	l.report.Torn = nil // what was torn has been cut
	s := &Store{
		fsys: opts.FS, dir: dir, opts: opts, runID: l.runID,
		lock: lock, owner: owner, recovery: l.report, maxPoints: MaxPointsPerSeries,
		st: l.st, ix: l.ix,
		lastSegSeq: l.lastSeg[opts.WriterID], nextSeq: l.nextSeq[opts.WriterID],
		lastHeartbeat: owner.Start,
		wake:          make(chan struct{}, 1),
		stop:          make(chan struct{}),
		done:          make(chan struct{}),
	}
	s.bpCond = sync.NewCond(&s.bpMu)
	for _, fi := range l.st.fields {
		f := s.newHandle(fi.ID, fi.Kind, fi.Path)
		if fe, ok := l.ix.Fields[fi.ID]; ok {
			f.queued = fe.Summary.Count
		}
	}
	// The damage found is recorded in the run before this writer's index
	// covers it as it now is (LossMetaPrefix).
	recs := l.lossRecords()
	for _, key := range slices.Sorted(maps.Keys(recs)) {
		t := time.Now().UnixMilli()
		s.st.meta[key] = MetaEntry{Val: recs[key], TimeMs: t}
		s.queueCtrl(appendMeta(nil, t, key, recs[key]))
	}
	acquireClock()
	go s.flushLoop()
	return s, nil
}

// syncUnsealed fsyncs every segment not sealed, before a writer builds on
// them. A crashed writer's last segment holds blocks it flushed but never
// synced; they are in the page cache, so this writer reads them and carries
// on from them — the field ids they define, the record sequence they reach.
// Unless they are made durable first, a power loss could keep this writer's
// synced blocks and drop the ones they depend on, leaving its records
// orphans of a lost field definition. (A sealed segment was fsynced by its
// seal; fsync of a file with nothing dirty costs next to nothing.)
func syncUnsealed(fsys vfs.FS, dir string, ix *index.Index) error {
	for _, se := range ix.Segments {
		if se.Sealed {
			continue
		}
		path := filepath.Join(dir, se.Name)
		f, err := fsys.Open(path)
		if err != nil {
			return fmt.Errorf("engine: resume: open %s to sync it: %w", path, err)
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return fmt.Errorf("engine: resume: sync %s: %w", path, err)
		}
	}
	return nil
}

// abandon releases what open took, for a Create or Open that fails after it.
func (s *Store) abandon() {
	s.state.Store(stateClosed)
	close(s.stop)
	<-s.done
	releaseClock()
	if s.seg != nil {
		s.seg.Close()
	}
	s.mark.close()
	s.lock.Release()
}

// removeIndexTemps deletes the temp files of writer w's index that a write
// interrupted by a crash left behind (another writer's may be in use).
// Best effort: they are never read.
func removeIndexTemps(fsys vfs.FS, dir string, w uint32) {
	entries, err := fsys.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if index.IsTempNameOf(e.Name(), w) {
			_ = fsys.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// mkdirAllSync creates dir and its missing parents and fsyncs the parent of
// each directory it created, so the run's directory entries survive power
// loss along with the segments in it.
func mkdirAllSync(fsys vfs.FS, dir string) error {
	var created []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := fsys.Stat(d); err == nil {
			break
		}
		created = append(created, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("engine: create run dir %s: %w", dir, err)
	}
	for _, d := range created {
		if err := fsys.SyncDir(filepath.Dir(d)); err != nil {
			return fmt.Errorf("engine: sync parent of %s: %w", d, err)
		}
	}
	return nil
}
