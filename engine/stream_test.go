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

// TestScanStreamAcrossCrash: a writer killed mid-segment leaves it
// unsealed, and its next session writes a new segment. A scan stopped at
// the end of the crashed session's segment goes on into the next one
// (an unsealed segment with a later one is final), so a reader shipping
// the stream never stalls behind a crash: issue 15's eight-rank kill test
// found it stalling.
func TestScanStreamAcrossCrash(t *testing.T) {
	s1, dir := newRun(t, Options{})
	require.NoError(t, s1.Close())
	s2, err := Join(dir, s1.RunID(), Options{WriterID: 2})
	require.NoError(t, err)
	f, err := s2.Field("m", KindMetric)
	require.NoError(t, err)
	for i := range 100 {
		require.NoError(t, f.LogMetric(float64(i), float64(i)))
	}
	require.NoError(t, s2.Flush())

	// What kill -9 leaves: every flushed byte, plus half a block in flight.
	crashed := t.TempDir()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(crashed, e.Name()), b, 0o644))
	}
	require.NoError(t, s2.Close())
	seg1 := filepath.Join(crashed, "00000002-0000000000000001.seg")
	steps := func(from StreamPos) ([]float64, StreamPos) {
		var got []float64
		pos, err := ScanStream(nil, crashed, 2, from, func(b StreamBlock) error {
			for _, r := range b.Records {
				if r.Kind == RecMetricChunk {
					var c series.MetricColumns
					require.NoError(t, series.DecodeMetricChunk(r.Chunk, &c))
					got = append(got, c.Steps...)
				}
			}
			return nil
		}, func(err error) { t.Fatalf("unexpected damage: %v", err) })
		require.NoError(t, err)
		return got, pos
	}
	got, pos := steps(StreamPos{})
	require.Len(t, got, 100)
	require.Equal(t, StreamPos{Seq: 1, Offset: fileSize(t, seg1)}, pos)
	fd, err := os.OpenFile(seg1, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = fd.Write([]byte("half a block, torn by the kill"))
	require.NoError(t, err)
	require.NoError(t, fd.Close())
	got, again := steps(pos)
	require.Empty(t, got, "a torn tail is left for later")
	require.Equal(t, pos, again)

	s3, err := Join(crashed, s1.RunID(), Options{WriterID: 2}) // the next session
	require.NoError(t, err)
	f, err = s3.Field("m", KindMetric)
	require.NoError(t, err)
	for i := 100; i < 150; i++ {
		require.NoError(t, f.LogMetric(float64(i), float64(i)))
	}
	require.NoError(t, s3.Flush())
	got, pos = steps(pos)
	require.Len(t, got, 50, "the new session's points, past the crashed segment")
	require.Equal(t, 100.0, got[0])
	require.Equal(t, uint64(2), pos.Seq)
	require.NoError(t, s3.Close())
	got, _ = steps(pos)
	require.Empty(t, got, "nothing twice")
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	return fi.Size()
}
