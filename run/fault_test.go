package run

import (
	"errors"
	"fmt"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/internal/vfs"
)

// TestWriteFailures fails the k-th write (ENOSPC, sticky) for many k: every
// call returns an error or succeeds, nothing panics, the error says ENOSPC,
// and what a reader gets afterwards is only what was logged.
func TestWriteFailures(t *testing.T) {
	// Count the writes of a clean run first, to cover every one.
	count := &vfs.Countdown{Ops: []vfs.Op{vfs.OpWrite, vfs.OpSync}}
	scenario(t, t.TempDir(), count)
	total := count.Count()
	require.Greater(t, total, 5)

	// The background flusher's timing changes how many writes a run makes,
	// so the last few k may not be reached; most must be.
	fired := 0
	defer func() { require.GreaterOrEqual(t, fired, total*3/4, "faults that happened") }()
	for k := 1; k <= total; k++ {
		t.Run(fmt.Sprint("fail write ", k), func(t *testing.T) {
			home := t.TempDir()
			inj := &vfs.Countdown{Ops: []vfs.Op{vfs.OpWrite, vfs.OpSync}, N: k, Err: syscall.ENOSPC, Sticky: true}
			err := scenario(t, home, inj)
			if !inj.Fired() {
				return // this run made fewer than k writes: nothing was injected
			}
			fired++
			require.Error(t, err, "a failed write is never silent")
			require.ErrorIs(t, err, syscall.ENOSPC)

			ro, err := OpenReadOnly("faulty", Options{Home: home})
			if errors.Is(err, ErrNotFound) {
				return // failed before the run existed
			}
			require.NoError(t, err)
			defer ro.Close()
			pts, err := ro.Metric("loss")
			if errors.Is(err, ErrNotFound) {
				return
			}
			require.NoError(t, err)
			for _, p := range pts {
				require.Equal(t, p.Step*2, p.Value, "only logged points come back")
			}
		})
	}
}

// scenario creates a run on fsys, logs, flushes, and closes it, returning
// the first error of any call.
func scenario(t *testing.T, home string, inj vfs.Injector) error {
	t.Helper()
	fsys := vfs.NewErrorFS(vfs.Default, inj)
	r, err := New(Options{Home: home, RunID: "faulty", Quiet: true, Git: GitOptions{Disabled: true},
		Engine: engine.Options{FS: fsys, BlockTargetBytes: 512}})
	if err != nil {
		return err
	}
	var errs []error
	f := r.Field("loss")
	for i := range 300 {
		errs = append(errs, f.Log(float64(2*i), float64(i)))
		if i%100 == 99 {
			errs = append(errs, r.Flush())
		}
	}
	errs = append(errs, r.Set("params/lr", 0.1), r.Sync(), r.Close())
	return errors.Join(errs...)
}
