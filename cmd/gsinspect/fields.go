package main

import (
	"flag"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/series"
)

type fieldsOpts struct {
	kind   string
	prefix string
}

func init() {
	register(&command{
		name:    "fields",
		args:    "RUN [--kind metric|string|config] [--prefix P]",
		summary: "every path: kind, count, step range, last value, and a sparkline of each metric",
		example: "gsinspect fields vision/bold-falcon\n" +
			"gsinspect fields vision/bold-falcon --kind metric --prefix train/\n\n" +
			"COUNT is the points read (one per step: a step written again counts once).\n" +
			"LAST is the value at the greatest step; a config's value is followed by its\n" +
			"type tag. The sparkline splits the steps into up to " + fmt.Sprint(sparkWidth) + " equal-width\n" +
			"buckets and draws each bucket's mean with ▁▂▃▄▅▆▇█; a bucket holding NaN,\n" +
			"+Inf or -Inf shows " + sparkNonFinite + ". Blocks that fail their checksum are skipped and\n" +
			"noted below the table (exit status 0: 'gsinspect verify' is the damage check).",
		flags: func(fs *flag.FlagSet) any {
			o := &fieldsOpts{}
			fs.StringVar(&o.kind, "kind", "", "only fields of this kind: metric, string or config")
			fs.StringVar(&o.prefix, "prefix", "", "only paths starting with `P`")
			return o
		},
		run: runFields,
	})
}

// Sparklines.
const (
	sparkWidth     = 24
	sparkLevels    = "▁▂▃▄▅▆▇█"
	sparkNonFinite = "×"
	lastTextChars  = 40
)

// parseKind reads a --kind value; 0 for "".
func parseKind(s string) (engine.FieldKind, error) {
	switch s {
	case "":
		return 0, nil
	case "metric":
		return engine.KindMetric, nil
	case "string":
		return engine.KindString, nil
	case "config":
		return engine.KindConfig, nil
	}
	return 0, usagef("--kind %q: want metric, string or config", s)
}

// sortedFields returns the run's fields in path order.
func sortedFields(rd *engine.Reader) []engine.FieldInfo {
	fs := rd.Fields()
	slices.SortFunc(fs, func(a, b engine.FieldInfo) int { return strings.Compare(a.Path, b.Path) })
	return fs
}

func runFields(e *env, opts any, args []string) error {
	o := opts.(*fieldsOpts)
	kind, err := parseKind(o.kind)
	if err != nil {
		return err
	}
	_, rd, err := e.openRun("fields", args)
	if err != nil {
		return err
	}
	defer rd.Close()
	configs := rd.Configs()
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PATH\tKIND\tCOUNT\tSTEPS\tSPARKLINE\tLAST")
	var (
		notes []string
		mc    series.MetricColumns
		shown int
	)
	for _, f := range sortedFields(rd) {
		if kind != 0 && f.Kind != kind || !strings.HasPrefix(f.Path, o.prefix) {
			continue
		}
		if err := e.ctx.Err(); err != nil {
			return err
		}
		shown++
		count, steps, last, spark := "-", "-", "-", ""
		var rerr error
		switch f.Kind {
		case engine.KindMetric:
			rerr = rd.ReadMetric(f.Path, &mc)
			if n := mc.Len(); n > 0 {
				count = fmt.Sprint(n)
				steps = num(mc.Steps[0]) + ".." + num(mc.Steps[n-1])
				last = num(mc.Values[n-1])
				spark = sparkline(&mc, sparkWidth)
			} else {
				count = "0"
			}
		case engine.KindString:
			var sc series.StringColumns
			rerr = rd.ReadString(f.Path, &sc)
			if n := sc.Len(); n > 0 {
				count = fmt.Sprint(n)
				steps = num(sc.Steps[0]) + ".." + num(sc.Steps[n-1])
				last = quoteClip(sc.Values[n-1], lastTextChars)
			} else {
				count = "0"
			}
		case engine.KindConfig:
			if c, ok := configs[f.Path]; ok {
				last = configText(c.Value, lastTextChars) + " (" + c.Value.Type.String() + ")"
			}
		}
		if rerr != nil {
			notes = append(notes, fmt.Sprintf("%s: %v", sanitize(f.Path), sanitize(rerr.Error())))
			count += fmt.Sprintf(" [%d]", len(notes))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", sanitize(f.Path), f.Kind, count, steps, spark, last)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if shown == 0 {
		fmt.Fprintln(e.stdout, "(no fields match)")
	}
	for i, n := range notes {
		fmt.Fprintf(e.stdout, "[%d] damaged blocks skipped: %s\n", i+1, n)
	}
	return nil
}

// sparkline draws c (sorted by step) in at most width characters: one per
// non-empty equal-width step bucket (series.BucketByStep), its mean scaled
// between the smallest and largest bucket means onto ▁..█; a bucket with
// any NaN or infinite value is sparkNonFinite.
func sparkline(c *series.MetricColumns, width int) string {
	buckets := series.BucketByStep(c, width)
	lo, hi := math.Inf(1), math.Inf(-1)
	nonFinite := make([]bool, len(buckets))
	i := 0
	for b, bk := range buckets {
		for _, v := range c.Values[i : i+bk.Count] {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				nonFinite[b] = true
			}
		}
		i += bk.Count
		if !math.IsNaN(bk.Avg) {
			lo, hi = min(lo, bk.Avg), max(hi, bk.Avg)
		}
	}
	levels := []rune(sparkLevels)
	var sb strings.Builder
	for b, bk := range buckets {
		switch {
		case nonFinite[b] || math.IsNaN(bk.Avg):
			sb.WriteString(sparkNonFinite)
		case !(hi > lo) || math.IsInf(hi-lo, 0):
			sb.WriteRune(levels[len(levels)/2])
		default:
			l := int(math.Round((bk.Avg - lo) / (hi - lo) * float64(len(levels)-1)))
			sb.WriteRune(levels[min(max(l, 0), len(levels)-1)])
		}
	}
	return sb.String()
}

// quoteClip renders text from a run Go-quoted (strconv.Quote escapes
// controls, bidi overrides and zero-width characters, so nothing hides),
// the text cut to at most n characters with "…" marking a cut.
func quoteClip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return strconv.Quote(s)
	}
	q := strconv.Quote(string([]rune(s)[:n-1]))
	return q[:len(q)-1] + "…\""
}

// configText renders a config value: strings quoted, sets as a list,
// times in RFC 3339, numbers as num does, clipped to n characters.
func configText(v engine.Value, n int) string {
	var s string
	switch v.Type {
	case engine.TypeNull:
		s = "null"
	case engine.TypeBool:
		s = fmt.Sprint(v.Bool)
	case engine.TypeInt:
		s = v.IntText()
	case engine.TypeFloat:
		s = num(v.Float)
	case engine.TypeString:
		return quoteClip(v.Str, n)
	case engine.TypeTime:
		s = v.String() // its offset as given, none when naive
	case engine.TypeStringSet:
		q := make([]string, len(v.Set))
		for i, x := range v.Set {
			q[i] = fmt.Sprintf("%q", x)
		}
		s = "{" + strings.Join(q, ", ") + "}"
	default:
		s = "?"
	}
	return clip(s, n)
}
