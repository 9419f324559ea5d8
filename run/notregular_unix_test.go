//go:build unix

package run

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/internal/vfs"
	"github.com/goodseed/goodseed-go/segment"
)

// A FIFO planted at a segment or LOCK name must not hang a reader: open(2)
// of a FIFO waits for a writer unless O_NONBLOCK is given. The open is
// refused (vfs.ErrNotRegular) or the file does not matter to the read, and
// either way everything returns promptly.

const fifoTimeout = 10 * time.Second

// within runs do, failing the test if it does not return within
// fifoTimeout; then it opens fifo for writing, which releases an open
// blocked on it, so that nothing outlives the test (goleak). do only
// records results: the test checks them once within returns.
func within(t *testing.T, fifo string, do func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		do()
	}()
	select {
	case <-done:
	case <-time.After(fifoTimeout):
		for {
			if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				w.Close()
			}
			select {
			case <-done:
				t.Fatalf("blocked over %v on the FIFO %s", fifoTimeout, fifo)
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
}

func TestReadOnlyFIFOAtSegmentName(t *testing.T) {
	opts, id, segs, _, written := writeLossRun(t)
	dir := filepath.Dir(segs[0])
	pristine := map[string][]byte{}
	for _, f := range segs {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		pristine[f] = data
	}
	for _, tc := range []struct{ name, file string }{
		{"next segment name", filepath.Join(dir, segment.SegmentName(1, uint64(len(segs)+1)))},
		{"middle segment replaced", segs[1]},
		{"last segment replaced", segs[len(segs)-1]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for f, data := range pristine {
				require.NoError(t, os.WriteFile(f, data, 0o644))
			}
			_ = os.Remove(tc.file)
			require.NoError(t, syscall.Mkfifo(tc.file, 0o644))
			defer os.Remove(tc.file)
			var openErr, readErr error
			within(t, tc.file, func() {
				r, err := OpenReadOnly(id, opts)
				if openErr = err; err != nil {
					return
				}
				_, readErr = r.Metric(lossMetric)
				_ = r.Close()
			})
			if openErr != nil {
				require.ErrorIs(t, openErr, vfs.ErrNotRegular)
				require.Contains(t, openErr.Error(), tc.file)
			} else {
				require.Error(t, readErr, "a run with a FIFO for a segment does not read whole")
			}
		})
	}
	for f, data := range pristine {
		require.NoError(t, os.WriteFile(f, data, 0o644))
	}

	// A FIFO at LOCK: the data still reads; asking for the writer returns at
	// once, refusing the FIFO.
	lock := filepath.Join(dir, "LOCK")
	require.NoError(t, os.Remove(lock))
	require.NoError(t, syscall.Mkfifo(lock, 0o644))
	var r *Run
	var openErr, readErr, infoErr error
	var pts []Point
	within(t, lock, func() {
		if r, openErr = OpenReadOnly(id, opts); openErr != nil {
			return
		}
		pts, readErr = r.Metric(lossMetric)
		_, infoErr = r.Info()
	})
	require.NoError(t, openErr)
	defer r.Close()
	require.NoError(t, readErr)
	require.Len(t, pts, len(written))
	require.ErrorIs(t, infoErr, vfs.ErrNotRegular, fmt.Sprint(infoErr))
	require.Contains(t, infoErr.Error(), lock)
}
