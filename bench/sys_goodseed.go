package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/index"
	"github.com/goodseed/goodseed-go/run"
	"github.com/goodseed/goodseed-go/series"
	"github.com/goodseed/goodseed-go/server"
)

// goodseed is ours: writes through the public run API (a held Field handle
// per series, as the run package's docs advise), reads through the engine's
// Reader (what the HTTP server reads with: columns, no per-point
// allocation), listing through server.ListRuns (what `goodseed list` and
// GET /api/runs use).
type goodseed struct{}

func (goodseed) Name() string { return "goodseed" }

func gsOptions(home string) run.Options {
	return run.Options{
		Home:       home,
		Quiet:      true,
		Git:        run.GitOptions{Disabled: true},
		Monitoring: run.MonitoringOptions{Off: true},
	}
}

func gsDir(home, id string) string {
	return filepath.Join(home, "projects", run.DefaultProject, "runs", id)
}

type gsWriter struct{ r *run.Run }

func (goodseed) Create(home, id string) (Writer, error) {
	opts := gsOptions(home)
	opts.RunID = id
	r, err := run.New(opts)
	if err != nil {
		return nil, err
	}
	return gsWriter{r}, nil
}

type gsMetric struct{ f *run.Field }

func (h gsMetric) Log(step, value float64) error { return h.f.Log(value, step) }

type gsString struct{ f *run.Field }

func (h gsString) Log(step float64, text string) error { return h.f.LogString(text, step) }

func (w gsWriter) Metric(path string) (MetricHandle, error)  { return gsMetric{w.r.Field(path)}, nil }
func (w gsWriter) Strings(path string) (StringHandle, error) { return gsString{w.r.Field(path)}, nil }
func (w gsWriter) Close() error                              { return w.r.Close() }

type gsReader struct{ r *engine.Reader }

func (goodseed) Open(home, id string) (Reader, error) {
	r, err := engine.OpenReader(gsDir(home, id), nil)
	if err != nil {
		return nil, err
	}
	return gsReader{r}, nil
}

func (g gsReader) MetricPaths() ([]string, error) {
	var out []string
	for _, f := range g.r.Fields() {
		if f.Kind == engine.KindMetric {
			out = append(out, f.Path)
		}
	}
	return out, nil
}

func (g gsReader) ReadMetrics(paths []string) (map[string]*series.MetricColumns, error) {
	out := make(map[string]*series.MetricColumns, len(paths))
	for _, p := range paths {
		c := new(series.MetricColumns)
		if err := g.r.ReadMetric(p, c); err != nil {
			return nil, err
		}
		out[p] = c
	}
	return out, nil
}

func (g gsReader) ReadStrings(path string) (*series.StringColumns, error) {
	c := new(series.StringColumns)
	return c, g.r.ReadString(path, c)
}

func (g gsReader) Downsample(path string, n int) (series.DownResult, error) {
	return g.r.Downsample(path, 0, -1, n)
}

func (g gsReader) Close() error { return g.r.Close() }

func (goodseed) Resume(home, id string) (Closer, error) {
	return run.Resume(id, gsOptions(home))
}

func (goodseed) DropIndex(home, id string) (bool, error) {
	err := os.Remove(filepath.Join(gsDir(home, id), index.FileName))
	if err != nil && !os.IsNotExist(err) {
		return true, err
	}
	return true, nil
}

func (goodseed) List(home string) ([]Listed, error) {
	runs, err := server.ListRuns(home)
	if err != nil {
		return nil, err
	}
	out := make([]Listed, 0, len(runs))
	for _, r := range runs {
		if r.Err != nil {
			return nil, fmt.Errorf("list %s: %w", r.RunID, r.Err)
		}
		out = append(out, Listed{ID: r.RunID, Status: string(r.Status), MetricPaths: r.MetricPaths})
	}
	return out, nil
}

func (goodseed) Bytes(home string) (int64, error) { return dirBytes(home) }
