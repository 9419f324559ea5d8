package series

import "math"

// DownPoint is one point of a downsampled series (http-api.md Part A).
type DownPoint struct {
	Step        float64
	Value       float64 // mean of the bucket's finite values (NaN if none)
	MinY, MaxY  float64 // NaN if the bucket has no finite value
	Downsampled bool
	TimeMs      int64 // logged_at of the bucket's middle point, index b+count/2
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
// b+count/2, the upper middle of an even bucket, as GoodSeed's server picks
// bucket[n//2]). Then the raw first point of the window is
// prepended when its step differs from the first bucket's step, and the raw
// last point appended when its step differs from the last bucket's step
// (bookends, raw as above). Means are sum/count in float64; when a sum
// overflows, the mean is recomputed as the sum of v/count.
func Downsample(c *MetricColumns, first, last, n int) DownResult {
	d := NewDownsampler(c.Len(), first, last, n)
	d.Add(c)
	return d.Result()
}

// Downsampler is Downsample over a series fed in pieces, in step order, by
// a reader that does not hold the whole series: it keeps one bucket at a
// time. total must be the series' exact point count.
type Downsampler struct {
	res         DownResult
	first, last int // the clamped window
	n, k        int
	next        int           // index of the next point Add sees
	bucket      MetricColumns // points of the bucket in progress, when it spans pieces
	head, tail  DownPoint     // raw first and last points of the window
}

// NewDownsampler prepares to downsample the window [first, last] (last < 0:
// to the end) of a series of total points to about n points.
func NewDownsampler(total, first, last, n int) *Downsampler {
	d := &Downsampler{res: DownResult{TotalCount: total}}
	first = max(first, 0)
	if last < 0 || last > total-1 {
		last = total - 1
	}
	d.first, d.last = first, last
	d.res.FirstPointIndex, d.res.LastPointIndex = first, last
	if first > last {
		return d
	}
	d.n = max(n, 1)
	w := last - first + 1
	if w <= d.n {
		d.res.Points = make([]DownPoint, 0, w)
		return d
	}
	d.k = 1
	for (w+d.k-1)/d.k > d.n {
		d.k <<= 1
	}
	d.res.Downsampled = true
	d.res.Points = make([]DownPoint, 0, (w+d.k-1)/d.k+2)
	return d
}

// Add feeds the next points of the series, which continue the step order of
// those fed before.
func (d *Downsampler) Add(c *MetricColumns) {
	base := d.next
	d.next += c.Len()
	lo, hi := max(d.first, base), min(d.last, d.next-1) // window ∩ this piece, as series indices
	if lo > hi {
		return
	}
	if lo == d.first {
		d.head = rawPoint(c, lo-base)
	}
	if hi == d.last {
		d.tail = rawPoint(c, hi-base)
	}
	if d.k == 0 { // a small window: every point raw
		for i := lo; i <= hi; i++ {
			d.res.Points = append(d.res.Points, rawPoint(c, i-base))
		}
		return
	}
	for i := lo; i <= hi; {
		// Bucket b covers series indices [first+b*k, first+(b+1)*k) ∩ window.
		bEnd := min(d.first+((i-d.first)/d.k+1)*d.k, d.last+1)
		e := min(bEnd, hi+1)
		if d.bucket.Len() == 0 && e == bEnd {
			// The whole bucket is in this piece: no copy.
			d.res.Points = append(d.res.Points, bucketPoint(c, i-base, e-base))
		} else {
			d.bucket.Steps = append(d.bucket.Steps, c.Steps[i-base:e-base]...)
			d.bucket.Values = append(d.bucket.Values, c.Values[i-base:e-base]...)
			d.bucket.TimesMs = append(d.bucket.TimesMs, c.TimesMs[i-base:e-base]...)
			if e == bEnd {
				d.res.Points = append(d.res.Points, bucketPoint(&d.bucket, 0, d.bucket.Len()))
				d.bucket.Reset()
			}
		}
		i = e
	}
}

// Result returns the downsampled window. Every point of the window must
// have been fed.
func (d *Downsampler) Result() DownResult {
	res := d.res
	if !res.Downsampled || len(res.Points) == 0 {
		return res
	}
	pts := res.Points
	if d.head.Step != pts[0].Step {
		pts = append([]DownPoint{d.head}, pts...)
	}
	if d.tail.Step != pts[len(pts)-1].Step {
		pts = append(pts, d.tail)
	}
	res.Points = pts
	return res
}

func rawPoint(c *MetricColumns, i int) DownPoint {
	v := c.Values[i]
	return DownPoint{Step: c.Steps[i], Value: v, MinY: v, MaxY: v, TimeMs: c.TimesMs[i]}
}

// bucketPoint summarises points [b, e).
func bucketPoint(c *MetricColumns, b, e int) DownPoint {
	steps, vals := c.Steps[b:e], c.Values[b:e]
	p := DownPoint{Downsampled: true, TimeMs: c.TimesMs[b+(e-b)/2]}
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
