package run

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/internal/vfs"
	"github.com/goodseed/goodseed-go/segment"
)

// TestFilesRemovedUnderRun: a run whose segment, or whole directory, is
// removed while it is written fails Flush, Sync and Close with
// ErrFilesRemoved naming the file, from then on, instead of returning nil
// and losing everything logged (with one segment the run then read "holds
// no run").
func TestFilesRemovedUnderRun(t *testing.T) {
	removals := map[string]func(dir string) (named string, err error){
		"segment": func(dir string) (string, error) {
			p := filepath.Join(dir, segment.SegmentName(1, 1))
			return p, os.Remove(p)
		},
		"run directory": func(dir string) (string, error) { return dir, os.RemoveAll(dir) },
	}
	for name, remove := range removals {
		t.Run(name, func(t *testing.T) {
			opts, _ := testOptions(t)
			opts.RunID = "removed"
			opts.Engine.FlushInterval = time.Hour
			r, err := New(opts)
			require.NoError(t, err)
			f := r.Field("loss")
			require.NoError(t, f.Log(1, 0))
			require.NoError(t, r.Sync())

			named, err := remove(r.Dir())
			require.NoError(t, err)
			require.NoError(t, f.Log(2, 1), "Log only puts the point in memory")
			for _, c := range []struct {
				what string
				call func() error
			}{{"Flush", r.Flush}, {"Sync", r.Sync}, {"Log", func() error { return f.Log(3, 2) }}, {"Close", r.Close}} {
				err := c.call()
				require.ErrorIs(t, err, ErrFilesRemoved, c.what)
				require.ErrorIs(t, err, engine.ErrFilesRemoved, c.what)
				require.NotErrorIs(t, err, ErrCorrupt, c.what)
				require.Contains(t, err.Error(), named, c.what)
			}
		})
	}
}

// fullDisk refuses segment operations with ENOSPC: with writes set every
// write and fsync, with blocks every write after a segment's header, with
// creates every creation.
type fullDisk struct {
	writes, blocks, creates atomic.Bool
	headers                 sync.Map // segments whose header was written
}

func (d *fullDisk) MaybeError(op vfs.Op, path string) error {
	if !strings.HasSuffix(path, ".seg") {
		return nil
	}
	full := false
	switch op {
	case vfs.OpWrite:
		_, written := d.headers.LoadOrStore(path, true)
		full = d.writes.Load() || (d.blocks.Load() && written)
	case vfs.OpSync:
		full = d.writes.Load()
	case vfs.OpCreate:
		full = d.creates.Load()
	}
	if full {
		return &fs.PathError{Op: op.String(), Path: path, Err: syscall.ENOSPC}
	}
	return nil
}

// lift makes room on the disk again.
func (d *fullDisk) lift() { d.writes.Store(false); d.blocks.Store(false); d.creates.Store(false) }

// TestCloseAfterENOSPCSaysItOnce: the store's sticky ENOSPC came back from
// each write of the final status and from the store's Close, and Close
// joined all five copies.
func TestCloseAfterENOSPCSaysItOnce(t *testing.T) {
	opts, _ := testOptions(t)
	opts.RunID = "full"
	disk := &fullDisk{}
	opts.Engine = engine.Options{FlushInterval: time.Hour, FS: vfs.NewErrorFS(vfs.Default, disk)}
	r, err := New(opts)
	require.NoError(t, err)
	disk.writes.Store(true)
	require.NoError(t, r.Field("loss").Log(1, 1))
	require.ErrorIs(t, r.Flush(), syscall.ENOSPC)
	err = r.Close()
	require.ErrorIs(t, err, syscall.ENOSPC)
	require.Equal(t, 1, strings.Count(err.Error(), syscall.ENOSPC.Error()), "said once: %v", err)
	require.True(t, strings.HasPrefix(err.Error(), "run full: close: "), err.Error())
	require.Equal(t, err, r.Close(), "a second Close returns the first one's result")
}

// TestNewOnFullDiskLeavesNothing: a New refused by a full disk — the first
// segment cannot be created, or the store fails while the run's creation
// is recorded — leaves no run directory (it used to leave one holding only
// LOCK, or a run that never was), and New with the same id works once
// there is room.
func TestNewOnFullDiskLeavesNothing(t *testing.T) {
	cases := map[string]struct {
		fill  func(d *fullDisk, o *engine.Options)
		where string
	}{
		"first segment": {func(d *fullDisk, _ *engine.Options) { d.creates.Store(true) }, "create segment"},
		"recording the creation": {func(d *fullDisk, o *engine.Options) {
			// The segment header is written; the first block, which a
			// tiny memory budget makes the flusher write while New
			// records the creation, is refused.
			o.MaxBufferedBytes, o.BlockTargetBytes = 64, 64
			d.blocks.Store(true)
		}, "record creation"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			opts, _ := testOptions(t)
			opts.RunID = "full"
			disk := &fullDisk{}
			opts.Engine = engine.Options{FlushInterval: time.Hour, FS: vfs.NewErrorFS(vfs.Default, disk)}
			c.fill(disk, &opts.Engine)
			o, err := resolve(opts)
			require.NoError(t, err)
			dir := o.runDir("full")

			_, err = New(opts)
			require.ErrorIs(t, err, syscall.ENOSPC)
			require.Contains(t, err.Error(), c.where)
			_, err = os.Stat(dir)
			require.ErrorIs(t, err, fs.ErrNotExist, "no run directory is left")

			disk.lift()
			r, err := New(opts)
			require.NoError(t, err, "the same id works once there is room")
			require.NoError(t, r.Field("loss").Log(1, 1))
			require.NoError(t, r.Close())
			ro, err := OpenReadOnly("full", Options{Home: opts.Home})
			require.NoError(t, err)
			defer ro.Close()
			pts, err := ro.Metric("loss")
			require.NoError(t, err)
			require.Len(t, pts, 1)
		})
	}
}
