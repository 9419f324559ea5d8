package engine

import (
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/index"
	"github.com/goodseed/goodseed-go/internal/vfs"
	"github.com/goodseed/goodseed-go/segment"
)

// Regression tests for bugs the reliability campaign found
// (docs/reliability.md); each says what broke and which tool found it.

// TestResumeAfterInterruptedCut is the regression test for a recovery
// that could never finish: a resume cuts a torn tail by saving its bytes
// to <segment>.torn-<offset> and then truncating the segment. A crash (or
// an error) between the two left the saved file behind and the tail
// uncut, and every later resume failed to create the saved file again
// ("file exists"): the run could not be resumed at all. Found by
// cmd/crashtest (a kill inside recovery).
func TestResumeAfterInterruptedCut(t *testing.T) {
	for _, tc := range []struct {
		name string
		op   vfs.Op
		err  error
	}{
		{"killed before the cut", vfs.OpTruncate, syscall.EIO},     // the saved copy is whole
		{"killed saving the tail", vfs.OpWrite, vfs.ErrShortWrite}, // the saved copy is half
		{"killed before its fsync", vfs.OpSync, syscall.EIO},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem, dir, tail, seg := tornRun(t)
			inj := &vfs.Countdown{Ops: []vfs.Op{tc.op}, N: 1, Err: tc.err}
			_, err := Open(dir, Options{FS: vfs.NewErrorFS(mem, inj)})
			require.ErrorIs(t, err, tc.err, "the interrupted recovery fails")

			s, err := Open(dir, Options{FS: mem})
			require.NoError(t, err, "the next resume must finish the cut")
			cuts := s.Recovery().Cuts
			require.Len(t, cuts, 1)
			require.Equal(t, seg+".torn-"+fmt.Sprint(cuts[0].Offset), cuts[0].SavedAs)
			require.NoError(t, s.Close())
			saved := readRunFiles(t, mem, dir)[cuts[0].SavedAs]
			require.Equal(t, tail, saved, "the saved copy holds the whole torn tail")
		})
	}
	t.Run("an unrelated file in the way", func(t *testing.T) {
		mem, dir, tail, seg := tornRun(t)
		files := readRunFiles(t, mem, dir)
		sz := int64(len(files[seg]))
		name := fmt.Sprintf("%s.torn-%d", seg, sz-int64(len(tail)))
		f, err := mem.Create(filepath.Join(dir, name))
		require.NoError(t, err)
		_, err = f.Write([]byte("not these bytes"))
		require.NoError(t, err)
		require.NoError(t, f.Close())
		s, err := Open(dir, Options{FS: mem})
		require.NoError(t, err)
		require.Equal(t, name+"-2", s.Recovery().Cuts[0].SavedAs, "kept; the tail goes beside it")
		require.NoError(t, s.Close())
		files = readRunFiles(t, mem, dir)
		require.Equal(t, "not these bytes", string(files[name]))
		require.Equal(t, tail, files[name+"-2"])
	})
}

// tornRun is a crashed run whose newest segment ends with half a block.
func tornRun(t *testing.T) (mem *vfs.MemFS, dir string, tail []byte, seg string) {
	t.Helper()
	mem, dir = vfs.NewMem(), "/torn/run"
	s, err := Create(dir, "torn", Options{FS: mem, FlushInterval: time.Hour})
	require.NoError(t, err)
	f, err := s.Field("m", KindMetric)
	require.NoError(t, err)
	for i := range 100 {
		require.NoError(t, f.LogMetric(float64(i), float64(i)))
	}
	require.NoError(t, s.Flush())
	files := readRunFiles(t, mem, dir)
	for i := 100; i < 200; i++ {
		require.NoError(t, f.LogMetric(float64(i), float64(i)))
	}
	require.NoError(t, s.Flush())
	after := readRunFiles(t, mem, dir)
	require.NoError(t, s.Close())
	seg = segment.SegmentName(1, 1)
	before := len(files[seg])
	block := after[seg][before:]
	tail = block[:len(block)/2]
	files[seg] = append(files[seg], tail...)
	delete(files, index.FileName)
	return files.mount(t, dir), dir, tail, seg
}
