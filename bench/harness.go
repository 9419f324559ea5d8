package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goodseed/goodseed-go/series"
)

// Workload names, in the order they run (-only takes a comma-separated
// subset).
var workloadNames = []string{"single", "realistic", "adversarial", "parallel", "strings", "open", "read", "manyruns"}

var workloadTitles = map[string]string{
	"single":      "one series, one goroutine, held handle",
	"realistic":   "realistic mix, step-major",
	"adversarial": "adversarial mix: random float64, shuffled and repeated steps",
	"parallel":    "goroutines × series each, realistic mix",
	"strings":     "one string series of stdout-like lines",
	"open":        "open and resume a large run, with and without its index",
	"read":        "read the single-series run: decode it whole, downsample it",
	"manyruns":    "many small runs, then list them",
}

// Sizes are the workloads' sizes.
type Sizes struct {
	SinglePoints                    int
	RealisticSeries, RealisticSteps int
	AdvSeries, AdvSteps             int
	Goroutines, SeriesPerGoroutine  int
	ParallelSteps                   int
	Lines                           int
	OpenSeries, OpenSteps           int
	Trials                          int
	DownsampleTo                    int
	Runs, RunSeries, RunSteps       int
}

// FullSizes are the sizes: 10 M points per metric workload.
var FullSizes = Sizes{
	SinglePoints:    10_000_000,
	RealisticSeries: 100, RealisticSteps: 100_000,
	AdvSeries: 100, AdvSteps: 100_000,
	Goroutines: 8, SeriesPerGoroutine: 10, ParallelSteps: 125_000,
	Lines:      1_000_000,
	OpenSeries: 1_000, OpenSteps: 10_000,
	Trials:       5,
	DownsampleTo: 1_000,
	Runs:         1_000, RunSeries: 10, RunSteps: 100,
}

// QuickSizes run in seconds, for CI: every workload and every system, tiny.
var QuickSizes = Sizes{
	SinglePoints:    20_000,
	RealisticSeries: 10, RealisticSteps: 2_000,
	AdvSeries: 10, AdvSteps: 2_000,
	Goroutines: 8, SeriesPerGoroutine: 10, ParallelSteps: 250,
	Lines:      6_000,
	OpenSeries: 50, OpenSteps: 200,
	Trials:       3,
	DownsampleTo: 1_000,
	Runs:         20, RunSeries: 10, RunSteps: 10,
}

// Describe says each workload's size in words, for tables and JSON.
func (s Sizes) Describe(w string) string {
	switch w {
	case "single":
		return fmt.Sprintf("1 series × %d points", s.SinglePoints)
	case "realistic":
		return fmt.Sprintf("%d series × %d steps (seed %d)", s.RealisticSeries, s.RealisticSteps, seedRealistic)
	case "adversarial":
		return fmt.Sprintf("%d series × %d points (seed %d)", s.AdvSeries, s.AdvSteps, seedAdversarial)
	case "parallel":
		return fmt.Sprintf("%d goroutines × %d series × %d steps (seed %d)", s.Goroutines, s.SeriesPerGoroutine, s.ParallelSteps, seedParallel)
	case "strings":
		return fmt.Sprintf("%d lines (seeds %d000+i, %d a seed)", s.Lines, seedLines, linesChunk)
	case "open":
		return fmt.Sprintf("%d series × %d steps, median of %d", s.OpenSeries, s.OpenSteps, s.Trials)
	case "read":
		return fmt.Sprintf("the single run (%d points), to %d points, median of %d", s.SinglePoints, s.DownsampleTo, s.Trials)
	case "manyruns":
		return fmt.Sprintf("%d runs × %d series × %d steps (seeds %d000+i)", s.Runs, s.RunSeries, s.RunSteps, seedManyRuns)
	}
	return ""
}

// Result is one system on one workload. Figures hold what was measured
// (keys in figureKeys); Ratios divide each by ours on the same workload.
type Result struct {
	Workload   string             `json:"workload"`
	System     string             `json:"system"`
	Status     string             `json:"status"` // ok, FAIL, n/a, reference
	CrossCheck string             `json:"cross_check"`
	Note       string             `json:"note,omitempty"`
	Points     int64              `json:"points,omitempty"`
	Figures    map[string]float64 `json:"figures,omitempty"`
	Ratios     map[string]float64 `json:"ratio_to_ours,omitempty"`
}

const (
	statusOK        = "ok"
	statusFail      = "FAIL"
	statusNA        = "n/a"
	statusReference = "reference"
)

// NaNProbe says whether a system stores NaN, ±Inf and -0 bit for bit.
type NaNProbe struct {
	System string `json:"system"`
	Stores bool   `json:"stores_nan_inf"`
	Detail string `json:"detail"`
}

// Config is one invocation of the harness.
type Config struct {
	Sizes Sizes
	Quick bool
	// Only lists the workloads to run; empty runs them all.
	Only []string
	// Dir is the scratch directory; the harness makes a subdirectory per
	// workload and system and removes it when done.
	Dir string
	// Systems under test; nil means defaultSystems().
	Systems []System
	// Progress receives one line per step; nil discards them.
	Progress io.Writer
}

func defaultSystems() []System {
	return []System{goodseed{}, sqliteSys{}, jsonlSys{}, newPromXOR()}
}

// The Python client is an external reference row: its own figures,
// measured with its own code, never run here.
const (
	pythonName       = "python (reference)"
	pythonNsPerCall  = 44_800
	pythonBytesLo    = 37
	pythonBytesHi    = 41
	pythonNote       = "GoodSeed Python 0.4.0, figures from goodseed-python.md measured with its own code (100,000 single-point log() calls took 4.5 s; 37–41 B/pt in SQLite), not run here"
	pythonWorkloadsA = "single"
	pythonWorkloadsB = "realistic"
)

type harness struct {
	cfg      Config
	results  []Result
	probes   []NaNProbe
	fixtures map[string]fixture // system name → the single-series run, for the read workload
}

type fixture struct {
	home, id string
	data     dataset
}

func (h *harness) progress(format string, args ...any) {
	if h.cfg.Progress != nil {
		fmt.Fprintf(h.cfg.Progress, format+"\n", args...)
	}
}

// Run runs the configured workloads on every system and returns the
// results (with ratios) and the NaN probes.
func Run(cfg Config) ([]Result, []NaNProbe, error) {
	if cfg.Systems == nil {
		cfg.Systems = defaultSystems()
	}
	only := map[string]bool{}
	for _, w := range cfg.Only {
		if !slices.Contains(workloadNames, w) {
			return nil, nil, fmt.Errorf("unknown workload %q (have %v)", w, workloadNames)
		}
		only[w] = true
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, nil, err
	}
	h := &harness{cfg: cfg, fixtures: map[string]fixture{}}
	for _, w := range workloadNames {
		if len(only) > 0 && !only[w] {
			continue
		}
		h.progress("== %s: %s", w, cfg.Sizes.Describe(w))
		for _, sys := range cfg.Systems {
			start := time.Now()
			res := h.runOne(w, sys)
			h.progress("   %-10s %-4s %6.1f s  %s", sys.Name(), res.Status, time.Since(start).Seconds(), res.CrossCheck)
			h.results = append(h.results, res)
		}
		h.results = append(h.results, pythonRow(w))
		if w == "read" || w == "single" && len(only) > 0 && !only["read"] {
			h.dropFixtures() // nothing more reads the single-series runs
		}
	}
	h.dropFixtures()
	for _, sys := range cfg.Systems {
		h.probes = append(h.probes, h.probeNaN(sys))
	}
	addRatios(h.results)
	return h.results, h.probes, nil
}

func pythonRow(w string) Result {
	r := Result{Workload: w, System: pythonName, Status: statusNA, CrossCheck: "not run here", Note: pythonNote}
	if w == pythonWorkloadsA || w == pythonWorkloadsB {
		r.Status = statusReference
		r.Figures = map[string]float64{
			"points_per_s":       1e9 / pythonNsPerCall,
			"ns_per_point":       pythonNsPerCall,
			"bytes_per_point":    (pythonBytesLo + pythonBytesHi) / 2.0,
			"bytes_per_point_lo": pythonBytesLo,
			"bytes_per_point_hi": pythonBytesHi,
		}
	}
	return r
}

func (h *harness) dropFixtures() {
	for name, f := range h.fixtures {
		os.RemoveAll(f.home)
		delete(h.fixtures, name)
	}
	for _, sys := range h.cfg.Systems {
		if p, ok := sys.(*promXOR); ok {
			p.forget(filepath.Join(h.cfg.Dir, "single", sys.Name()))
		}
	}
}

// runOne runs workload w on sys in a fresh directory and recovers a panic
// into a failed row, so one broken system cannot hide the others.
func (h *harness) runOne(w string, sys System) (res Result) {
	res = Result{Workload: w, System: sys.Name(), Figures: map[string]float64{}}
	home := filepath.Join(h.cfg.Dir, w, sys.Name())
	if err := os.RemoveAll(home); err != nil {
		return failed(res, err)
	}
	keep := false
	defer func() {
		if p := recover(); p != nil {
			res = failed(res, fmt.Errorf("panic: %v", p))
		}
		if !keep {
			os.RemoveAll(home)
			if p, ok := sys.(*promXOR); ok {
				p.forget(home)
			}
		}
		if len(res.Figures) == 0 {
			res.Figures = nil
		}
	}()
	switch w {
	case "single":
		d := realistic(seedSingle, 1, h.cfg.Sizes.SinglePoints)
		res = h.writeMetrics(res, sys, home, "single", d, 1)
		if res.Status == statusOK {
			h.fixtures[sys.Name()] = fixture{home: home, id: "single", data: d}
			keep = true
		}
	case "realistic":
		res = h.writeMetrics(res, sys, home, "realistic", realistic(seedRealistic, h.cfg.Sizes.RealisticSeries, h.cfg.Sizes.RealisticSteps), 1)
	case "adversarial":
		res = h.writeMetrics(res, sys, home, "adversarial", adversarial(seedAdversarial, h.cfg.Sizes.AdvSeries, h.cfg.Sizes.AdvSteps), 1)
	case "parallel":
		s := h.cfg.Sizes
		res = h.writeMetrics(res, sys, home, "parallel", realistic(seedParallel, s.Goroutines*s.SeriesPerGoroutine, s.ParallelSteps), s.Goroutines)
	case "strings":
		res = h.writeStrings(res, sys, home)
	case "open":
		res = h.openResume(res, sys, home)
	case "read":
		res = h.read(res, sys, home)
	case "manyruns":
		res = h.manyRuns(res, sys, home)
	}
	return res
}

func failed(r Result, err error) Result {
	msg := err.Error()
	if len(msg) > maxErrorChars { // a reader's error can name every damaged block
		msg = msg[:maxErrorChars] + "…"
	}
	r.Status, r.CrossCheck = statusFail, msg
	return r
}

const maxErrorChars = 400

func notApplicable(r Result, why string) Result {
	r.Status, r.CrossCheck, r.Figures = statusNA, why, nil
	return r
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// slack is how far a stored timestamp may lie outside the wall-clock
// interval of its logging (clock ticks and rounding).
const slackMs = 1000

type inMemory interface{ inMemory() }
type storesNoTimes interface{ storesNoTimes() }

// writeMetrics logs d into a new run id of sys from goroutines goroutines
// (each owning a contiguous share of the series, logging step-major),
// closes it, measures it on disk, opens it, reads every series back and
// compares them with what was logged.
func (h *harness) writeMetrics(res Result, sys System, home, id string, d dataset, goroutines int) Result {
	res.Points = d.points
	mem := startMem()
	tLo := time.Now().UnixMilli() - slackMs
	start := time.Now()
	w, err := sys.Create(home, id)
	if err != nil {
		mem.end()
		return failed(res, fmt.Errorf("create: %w", err))
	}
	handles := make([]MetricHandle, len(d.series))
	for i, s := range d.series {
		if handles[i], err = w.Metric(s.Path); err != nil {
			mem.end()
			w.Close()
			return failed(res, fmt.Errorf("series %s: %w", s.Path, err))
		}
	}
	var logErr atomic.Pointer[error]
	var wg sync.WaitGroup
	per := (len(d.series) + goroutines - 1) / goroutines
	for g := 0; g < goroutines; g++ {
		lo, hi := g*per, min((g+1)*per, len(d.series))
		if lo >= hi {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine, hs := d.series[lo:hi], handles[lo:hi]
			n := len(mine[0].Steps)
			for k := 0; k < n; k++ {
				for i := range mine {
					if err := hs[i].Log(mine[i].Steps[k], mine[i].Values[k]); err != nil {
						e := fmt.Errorf("log %s step %v: %w", mine[i].Path, mine[i].Steps[k], err)
						logErr.CompareAndSwap(nil, &e)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	closeStart := time.Now()
	closeErr := w.Close()
	end := time.Now()
	heap, rss, allocs := mem.end()
	tHi := end.UnixMilli() + slackMs
	if p := logErr.Load(); p != nil {
		return failed(res, *p)
	}
	if closeErr != nil {
		return failed(res, fmt.Errorf("close: %w", closeErr))
	}
	bytes, err := sys.Bytes(home)
	if err != nil {
		return failed(res, err)
	}
	f := res.Figures
	wall := end.Sub(start)
	f["write_ms"] = ms(wall)
	f["points_per_s"] = float64(d.points) / wall.Seconds()
	f["ns_per_point"] = float64(wall.Nanoseconds()) / float64(d.points)
	f["close_ms"] = ms(end.Sub(closeStart))
	f["bytes_on_disk"] = float64(bytes)
	f["bytes_per_point"] = float64(bytes) / float64(d.points)
	f["peak_heap_bytes"] = float64(heap)
	f["peak_rss_bytes"] = float64(rss)
	f["alloc_bytes_per_point"] = float64(allocs) / float64(res.Points)

	// read_ms is the open plus the reads: a store that parses everything
	// when it opens (jsonl-gz) pays there, one with an index when it reads.
	openStart := time.Now()
	r, err := sys.Open(home, id)
	if err != nil {
		return failed(res, fmt.Errorf("open: %w", err))
	}
	defer r.Close()
	f["open_ms"] = ms(time.Since(openStart))
	paths, err := r.MetricPaths()
	if err != nil {
		return failed(res, err)
	}
	got, err := r.ReadMetrics(d.paths())
	if err != nil {
		return failed(res, fmt.Errorf("read: %w", err))
	}
	f["read_ms"] = ms(time.Since(openStart))
	if !slices.Equal(sortedCopy(paths), sortedCopy(d.paths())) {
		return failed(res, fmt.Errorf("lists %d series, want %d", len(paths), len(d.series)))
	}
	if _, ok := sys.(storesNoTimes); ok {
		tLo, tHi = 1, 0
	}
	want := d.expected()
	var npts int
	for _, p := range d.paths() {
		if err := compareMetric(p, want[p], got[p], tLo, tHi); err != nil {
			return failed(res, fmt.Errorf("cross-check: %w", err))
		}
		npts += want[p].Len()
	}
	res.Status = statusOK
	res.CrossCheck = fmt.Sprintf("%d series, %d points read back bit-exact", len(want), npts)
	if _, ok := sys.(inMemory); ok {
		res.Figures = map[string]float64{"bytes_on_disk": f["bytes_on_disk"], "bytes_per_point": f["bytes_per_point"]}
		res.Note = "chunk bytes only, in memory; write speed not comparable"
	}
	return res
}

func (h *harness) writeStrings(res Result, sys System, home string) Result {
	text := lines(seedLines, h.cfg.Sizes.Lines)
	res.Points = int64(len(text))
	const path = "monitoring/stdout"
	mem := startMem()
	tLo := time.Now().UnixMilli() - slackMs
	start := time.Now()
	w, err := sys.Create(home, "strings")
	if err != nil {
		mem.end()
		return failed(res, fmt.Errorf("create: %w", err))
	}
	hd, err := w.Strings(path)
	if errors.Is(err, errNA) {
		mem.end()
		w.Close()
		return notApplicable(res, "stores no strings")
	}
	if err != nil {
		mem.end()
		w.Close()
		return failed(res, err)
	}
	for i, line := range text {
		if err := hd.Log(float64(i), line); err != nil {
			mem.end()
			w.Close()
			return failed(res, fmt.Errorf("log line %d: %w", i, err))
		}
	}
	closeStart := time.Now()
	closeErr := w.Close()
	end := time.Now()
	heap, rss, allocs := mem.end()
	if closeErr != nil {
		return failed(res, fmt.Errorf("close: %w", closeErr))
	}
	bytes, err := sys.Bytes(home)
	if err != nil {
		return failed(res, err)
	}
	var raw int64
	for _, l := range text {
		raw += int64(len(l))
	}
	f := res.Figures
	wall := end.Sub(start)
	f["write_ms"] = ms(wall)
	f["points_per_s"] = float64(len(text)) / wall.Seconds()
	f["ns_per_point"] = float64(wall.Nanoseconds()) / float64(len(text))
	f["close_ms"] = ms(end.Sub(closeStart))
	f["bytes_on_disk"] = float64(bytes)
	f["bytes_per_point"] = float64(bytes) / float64(len(text))
	f["text_bytes_per_line"] = float64(raw) / float64(len(text))
	f["peak_heap_bytes"] = float64(heap)
	f["peak_rss_bytes"] = float64(rss)
	f["alloc_bytes_per_point"] = float64(allocs) / float64(res.Points)
	openStart := time.Now()
	r, err := sys.Open(home, "strings")
	if err != nil {
		return failed(res, fmt.Errorf("open: %w", err))
	}
	defer r.Close()
	f["open_ms"] = ms(time.Since(openStart))
	got, err := r.ReadStrings(path)
	if err != nil {
		return failed(res, fmt.Errorf("read: %w", err))
	}
	f["read_ms"] = ms(time.Since(openStart))
	want := &series.StringColumns{}
	for i, l := range text {
		want.Append(float64(i), l, 0)
	}
	if err := compareStrings(path, want, got, tLo, end.UnixMilli()+slackMs); err != nil {
		return failed(res, fmt.Errorf("cross-check: %w", err))
	}
	res.Status, res.CrossCheck = statusOK, fmt.Sprintf("%d lines read back exactly", len(text))
	return res
}

// openResume writes a large run, then times opening it read-only and
// resuming it for writing, each with its index and (where the system has
// one apart from its data) without it, and finally checks the run still
// reads back whole.
func (h *harness) openResume(res Result, sys System, home string) Result {
	if _, ok := sys.(inMemory); ok {
		return notApplicable(res, "keeps no files to open")
	}
	s := h.cfg.Sizes
	d := realistic(seedOpen, s.OpenSeries, s.OpenSteps)
	const id = "large"
	res = h.writeMetrics(res, sys, home, id, d, 1)
	if res.Status != statusOK {
		return res
	}
	f := res.Figures
	openOnce := func() (time.Duration, error) {
		t := time.Now()
		r, err := sys.Open(home, id)
		if err != nil {
			return 0, err
		}
		paths, err := r.MetricPaths()
		el := time.Since(t)
		r.Close()
		if err == nil && len(paths) != len(d.series) {
			err = fmt.Errorf("open lists %d series, want %d", len(paths), len(d.series))
		}
		return el, err
	}
	resumeOnce := func() (time.Duration, error) {
		t := time.Now()
		c, err := sys.Resume(home, id)
		if err != nil {
			return 0, err
		}
		el := time.Since(t)
		return el, c.Close()
	}
	trial := func(key string, fn func() (time.Duration, error), dropIndex bool) error {
		m, n, err := trials(s.Trials, func() (time.Duration, error) {
			if dropIndex {
				if _, err := sys.DropIndex(home, id); err != nil {
					return 0, err
				}
			}
			return fn()
		})
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		f[key], f[key+"_trials"] = ms(m), float64(n)
		return nil
	}
	if err := trial("open_ms", openOnce, false); err != nil {
		return failed(res, err)
	}
	if err := trial("resume_ms", resumeOnce, false); err != nil {
		return failed(res, err)
	}
	if has, err := sys.DropIndex(home, id); err != nil {
		return failed(res, err)
	} else if has {
		if err := trial("open_rebuild_ms", openOnce, true); err != nil {
			return failed(res, err)
		}
		if err := trial("resume_rebuild_ms", resumeOnce, true); err != nil {
			return failed(res, err)
		}
	} else {
		res.Note = "no index apart from its data: nothing to delete"
	}
	r, err := sys.Open(home, id)
	if err != nil {
		return failed(res, err)
	}
	defer r.Close()
	got, err := r.ReadMetrics(d.paths())
	if err != nil {
		return failed(res, err)
	}
	want := d.expected()
	for _, p := range d.paths() {
		if err := compareMetric(p, want[p], got[p], 1, 0); err != nil {
			return failed(res, fmt.Errorf("cross-check after %d resumes: %w", 2*s.Trials, err))
		}
	}
	res.CrossCheck = fmt.Sprintf("%d series, %d points read back bit-exact after %d opens and resumes", len(d.series), d.points, 4*s.Trials)
	return res
}

// read times decoding the single-series run whole and downsampling it,
// against the same run written by the single workload (written now when
// that workload did not run).
func (h *harness) read(res Result, sys System, home string) Result {
	fx, ok := h.fixtures[sys.Name()]
	if !ok {
		d := realistic(seedSingle, 1, h.cfg.Sizes.SinglePoints)
		if w := h.writeMetrics(Result{Figures: map[string]float64{}}, sys, home, "single", d, 1); w.Status != statusOK {
			return failed(res, fmt.Errorf("writing the run to read: %s", w.CrossCheck))
		}
		fx = fixture{home: home, id: "single", data: d}
	}
	path := fx.data.series[0].Path
	want := fx.data.expected()[path]
	wantDown := series.Downsample(want, 0, -1, h.cfg.Sizes.DownsampleTo)
	res.Points = int64(want.Len())
	// Each trial opens the run and reads: a store that parses everything
	// when it opens (jsonl-gz) pays there, one with an index when it reads.
	decode, nd, err := trials(h.cfg.Sizes.Trials, func() (time.Duration, error) {
		t := time.Now()
		r, err := sys.Open(fx.home, fx.id)
		if err != nil {
			return 0, err
		}
		defer r.Close()
		got, err := r.ReadMetrics([]string{path})
		el := time.Since(t)
		if err == nil {
			err = compareMetric(path, want, got[path], 1, 0)
		}
		return el, err
	})
	if err != nil {
		return failed(res, fmt.Errorf("decode: %w", err))
	}
	down, nn, err := trials(h.cfg.Sizes.Trials, func() (time.Duration, error) {
		t := time.Now()
		r, err := sys.Open(fx.home, fx.id)
		if err != nil {
			return 0, err
		}
		defer r.Close()
		dr, err := r.Downsample(path, h.cfg.Sizes.DownsampleTo)
		el := time.Since(t)
		if err == nil {
			err = compareDown(path, wantDown, dr)
		}
		return el, err
	})
	if err != nil {
		return failed(res, fmt.Errorf("downsample: %w", err))
	}
	f := res.Figures
	f["decode_ms"], f["decode_ms_trials"] = ms(decode), float64(nd)
	f["decode_ns_per_point"] = float64(decode.Nanoseconds()) / float64(want.Len())
	f["downsample_ms"], f["downsample_ms_trials"] = ms(down), float64(nn)
	res.Status = statusOK
	res.CrossCheck = fmt.Sprintf("%d points bit-exact; %d buckets equal series.Downsample's", want.Len(), len(wantDown.Points))
	if _, ok := sys.(inMemory); ok {
		res.Note = "decodes chunks held in memory: no file I/O"
	}
	return res
}

// manyRuns creates many small runs one after another, lists them and
// reads every one back.
func (h *harness) manyRuns(res Result, sys System, home string) Result {
	if _, ok := sys.(inMemory); ok {
		return notApplicable(res, "keeps no runs to list")
	}
	s := h.cfg.Sizes
	data := make([]dataset, s.Runs)
	ids := make([]string, s.Runs)
	for i := range data {
		data[i] = realistic(int64(seedManyRuns*1000+i), s.RunSeries, s.RunSteps)
		ids[i] = fmt.Sprintf("run-%04d", i)
		res.Points += data[i].points
	}
	mem := startMem()
	var closing time.Duration
	start := time.Now()
	for i, d := range data {
		w, err := sys.Create(home, ids[i])
		if err != nil {
			mem.end()
			return failed(res, fmt.Errorf("create %s: %w", ids[i], err))
		}
		hs := make([]MetricHandle, len(d.series))
		for j, x := range d.series {
			if hs[j], err = w.Metric(x.Path); err != nil {
				mem.end()
				return failed(res, err)
			}
		}
		for k := range d.series[0].Steps {
			for j, x := range d.series {
				if err := hs[j].Log(x.Steps[k], x.Values[k]); err != nil {
					mem.end()
					return failed(res, err)
				}
			}
		}
		c := time.Now()
		if err := w.Close(); err != nil {
			mem.end()
			return failed(res, fmt.Errorf("close %s: %w", ids[i], err))
		}
		closing += time.Since(c)
	}
	wall := time.Since(start)
	heap, rss, allocs := mem.end()
	bytes, err := sys.Bytes(home)
	if err != nil {
		return failed(res, err)
	}
	f := res.Figures
	f["write_ms"] = ms(wall)
	f["points_per_s"] = float64(res.Points) / wall.Seconds()
	f["ns_per_point"] = float64(wall.Nanoseconds()) / float64(res.Points)
	f["runs_per_s"] = float64(s.Runs) / wall.Seconds()
	f["close_ms"] = ms(closing) / float64(s.Runs)
	f["bytes_on_disk"] = float64(bytes)
	f["bytes_per_point"] = float64(bytes) / float64(res.Points)
	f["peak_heap_bytes"] = float64(heap)
	f["peak_rss_bytes"] = float64(rss)
	f["alloc_bytes_per_point"] = float64(allocs) / float64(res.Points)

	t := time.Now()
	listed, err := sys.List(home)
	f["list_ms"] = ms(time.Since(t))
	if err != nil {
		return failed(res, fmt.Errorf("list: %w", err))
	}
	if len(listed) != s.Runs {
		return failed(res, fmt.Errorf("cross-check: lists %d runs, want %d", len(listed), s.Runs))
	}
	slices.SortFunc(listed, func(a, b Listed) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	for i, l := range listed {
		if l.ID != ids[i] || l.Status != "finished" || !slices.Equal(sortedCopy(l.MetricPaths), sortedCopy(data[i].paths())) {
			return failed(res, fmt.Errorf("cross-check: listed %s %s %v, want %s finished %v", l.ID, l.Status, l.MetricPaths, ids[i], sortedCopy(data[i].paths())))
		}
	}
	t = time.Now()
	for i, d := range data {
		r, err := sys.Open(home, ids[i])
		if err != nil {
			return failed(res, err)
		}
		got, err := r.ReadMetrics(d.paths())
		r.Close()
		if err != nil {
			return failed(res, err)
		}
		want := d.expected()
		for _, p := range d.paths() {
			if err := compareMetric(p, want[p], got[p], 1, 0); err != nil {
				return failed(res, fmt.Errorf("cross-check %s: %w", ids[i], err))
			}
		}
	}
	f["read_ms"] = ms(time.Since(t))
	res.Status = statusOK
	res.CrossCheck = fmt.Sprintf("%d runs listed finished with their series; %d points read back bit-exact", s.Runs, res.Points)
	return res
}

// probeNaN logs NaN (two payloads), ±Inf and -0 and reads them back.
func (h *harness) probeNaN(sys System) NaNProbe {
	p := NaNProbe{System: sys.Name()}
	home := filepath.Join(h.cfg.Dir, "nanprobe", sys.Name())
	defer os.RemoveAll(home)
	values := []float64{nan(0x7ff80000deadbeef), posInf(), negInf(), negZero(), nan(0xfff8000000000000), 1.5}
	w, err := sys.Create(home, "probe")
	if err != nil {
		p.Detail = "create: " + err.Error()
		return p
	}
	hd, err := w.Metric("probe/values")
	if err != nil {
		w.Close()
		p.Detail = err.Error()
		return p
	}
	var refused []string
	for i, v := range values {
		if err := hd.Log(float64(i), v); err != nil {
			refused = append(refused, fmt.Sprintf("%v: %v", v, err))
		}
	}
	if err := w.Close(); err != nil {
		p.Detail = "close: " + err.Error()
		return p
	}
	if len(refused) > 0 {
		p.Detail = fmt.Sprintf("refused %d of %d values: %s", len(refused), len(values), refused[0])
		return p
	}
	r, err := sys.Open(home, "probe")
	if err != nil {
		p.Detail = "open: " + err.Error()
		return p
	}
	defer r.Close()
	got, err := r.ReadMetrics([]string{"probe/values"})
	if err != nil {
		p.Detail = "read: " + err.Error()
		return p
	}
	want := mergeLWW([]float64{0, 1, 2, 3, 4, 5}, values, nil)
	if err := compareMetric("probe/values", want, got["probe/values"], 1, 0); err != nil {
		p.Detail = err.Error()
		return p
	}
	p.Stores, p.Detail = true, "NaN payloads, ±Inf and -0 read back bit for bit"
	return p
}

// addRatios divides every figure by ours on the same workload.
func addRatios(rs []Result) {
	ours := map[string]map[string]float64{}
	for _, r := range rs {
		if r.System == (goodseed{}).Name() && r.Status == statusOK {
			ours[r.Workload] = r.Figures
		}
	}
	for i, r := range rs {
		o := ours[r.Workload]
		if o == nil || r.Figures == nil {
			continue
		}
		for k, v := range r.Figures {
			if base, ok := o[k]; ok && base != 0 {
				if rs[i].Ratios == nil {
					rs[i].Ratios = map[string]float64{}
				}
				rs[i].Ratios[k] = v / base
			}
		}
	}
}

// Failed lists the rows whose cross-check failed, and ours if it cannot
// store NaN/Inf (which it promises to).
func Failed(rs []Result, probes []NaNProbe) []string {
	var out []string
	for _, r := range rs {
		if r.Status == statusFail {
			out = append(out, fmt.Sprintf("%s/%s: %s", r.Workload, r.System, r.CrossCheck))
		}
	}
	for _, p := range probes {
		if p.System == (goodseed{}).Name() && !p.Stores {
			out = append(out, "nan probe/goodseed: "+p.Detail)
		}
	}
	return out
}
