package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/goodseed/goodseed-go/series"
)

var allSystems = []string{"goodseed", "sqlite", "jsonl-gz", "prom-xor", pythonName}

// wantStatus is what every system must report on every workload in quick
// mode: the cross-checks hold, and a system is n/a only where it has no
// counterpart.
func wantStatus(system, workload string) string {
	switch system {
	case pythonName:
		if workload == "single" || workload == "realistic" {
			return statusReference
		}
		return statusNA
	case "prom-xor":
		if workload == "strings" || workload == "open" || workload == "manyruns" {
			return statusNA
		}
	}
	return statusOK
}

// TestQuick runs `go run . -quick` end to end: every workload on every
// system, the cross-checks hold, the JSON has every system × workload, the
// chart is well-formed SVG with a bar per measuring system.
func TestQuick(t *testing.T) {
	dir := t.TempDir()
	out, chart := filepath.Join(dir, "r.json"), filepath.Join(dir, "c.svg")
	var stdout, stderr bytes.Buffer
	code := command([]string{"-quick", "-out", out, "-chart", chart, "-dir", filepath.Join(dir, "scratch")}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var o Output
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatal(err)
	}
	if !o.Meta.Quick || len(o.Failed) != 0 {
		t.Fatalf("quick %v, failed %v", o.Meta.Quick, o.Failed)
	}
	got := map[[2]string]Result{}
	for _, r := range o.Results {
		got[[2]string{r.System, r.Workload}] = r
	}
	if len(got) != len(o.Results) || len(got) != len(allSystems)*len(workloadNames) {
		t.Errorf("%d results (%d distinct), want %d systems × %d workloads", len(o.Results), len(got), len(allSystems), len(workloadNames))
	}
	for _, sys := range allSystems {
		for _, w := range workloadNames {
			r, ok := got[[2]string{sys, w}]
			if !ok {
				t.Errorf("%s/%s: missing from the JSON", sys, w)
				continue
			}
			if want := wantStatus(sys, w); r.Status != want {
				t.Errorf("%s/%s: status %s (%s), want %s", sys, w, r.Status, r.CrossCheck, want)
			}
		}
	}
	// The figures each table shows are there, and ours is the unit of the
	// ratios.
	for _, w := range []string{"single", "realistic", "adversarial", "parallel", "strings"} {
		for _, sys := range []string{"goodseed", "sqlite", "jsonl-gz"} {
			r := got[[2]string{sys, w}]
			for _, k := range []string{"points_per_s", "ns_per_point", "bytes_per_point", "close_ms", "open_ms", "read_ms", "peak_heap_bytes", "alloc_bytes_per_point"} {
				if _, ok := r.Figures[k]; !ok {
					t.Errorf("%s/%s: no %s", sys, w, k)
				}
			}
			if r.Figures["bytes_on_disk"] <= 0 {
				t.Errorf("%s/%s: %v bytes on disk", sys, w, r.Figures["bytes_on_disk"])
			}
			if sys == "goodseed" && r.Ratios["points_per_s"] != 1 {
				t.Errorf("%s: ours/ours = %v", w, r.Ratios["points_per_s"])
			}
		}
	}
	for _, k := range []string{"open_ms", "open_rebuild_ms", "resume_ms", "resume_rebuild_ms"} {
		if _, ok := got[[2]string{"goodseed", "open"}].Figures[k]; !ok {
			t.Errorf("open/goodseed: no %s", k)
		}
	}
	for _, sys := range []string{"goodseed", "sqlite", "jsonl-gz", "prom-xor"} {
		f := got[[2]string{sys, "read"}].Figures
		if f["decode_ms"] <= 0 || f["downsample_ms"] <= 0 {
			t.Errorf("read/%s: %v", sys, f)
		}
	}
	if f := got[[2]string{"sqlite", "manyruns"}].Figures; f["list_ms"] <= 0 {
		t.Errorf("manyruns/sqlite: %v", f)
	}
	// The realistic mix must stay far below a raw point (24 bytes) in ours:
	// a check that the bytes are counted, not a speed assertion.
	if bpp := got[[2]string{"goodseed", "realistic"}].Figures["bytes_per_point"]; bpp <= 0 || bpp >= 24 {
		t.Errorf("realistic/goodseed: %v B/point", bpp)
	}
	stores := map[string]bool{}
	for _, p := range o.NaNProbe {
		stores[p.System] = p.Stores
	}
	if want := map[string]bool{"goodseed": true, "sqlite": false, "jsonl-gz": false, "prom-xor": true}; !mapsEqual(stores, want) {
		t.Errorf("NaN probe %v, want %v", stores, want)
	}
	for _, w := range workloadNames {
		if !strings.Contains(stdout.String(), "### "+w+" ") {
			t.Errorf("no table for %s", w)
		}
	}
	checkSVG(t, chart)

	// -from prints the same tables from the saved JSON and redraws the chart.
	var replayed bytes.Buffer
	chart2 := filepath.Join(dir, "c2.svg")
	if code := command([]string{"-from", out, "-chart", chart2}, &replayed, &stderr); code != 0 {
		t.Fatalf("-from: exit %d: %s", code, stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), replayed.String()) || !strings.Contains(replayed.String(), "### manyruns") {
		t.Errorf("-from printed\n%s\nthe run printed\n%s", replayed.String(), stdout.String())
	}
	checkSVG(t, chart2)
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func checkSVG(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	bars := map[string]int{}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("chart is not well-formed: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			for _, a := range se.Attr {
				if a.Name.Local == "fill" {
					bars[a.Value]++
				}
			}
		}
	}
	for _, s := range chartSystems {
		if bars[s.color] < 2 { // its legend swatch and at least one bar
			t.Errorf("chart: %d rects for %s", bars[s.color], s.name)
		}
	}
}

// liar wraps ours and breaks one thing; the harness must catch each.
type liar struct {
	goodseed
	name string
	// how it lies
	metric  func(step, value float64) (float64, float64, bool) // false: drop the point
	text    func(string) string
	status  string
	bucketY float64
}

func (l liar) Name() string { return l.name }

type liarWriter struct {
	Writer
	l liar
}

func (l liar) Create(home, id string) (Writer, error) {
	w, err := l.goodseed.Create(home, id)
	return liarWriter{w, l}, err
}

type liarMetric struct {
	MetricHandle
	l liar
}

func (h liarMetric) Log(step, value float64) error {
	if h.l.metric != nil {
		var keep bool
		if step, value, keep = h.l.metric(step, value); !keep {
			return nil
		}
	}
	return h.MetricHandle.Log(step, value)
}

type liarString struct {
	StringHandle
	l liar
}

func (h liarString) Log(step float64, text string) error {
	if h.l.text != nil {
		text = h.l.text(text)
	}
	return h.StringHandle.Log(step, text)
}

func (w liarWriter) Metric(path string) (MetricHandle, error) {
	h, err := w.Writer.Metric(path)
	return liarMetric{h, w.l}, err
}

func (w liarWriter) Strings(path string) (StringHandle, error) {
	h, err := w.Writer.Strings(path)
	return liarString{h, w.l}, err
}

type liarReader struct {
	Reader
	l liar
}

func (l liar) Open(home, id string) (Reader, error) {
	r, err := l.goodseed.Open(home, id)
	if err != nil {
		return nil, err
	}
	return liarReader{r, l}, nil
}

func (r liarReader) Downsample(path string, n int) (series.DownResult, error) {
	d, err := r.Reader.Downsample(path, n)
	if r.l.bucketY != 0 && len(d.Points) > 3 {
		d.Points[3].MaxY += r.l.bucketY
	}
	return d, err
}

func (l liar) List(home string) ([]Listed, error) {
	ls, err := l.goodseed.List(home)
	if l.status != "" && len(ls) > 1 {
		ls[1].Status = l.status
	}
	return ls, err
}

// TestCrossCheckCatchesLiars: a store that changes one mantissa bit, a
// NaN payload's sign, drops one repeat, alters one line, miscounts one
// bucket or lists one run as running fails its row, and makes the command
// exit 1, while ours beside it passes.
func TestCrossCheckCatchesLiars(t *testing.T) {
	flipOne := func(target float64, f func(float64) float64) func(float64, float64) (float64, float64, bool) {
		return func(step, v float64) (float64, float64, bool) {
			if step == target {
				v = f(v)
			}
			return step, v, true
		}
	}
	seen := map[float64]int{}
	liars := []struct {
		liar     liar
		workload string
	}{
		{liar{name: "low-bit", metric: flipOne(777, func(v float64) float64 { return math.Float64frombits(math.Float64bits(v) ^ 1) })}, "realistic"},
		{liar{name: "float32", metric: flipOne(5, func(v float64) float64 { return float64(float32(v + 1e-9)) })}, "adversarial"},
		{liar{name: "first-write", metric: func(step, v float64) (float64, float64, bool) {
			seen[step]++
			return step, v, seen[step] == 1 // keeps the first write of a repeated step
		}}, "adversarial"},
		{liar{name: "line", text: func(s string) string {
			if strings.Contains(s, "UserWarning") {
				return strings.Replace(s, "UserWarning", "Warning", 1)
			}
			return s
		}}, "strings"},
		{liar{name: "bucket", bucketY: 1e-12}, "read"},
		{liar{name: "status", status: "running"}, "manyruns"},
	}
	for _, tc := range liars {
		t.Run(tc.liar.name, func(t *testing.T) {
			clear(seen)
			old := newSystems
			newSystems = func() []System { return []System{goodseed{}, tc.liar} }
			defer func() { newSystems = old }()
			dir := t.TempDir()
			var stdout, stderr bytes.Buffer
			code := command([]string{"-quick", "-only", tc.workload, "-out", filepath.Join(dir, "r.json"), "-chart", "", "-dir", filepath.Join(dir, "s")}, &stdout, &stderr)
			if code != 1 {
				t.Fatalf("exit %d, want 1\n%s", code, stdout.String())
			}
			var o Output
			b, _ := os.ReadFile(filepath.Join(dir, "r.json"))
			if err := json.Unmarshal(b, &o); err != nil {
				t.Fatal(err)
			}
			for _, r := range o.Results {
				switch r.System {
				case "goodseed":
					if r.Status != statusOK {
						t.Errorf("ours: %s %s", r.Status, r.CrossCheck)
					}
				case tc.liar.name:
					if r.Status != statusFail {
						t.Errorf("liar: %s %s", r.Status, r.CrossCheck)
					}
				}
			}
			if len(o.Failed) != 1 || !strings.HasPrefix(o.Failed[0], tc.workload+"/"+tc.liar.name+":") {
				t.Errorf("failed %q", o.Failed)
			}
			if !strings.Contains(stdout.String(), "cross-check FAILED") {
				t.Errorf("the table does not mark the row:\n%s", stdout.String())
			}
		})
	}
}

func TestMergeLWW(t *testing.T) {
	c := mergeLWW([]float64{3, 1, 3, 2, 1}, []float64{30, 10, 31, 20, 11}, []int64{1, 2, 3, 4, 5})
	if !slices.Equal(c.Steps, []float64{1, 2, 3}) || !slices.Equal(c.Values, []float64{11, 20, 31}) || !slices.Equal(c.TimesMs, []int64{5, 4, 3}) {
		t.Errorf("%+v", c)
	}
	s := mergeStringsLWW([]float64{2, 1, 2}, []string{"a", "b", "c"}, []int64{1, 2, 3})
	if !slices.Equal(s.Steps, []float64{1, 2}) || !slices.Equal(s.Values, []string{"b", "c"}) {
		t.Errorf("%+v", s)
	}
}

// TestCompareMetricBits: the comparison is bit for bit, so NaN payloads,
// -0 and timestamps outside the logging interval all count.
func TestCompareMetricBits(t *testing.T) {
	want := &series.MetricColumns{Steps: []float64{0, 1}, Values: []float64{nan(0x7ff8000000000001), negZero()}, TimesMs: []int64{0, 0}}
	same := &series.MetricColumns{Steps: []float64{0, 1}, Values: []float64{nan(0x7ff8000000000001), negZero()}, TimesMs: []int64{100, 101}}
	if err := compareMetric("p", want, same, 100, 101); err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]*series.MetricColumns{
		"payload": {Steps: []float64{0, 1}, Values: []float64{nan(0x7ff8000000000002), negZero()}, TimesMs: []int64{100, 100}},
		"zero":    {Steps: []float64{0, 1}, Values: []float64{nan(0x7ff8000000000001), 0}, TimesMs: []int64{100, 100}},
		"short":   {Steps: []float64{0}, Values: []float64{nan(0x7ff8000000000001)}, TimesMs: []int64{100}},
		"time":    {Steps: []float64{0, 1}, Values: []float64{nan(0x7ff8000000000001), negZero()}, TimesMs: []int64{100, 102}},
	} {
		if compareMetric("p", want, got, 100, 101) == nil {
			t.Errorf("%s: not caught", name)
		}
	}
}

// TestLinesPastOneChunk: the string workload's lines come in chunks, so a
// million of them do not reach workload.Lines's panic past ~10,500, and
// they are the same on every call.
func TestLinesPastOneChunk(t *testing.T) {
	a, b := lines(seedLines, 3*linesChunk+7), lines(seedLines, 3*linesChunk+7)
	if len(a) != 3*linesChunk+7 || !slices.Equal(a, b) {
		t.Fatalf("%d lines, deterministic %v", len(a), slices.Equal(a, b))
	}
	if slices.Equal(a[:linesChunk], a[linesChunk:2*linesChunk]) {
		t.Error("two chunks are the same lines")
	}
	for i, l := range a {
		if l == "" {
			t.Fatalf("line %d empty", i)
		}
	}
}
