package main

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/goodseed/goodseed-go/internal/workload"
	"github.com/goodseed/goodseed-go/series"
)

// The data sets come from the project's own seeded generators
// (internal/workload: the realistic and adversarial mixes of DESIGN.md and
// stdout-like lines), imported directly: Go's internal rule is checked on
// import paths, and this module's path lies under the root module's, so
// the harness measures exactly the data the engine's own benchmarks use,
// with no copy to drift. Every figure is reproducible from (generator,
// seed, sizes), all of which the JSON output records.

// Seeds, fixed so every run of the harness logs the same data.
const (
	seedSingle      = 101
	seedRealistic   = 102
	seedAdversarial = 103
	seedParallel    = 104
	seedLines       = 105
	seedOpen        = 106
	seedManyRuns    = 107
)

// dataset is one run's worth of metric series, logged step-major: at
// position k, every series logs its k-th point, as a training loop does.
type dataset struct {
	series []workload.Series
	points int64
}

func newDataset(s []workload.Series) dataset {
	var n int64
	for _, x := range s {
		n += int64(len(x.Steps))
	}
	return dataset{series: s, points: n}
}

func (d dataset) paths() []string {
	p := make([]string, len(d.series))
	for i, s := range d.series {
		p[i] = s.Path
	}
	return p
}

// expected is what a correct store returns for each series: one point
// per step, ordered by step, the last write of a step winning.
func (d dataset) expected() map[string]*series.MetricColumns {
	out := make(map[string]*series.MetricColumns, len(d.series))
	for _, s := range d.series {
		out[s.Path] = mergeLWW(s.Steps, s.Values, nil)
	}
	return out
}

// mergeLWW returns the points sorted by step, keeping the last logged
// value of a repeated step. times may be nil. Already sorted input with
// unique steps is returned without copying.
func mergeLWW(steps, values []float64, times []int64) *series.MetricColumns {
	if sortedUnique(steps) {
		c := &series.MetricColumns{Steps: steps, Values: values, TimesMs: times}
		if times == nil {
			c.TimesMs = make([]int64, len(steps))
		}
		return c
	}
	idx := make([]int, len(steps))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return steps[idx[a]] < steps[idx[b]] })
	c := &series.MetricColumns{}
	for j, i := range idx {
		if j+1 < len(idx) && steps[idx[j+1]] == steps[i] {
			continue // a later write of this step follows (stable sort)
		}
		var t int64
		if times != nil {
			t = times[i]
		}
		c.Append(steps[i], values[i], t)
	}
	return c
}

func sortedUnique(steps []float64) bool {
	for i := 1; i < len(steps); i++ {
		if !(steps[i-1] < steps[i]) {
			return false
		}
	}
	return true
}

// mergeStringsLWW is mergeLWW for string points.
func mergeStringsLWW(steps []float64, values []string, times []int64) *series.StringColumns {
	idx := make([]int, len(steps))
	for i := range idx {
		idx[i] = i
	}
	if !sortedUnique(steps) {
		sort.SliceStable(idx, func(a, b int) bool { return steps[idx[a]] < steps[idx[b]] })
	}
	c := &series.StringColumns{}
	for j, i := range idx {
		if j+1 < len(idx) && steps[idx[j+1]] == steps[i] {
			continue
		}
		c.Append(steps[i], values[i], times[i])
	}
	return c
}

// compareMetric checks got against want point for point: steps and values
// bit for bit (so NaN, -0 and every mantissa bit count), and, when
// [tLo, tHi] is not empty, every timestamp within the wall-clock interval
// in which the points were logged.
func compareMetric(path string, want, got *series.MetricColumns, tLo, tHi int64) error {
	if got == nil {
		return fmt.Errorf("%s: missing", path)
	}
	if got.Len() != want.Len() {
		return fmt.Errorf("%s: %d points, want %d", path, got.Len(), want.Len())
	}
	for i := range want.Steps {
		if math.Float64bits(got.Steps[i]) != math.Float64bits(want.Steps[i]) {
			return fmt.Errorf("%s: point %d: step %v, want %v", path, i, got.Steps[i], want.Steps[i])
		}
		if math.Float64bits(got.Values[i]) != math.Float64bits(want.Values[i]) {
			return fmt.Errorf("%s: step %v: value %v (%#x), want %v (%#x)", path, want.Steps[i],
				got.Values[i], math.Float64bits(got.Values[i]), want.Values[i], math.Float64bits(want.Values[i]))
		}
		if tLo <= tHi && (got.TimesMs[i] < tLo || got.TimesMs[i] > tHi) {
			return fmt.Errorf("%s: step %v: logged at %d ms, outside [%d, %d]", path, want.Steps[i], got.TimesMs[i], tLo, tHi)
		}
	}
	return nil
}

func compareStrings(path string, want, got *series.StringColumns, tLo, tHi int64) error {
	if got == nil {
		return fmt.Errorf("%s: missing", path)
	}
	if got.Len() != want.Len() {
		return fmt.Errorf("%s: %d points, want %d", path, got.Len(), want.Len())
	}
	for i := range want.Steps {
		if got.Steps[i] != want.Steps[i] || got.Values[i] != want.Values[i] {
			return fmt.Errorf("%s: point %d: (%v, %q), want (%v, %q)", path, i, got.Steps[i], got.Values[i], want.Steps[i], want.Values[i])
		}
		if tLo <= tHi && (got.TimesMs[i] < tLo || got.TimesMs[i] > tHi) {
			return fmt.Errorf("%s: step %v: logged at %d ms, outside [%d, %d]", path, want.Steps[i], got.TimesMs[i], tLo, tHi)
		}
	}
	return nil
}

// compareDown checks a downsampled window against the reference: every
// field but the bucket's time, which comes from the wall clock at logging.
func compareDown(path string, want, got series.DownResult) error {
	if got.TotalCount != want.TotalCount || got.Downsampled != want.Downsampled || len(got.Points) != len(want.Points) ||
		got.FirstPointIndex != want.FirstPointIndex || got.LastPointIndex != want.LastPointIndex {
		return fmt.Errorf("%s: downsampled to %d points of %d (window %d..%d, downsampled %v), want %d of %d (%d..%d, %v)",
			path, len(got.Points), got.TotalCount, got.FirstPointIndex, got.LastPointIndex, got.Downsampled,
			len(want.Points), want.TotalCount, want.FirstPointIndex, want.LastPointIndex, want.Downsampled)
	}
	same := func(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }
	for i, w := range want.Points {
		g := got.Points[i]
		if !same(g.Step, w.Step) || !same(g.Value, w.Value) || !same(g.MinY, w.MinY) || !same(g.MaxY, w.MaxY) || g.Downsampled != w.Downsampled {
			return fmt.Errorf("%s: bucket %d: %+v, want %+v", path, i, g, w)
		}
	}
	return nil
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// The generators, named for the JSON output.
func realistic(seed int64, nSeries, nSteps int) dataset {
	return newDataset(workload.Realistic(seed, nSeries, nSteps))
}

func adversarial(seed int64, nSeries, nSteps int) dataset {
	return newDataset(workload.Adversarial(seed, nSeries, nSteps))
}

// linesChunk is how many lines lines takes from one workload.Lines call.
// workload.Lines panics past about 10,500 lines: its simulated step passes
// the total of 100,000 it prints progress against, the progress bar's
// percent passes 100 and strings.Repeat gets a negative count. Chunks of
// 5,000 with their own seeds stay clear of it.
const linesChunk = 5_000

// lines returns n stdout-like lines: workload.Lines(seed*1000+i, 5,000)
// for chunks i = 0, 1, ..., the last one cut to length.
func lines(seed int64, n int) []string {
	out := make([]string, 0, n)
	for i := int64(0); len(out) < n; i++ {
		out = append(out, workload.Lines(seed*1000+i, min(linesChunk, n-len(out)))...)
	}
	return out
}
