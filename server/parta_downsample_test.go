package server

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
)

// The downsampling tests compare the server with paRefDownsample, a
// straightforward reading of http-api.md written for the test alone: it
// shares no code with the engine or the server.

// paPoint is one raw point as the test wrote it.
type paPoint struct {
	step, value float64
	timeMs      int64
}

// paRefPoint is one expected point of a downsampled response.
type paRefPoint struct {
	step, value, minY, maxY float64
	downsampled             bool
	timeMs                  int64
}

type paRefResult struct {
	points             []paRefPoint
	first, last, total int
	downsampled        bool
}

// paRefMiddle picks a bucket's middle point: of cnt points starting at b,
// bucket[cnt//2] as the Python server takes it (the upper middle of an even
// bucket; http-api.md says only "its middle point").
func paRefMiddle(b, cnt int) int { return b + cnt/2 }

// paRefDownsample: the window [first, last] of pts (sorted by step), with
// hasFirst/hasLast saying whether the request gave them.
func paRefDownsample(pts []paPoint, first, last int, hasFirst, hasLast bool, n int) paRefResult {
	total := len(pts)
	if total == 0 {
		return paRefResult{}
	}
	fpi, lpi := 0, total-1
	if hasFirst {
		fpi = max(0, first)
	}
	if hasLast {
		lpi = min(total-1, last)
	}
	res := paRefResult{first: fpi, last: lpi, total: total}
	if fpi > lpi {
		return res
	}
	win := pts[fpi : lpi+1]
	raw := func(p paPoint) paRefPoint {
		return paRefPoint{step: p.step, value: p.value, minY: p.value, maxY: p.value, timeMs: p.timeMs}
	}
	if len(win) <= n {
		for _, p := range win {
			res.points = append(res.points, raw(p))
		}
		return res
	}
	k := 1
	for int(math.Ceil(float64(len(win))/float64(k))) > n {
		k *= 2
	}
	res.downsampled = true
	for b := 0; b < len(win); b += k {
		bucket := win[b:min(b+k, len(win))]
		var sumStep, sumY float64
		minY, maxY := math.Inf(1), math.Inf(-1)
		valid := 0
		for _, p := range bucket {
			sumStep += p.step
			if !math.IsNaN(p.value) && !math.IsInf(p.value, 0) {
				sumY += p.value
				valid++
				minY = math.Min(minY, p.value)
				maxY = math.Max(maxY, p.value)
			}
		}
		avg := math.NaN()
		if valid > 0 {
			avg = sumY / float64(valid)
		} else {
			minY, maxY = math.NaN(), math.NaN()
		}
		res.points = append(res.points, paRefPoint{
			step: sumStep / float64(len(bucket)), value: avg, minY: minY, maxY: maxY, downsampled: true,
			timeMs: win[paRefMiddle(b, len(bucket))].timeMs,
		})
	}
	if res.points[0].step != win[0].step {
		res.points = append([]paRefPoint{raw(win[0])}, res.points...)
	}
	if res.points[len(res.points)-1].step != win[len(win)-1].step {
		res.points = append(res.points, raw(win[len(win)-1]))
	}
	return res
}

// paJSONFloat reads a number or one of the NaN/Infinity strings.
func paJSONFloat(t *testing.T, v any) float64 {
	t.Helper()
	switch x := v.(type) {
	case float64:
		return x
	case string:
		switch x {
		case "NaN":
			return math.NaN()
		case "Infinity":
			return math.Inf(1)
		case "-Infinity":
			return math.Inf(-1)
		}
	}
	t.Fatalf("not a number: %#v", v)
	return 0
}

func paSameFloat(a, b float64) bool {
	return a == b || (math.IsNaN(a) && math.IsNaN(b))
}

// paCompareDown checks a response body against the reference.
func paCompareDown(t *testing.T, target, body, path string, want paRefResult) {
	t.Helper()
	const pf = "%s: %s (point %d)"
	var got struct {
		Points      []map[string]any `json:"points"`
		First       int              `json:"firstPointIndex"`
		Last        int              `json:"lastPointIndex"`
		Total       int              `json:"totalCount"`
		Downsampled bool             `json:"downsampled"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &got), body)
	require.Equal(t, want.first, got.First, pf, target, "firstPointIndex", -1)
	require.Equal(t, want.last, got.Last, pf, target, "lastPointIndex", -1)
	require.Equal(t, want.total, got.Total, pf, target, "totalCount", -1)
	require.Equal(t, want.downsampled, got.Downsampled, pf, target, "downsampled", -1)
	require.Len(t, got.Points, len(want.points), pf, target, "points", -1)
	for i, w := range want.points {
		g := got.Points[i]
		require.Len(t, g, 7, pf, target, "fields", i)
		require.Equal(t, path, g["path"], pf, target, "path", i)
		for _, f := range []struct {
			name string
			want float64
		}{{"step", w.step}, {"value", w.value}, {"minY", w.minY}, {"maxY", w.maxY}} {
			gv := paJSONFloat(t, g[f.name])
			if !paSameFloat(f.want, gv) {
				t.Fatalf(pf+": want %v, got %v", target, f.name, i, f.want, gv)
			}
		}
		require.Equal(t, w.downsampled, g["downsampled"], pf, target, "downsampled", i)
		lt, err := time.Parse(time.RFC3339Nano, g["logged_at"].(string))
		require.NoError(t, err)
		require.Equal(t, w.timeMs, lt.UnixMilli(), pf, target, "logged_at", i)
	}
}

// paWriteSeries writes a run holding the given metric series (points in
// the order given, so steps may come unsorted and repeated) with explicit
// write times, closes it and returns the points each series holds, sorted
// by step, last write winning.
func paWriteSeries(t *testing.T, home, project, id string, series map[string][]paPoint) map[string][]paPoint {
	t.Helper()
	dir := filepath.Join(home, "projects", project, "runs", id)
	st, err := engine.Create(dir, id, engine.Options{BlockTargetBytes: 4096})
	require.NoError(t, err)
	require.NoError(t, st.SetMeta(catMetaStatus, "finished"))
	out := map[string][]paPoint{}
	for path, pts := range series {
		f, err := st.Field(path, engine.KindMetric)
		require.NoError(t, err)
		last := map[float64]paPoint{}
		for i, p := range pts {
			require.NoError(t, f.LogMetricAt(p.step, p.value, p.timeMs))
			last[p.step] = p
			if i%300 == 299 {
				require.NoError(t, st.Flush()) // several blocks
			}
		}
		var sorted []paPoint
		for _, p := range last {
			sorted = append(sorted, p)
		}
		slices.SortFunc(sorted, func(a, b paPoint) int { return compareFloat(a.step, b.step) })
		out[path] = sorted
	}
	require.NoError(t, st.Close())
	return out
}

func compareFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestPartADownsampleMatchesReference(t *testing.T) {
	home := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC).UnixMilli()
	var big []paPoint
	for i := range 1000 {
		v := math.Sin(float64(i)/30) + rng.NormFloat64()*0.1
		switch {
		case i >= 256 && i < 384: // a stretch with no finite value: whole buckets for k <= 128
			v = []float64{math.NaN(), math.Inf(1), math.Inf(-1)}[i%3]
		case i%97 == 0:
			v = math.NaN()
		case i%89 == 0:
			v = math.Inf(1)
		}
		// Steps not evenly spaced, so bucket means are no raw step.
		big = append(big, paPoint{step: float64(i*i) / 7, value: v, timeMs: base + int64(i)*7})
	}
	// The same points in step order take the engine's streaming path;
	// shuffled, with overwrites, the merging one.
	ordered := slices.Clone(big)
	rng.Shuffle(len(big), func(i, j int) { big[i], big[j] = big[j], big[i] })
	// Some steps written twice: the last write wins.
	for i := range 20 {
		p := big[i*13]
		big = append(big, paPoint{step: p.step, value: -1000 - float64(i), timeMs: p.timeMs + 5})
	}
	data := paWriteSeries(t, home, "ds", "reference-run", map[string][]paPoint{
		"big":     big,
		"ordered": ordered,
		"five":    {{1, 1, base}, {2, math.NaN(), base + 1}, {3, 3, base + 2}, {4, math.Inf(-1), base + 3}, {5, 5, base + 4}},
		"one":     {{42, 0.5, base}},
		"nan64":   paConst(64, math.NaN(), base),
		"tiny":    {{0, 1e308, base}, {1, 1e308, base + 1}, {2, -1e308, base + 2}},
	})
	require.Len(t, data["big"], 1000)
	h := paServer(t, home).Handler()

	type win struct {
		first, last       int
		hasFirst, hasLast bool
	}
	wins := []win{
		{}, {0, 999, true, true}, {-5, 10, true, true}, {10, 10, true, true}, {10, 9, true, true},
		{990, 5000, true, true}, {500, -1, true, true}, {0, -7, false, true}, {2000, 3000, true, true},
		{0, 0, true, true}, {1, 998, true, true}, {3, 0, true, false}, {0, 255, false, true},
		{256, 383, true, true}, {200, 700, true, true}, {999, 0, true, false}, {1000, 0, true, false},
	}
	for _, path := range []string{"big", "ordered", "five", "one", "nan64", "no-such-path"} {
		for _, n := range []int{1, 2, 3, 7, 64, 127, 128, 129, 999, 1000, 1001} {
			for _, w := range wins {
				target := fmt.Sprintf("/api/runs/ds/reference-run/metrics?path=%s&pointCount=%d", path, n)
				if w.hasFirst {
					target += fmt.Sprintf("&firstPointIndex=%d", w.first)
				}
				if w.hasLast {
					target += fmt.Sprintf("&lastPointIndex=%d", w.last)
				}
				want := paRefDownsample(data[path], w.first, w.last, w.hasFirst, w.hasLast, n)
				paCompareDown(t, target, paGet(t, h, target), path, want)
			}
		}
	}

	// The raw listing holds the same points, sorted, last write winning.
	var raw struct {
		Metrics []map[string]any `json:"metrics"`
	}
	require.NoError(t, json.Unmarshal([]byte(paGet(t, h, "/api/runs/ds/reference-run/metrics?path=big")), &raw))
	require.Len(t, raw.Metrics, 1000)
	for i, p := range data["big"] {
		g := raw.Metrics[i]
		require.Equal(t, p.step, g["step"])
		require.True(t, paSameFloat(p.value, paJSONFloat(t, g["value"])), "point %d", i)
		lt, err := time.Parse(time.RFC3339Nano, g["logged_at"].(string))
		require.NoError(t, err)
		require.Equal(t, p.timeMs, lt.UnixMilli())
	}
}

func paConst(n int, v float64, base int64) []paPoint {
	out := make([]paPoint, n)
	for i := range out {
		out[i] = paPoint{float64(i), v, base + int64(i)}
	}
	return out
}

// TestPartADownsampleEdges pins the cases the reference does not reach or
// where a naive implementation goes wrong.
func TestPartADownsampleEdges(t *testing.T) {
	home := t.TempDir()
	base := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC).UnixMilli()
	paWriteSeries(t, home, "ds", "edges", map[string][]paPoint{
		"huge":  {{0, 1e308, base}, {1, 1e308, base + 1}, {2, 1e308, base + 2}, {3, 1e308, base + 3}},
		"nan":   paConst(8, math.NaN(), base),
		"exact": paConst(16, 2, base),
	})
	h := paServer(t, home).Handler()
	const r = "/api/runs/ds/edges/metrics?"

	// Means of huge values do not overflow to Infinity.
	body := paGet(t, h, r+"path=huge&pointCount=1")
	require.Contains(t, body, `"step": 1.5, "value": 1e+308, "minY": 1e+308, "maxY": 1e+308, "downsampled": true`)

	// A bucket without a finite value: value, minY and maxY are NaN.
	body = paGet(t, h, r+"path=nan&pointCount=2")
	require.Contains(t, body, `"value": "NaN", "minY": "NaN", "maxY": "NaN", "downsampled": true`)
	require.Contains(t, body, `"totalCount": 8, "downsampled": true}`)

	// A window of exactly N points is returned raw.
	body = paGet(t, h, r+"path=exact&pointCount=16")
	require.Contains(t, body, `"downsampled": false}`)
	require.NotContains(t, body, `"downsampled": true`)
	// One point more is downsampled: k=2, 8 buckets, plus both bookends.
	var d struct {
		Points []map[string]any `json:"points"`
	}
	require.NoError(t, json.Unmarshal([]byte(paGet(t, h, r+"path=exact&pointCount=15")), &d))
	require.Len(t, d.Points, 10)
	require.Equal(t, false, d.Points[0]["downsampled"])
	require.Equal(t, 0.0, d.Points[0]["step"])
	require.Equal(t, 0.5, d.Points[1]["step"])
	require.Equal(t, 15.0, d.Points[9]["step"])

	// Bookends: 5 points, N=3: k=2, buckets {0,1} {2,3} {4}. The first
	// bucket's mean step 0.5 differs from step 0, so the raw first point
	// leads; the last bucket is point 4 alone, its step that of the last
	// raw point, so no bookend follows.
	paWriteSeries(t, home, "ds", "bookends", map[string][]paPoint{"s": paConst(5, 1, base)})
	body = paGet(t, h, "/api/runs/ds/bookends/metrics?path=s&pointCount=3")
	require.NoError(t, json.Unmarshal([]byte(body), &d))
	require.Len(t, d.Points, 4, body)
	require.Equal(t, []any{0.0, 0.5, 2.5, 4.0}, []any{d.Points[0]["step"], d.Points[1]["step"], d.Points[2]["step"], d.Points[3]["step"]})
	require.Equal(t, []any{false, true, true, true}, []any{d.Points[0]["downsampled"], d.Points[1]["downsampled"], d.Points[2]["downsampled"], d.Points[3]["downsampled"]})
	// N=1 over three points: one bucket with mean step 1 between both bookends.
	body = paGet(t, h, "/api/runs/ds/bookends/metrics?path=s&pointCount=1&lastPointIndex=2")
	require.NoError(t, json.Unmarshal([]byte(body), &d))
	require.Len(t, d.Points, 3, body)
	require.Equal(t, []any{0.0, 1.0, 2.0}, []any{d.Points[0]["step"], d.Points[1]["step"], d.Points[2]["step"]})

	rec := paDo(t, h, http.MethodGet, "/api/runs/ds/edges/metrics?path=exact&pointCount=0")
	require.Equal(t, http.StatusBadRequest, rec.Code)
}
