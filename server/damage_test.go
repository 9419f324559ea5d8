package server

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/internal/vfs"
	"github.com/goodseed/goodseed-go/run"
	"github.com/goodseed/goodseed-go/segment"
	"github.com/goodseed/goodseed-go/series"
)

// Damage served: whatever a run's own records say it holds and it no
// longer does (a segment deleted, a sealed segment cut short, a block that
// fails its checksum, records that do not decode) costs a response only the
// points in it, and the response says so: Part A in X-Goodseed-Damage,
// Part B in "warnings", both naming the file and never the server's paths.
// Issue 14 item 3 (a cut segment served short with no header) and issue 19
// (an undecodable record, a damage warning in Part A, was a 500 in Part B).

const (
	dmMetric   = "train/loss"
	dmStrings  = "train/note"
	dmBatches  = 12
	dmPerBatch = 100 // points per batch and series, one flush each
	dmTail     = 5   // points per series left to Close
	// dmRecordsBlockKind is the segment block kind of the engine's record
	// blocks (frozen: docs/format/run.md).
	dmRecordsBlockKind = 1
)

// dmBlock is one data block of the run and the steps of each series in it.
type dmBlock struct {
	file  string
	meta  segment.BlockMeta
	steps map[string][]float64
}

// dmRun is a closed run written through the run package into a home of its
// own, at project ws/p, run id r: Part A's ws/p/r and Part B's ws~p~r.
type dmRun struct {
	home    string
	dir     string
	segs    []string // segment files, in order
	blocks  []dmBlock
	metric  map[float64]float64 // every point logged
	strings map[float64]string
}

func dmWriteRun(t *testing.T) *dmRun {
	t.Helper()
	d := &dmRun{home: t.TempDir(), metric: map[float64]float64{}, strings: map[float64]string{}}
	r, err := run.New(run.Options{
		Home: d.home, Project: "ws/p", RunID: "r", Quiet: true,
		Git: run.GitOptions{Disabled: true}, Monitoring: run.MonitoringOptions{Off: true},
		Engine: engine.Options{FlushInterval: time.Hour, BlockTargetBytes: 512, SegmentTargetBytes: 2048},
	})
	require.NoError(t, err)
	for b := range dmBatches {
		for i := range dmPerBatch {
			step := float64(b*dmPerBatch + i)
			v := math.Sin(step*1.7) * 3 // noisy: compresses little, so the run spans segments
			s := fmt.Sprintf("note %d", int(step))
			require.NoError(t, r.Field(dmMetric).Log(v, step))
			require.NoError(t, r.Field(dmStrings).LogString(s, step))
			d.metric[step], d.strings[step] = v, s
		}
		require.NoError(t, r.Flush())
	}
	// A few points more, left to Close: its one flush writes them with the
	// final status in one block, so the last segment holds points too.
	for i := range dmTail {
		step := float64(dmBatches*dmPerBatch + i)
		v, s := math.Sin(step*1.7)*3, fmt.Sprintf("note %d", int(step))
		require.NoError(t, r.Field(dmMetric).Log(v, step))
		require.NoError(t, r.Field(dmStrings).LogString(s, step))
		d.metric[step], d.strings[step] = v, s
	}
	d.dir = r.Dir()
	require.NoError(t, r.Close())
	require.Equal(t, v1RunDir(d.home, "ws", "p", "r"), d.dir)

	rd, err := engine.OpenReader(d.dir, nil)
	require.NoError(t, err)
	ids := map[uint32]string{}
	for p, k := range map[string]engine.FieldKind{dmMetric: engine.KindMetric, dmStrings: engine.KindString} {
		fi, ok := rd.Lookup(p, k)
		require.True(t, ok, p)
		ids[fi.ID] = p
	}
	require.NoError(t, rd.Close())

	d.segs, err = filepath.Glob(filepath.Join(d.dir, "*.seg"))
	require.NoError(t, err)
	slices.Sort(d.segs)
	require.GreaterOrEqual(t, len(d.segs), 3, "the run must span three segments")
	for _, file := range d.segs {
		rep, err := segment.Scan(vfs.Default, file, func(m segment.BlockMeta, p []byte) error {
			if m.Kind == segment.KindFooter {
				return nil
			}
			blk := dmBlock{file: file, meta: m, steps: map[string][]float64{}}
			for len(p) > 0 {
				rec, rest, err := engine.DecodeRecord(p)
				if err != nil {
					return err
				}
				p = rest
				path, ok := ids[rec.Field]
				if !ok {
					continue
				}
				switch rec.Kind {
				case engine.RecMetricChunk:
					var c series.MetricColumns
					if err := series.DecodeMetricChunk(rec.Chunk, &c); err != nil {
						return err
					}
					blk.steps[path] = append(blk.steps[path], c.Steps...)
				case engine.RecStringChunk:
					var c series.StringColumns
					if err := series.DecodeStringChunk(rec.Chunk, &c); err != nil {
						return err
					}
					blk.steps[path] = append(blk.steps[path], c.Steps...)
				}
			}
			d.blocks = append(d.blocks, blk)
			return nil
		})
		require.NoError(t, err)
		require.True(t, rep.OK() && rep.Sealed, "%s: %+v", file, rep)
	}
	return d
}

// dmDamage is one way to damage the run: file is the segment the signal
// must name (relative to the run), lost says whether a block's points are
// gone with it. A read of a series is signalled when the series lost
// points, or for every series when all is set (damage whose content no one
// knows).
type dmDamage struct {
	name   string
	file   string
	damage func(t *testing.T, dir string)
	lost   func(b dmBlock) bool
	all    bool
}

func dmDamages(t *testing.T, d *dmRun) []dmDamage {
	t.Helper()
	base := func(f string) string { return filepath.Base(f) }
	middle, last := base(d.segs[1]), base(d.segs[len(d.segs)-1])
	var cut, flip dmBlock // the last metric block of the last segment; a metric block of the middle one
	for _, b := range d.blocks {
		if len(b.steps[dmMetric]) == 0 {
			continue
		}
		if base(b.file) == last {
			cut = b
		}
		if base(b.file) == middle && flip.file == "" {
			flip = b
		}
	}
	require.NotEmpty(t, cut.file, "the last segment holds points of %s", dmMetric)
	require.NotEmpty(t, flip.file)
	fromCut := func(b dmBlock) bool { return base(b.file) == last && b.meta.Offset >= cut.meta.Offset }
	return []dmDamage{
		{
			name: "middle segment deleted", file: middle,
			damage: func(t *testing.T, dir string) { require.NoError(t, os.Remove(filepath.Join(dir, middle))) },
			lost:   func(b dmBlock) bool { return base(b.file) == middle },
		},
		{
			name: "last segment cut at a block boundary", file: last,
			damage: func(t *testing.T, dir string) {
				require.NoError(t, os.Truncate(filepath.Join(dir, last), cut.meta.Offset))
			},
			lost: fromCut,
		},
		{
			name: "last segment cut mid-block", file: last,
			damage: func(t *testing.T, dir string) {
				require.NoError(t, os.Truncate(filepath.Join(dir, last), cut.meta.Offset+cut.meta.Size/2))
			},
			lost: fromCut,
		},
		{
			name: "block checksum mismatch", file: middle,
			damage: func(t *testing.T, dir string) {
				f := filepath.Join(dir, middle)
				b, err := os.ReadFile(f)
				require.NoError(t, err)
				b[flip.meta.Offset+flip.meta.Size/2] ^= 0x10
				require.NoError(t, os.WriteFile(f, b, 0o644))
			},
			lost: func(b dmBlock) bool { return base(b.file) == middle && b.meta.Offset == flip.meta.Offset },
		},
		{
			// A block that verifies and holds bytes that are not records: the
			// engine's ErrCorrupt, not the segment's. Nothing logged is lost,
			// but what the block held is not known, so every read says so.
			name: "undecodable records", file: segment.SegmentName(1, uint64(len(d.segs)+1)),
			damage: func(t *testing.T, dir string) {
				rd, err := engine.OpenReader(dir, nil)
				require.NoError(t, err)
				id := rd.RunID()
				require.NoError(t, rd.Close())
				w, err := segment.Create(vfs.Default, dir, segment.Header{RunID: id, WriterID: 1, Seq: uint64(len(d.segs) + 1)}, segment.WriterOptions{})
				require.NoError(t, err)
				_, err = w.Append(dmRecordsBlockKind, 1, 1<<40, 1<<40, []byte{0x09, 0x05, 1, 2})
				require.NoError(t, err)
				require.NoError(t, w.Seal())
			},
			lost: func(dmBlock) bool { return false },
			all:  true,
		},
	}
}

// want returns the points of the run outside the blocks lost.
func (d *dmRun) want(lost func(dmBlock) bool) (map[float64]float64, map[float64]string) {
	m, s := maps1(d.metric), maps1(d.strings)
	for _, b := range d.blocks {
		if !lost(b) {
			continue
		}
		for _, st := range b.steps[dmMetric] {
			delete(m, st)
		}
		for _, st := range b.steps[dmStrings] {
			delete(s, st)
		}
	}
	return m, s
}

func maps1[V any](m map[float64]V) map[float64]V {
	out := make(map[float64]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// dmRequireSignal checks a damage signal: it names file and holds none of
// the server's paths.
func dmRequireSignal(t *testing.T, what, signal, file, home string) {
	t.Helper()
	require.NotEmpty(t, signal, "%s: the damage is signalled", what)
	require.Contains(t, signal, file, "%s: the signal names the file", what)
	require.NotContains(t, signal, home, "%s: no server paths", what)
}

func TestDamageServed(t *testing.T) {
	d := dmWriteRun(t)
	for _, dm := range dmDamages(t, d) {
		for _, warm := range []bool{false, true} {
			name := dm.name
			if warm {
				name += "/while served"
			}
			t.Run(name, func(t *testing.T) {
				e := newHSEnv(t)
				paCopyTreeTo(t, filepath.Join(d.home, "projects"), filepath.Join(e.home, "projects"))
				dir := v1RunDir(e.home, "ws", "p", "r")
				if warm {
					// The server has read the whole run before the damage.
					dmCheckServed(t, e, d.metric, d.strings, "", false, false)
				}
				dm.damage(t, dir)
				wantM, wantS := d.want(dm.lost)
				sigM, sigS := dm.all || len(wantM) < len(d.metric), dm.all || len(wantS) < len(d.strings)
				require.True(t, sigM, "the damage must cost points of %s or concern every series", dmMetric)
				dmCheckServed(t, e, wantM, wantS, dm.file, sigM, sigS)
			})
		}
	}
}

// dmCheckServed reads the run through every endpoint of both parts that
// returns points and checks they serve exactly want, with the damage
// signalled naming file on the reads of the metric (sigM) and of the string
// series (sigS), and not signalled on the others.
func dmCheckServed(t *testing.T, e *hsEnv, wantM map[float64]float64, wantS map[float64]string, file string, sigM, sigS bool) {
	t.Helper()
	signalIf := func(want bool, what, s string) {
		t.Helper()
		if !want {
			require.Empty(t, s, "%s: no damage signalled where the series lost nothing", what)
			return
		}
		dmRequireSignal(t, what, s, file, e.home)
	}
	type paPt struct {
		Path  string
		Step  float64
		Value any
	}
	paMetric := func(pts []paPt) map[float64]float64 {
		out := map[float64]float64{}
		for _, p := range pts {
			if p.Path == dmMetric {
				f, ok := p.Value.(float64)
				require.True(t, ok, "%v", p.Value)
				out[p.Step] = f
			}
		}
		return out
	}

	// Part A.
	for _, target := range []string{"/api/runs/ws/p/r/metrics?path=" + dmMetric, "/api/runs/ws/p/r/metrics"} {
		rec := paDo(t, e.h, http.MethodGet, target)
		require.Equal(t, http.StatusOK, rec.Code, "%s: %s", target, rec.Body.String())
		var body struct{ Metrics []paPt }
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
		require.Equal(t, wantM, paMetric(body.Metrics), target)
		signalIf(sigM, target, rec.Header().Get(paDamageHeader))
	}
	{
		target := fmt.Sprintf("/api/runs/ws/p/r/metrics?path=%s&pointCount=%d", dmMetric, 4*dmBatches*dmPerBatch)
		rec := paDo(t, e.h, http.MethodGet, target)
		require.Equal(t, http.StatusOK, rec.Code, "%s: %s", target, rec.Body.String())
		var body struct {
			Points     []paPt
			TotalCount int
		}
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
		for i := range body.Points {
			body.Points[i].Path = dmMetric
		}
		require.Equal(t, len(wantM), body.TotalCount, target)
		require.Equal(t, wantM, paMetric(body.Points), target)
		signalIf(sigM, target, rec.Header().Get(paDamageHeader))
	}
	for _, target := range []string{"/api/runs/ws/p/r/string_series?path=" + dmStrings, "/api/runs/ws/p/r/string_series"} {
		rec := paDo(t, e.h, http.MethodGet, target)
		require.Equal(t, http.StatusOK, rec.Code, "%s: %s", target, rec.Body.String())
		var body struct {
			StringSeries []struct {
				Path  string
				Step  float64
				Value string
			} `json:"string_series"`
			Total int
		}
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
		got := map[float64]string{}
		for _, p := range body.StringSeries {
			if p.Path == dmStrings {
				got[p.Step] = p.Value
			}
		}
		require.Equal(t, wantS, got, target)
		signalIf(sigS, target, rec.Header().Get(paDamageHeader))
	}
	{
		// The run stays listed: damage costs points, not the run.
		rec := paDo(t, e.h, http.MethodGet, "/api/runs?project=ws/p")
		require.Equal(t, http.StatusOK, rec.Code)
		require.Contains(t, rec.Body.String(), `"run_id": "r"`)
	}

	// Part B.
	v1 := func(target string) []byte {
		t.Helper()
		rec := v1Serve(e.h, http.MethodGet, target, v1TestKey, nil, "", false)
		require.Equal(t, http.StatusOK, rec.Code, "%s: %s", target, rec.Body.String())
		return rec.Body.Bytes()
	}
	warnings := func(want bool, what string, ws []string) {
		t.Helper()
		signalIf(want, what, strings.Join(ws, "\n"))
	}
	{
		target := "/api/v1/runs/ws~p~r/data/metrics?path=" + dmMetric
		var body struct {
			v1MetricsAnswer
			Warnings []string
		}
		require.NoError(t, json.Unmarshal(v1(target), &body))
		require.False(t, body.Downsampled)
		got := map[float64]float64{}
		for _, p := range body.RawPoints {
			got[p.Step] = v1JSONY(t, p.Y)
		}
		require.Equal(t, wantM, got, target)
		warnings(sigM, target, body.Warnings)
	}
	{
		target := "/api/v1/runs/ws~p~r/data/metrics?max_points=10&path=" + dmMetric
		var body struct {
			v1MetricsAnswer
			Warnings []string
		}
		require.NoError(t, json.Unmarshal(v1(target), &body))
		require.True(t, body.Downsampled)
		n := 0
		for _, b := range body.Buckets {
			n += b.Count
		}
		require.Equal(t, len(wantM), n, target)
		warnings(sigM, target, body.Warnings)
	}
	{
		target := "/api/v1/runs/ws~p~r/data/strings?path=" + dmStrings
		var body v1StringsJSON
		require.NoError(t, json.Unmarshal(v1(target), &body))
		got := map[float64]string{}
		for _, p := range body.Points {
			got[p.Step] = p.Value
		}
		require.Equal(t, wantS, got, target)
		require.Equal(t, len(wantS), body.Total)
		warnings(sigS, target, body.Warnings)
	}
}
