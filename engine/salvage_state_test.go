package engine

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/internal/vfs"
	"github.com/goodseed/goodseed-go/segment"
)

// Salvage keeps at least what a reader of the source serves. A reader of a
// crashed run trusts the index the last Close wrote and replays what came
// after it, so configs, string-set adds and meta lost with a damaged block
// that index covers are still served, from its state snapshot. Salvage
// copies only valid blocks, and restored the snapshot's values only from
// an index covering the whole run: the values of such a crashed run were
// lost (issue 14 item 5).

// staleIndexRun writes a run whose index is older than its segments: one
// session that sets configs, tag adds and meta, a flush each (each in a block
// of its own), closed; then a resumed writer that sets more, overwrites
// some, removes a tag and dies without Close.
func staleIndexRun(t *testing.T) (runFiles, string) {
	t.Helper()
	mem := vfs.NewMem()
	dir := "/stale/run"
	opts := Options{FS: mem, FlushInterval: time.Hour}
	s, err := Create(dir, "stale-run", opts)
	require.NoError(t, err)
	flushed := func(err error) {
		t.Helper()
		require.NoError(t, err)
		require.NoError(t, s.Flush())
	}
	m, err := s.Field("train/loss", KindMetric)
	require.NoError(t, err)
	for i := range 20 {
		require.NoError(t, m.LogMetric(float64(i), float64(i)/2))
	}
	flushed(nil)
	flushed(s.SetConfig("params/lr", Float(0.1)))
	flushed(s.UpdateSet("sys/tags", SetAdd, "bert", "finetune"))
	flushed(s.SetConfig("params/name", String("first")))
	flushed(s.SetMeta("status", "running"))
	flushed(s.SetMeta("created_by", "session one"))
	flushed(s.SetConfig("params/epochs", Int(3)))
	flushed(s.UpdateSet("sys/tags", SetAdd, "gpu"))
	require.NoError(t, s.Close()) // the index: everything above

	s, err = Open(dir, opts)
	require.NoError(t, err)
	flushed(s.SetConfig("params/batch", Int(32)))
	flushed(s.UpdateSet("sys/tags", SetAdd, "resumed"))
	flushed(s.SetConfig("params/name", String("second")))
	flushed(s.SetMeta("status", "resumed"))
	flushed(s.UpdateSet("sys/tags", SetRemove, "finetune"))
	m, err = s.Field("train/loss", KindMetric)
	require.NoError(t, err)
	for i := 20; i < 30; i++ {
		require.NoError(t, m.LogMetric(float64(i), float64(i)/2))
	}
	flushed(nil)
	s.abandon() // kill -9: no Close, no new index

	files := readRunFiles(t, mem, dir)
	r, err := OpenReader(dir, files.mount(t, dir))
	require.NoError(t, err)
	defer r.Close()
	require.Empty(t, r.Report().IndexProblem, "the index is trusted")
	require.Positive(t, r.Report().ReplayedBlocks, "and stale: the resumed writer's blocks are replayed")
	return files, dir
}

// servedState is what a reader serves of a run besides its points.
type servedState struct {
	configs map[string]ConfigEntry
	meta    map[string]MetaEntry
	fields  map[string]FieldKind
}

func readServedState(t *testing.T, fsys vfs.FS, dir string) servedState {
	t.Helper()
	r, err := OpenReader(dir, fsys)
	require.NoError(t, err)
	defer r.Close()
	st := servedState{configs: withoutOrder(r.Configs()), meta: r.Meta(), fields: map[string]FieldKind{}}
	for _, f := range r.Fields() {
		st.fields[f.Path] = f.Kind
	}
	return st
}

// recordBlock is a block of a segment that holds records, and what kinds.
type recordBlock struct {
	seg   string
	meta  segment.BlockMeta
	kinds string // the kinds of its records, for the case name
}

func recordBlocks(t *testing.T, fsys vfs.FS, dir string) []recordBlock {
	t.Helper()
	segs, err := listSegments(fsys, dir)
	require.NoError(t, err)
	var out []recordBlock
	for _, sf := range segs {
		_, err := segment.Scan(fsys, filepath.Join(dir, sf.name), func(m segment.BlockMeta, p []byte) error {
			if m.Kind != blockKindRecords {
				return nil
			}
			var kinds []string
			for len(p) > 0 {
				r, rest, err := DecodeRecord(p)
				if err != nil {
					return err
				}
				p = rest
				if k := r.Kind.String(); !slices.Contains(kinds, k) {
					kinds = append(kinds, k)
				}
			}
			out = append(out, recordBlock{seg: sf.name, meta: m, kinds: strings.Join(kinds, "+")})
			return nil
		})
		require.NoError(t, err)
	}
	return out
}

// flipInPayload flips one bit in the middle of a block's stored payload.
func flipInPayload(files runFiles, seg string, m segment.BlockMeta) {
	const headerBytes, trailerBytes = 40, 8 // segment framing, format 1.x
	off := m.Offset + headerBytes + (m.Size-headerBytes-trailerBytes)/2
	files[seg][off] ^= 0x04
}

// salvageAndCompare salvages the run in files and checks that the new run
// serves every config, tag, meta value and field the damaged one serves.
func salvageAndCompare(t *testing.T, files runFiles, dir, msg string) (SalvageReport, servedState) {
	t.Helper()
	mem := files.mount(t, dir)
	before := hashTree(t, mem, dir)
	src := readServedState(t, mem, dir)
	rep, err := Salvage(dir, "/out/run", mem)
	require.NoError(t, err, msg)
	require.Equal(t, before, hashTree(t, mem, dir), "%s: the source was modified", msg)
	got := readServedState(t, mem, "/out/run")
	require.Equal(t, src.configs, got.configs, "%s: configs and tags (values and times)", msg)
	require.Equal(t, src.meta, got.meta, "%s: meta", msg)
	for p, k := range src.fields {
		require.Equal(t, k, got.fields[p], "%s: field %q", msg, p)
	}
	_, dstRep, errs := readRun(t, mem, "/out/run")
	require.Empty(t, errs, msg)
	require.True(t, dstRep.Clean(), "%s: %+v", msg, dstRep)
	require.False(t, dstRep.IndexRebuilt, "%s: %s", msg, dstRep.IndexProblem)
	return rep, src
}

// TestSalvageKeepsWhatTheStaleIndexServes is the regression test: the
// block holding params/lr, which only the first session set, is damaged;
// the reader still serves it from the index's snapshot, and so must the
// salvaged run.
func TestSalvageKeepsWhatTheStaleIndexServes(t *testing.T) {
	files, dir := staleIndexRun(t)
	mem := files.mount(t, dir)
	var target *recordBlock
	for _, b := range recordBlocks(t, mem, dir) {
		if b.seg == segment.SegmentName(1, 1) && b.kinds == RecFieldDef.String()+"+"+RecConfig.String() {
			target = &b
			break // the first config-only block: params/lr
		}
	}
	require.NotNil(t, target, "a block holding only the config and its definition")
	flipInPayload(files, target.seg, target.meta)

	rep, src := salvageAndCompare(t, files, dir, "params/lr damaged")
	require.Equal(t, Float(0.1), src.configs["params/lr"].Value, "the reader serves it from the index's snapshot")
	require.Equal(t, 1, rep.RecoveredState, "%+v", rep)
	require.False(t, rep.Complete(), "a block was lost")
}

// TestSalvageStaleIndexEveryBlock damages each record block of the
// crashed run in turn — the closed session's control blocks (configs, tag
// adds, meta) and the one with points, covered by the index, and the
// crashed session's, which it does not cover.
func TestSalvageStaleIndexEveryBlock(t *testing.T) {
	files, dir := staleIndexRun(t)
	blocks := recordBlocks(t, files.mount(t, dir), dir)
	require.GreaterOrEqual(t, len(blocks), 10)
	restored := 0
	for _, b := range blocks {
		name := fmt.Sprintf("%s@%d/%s", b.seg, b.meta.Offset, b.kinds)
		t.Run(name, func(t *testing.T) {
			c := files.clone()
			flipInPayload(c, b.seg, b.meta)
			rep, _ := salvageAndCompare(t, c, dir, name)
			restored += rep.RecoveredState
		})
	}
	// The closed session's config, tag and meta blocks hold values the
	// crashed one did not set again: their damage costs the copy.
	require.Positive(t, restored)

	// Undamaged, nothing needs restoring.
	rep, _ := salvageAndCompare(t, files.clone(), dir, "undamaged")
	require.Zero(t, rep.RecoveredState)
	require.Zero(t, rep.RecoveredDefinitions)
}

// withoutOrder drops ConfigEntry.Order, a rank relative to the stream that
// a salvaged copy numbers afresh.
func withoutOrder(cs map[string]ConfigEntry) map[string]ConfigEntry {
	for p, c := range cs {
		c.Order = 0
		cs[p] = c
	}
	return cs
}
