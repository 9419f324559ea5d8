package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// column is one figure in a printed table.
type column struct {
	header string
	key    string
	format func(float64) string
	ratio  bool // add a "× ours" column after it
}

var (
	colPointsPerS = column{"points/s", "points_per_s", fmtRate, true}
	colNsPerPoint = column{"ns/point", "ns_per_point", fmtFloat, false}
	colBPP        = column{"B/point", "bytes_per_point", fmtBPP, true}
	colHeap       = column{"peak heap MiB", "peak_heap_bytes", fmtMiB, false}
	colRSS        = column{"peak RSS MiB", "peak_rss_bytes", fmtMiB, false}
	colAlloc      = column{"alloc B/point", "alloc_bytes_per_point", fmtFloat, false}
	colClose      = column{"close ms", "close_ms", fmtFloat, false}
	colOpen       = column{"open ms", "open_ms", fmtFloat, false}
	colRead       = column{"read ms", "read_ms", fmtFloat, false}
)

var tableColumns = map[string][]column{
	"single":      {colPointsPerS, colNsPerPoint, colBPP, colHeap, colRSS, colAlloc, colClose, colOpen, colRead},
	"realistic":   {colPointsPerS, colNsPerPoint, colBPP, colHeap, colRSS, colAlloc, colClose, colOpen, colRead},
	"adversarial": {colPointsPerS, colNsPerPoint, colBPP, colHeap, colRSS, colAlloc, colClose, colOpen, colRead},
	"parallel":    {colPointsPerS, colNsPerPoint, colBPP, colHeap, colRSS, colAlloc, colClose, colOpen, colRead},
	"strings":     {{"lines/s", "points_per_s", fmtRate, true}, {"ns/line", "ns_per_point", fmtFloat, false}, {"B/line", "bytes_per_point", fmtBPP, true}, colHeap, colRSS, {"alloc B/line", "alloc_bytes_per_point", fmtFloat, false}, colClose, colOpen, colRead},
	"open": {
		colOpen, {"open, no index ms", "open_rebuild_ms", fmtFloat, false},
		{"resume ms", "resume_ms", fmtFloat, true}, {"resume, no index ms", "resume_rebuild_ms", fmtFloat, false},
		colPointsPerS, colBPP,
	},
	"read": {
		{"decode ms", "decode_ms", fmtFloat, true}, {"decode ns/point", "decode_ns_per_point", fmtFloat, false},
		{"downsample ms", "downsample_ms", fmtFloat, true},
	},
	"manyruns": {
		colPointsPerS, {"runs/s", "runs_per_s", fmtFloat, false}, colBPP,
		{"close ms/run", "close_ms", fmtFloat, false}, colRSS, colAlloc, {"list ms", "list_ms", fmtFloat, true}, colRead,
	},
}

func fmtRate(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2f M", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1f k", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func fmtFloat(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func fmtBPP(v float64) string { return fmt.Sprintf("%.2f", v) }

func fmtMiB(v float64) string { return fmt.Sprintf("%.1f", v/(1<<20)) }

func fmtRatio(v float64) string {
	if v >= 10 {
		return fmt.Sprintf("%.0f×", v)
	}
	return fmt.Sprintf("%.2f×", v)
}

// WriteTables prints one markdown table per workload that ran.
func WriteTables(w io.Writer, rs []Result, probes []NaNProbe, sizes map[string]string) {
	for _, wl := range workloadNames {
		var rows []Result
		for _, r := range rs {
			if r.Workload == wl {
				rows = append(rows, r)
			}
		}
		if len(rows) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n### %s — %s (%s)\n\n", wl, workloadTitles[wl], sizes[wl])
		cols := tableColumns[wl]
		hdr := []string{"system"}
		for _, c := range cols {
			hdr = append(hdr, c.header)
			if c.ratio {
				hdr = append(hdr, "× ours")
			}
		}
		hdr = append(hdr, "check")
		fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(hdr, " | "), strings.Repeat(" --- |", len(hdr)))
		var notes []string
		for _, r := range rows {
			if r.Status == statusNA && r.System == pythonName {
				continue // not measured for this workload: no row
			}
			cells := []string{r.System}
			for _, c := range cols {
				v, ok := r.Figures[c.key]
				cell := "—"
				if ok {
					cell = c.format(v)
					if c.key == "bytes_per_point" && r.Status == statusReference {
						cell = fmt.Sprintf("%g–%g", r.Figures["bytes_per_point_lo"], r.Figures["bytes_per_point_hi"])
					}
				}
				cells = append(cells, cell)
				if c.ratio {
					rc := "—"
					if rv, ok := r.Ratios[c.key]; ok && r.System != (goodseed{}).Name() {
						rc = fmtRatio(rv)
					}
					cells = append(cells, rc)
				}
			}
			cells = append(cells, r.Status)
			fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
			switch {
			case r.Status == statusFail:
				notes = append(notes, fmt.Sprintf("%s: **cross-check FAILED**: %s", r.System, r.CrossCheck))
			case r.Note != "" && r.System != pythonName:
				notes = append(notes, fmt.Sprintf("%s: %s", r.System, r.Note))
			case r.Status == statusNA:
				notes = append(notes, fmt.Sprintf("%s: n/a, %s", r.System, r.CrossCheck))
			}
		}
		for _, n := range notes {
			fmt.Fprintf(w, "\n- %s", n)
		}
		if len(notes) > 0 {
			fmt.Fprintln(w)
		}
	}
	if len(probes) > 0 {
		fmt.Fprintf(w, "\n### NaN, ±Inf and -0 (a probe apart from the shared data)\n\n| system | stores them exactly | detail |\n| --- | --- | --- |\n")
		for _, p := range probes {
			yes := "no"
			if p.Stores {
				yes = "yes"
			}
			fmt.Fprintf(w, "| %s | %s | %s |\n", p.System, yes, strings.ReplaceAll(p.Detail, "|", "\\|"))
		}
	}
}

// Meta describes where and how the figures were taken.
type Meta struct {
	Date      string            `json:"date"`
	GoVersion string            `json:"go_version"`
	OS        string            `json:"os_arch"`
	CPUs      int               `json:"cpus"`
	CPU       string            `json:"cpu_model,omitempty"`
	Commit    string            `json:"commit,omitempty"`
	Quick     bool              `json:"quick"`
	Sizes     map[string]string `json:"sizes"`
	Systems   map[string]string `json:"systems"`
}

func newMeta(cfg Config) Meta {
	m := Meta{
		Date:      time.Now().UTC().Format(time.RFC3339),
		GoVersion: runtime.Version(),
		OS:        runtime.GOOS + "/" + runtime.GOARCH,
		CPUs:      runtime.NumCPU(),
		Quick:     cfg.Quick,
		Sizes:     map[string]string{},
		Systems: map[string]string{
			"goodseed": "ours: writes through the public run API (held Field handles), reads with engine.Reader, lists with server.ListRuns",
			"sqlite":   "the Python client's SQLite design (one file per run; run_meta, configs, metric_series, metric_points, string_series, string_points) in modernc.org/sqlite: WAL, synchronous=NORMAL, 64 MiB cache, prepared upserts, one transaction per 10,000 points",
			"jsonl-gz": "the naive baseline: one JSON line per point, gzip (default level), no index",
			"prom-xor": "Prometheus tsdb/chunkenc XOR chunks (Gorilla), steps as timestamps, 120 samples a chunk, in memory: chunk bytes only",
			pythonName: pythonNote,
		},
	}
	for _, w := range workloadNames {
		m.Sizes[w] = cfg.Sizes.Describe(w)
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
	}
	return m
}

// Output is the JSON document the harness writes.
type Output struct {
	Meta     Meta       `json:"meta"`
	Results  []Result   `json:"results"`
	NaNProbe []NaNProbe `json:"nan_probe"`
	Failed   []string   `json:"failed"`
}

func writeJSON(path string, o Output) error {
	b, err := json.MarshalIndent(o, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
