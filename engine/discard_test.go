package engine

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/internal/vfs"
	"github.com/goodseed/goodseed-go/segment"
)

// fullDisk fails op on files whose name ends with suffix with ENOSPC while
// on is set: a disk that is full when Create runs.
type fullDisk struct {
	on     atomic.Bool
	op     vfs.Op
	suffix string
	before func(path string) // called before the fault is returned
}

func (d *fullDisk) MaybeError(op vfs.Op, path string) error {
	if !d.on.Load() || op != d.op || !strings.HasSuffix(path, d.suffix) {
		return nil
	}
	if d.before != nil {
		d.before(path)
	}
	return &fs.PathError{Op: op.String(), Path: path, Err: syscall.ENOSPC}
}

// createFaults are the steps of Create a full disk can refuse.
var createFaults = []struct {
	name   string
	op     vfs.Op
	suffix string
}{
	{"segment create", vfs.OpCreate, segment.SegmentName(1, 1)},
	{"segment header write", vfs.OpWrite, segment.SegmentName(1, 1)},
	{"segment fsync", vfs.OpSync, segment.SegmentName(1, 1)},
	{"LOCK owner record", vfs.OpWrite, LockFileName},
	{"run dir fsync", vfs.OpSyncDir, "run"},
}

// TestCreateOnFullDiskLeavesNothing: a Create refused by a full disk, at
// any of its steps, removes the run directory it made (it used to leave
// one holding only LOCK), keeps the parent, and a second Create of the same
// run id succeeds once there is room again.
func TestCreateOnFullDiskLeavesNothing(t *testing.T) {
	for _, mem := range []bool{false, true} {
		for _, f := range createFaults {
			name := "os/" + f.name
			if mem {
				name = "mem/" + f.name
			}
			t.Run(name, func(t *testing.T) {
				var inner vfs.FS = vfs.OS{}
				parent := t.TempDir()
				if mem {
					inner, parent = vfs.NewMem(), "/runs"
					require.NoError(t, inner.MkdirAll(parent, 0o755))
				}
				disk := &fullDisk{op: f.op, suffix: f.suffix}
				disk.on.Store(true)
				inj := vfs.Injector(disk)
				fsys := withLockFaults(vfs.NewErrorFS(inner, inj), inj)
				dir := filepath.Join(parent, "run")

				_, err := Create(dir, "full-run", Options{FS: fsys})
				require.ErrorIs(t, err, syscall.ENOSPC)
				_, err = inner.Stat(dir)
				require.ErrorIs(t, err, fs.ErrNotExist, "the run directory Create made is gone")
				_, err = inner.Stat(parent)
				require.NoError(t, err, "the parent stays")

				disk.on.Store(false)
				s, err := Create(dir, "full-run", Options{FS: fsys})
				require.NoError(t, err, "a retry with the same id works")
				require.NoError(t, s.Close())
				s, err = Open(dir, Options{FS: fsys})
				require.NoError(t, err)
				require.Equal(t, "full-run", s.RunID())
				require.NoError(t, s.Close())
			})
		}
	}
}

// TestCreateFailureKeepsWhatItDidNotMake: a failed Create never removes a
// directory that existed before it, one that holds anything besides what
// Create made, or a run it found (ErrExist).
func TestCreateFailureKeepsWhatItDidNotMake(t *testing.T) {
	seg := segment.SegmentName(1, 1)
	t.Run("directory existed", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "run")
		require.NoError(t, os.Mkdir(dir, 0o755))
		disk := &fullDisk{op: vfs.OpCreate, suffix: seg}
		disk.on.Store(true)
		_, err := Create(dir, "full-run", Options{FS: vfs.NewErrorFS(vfs.OS{}, disk)})
		require.ErrorIs(t, err, syscall.ENOSPC)
		fi, err := os.Stat(dir)
		require.NoError(t, err)
		require.True(t, fi.IsDir())
		disk.on.Store(false)
		s, err := Create(dir, "full-run", Options{FS: vfs.NewErrorFS(vfs.OS{}, disk)})
		require.NoError(t, err, "retry")
		require.NoError(t, s.Close())
	})
	t.Run("someone else's file appeared", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "run")
		foreign := filepath.Join(dir, "notes.txt")
		disk := &fullDisk{op: vfs.OpCreate, suffix: seg, before: func(string) {
			require.NoError(t, os.WriteFile(foreign, []byte("mine"), 0o644))
		}}
		disk.on.Store(true)
		_, err := Create(dir, "full-run", Options{FS: vfs.NewErrorFS(vfs.OS{}, disk)})
		require.ErrorIs(t, err, syscall.ENOSPC)
		b, err := os.ReadFile(foreign)
		require.NoError(t, err)
		require.Equal(t, "mine", string(b))
		_, err = os.Stat(filepath.Join(dir, LockFileName))
		require.ErrorIs(t, err, fs.ErrNotExist, "what Create made is removed all the same")
	})
	t.Run("a run is there", func(t *testing.T) {
		s, dir := newRun(t, Options{})
		f, err := s.Field("loss", KindMetric)
		require.NoError(t, err)
		require.NoError(t, f.LogMetric(1, 2))
		require.NoError(t, s.Close())
		_, err = Create(dir, "other-run", Options{})
		require.ErrorIs(t, err, ErrExist)
		r := openReader(t, dir)
		require.Equal(t, []float64{2}, readMetric(t, r, "loss").Values)
	})
}

// TestDiscard: Discard removes everything of a run Create made, segments
// it rotated through included, and the same id can be created again; it
// refuses a store Open returned, and leaves a directory it did not make.
func TestDiscard(t *testing.T) {
	opts := Options{BlockTargetBytes: 256, SegmentTargetBytes: 1024}
	s, dir := newRun(t, opts)
	f, err := s.Field("loss", KindMetric)
	require.NoError(t, err)
	for i := range 2000 {
		require.NoError(t, f.LogMetric(float64(i), lossValues[i]))
	}
	require.NoError(t, s.Sync())
	require.Greater(t, len(liveSegments(s)), 2, "segments rotated")
	require.NoError(t, s.Discard())
	_, err = os.Stat(dir)
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.ErrorIs(t, s.Discard(), ErrClosed)
	require.NoError(t, s.Close(), "Close after Discard is a no-op")

	s, err = Create(dir, "test-run", opts)
	require.NoError(t, err, "the id is free again")
	require.NoError(t, s.Close())
	s, err = Open(dir, opts)
	require.NoError(t, err)
	require.Error(t, s.Discard(), "a resumed run is never discarded")
	require.NoError(t, s.Close())
	_, err = os.Stat(filepath.Join(dir, segment.SegmentName(1, 1)))
	require.NoError(t, err)

	pre := filepath.Join(t.TempDir(), "pre")
	require.NoError(t, os.Mkdir(pre, 0o755))
	s, err = Create(pre, "pre-run", opts)
	require.NoError(t, err)
	require.NoError(t, s.Discard())
	entries, err := os.ReadDir(pre)
	require.NoError(t, err, "a directory Create did not make stays")
	require.Empty(t, entries, "emptied of what Create made")
}
