package engine

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/index"
	"github.com/goodseed/goodseed-go/internal/segtest"
	"github.com/goodseed/goodseed-go/internal/vfs"
	"github.com/goodseed/goodseed-go/segment"
	"github.com/goodseed/goodseed-go/series"
)

// checkRun is a closed run built for the check and salvage tests: several
// sealed segments of several blocks, an index and a LOCK, its files, what
// was logged and the layout of its segments.
type checkRun struct {
	dir    string
	files  runFiles
	want   runContent
	segs   []string                       // segment names in order
	blocks map[string][]segment.BlockMeta // valid blocks by segment
	footer map[string]segment.Footer
	hdr    map[string]int64 // header length by segment
	fields []FieldInfo
	units  []unit // blocks with their content, for what a damage loses
	// records of each block, by segment
	records map[string][][]Record
}

// buildCheckRun logs a small run: two metrics, a string series, configs
// before and during the run and a status, flushed every steps/10 steps
// into small blocks and segments. steps sizes it.
func buildCheckRun(t testing.TB, steps int) *checkRun {
	t.Helper()
	mem := vfs.NewMem()
	dir := "/runs/check"
	s, err := Create(dir, "test-run", Options{
		FS: mem, FlushInterval: time.Hour, BlockTargetBytes: 512, SegmentTargetBytes: 1200,
		InitialChunkPoints: 16, MaxChunkPoints: 32,
	})
	require.NoError(t, err)
	want := newRunContent()
	setConfig := func(p string, v Value) {
		require.NoError(t, s.SetConfig(p, v))
		want.configs[p] = v
	}
	setConfig("params/lr", Float(3e-4))
	setConfig("params/name", String("adam"))
	loss, err := s.Field("train/loss", KindMetric)
	require.NoError(t, err)
	acc, err := s.Field("train/acc", KindMetric)
	require.NoError(t, err)
	log, err := s.Field("log", KindString)
	require.NoError(t, err)
	for i := 0; i < steps; i++ {
		st := float64(i)
		lv, av := float64(float32(2/(1+st/10))), float64(i%7)/7
		require.NoError(t, loss.LogMetric(st, lv))
		require.NoError(t, acc.LogMetric(st, av))
		want.metrics[pointKey{"train/loss", st}] = math.Float64bits(lv)
		want.metrics[pointKey{"train/acc", st}] = math.Float64bits(av)
		if i%4 == 0 {
			text := fmt.Sprintf("step %d", i)
			require.NoError(t, log.LogString(st, text))
			want.texts[pointKey{"log", st}] = text
		}
		if i == steps/2 {
			setConfig("params/phase", Int(2))
		}
		if i%(steps/10) == steps/10-1 {
			require.NoError(t, s.Flush())
		}
	}
	require.NoError(t, s.SetMeta("status", "finished"))
	want.meta["status"] = "finished"
	require.NoError(t, s.Close())

	rn := &checkRun{dir: dir, files: readRunFiles(t, mem, dir), want: want,
		blocks: map[string][]segment.BlockMeta{}, records: map[string][][]Record{}, footer: map[string]segment.Footer{}, hdr: map[string]int64{}}
	r, err := OpenReader(dir, mem)
	require.NoError(t, err)
	require.True(t, r.Report().Clean())
	rn.fields = r.Fields()
	got, errs := readAll(r)
	require.NoError(t, r.Close())
	require.Empty(t, errs)
	requireExact(t, want, got, newRunContent(), "intact run")
	for name := range rn.files {
		if _, _, ok := segment.ParseSegmentName(name); ok {
			rn.segs = append(rn.segs, name)
		}
	}
	slices.Sort(rn.segs)
	for _, name := range rn.segs {
		path := filepath.Join(dir, name)
		rep, err := segment.Scan(mem, path, func(m segment.BlockMeta, p []byte) error {
			rn.blocks[name] = append(rn.blocks[name], m)
			rn.units = append(rn.units, unit{file: name, off: m.Offset, end: m.End(), kind: "block", content: blockContent(t, p, rn.fields)})
			var recs []Record
			for b := p; len(b) > 0; {
				r, rest, err := DecodeRecord(b)
				require.NoError(t, err)
				r.Chunk = nil
				recs = append(recs, r)
				b = rest
			}
			rn.records[name] = append(rn.records[name], recs)
			return nil
		})
		require.NoError(t, err)
		require.True(t, rep.OK() && rep.Sealed)
		rn.footer[name] = rep.Footer
		sr, err := segment.Open(mem, path)
		require.NoError(t, err)
		rn.hdr[name] = sr.HeaderBytes()
		require.NoError(t, sr.Close())
	}
	return rn
}

// check runs Check on files mounted at the run's directory.
func (rn *checkRun) check(t testing.TB, files runFiles) ([]Finding, CheckSummary) {
	t.Helper()
	mem := files.mount(t, rn.dir)
	var got []Finding
	sum, err := Check(rn.dir, mem, func(f Finding) { got = append(got, f) })
	require.NoError(t, err)
	return got, sum
}

// loc is a finding without its detail, for exact comparisons.
type loc struct {
	sev    Severity
	kind   string
	file   string // base name
	off    int64
	length int64
}

func (l loc) String() string {
	return fmt.Sprintf("%s %s %s@%d+%d", l.sev, l.kind, l.file, l.off, l.length)
}

func locs(fs []Finding) []loc {
	var out []loc
	for _, f := range fs {
		out = append(out, loc{f.Severity, f.Kind, filepath.Base(f.File), f.Offset, f.Length})
	}
	return out
}

// damageCase is one way of damaging a closed run, with exactly what Check
// must report and, for Salvage, the blocks whose content is lost.
type damageCase struct {
	name   string
	damage func(files runFiles)
	want   []loc
	lost   []unit // blocks lost; nil: only what the findings name
	// single: the damage is confined to the blocks in lost, so a salvage
	// holds exactly the run minus them.
	single bool
	// What Salvage must report beyond the findings.
	orphans, recoveredDefs, recoveredState int
	// rescued: Salvage copies the blocks readers skip, so nothing is lost.
	rescued bool
}

// damageCases builds the damage table on rn's layout: offsets come from the
// intact files.
func damageCases(t testing.TB, rn *checkRun) []damageCase {
	require.GreaterOrEqual(t, len(rn.segs), 3, "the table needs a middle segment")
	first, middle, last := rn.segs[0], rn.segs[1], rn.segs[len(rn.segs)-1]
	require.GreaterOrEqual(t, len(rn.blocks[middle]), 4)
	b1, b2, b3 := rn.blocks[middle][1], rn.blocks[middle][2], rn.blocks[middle][3]
	tb := rn.blocks[last][len(rn.blocks[last])/2]
	stale := loc{Warning, "index-stale", index.FileName, -1, 0}
	ixLen := int64(len(rn.files[index.FileName]))
	firstLen := int64(len(rn.files[first]))
	middleLen := int64(len(rn.files[middle]))
	blockUnit := func(seg string, m segment.BlockMeta) unit {
		for _, u := range rn.units {
			if u.file == seg && u.off == m.Offset {
				return u
			}
		}
		t.Fatalf("no block %s@%d", seg, m.Offset)
		return unit{}
	}
	segUnits := func(seg string) []unit {
		var us []unit
		for _, u := range rn.units {
			if u.file == seg {
				us = append(us, u)
			}
		}
		return us
	}
	var after []unit // blocks of the last segment from tb on
	for _, m := range rn.blocks[last] {
		if m.Offset >= tb.Offset {
			after = append(after, blockUnit(last, m))
		}
	}
	ix, err := index.Unmarshal(rn.files[index.FileName])
	require.NoError(t, err)
	covered := func(seg string) int64 {
		for _, se := range ix.Segments {
			if se.Name == seg {
				return se.Covered
			}
		}
		t.Fatalf("index does not list %s", seg)
		return 0
	}
	garbage := []byte("this is not a block, it is 48 bytes of garbage!!")
	// The first block holds every field definition and the first configs.
	b0 := rn.blocks[first][0]
	var defs, configs int
	for _, r := range rn.records[first][0] {
		switch r.Kind {
		case RecFieldDef:
			defs++
		case RecConfig:
			configs++
		}
	}
	require.Equal(t, len(rn.fields)-1, defs, "all but params/phase are defined in the first block")
	// Without the index, every later chunk of those fields is an orphan.
	var orphanLocs []loc
	orphans := 0
	for _, seg := range rn.segs {
		for i, m := range rn.blocks[seg] {
			if seg == first && i == 0 {
				continue
			}
			n := 0
			for _, r := range rn.records[seg][i] {
				if (r.Kind == RecMetricChunk || r.Kind == RecStringChunk) && int(r.Field) < defs {
					n++
				}
			}
			if n > 0 {
				orphanLocs = append(orphanLocs, loc{Warning, "orphan", seg, m.Offset, m.Size})
				orphans += n
			}
		}
	}
	flipFirst := func(f runFiles) { f[first][b0.Offset+40+b0.StoredBytes()/2] ^= 0x02 }
	return []damageCase{
		{name: "intact", damage: func(runFiles) {}, single: true},
		{
			name:   "bit flip in a block payload",
			damage: func(f runFiles) { f[middle][b1.Offset+40+b1.StoredBytes()/2] ^= 0x10 },
			want:   []loc{{Damage, "block-checksum", middle, b1.Offset, b1.Size}},
			lost:   []unit{blockUnit(middle, b1)}, single: true,
		},
		{
			name:   "bit flip in a block header",
			damage: func(f runFiles) { f[middle][b1.Offset+21] ^= 0x01 }, // first seq
			want:   []loc{{Damage, "block-header", middle, b1.Offset, b1.Size}},
			lost:   []unit{blockUnit(middle, b1)}, single: true,
		},
		{
			name:   "bit flip in a segment header",
			damage: func(f runFiles) { f[middle][30] ^= 0x04 }, // created
			want:   []loc{{Damage, "segment-header", middle, 0, rn.hdr[middle]}, stale},
			single: true,
		},
		{
			name:   "bit flip in the index",
			damage: func(f runFiles) { f[index.FileName][ixLen/2] ^= 0x80 },
			want:   []loc{{Damage, "index", index.FileName, ixLen - 8, 0}},
			single: true,
		},
		{
			name:   "truncation mid-block",
			damage: func(f runFiles) { f[last] = f[last][:tb.Offset+tb.Size/2] },
			want:   []loc{{Damage, "torn-tail", last, tb.Offset, tb.Size / 2}, stale},
			lost:   after,
		},
		{
			name:   "deleted middle segment",
			damage: func(f runFiles) { delete(f, middle) },
			want:   []loc{{Damage, "missing-segment", middle, -1, covered(middle)}, stale},
			lost:   segUnits(middle),
			// params/phase was defined and set only in the lost segment;
			// a reader still lists the field (its dictionary is seeded
			// from the index), and so does the salvaged run.
			recoveredDefs: 1,
		},
		{
			name:   "garbage after a sealed segment",
			damage: func(f runFiles) { f[first] = append(f[first], garbage...) },
			want:   []loc{{Damage, "garbage", first, firstLen, int64(len(garbage))}, stale},
			single: true,
		},
		{
			name:   "zeroed range mid-segment",
			damage: func(f runFiles) { clear(f[middle][b1.Offset : b2.Offset+60]) },
			want:   []loc{{Damage, "zeroed", middle, b1.Offset, b3.Offset - b1.Offset}},
			lost:   []unit{blockUnit(middle, b1), blockUnit(middle, b2)}, single: true,
		},
		{
			name:   "bit flip in the block of the field definitions",
			damage: flipFirst,
			want:   []loc{{Damage, "block-checksum", first, b0.Offset, b0.Size}},
			lost:   []unit{blockUnit(first, b0)}, single: true,
			// The index's snapshot still knows the fields and configs.
			recoveredDefs: defs, recoveredState: configs,
		},
		{
			name:   "bit flip in the block of the field definitions, no index",
			damage: func(f runFiles) { flipFirst(f); delete(f, index.FileName) },
			want: append(append([]loc{{Damage, "block-checksum", first, b0.Offset, b0.Size}}, orphanLocs...),
				loc{Info, "index-missing", index.FileName, -1, 0}),
			lost:    rn.units, // nothing of those fields can be placed
			orphans: orphans,
		},
		{
			// Readers skip the segment; its blocks verify as this format's,
			// so recover copies them all.
			name:   "unknown major version",
			damage: func(f runFiles) { segtest.SetMajor(f[middle], 9) },
			want:   []loc{{Damage, "unknown-version", middle, 0, middleLen}, stale},
			single: true, rescued: true,
		},
		{
			// A flipped bit in the major version of a header of ours: the
			// header verifies as major 1, so it is header damage and the
			// readers still read every block.
			name:   "flipped major version bit",
			damage: func(f runFiles) { f[middle][9] ^= 0x08 },
			want:   []loc{{Damage, "segment-header", middle, 0, rn.hdr[middle]}, stale},
			single: true, rescued: true,
		},
		{
			// The header length runs past the end of the file: readers take
			// the segment for one torn while being created (and a resuming
			// writer cuts it whole); its blocks verify, so it is damage, and
			// recover copies them.
			name:   "header length past the end of the file",
			damage: func(f runFiles) { f[last][13] ^= 0x20 },
			want:   []loc{{Damage, "segment-header", last, 0, rn.hdr[last]}, stale},
			single: true,
		},
	}
}

// TestCheckDamage runs the damage table through Check: each damage is
// reported exactly (severity, kind, file, offset, length), and nothing else.
func TestCheckDamage(t *testing.T) {
	rn := buildCheckRun(t, 400)
	for _, tc := range damageCases(t, rn) {
		t.Run(tc.name, func(t *testing.T) {
			files := rn.files.clone()
			tc.damage(files)
			got, sum := rn.check(t, files)
			for _, f := range got {
				t.Log(f)
			}
			require.Equal(t, tc.want, locs(got))
			require.Equal(t, len(tc.want) == 0 || !slices.ContainsFunc(tc.want, func(l loc) bool { return l.sev == Damage }), sum.Clean())
		})
	}
}

// TestCheckClean: an intact closed run has no finding, and the summary
// counts every segment, block, record and byte.
func TestCheckClean(t *testing.T) {
	rn := buildCheckRun(t, 400)
	got, sum := rn.check(t, rn.files)
	require.Empty(t, got)
	var blocks, records int
	var bytes int64
	for _, seg := range rn.segs {
		blocks += len(rn.blocks[seg])
		for _, recs := range rn.records[seg] {
			records += len(recs)
		}
	}
	for _, b := range rn.files {
		bytes += int64(len(b))
	}
	require.Equal(t, CheckSummary{Segments: len(rn.segs), Blocks: blocks, Records: records, Bytes: bytes}, sum)
	require.True(t, sum.Clean())
}

// TestCheckErrors: what Check cannot check is an error, not a finding.
func TestCheckErrors(t *testing.T) {
	rn := buildCheckRun(t, 100)
	mem := rn.files.mount(t, rn.dir)
	_, err := Check("/nope", mem, nil)
	require.ErrorIs(t, err, ErrNotFound)
	require.NoError(t, mem.MkdirAll("/empty", 0o755))
	_, err = Check("/empty", mem, nil)
	require.ErrorIs(t, err, ErrNotFound)
	_, err = Check(filepath.Join(rn.dir, rn.segs[0]), mem, nil)
	require.ErrorContains(t, err, "not a directory")
	_, err = CheckSegment(filepath.Join(rn.dir, "00000009-0000000000000001.seg"), mem, nil)
	require.ErrorIs(t, err, ErrNotFound)
	_, err = CheckSegment(rn.dir, mem, nil)
	require.ErrorContains(t, err, "a directory")
}

// TestCheckSegment checks single files: an intact one, a damaged one, and
// torn tails graded by whether a later segment of the writer follows.
func TestCheckSegment(t *testing.T) {
	rn := buildCheckRun(t, 400)
	first, middle, last := rn.segs[0], rn.segs[1], rn.segs[len(rn.segs)-1]
	checkSeg := func(files runFiles, name string) ([]loc, CheckSummary) {
		mem := files.mount(t, rn.dir)
		var got []Finding
		sum, err := CheckSegment(filepath.Join(rn.dir, name), mem, func(f Finding) { got = append(got, f) })
		require.NoError(t, err)
		return locs(got), sum
	}
	for _, seg := range rn.segs {
		got, sum := checkSeg(rn.files, seg)
		require.Empty(t, got, seg)
		records := 0
		for _, recs := range rn.records[seg] {
			records += len(recs)
		}
		require.Equal(t, CheckSummary{Segments: 1, Blocks: len(rn.blocks[seg]), Records: records, Bytes: int64(len(rn.files[seg]))}, sum)
	}
	b := rn.blocks[middle][2]
	files := rn.files.clone()
	files[middle][b.End()-3] ^= 0x40 // the block's checksum
	got, sum := checkSeg(files, middle)
	require.Equal(t, []loc{{Damage, "block-checksum", middle, b.Offset, b.Size}}, got)
	require.Equal(t, len(rn.blocks[middle])-1, sum.Blocks)
	require.False(t, sum.Clean())

	// Torn: damage where the writer's mark vouches for the bytes or a
	// later segment follows; without the mark, a warning in the writer's
	// newest segment.
	for _, tc := range []struct {
		seg    string
		sev    Severity
		noMark bool
	}{{last, Damage, false}, {last, Warning, true}, {first, Damage, false}, {first, Damage, true}} {
		m := rn.blocks[tc.seg][0]
		files := rn.files.clone()
		if tc.noMark {
			delete(files, MarkFileName(1))
		}
		files[tc.seg] = files[tc.seg][:m.Offset+10]
		got, _ := checkSeg(files, tc.seg)
		require.Equal(t, []loc{{tc.sev, "torn-tail", tc.seg, m.Offset, 10}}, got, tc.seg)
	}
	// A segment cut exactly after a block, its footer gone: unsealed, and
	// without a LOCK or index to tell, nothing more.
	m := rn.blocks[first][1]
	files = rn.files.clone()
	files[first] = files[first][:m.End()]
	got, _ = checkSeg(files, first)
	require.Equal(t, []loc{{Info, "unsealed", first, -1, 0}}, got)
}

// TestCheckFooterTrailerLock flips the units Check alone reads whole: the
// footer, the trailer and the owner record, padding included.
func TestCheckFooterTrailerLock(t *testing.T) {
	rn := buildCheckRun(t, 400)
	middle := rn.segs[1]
	foot := rn.footer[middle]
	size := int64(len(rn.files[middle]))
	stale := loc{Warning, "index-stale", index.FileName, -1, 0}
	lock := rn.files[LockFileName]
	nl := int64(slices.Index(lock, '\n'))
	require.Positive(t, nl)
	for _, tc := range []struct {
		name   string
		damage func(f runFiles)
		want   []loc
	}{
		{"footer payload", func(f runFiles) { f[middle][foot.Offset+40+3] ^= 1 },
			[]loc{{Damage, "footer", middle, foot.Offset, size - foot.Offset}, stale}},
		{"footer header", func(f runFiles) { f[middle][foot.Offset+13] ^= 1 }, // kind
			[]loc{{Damage, "footer", middle, foot.Offset, size - foot.Offset}, stale}},
		{"trailer offset", func(f runFiles) { f[middle][size-16] ^= 1 },
			[]loc{{Damage, "footer", middle, size - 16, 16}, stale}},
		{"trailer magic", func(f runFiles) { f[middle][size-1] ^= 1 },
			[]loc{{Damage, "footer", middle, size - 16, 16}, stale}},
		{"owner record", func(f runFiles) { f[LockFileName][5] ^= 1 },
			[]loc{{Warning, "lock", LockFileName, 0, int64(len(lock))}}},
		{"owner checksum", func(f runFiles) { f[LockFileName][nl-1] ^= 1 },
			[]loc{{Warning, "lock", LockFileName, 0, int64(len(lock))}}},
		{"owner padding", func(f runFiles) { f[LockFileName][nl+100] ^= 0x20 },
			[]loc{{Warning, "lock", LockFileName, nl + 100, 1}}},
		{"owner record torn short", func(f runFiles) { f[LockFileName] = f[LockFileName][:nl+1] },
			[]loc{{Warning, "lock", LockFileName, nl + 1, lockRecordBytes - nl - 1}}},
		{"no LOCK", func(f runFiles) { delete(f, LockFileName) }, nil},
		{"debris", func(f runFiles) {
			f["index.tmp-1f"] = []byte("partial")
			f[middle+".torn-99"] = []byte("cut")
		}, []loc{{Info, "torn-saved", middle + ".torn-99", -1, 3}, {Info, "index-temp", "index.tmp-1f", -1, 7}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := rn.files.clone()
			tc.damage(files)
			got, _ := rn.check(t, files)
			for _, f := range got {
				t.Log(f)
			}
			require.Equal(t, tc.want, locs(got))
		})
	}
}

// TestCheckLiveWriter: a run a writer is appending to has no damage; Check
// says a writer is live and that there is no index yet.
func TestCheckLiveWriter(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	s, err := Create(dir, "live-run", Options{FlushInterval: time.Hour, BlockTargetBytes: 256, SegmentTargetBytes: 512})
	require.NoError(t, err)
	f, err := s.Field("m", KindMetric)
	require.NoError(t, err)
	for i := 0; i < 2000; i++ {
		require.NoError(t, f.LogMetric(float64(i), float64(i)))
		if i%100 == 99 {
			require.NoError(t, s.Flush())
		}
	}
	require.NoError(t, s.SetConfig("params/lr", Float(0.1)))
	require.NoError(t, s.Flush())
	var got []Finding
	sum, err := Check(dir, nil, func(f Finding) { got = append(got, f) })
	require.NoError(t, err)
	require.True(t, sum.Clean())
	require.Greater(t, sum.Segments, 1)
	require.Equal(t, []loc{{Info, "index-missing", index.FileName, -1, 0}, {Info, "live", LockFileName, -1, 0}}, locs(got))
	require.Contains(t, got[1].Detail, fmt.Sprintf("pid %d", os.Getpid()))
	segs, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	require.NoError(t, err)
	for _, p := range segs {
		got = nil
		_, err := CheckSegment(p, nil, func(f Finding) { got = append(got, f) })
		require.NoError(t, err)
		require.Empty(t, got, p)
	}
	require.NoError(t, s.Close())
	got = nil
	_, err = Check(dir, nil, func(f Finding) { got = append(got, f) })
	require.NoError(t, err)
	require.Empty(t, got)
}

// TestCheckCrashedWriter grades what crashes leave: an unsealed segment,
// a torn tail (a warning), an owner record lost with the power, a stale
// index after a resumed session crashed, and what the next writer's
// recovery leaves behind.
func TestCheckCrashedWriter(t *testing.T) {
	mem := vfs.NewMem()
	dir := "/runs/crash"
	opts := Options{FS: mem, FlushInterval: time.Hour, BlockTargetBytes: 256}
	logSome := func(s *Store, from int) {
		f, err := s.Field("m", KindMetric)
		require.NoError(t, err)
		for i := from; i < from+300; i++ {
			require.NoError(t, f.LogMetric(float64(i), float64(i)))
			if i%50 == 49 {
				require.NoError(t, s.Flush())
			}
		}
		require.NoError(t, s.Sync())
	}
	check := func(fsys vfs.FS) []loc {
		var got []Finding
		_, err := Check(dir, fsys, func(f Finding) { got = append(got, f) })
		require.NoError(t, err)
		for _, f := range got {
			t.Log(f)
		}
		return locs(got)
	}
	seg1, seg2 := segment.SegmentName(1, 1), segment.SegmentName(1, 2)
	s, err := Create(dir, "crash-run", opts)
	require.NoError(t, err)
	logSome(s, 0)
	// Power loss: the owner record was never fsynced.
	require.Equal(t, []loc{
		{Info, "unsealed", seg1, -1, 0},
		{Info, "index-missing", index.FileName, -1, 0},
		{Warning, "lock", LockFileName, 0, 0},
	}, check(mem.CrashClone()))
	// kill -9: the page cache keeps what was written.
	killed := readRunFiles(t, mem, dir)
	require.Equal(t, []loc{
		{Info, "unsealed", seg1, -1, 0},
		{Info, "index-missing", index.FileName, -1, 0},
	}, check(killed.mount(t, dir)))
	// ... in the middle of a block.
	size := int64(len(killed[seg1]))
	b0 := blocksOf(t, killed.mount(t, dir), filepath.Join(dir, seg1))[0]
	killed[seg1] = append(killed[seg1], killed[seg1][b0.Offset:b0.Offset+60]...) // a block's first 60 bytes
	require.Equal(t, []loc{
		{Warning, "torn-tail", seg1, size, 60},
		{Info, "index-missing", index.FileName, -1, 0},
	}, check(killed.mount(t, dir)))
	require.NoError(t, s.Close())
	require.Empty(t, check(mem))

	// A resumed session crashes mid-block: the index does not know its
	// segment.
	s, err = Open(dir, opts)
	require.NoError(t, err)
	logSome(s, 300)
	crashed := readRunFiles(t, mem, dir)
	require.NoError(t, s.Close())
	blocks := blocksOf(t, crashed.mount(t, dir), filepath.Join(dir, seg2))
	require.Greater(t, len(blocks), 2)
	torn := blocks[len(blocks)-1]
	crashed[seg2] = crashed[seg2][:torn.Offset+torn.Size-1]
	// The block was synced, and the writer's mark says so: a crash cannot
	// have torn it, so this is damage (issue 14: synced data was cut).
	require.Equal(t, []loc{
		{Damage, "torn-tail", seg2, torn.Offset, torn.Size - 1},
		{Warning, "index-stale", index.FileName, -1, 0},
	}, check(crashed.mount(t, dir)))
	// Without the mark (a run an older writer left) the same bytes read
	// as a crash's torn tail, which the next writer cuts.
	delete(crashed, MarkFileName(1))
	crashedFS := crashed.mount(t, dir)
	require.Equal(t, []loc{
		{Warning, "torn-tail", seg2, torn.Offset, torn.Size - 1},
		{Warning, "index-stale", index.FileName, -1, 0},
	}, check(crashedFS))

	// The next writer cuts the tail, keeps it aside, and closes: the cut
	// segment stays unsealed behind the new one.
	s, err = Open(dir, Options{FS: crashedFS, FlushInterval: time.Hour})
	require.NoError(t, err)
	require.Len(t, s.Recovery().Cuts, 1)
	logSome(s, 600)
	require.NoError(t, s.Close())
	saved := fmt.Sprintf("%s.torn-%d", seg2, torn.Offset)
	require.Equal(t, []loc{
		{Info, "unsealed", seg2, -1, 0},
		{Info, "torn-saved", saved, -1, torn.Size - 1},
	}, check(crashedFS))
}

// blocksOf returns the valid blocks of a segment.
func blocksOf(t testing.TB, fsys vfs.FS, path string) []segment.BlockMeta {
	t.Helper()
	var blocks []segment.BlockMeta
	_, err := segment.Scan(fsys, path, func(m segment.BlockMeta, _ []byte) error {
		blocks = append(blocks, m)
		return nil
	})
	require.NoError(t, err)
	return blocks
}

// TestCheckRecords writes blocks by hand that verify but hold what the
// engine never writes: a record of an undefined field, bytes that are not
// records, a wrong record count, sequence numbers going back and skipping,
// a block kind this build does not know.
func TestCheckRecords(t *testing.T) {
	mem := vfs.NewMem()
	dir := "/runs/records"
	require.NoError(t, mem.MkdirAll(dir, 0o755))
	w, err := segment.Create(mem, dir, segment.Header{RunID: "rec-run", WriterID: 1, Seq: 1}, segment.WriterOptions{})
	require.NoError(t, err)
	chunk := series.AppendMetricChunk(nil, &series.MetricColumns{Steps: []float64{0, 1}, Values: []float64{1, 2}, TimesMs: []int64{5, 6}})
	def := appendFieldDef(nil, 0, KindMetric, "a")
	ok := appendChunkRecord(nil, RecMetricChunk, 0, chunk)
	undefined := appendChunkRecord(nil, RecMetricChunk, 7, chunk)
	var metas []segment.BlockMeta
	for _, b := range []struct {
		kind        uint8
		n           uint32
		first, last uint64
		payload     []byte
	}{
		{blockKindRecords, 2, 0, 1, append(slices.Clone(def), ok...)},
		{blockKindRecords, 1, 2, 2, undefined},
		{blockKindRecords, 1, 3, 3, []byte{0x09, 0x05, 1, 2}},
		{blockKindRecords, 2, 4, 4, ok},
		{blockKindRecords, 1, 2, 2, ok},
		{blockKindRecords, 1, 10, 10, ok},
		{7, 1, 11, 11, []byte("opaque")},
	} {
		m, err := w.Append(b.kind, b.n, b.first, b.last, b.payload)
		require.NoError(t, err)
		metas = append(metas, m)
	}
	require.NoError(t, w.Seal())
	seg := segment.SegmentName(1, 1)
	var got []Finding
	sum, err := Check(dir, mem, func(f Finding) { got = append(got, f) })
	require.NoError(t, err)
	for _, f := range got {
		t.Log(f)
	}
	require.Equal(t, []loc{
		{Damage, "record", seg, metas[1].Offset, metas[1].Size},
		{Damage, "record", seg, metas[2].Offset, metas[2].Size},
		{Damage, "record", seg, metas[3].Offset, metas[3].Size},
		{Damage, "sequence", seg, metas[4].Offset, metas[4].Size},
		{Info, "seq-gap", seg, metas[5].Offset, 0},
		{Warning, "block-kind", seg, metas[6].Offset, metas[6].Size},
		{Info, "index-missing", index.FileName, -1, 0},
	}, locs(got))
	require.Contains(t, got[0].Detail, "undefined fields (ids 7)")
	require.Contains(t, got[1].Detail, "does not decode")
	require.Contains(t, got[2].Detail, "counts 2 records, its payload holds 1")
	require.Contains(t, got[4].Detail, "records 5..9")
	require.Equal(t, len(metas), sum.Blocks)

	// Salvage keeps what can be kept: everything but the record of the
	// undefined field and the bytes that are not records.
	rep, err := Salvage(dir, "/out/records", mem)
	require.NoError(t, err)
	require.Equal(t, 1, rep.DroppedRecords, "the bytes that are not records")
	require.Equal(t, 1, rep.OrphanRecords, "the record of the undefined field")
	require.False(t, rep.Complete())
}

// TestCheckIndexDisagrees edits an index so that its checksum verifies
// but its block table is wrong: readers would trust it, so it is damage.
func TestCheckIndexDisagrees(t *testing.T) {
	rn := buildCheckRun(t, 400)
	middle := rn.segs[1]
	b := rn.blocks[middle][1]
	edit := func(change func(e *index.BlockEntry)) runFiles {
		ix, err := index.Unmarshal(rn.files[index.FileName])
		require.NoError(t, err)
		for i, e := range ix.Blocks {
			if ix.Segments[e.Segment].Name == middle && e.Offset == b.Offset {
				change(&ix.Blocks[i])
			}
		}
		files := rn.files.clone()
		files[index.FileName], err = ix.MarshalBinary()
		require.NoError(t, err)
		return files
	}
	ixDamage := loc{Damage, "index", index.FileName, -1, 0}
	got, _ := rn.check(t, edit(func(e *index.BlockEntry) { e.FirstSeq++ }))
	require.Equal(t, []loc{ixDamage}, locs(got))
	got, _ = rn.check(t, edit(func(e *index.BlockEntry) { e.Offset++ }))
	require.Equal(t, []loc{ixDamage, ixDamage}, locs(got), "a block named that is not there, and one there that is not named")
}

// TestCheckForeignSegment: a segment of another run, and a segment under
// another segment's name.
func TestCheckForeignSegment(t *testing.T) {
	rn := buildCheckRun(t, 400)
	mem := rn.files.mount(t, rn.dir)
	last := rn.segs[len(rn.segs)-1]
	next := segment.SegmentName(1, uint64(len(rn.segs)+1))
	w, err := segment.Create(mem, rn.dir, segment.Header{RunID: "other-run", WriterID: 1, Seq: uint64(len(rn.segs) + 1)}, segment.WriterOptions{})
	require.NoError(t, err)
	_, err = w.Append(blockKindRecords, 1, 1000, 1000, appendMeta(nil, 1, "status", "foreign"))
	require.NoError(t, err)
	require.NoError(t, w.Seal())
	var got []Finding
	_, err = Check(rn.dir, mem, func(f Finding) { got = append(got, f) })
	require.NoError(t, err)
	hdr := rn.hdr[last] - int64(len("test-run")) + int64(len("other-run"))
	require.Equal(t, []loc{
		{Damage, "run-id-mismatch", next, 0, hdr},
		{Warning, "index-stale", index.FileName, -1, 0},
	}, locs(got))
	// Readers skip the foreign segment and read the rest exactly.
	got1, rrep, errs := readRun(t, mem, rn.dir)
	require.Empty(t, errs)
	requireForeignReported(t, rrep, filepath.Join(rn.dir, next), "other-run")
	requireExact(t, rn.want, got1, newRunContent(), "reader skipping the foreign segment")
	rep, err := Salvage(rn.dir, "/out/foreign", mem)
	require.NoError(t, err)
	require.Equal(t, "test-run", rep.RunID)
	require.Equal(t, []loc{{Damage, "run-id-mismatch", next, 0, hdr}}, locs(rep.Lost))
	got2, dstRep, errs := readRun(t, mem, "/out/foreign")
	require.Empty(t, errs)
	require.True(t, dstRep.Clean())
	requireExact(t, rn.want, got2, newRunContent(), "salvage without the foreign segment")

	// A segment renamed: its name and header disagree, and its old name
	// is a hole.
	files := rn.files.clone()
	files[next] = files[last]
	delete(files, last)
	ix, err := index.Unmarshal(rn.files[index.FileName])
	require.NoError(t, err)
	covered := ix.Segments[len(ix.Segments)-1].Covered
	got, _ = rn.check(t, files)
	require.Equal(t, []loc{
		{Damage, "missing-segment", last, -1, covered},
		{Damage, "segment-name", next, 0, rn.hdr[last]},
		{Warning, "index-stale", index.FileName, -1, 0},
	}, locs(got))
}

func requireForeignReported(t *testing.T, rep RecoveryReport, file, runID string) {
	t.Helper()
	var fe *ForeignSegmentError
	for _, c := range rep.Corruptions {
		if errors.As(c, &fe) {
			break
		}
	}
	require.NotNil(t, fe, "the foreign segment is reported: %v", rep.Corruptions)
	require.Equal(t, file, fe.File)
	require.Equal(t, runID, fe.RunID)
	require.Equal(t, "test-run", fe.Want)
	require.ErrorIs(t, fe, ErrCorrupt)
	require.ErrorIs(t, fe, segment.ErrCorrupt)
	require.False(t, rep.Clean())
}

// TestForeignSegmentSkipped covers what readers and writers do with a
// segment copied from another run: skip it whole, whether it sorts first
// or last, with or without an index, and a writer resumes past it without
// ever listing it in the index (which would then never validate).
func TestForeignSegmentSkipped(t *testing.T) {
	rn := buildCheckRun(t, 400)
	foreignSeg := func(t *testing.T, mem vfs.FS, writer uint32, seq uint64) string {
		w, err := segment.Create(mem, rn.dir, segment.Header{RunID: "other-run", WriterID: writer, Seq: seq}, segment.WriterOptions{})
		require.NoError(t, err)
		_, err = w.Append(blockKindRecords, 1, 1000, 1000, appendMeta(nil, 1, "status", "foreign"))
		require.NoError(t, err)
		require.NoError(t, w.Seal())
		return filepath.Join(rn.dir, segment.SegmentName(writer, seq))
	}
	cases := []struct {
		name    string
		writer  uint32
		seq     uint64
		noIndex bool
	}{
		{"last", 1, uint64(len(rn.segs) + 1), false},
		{"last, no index", 1, uint64(len(rn.segs) + 1), true},
		{"first (writer 0)", 0, 1, false},
		{"first, no index", 0, 1, true},
		{"another writer", 7, 1, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			files := rn.files.clone()
			if tc.noIndex {
				delete(files, index.FileName)
			}
			mem := files.mount(t, rn.dir)
			path := foreignSeg(t, mem, tc.writer, tc.seq)

			got, rep, errs := readRun(t, mem, rn.dir)
			require.Empty(t, errs)
			requireForeignReported(t, rep, path, "other-run")
			requireExact(t, rn.want, got, newRunContent(), "reader")

			// Check agrees on whose run it is.
			var findings []Finding
			_, err := Check(rn.dir, mem, func(f Finding) { findings = append(findings, f) })
			require.NoError(t, err)
			var kinds []string
			for _, f := range findings {
				if f.Severity == Damage {
					kinds = append(kinds, f.Kind+" "+filepath.Base(f.File))
				}
			}
			require.Equal(t, []string{"run-id-mismatch " + filepath.Base(path)}, kinds)

			// A writer resumes past it, and what it logs reads back.
			s, err := Open(rn.dir, Options{FS: mem, FlushInterval: time.Hour})
			require.NoError(t, err)
			require.Equal(t, "test-run", s.RunID())
			f, err := s.Field("after/resume", KindMetric)
			require.NoError(t, err)
			require.NoError(t, f.LogMetric(1, 2.5))
			require.NoError(t, s.Close())
			fh, err := mem.Open(path)
			require.NoError(t, err)
			raw, err := io.ReadAll(fh)
			require.NoError(t, err)
			require.NoError(t, fh.Close())
			require.Contains(t, string(raw), "other-run", "the foreign segment is left as it was")

			r, err := OpenReader(rn.dir, mem)
			require.NoError(t, err)
			defer r.Close()
			require.False(t, r.Report().IndexRebuilt, "the index the writer left validates: %s", r.Report().IndexProblem)
			requireForeignReported(t, r.Report(), path, "other-run")
			var pts series.MetricColumns
			require.NoError(t, r.ReadMetric("after/resume", &pts))
			require.Equal(t, []float64{2.5}, pts.Values)
		})
	}
}

// TestCheckEveryBitFlip flips every 7th bit of a small closed run (every
// 17th under the race detector), one at a time, and requires each to be
// found: as damage in a segment or the index (each of whose bytes a
// checksum covers), as a warning about the LOCK (whose padding Check reads
// itself: the owner record's checksum does not cover it).
// GS_ALL_BITS=1 flips every bit.
func TestCheckEveryBitFlip(t *testing.T) {
	rn := buildCheckRun(t, 100)
	stride := 7
	if raceEnabled || testing.Short() {
		stride = 17
	}
	if os.Getenv("GS_ALL_BITS") != "" { // every bit: about ten seconds
		stride = 1
	}
	var names []string
	total := 0
	for n, b := range rn.files {
		names = append(names, n)
		total += len(b)
	}
	slices.Sort(names)
	t.Logf("%d files, %d bytes, %d flips", len(names), total, total*8/stride)
	flips, mem := 0, vfs.NewMem()
	for bit := 0; bit < total*8; bit += stride {
		pos := bit / 8
		var file string
		for _, n := range names {
			if pos < len(rn.files[n]) {
				file = n
				break
			}
			pos -= len(rn.files[n])
		}
		b := rn.files[file]
		b[pos] ^= 1 << (bit % 8)
		// Only the flipped file is rewritten; the others stay mounted.
		if flips == 0 {
			mem = rn.files.mount(t, rn.dir)
		} else {
			rewrite(t, mem, filepath.Join(rn.dir, file), b)
		}
		var got []Finding
		_, err := Check(rn.dir, mem, func(f Finding) { got = append(got, f) })
		b[pos] ^= 1 << (bit % 8)
		rewrite(t, mem, filepath.Join(rn.dir, file), b)
		require.NoError(t, err)
		flips++
		msg := fmt.Sprintf("bit %d of %s@%d", bit%8, file, pos)
		want := Damage
		if file == LockFileName || isMarkFile(file) {
			// The LOCK's padding is Check's alone; a mark slot may be a
			// write a crash tore while the other slot holds.
			want = Warning
		}
		require.Truef(t, slices.ContainsFunc(got, func(f Finding) bool {
			return f.Severity >= want && (filepath.Base(f.File) == file || f.Kind == "index")
		}), "%s: not found: %v", msg, got)
	}
	t.Logf("%d flips, every one found", flips)
}

func rewrite(t testing.TB, fsys vfs.FS, path string, b []byte) {
	t.Helper()
	require.NoError(t, fsys.Remove(path))
	f, err := fsys.Create(path)
	require.NoError(t, err)
	_, err = f.Write(b)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// TestForeignSegmentHidesNoTornTail: a crashed writer's newest segment
// ends in a torn block, and a segment copied from another run carries the
// number after it. Recovery must still cut the torn tail (it cuts the
// newest segment of each writer, and the foreign one is not this run's),
// and leave the foreign segment as it is.
func TestForeignSegmentHidesNoTornTail(t *testing.T) {
	mem := vfs.NewMem()
	dir := "/runs/torn"
	s, err := Create(dir, "test-run", Options{FS: mem, FlushInterval: time.Hour})
	require.NoError(t, err)
	f, err := s.Field("m", KindMetric)
	require.NoError(t, err)
	for i := range 100 {
		require.NoError(t, f.LogMetric(float64(i), float64(i)/3))
	}
	require.NoError(t, s.Flush())
	files := readRunFiles(t, mem, dir) // the writer's state as a crash leaves it
	require.NoError(t, s.Close())

	own := segment.SegmentName(1, 1)
	require.Contains(t, files, own)
	files[own] = append(files[own], bytes.Repeat([]byte{0xab}, 37)...) // a torn block
	mem = files.mount(t, dir)
	w, err := segment.Create(mem, dir, segment.Header{RunID: "other-run", WriterID: 1, Seq: 2}, segment.WriterOptions{})
	require.NoError(t, err)
	_, err = w.Append(blockKindRecords, 1, 1000, 1000, appendMeta(nil, 1, "status", "foreign"))
	require.NoError(t, err)
	require.NoError(t, w.Seal())
	foreign := filepath.Join(dir, segment.SegmentName(1, 2))
	before := readRunFiles(t, mem, dir)[segment.SegmentName(1, 2)]

	s, err = Open(dir, Options{FS: mem, FlushInterval: time.Hour})
	require.NoError(t, err)
	rec := s.Recovery()
	require.Len(t, rec.Cuts, 1, "the torn tail of this run's newest segment is cut")
	require.Equal(t, own, rec.Cuts[0].Segment)
	require.Equal(t, int64(37), rec.Cuts[0].Bytes)
	requireForeignReported(t, rec, foreign, "other-run")
	require.NoError(t, s.Close())
	require.Equal(t, before, readRunFiles(t, mem, dir)[segment.SegmentName(1, 2)], "the foreign segment is left as it was")

	r, err := OpenReader(dir, mem)
	require.NoError(t, err)
	defer r.Close()
	require.Empty(t, r.Report().Torn)
	var c series.MetricColumns
	require.NoError(t, r.ReadMetric("m", &c))
	require.Equal(t, 100, c.Len())
}
