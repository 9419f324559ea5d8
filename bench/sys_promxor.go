package main

import (
	"errors"
	"fmt"
	"sync"

	"github.com/goodseed/goodseed-go/series"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// promXOR is Prometheus's XOR chunk encoding (the Gorilla paper's
// delta-of-delta timestamps and XOR'd float values), from Prometheus's own
// tsdb/chunkenc, used for one figure: bytes per point on the same series.
// The step is the timestamp (every workload's steps are integers); points
// go in as logged, repeats and shuffled steps included, 120 samples per
// chunk as Prometheus cuts them. It keeps its chunks in memory: the bytes
// counted are chunk bytes only, with no wall-clock column, no index, no
// series names and no file framing, so they are a lower bound for a store
// built on it, and its times are no fair match for a store that writes
// files: the harness reports neither its write speed nor its open, close
// or listing. Reads decode the chunks and merge (last write of a step
// wins), so the cross-check holds it to the same answer as the others.
type promXOR struct {
	mu   sync.Mutex
	runs map[string]map[string]*xorRun // home → id → run
}

// xorSamplesPerChunk is where Prometheus cuts a chunk.
const xorSamplesPerChunk = 120

// errNA marks an operation a system has no counterpart for.
var errNA = errors.New("not applicable")

func newPromXOR() *promXOR { return &promXOR{runs: map[string]map[string]*xorRun{}} }

func (*promXOR) Name() string { return "prom-xor" }

type xorRun struct {
	mu     sync.Mutex
	order  []string
	series map[string]*xorSeries
}

type xorSeries struct {
	chunks []*chunkenc.XORChunk
	app    chunkenc.Appender
}

func (p *promXOR) Create(home, id string) (Writer, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.runs[home] == nil {
		p.runs[home] = map[string]*xorRun{}
	}
	r := &xorRun{series: map[string]*xorSeries{}}
	p.runs[home][id] = r
	return r, nil
}

func (r *xorRun) Metric(path string) (MetricHandle, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.series[path]
	if s == nil {
		s = &xorSeries{}
		r.series[path] = s
		r.order = append(r.order, path)
	}
	return s, nil
}

func (r *xorRun) Strings(string) (StringHandle, error) { return nil, errNA }

func (r *xorRun) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.series {
		for _, c := range s.chunks {
			c.Compact()
		}
	}
	return nil
}

// Log is not safe for concurrent use on one series; handles of different
// series are independent.
func (s *xorSeries) Log(step, value float64) error {
	ts := int64(step)
	if float64(ts) != step {
		return fmt.Errorf("prom-xor: step %v is not an integer timestamp", step)
	}
	if s.app == nil || s.chunks[len(s.chunks)-1].NumSamples() >= xorSamplesPerChunk {
		c := chunkenc.NewXORChunk()
		app, err := c.Appender()
		if err != nil {
			return err
		}
		s.chunks, s.app = append(s.chunks, c), app
	}
	s.app.Append(0, ts, value)
	return nil
}

func (p *promXOR) run(home, id string) (*xorRun, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.runs[home][id]
	if r == nil {
		return nil, fmt.Errorf("prom-xor: no run %s", id)
	}
	return r, nil
}

type xorReader struct{ r *xorRun }

func (p *promXOR) Open(home, id string) (Reader, error) {
	r, err := p.run(home, id)
	if err != nil {
		return nil, err
	}
	return xorReader{r}, nil
}

func (x xorReader) MetricPaths() ([]string, error) { return x.r.order, nil }

func (x xorReader) read(path string) (*series.MetricColumns, error) {
	s := x.r.series[path]
	if s == nil {
		return nil, fmt.Errorf("prom-xor: no series %s", path)
	}
	var steps, values []float64
	var it chunkenc.Iterator
	for _, c := range s.chunks {
		it = c.Iterator(it)
		for it.Next() == chunkenc.ValFloat {
			t, v := it.At()
			steps = append(steps, float64(t))
			values = append(values, v)
		}
		if err := it.Err(); err != nil {
			return nil, err
		}
	}
	return mergeLWW(steps, values, nil), nil
}

func (x xorReader) ReadMetrics(paths []string) (map[string]*series.MetricColumns, error) {
	out := make(map[string]*series.MetricColumns, len(paths))
	for _, p := range paths {
		c, err := x.read(p)
		if err != nil {
			return nil, err
		}
		out[p] = c
	}
	return out, nil
}

func (xorReader) ReadStrings(string) (*series.StringColumns, error) { return nil, errNA }

func (x xorReader) Downsample(path string, n int) (series.DownResult, error) {
	c, err := x.read(path)
	if err != nil {
		return series.DownResult{}, err
	}
	return series.Downsample(c, 0, -1, n), nil
}

func (xorReader) Close() error { return nil }

func (*promXOR) Resume(string, string) (Closer, error)  { return nil, errNA }
func (*promXOR) DropIndex(string, string) (bool, error) { return false, errNA }
func (*promXOR) List(string) ([]Listed, error)          { return nil, errNA }
func (*promXOR) storesNoTimes()                         {}
func (*promXOR) inMemory()                              {}

// Bytes is the sum of the chunks' encoded bytes.
func (p *promXOR) Bytes(home string) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var n int64
	for _, r := range p.runs[home] {
		for _, s := range r.series {
			for _, c := range s.chunks {
				n += int64(len(c.Bytes()))
			}
		}
	}
	return n, nil
}

// forget drops the chunks of every run under home.
func (p *promXOR) forget(home string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.runs, home)
}
