package engine

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/series"
)

// TestDownsampleStreamMatchesMerged: the streaming path (in-order series)
// and the merging path (out of order, overwrites, damage) both give what
// series.Downsample gives on the merged series.
func TestDownsampleStreamMatchesMerged(t *testing.T) {
	cases := map[string]func(i int) float64{
		"in order":     func(i int) float64 { return float64(i) },
		"out of order": func(i int) float64 { return float64((i * 7919) % 5000) },
		"overwrites":   func(i int) float64 { return float64(i % 3000) },
	}
	for name, stepOf := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Create(dir, "ds", Options{BlockTargetBytes: 2048, MaxChunkPoints: 256})
			require.NoError(t, err)
			f, err := s.Field("m", KindMetric)
			require.NoError(t, err)
			rng := rand.New(rand.NewPCG(1, 1))
			for i := range 5000 {
				v := rng.NormFloat64()
				if i%501 == 0 {
					v = math.NaN()
				}
				require.NoError(t, f.LogMetric(stepOf(i), v))
				if i%700 == 0 {
					require.NoError(t, s.Flush())
				}
			}
			require.NoError(t, s.Close())
			r, err := OpenReader(dir, nil)
			require.NoError(t, err)
			defer r.Close()
			var all series.MetricColumns
			require.NoError(t, r.ReadMetric("m", &all))
			for _, w := range [][3]int{{0, -1, 100}, {10, 4000, 37}, {0, -1, 1_000_000}, {4990, -1, 3}, {7, 7, 1}} {
				got, err := r.Downsample("m", w[0], w[1], w[2])
				require.NoError(t, err)
				want := series.Downsample(&all, w[0], w[1], w[2])
				require.Equal(t, len(want.Points), len(got.Points), "%v", w)
				for i := range want.Points {
					require.Equal(t, math.Float64bits(want.Points[i].Value), math.Float64bits(got.Points[i].Value))
					require.Equal(t, want.Points[i].Step, got.Points[i].Step)
				}
				require.Equal(t, want.TotalCount, got.TotalCount)
			}
		})
	}
}

// TestDownsampleDamagedFallsBack: with a damaged block the answer is the
// readable points plus the error, as ReadMetric gives them.
func TestDownsampleDamagedFallsBack(t *testing.T) {
	dir := t.TempDir()
	s, err := Create(dir, "ds", Options{BlockTargetBytes: 1024, MaxChunkPoints: 128})
	require.NoError(t, err)
	f, err := s.Field("m", KindMetric)
	require.NoError(t, err)
	for i := range 3000 {
		require.NoError(t, f.LogMetric(float64(i), float64(i)))
		if i%300 == 0 {
			require.NoError(t, s.Flush())
		}
	}
	require.NoError(t, s.Close())
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	b, err := os.ReadFile(segs[0])
	require.NoError(t, err)
	b[len(b)/2] ^= 0xFF
	require.NoError(t, os.WriteFile(segs[0], b, 0o644))

	r, err := OpenReader(dir, nil)
	require.NoError(t, err)
	defer r.Close()
	res, err := r.Downsample("m", 0, -1, 50)
	require.Error(t, err, "damage is reported, not hidden by the fast path")
	require.Less(t, res.TotalCount, 3000)
	require.Greater(t, res.TotalCount, 0)
}
