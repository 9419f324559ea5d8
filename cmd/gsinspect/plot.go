package main

import (
	"errors"
	"flag"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/segment"
	"github.com/goodseed/goodseed-go/series"
)

// gsinspect plot draws metric series of a run as a line chart (x = step,
// y = value) into an SVG or PNG file, with gonum.org/v1/plot.
//
// What the chart shows, series by series:
//
//   - the finite points as a line; a NaN or ±Inf value breaks the line (a
//     gap) and is marked with a red glyph at that step — × at the top edge
//     for NaN, ▲ at the top for +Inf, ▼ at the bottom for -Inf — and counted
//     in the legend ("train/loss (3 NaN)");
//   - a series longer than --max-points reduced with the engine's
//     power-of-two buckets (series.Downsample, what Reader.Downsample and
//     the HTTP API serve): the line is the bucket means and a light band
//     spans each bucket's min..max, so a spike inside a bucket stays
//     visible; the legend says "downsampled N to M points";
//   - with --log-y, values <= 0 cannot be placed: they are left out (a gap)
//     and counted in the legend.
//
// The legend sits under the plot area, never over the data.

func init() {
	register(&command{
		name:    "plot",
		args:    "RUN --path P [--path P ...] -o FILE.svg|FILE.png",
		summary: "draw metric series (x = step) as a line chart into an SVG or PNG file",
		example: "gsinspect plot default/bright-otter --path train/loss --path eval/loss -o loss.svg\n" +
			"gsinspect plot ./runs/p --path train/loss -o loss.png --width 10in --height 5in --log-y --title 'lr sweep'",
		flags: func(fs *flag.FlagSet) any {
			o := &plotOptions{width: plotLength(8 * vg.Inch), height: plotLength(4.5 * vg.Inch)}
			fs.Var(&o.paths, "path", "metric series to draw (repeat for several)")
			fs.StringVar(&o.out, "o", "", "output file; the format comes from its extension: .svg or .png")
			fs.Var(&o.width, "width", "chart width with a unit: in, cm, mm, pt or px (PNG is 96 px per inch)")
			fs.Var(&o.height, "height", "chart height with a unit: in, cm, mm, pt or px")
			fs.StringVar(&o.title, "title", "", "chart title (default: the run id)")
			fs.IntVar(&o.maxPoints, "max-points", 2000, "a longer series is downsampled to about this many bucket points")
			fs.BoolVar(&o.logY, "log-y", false, "logarithmic value axis (values <= 0 are left out)")
			return o
		},
		run: runPlot,
	})
}

type plotOptions struct {
	paths         plotPaths
	out           string
	width, height plotLength
	title         string
	maxPoints     int
	logY          bool
}

// plotPaths is a repeatable string flag.
type plotPaths []string

func (l *plotPaths) String() string { return strings.Join(*l, ",") }
func (l *plotPaths) Set(s string) error {
	*l = append(*l, s)
	return nil
}

// plotLength is a chart dimension such as "8in", "20cm" or "800px".
type plotLength vg.Length

// plotPxPerInch is the resolution of PNG output (vgimg's default).
const plotPxPerInch = vgimg.DefaultDPI

var plotLengthUnits = []struct {
	suffix string
	unit   vg.Length
}{
	{"in", vg.Inch},
	{"cm", vg.Centimeter},
	{"mm", vg.Millimeter},
	{"pt", vg.Points(1)},
	{"px", vg.Inch / plotPxPerInch},
}

func (l *plotLength) String() string {
	return strconv.FormatFloat(float64(vg.Length(*l)/vg.Inch), 'g', -1, 64) + "in"
}

func (l *plotLength) Set(s string) error {
	for _, u := range plotLengthUnits {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("%q is not a length such as 8in, 20cm or 800px", s)
			}
			*l = plotLength(vg.Length(v) * u.unit)
			return nil
		}
	}
	return fmt.Errorf("%q has no unit: write e.g. 8in, 20cm, 200mm, 576pt or 800px", s)
}

// Chart size bounds: below the minimum the axes leave no room for data;
// the maximum keeps a PNG under about 100 MB of pixels.
const (
	plotMinWidth  = 2 * vg.Inch
	plotMinHeight = 1.5 * vg.Inch
	plotMaxSide   = 50 * vg.Inch
	plotMaxListed = 20
)

// Colours: a colour-blind-friendly qualitative palette (Tableau 10) without
// its red, which marks non-finite values.
var (
	plotColors = []color.RGBA{
		{0x1f, 0x77, 0xb4, 0xff}, // blue
		{0xff, 0x7f, 0x0e, 0xff}, // orange
		{0x2c, 0xa0, 0x2c, 0xff}, // green
		{0x94, 0x67, 0xbd, 0xff}, // purple
		{0x8c, 0x56, 0x4b, 0xff}, // brown
		{0xe3, 0x77, 0xc2, 0xff}, // pink
		{0x7f, 0x7f, 0x7f, 0xff}, // grey
		{0xbc, 0xbd, 0x22, 0xff}, // olive
		{0x17, 0xbe, 0xcf, 0xff}, // cyan
	}
	plotMarkColor = color.RGBA{0xd6, 0x27, 0x28, 0xff} // red
)

// plotSeries is one --path, read and prepared for drawing.
type plotSeries struct {
	path        string
	total       int // points in the series
	plotted     int // points drawn on the line
	nan         int
	posInf      int
	negInf      int
	nonPositive int // finite values <= 0 left out by --log-y
	downsampled bool
	line        plotter.XYs  // NaN Y = a gap
	lo, hi      []float64    // band, when downsampled (parallel to line)
	marks       [3][]float64 // steps of NaN, +Inf, -Inf points
	damage      error        // ReadMetric found damaged blocks
	color       color.RGBA
}

const (
	plotMarkNaN = iota
	plotMarkPosInf
	plotMarkNegInf
)

func runPlot(e *env, opts any, args []string) error {
	o := opts.(*plotOptions)
	if len(args) != 1 {
		return usagef("plot takes one RUN, got %d arguments", len(args))
	}
	if len(o.paths) == 0 {
		return usagef("give the series to draw with --path (repeat it for several)")
	}
	if o.out == "" {
		return usagef("give the output file with -o chart.svg or -o chart.png")
	}
	format := strings.ToLower(filepath.Ext(o.out))
	if format != ".svg" && format != ".png" {
		return usagef("-o %s: the format comes from the extension, which must be .svg or .png", o.out)
	}
	w, h := vg.Length(o.width), vg.Length(o.height)
	if w < plotMinWidth || h < plotMinHeight || w > plotMaxSide || h > plotMaxSide {
		return usagef("chart size %s × %s: the width must be %s to %s and the height %s to %s",
			&o.width, &o.height, plotInches(plotMinWidth), plotInches(plotMaxSide), plotInches(plotMinHeight), plotInches(plotMaxSide))
	}
	if o.maxPoints < 2 {
		return usagef("--max-points %d: must be at least 2", o.maxPoints)
	}

	dir, err := e.resolveRun(args[0])
	if err != nil {
		return err
	}
	if err := plotCheckOutsideRun(o.out, dir); err != nil {
		return err
	}
	r, err := engine.OpenReader(dir, nil)
	if err != nil {
		return err
	}
	defer r.Close()

	var all []*plotSeries
	seen := map[string]bool{}
	for _, p := range o.paths {
		if seen[p] {
			continue
		}
		seen[p] = true
		if err := plotCheckPath(r, p); err != nil {
			return err
		}
		s, err := readPlotSeries(r, p, o.maxPoints, o.logY)
		if err != nil {
			return err
		}
		s.color = plotColors[(len(all))%len(plotColors)]
		all = append(all, s)
	}

	title := o.title
	if title == "" {
		title = "run " + r.RunID()
	}
	wt, err := plotRender(all, title, format, w, h, o.logY)
	if err != nil {
		return err
	}
	if err := plotWriteAtomic(o.out, wt); err != nil {
		return err
	}

	fmt.Fprintf(e.stdout, "wrote %s (%s, %s × %s)\n", o.out, format[1:], &o.width, &o.height)
	width := 0
	for _, s := range all {
		width = max(width, len(s.path))
	}
	damaged := false
	for _, s := range all {
		fmt.Fprintf(e.stdout, "  %-*s  %d points plotted%s\n", width, s.path, s.plotted, s.detail())
		if s.damage != nil {
			damaged = true
			fmt.Fprintf(e.stderr, "gsinspect plot: %s: damaged blocks skipped, the chart shows the readable points: %v\n", s.path, s.damage)
		}
	}
	if damaged {
		return errDamage
	}
	return nil
}

// detail is the stdout note after a series' point count.
func (s *plotSeries) detail() string {
	var parts []string
	if s.downsampled {
		parts = append(parts, fmt.Sprintf("downsampled from %d: bucket means, min/max band", s.total))
	} else if s.plotted != s.total {
		parts = append(parts, fmt.Sprintf("of %d", s.total))
	}
	if c := s.counts(); c != "" {
		parts = append(parts, c+" not plotted")
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

// counts is "3 NaN, 1 +Inf", or "" when every value was plottable.
func (s *plotSeries) counts() string {
	var parts []string
	for _, c := range []struct {
		n    int
		what string
	}{{s.nan, "NaN"}, {s.posInf, "+Inf"}, {s.negInf, "-Inf"}, {s.nonPositive, "<= 0 on log axis"}} {
		if c.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	return strings.Join(parts, ", ")
}

// legendLabel is the series' legend entry.
func (s *plotSeries) legendLabel() string {
	l := s.path
	if c := s.counts(); c != "" {
		l += " (" + c + ")"
	}
	switch {
	case s.total == 0:
		l += " (no points)"
	case s.downsampled:
		l += fmt.Sprintf(" - downsampled %d to %d points (bucket means; band = min/max)", s.total, len(s.line))
	}
	return l
}

// plotCheckPath makes an unknown path, a string series or a config a
// clear error that lists the metric series the run has.
func plotCheckPath(r *engine.Reader, path string) error {
	if _, ok := r.Lookup(path, engine.KindMetric); ok {
		return nil
	}
	var metrics []string
	for _, f := range r.Fields() {
		if f.Kind == engine.KindMetric {
			metrics = append(metrics, f.Path)
		}
	}
	sort.Strings(metrics)
	_, isString := r.Lookup(path, engine.KindString)
	_, isConfig := r.Lookup(path, engine.KindConfig)
	var why string
	switch {
	case isString:
		why = fmt.Sprintf("%q is a string series, not a metric series: only metric series can be plotted", path)
	case isConfig:
		why = fmt.Sprintf("%q is a config, not a metric series: only metric series can be plotted", path)
	default:
		why = fmt.Sprintf("no field %q in %s", path, r.Dir())
	}
	if len(metrics) == 0 {
		return fmt.Errorf("%s; the run has no metric series", why)
	}
	list := metrics
	if len(list) > plotMaxListed {
		list = list[:plotMaxListed]
	}
	msg := fmt.Sprintf("%s; metric series in the run (%d): %s", why, len(metrics), strings.Join(list, ", "))
	if n := len(metrics) - len(list); n > 0 {
		msg += fmt.Sprintf(", ... and %d more ('gsinspect fields RUN' lists them all)", n)
	}
	return errors.New(msg)
}

// readPlotSeries reads one metric series and turns it into what is drawn.
func readPlotSeries(r *engine.Reader, path string, maxPoints int, logY bool) (*plotSeries, error) {
	s := &plotSeries{path: path}
	var cols series.MetricColumns
	if err := r.ReadMetric(path, &cols); err != nil {
		if !errors.Is(err, segment.ErrCorrupt) {
			return nil, err
		}
		s.damage = err // cols holds every readable point
	}
	s.total = cols.Len()
	for i, v := range cols.Values {
		k := -1
		switch {
		case math.IsNaN(v):
			s.nan++
			k = plotMarkNaN
		case math.IsInf(v, 1):
			s.posInf++
			k = plotMarkPosInf
		case math.IsInf(v, -1):
			s.negInf++
			k = plotMarkNegInf
		case logY && v <= 0:
			s.nonPositive++
		}
		if k >= 0 {
			s.marks[k] = append(s.marks[k], cols.Steps[i])
		}
	}
	for k := range s.marks {
		s.marks[k] = plotThinSteps(s.marks[k], maxPoints)
	}

	// The same reduction Reader.Downsample serves (it reads the series and
	// calls series.Downsample); the columns are already here, so reading
	// them a second time would only cost.
	d := series.Downsample(&cols, 0, -1, maxPoints)
	s.downsampled = d.Downsampled
	s.line = make(plotter.XYs, len(d.Points))
	if s.downsampled {
		s.lo = make([]float64, len(d.Points))
		s.hi = make([]float64, len(d.Points))
	}
	for i, p := range d.Points {
		y := p.Value
		if !plotFinite(y) || (logY && y <= 0) {
			y = math.NaN() // a gap
		} else {
			s.plotted++
		}
		s.line[i] = plotter.XY{X: p.Step, Y: y}
		if s.downsampled {
			lo, hi := p.MinY, p.MaxY
			if math.IsNaN(y) || !plotFinite(lo) || !plotFinite(hi) {
				lo, hi = math.NaN(), math.NaN()
			} else if logY && lo <= 0 {
				lo = y // the band cannot reach below zero on a log axis
			}
			s.lo[i], s.hi[i] = lo, hi
		}
	}
	return s, nil
}

func plotFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// plotThinSteps keeps at most about n marker steps, one per equal-width step
// bin, so a series with a million NaN does not draw a million glyphs.
// steps is sorted.
func plotThinSteps(steps []float64, n int) []float64 {
	if len(steps) <= n {
		return steps
	}
	lo, hi := steps[0], steps[len(steps)-1]
	out := steps[:0:0]
	last := -1
	for _, st := range steps {
		b := 0
		if hi > lo {
			b = min(int((st-lo)/(hi-lo)*float64(n)), n-1)
		}
		if b != last {
			out = append(out, st)
			last = b
		}
	}
	return out
}

// plotSegments cuts xys at NaN Y into runs of finite points.
func plotSegments(xys plotter.XYs) []plotter.XYs {
	var segs []plotter.XYs
	start := -1
	for i, p := range xys {
		if math.IsNaN(p.Y) {
			if start >= 0 {
				segs = append(segs, xys[start:i])
				start = -1
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		segs = append(segs, xys[start:])
	}
	return segs
}

// plotRender draws the chart and returns the encoded file.
func plotRender(all []*plotSeries, title, format string, w, h vg.Length, logY bool) (io.WriterTo, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "step"
	p.Y.Label.Text = "value"
	if logY {
		p.Y.Label.Text = "value (log scale)"
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plotLogTicks{}
	}
	p.Add(plotter.NewGrid())

	legend := plot.NewLegend()
	legend.TextStyle.Font = font.From(plot.DefaultFont, 9)
	legend.Top, legend.Left = true, true
	legend.ThumbnailWidth = vg.Points(18)
	legend.Padding = vg.Points(1)

	var marks [3]*plotMarks
	for i := range marks {
		marks[i] = &plotMarks{kind: i}
	}
	for _, s := range all {
		lineStyle := draw.LineStyle{Color: s.color, Width: vg.Points(1.2)}
		band := color.NRGBA{s.color.R, s.color.G, s.color.B, 0x50}
		// The legend's thumbnails: the band (when downsampled), the line.
		thumbs := []plot.Thumbnailer{&plotter.Line{LineStyle: lineStyle}}
		if s.downsampled {
			if rings := plotBandRings(s); len(rings) > 0 {
				p.Add(&plotter.Polygon{XYs: rings, Color: band})
			}
			thumbs = append([]plot.Thumbnailer{&plotter.Polygon{Color: band}}, thumbs...)
		}
		for _, seg := range plotSegments(s.line) {
			if len(seg) == 1 { // an isolated point: a line of one point draws nothing
				p.Add(&plotter.Scatter{XYs: seg, GlyphStyle: draw.GlyphStyle{
					Color: s.color, Radius: vg.Points(1.5), Shape: draw.CircleGlyph{}}})
				continue
			}
			p.Add(&plotter.Line{XYs: seg, LineStyle: lineStyle})
		}
		legend.Add(s.legendLabel(), thumbs...)
		for k := range marks {
			marks[k].steps = append(marks[k].steps, s.marks[k]...)
		}
	}
	for _, m := range marks {
		if len(m.steps) > 0 {
			p.Add(m)
			legend.Add(m.legendLabel(), m)
		}
	}
	if logY {
		// A log axis needs a positive, non-empty range.
		switch {
		case math.IsInf(p.Y.Min, 1) || p.Y.Min <= 0:
			p.Y.Min, p.Y.Max = 1, 10
		case p.Y.Min == p.Y.Max:
			p.Y.Min, p.Y.Max = p.Y.Min/2, p.Y.Max*2
		}
	}

	var canvas vg.CanvasWriterTo
	if format == ".svg" {
		canvas = vgsvg.New(w, h)
	} else {
		canvas = vgimg.PngCanvas{Canvas: vgimg.New(w, h)}
	}
	dc := draw.New(canvas)
	margin := vg.Points(6)
	legendH := legend.Rectangle(dc).Size().Y + margin
	if legendH > h/2 {
		return nil, usagef("%d legend entries do not fit a chart %s high: raise --height or plot fewer series", len(all), plotInches(h))
	}
	area := draw.Crop(dc, 0, -margin, legendH+margin, -margin)
	if logY {
		// gonum places the value-axis label at the arithmetic middle of
		// the range, which on a log axis is near the top, and pads the plot
		// for it: draw the label beside the axis here instead.
		label := p.Y.Label.Text
		p.Y.Label.Text = ""
		sty := p.Y.Label.TextStyle
		lh := sty.Height(label)
		sty.Rotation += math.Pi / 2
		area.FillText(sty, vg.Point{X: area.Min.X + lh - sty.FontExtents().Descent, Y: area.Center().Y}, label)
		area = draw.Crop(area, lh+p.Y.Label.Padding, 0, 0, 0)
	}
	p.Draw(area)
	legend.Draw(draw.Crop(dc, margin, -margin, margin, -(h - legendH)))
	return canvas, nil
}

// plotBandRings turns the downsampled series' min/max band into polygon
// rings, one per run of buckets with finite values: along the highs, then
// back along the lows.
func plotBandRings(s *plotSeries) []plotter.XYs {
	var rings []plotter.XYs
	flush := func(from, to int) { // buckets [from, to)
		if to-from < 2 {
			return // one bucket has no width; its line point shows it
		}
		ring := make(plotter.XYs, 0, 2*(to-from))
		for i := from; i < to; i++ {
			ring = append(ring, plotter.XY{X: s.line[i].X, Y: s.hi[i]})
		}
		for i := to - 1; i >= from; i-- {
			ring = append(ring, plotter.XY{X: s.line[i].X, Y: s.lo[i]})
		}
		rings = append(rings, ring)
	}
	start := 0
	for i := range s.line {
		if math.IsNaN(s.lo[i]) || math.IsNaN(s.hi[i]) {
			flush(start, i)
			start = i + 1
		}
	}
	flush(start, len(s.line))
	return rings
}

// plotMarks draws a red glyph at the step of every NaN (× at the top
// edge), +Inf (▲ at the top) or -Inf (▼ at the bottom) value. It widens the
// step axis to its steps but leaves the value axis alone.
type plotMarks struct {
	kind  int
	steps []float64
}

const plotMarkRadius = 3.5 // points

func (m *plotMarks) style() draw.GlyphStyle {
	sty := draw.GlyphStyle{Color: plotMarkColor, Radius: vg.Points(plotMarkRadius)}
	switch m.kind {
	case plotMarkNaN:
		sty.Shape = plotCross{}
	case plotMarkPosInf:
		sty.Shape = draw.PyramidGlyph{}
	default:
		sty.Shape = plotDownTriangle{}
	}
	return sty
}

func (m *plotMarks) top() bool { return m.kind != plotMarkNegInf }

func (m *plotMarks) legendLabel() string {
	switch m.kind {
	case plotMarkNaN:
		return "NaN value (marked at the top edge)"
	case plotMarkPosInf:
		return "+Inf value (marked at the top edge)"
	default:
		return "-Inf value (marked at the bottom edge)"
	}
}

func (m *plotMarks) Plot(c draw.Canvas, plt *plot.Plot) {
	trX, _ := plt.Transforms(&c)
	y := c.Min.Y
	if m.top() {
		y = c.Max.Y
	}
	sty := m.style()
	for _, st := range m.steps {
		pt := vg.Point{X: trX(st), Y: y}
		if c.ContainsX(pt.X) {
			c.DrawGlyphNoClip(sty, pt)
		}
	}
}

func (m *plotMarks) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, xmax = math.Inf(1), math.Inf(-1)
	for _, st := range m.steps {
		xmin, xmax = math.Min(xmin, st), math.Max(xmax, st)
	}
	return xmin, xmax, math.Inf(1), math.Inf(-1) // no say on the value axis
}

// GlyphBoxes makes the plot pad its data area so the glyphs are not clipped.
func (m *plotMarks) GlyphBoxes(plt *plot.Plot) []plot.GlyphBox {
	y := 0.0
	if m.top() {
		y = 1
	}
	r := vg.Points(plotMarkRadius)
	boxes := make([]plot.GlyphBox, len(m.steps))
	for i, st := range m.steps {
		boxes[i] = plot.GlyphBox{X: plt.X.Norm(st), Y: y,
			Rectangle: vg.Rectangle{Min: vg.Point{X: -r, Y: -r}, Max: vg.Point{X: r, Y: r}}}
	}
	return boxes
}

func (m *plotMarks) Thumbnail(c *draw.Canvas) {
	c.DrawGlyph(m.style(), c.Center())
}

// plotCross is draw.CrossGlyph drawn bolder, so one NaN among a thousand
// points is seen.
type plotCross struct{}

func (plotCross) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	c.SetLineStyle(draw.LineStyle{Color: sty.Color, Width: vg.Points(1.3)})
	r := sty.Radius * vg.Length(math.Cos(math.Pi/4))
	var p vg.Path
	p.Move(vg.Point{X: pt.X - r, Y: pt.Y - r})
	p.Line(vg.Point{X: pt.X + r, Y: pt.Y + r})
	p.Move(vg.Point{X: pt.X - r, Y: pt.Y + r})
	p.Line(vg.Point{X: pt.X + r, Y: pt.Y - r})
	c.Stroke(p)
}

// plotLogTicks is plot.LogTicks without the ticks outside the axis range
// (whose labels would make the plot pad its top for nothing), and with
// labels at 1, 2 and 5 times the powers of ten when the range holds fewer
// than two powers of ten.
type plotLogTicks struct{}

func (plotLogTicks) Ticks(min, max float64) []plot.Tick {
	const eps = 1e-9
	var ticks []plot.Tick
	labeled := 0
	for _, t := range (plot.LogTicks{Prec: -1}).Ticks(min, max) {
		if t.Value < min*(1-eps) || t.Value > max*(1+eps) {
			continue
		}
		if t.Label != "" {
			labeled++
		}
		ticks = append(ticks, t)
	}
	if labeled < 2 {
		for i, t := range ticks {
			m := t.Value / math.Pow10(int(math.Floor(math.Log10(t.Value)+eps)))
			if r := math.Round(m); math.Abs(m-r) < 1e-6 && (r == 1 || r == 2 || r == 5) {
				ticks[i].Label = strconv.FormatFloat(t.Value, 'g', 3, 64)
			}
		}
	}
	return ticks
}

// plotDownTriangle is draw.PyramidGlyph upside down.
type plotDownTriangle struct{}

func (plotDownTriangle) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	c.SetColor(sty.Color)
	r := sty.Radius + (sty.Radius-sty.Radius*vg.Length(math.Sin(math.Pi/6)))/2
	var p vg.Path
	p.Move(vg.Point{X: pt.X, Y: pt.Y - r})
	p.Line(vg.Point{X: pt.X - r*vg.Length(math.Cos(math.Pi/6)), Y: pt.Y + r*vg.Length(math.Sin(math.Pi/6))})
	p.Line(vg.Point{X: pt.X + r*vg.Length(math.Cos(math.Pi/6)), Y: pt.Y + r*vg.Length(math.Sin(math.Pi/6))})
	p.Close()
	c.Fill(p)
}

func plotInches(l vg.Length) string {
	return strconv.FormatFloat(float64(l/vg.Inch), 'g', -1, 64) + "in"
}

// plotCheckOutsideRun refuses an output file inside the run directory:
// gsinspect never writes into a run.
func plotCheckOutsideRun(out, runDir string) error {
	od, err := filepath.Abs(filepath.Dir(out))
	if err != nil {
		return err
	}
	rd, err := filepath.Abs(runDir)
	if err != nil {
		return err
	}
	if r, err := filepath.EvalSymlinks(rd); err == nil {
		rd = r
	}
	if r, err := filepath.EvalSymlinks(od); err == nil {
		od = r
	}
	if rel, err := filepath.Rel(rd, od); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return usagef("-o %s is inside the run directory %s: gsinspect never writes into a run; write the chart elsewhere", out, runDir)
	}
	return nil
}

// plotWriteAtomic writes the chart to a temporary file beside path, syncs
// it and renames it over path, so path is never seen half written.
func plotWriteAtomic(path string, wt io.WriterTo) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write the chart: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = wt.WriteTo(f); err != nil {
		return fmt.Errorf("write the chart to %s: %w", tmp, err)
	}
	if err = f.Chmod(0o644); err != nil {
		return fmt.Errorf("write the chart: %w", err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("write the chart: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write the chart: %w", err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write the chart: %w", err)
	}
	if d, derr := os.Open(dir); derr == nil { // make the rename durable; best effort
		d.Sync()
		d.Close()
	}
	return nil
}
