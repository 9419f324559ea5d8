package series

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"
)

// Merge counters, read by tests and benchmarks to see which path ran.
var (
	mergeFastPaths   atomic.Int64 // inputs already in order: concatenated
	mergeSortedPaths atomic.Int64 // radix-sorted with last-write-wins
)

// MergeMetric resets dst and fills it with the points of chunks, which are in
// total write order (oldest first), sorted by step ascending, keeping for each
// step the point written last. Steps compare with == (so -0 and +0 are the
// same step); NaN steps are invalid input (they neither panic nor merge).
//
// Fast path: when every chunk is strictly increasing and starts above the
// previous chunk's last step, the chunks are concatenated. Otherwise the points
// are ordered by a stable LSD radix sort on the step's order-preserving bit
// pattern (O(n), at most 8 passes, skipping byte positions that do not vary),
// and the last point of each equal-step run is kept. The sort scratch is
// pooled, so steady-state merges allocate only when dst must grow.
func MergeMetric(dst *MetricColumns, chunks []*MetricColumns) {
	dst.Reset()
	mergeColumns(&dst.Steps, &dst.Values, &dst.TimesMs, len(chunks), func(i int) ([]float64, []float64, []int64) {
		return chunks[i].Steps, chunks[i].Values, chunks[i].TimesMs
	})
}

// MergeString is MergeMetric for string points.
func MergeString(dst *StringColumns, chunks []*StringColumns) {
	dst.Reset()
	mergeColumns(&dst.Steps, &dst.Values, &dst.TimesMs, len(chunks), func(i int) ([]float64, []string, []int64) {
		return chunks[i].Steps, chunks[i].Values, chunks[i].TimesMs
	})
}

// mergeColumns appends the merge of n chunks, given column-wise by chunk,
// to the (reset) destination columns; V is the value column's type.
func mergeColumns[V any](steps *[]float64, values *[]V, times *[]int64, n int, chunk func(int) ([]float64, []V, []int64)) {
	stepsOf := func(i int) []float64 { s, _, _ := chunk(i); return s }
	if merged := inOrder(n, stepsOf); merged >= 0 {
		mergeFastPaths.Add(1)
		*steps = slices.Grow(*steps, merged)
		*values = slices.Grow(*values, merged)
		*times = slices.Grow(*times, merged)
		for i := 0; i < n; i++ {
			s, v, t := chunk(i)
			*steps = append(*steps, s...)
			*values = append(*values, v...)
			*times = append(*times, t...)
		}
		return
	}
	mergeSortedPaths.Add(1)
	bp := lwwRefs(n, stepsOf)
	refs := *bp
	ds := slices.Grow(*steps, len(refs))[:len(refs)]
	dv := slices.Grow(*values, len(refs))[:len(refs)]
	dt := slices.Grow(*times, len(refs))[:len(refs)]
	for i, r := range refs {
		s, v, t := chunk(int(r.ref >> 32))
		o := r.ref & math.MaxUint32
		ds[i], dv[i], dt[i] = s[o], v[o], t[o]
	}
	*steps, *values, *times = ds, dv, dt
	refPool.Put(bp)
}

// inOrder returns the total point count when the chunks are strictly
// increasing within and across chunks, or -1.
func inOrder(n int, steps func(int) []float64) int {
	total := 0
	last, have := 0.0, false
	for i := 0; i < n; i++ {
		s := steps(i)
		if len(s) == 0 {
			continue
		}
		if have && !(s[0] > last) {
			return -1
		}
		for j := 1; j < len(s); j++ {
			if !(s[j] > s[j-1]) {
				return -1
			}
		}
		last, have = s[len(s)-1], true
		total += len(s)
	}
	return total
}

type stepRef struct {
	key uint64 // order-preserving pattern of the step
	ref uint64 // chunk<<32 | offset
}

var refPool = sync.Pool{New: func() any { return new([]stepRef) }}

// stepKey maps a step to an unsigned integer with the same order; -0 and +0
// map to the same key.
func stepKey(step float64) uint64 {
	if step == 0 {
		return 1 << 63
	}
	b := math.Float64bits(step)
	if b>>63 != 0 {
		return ^b
	}
	return b | 1<<63
}

// lwwRefs returns (pooled) the refs of the surviving points in step order.
func lwwRefs(n int, steps func(int) []float64) *[]stepRef {
	total := 0
	for i := 0; i < n; i++ {
		total += len(steps(i))
	}
	ap, bp := refPool.Get().(*[]stepRef), refPool.Get().(*[]stepRef)
	a := slices.Grow((*ap)[:0], total)
	tmp := slices.Grow((*bp)[:0], total)[:total]
	for i := 0; i < n; i++ {
		for j, s := range steps(i) {
			a = append(a, stepRef{stepKey(s), uint64(i)<<32 | uint64(j)})
		}
	}
	sorted, spare := radixSort(a, tmp)
	// Keep the last of each run of equal keys (the sort is stable, so the
	// last is the latest write).
	out := sorted[:0]
	for i := 0; i < len(sorted); i++ {
		if i+1 < len(sorted) && sorted[i+1].key == sorted[i].key {
			continue
		}
		out = append(out, sorted[i])
	}
	*ap, *bp = out, spare[:0]
	refPool.Put(bp)
	return ap
}

// radixSort sorts a by key, stably, using tmp (same length) as scratch. It
// returns the sorted slice and the other buffer.
func radixSort(a, tmp []stepRef) (sorted, spare []stepRef) {
	if len(a) < 2 {
		return a, tmp
	}
	var counts [8][256]int
	for _, e := range a {
		k := e.key
		for b := 0; b < 8; b++ {
			counts[b][byte(k>>(8*b))]++
		}
	}
	for b := 0; b < 8; b++ {
		c := &counts[b]
		shift := uint(8 * b)
		if c[byte(a[0].key>>shift)] == len(a) {
			continue // every key has the same byte here
		}
		sum := 0
		for i, k := range c {
			c[i], sum = sum, sum+k
		}
		for _, e := range a {
			d := byte(e.key >> shift)
			tmp[c[d]] = e
			c[d]++
		}
		a, tmp = tmp, a
	}
	return a, tmp
}
