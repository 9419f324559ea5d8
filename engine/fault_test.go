package engine

import (
	"errors"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/internal/vfs"
)

// faultWorkload logs into a new run through fsys and returns how many
// points of each field a successful Sync or Close made durable, and the
// first error any call returned.
func faultWorkload(dir string, fsys vfs.FS) (durable int, firstErr error) {
	opts := Options{FS: fsys, FlushInterval: time.Hour, BlockTargetBytes: 2048, SegmentTargetBytes: 8192}
	s, err := Create(dir, "faulty", opts)
	if err != nil {
		return 0, err
	}
	fields := make([]*Field, 3)
	for i := range fields {
		if fields[i], err = s.Field(fmt.Sprintf("f/%d", i), KindMetric); err != nil {
			s.Close()
			return 0, err
		}
	}
	logged := 0
	step := func(n int) error {
		for k := 0; k < n; k++ {
			for i, f := range fields {
				if err := f.LogMetric(float64(logged), float64(logged*10+i)); err != nil {
					return err
				}
			}
			logged++
		}
		return nil
	}
	for round := 0; round < 4; round++ {
		if err := step(400); err != nil {
			s.Close()
			return durable, err
		}
		if err := s.SetConfig("round", Int(int64(round))); err != nil {
			s.Close()
			return durable, err
		}
		if err := s.Sync(); err != nil {
			s.Close()
			return durable, err
		}
		durable = logged
	}
	if err := step(100); err != nil {
		s.Close()
		return durable, err
	}
	if err := s.Close(); err != nil {
		return durable, err
	}
	return logged, nil
}

// TestFaultSweep fails each file-system call of a workload in turn, of each
// kind, and checks that the error surfaces, nothing panics, and reopening
// on a healthy file system recovers everything made durable before it.
func TestFaultSweep(t *testing.T) {
	enospc := fmt.Errorf("%w: %w", vfs.ErrShortWrite, syscall.ENOSPC)
	for _, tc := range []struct {
		name string
		ops  []vfs.Op
		err  error
	}{
		{"write", []vfs.Op{vfs.OpWrite}, syscall.EIO},
		{"short-write", []vfs.Op{vfs.OpWrite}, vfs.ErrShortWrite},
		{"enospc-mid-block", []vfs.Op{vfs.OpWrite}, enospc},
		{"fsync", []vfs.Op{vfs.OpSync}, syscall.EIO},
		{"create", []vfs.Op{vfs.OpCreate}, syscall.EACCES},
		{"dir-sync", []vfs.Op{vfs.OpSyncDir}, syscall.EIO},
		{"rename", []vfs.Op{vfs.OpRename}, syscall.EXDEV},
	} {
		t.Run(tc.name, func(t *testing.T) {
			counter := &vfs.Countdown{Ops: tc.ops}
			_, err := faultWorkload(filepath.Join(t.TempDir(), "run"), vfs.NewErrorFS(vfs.Default, counter))
			require.NoError(t, err)
			calls := counter.Count()
			require.NotZero(t, calls, "the workload makes no %s call", tc.name)
			fired := 0
			for n := 1; n <= calls; n++ {
				dir := filepath.Join(t.TempDir(), "run")
				inj := &vfs.Countdown{Ops: tc.ops, N: n, Err: tc.err, Sticky: true}
				durable, err := faultWorkload(dir, vfs.NewErrorFS(vfs.Default, inj))
				if !inj.Fired() {
					// The background flusher's timing moves the count of
					// writes by a few from run to run.
					require.NoError(t, err)
					continue
				}
				fired++
				require.Error(t, err, "call %d: fault swallowed", n)
				require.ErrorIs(t, err, tc.err, "call %d: the cause must reach the caller", n)
				checkRecovered(t, dir, durable, n)
			}
			require.Greater(t, fired, calls/2, "most call sites exercised")
		})
	}
}

// checkRecovered reopens dir for writing on the real file system and checks
// that the first durable points of every field are there.
func checkRecovered(t *testing.T, dir string, durable, call int) {
	t.Helper()
	s, err := Open(dir, Options{})
	if durable == 0 && errors.Is(err, ErrNotFound) {
		return // the run never came to exist
	}
	require.NoError(t, err, "call %d: reopen", call)
	require.Empty(t, s.Recovery().Corruptions, "call %d", call)
	require.NoError(t, s.Close())
	r := openReader(t, dir)
	for i := 0; i < 3; i++ {
		if durable == 0 {
			break
		}
		c := readMetric(t, r, fmt.Sprintf("f/%d", i))
		require.GreaterOrEqual(t, c.Len(), durable, "call %d field %d", call, i)
		for k := 0; k < c.Len(); k++ {
			require.Equal(t, float64(k), c.Steps[k])
			require.Equal(t, float64(k*10+i), c.Values[k])
		}
	}
}
