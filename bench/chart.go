package main

import (
	"fmt"
	"html"
	"math"
	"os"
	"strconv"
	"strings"
)

// The chart is hand-written SVG: two panels of grouped bars on log scales,
// write throughput and bytes on disk per point, one bar per system in each
// workload. Rows that failed their cross-check are not drawn.

var chartSystems = []struct{ name, color string }{
	{"goodseed", "#1b9e77"},
	{"sqlite", "#d95f02"},
	{"jsonl-gz", "#7570b3"},
	{"prom-xor", "#e7298a"},
	{pythonName, "#999999"},
}

var chartWorkloads = []string{"single", "realistic", "adversarial", "parallel", "strings", "manyruns"}

type panel struct {
	title string
	key   string
	label func(float64) string // a bar's value
	tick  func(float64) string // an axis tick, a power of ten
}

// WriteChart draws the chart of rs to path.
func WriteChart(path string, rs []Result, subtitle string) error {
	panels := []panel{
		{"Write throughput, points (lines) per second, logged and closed — log scale, higher is better", "points_per_s",
			func(v float64) string { return strings.ReplaceAll(fmtRate(v), " ", "") },
			func(v float64) string { return strings.ReplaceAll(fmtRate(v), " ", "") }},
		{"Bytes on disk per point (line) — log scale, lower is better", "bytes_per_point",
			func(v float64) string { return fmt.Sprintf("%.3g", v) },
			func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }},
	}
	var groups []string
	for _, w := range chartWorkloads {
		for _, r := range rs {
			if r.Workload == w {
				groups = append(groups, w)
				break
			}
		}
	}
	const (
		width, left, right = 980.0, 70.0, 20.0
		top, panelH, gap   = 80.0, 300.0, 90.0
	)
	height := top + float64(len(panels))*(panelH+gap) + 10
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="24" font-size="16" font-weight="bold">GoodSeed Go benchmark harness (bench/)</text>`+"\n", left)
	fmt.Fprintf(&b, `<text x="%.0f" y="42" font-size="11" fill="#444">%s</text>`+"\n", left, html.EscapeString(subtitle))
	// legend
	x := left
	for _, s := range chartSystems {
		fmt.Fprintf(&b, `<rect x="%.0f" y="52" width="12" height="12" fill="%s"/><text x="%.0f" y="62" font-size="11">%s</text>`+"\n", x, s.color, x+16, html.EscapeString(s.name))
		x += 22 + 6.5*float64(len(s.name))
	}
	plotW := width - left - right
	for pi, p := range panels {
		y0 := top + float64(pi)*(panelH+gap) + 20
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, r := range rs {
			if v, ok := r.Figures[p.key]; ok && v > 0 && (r.Status == statusOK || r.Status == statusReference) {
				lo, hi = min(lo, v), max(hi, v)
			}
		}
		if math.IsInf(lo, 0) {
			continue
		}
		dLo, dHi := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
		if dHi == dLo {
			dHi++
		}
		top := dHi + 0.3 // headroom for the labels of the tallest bars
		yOf := func(v float64) float64 { return y0 + panelH - (math.Log10(v)-dLo)/(top-dLo)*panelH }
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-size="13" font-weight="bold">%s</text>`+"\n", left, y0-8, html.EscapeString(p.title))
		for d := dLo; d <= dHi; d++ {
			v := math.Pow(10, d)
			y := yOf(v)
			fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#ddd"/>`, left, width-right, y, y)
			fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" font-size="10" text-anchor="end">%s</text>`+"\n", left-6, y+3, p.tick(v))
		}
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.0f" y2="%.0f" stroke="#333"/>`+"\n", left, width-right, y0+panelH, y0+panelH)
		gw := plotW / float64(len(groups))
		bw := (gw - 16) / float64(len(chartSystems))
		for gi, w := range groups {
			gx := left + float64(gi)*gw + 8
			fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" font-size="12" text-anchor="middle">%s</text>`+"\n", gx+(gw-16)/2, y0+panelH+16, w)
			for si, s := range chartSystems {
				for _, r := range rs {
					if r.Workload != w || r.System != s.name || (r.Status != statusOK && r.Status != statusReference) {
						continue
					}
					v, ok := r.Figures[p.key]
					if !ok || v <= 0 {
						continue
					}
					label := p.label(v)
					if r.Status == statusReference && p.key == "bytes_per_point" {
						label = fmt.Sprintf("%g–%g", r.Figures["bytes_per_point_lo"], r.Figures["bytes_per_point_hi"])
					}
					bx, by := gx+float64(si)*bw, yOf(v)
					fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %s</title></rect>`,
						bx+1, by, bw-2, y0+panelH-by, s.color, html.EscapeString(s.name), w, label)
					fmt.Fprintf(&b, `<text transform="translate(%.1f,%.1f) rotate(-90)" font-size="9">%s</text>`+"\n", bx+bw/2+3, by-3, label)
				}
			}
		}
	}
	b.WriteString("</svg>\n")
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
