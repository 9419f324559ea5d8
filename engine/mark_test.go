package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/internal/vfs"
	"github.com/goodseed/goodseed-go/segment"
	"github.com/goodseed/goodseed-go/series"
)

func TestMarkSlotRoundTrip(t *testing.T) {
	m := Mark{Generation: 7, WriterID: 3, RunHash: runHash("r"), Written: StreamPos{4, 9000}, Synced: StreamPos{4, 100}, BootID: [16]byte{1, 2}}
	b := encodeMark(m)
	require.Len(t, b, markSlotBytes)
	got, err := decodeMark(b)
	require.NoError(t, err)
	require.Equal(t, m, got)
	for bit := range markSlotBytes * 8 {
		c := slices.Clone(b)
		c[bit/8] ^= 1 << (bit % 8)
		_, err := decodeMark(c)
		require.Errorf(t, err, "bit %d flipped", bit)
	}
	// Synced beyond written is not a mark a writer writes.
	bad := m
	bad.Synced = StreamPos{5, 0}
	_, err = decodeMark(encodeMark(bad))
	require.ErrorIs(t, err, errMarkSlot)
}

func FuzzDecodeMark(f *testing.F) {
	f.Add(encodeMark(Mark{Generation: 1, WriterID: 1, Written: StreamPos{1, 46}, Synced: StreamPos{1, 46}}))
	f.Add(make([]byte, markSlotBytes))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMark(b)
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to the same bytes.
		require.Equal(t, b[:markSlotBytes], encodeMark(m))
		require.False(t, m.Written.less(m.Synced))
	})
}

// TestReadMarkFileSlots: the valid slot of the highest generation wins; a
// torn or damaged slot leaves the other one.
func TestReadMarkFileSlots(t *testing.T) {
	mem := vfs.NewMem()
	dir := "/run"
	require.NoError(t, mem.MkdirAll(dir, 0o755))
	mw, err := createMark(mem, dir, 1, runHash("x"), StreamPos{1, 46})
	require.NoError(t, err)
	mf, err := ReadMarkFile(mem, dir, 1)
	require.NoError(t, err)
	require.Equal(t, StreamPos{1, 46}, mf.Mark.Synced)
	mw.wrote(StreamPos{1, 500})
	require.NoError(t, mw.store(false))
	mw.wrote(StreamPos{1, 900})
	mw.synced()
	require.NoError(t, mw.store(true))
	require.NoError(t, mw.close())
	mf, err = ReadMarkFile(mem, dir, 1)
	require.NoError(t, err)
	require.Equal(t, uint64(2), mf.Mark.Generation)
	require.Equal(t, StreamPos{1, 900}, mf.Mark.Written)
	require.Equal(t, StreamPos{1, 900}, mf.Mark.Synced)

	files := readRunFiles(t, mem, dir)
	name := MarkFileName(1)
	files[name][5] ^= 1 // slot 0 (generation 2) damaged: generation 1 in slot 1 is read
	mf, err = ReadMarkFile(files.mount(t, dir), dir, 1)
	require.NoError(t, err)
	require.Equal(t, uint64(1), mf.Mark.Generation)
	require.Equal(t, StreamPos{1, 500}, mf.Mark.Written)
	require.NotEmpty(t, mf.Slots[0])
	files[name][markSlotBytes+9] ^= 1 // and slot 1: nothing reads
	_, err = ReadMarkFile(files.mount(t, dir), dir, 1)
	require.ErrorIs(t, err, ErrCorrupt)

	// A second session carries the generation on and starts where the
	// stream is durable.
	mw, err = createMark(mem, dir, 1, runHash("x"), StreamPos{2, 46})
	require.NoError(t, err)
	require.NoError(t, mw.close())
	mf, err = ReadMarkFile(mem, dir, 1)
	require.NoError(t, err)
	require.Equal(t, uint64(3), mf.Mark.Generation)
	require.Equal(t, StreamPos{2, 46}, mf.Mark.Written)
}

// TestMarkVouchedNeedsTheSameBoot: what a writer wrote without fsync is
// vouched for only while the kernel that took the write runs.
func TestMarkVouchedNeedsTheSameBoot(t *testing.T) {
	m := Mark{Written: StreamPos{2, 900}, Synced: StreamPos{2, 100}, BootID: bootID}
	if bootID == ([16]byte{}) {
		require.Equal(t, m.Synced, m.Vouched(), "no boot id: only what was synced")
		return
	}
	require.Equal(t, m.Written, m.Vouched())
	m.BootID[0] ^= 1
	require.Equal(t, m.Synced, m.Vouched(), "another boot: only what was synced")
}

// markCrashRun is a resumed run whose writer flushed, synced midway,
// flushed on and was killed: files is what kill -9 leaves (every flushed
// byte, the mark written after the last flush).
type markCrashRun struct {
	dir      string
	files    runFiles
	seg      string // the crashed writer's newest segment
	blocks   []segment.BlockMeta
	syncedTo int64 // the end of the last block Sync covered
	points   int   // points of "m" in all
}

func buildMarkCrashRun(t *testing.T) *markCrashRun {
	mem := vfs.NewMem()
	dir := "/runs/mark"
	opts := Options{FS: mem, FlushInterval: time.Hour, BlockTargetBytes: 256}
	s, err := Create(dir, "mark-run", opts)
	require.NoError(t, err)
	f, err := s.Field("m", KindMetric)
	require.NoError(t, err)
	n := 0
	log := func(k int) {
		for range k {
			require.NoError(t, f.LogMetric(float64(n), float64(n)*0.5))
			n++
		}
	}
	log(200)
	require.NoError(t, s.Close())

	s, err = Open(dir, opts)
	require.NoError(t, err)
	f, err = s.Field("m", KindMetric)
	require.NoError(t, err)
	rn := &markCrashRun{dir: dir, seg: segment.SegmentName(1, 2)}
	for batch := range 12 {
		log(40)
		require.NoError(t, s.Flush())
		if batch == 5 {
			require.NoError(t, s.Sync())
			fi, err := mem.Stat(filepath.Join(dir, rn.seg))
			require.NoError(t, err)
			rn.syncedTo = fi.Size()
		}
	}
	rn.files = readRunFiles(t, mem, dir) // kill -9
	rn.points = n
	require.NoError(t, s.Close())
	rn.blocks = blocksOf(t, rn.files.mount(t, dir), filepath.Join(dir, rn.seg))
	require.Greater(t, len(rn.blocks), 6)
	require.Equal(t, int64(len(rn.files[rn.seg])), rn.blocks[len(rn.blocks)-1].End())
	return rn
}

// readM reads series m and the errors that came with it.
func readM(t *testing.T, fsys vfs.FS, dir string) (steps []float64, rep RecoveryReport, err error) {
	t.Helper()
	r, oerr := OpenReader(dir, fsys)
	require.NoError(t, oerr)
	defer r.Close()
	var c series.MetricColumns
	err = r.ReadMetric("m", &c)
	return c.Steps, r.Report(), err
}

func lossIn(err error, file string) bool {
	for _, e := range flattenErrs(err) {
		var le *LossError
		if errors.As(e, &le) && filepath.Base(le.File) == file {
			return true
		}
	}
	return false
}

func flattenErrs(err error) []error {
	if err == nil {
		return nil
	}
	if u, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range u.Unwrap() {
			out = append(out, flattenErrs(e)...)
		}
		return out
	}
	return []error{err}
}

// TestTruncateBelowMark cuts the crashed writer's newest segment at every
// block boundary and inside every block. Every byte of it was flushed (and
// the first blocks synced), so no cut is a torn tail: each is damage that
// every reader reports with the file, that Check grades as damage, and
// that a resuming writer keeps — the run still resumes. After a reboot
// only what Sync covered is vouched for: a cut past it is a torn tail
// again, cut as before marks existed.
func TestTruncateBelowMark(t *testing.T) {
	rn := buildMarkCrashRun(t)
	var cuts []int64
	for _, b := range rn.blocks {
		cuts = append(cuts, b.Offset, b.Offset+b.Size/2)
	}
	for _, reboot := range []bool{false, true} {
		for _, cut := range cuts {
			msg := fmt.Sprintf("cut at %d of %d (reboot %v)", cut, len(rn.files[rn.seg]), reboot)
			files := rn.files.clone()
			files[rn.seg] = files[rn.seg][:cut]
			fsys := files.mount(t, rn.dir)
			if reboot {
				saved := bootID
				bootID[0] ^= 0xff
				t.Cleanup(func() { bootID = saved })
			}
			vouched := !reboot || cut < rn.syncedTo
			steps, rep, err := readM(t, fsys, rn.dir)
			require.NotEmpty(t, steps, msg)
			if vouched {
				require.ErrorIs(t, err, segment.ErrCorrupt, msg)
				require.True(t, lossIn(err, rn.seg), "%s: %v", msg, err)
				require.Empty(t, rep.Torn, msg)
			} else {
				require.NoError(t, err, msg)
				if cut != rn.blocks[0].Offset && slices.ContainsFunc(rn.blocks, func(b segment.BlockMeta) bool { return b.Offset == cut }) {
					require.Empty(t, rep.Torn, msg) // a cut between blocks reads as an earlier crash
				}
			}

			var found []Finding
			_, cerr := Check(rn.dir, fsys, func(f Finding) { found = append(found, f) })
			require.NoError(t, cerr, msg)
			damage := slices.ContainsFunc(found, func(f Finding) bool {
				return f.Severity == Damage && filepath.Base(f.File) == rn.seg
			})
			require.Equal(t, vouched, damage, "%s: %v", msg, found)

			s, oerr := Open(rn.dir, Options{FS: fsys, FlushInterval: time.Hour})
			require.NoError(t, oerr, "%s: the run must stay resumable", msg)
			rec := s.Recovery()
			fi, serr := fsys.Stat(filepath.Join(rn.dir, rn.seg))
			require.NoError(t, serr, msg)
			if vouched {
				require.Empty(t, rec.Cuts, "%s: a vouched-for byte was cut", msg)
				require.Equal(t, cut, fi.Size(), "%s: the damaged bytes are kept", msg)
				require.True(t, slices.ContainsFunc(rec.Corruptions, func(e error) bool { return lossIn(e, rn.seg) }), "%s: %v", msg, rec.Corruptions)
			}
			f, ferr := s.Field("m", KindMetric)
			require.NoError(t, ferr)
			require.NoError(t, f.LogMetric(1e6, 1))
			require.NoError(t, s.Close())
			// After the resume the loss still says so: the segment is now
			// below the writer's new mark.
			steps2, _, err2 := readM(t, fsys, rn.dir)
			require.Equal(t, append(slices.Clone(steps), 1e6), steps2, msg)
			if vouched && cut < int64(len(rn.files[rn.seg])) {
				require.ErrorIs(t, err2, segment.ErrCorrupt, msg)
			}
			if reboot {
				bootID[0] ^= 0xff
			}
		}
	}
}

// TestFlipInLastBlockBelowMark is the case the outside campaign found: one
// flipped bit in the last complete block of a crashed writer's newest
// segment read as a torn tail and was cut on resume, though Flush had
// acknowledged it. It is damage now, at its offset, and kept.
func TestFlipInLastBlockBelowMark(t *testing.T) {
	rn := buildMarkCrashRun(t)
	last := rn.blocks[len(rn.blocks)-1]
	for _, off := range []int64{last.Offset + 45, last.Offset + last.Size/2, last.End() - 3} {
		msg := fmt.Sprintf("flip at %d", off)
		files := rn.files.clone()
		files[rn.seg][off] ^= 0x10
		fsys := files.mount(t, rn.dir)
		steps, rep, err := readM(t, fsys, rn.dir)
		require.ErrorIs(t, err, segment.ErrCorrupt, msg)
		require.Empty(t, rep.Torn, msg)
		require.Less(t, len(steps), rn.points, msg)

		var found []Finding
		_, cerr := Check(rn.dir, fsys, func(f Finding) { found = append(found, f) })
		require.NoError(t, cerr)
		require.True(t, slices.ContainsFunc(found, func(f Finding) bool {
			return f.Severity == Damage && filepath.Base(f.File) == rn.seg && f.Offset == last.Offset
		}), "%s: %v", msg, found)

		s, oerr := Open(rn.dir, Options{FS: fsys, FlushInterval: time.Hour})
		require.NoError(t, oerr)
		require.Empty(t, s.Recovery().Cuts, msg)
		require.NoError(t, s.Close())
		require.Equal(t, files[rn.seg], readRunFiles(t, fsys, rn.dir)[rn.seg], "%s: the damaged block's bytes are kept", msg)
	}
}

// TestMarkMissingNewestSegment: the writer's newest segment deleted. The
// holes between segment numbers cannot show it; the mark does.
func TestMarkMissingNewestSegment(t *testing.T) {
	rn := buildMarkCrashRun(t)
	files := rn.files.clone()
	delete(files, rn.seg)
	fsys := files.mount(t, rn.dir)
	steps, rep, err := readM(t, fsys, rn.dir)
	require.Equal(t, 200, len(steps), "the first session's points")
	require.ErrorIs(t, err, ErrCorrupt)
	require.True(t, lossIn(err, rn.seg), "%v", err)
	require.Contains(t, rep.MissingSegments, rn.seg)
	var found []Finding
	_, cerr := Check(rn.dir, fsys, func(f Finding) { found = append(found, f) })
	require.NoError(t, cerr)
	require.True(t, slices.ContainsFunc(found, func(f Finding) bool {
		return f.Severity == Damage && f.Kind == "missing-segment" && filepath.Base(f.File) == rn.seg
	}), "%v", found)
}

// TestMarkDamagedFallsBack: with both slots of the mark damaged, Check
// reports the mark and torn tails are graded as before marks existed.
func TestMarkDamagedFallsBack(t *testing.T) {
	rn := buildMarkCrashRun(t)
	files := rn.files.clone()
	name := MarkFileName(1)
	files[name][3] ^= 1
	files[name][markSlotBytes+3] ^= 1
	last := rn.blocks[len(rn.blocks)-1]
	files[rn.seg] = files[rn.seg][:last.Offset+10]
	fsys := files.mount(t, rn.dir)
	_, rep, err := readM(t, fsys, rn.dir)
	require.NoError(t, err)
	require.Len(t, rep.Torn, 1)
	var found []Finding
	_, cerr := Check(rn.dir, fsys, func(f Finding) { found = append(found, f) })
	require.NoError(t, cerr)
	require.True(t, slices.ContainsFunc(found, func(f Finding) bool {
		return f.Severity == Damage && f.Kind == "mark" && filepath.Base(f.File) == name
	}), "%v", found)
	require.True(t, slices.ContainsFunc(found, func(f Finding) bool {
		return f.Severity == Warning && f.Kind == "torn-tail" && f.Offset == last.Offset
	}), "%v", found)
}

// TestMarkOfAnotherRun: a mark file copied from another run vouches for
// nothing here.
func TestMarkOfAnotherRun(t *testing.T) {
	rn := buildMarkCrashRun(t)
	files := rn.files.clone()
	mem := files.mount(t, "/other")
	mw, err := createMark(mem, "/other", 1, runHash("another-run"), StreamPos{9, 1 << 20})
	require.NoError(t, err)
	require.NoError(t, mw.close())
	files[MarkFileName(1)] = readRunFiles(t, mem, "/other")[MarkFileName(1)]
	last := rn.blocks[len(rn.blocks)-1]
	files[rn.seg] = files[rn.seg][:last.Offset+10]
	_, rep, err := readM(t, files.mount(t, rn.dir), rn.dir)
	require.NoError(t, err)
	require.Len(t, rep.Torn, 1, "graded without a mark")
}

// TestCheckReportsMarkTemp: a mark replacement a crash interrupted is
// named, and is not taken for a mark.
func TestCheckReportsMarkTemp(t *testing.T) {
	rn := buildMarkCrashRun(t)
	files := rn.files.clone()
	files[MarkFileName(1)+".tmp"] = []byte("partial")
	fsys := files.mount(t, rn.dir)
	var found []Finding
	_, err := Check(rn.dir, fsys, func(f Finding) { found = append(found, f) })
	require.NoError(t, err)
	require.True(t, slices.ContainsFunc(found, func(f Finding) bool {
		return f.Kind == "mark-temp" && f.Severity == Info && filepath.Base(f.File) == MarkFileName(1)+".tmp"
	}), "%v", found)
	s, err := Open(rn.dir, Options{FS: fsys, FlushInterval: time.Hour})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	_, err = fsys.Stat(filepath.Join(rn.dir, MarkFileName(1)+".tmp"))
	require.ErrorIs(t, err, fs.ErrNotExist, "the next session removes it")
}

// BenchmarkMarkStore measures what the mark adds: one pwrite of a slot per
// flush that wrote blocks, and a pwrite plus an fsync of the mark file per
// Sync (beside the segment's own fsync), on the OS file system.
func BenchmarkMarkStore(b *testing.B) {
	for _, durable := range []bool{false, true} {
		name := "flush"
		if durable {
			name = "sync"
		}
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			mw, err := createMark(vfs.Default, dir, 1, runHash("bench"), StreamPos{1, 46})
			require.NoError(b, err)
			defer mw.close()
			off := int64(46)
			for b.Loop() {
				off += 4096
				mw.wrote(StreamPos{1, off})
				if durable {
					mw.synced()
				}
				if err := mw.store(durable); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
