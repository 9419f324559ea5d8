package run

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/internal/vfs"
	"github.com/goodseed/goodseed-go/segment"
	"github.com/goodseed/goodseed-go/series"
)

// A damaged block costs the run API only the points in it: each series
// read returns every point that still verifies together with an error that
// matches ErrCorrupt (and segment.ErrCorrupt) and names the damaged file
// and offset — the engine's contract, kept through the run package.

const (
	partialMetric  = "train/loss"
	partialStrings = "train/note"
	partialBatches = 6
	partialPerStep = 50 // points per batch and series
)

// partialBlock is one data block of the run's segment and the steps of
// each series it holds.
type partialBlock struct {
	file  string
	meta  segment.BlockMeta
	steps map[string][]float64 // path -> steps of its chunks in the block
}

// writePartialRun writes a run whose two series span several blocks (a
// flush per batch, small blocks), closes it and returns its options, id and
// data blocks.
func writePartialRun(t *testing.T) (Options, string, []partialBlock) {
	t.Helper()
	opts, _ := testOptions(t)
	opts.Engine.FlushInterval = time.Hour // flushes are the test's own
	opts.Engine.BlockTargetBytes = 512
	r, err := New(opts)
	require.NoError(t, err)
	for b := range partialBatches {
		for i := range partialPerStep {
			step := float64(b*partialPerStep + i)
			require.NoError(t, r.Field(partialMetric).Log(step*0.5+1, step))
			require.NoError(t, r.Field(partialStrings).LogString(fmt.Sprintf("note %d", int(step)), step))
		}
		require.NoError(t, r.Flush())
	}
	id, dir := r.ID(), r.Dir()
	require.NoError(t, r.Close())

	rd, err := engine.OpenReader(dir, nil)
	require.NoError(t, err)
	ids := map[uint32]string{}
	for p, k := range map[string]engine.FieldKind{partialMetric: engine.KindMetric, partialStrings: engine.KindString} {
		fi, ok := rd.Lookup(p, k)
		require.True(t, ok, p)
		ids[fi.ID] = p
	}
	require.NoError(t, rd.Close())

	segs, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	require.NoError(t, err)
	require.NotEmpty(t, segs)
	var blocks []partialBlock
	for _, file := range segs {
		rep, err := segment.Scan(vfs.Default, file, func(m segment.BlockMeta, p []byte) error {
			if m.Kind == segment.KindFooter {
				return nil
			}
			blk := partialBlock{file: file, meta: m, steps: map[string][]float64{}}
			for len(p) > 0 {
				rec, rest, err := engine.DecodeRecord(p)
				if err != nil {
					return err
				}
				p = rest
				path, ok := ids[rec.Field]
				if !ok {
					continue
				}
				switch rec.Kind {
				case engine.RecMetricChunk:
					var c series.MetricColumns
					if err := series.DecodeMetricChunk(rec.Chunk, &c); err != nil {
						return err
					}
					blk.steps[path] = append(blk.steps[path], c.Steps...)
				case engine.RecStringChunk:
					var c series.StringColumns
					if err := series.DecodeStringChunk(rec.Chunk, &c); err != nil {
						return err
					}
					blk.steps[path] = append(blk.steps[path], c.Steps...)
				}
			}
			blocks = append(blocks, blk)
			return nil
		})
		require.NoError(t, err)
		require.True(t, rep.OK(), "%s: %+v", file, rep)
	}
	return opts, id, blocks
}

// flipPayloadByte flips one bit in the middle of a block's stored payload.
func flipPayloadByte(t *testing.T, file string, m segment.BlockMeta) {
	t.Helper()
	const headerBytes, trailerBytes = 40, 8 // segment framing (format 1.x)
	require.Greater(t, m.Size, int64(headerBytes+trailerBytes))
	off := m.Offset + headerBytes + (m.Size-headerBytes-trailerBytes)/2
	f, err := os.OpenFile(file, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	b := make([]byte, 1)
	_, err = f.ReadAt(b, off)
	require.NoError(t, err)
	b[0] ^= 0x10
	_, err = f.WriteAt(b, off)
	require.NoError(t, err)
}

// partialRead is one read method of the run API: it returns the points it
// got as step -> value text.
type partialRead struct {
	name string
	path string
	read func(r *Run) (map[float64]string, error)
	// last: the method returns only the point at the greatest step.
	last bool
}

var partialReads = []partialRead{
	{name: "Metric", path: partialMetric, read: func(r *Run) (map[float64]string, error) {
		pts, err := r.Metric(partialMetric)
		out := map[float64]string{}
		for _, p := range pts {
			out[p.Step] = fmt.Sprint(p.Value)
		}
		return out, err
	}},
	{name: "Strings", path: partialStrings, read: func(r *Run) (map[float64]string, error) {
		pts, err := r.Strings(partialStrings)
		out := map[float64]string{}
		for _, p := range pts {
			out[p.Step] = p.Value
		}
		return out, err
	}},
	{name: "Get string", path: partialStrings, last: true, read: func(r *Run) (map[float64]string, error) {
		v, err := r.Get(partialStrings)
		out := map[float64]string{}
		if v.Type == engine.TypeString {
			var step int
			if _, serr := fmt.Sscanf(v.Str, "note %d", &step); serr == nil {
				out[float64(step)] = v.Str
			}
		}
		return out, err
	}},
}

// lastOnly keeps the point at the greatest step of m.
func lastOnly(m map[float64]string) map[float64]string {
	var best float64
	found := false
	for s := range m {
		if !found || s > best {
			best, found = s, true
		}
	}
	if !found {
		return map[float64]string{}
	}
	return map[float64]string{best: m[best]}
}

func TestPartialReadKeepsIntactPoints(t *testing.T) {
	opts, id, blocks := writePartialRun(t)

	// What the run reads whole: every point logged.
	clean := map[string]map[float64]string{}
	{
		r, err := OpenReadOnly(id, opts)
		require.NoError(t, err)
		for _, rd := range partialReads {
			got, err := rd.read(r)
			require.NoError(t, err, rd.name)
			if !rd.last {
				require.Len(t, got, partialBatches*partialPerStep, rd.name)
				clean[rd.path] = got
			}
		}
		require.NoError(t, r.Close())
	}

	// Damage each block holding points of a series read, one at a time.
	dir := filepath.Dir(blocks[0].file)
	pristine := map[string][]byte{}
	for _, b := range blocks {
		if _, ok := pristine[b.file]; !ok {
			data, err := os.ReadFile(b.file)
			require.NoError(t, err)
			pristine[b.file] = data
		}
	}
	damaged := 0
	for _, rd := range partialReads {
		for _, b := range blocks {
			lost := b.steps[rd.path]
			if len(lost) == 0 {
				continue
			}
			t.Run(fmt.Sprintf("%s/block@%d", rd.name, b.meta.Offset), func(t *testing.T) {
				for f, data := range pristine {
					require.NoError(t, os.WriteFile(f, data, 0o644))
				}
				flipPayloadByte(t, b.file, b.meta)
				want := map[float64]string{}
				for s, v := range clean[rd.path] {
					if !slices.Contains(lost, s) {
						want[s] = v
					}
				}
				if rd.last {
					want = lastOnly(want)
				}

				r, err := OpenReadOnly(id, opts)
				require.NoError(t, err)
				defer r.Close()
				got, err := rd.read(r)
				require.Equal(t, want, got, "the points outside the damaged block")
				require.Error(t, err)
				require.ErrorIs(t, err, ErrCorrupt)
				require.ErrorIs(t, err, engine.ErrCorrupt)
				require.ErrorIs(t, err, segment.ErrCorrupt)
				var ce *segment.CorruptionError
				require.True(t, errors.As(err, &ce), "%v", err)
				require.Equal(t, b.file, ce.File)
				require.Equal(t, b.meta.Offset, ce.Offset)
				require.Contains(t, err.Error(), filepath.Base(b.file))
				require.True(t, strings.HasPrefix(err.Error(), "run "+id+": "), err.Error())
			})
			damaged++
		}
	}
	// The run must span several blocks for the test to mean anything.
	require.GreaterOrEqual(t, damaged, 2*len(partialReads), "blocks holding the series")
	for f, data := range pristine {
		require.NoError(t, os.WriteFile(f, data, 0o644))
	}
	checkIntegrity(t, dir)
}

// A record that does not decode inside a block that verifies is the
// engine's ErrCorrupt, not the segment's; the run API marks both alike.
func TestMarkCorruptMatchesBothLayers(t *testing.T) {
	seg := fmt.Errorf("engine: read x.seg: %w", &segment.CorruptionError{File: "x.seg", Offset: 7, Reason: "bad"})
	rec := fmt.Errorf("engine: x.seg block at 7: %w: bad chunk", engine.ErrCorrupt)
	for _, err := range []error{seg, rec, errors.Join(seg, rec)} {
		m := markCorrupt(err)
		require.ErrorIs(t, m, ErrCorrupt)
		require.ErrorIs(t, m, segment.ErrCorrupt)
		require.Equal(t, err.Error(), m.Error())
	}
	other := errors.New("disk on fire")
	require.Same(t, other, markCorrupt(other))
	require.NoError(t, markCorrupt(nil))
}
