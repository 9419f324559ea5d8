package series

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"
)

func cols(steps, values []float64) *MetricColumns {
	c := &MetricColumns{}
	for i := range steps {
		c.Append(steps[i], values[i], int64(100+i))
	}
	return c
}

func seq(n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = float64(i)
	}
	return out
}

func samePoints(t *testing.T, got, want []DownPoint) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d points, want %d:\n got %+v\nwant %+v", len(got), len(want), got, want)
	}
	eq := func(a, b float64) bool { return a == b || a != a && b != b }
	for i := range want {
		g, w := got[i], want[i]
		if !eq(g.Step, w.Step) || !eq(g.Value, w.Value) || !eq(g.MinY, w.MinY) || !eq(g.MaxY, w.MaxY) || g.Downsampled != w.Downsampled || g.TimeMs != w.TimeMs {
			t.Fatalf("point %d: got %+v, want %+v", i, g, w)
		}
	}
}

func TestDownsampleRawWindow(t *testing.T) {
	c := cols(seq(5), []float64{1, math.NaN(), 3, 4, 5})
	r := Downsample(c, 0, -1, 5)
	if r.Downsampled || r.TotalCount != 5 || r.FirstPointIndex != 0 || r.LastPointIndex != 4 {
		t.Fatalf("%+v", r)
	}
	nan := math.NaN()
	samePoints(t, r.Points, []DownPoint{
		{0, 1, 1, 1, false, 100}, {1, nan, nan, nan, false, 101}, {2, 3, 3, 3, false, 102},
		{3, 4, 4, 4, false, 103}, {4, 5, 5, 5, false, 104},
	})
	// A window inside the series, with clamping.
	r = Downsample(c, -3, 1, 10)
	if r.FirstPointIndex != 0 || r.LastPointIndex != 1 || len(r.Points) != 2 {
		t.Fatalf("%+v", r)
	}
	r = Downsample(c, 3, 99, 10)
	if r.FirstPointIndex != 3 || r.LastPointIndex != 4 || len(r.Points) != 2 || r.Points[0].Step != 3 {
		t.Fatalf("%+v", r)
	}
	r = Downsample(c, 7, -1, 10)
	if len(r.Points) != 0 || r.TotalCount != 5 {
		t.Fatalf("empty window: %+v", r)
	}
	r = Downsample(&MetricColumns{}, 0, -1, 10)
	if len(r.Points) != 0 || r.LastPointIndex != -1 {
		t.Fatalf("empty series: %+v", r)
	}
}

func TestDownsampleBuckets(t *testing.T) {
	// 10 points, N=3: k=4 (⌈10/2⌉=5 > 3, ⌈10/4⌉=3), buckets [0-3] [4-7] [8-9].
	vals := []float64{1, 2, 3, 6, math.NaN(), math.Inf(1), math.NaN(), math.Inf(-1), 10, 20}
	c := cols(seq(10), vals)
	r := Downsample(c, 0, -1, 3)
	if !r.Downsampled {
		t.Fatal("not downsampled")
	}
	nan := math.NaN()
	samePoints(t, r.Points, []DownPoint{
		{0, 1, 1, 1, false, 100},        // bookend: step 0 ≠ mean step 1.5
		{1.5, 3, 1, 6, true, 102},       // middle of 0..3 is index 2 (bucket[n//2])
		{5.5, nan, nan, nan, true, 106}, // no finite value
		{8.5, 15, 10, 20, true, 109},    // short last bucket
		{9, 20, 20, 20, false, 109},     // bookend
	})
	// k=1 never happens (window > N), k=2: 4 points to N=2 → two buckets of 2.
	c = cols([]float64{0, 0, 5, 5}, []float64{1, 3, 5, 7})
	r = Downsample(c, 0, -1, 3)
	// 4 > 3 → k=2 → buckets {0,0} {5,5}: steps equal the raw ends, so no bookends.
	samePoints(t, r.Points, []DownPoint{{0, 2, 1, 3, true, 101}, {5, 6, 5, 7, true, 103}})
	// A window not starting at 0: bucket edges are relative to the window.
	c = cols(seq(20), seq(20))
	r = Downsample(c, 3, 10, 4) // 8 points, k=2
	samePoints(t, r.Points, []DownPoint{
		{3, 3, 3, 3, false, 103}, {3.5, 3.5, 3, 4, true, 104}, {5.5, 5.5, 5, 6, true, 106},
		{7.5, 7.5, 7, 8, true, 108}, {9.5, 9.5, 9, 10, true, 110}, {10, 10, 10, 10, false, 110},
	})
}

// naiveDownsample is a direct transcription of the http-api.md rules.
func naiveDownsample(c *MetricColumns, first, last, n int) []DownPoint {
	total := c.Len()
	if first < 0 {
		first = 0
	}
	if last < 0 || last >= total {
		last = total - 1
	}
	if first > last {
		return nil
	}
	w := last - first + 1
	var out []DownPoint
	if w <= n {
		for i := first; i <= last; i++ {
			out = append(out, DownPoint{c.Steps[i], c.Values[i], c.Values[i], c.Values[i], false, c.TimesMs[i]})
		}
		return out
	}
	k := 1
	for math.Ceil(float64(w)/float64(k)) > float64(n) {
		k *= 2
	}
	for b := first; b <= last; b += k {
		e := b + k - 1
		if e > last {
			e = last
		}
		var ss, vs float64
		var nv int
		lo, hi := math.NaN(), math.NaN()
		for i := b; i <= e; i++ {
			ss += c.Steps[i]
			v := c.Values[i]
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			vs += v
			nv++
			if nv == 1 || v < lo {
				lo = v
			}
			if nv == 1 || v > hi {
				hi = v
			}
		}
		avg := math.NaN()
		if nv > 0 {
			avg = vs / float64(nv)
		}
		out = append(out, DownPoint{ss / float64(e-b+1), avg, lo, hi, true, c.TimesMs[b+(e-b+1)/2]})
	}
	if c.Steps[first] != out[0].Step {
		out = append([]DownPoint{{c.Steps[first], c.Values[first], c.Values[first], c.Values[first], false, c.TimesMs[first]}}, out...)
	}
	if c.Steps[last] != out[len(out)-1].Step {
		out = append(out, DownPoint{c.Steps[last], c.Values[last], c.Values[last], c.Values[last], false, c.TimesMs[last]})
	}
	return out
}

func TestDownsampleMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for it := 0; it < 3000; it++ {
		n := r.IntN(200)
		c := &MetricColumns{}
		s := 0.0
		for i := 0; i < n; i++ {
			s += float64(r.IntN(3)) // repeated steps are fine for downsampling
			v := r.NormFloat64()
			if r.IntN(10) == 0 {
				v = [...]float64{math.NaN(), math.Inf(1), math.Inf(-1)}[r.IntN(3)]
			}
			c.Append(s, v, int64(i))
		}
		first, last, pc := r.IntN(n+2)-1, r.IntN(n+2)-1, 1+r.IntN(40)
		got := Downsample(c, first, last, pc)
		samePoints(t, got.Points, naiveDownsample(c, first, last, pc))
	}
}

func TestBucketByStep(t *testing.T) {
	c := cols([]float64{0, 1, 2, 3, 9, 10}, []float64{1, 2, math.NaN(), 4, 5, 6})
	got := BucketByStep(c, 2) // width 5: [0,5) and [5,10]
	nan := math.NaN()
	_ = nan
	want := []Bucket{
		{StepMin: 0, StepMax: 3, Min: 1, Max: 4, Avg: 7.0 / 3, Count: 4},
		{StepMin: 9, StepMax: 10, Min: 5, Max: 6, Avg: 5.5, Count: 2},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v", got)
	}
	got = BucketByStep(c, 100) // empty buckets are omitted
	if len(got) != 6 {
		t.Fatalf("got %d buckets", len(got))
	}
	got = BucketByStep(cols([]float64{4, 4}, []float64{math.NaN(), math.Inf(1)}), 10)
	if len(got) != 1 || got[0].Count != 2 || !math.IsNaN(got[0].Avg) || !math.IsNaN(got[0].Min) {
		t.Fatalf("single step: %+v", got)
	}
	if BucketByStep(&MetricColumns{}, 5) != nil {
		t.Fatal("empty input")
	}
	got = BucketByStep(cols([]float64{math.Inf(-1), 0, math.Inf(1)}, []float64{1, 2, 3}), 4)
	if n := got[0].Count + func() int {
		s := 0
		for _, b := range got[1:] {
			s += b.Count
		}
		return s
	}(); n != 3 {
		t.Fatalf("infinite steps lost points: %+v", got)
	}
}

func BenchmarkDownsample10M(b *testing.B) {
	const n = 10_000_000
	c := &MetricColumns{Steps: make([]float64, n), Values: make([]float64, n), TimesMs: make([]int64, n)}
	r := rand.New(rand.NewPCG(1, 1))
	for i := range c.Steps {
		c.Steps[i], c.Values[i], c.TimesMs[i] = float64(i), r.NormFloat64(), int64(i)*10
	}
	b.SetBytes(24 * n)
	for b.Loop() {
		if r := Downsample(c, 0, -1, 1000); len(r.Points) < 500 {
			b.Fatal(len(r.Points))
		}
	}
}

// TestDownsamplerPiecesMatchWhole: feeding a series in arbitrary pieces
// gives exactly what Downsample gives on the whole series, for random
// windows, targets and piece boundaries (bookends and buckets that span
// pieces included).
func TestDownsamplerPiecesMatchWhole(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for iter := range 2000 {
		total := rng.IntN(300)
		var c MetricColumns
		for i := range total {
			v := rng.NormFloat64()
			switch rng.IntN(20) {
			case 0:
				v = math.NaN()
			case 1:
				v = math.Inf(1 - 2*rng.IntN(2))
			}
			c.Append(float64(i)*1.5+float64(rng.IntN(2))*0.25, v, int64(1000+i))
		}
		first, last, n := rng.IntN(total+5)-2, rng.IntN(total+5)-2, rng.IntN(40)
		want := Downsample(&c, first, last, n)

		d := NewDownsampler(total, first, last, n)
		for i := 0; i < total; {
			j := min(total, i+1+rng.IntN(37))
			d.Add(&MetricColumns{Steps: c.Steps[i:j], Values: c.Values[i:j], TimesMs: c.TimesMs[i:j]})
			i = j
		}
		got := d.Result()
		require.Equal(t, len(want.Points), len(got.Points), "iter %d", iter)
		for i := range want.Points {
			w, g := want.Points[i], got.Points[i]
			require.Equal(t, math.Float64bits(w.Step), math.Float64bits(g.Step), "iter %d point %d", iter, i)
			require.Equal(t, math.Float64bits(w.Value), math.Float64bits(g.Value), "iter %d point %d", iter, i)
			require.Equal(t, math.Float64bits(w.MinY), math.Float64bits(g.MinY))
			require.Equal(t, math.Float64bits(w.MaxY), math.Float64bits(g.MaxY))
			require.Equal(t, w.TimeMs, g.TimeMs)
			require.Equal(t, w.Downsampled, g.Downsampled)
		}
		want.Points, got.Points = nil, nil
		require.Equal(t, want, got)
	}
}
