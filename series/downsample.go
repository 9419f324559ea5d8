package series

import "math"

// DownPoint is one point of a downsampled series (http-api.md Part A).
type DownPoint struct {
	Step        float64
	Value       float64 // mean of the bucket's finite values (NaN if none)
	MinY, MaxY  float64 // NaN if the bucket has no finite value
	Downsampled bool
	TimeMs      int64 // logged_at of the bucket's middle point, index first+(count-1)/2
}

// DownResult is a downsampled window.
type DownResult struct {
	Points          []DownPoint
	FirstPointIndex int // the clamped window actually used (Last < First when empty)
	LastPointIndex  int
	TotalCount      int
	Downsampled     bool
}

// Downsample implements pointCount=n of http-api.md Part A on c, which must
// be sorted by step (merged).
//
// Window: points first..last, both inclusive; last < 0 means to the end.
// first is clamped to >= 0 and last to <= total-1. A window that is empty
// after clamping (first > last, or no points) yields no points with
// FirstPointIndex = first, LastPointIndex = last as clamped.
//
// A window of at most n points (n < 1 counts as 1) is returned raw: each
// point with MinY = MaxY = Value and Downsampled false. Otherwise k is the
// smallest power of two with ⌈window/k⌉ <= n; the window is cut into
// consecutive buckets of k points starting at first (the last may be short),
// and each bucket becomes one point: Step = mean of its steps, Value = mean
// of its finite values, MinY/MaxY = min/max of its finite values (all three
// NaN when it has none), Downsampled true, TimeMs of its middle point (index
// b+(count-1)/2, the lower middle). Then the raw first point of the window is
// prepended when its step differs from the first bucket's step, and the raw
// last point appended when its step differs from the last bucket's step
// (bookends, raw as above). Means are sum/count in float64; when a sum
// overflows, the mean is recomputed as the sum of v/count.
func Downsample(c *MetricColumns, first, last, n int) DownResult {
	total := c.Len()
	res := DownResult{TotalCount: total}
	first = max(first, 0)
	if last < 0 || last > total-1 {
		last = total - 1
	}
	res.FirstPointIndex, res.LastPointIndex = first, last
	if first > last {
		return res
	}
	n = max(n, 1)
	w := last - first + 1
	if w <= n {
		res.Points = make([]DownPoint, w)
		for i := range res.Points {
			res.Points[i] = rawPoint(c, first+i)
		}
		return res
	}
	k := 1
	for (w+k-1)/k > n {
		k <<= 1
	}
	nb := (w + k - 1) / k
	res.Downsampled = true
	res.Points = make([]DownPoint, 0, nb+2)
	res.Points = append(res.Points, DownPoint{}) // room for the first bookend
	for b := first; b <= last; b += k {
		e := min(b+k, last+1)
		res.Points = append(res.Points, bucketPoint(c, b, e))
	}
	head := 1
	if c.Steps[first] != res.Points[1].Step {
		res.Points[0] = rawPoint(c, first)
		head = 0
	}
	if c.Steps[last] != res.Points[len(res.Points)-1].Step {
		res.Points = append(res.Points, rawPoint(c, last))
	}
	res.Points = res.Points[head:]
	return res
}

func rawPoint(c *MetricColumns, i int) DownPoint {
	v := c.Values[i]
	return DownPoint{Step: c.Steps[i], Value: v, MinY: v, MaxY: v, TimeMs: c.TimesMs[i]}
}

// bucketPoint summarises points [b, e).
func bucketPoint(c *MetricColumns, b, e int) DownPoint {
	steps, vals := c.Steps[b:e], c.Values[b:e]
	p := DownPoint{Downsampled: true, TimeMs: c.TimesMs[b+(e-b-1)/2]}
	p.Step = mean(steps, false)
	p.Value, p.MinY, p.MaxY = finiteStats(vals)
	return p
}

// mean returns the mean of xs (of its finite members when finiteOnly), NaN
// when there is none.
func mean(xs []float64, finiteOnly bool) float64 {
	sum, cnt := 0.0, 0
	for _, x := range xs {
		if finiteOnly && x-x != 0 { // NaN or ±Inf
			continue
		}
		sum += x
		cnt++
	}
	if cnt == 0 {
		return math.NaN()
	}
	if !math.IsInf(sum, 0) {
		return sum / float64(cnt)
	}
	// The sum overflowed (or an input is infinite, which this keeps): rescale.
	m := 0.0
	for _, x := range xs {
		if finiteOnly && x-x != 0 {
			continue
		}
		m += x / float64(cnt)
	}
	return m
}

// finiteStats returns the mean, min and max of the finite values (NaN if none).
func finiteStats(vs []float64) (avg, lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	any := false
	for _, v := range vs {
		if v-v != 0 { // NaN or ±Inf
			continue
		}
		any = true
		lo, hi = min(lo, v), max(hi, v)
	}
	if !any {
		nan := math.NaN()
		return nan, nan, nan
	}
	return mean(vs, true), lo, hi
}

// Bucket is one bucket of BucketByStep (http-api.md Part B's "buckets").
type Bucket struct {
	StepMin, StepMax float64 // smallest and largest step of the points in the bucket
	Min, Max, Avg    float64 // over the bucket's finite values; NaN if none
	Count            int     // points in the bucket, finite or not
}

// BucketByStep splits c (sorted by step; the caller selects the points with
// steps in [step_min, step_max] first) into at most maxPoints (>= 1) buckets
// of equal step width spanning [c.Steps[0], c.Steps[last]]: point i goes to
// bucket ⌊(s_i - s_0)/(s_last - s_0) · maxPoints⌋, clamped to maxPoints-1, and
// to bucket 0 when that is not a number (one distinct step, or infinite
// steps). Buckets without points are omitted, so buckets come out in step
// order. StepMin/StepMax are the steps actually present in the bucket (not
// the bucket's edges); Min/Max/Avg are over finite values (NaN if none);
// Count counts every point.
func BucketByStep(c *MetricColumns, maxPoints int) []Bucket {
	n := c.Len()
	if n == 0 {
		return nil
	}
	maxPoints = max(maxPoints, 1)
	s0, span := c.Steps[0], c.Steps[n-1]-c.Steps[0]
	var out []Bucket
	cur, start := -1, 0
	flush := func(end int) {
		avg, lo, hi := finiteStats(c.Values[start:end])
		out = append(out, Bucket{StepMin: c.Steps[start], StepMax: c.Steps[end-1], Min: lo, Max: hi, Avg: avg, Count: end - start})
	}
	for i, s := range c.Steps {
		f := (s - s0) / span * float64(maxPoints)
		idx := 0
		if f == f && f > 0 { // NaN, negative and zero go to bucket 0
			idx = int(min(f, float64(maxPoints-1)))
		}
		idx = max(idx, cur) // sorted input keeps buckets in order; guard against odd steps
		if idx != cur {
			if cur >= 0 {
				flush(i)
			}
			cur, start = idx, i
		}
	}
	flush(n)
	return out
}
