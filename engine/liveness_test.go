package engine

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/internal/vfs"
	"github.com/goodseed/goodseed-go/segment"
)

// removalFS is a file system with the tools a test removes files with:
// os.Remove and os.RemoveAll on the OS, their equivalents on MemFS.
type removalFS struct {
	name      string
	fsys      func() vfs.FS // nil: the OS (Options.FS left nil)
	remove    func(fsys vfs.FS, path string) error
	removeAll func(fsys vfs.FS, dir string) error
}

var removalFSes = []removalFS{
	{
		name:      "os",
		remove:    func(_ vfs.FS, p string) error { return os.Remove(p) },
		removeAll: func(_ vfs.FS, dir string) error { return os.RemoveAll(dir) },
	},
	{
		name:      "mem",
		fsys:      func() vfs.FS { return vfs.NewMem() },
		remove:    func(fsys vfs.FS, p string) error { return fsys.Remove(p) },
		removeAll: memRemoveAll,
	},
}

// memRemoveAll removes dir and everything under it from fsys, entry by entry.
func memRemoveAll(fsys vfs.FS, dir string) error {
	entries, err := fsys.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if e.IsDir() {
			err = memRemoveAll(fsys, p)
		} else {
			err = fsys.Remove(p)
		}
		if err != nil {
			return err
		}
	}
	return fsys.Remove(dir)
}

// liveSegments returns the paths of s's segments in stream order; the last
// is the open one.
func liveSegments(s *Store) []string {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	var out []string
	for _, se := range s.ix.Segments {
		out = append(out, filepath.Join(s.dir, se.Name))
	}
	return out
}

// removal removes some of a live store's files and says which file the
// error must name.
type removal struct {
	name string
	// rotate: the store rotates segments, so there are sealed ones.
	rotate bool
	// flushSees: Flush notices it (an open file lost its last link); the
	// others are seen by Sync and Close only.
	flushSees bool
	remove    func(t *testing.T, rfs removalFS, fsys vfs.FS, s *Store) (named string)
}

var removals = []removal{
	{name: "live segment", flushSees: true, remove: func(t *testing.T, rfs removalFS, fsys vfs.FS, s *Store) string {
		segs := liveSegments(s)
		require.Len(t, segs, 1)
		require.NoError(t, rfs.remove(fsys, segs[0]))
		return segs[0]
	}},
	{name: "LOCK", flushSees: true, remove: func(t *testing.T, rfs removalFS, fsys vfs.FS, s *Store) string {
		p := filepath.Join(s.dir, LockFileName)
		require.NoError(t, rfs.remove(fsys, p))
		return p
	}},
	{name: "run directory", flushSees: true, remove: func(t *testing.T, rfs removalFS, fsys vfs.FS, s *Store) string {
		require.NoError(t, rfs.removeAll(fsys, s.dir))
		return s.dir
	}},
	{name: "run directory with sealed segments", rotate: true, flushSees: true, remove: func(t *testing.T, rfs removalFS, fsys vfs.FS, s *Store) string {
		require.NoError(t, rfs.removeAll(fsys, s.dir))
		return s.dir
	}},
	{name: "sealed middle segment", rotate: true, remove: func(t *testing.T, rfs removalFS, fsys vfs.FS, s *Store) string {
		segs := liveSegments(s)
		require.GreaterOrEqual(t, len(segs), 3, "segments rotate")
		mid := segs[len(segs)/2]
		require.NotEqual(t, segs[len(segs)-1], mid)
		require.NoError(t, rfs.remove(fsys, mid))
		return mid
	}},
}

// TestFilesRemovedUnderWriter removes a live store's files (the table
// above) on the OS and on MemFS, and checks that Flush (where an open file
// lost its last link), Sync and Close then fail with ErrFilesRemoved naming
// the file, and that the failure is sticky. Before the check, all three
// returned nil and what was logged afterwards was silently lost.
func TestFilesRemovedUnderWriter(t *testing.T) {
	for _, rfs := range removalFSes {
		for _, rm := range removals {
			for _, closeOnly := range []bool{false, true} {
				name := rfs.name + "/" + rm.name + "/flush-sync-close"
				if closeOnly {
					name = rfs.name + "/" + rm.name + "/close-only"
				}
				t.Run(name, func(t *testing.T) { testFilesRemoved(t, rfs, rm, closeOnly) })
			}
		}
	}
}

func testFilesRemoved(t *testing.T, rfs removalFS, rm removal, closeOnly bool) {
	opts := Options{FlushInterval: time.Hour, BlockTargetBytes: 256}
	if rm.rotate {
		opts.SegmentTargetBytes = 1024
	}
	dir := filepath.Join(t.TempDir(), "run")
	if rfs.fsys != nil {
		opts.FS = rfs.fsys()
		dir = "/runs/run"
	}
	s, err := Create(dir, "removed-run", opts)
	require.NoError(t, err)
	f, err := s.Field("loss", KindMetric)
	require.NoError(t, err)
	step := 0
	logSome := func(n int) {
		for range n {
			require.NoError(t, f.LogMetric(float64(step), float64(step)*0.5))
			step++
		}
	}
	logSome(50)
	require.NoError(t, s.Sync())
	for rm.rotate && len(liveSegments(s)) < 4 {
		logSome(200)
		require.NoError(t, s.Flush())
	}
	require.NoError(t, s.Sync(), "nothing removed yet")

	named := rm.remove(t, rfs, opts.FS, s)
	logSome(50)
	check := func(what string, err error) {
		t.Helper()
		require.ErrorIs(t, err, ErrFilesRemoved, what)
		require.NotErrorIs(t, err, ErrCorrupt, what)
		require.Contains(t, err.Error(), named, what+" names the file")
	}
	if !closeOnly {
		if rm.flushSees {
			check("Flush", s.Flush())
		} else {
			require.NoError(t, s.Flush(), "Flush checks only the open files")
		}
		check("Sync", s.Sync())
		check("Log after", f.LogMetric(float64(step), 0))
		check("Flush after", s.Flush())
		check("Sync after", s.Sync())
	}
	check("Close", s.Close())
	require.NoError(t, s.Close(), "a second Close is a no-op")
	if rfs.fsys == nil {
		if _, err := os.Stat(dir); err == nil {
			// The lock is released: the run (what is left of it) opens.
			if s2, err := Open(dir, Options{}); err == nil {
				require.NoError(t, s2.Close())
			}
		}
	}
}

// TestFilesRemovedSeenByBackgroundFlush: with nobody calling Flush, the
// background flusher notices a removed run directory at its next flush and
// Log starts failing, instead of writing into unlinked files until the
// next segment is created.
func TestFilesRemovedSeenByBackgroundFlush(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	s, err := Create(dir, "removed-run", Options{FlushInterval: 5 * time.Millisecond})
	require.NoError(t, err)
	f, err := s.Field("loss", KindMetric)
	require.NoError(t, err)
	require.NoError(t, f.LogMetric(0, 1))
	require.NoError(t, s.Flush())
	require.NoError(t, os.RemoveAll(dir))
	deadline := time.Now().Add(10 * time.Second)
	for i := 1; ; i++ {
		err = f.LogMetric(float64(i), 1)
		if err != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	require.ErrorIs(t, err, ErrFilesRemoved, "Log fails once a flush saw the removal")
	require.Contains(t, err.Error(), dir)
	require.ErrorIs(t, s.Close(), ErrFilesRemoved)
}

// TestFilesRemovedNotRaisedWithoutRemoval: a long life with rotations,
// flushes, syncs and a resume never trips the check.
func TestFilesRemovedNotRaisedWithoutRemoval(t *testing.T) {
	opts := Options{FlushInterval: time.Millisecond, BlockTargetBytes: 256, SegmentTargetBytes: 2048}
	s, dir := newRun(t, opts)
	for session := range 2 {
		f, err := s.Field("loss", KindMetric)
		require.NoError(t, err)
		for i := range 3000 {
			require.NoError(t, f.LogMetric(float64(session*3000+i), lossValues[i]))
			switch i % 500 {
			case 100:
				require.NoError(t, s.Flush())
			case 300:
				require.NoError(t, s.Sync())
			}
		}
		require.NoError(t, s.Close())
		if session == 0 {
			s, err = Open(dir, opts)
			require.NoError(t, err)
		}
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	segs := 0
	for _, e := range entries {
		if _, _, ok := segment.ParseSegmentName(e.Name()); ok {
			segs++
		}
	}
	require.Greater(t, segs, 4, "segments rotated")
}

// BenchmarkLivenessCheck is what the check costs each flush that wrote
// blocks (two fstats: the open segment and LOCK) and each Sync or Close
// (that plus a Stat of each of the writer's segments; 4 here), on the OS.
func BenchmarkLivenessCheck(b *testing.B) {
	s, _ := newRun(b, Options{FlushInterval: time.Hour, BlockTargetBytes: 256, SegmentTargetBytes: 1024})
	defer s.Close()
	f, _ := s.Field("loss", KindMetric)
	for i := 0; len(liveSegments(s)) < 4; i++ {
		_ = f.LogMetric(float64(i), lossValues[i&(1<<16-1)])
		if i%100 == 0 {
			_ = s.Flush()
		}
	}
	for _, bc := range []struct {
		name  string
		check func() error
	}{{"flush", s.checkLinked}, {"sync", s.checkFiles}} {
		b.Run(bc.name, func(b *testing.B) {
			s.flushMu.Lock()
			defer s.flushMu.Unlock()
			b.ReportAllocs()
			for b.Loop() {
				if err := bc.check(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
