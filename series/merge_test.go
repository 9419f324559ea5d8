package series

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// naiveMerge is the model: a map step → last written point, then sorted.
func naiveMerge(chunks []*MetricColumns) *MetricColumns {
	type pt struct {
		v float64
		t int64
	}
	last := map[float64]pt{}
	for _, c := range chunks {
		for i, s := range c.Steps {
			last[s] = pt{c.Values[i], c.TimesMs[i]} // -0 and +0 share a map key
		}
	}
	keys := make([]float64, 0, len(last))
	for k := range last {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := &MetricColumns{}
	for _, k := range keys {
		out.Append(k, last[k].v, last[k].t)
	}
	return out
}

func sameColumns(t *testing.T, got, want *MetricColumns) {
	t.Helper()
	if got.Len() != want.Len() {
		t.Fatalf("len %d, want %d", got.Len(), want.Len())
	}
	for i := range want.Steps {
		if got.Steps[i] != want.Steps[i] || math.Float64bits(got.Values[i]) != math.Float64bits(want.Values[i]) || got.TimesMs[i] != want.TimesMs[i] {
			t.Fatalf("point %d: (%v %v %d), want (%v %v %d)", i, got.Steps[i], got.Values[i], got.TimesMs[i], want.Steps[i], want.Values[i], want.TimesMs[i])
		}
	}
}

func TestMergeLastWriteWins(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	var dst MetricColumns
	for it := 0; it < 500; it++ {
		nChunks := r.IntN(6)
		chunks := make([]*MetricColumns, nChunks)
		seq := int64(0)
		for i := range chunks {
			c := &MetricColumns{}
			n := r.IntN(50)
			for j := 0; j < n; j++ {
				var s float64
				switch r.IntN(4) {
				case 0:
					s = float64(r.IntN(30))
				case 1:
					s = float64(r.IntN(30)) - 15.5
				case 2:
					s = [...]float64{math.Inf(1), math.Inf(-1), negZero, 0, 1 << 53, -(1 << 60)}[r.IntN(6)]
				default:
					s = r.NormFloat64() * 1e6
				}
				seq++
				c.Append(s, float64(seq), seq) // the value and time identify the write
			}
			chunks[i] = c
		}
		MergeMetric(&dst, chunks)
		sameColumns(t, &dst, naiveMerge(chunks))
	}
}

func TestMergeFastPath(t *testing.T) {
	chunks := []*MetricColumns{{}, {}, {}}
	for i := 0; i < 30; i++ {
		chunks[i/10].Append(float64(i), float64(i), int64(i))
	}
	chunks = append(chunks, &MetricColumns{}) // empty chunks do not break the fast path
	fast, sorted := mergeFastPaths.Load(), mergeSortedPaths.Load()
	var dst MetricColumns
	MergeMetric(&dst, chunks)
	if mergeFastPaths.Load() != fast+1 || mergeSortedPaths.Load() != sorted {
		t.Fatalf("monotonic input did not take the fast path")
	}
	sameColumns(t, &dst, naiveMerge(chunks))
	// One overlapping chunk forces the sort.
	chunks = append(chunks, &MetricColumns{Steps: []float64{5}, Values: []float64{-5}, TimesMs: []int64{-5}})
	MergeMetric(&dst, chunks)
	if mergeSortedPaths.Load() != sorted+1 {
		t.Fatalf("overlapping input did not sort")
	}
	sameColumns(t, &dst, naiveMerge(chunks))
	if dst.Values[5] != -5 {
		t.Fatalf("step 5 = %v, want the later write -5", dst.Values[5])
	}
	// Equal steps inside one chunk are not strictly increasing either.
	MergeMetric(&dst, []*MetricColumns{{Steps: []float64{1, 1}, Values: []float64{1, 2}, TimesMs: []int64{1, 2}}})
	if dst.Len() != 1 || dst.Values[0] != 2 {
		t.Fatalf("duplicate step in one chunk: %+v", dst)
	}
}

func TestMergeString(t *testing.T) {
	chunks := []*StringColumns{
		{Steps: []float64{3, 1, 2}, Values: []string{"c", "a", "b"}, TimesMs: []int64{3, 1, 2}},
		{Steps: []float64{2, 4}, Values: []string{"B", "d"}, TimesMs: []int64{5, 6}},
	}
	var dst StringColumns
	MergeString(&dst, chunks)
	want := []string{"a", "B", "c", "d"}
	if !slices.Equal(dst.Values, want) || !slices.Equal(dst.Steps, []float64{1, 2, 3, 4}) || !slices.Equal(dst.TimesMs, []int64{1, 5, 3, 6}) {
		t.Fatalf("got %+v", dst)
	}
	MergeString(&dst, chunks[1:])
	if !slices.Equal(dst.Values, []string{"B", "d"}) {
		t.Fatalf("fast path: %+v", dst)
	}
	MergeString(&dst, nil)
	if dst.Len() != 0 {
		t.Fatal("merge of nothing is not empty")
	}
}

func TestMergeReusesDst(t *testing.T) {
	chunks := []*MetricColumns{{Steps: []float64{2, 1}, Values: []float64{2, 1}, TimesMs: []int64{2, 1}}}
	dst := MetricColumns{Steps: make([]float64, 0, 8), Values: make([]float64, 0, 8), TimesMs: make([]int64, 0, 8)}
	MergeMetric(&dst, chunks) // warm the pools
	allocs := testing.AllocsPerRun(100, func() { MergeMetric(&dst, chunks) })
	if !raceEnabled && allocs > 1 {
		t.Errorf("MergeMetric allocates %.1f times per call", allocs)
	}
}

func BenchmarkMergeMetric(b *testing.B) {
	const n = 1 << 20
	mk := func(shuffle bool) []*MetricColumns {
		r := rand.New(rand.NewPCG(1, 2))
		steps := make([]float64, n)
		for i := range steps {
			steps[i] = float64(i)
		}
		if shuffle {
			r.Shuffle(n, func(i, j int) { steps[i], steps[j] = steps[j], steps[i] })
		}
		var chunks []*MetricColumns
		for i := 0; i < n; i += 4096 {
			c := &MetricColumns{}
			for j := i; j < i+4096; j++ {
				c.Append(steps[j], r.Float64(), int64(j))
			}
			chunks = append(chunks, c)
		}
		return chunks
	}
	for _, tc := range []struct {
		name    string
		shuffle bool
	}{{"monotonic", false}, {"shuffled", true}} {
		chunks := mk(tc.shuffle)
		b.Run(tc.name, func(b *testing.B) {
			var dst MetricColumns
			b.SetBytes(24 * n)
			for b.Loop() {
				MergeMetric(&dst, chunks)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/point")
		})
	}
}
