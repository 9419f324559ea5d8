package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"image/color"
	"image/png"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/goodseed/goodseed-go/run"
)

// The plot fixture: a closed run with
//
//	train/loss  1000 points, NaN at step 10, +Inf at 20, -Inf at 30 (997 finite)
//	eval/acc    100 points, all finite
//	big/wave    100,000 points (downsampled at the default --max-points)
//	neg/ramp    50 points from -10 to 39 (11 values <= 0)
//	text/log    a string series
//	params/lr   a config
const (
	plotLossN = 1000
	plotAccN  = 100
	plotBigN  = 100_000
	plotRampN = 50
)

// plotRunDir builds the fixture in a fresh temporary home and returns the
// run directory.
func plotRunDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	r, err := run.New(run.Options{Home: dir, RunID: "p", Quiet: true, Git: run.GitOptions{Disabled: true}, Monitoring: run.MonitoringOptions{Off: true}})
	if err != nil {
		t.Fatal(err)
	}
	loss, acc, big, ramp := r.Field("train/loss"), r.Field("eval/acc"), r.Field("big/wave"), r.Field("neg/ramp")
	for i := range plotLossN {
		v := 2 / float64(i+1)
		switch i {
		case 10:
			v = math.NaN()
		case 20:
			v = math.Inf(1)
		case 30:
			v = math.Inf(-1)
		}
		plotMust(t, loss.Log(v, float64(i)))
	}
	for i := range plotAccN {
		plotMust(t, acc.Log(float64(i)/plotAccN, float64(i*10)))
	}
	for i := range plotBigN {
		v := math.Sin(float64(i) / 1000)
		if i == 54_321 {
			v = 25 // a spike the band must keep
		}
		plotMust(t, big.Log(v, float64(i)))
	}
	for i := range plotRampN {
		plotMust(t, ramp.Log(float64(i-10), float64(i)))
	}
	plotMust(t, r.Field("text/log").LogString("epoch 1", 0))
	plotMust(t, r.Set("params/lr", 0.01))
	plotMust(t, r.Close())
	return r.Dir()
}

func plotMust(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// plotHashTree maps every file under dir to the SHA-256 of its bytes.
func plotHashTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	sums := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		h := sha256.Sum256(b)
		rel, _ := filepath.Rel(dir, p)
		sums[rel] = hex.EncodeToString(h[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sums
}

// plotSVGDoc decodes an SVG with encoding/xml and returns its <text> contents
// and the style attributes of its <path> elements.
func plotSVGDoc(t *testing.T, b []byte) (texts, pathStyles []string) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	inText := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			switch tok.Name.Local {
			case "text":
				inText = true
				texts = append(texts, "")
			case "path":
				for _, a := range tok.Attr {
					if a.Name.Local == "style" {
						pathStyles = append(pathStyles, a.Value)
					}
				}
			}
		case xml.EndElement:
			if tok.Name.Local == "text" {
				inText = false
			}
		case xml.CharData:
			if inText {
				texts[len(texts)-1] += string(tok)
			}
		}
	}
	return texts, pathStyles
}

// plotLine finds the stdout line of a series and returns its point count.
func plotLine(t *testing.T, stdout, path string) (int, string) {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\s+` + regexp.QuoteMeta(path) + `\s+(\d+) points plotted(.*)$`).FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no stdout line for %s in:\n%s", path, stdout)
	}
	n, _ := strconv.Atoi(m[1])
	return n, m[2]
}

func TestPlotSVG(t *testing.T) {
	dir := plotRunDir(t)
	before := plotHashTree(t, dir)
	out := filepath.Join(t.TempDir(), "chart.svg")
	res := runCmd(t, nil, nil, "plot", dir, "--path", "train/loss", "--path", "eval/acc", "--path", "big/wave", "-o", out, "--title", "my chart")
	if res.code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	if !strings.Contains(res.stdout, "wrote "+out) {
		t.Errorf("stdout does not name the output file:\n%s", res.stdout)
	}
	if n, note := plotLine(t, res.stdout, "train/loss"); n != plotLossN-3 || !strings.Contains(note, "1 NaN, 1 +Inf, 1 -Inf") {
		t.Errorf("train/loss: %d points plotted%s; want %d and the NaN/Inf counts", n, note, plotLossN-3)
	}
	if n, note := plotLine(t, res.stdout, "eval/acc"); n != plotAccN || note != "" {
		t.Errorf("eval/acc: %d points plotted%s; want %d, no note", n, note, plotAccN)
	}
	n, note := plotLine(t, res.stdout, "big/wave")
	if n > 2000+2 || n < 1000 || !strings.Contains(note, "downsampled from 100000") {
		t.Errorf("big/wave: %d points plotted%s; want a downsampled count <= 2002", n, note)
	}

	b, err := os.ReadFile(out)
	plotMust(t, err)
	texts, styles := plotSVGDoc(t, b)
	all := strings.Join(texts, "\n")
	for _, want := range []string{
		"my chart",
		"train/loss (1 NaN, 1 +Inf, 1 -Inf)",
		"eval/acc",
		"big/wave - downsampled 100000 to " + strconv.Itoa(n) + " points",
		"NaN value (marked at the top edge)",
		"+Inf value (marked at the top edge)",
		"-Inf value (marked at the bottom edge)",
		"step", "value",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("SVG text lacks %q; texts:\n%s", want, all)
		}
	}
	// One stroked path at least per series, in the series' colour; the
	// downsampled one also gets a filled (band) path.
	for i, path := range []string{"train/loss", "eval/acc", "big/wave"} {
		c := strings.ToUpper(plotHex(i))
		var stroked, filled int
		for _, s := range styles {
			if strings.Contains(s, "stroke:"+c) {
				stroked++
			}
			if strings.Contains(s, "fill-opacity") && plotNearColor(s, "fill:", plotColors[i]) {
				filled++
			}
		}
		// legend thumbnail + at least one data line; train/loss is cut in
		// four by its NaN and Infs: 1 + 4 paths.
		wantStroked := 2
		if path == "train/loss" {
			wantStroked = 5
		}
		if stroked < wantStroked {
			t.Errorf("%s: %d stroked paths in %s, want >= %d", path, stroked, c, wantStroked)
		}
		if wantBand := path == "big/wave"; (filled >= 2) != wantBand {
			t.Errorf("%s: %d translucent filled paths (band + legend), want band %v", path, filled, wantBand)
		}
	}
	// The markers: a red path per non-finite point (3) plus their legend
	// thumbnails (3).
	red := 0
	for _, s := range styles {
		if strings.Contains(s, "#D62728") {
			red++
		}
	}
	if red != 6 {
		t.Errorf("%d red marker paths, want 6 (NaN, +Inf and -Inf, chart and legend)", red)
	}
	// The spike at 25 is inside a bucket of mean ~sin: the band must reach
	// it, so the value axis runs past 20 (the line alone stays under 2).
	if !strings.Contains(all, "\n25\n") && !strings.Contains(all, "\n20\n") {
		t.Errorf("value axis does not reach the spike at 25 (ticks: %q)", all)
	}
	plotAssertSame(t, dir, before)
	plotAssertNoTemp(t, filepath.Dir(out))
}

// plotNearColor says whether style has key (e.g. "fill:") with a colour
// within 2 of c in each channel: the SVG writer un-premultiplies a
// translucent colour, which can round a channel by one.
func plotNearColor(style, key string, c color.RGBA) bool {
	i := strings.Index(style, key+"#")
	if i < 0 || len(style) < i+len(key)+7 {
		return false
	}
	b, err := hex.DecodeString(style[i+len(key)+1 : i+len(key)+7])
	if err != nil {
		return false
	}
	near := func(a, b uint8) bool { return int(a)-int(b) <= 2 && int(b)-int(a) <= 2 }
	return near(b[0], c.R) && near(b[1], c.G) && near(b[2], c.B)
}

func plotHex(i int) string {
	c := plotColors[i]
	return "#" + hex.EncodeToString([]byte{c.R, c.G, c.B})
}

func plotAssertSame(t *testing.T, dir string, before map[string]string) {
	t.Helper()
	after := plotHashTree(t, dir)
	if len(after) != len(before) {
		t.Errorf("run directory had %d files, now %d", len(before), len(after))
	}
	for f, h := range before {
		if after[f] != h {
			t.Errorf("run file %s changed", f)
		}
	}
}

func plotAssertNoTemp(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	plotMust(t, err)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

func TestPlotPNG(t *testing.T) {
	dir := plotRunDir(t)
	before := plotHashTree(t, dir)
	out := filepath.Join(t.TempDir(), "chart.PNG")
	res := runCmd(t, nil, nil, "plot", dir, "--path", "train/loss", "-o", out, "--width", "600px", "--height", "3in", "--log-y")
	if res.code != exitOK {
		t.Fatalf("exit %d\nstderr:\n%s", res.code, res.stderr)
	}
	f, err := os.Open(out)
	plotMust(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 600 || b.Dy() != 288 {
		t.Errorf("PNG is %d×%d px, want 600×288 (600px × 3in at 96 dpi)", b.Dx(), b.Dy())
	}
	// Something besides the white background was drawn in the series' blue.
	var blue int
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r>>8 < 0x40 && g>>8 > 0x60 && g>>8 < 0x90 && bl>>8 > 0xa0 {
				blue++
			}
		}
	}
	if blue < 100 {
		t.Errorf("only %d blue pixels: the series line is missing", blue)
	}
	plotAssertSame(t, dir, before)
}

func TestPlotMaxPoints(t *testing.T) {
	dir := plotRunDir(t)
	out := filepath.Join(t.TempDir(), "c.svg")
	res := runCmd(t, nil, nil, "plot", dir, "--path", "eval/acc", "--max-points", "16", "-o", out)
	if res.code != exitOK {
		t.Fatalf("exit %d\nstderr:\n%s", res.code, res.stderr)
	}
	// 100 points into buckets of k = 8 (the smallest power of two with
	// ceil(100/k) <= 16): 13 buckets, plus up to two raw bookends.
	n, note := plotLine(t, res.stdout, "eval/acc")
	if n < 13 || n > 15 || !strings.Contains(note, "downsampled from 100") {
		t.Errorf("eval/acc at --max-points 16: %d points%s; want 13 to 15, downsampled", n, note)
	}
	b, err := os.ReadFile(out)
	plotMust(t, err)
	texts, _ := plotSVGDoc(t, b)
	if all := strings.Join(texts, "\n"); !strings.Contains(all, "eval/acc - downsampled 100 to "+strconv.Itoa(n)+" points") {
		t.Errorf("legend does not say eval/acc is downsampled; texts:\n%s", all)
	}
}

func TestPlotLogY(t *testing.T) {
	dir := plotRunDir(t)
	out := filepath.Join(t.TempDir(), "c.svg")
	res := runCmd(t, nil, nil, "plot", dir, "--path", "neg/ramp", "--path", "eval/acc", "--log-y", "-o", out)
	if res.code != exitOK {
		t.Fatalf("exit %d\nstderr:\n%s", res.code, res.stderr)
	}
	// neg/ramp holds -10..39: the 11 values <= 0 cannot go on a log axis.
	n, note := plotLine(t, res.stdout, "neg/ramp")
	if n != plotRampN-11 || !strings.Contains(note, "11 <= 0 on log axis") {
		t.Errorf("neg/ramp with --log-y: %d points%s; want %d and 11 left out", n, note, plotRampN-11)
	}
	// eval/acc starts at 0.
	if n, note := plotLine(t, res.stdout, "eval/acc"); n != plotAccN-1 || !strings.Contains(note, "1 <= 0 on log axis") {
		t.Errorf("eval/acc with --log-y: %d points%s; want %d", n, note, plotAccN-1)
	}
	b, err := os.ReadFile(out)
	plotMust(t, err)
	texts, _ := plotSVGDoc(t, b)
	all := strings.Join(texts, "\n")
	for _, want := range []string{"value (log scale)", "neg/ramp (11 <= 0 on log axis)", "\n0.1\n", "\n10\n"} {
		if !strings.Contains(all, want) {
			t.Errorf("SVG text lacks %q; texts:\n%s", want, all)
		}
	}
	if strings.Contains(all, "NaN") || strings.Contains(all, "Inf") {
		t.Errorf("legend mentions NaN or Inf, but neither series holds one:\n%s", all)
	}
}

func TestPlotErrors(t *testing.T) {
	dir := plotRunDir(t)
	before := plotHashTree(t, dir)
	tmp := t.TempDir()
	svg := filepath.Join(tmp, "c.svg")
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"unknown path", []string{dir, "--path", "train/nope", "-o", svg},
			[]string{`no field "train/nope"`, "metric series in the run (4): big/wave, eval/acc, neg/ramp, train/loss"}},
		{"string series", []string{dir, "--path", "text/log", "-o", svg},
			[]string{`"text/log" is a string series, not a metric series`, "train/loss"}},
		{"config", []string{dir, "--path", "params/lr", "-o", svg},
			[]string{`"params/lr" is a config, not a metric series`, "eval/acc"}},
		{"bad extension", []string{dir, "--path", "train/loss", "-o", filepath.Join(tmp, "c.pdf")},
			[]string{"must be .svg or .png", "usage: gsinspect plot"}},
		{"no -o", []string{dir, "--path", "train/loss"}, []string{"-o chart.svg"}},
		{"no --path", []string{dir, "-o", svg}, []string{"--path"}},
		{"no unit", []string{dir, "--path", "train/loss", "-o", svg, "--width", "8"}, []string{"has no unit"}},
		{"too small", []string{dir, "--path", "train/loss", "-o", svg, "--width", "1in"}, []string{"the width must be 2in to 50in"}},
		{"inside the run", []string{dir, "--path", "train/loss", "-o", filepath.Join(dir, "c.svg")}, []string{"never writes into a run"}},
		{"two runs", []string{dir, dir, "--path", "train/loss", "-o", svg}, []string{"one RUN, got 2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := runCmd(t, nil, nil, append([]string{"plot"}, tc.args...)...)
			if res.code != exitError {
				t.Errorf("exit %d, want %d", res.code, exitError)
			}
			for _, w := range tc.want {
				if !strings.Contains(res.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, res.stderr)
				}
			}
			if _, err := os.Stat(svg); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("an output file was written: %v", err)
			}
		})
	}
	plotAssertSame(t, dir, before)
	plotAssertNoTemp(t, tmp)
}

// The metric list in the error stops at 20 paths and says how many more.
func TestPlotErrorListsTwentyPaths(t *testing.T) {
	home := t.TempDir()
	r, err := run.New(run.Options{Home: home, RunID: "many", Quiet: true, Git: run.GitOptions{Disabled: true}, Monitoring: run.MonitoringOptions{Off: true}})
	plotMust(t, err)
	for i := range 25 {
		plotMust(t, r.Field("m/"+strconv.Itoa(100+i)).Log(1, 0))
	}
	plotMust(t, r.Close())
	res := runCmd(t, nil, nil, "plot", r.Dir(), "--path", "x", "-o", filepath.Join(t.TempDir(), "c.svg"))
	if res.code != exitError {
		t.Fatalf("exit %d", res.code)
	}
	if !strings.Contains(res.stderr, "(25): m/100,") || !strings.Contains(res.stderr, "m/119, ... and 5 more") || strings.Contains(res.stderr, "m/120") {
		t.Errorf("want the first 20 of 25 paths and '5 more':\n%s", res.stderr)
	}
}

// A series of only NaN, and an empty chart area, still make a chart: the
// axes fall back to a default range, on a log axis too.
func TestPlotAllNaN(t *testing.T) {
	home := t.TempDir()
	r, err := run.New(run.Options{Home: home, RunID: "nan", Quiet: true, Git: run.GitOptions{Disabled: true}, Monitoring: run.MonitoringOptions{Off: true}})
	plotMust(t, err)
	for i := range 5 {
		plotMust(t, r.Field("bad").Log(math.NaN(), float64(i)))
	}
	plotMust(t, r.Close())
	for _, logY := range []string{"--log-y=false", "--log-y"} {
		out := filepath.Join(t.TempDir(), "c.svg")
		res := runCmd(t, nil, nil, "plot", r.Dir(), "--path", "bad", "-o", out, logY)
		if res.code != exitOK {
			t.Fatalf("%s: exit %d\nstderr:\n%s", logY, res.code, res.stderr)
		}
		if n, note := plotLine(t, res.stdout, "bad"); n != 0 || !strings.Contains(note, "5 NaN not plotted") {
			t.Errorf("%s: %d points plotted%s", logY, n, note)
		}
		b, err := os.ReadFile(out)
		plotMust(t, err)
		if texts, _ := plotSVGDoc(t, b); !strings.Contains(strings.Join(texts, "\n"), "bad (5 NaN)") {
			t.Errorf("%s: legend lacks 'bad (5 NaN)': %q", logY, texts)
		}
	}
}

func TestPlotHelpHasExample(t *testing.T) {
	res := runCmd(t, nil, nil, "plot", "--help")
	if res.code != exitOK || !strings.Contains(res.stdout, "example:\n  gsinspect plot ") || !strings.Contains(res.stdout, "-max-points") {
		t.Errorf("exit %d, help:\n%s", res.code, res.stdout)
	}
}

func TestPlotThinSteps(t *testing.T) {
	steps := make([]float64, 10_000)
	for i := range steps {
		steps[i] = float64(i)
	}
	got := plotThinSteps(steps, 100)
	if len(got) != 100 || got[0] != 0 || got[99] != 9900 {
		t.Errorf("thinned to %d steps, first %v last %v; want 100 from 0 to 9900", len(got), got[0], got[len(got)-1])
	}
	if short := plotThinSteps(steps[:50], 100); len(short) != 50 {
		t.Errorf("a short list was thinned to %d", len(short))
	}
}

// A damaged block is skipped: the chart shows the readable points, stderr
// says what was skipped, and the exit status is 1 (damage found).
func TestPlotDamagedRun(t *testing.T) {
	dir := plotRunDir(t)
	segs, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	plotMust(t, err)
	if len(segs) != 1 {
		t.Fatalf("want one segment, found %v", segs)
	}
	b, err := os.ReadFile(segs[0])
	plotMust(t, err)
	b[len(b)/2] ^= 0xff // inside one of big/wave's blocks: it is most of the file
	plotMust(t, os.WriteFile(segs[0], b, 0o644))
	before := plotHashTree(t, dir)

	out := filepath.Join(t.TempDir(), "c.svg")
	res := runCmd(t, nil, nil, "plot", dir, "--path", "big/wave", "-o", out)
	if res.code != exitDamage {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", res.code, exitDamage, res.stdout, res.stderr)
	}
	if !strings.Contains(res.stderr, "big/wave: damaged blocks skipped") {
		t.Errorf("stderr does not report the damage:\n%s", res.stderr)
	}
	if _, err := os.Stat(out); err != nil {
		t.Errorf("no chart of the readable points: %v", err)
	}
	if n, note := plotLine(t, res.stdout, "big/wave"); n == 0 || strings.Contains(note, "from 100000") {
		t.Errorf("big/wave: %d points plotted%s; want the readable points, fewer than 100000", n, note)
	}
	plotAssertSame(t, dir, before)
}
