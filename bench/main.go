// Command bench is GoodSeed Go's benchmark harness: it logs the same
// seeded workloads into our engine (through the public run API) and into
// real baselines — the Python client's SQLite design, a gzip'd JSON-lines
// file, Prometheus's XOR (Gorilla) chunks for bytes per point — and the
// Python client's own published figures as a reference row; it reads
// everything back and compares it point for point, so a fast wrong answer
// cannot win; and it prints markdown tables, writes JSON and draws an SVG
// chart.
//
//	cd bench && go run .                 # the full sizes (10 M points per metric workload)
//	go run . -quick                      # tiny sizes, seconds: CI
//	go run . -only realistic,read -out r.json -chart c.svg
//	go run . -from results/results.json -chart results/chart.svg   # tables and chart of a saved run
//
// It exits 1 when any cross-check fails (or when ours cannot store NaN and
// ±Inf exactly, as it promises), 2 on bad flags. Quick mode asserts nothing
// about speed.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
)

func main() { os.Exit(command(os.Args[1:], os.Stdout, os.Stderr)) }

// newSystems gives the systems under test; tests add broken ones.
var newSystems = defaultSystems

func command(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "tiny sizes, seconds (CI); asserts nothing about speed")
	out := fs.String("out", "results.json", "write the results as JSON here (\"\" for none)")
	chart := fs.String("chart", "chart.svg", "draw the SVG chart here (\"\" for none)")
	only := fs.String("only", "", "comma-separated workloads to run: "+strings.Join(workloadNames, ","))
	dir := fs.String("dir", "", "scratch directory (default: a new temporary one, removed at the end)")
	commit := fs.String("commit", "", "the commit measured, for the record (default: git rev-parse HEAD)")
	from := fs.String("from", "", "print the tables and draw the chart of a saved JSON instead of running")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bench: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if *from != "" {
		return replay(*from, *chart, stdout, stderr)
	}
	cfg := Config{Sizes: FullSizes, Quick: *quick, Dir: *dir, Progress: stderr, Systems: newSystems()}
	if *quick {
		cfg.Sizes = QuickSizes
	}
	if *only != "" {
		cfg.Only = strings.Split(*only, ",")
	}
	if cfg.Dir == "" {
		d, err := os.MkdirTemp("", "goodseed-bench-")
		if err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
		defer os.RemoveAll(d)
		cfg.Dir = d
	}
	results, probes, err := Run(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	meta := newMeta(cfg)
	if *commit != "" {
		meta.Commit = *commit
	}
	printHeader(stdout, meta)
	WriteTables(stdout, results, probes, meta.Sizes)
	failures := Failed(results, probes)
	if failures == nil {
		failures = []string{}
	}
	if *out != "" {
		if err := writeJSON(*out, Output{Meta: meta, Results: finite(results), NaNProbe: probes, Failed: failures}); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
	}
	if *chart != "" {
		if err := WriteChart(*chart, results, chartSubtitle(meta)); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
	}
	if len(failures) > 0 {
		fmt.Fprintf(stdout, "\nFAILED cross-checks:\n")
		for _, f := range failures {
			fmt.Fprintf(stdout, "  %s\n", f)
		}
		return 1
	}
	fmt.Fprintf(stdout, "\nevery cross-check held\n")
	return 0
}

// finite drops figures JSON cannot hold (NaN, ±Inf); none is expected.
func finite(rs []Result) []Result {
	for _, r := range rs {
		for k, v := range r.Figures {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				delete(r.Figures, k)
			}
		}
		for k, v := range r.Ratios {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				delete(r.Ratios, k)
			}
		}
	}
	return rs
}

// replay prints the tables of a saved JSON and redraws its chart.
func replay(path, chart string, stdout, stderr io.Writer) int {
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	var o Output
	if err := json.Unmarshal(b, &o); err != nil {
		fmt.Fprintf(stderr, "bench: %s: %v\n", path, err)
		return 1
	}
	printHeader(stdout, o.Meta)
	WriteTables(stdout, o.Results, o.NaNProbe, o.Meta.Sizes)
	if chart != "" {
		if err := WriteChart(chart, o.Results, chartSubtitle(o.Meta)); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
	}
	if len(o.Failed) > 0 {
		return 1
	}
	return 0
}

func printHeader(w io.Writer, m Meta) {
	fmt.Fprintf(w, "GoodSeed Go benchmark harness — %s, %s, %d CPUs (%s), commit %s, quick=%v\n",
		m.Date, m.GoVersion, m.CPUs, m.CPU, m.Commit, m.Quick)
}

func chartSubtitle(m Meta) string {
	return fmt.Sprintf("%s · commit %s · %s · %d CPUs · %s · quick=%v", m.Date[:min(10, len(m.Date))], m.Commit, m.GoVersion, m.CPUs, m.CPU, m.Quick)
}
