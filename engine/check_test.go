package engine

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/index"
	"github.com/goodseed/goodseed-go/internal/vfs"
	"github.com/goodseed/goodseed-go/segment"
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
			name:   "unknown major version",
			damage: func(f runFiles) { f[middle][9] ^= 0x08 },
			want:   []loc{{Damage, "unknown-version", middle, 0, middleLen}, stale},
			lost:   segUnits(middle), single: true,
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
