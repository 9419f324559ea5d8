package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/goodseed/goodseed-go/series"
)

// jsonlSys is the naive baseline: every point appended as one JSON line to
// a gzip-compressed file per run, <home>/<id>.jsonl.gz, written through
// buffered encoders (what a script does when it "just logs to a file";
// each handle encodes into its own buffer so that goroutines share the file
// a batch at a time). A
// meta line opens the file and another closes it; a resume appends a new
// gzip member (gzip allows several in one file). It has no index: opening,
// resuming or listing means decompressing and parsing the whole file, and
// reads merge the points themselves (last write of a step wins). JSON has
// no NaN or infinity, so encoding/json refuses them.
type jsonlSys struct{}

func (jsonlSys) Name() string { return "jsonl-gz" }

func jsonlPath(home, id string) string { return filepath.Join(home, id+".jsonl.gz") }

// jsonlLine is every kind of line: "meta", "m" (metric point), "s" (string
// point). Point fields are always written (a 0 is a value).
type jsonlLine struct {
	K string `json:"k"`
	// meta
	RunID  string `json:"run_id,omitempty"`
	Status string `json:"status,omitempty"`
	At     string `json:"at,omitempty"`
	// points
	P string   `json:"p,omitempty"`
	S *float64 `json:"s,omitempty"`
	V *float64 `json:"v,omitempty"`
	X *string  `json:"x,omitempty"`
	T int64    `json:"t,omitempty"`
}

type jsonlPoint struct {
	K string  `json:"k"`
	P string  `json:"p"`
	S float64 `json:"s"`
	V float64 `json:"v"`
	T int64   `json:"t"`
}

type jsonlText struct {
	K string  `json:"k"`
	P string  `json:"p"`
	S float64 `json:"s"`
	X string  `json:"x"`
	T int64   `json:"t"`
}

type jsonlMeta struct {
	K      string `json:"k"`
	RunID  string `json:"run_id,omitempty"`
	Status string `json:"status"`
	At     string `json:"at"`
}

type jsonlWriter struct {
	mu  sync.Mutex
	f   *os.File
	gz  *gzip.Writer
	buf *bufio.Writer
	enc *json.Encoder
	// handles, each with its own buffer of encoded lines
	handles []*jsonlHandle
	err     error
}

func jsonlAppend(path string, create bool) (*jsonlWriter, error) {
	flag := os.O_WRONLY | os.O_APPEND
	if create {
		flag |= os.O_CREATE | os.O_EXCL
	}
	f, err := os.OpenFile(path, flag, 0o644)
	if err != nil {
		return nil, err
	}
	gz := gzip.NewWriter(f)
	buf := bufio.NewWriterSize(gz, 64<<10)
	return &jsonlWriter{f: f, gz: gz, buf: buf, enc: json.NewEncoder(buf)}, nil
}

func (jsonlSys) Create(home, id string) (Writer, error) {
	if err := os.MkdirAll(home, 0o755); err != nil {
		return nil, err
	}
	w, err := jsonlAppend(jsonlPath(home, id), true)
	if err != nil {
		return nil, err
	}
	if err := w.enc.Encode(jsonlMeta{K: "meta", RunID: id, Status: "running", At: isoNow()}); err != nil {
		w.f.Close()
		return nil, err
	}
	return w, nil
}

// jsonlHandleBytes is how much a handle encodes before it takes the file
// to write it: the lock is taken once per batch, not once per point, so
// goroutines logging different series do not queue on it point by point.
const jsonlHandleBytes = 32 << 10

// jsonlHandle is a series' handle: one goroutine at a time per handle,
// handles of different series from any goroutines.
type jsonlHandle struct {
	w    *jsonlWriter
	path string
	buf  bytes.Buffer
	enc  *json.Encoder
}

func (w *jsonlWriter) handle(path string) *jsonlHandle {
	h := &jsonlHandle{w: w, path: path}
	h.enc = json.NewEncoder(&h.buf)
	w.mu.Lock()
	w.handles = append(w.handles, h)
	w.mu.Unlock()
	return h
}

type jsonlMetric struct{ h *jsonlHandle }

type jsonlString struct{ h *jsonlHandle }

func (w *jsonlWriter) Metric(path string) (MetricHandle, error) {
	return jsonlMetric{w.handle(path)}, nil
}
func (w *jsonlWriter) Strings(path string) (StringHandle, error) {
	return jsonlString{w.handle(path)}, nil
}

// add encodes one line (an unsupported value, NaN, fails here and writes
// nothing) and hands a full buffer to the file.
func (h *jsonlHandle) add(v any) error {
	if err := h.enc.Encode(v); err != nil {
		return err
	}
	if h.buf.Len() < jsonlHandleBytes {
		return nil
	}
	h.w.mu.Lock()
	defer h.w.mu.Unlock()
	return h.flush()
}

// flush writes the handle's lines; the caller holds w.mu.
func (h *jsonlHandle) flush() error {
	if h.w.err != nil {
		return h.w.err
	}
	_, err := h.w.buf.Write(h.buf.Bytes())
	h.buf.Reset()
	if err != nil {
		h.w.err = err
	}
	return err
}

func (m jsonlMetric) Log(step, value float64) error {
	return m.h.add(&jsonlPoint{K: "m", P: m.h.path, S: step, V: value, T: nowMs()})
}

func (s jsonlString) Log(step float64, text string) error {
	return s.h.add(&jsonlText{K: "s", P: s.h.path, S: step, X: text, T: nowMs()})
}

func (w *jsonlWriter) end(status string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	for _, h := range w.handles {
		if err := h.flush(); err != nil {
			return err
		}
	}
	w.err = errors.New("jsonl: run closed")
	return errors.Join(
		w.enc.Encode(jsonlMeta{K: "meta", Status: status, At: isoNow()}),
		w.buf.Flush(), w.gz.Close(), w.f.Sync(), w.f.Close())
}

func (w *jsonlWriter) Close() error { return w.end("finished") }

// jsonlRun is a whole file parsed.
type jsonlRun struct {
	status  string
	order   []string // metric paths in first-logged order
	metrics map[string]*series.MetricColumns
	texts   map[string]*series.StringColumns
}

func jsonlScan(path string) (*jsonlRun, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(bufio.NewReaderSize(f, 64<<10))
	if err != nil {
		return nil, err
	}
	run := &jsonlRun{metrics: map[string]*series.MetricColumns{}, texts: map[string]*series.StringColumns{}}
	sc := bufio.NewScanner(gz)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var l jsonlLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		switch l.K {
		case "meta":
			run.status = l.Status
		case "m":
			c := run.metrics[l.P]
			if c == nil {
				c = new(series.MetricColumns)
				run.metrics[l.P] = c
				run.order = append(run.order, l.P)
			}
			c.Append(deref(l.S), deref(l.V), l.T)
		case "s":
			c := run.texts[l.P]
			if c == nil {
				c = new(series.StringColumns)
				run.texts[l.P] = c
			}
			x := ""
			if l.X != nil {
				x = *l.X
			}
			c.Append(deref(l.S), x, l.T)
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for p, c := range run.metrics {
		run.metrics[p] = mergeLWW(c.Steps, c.Values, c.TimesMs)
	}
	for p, c := range run.texts {
		run.texts[p] = mergeStringsLWW(c.Steps, c.Values, c.TimesMs)
	}
	return run, nil
}

func deref(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

type jsonlReader struct{ run *jsonlRun }

// Open must read the whole file: there is nothing else to list series by.
func (jsonlSys) Open(home, id string) (Reader, error) {
	r, err := jsonlScan(jsonlPath(home, id))
	if err != nil {
		return nil, err
	}
	return jsonlReader{r}, nil
}

func (r jsonlReader) MetricPaths() ([]string, error) { return r.run.order, nil }

func (r jsonlReader) ReadMetrics(paths []string) (map[string]*series.MetricColumns, error) {
	out := make(map[string]*series.MetricColumns, len(paths))
	for _, p := range paths {
		if c, ok := r.run.metrics[p]; ok {
			out[p] = c
		}
	}
	return out, nil
}

func (r jsonlReader) ReadStrings(path string) (*series.StringColumns, error) {
	c, ok := r.run.texts[path]
	if !ok {
		return nil, fmt.Errorf("jsonl: no string series %s", path)
	}
	return c, nil
}

func (r jsonlReader) Downsample(path string, n int) (series.DownResult, error) {
	c, ok := r.run.metrics[path]
	if !ok {
		return series.DownResult{}, fmt.Errorf("jsonl: no metric series %s", path)
	}
	return series.Downsample(c, 0, -1, n), nil
}

func (jsonlReader) Close() error { return nil }

// Resume scans the file for the step counters, then opens it to append.
func (jsonlSys) Resume(home, id string) (Closer, error) {
	if _, err := jsonlScan(jsonlPath(home, id)); err != nil {
		return nil, err
	}
	w, err := jsonlAppend(jsonlPath(home, id), false)
	if err != nil {
		return nil, err
	}
	if err := w.enc.Encode(jsonlMeta{K: "meta", Status: "running", At: isoNow()}); err != nil {
		w.f.Close()
		return nil, err
	}
	return w, nil
}

func (jsonlSys) DropIndex(string, string) (bool, error) { return false, nil }

func (jsonlSys) List(home string) ([]Listed, error) {
	entries, err := os.ReadDir(home)
	if err != nil {
		return nil, err
	}
	var out []Listed
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".jsonl.gz")
		if !ok {
			continue
		}
		r, err := jsonlScan(filepath.Join(home, e.Name()))
		if err != nil {
			return nil, err
		}
		out = append(out, Listed{ID: id, Status: r.status, MetricPaths: sortedCopy(r.order)})
	}
	return out, nil
}

func (jsonlSys) Bytes(home string) (int64, error) { return dirBytes(home) }
