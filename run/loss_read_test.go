package run

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/internal/vfs"
	"github.com/goodseed/goodseed-go/segment"
	"github.com/goodseed/goodseed-go/series"
)

// What the run's own records say was written and is gone — a segment
// deleted, a sealed segment cut short — is damage as a flipped bit is: a
// read returns what is left together with an error matching ErrCorrupt
// that names the file, and Recovery of a read-only run is not Clean. Issue
// 14 item 3: such a run read 17,750 of 20,000 points with a nil error.

const (
	lossMetric  = "train/loss"
	lossBatches = 12
	lossPerStep = 100 // points per batch (one flush each)
)

// lossBlock is one data block of the run and the steps of lossMetric in it.
type lossBlock struct {
	file  string
	meta  segment.BlockMeta
	steps []float64
}

// writeLossRun writes a closed run whose metric spans several blocks in
// three or more segments, and returns its options, id, its segment files
// in order, their data blocks and every point logged (step -> value).
func writeLossRun(t *testing.T) (Options, string, []string, []lossBlock, map[float64]float64) {
	t.Helper()
	opts, _ := testOptions(t)
	opts.Engine.FlushInterval = time.Hour // flushes are the test's own
	opts.Engine.BlockTargetBytes = 512
	opts.Engine.SegmentTargetBytes = 2048
	r, err := New(opts)
	require.NoError(t, err)
	written := map[float64]float64{}
	for b := range lossBatches {
		for i := range lossPerStep {
			step := float64(b*lossPerStep + i)
			v := math.Sin(step*1.7) * 3 // noisy: compresses little
			require.NoError(t, r.Field(lossMetric).Log(v, step))
			written[step] = v
		}
		require.NoError(t, r.Flush())
	}
	id, dir := r.ID(), r.Dir()
	require.NoError(t, r.Close())

	rd, err := engine.OpenReader(dir, nil)
	require.NoError(t, err)
	fi, ok := rd.Lookup(lossMetric, engine.KindMetric)
	require.True(t, ok)
	require.NoError(t, rd.Close())

	segs, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	require.NoError(t, err)
	slices.Sort(segs)
	require.GreaterOrEqual(t, len(segs), 3, "the run must span three segments")
	var blocks []lossBlock
	for i, file := range segs {
		rep, err := segment.Scan(vfs.Default, file, func(m segment.BlockMeta, p []byte) error {
			if m.Kind == segment.KindFooter {
				return nil
			}
			blk := lossBlock{file: file, meta: m}
			for len(p) > 0 {
				rec, rest, err := engine.DecodeRecord(p)
				if err != nil {
					return err
				}
				p = rest
				if rec.Field != fi.ID || rec.Kind != engine.RecMetricChunk {
					continue
				}
				var c series.MetricColumns
				if err := series.DecodeMetricChunk(rec.Chunk, &c); err != nil {
					return err
				}
				blk.steps = append(blk.steps, c.Steps...)
			}
			blocks = append(blocks, blk)
			return nil
		})
		require.NoError(t, err)
		require.True(t, rep.OK(), "%s: %+v", file, rep)
		require.True(t, rep.Sealed || i == len(segs)-1, "%s: a segment before the last is sealed", file)
		if i == len(segs)-1 {
			require.True(t, rep.Sealed, "%s: Close seals the last segment", file)
		}
	}
	return opts, id, segs, blocks, written
}

// metricBlocksIn returns the blocks of file that hold points of lossMetric.
func metricBlocksIn(blocks []lossBlock, file string) []lossBlock {
	var out []lossBlock
	for _, b := range blocks {
		if b.file == file && len(b.steps) > 0 {
			out = append(out, b)
		}
	}
	return out
}

func TestReadReportsLostSegmentData(t *testing.T) {
	opts, id, segs, blocks, written := writeLossRun(t)
	last := segs[len(segs)-1]
	lastBlocks := metricBlocksIn(blocks, last)
	require.NotEmpty(t, lastBlocks, "the last segment holds points of %s", lossMetric)
	cutBlock := lastBlocks[len(lastBlocks)-1]

	pristine := map[string][]byte{}
	for _, f := range segs {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		pristine[f] = data
	}

	cases := []struct {
		name string
		file string // the file damaged, which the error must name
		// damage damages the run; lost says whether a block's points are
		// gone with it.
		damage func(t *testing.T)
		lost   func(b lossBlock) bool
	}{
		{
			name: "middle segment deleted",
			file: segs[1],
			damage: func(t *testing.T) {
				require.NoError(t, os.Remove(segs[1]))
			},
			lost: func(b lossBlock) bool { return b.file == segs[1] },
		},
		{
			name: "last segment cut at a block boundary",
			file: last,
			damage: func(t *testing.T) {
				require.NoError(t, os.Truncate(last, cutBlock.meta.Offset))
			},
			lost: func(b lossBlock) bool { return b.file == last && b.meta.Offset >= cutBlock.meta.Offset },
		},
		{
			name: "last segment cut mid-block",
			file: last,
			damage: func(t *testing.T) {
				require.NoError(t, os.Truncate(last, cutBlock.meta.Offset+cutBlock.meta.Size/2))
			},
			lost: func(b lossBlock) bool { return b.file == last && b.meta.Offset >= cutBlock.meta.Offset },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for f, data := range pristine {
				require.NoError(t, os.WriteFile(f, data, 0o644))
			}
			tc.damage(t)
			want := map[float64]float64{}
			for s, v := range written {
				want[s] = v
			}
			nLost := 0
			for _, b := range blocks {
				if tc.lost(b) {
					for _, s := range b.steps {
						delete(want, s)
						nLost++
					}
				}
			}
			require.Positive(t, nLost, "the damage must cost points")
			t.Logf("%d of %d points lost with %s", nLost, len(written), filepath.Base(tc.file))

			r, err := OpenReadOnly(id, opts)
			require.NoError(t, err, "a damaged run still opens")
			defer r.Close()
			pts, err := r.Metric(lossMetric)
			got := map[float64]float64{}
			for _, p := range pts {
				got[p.Step] = p.Value
			}
			require.Equal(t, want, got, "exactly the points outside the lost bytes")
			require.Less(t, len(pts), len(written))

			require.Error(t, err, "a short read says so")
			require.ErrorIs(t, err, ErrCorrupt)
			require.ErrorIs(t, err, segment.ErrCorrupt)
			require.Contains(t, err.Error(), filepath.Base(tc.file))
			var le *engine.LossError
			require.True(t, errors.As(err, &le), "an *engine.LossError says what is missing: %v", err)
			require.Equal(t, tc.file, le.File)

			rep := r.Recovery()
			require.False(t, rep.Clean(), "Recovery of a damaged read-only run: %+v", rep)
			named := false
			for _, c := range rep.Corruptions {
				if errors.As(c, &le) && le.File == tc.file {
					named = true
				}
			}
			require.True(t, named, "Recovery names %s: %+v", tc.file, rep)
		})
	}
	for f, data := range pristine {
		require.NoError(t, os.WriteFile(f, data, 0o644))
	}
	r, err := OpenReadOnly(id, opts)
	require.NoError(t, err)
	pts, err := r.Metric(lossMetric)
	require.NoError(t, err)
	require.Len(t, pts, len(written))
	require.True(t, r.Recovery().Clean(), "%+v", r.Recovery())
	require.NoError(t, r.Close())
}

// Recovery of a read-only run is the reader's report as of the last
// Refresh: damage in a segment the writer added since the open shows once
// the reader refreshes.
func TestRecoveryFollowsRefresh(t *testing.T) {
	opts, _ := testOptions(t)
	opts.Engine.FlushInterval = time.Hour
	opts.Engine.BlockTargetBytes = 512
	opts.Engine.SegmentTargetBytes = 2048
	w, err := New(opts)
	require.NoError(t, err)
	defer w.Close()
	logBatch := func(b int) {
		for i := range lossPerStep {
			step := float64(b*lossPerStep + i)
			require.NoError(t, w.Field(lossMetric).Log(math.Sin(step*1.7), step))
		}
		require.NoError(t, w.Flush())
	}
	logBatch(0)
	r, err := OpenReadOnly(w.ID(), opts)
	require.NoError(t, err)
	defer r.Close()
	require.True(t, r.Recovery().Clean(), "%+v", r.Recovery())

	before, err := filepath.Glob(filepath.Join(w.Dir(), "*.seg"))
	require.NoError(t, err)
	for b := 1; b < lossBatches; b++ {
		logBatch(b)
	}
	after, err := filepath.Glob(filepath.Join(w.Dir(), "*.seg"))
	require.NoError(t, err)
	slices.Sort(after)
	require.Greater(t, len(after), len(before)+1, "the writer sealed new segments")
	// Damage the first data block of a sealed segment the reader has not seen.
	var target string
	for _, f := range after[:len(after)-1] {
		if !slices.Contains(before, f) {
			target = f
			break
		}
	}
	require.NotEmpty(t, target)
	var first segment.BlockMeta
	_, err = segment.Scan(vfs.Default, target, func(m segment.BlockMeta, _ []byte) error {
		if first.Size == 0 {
			first = m
		}
		return nil
	})
	require.NoError(t, err)
	flipPayloadByte(t, target, first)

	require.True(t, r.Recovery().Clean(), "before Refresh the report is the open's")
	require.NoError(t, r.Refresh())
	rep := r.Recovery()
	require.False(t, rep.Clean(), "after Refresh: %+v", rep)
	var ce *segment.CorruptionError
	require.True(t, errors.As(errors.Join(rep.Corruptions...), &ce), "%+v", rep)
	require.Equal(t, target, ce.File)
	require.NoError(t, os.Remove(target)) // the writer's Close need not meet it
}
