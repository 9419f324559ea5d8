package engine

import (
	"fmt"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/index"
	"github.com/goodseed/goodseed-go/internal/vfs"
	"github.com/goodseed/goodseed-go/segment"
	"github.com/goodseed/goodseed-go/series"
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

// TestResumeSyncsWhatItBuildsOn is the regression test for synced data a
// power loss could orphan: a writer killed after a Flush leaves blocks in
// the page cache that were never fsynced; a resume reads them and defines
// its new fields after theirs. When its own blocks were synced but the
// crashed writer's were not, a power loss kept the new blocks and dropped
// the old ones, and every record of the new fields named a field id whose
// definition was gone: data Sync had acknowledged, unreadable. A resume
// now fsyncs the unsealed segments it builds on. Found by the fault sweep
// (TestFaultSweepEverySite, a failed write then a resume).
func TestResumeSyncsWhatItBuildsOn(t *testing.T) {
	mem := vfs.NewMem()
	dir := "/p/run"
	s, err := Create(dir, "power", Options{FS: mem, FlushInterval: time.Hour})
	require.NoError(t, err)
	f, err := s.Field("old", KindMetric)
	require.NoError(t, err)
	require.NoError(t, f.LogMetric(1, 1))
	require.NoError(t, s.Flush()) // written, not synced
	// kill -9: the lock goes with the process, the page cache keeps the
	// bytes, nothing more is synced (the header and the directory were,
	// by Create).
	s.abandon()

	s, err = Open(dir, Options{FS: mem, FlushInterval: time.Hour})
	require.NoError(t, err)
	g, err := s.Field("new", KindMetric)
	require.NoError(t, err)
	require.EqualValues(t, 1, g.ID(), "defined after the crashed writer's field")
	require.NoError(t, g.LogMetric(1, 2))
	require.NoError(t, s.Sync())

	power := mem.CrashClone() // a power loss right after the Sync
	require.NoError(t, s.Close())
	r, err := OpenReader(dir, power)
	require.NoError(t, err)
	defer r.Close()
	require.Empty(t, r.Report().Corruptions)
	c := readMetric(t, r, "new")
	require.Equal(t, []float64{2}, c.Values, "what Sync acknowledged survives the power loss")
	c = readMetric(t, r, "old")
	require.Equal(t, []float64{1}, c.Values, "and so does what it was built on")
}

// TestCheckFindsACutFooter is the regression test for a truncation Check
// graded as a mere stale index: a sealed segment cut exactly at the end of
// its last block reads like a crashed writer's unsealed one — only the
// index remembers the seal — and Check reported a warning about the index
// and an unsealed segment, naming neither the segment's damage nor where.
// Found by the corruption matrix (every truncation point).
func TestCheckFindsACutFooter(t *testing.T) {
	mem := vfs.NewMem()
	dir := "/cut/run"
	s, err := Create(dir, "cut", Options{FS: mem, FlushInterval: time.Hour})
	require.NoError(t, err)
	f, err := s.Field("m", KindMetric)
	require.NoError(t, err)
	for i := range 100 {
		require.NoError(t, f.LogMetric(float64(i), float64(i)))
	}
	require.NoError(t, s.Close())
	seg := segment.SegmentName(1, 1)
	blocks := blocksOf(t, mem, filepath.Join(dir, seg))
	end := blocks[len(blocks)-1].End()
	files := readRunFiles(t, mem, dir)
	require.Greater(t, int64(len(files[seg])), end, "a footer and trailer follow the last block")
	files[seg] = files[seg][:end]
	mem = files.mount(t, dir)

	var found []Finding
	sum, err := Check(dir, mem, func(f Finding) { found = append(found, f) })
	require.NoError(t, err)
	require.False(t, sum.Clean(), "%v", found)
	require.True(t, slices.ContainsFunc(found, func(f Finding) bool {
		return f.Severity == Damage && f.Kind == "truncated" && filepath.Base(f.File) == seg && f.Offset == end
	}), "%v", found)
	// Nothing is lost: readers rebuild the index and read every point.
	r, err := OpenReader(dir, mem)
	require.NoError(t, err)
	defer r.Close()
	require.True(t, r.Report().IndexRebuilt)
	c := readMetric(t, r, "m")
	require.Len(t, c.Steps, 100)
}

// TestLostDefinitionKeepsLaterFields is the regression test for one
// damaged block costing every field defined after it. Field ids are dense,
// and the loader refused a definition whose id skipped one ("defined out
// of order"), then skipped the rest of that block; so once the block
// defining a field was lost (and no trusted index knew the dictionary),
// every later field's definition failed in turn, and with it all their
// points, in blocks that were intact. Now a lost definition leaves a hole
// in the dictionary: the hole's records are orphans (reported), every
// other record reads, a resumed writer carries on after the hole, and an
// index that does not verify against the segments but whose checksum
// holds still lends its dictionary to the rebuild. Found by the corruption
// matrix (a flip in a block of a crashed run).
func TestLostDefinitionKeepsLaterFields(t *testing.T) {
	mem := vfs.NewMem()
	dir := "/lost/run"
	opts := Options{FS: mem, FlushInterval: time.Hour, SegmentTargetBytes: 1}
	s, err := Create(dir, "lost", opts)
	require.NoError(t, err)
	logTo := func(path string, st float64) {
		f, err := s.Field(path, KindMetric)
		require.NoError(t, err)
		require.NoError(t, f.LogMetric(st, st))
	}
	// One block per flush, one segment per block (SegmentTargetBytes 1).
	logTo("a", 0) // segment 1: a defined
	require.NoError(t, s.Flush())
	logTo("b", 1) // segment 2: b defined, a and b points
	logTo("a", 1)
	require.NoError(t, s.SetConfig("cfg", Int(7)))
	require.NoError(t, s.Flush())
	logTo("c", 2) // segment 3: c defined, all three
	logTo("b", 2)
	logTo("a", 2)
	require.NoError(t, s.Close())
	intact := readRunFiles(t, mem, dir)
	seg1, seg2 := segment.SegmentName(1, 1), segment.SegmentName(1, 2)
	first := blocksOf(t, mem, filepath.Join(dir, seg1))[0]

	read := func(files runFiles) (*Reader, map[string]int) {
		t.Helper()
		fsys := files.mount(t, dir)
		r, err := OpenReader(dir, fsys)
		require.NoError(t, err)
		t.Cleanup(func() { r.Close() })
		n := map[string]int{}
		for _, fi := range r.Fields() {
			require.NotZero(t, fi.Kind, "a hole is not a field")
			if fi.Kind == KindMetric {
				var c series.MetricColumns
				_ = r.ReadMetric(fi.Path, &c)
				n[fi.Path] = c.Len()
			}
		}
		return r, n
	}

	// The block defining a damaged, no index: a's points are orphans, b's
	// and c's are all there.
	files := intact.clone()
	delete(files, index.FileName)
	files[seg1][first.Offset+first.Size/2] ^= 0x10
	r, n := read(files)
	require.Equal(t, map[string]int{"b": 2, "c": 1}, n)
	require.NotEmpty(t, r.Report().Corruptions, "the orphans are reported")
	require.Equal(t, Int(7), r.Configs()["cfg"].Value)

	// A writer resumes after the hole, and its index reopens.
	fsys := files.mount(t, dir)
	w, err := Open(dir, Options{FS: fsys, FlushInterval: time.Hour})
	require.NoError(t, err)
	d, err := w.Field("d", KindMetric)
	require.NoError(t, err)
	require.EqualValues(t, 4, d.ID(), "new fields go after the hole (a 0, b 1, cfg 2, c 3)")
	require.NoError(t, d.LogMetric(3, 3))
	fb, err := w.Field("b", KindMetric)
	require.NoError(t, err)
	require.NoError(t, fb.LogMetric(3, 3))
	require.Len(t, w.Fields(), 4, "b, cfg, c, d")
	require.NoError(t, w.Close())
	r2, err := OpenReader(dir, fsys)
	require.NoError(t, err)
	defer r2.Close()
	require.False(t, r2.Report().IndexRebuilt, r2.Report().IndexProblem)
	require.Len(t, r2.Fields(), 4)
	require.Len(t, readMetric(t, r2, "b").Steps, 3)
	require.Len(t, readMetric(t, r2, "d").Steps, 1)

	// The segment defining b deleted, the index present: the index no
	// longer verifies (it lists the segment), but its dictionary still
	// names b, so b's point in segment 3 reads.
	files = intact.clone()
	delete(files, seg2)
	r, n = read(files)
	require.True(t, r.Report().IndexRebuilt)
	require.Equal(t, []string{seg2}, r.Report().MissingSegments)
	require.Equal(t, map[string]int{"a": 2, "b": 1, "c": 1}, n)
}
