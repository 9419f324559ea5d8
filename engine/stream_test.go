package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/series"
)

// TestScanStream reads a writer's stream in pieces, from the position each
// scan returned, while the writer goes on across segment seals: every
// point comes exactly once, in order; the other writer's never; a damaged
// block is reported and skipped, the scan going on past it.
func TestScanStream(t *testing.T) {
	s1, dir := newRun(t, Options{})
	s2, err := Join(dir, s1.RunID(), Options{WriterID: 2, SegmentTargetBytes: 2 << 10, BlockTargetBytes: 512, MaxChunkPoints: 256})
	require.NoError(t, err)
	other, err := s1.Field("other", KindMetric)
	require.NoError(t, err)
	f, err := s2.Field("m", KindMetric)
	require.NoError(t, err)

	var got []float64
	fields := map[uint32]string{}
	var pos StreamPos
	scan := func() {
		t.Helper()
		var err error
		pos, err = ScanStream(nil, dir, 2, pos, func(b StreamBlock) error {
			for _, r := range b.Records {
				switch r.Kind {
				case RecFieldDef:
					fields[r.Field] = r.Path
				case RecMetricChunk:
					require.Equal(t, "m", fields[r.Field])
					var c series.MetricColumns
					require.NoError(t, series.DecodeMetricChunk(r.Chunk, &c))
					got = append(got, c.Steps...)
				}
			}
			return nil
		}, func(err error) { t.Fatalf("unexpected damage: %v", err) })
		require.NoError(t, err)
	}
	step := 0
	for round := 0; round < 6; round++ {
		for i := 0; i < 2000; i++ {
			require.NoError(t, f.LogMetric(float64(step), float64(uint32(step*2654435761))/3)) // hard to compress
			require.NoError(t, other.LogMetric(float64(step), 0))
			step++
		}
		require.NoError(t, s2.Flush())
		require.NoError(t, s1.Flush())
		scan()
	}
	require.NoError(t, s2.Close())
	require.NoError(t, s1.Close())
	scan()
	segs, _ := filepath.Glob(filepath.Join(dir, "00000002-*.seg"))
	require.Greater(t, len(segs), 2, "the stream crossed seals")
	require.Len(t, got, step)
	for i, st := range got {
		require.Equal(t, float64(i), st)
	}
	end := pos
	scan()
	require.Equal(t, end, pos, "nothing new, nothing twice")
	require.Len(t, got, step)

	// A flipped bit in the middle segment's first block: reported, and
	// every other block still comes.
	mid := segs[1]
	b, err := os.ReadFile(mid)
	require.NoError(t, err)
	b[200] ^= 1
	require.NoError(t, os.WriteFile(mid, b, 0o644))
	got, pos = nil, StreamPos{}
	var damage []error
	_, err = ScanStream(nil, dir, 2, pos, func(b StreamBlock) error {
		for _, r := range b.Records {
			if r.Kind == RecMetricChunk {
				var c series.MetricColumns
				require.NoError(t, series.DecodeMetricChunk(r.Chunk, &c))
				got = append(got, c.Steps...)
			}
		}
		return nil
	}, func(err error) { damage = append(damage, err) })
	require.NoError(t, err)
	require.Len(t, damage, 1)
	require.Contains(t, damage[0].Error(), filepath.Base(mid))
	require.Less(t, len(got), step)
	require.Greater(t, len(got), step/2, fmt.Sprintf("the blocks after the damage come (%d of %d)", len(got), step))
}
