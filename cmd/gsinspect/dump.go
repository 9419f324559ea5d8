package main

import (
	"bufio"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/series"
)

// pathList is a repeatable --path flag.
type pathList []string

func (p *pathList) String() string { return strings.Join(*p, ",") }

func (p *pathList) Set(v string) error {
	*p = append(*p, strings.Trim(v, "/"))
	return nil
}

type dumpOpts struct {
	paths   pathList
	format  string
	configs bool
	meta    bool
}

func init() {
	register(&command{
		name:    "dump",
		args:    "RUN [--path P]... [--format jsonl|csv] [--configs] [--meta]",
		summary: "decoded points, configs and run meta as JSON lines or CSV",
		example: "gsinspect dump vision/bold-falcon > all.jsonl          # everything\n" +
			"gsinspect dump vision/bold-falcon --path train/loss --format csv\n" +
			"gsinspect dump vision/bold-falcon --configs --meta      # no points\n\n" +
			"Without --path, --configs or --meta everything is dumped: meta (by key),\n" +
			"configs (by path), then every series (by path), each in step order with\n" +
			"the last write of a step winning. jsonl lines:\n" +
			`  {"path":"train/loss","kind":"metric","step":1,"value":0.5,"time":"2026-01-02T03:04:05.678Z"}` + "\n" +
			`  {"path":"notes","kind":"string","step":1,"value":"text","time":"..."}` + "\n" +
			`  {"path":"optimizer/lr","kind":"config","type":"float","value":0.001,"time":"..."}` + "\n" +
			`  {"meta":"status","value":"finished","time":"..."}` + "\n" +
			"JSON has no NaN or infinities: those values are the strings \"NaN\",\n" +
			"\"Infinity\" and \"-Infinity\" (CSV uses the same words). A string_set config's\n" +
			"value is an array; a datetime's an RFC 3339 string. csv columns are\n" +
			"path,kind,step,value,time (RFC 4180 quoting); configs and meta have no step\n" +
			"and their value as text. Times are UTC, milliseconds (datetime configs: ns).\n" +
			"Blocks that fail their checksum are skipped and reported on stderr, and\n" +
			"the exit status is then 1: the dump holds every readable point.",
		flags: func(fs *flag.FlagSet) any {
			o := &dumpOpts{}
			fs.Var(&o.paths, "path", "dump field `P` (repeatable); a config's path dumps its value")
			fs.StringVar(&o.format, "format", "jsonl", "output format: jsonl or csv")
			fs.BoolVar(&o.configs, "configs", false, "dump every config")
			fs.BoolVar(&o.meta, "meta", false, "dump the run meta (status, created_at, ...)")
			return o
		},
		run: runDump,
	})
}

// dumper writes one format.
type dumper interface {
	meta(key string, m engine.MetaEntry) error
	config(path string, c engine.ConfigEntry) error
	metric(path string, c *series.MetricColumns) error
	text(path string, c *series.StringColumns) error
	flush() error
}

func runDump(e *env, opts any, args []string) error {
	o := opts.(*dumpOpts)
	if o.format != "jsonl" && o.format != "csv" {
		return usagef("--format %q: want jsonl or csv", o.format)
	}
	_, rd, err := e.openRun("dump", args)
	if err != nil {
		return err
	}
	defer rd.Close()
	all := len(o.paths) == 0 && !o.configs && !o.meta
	var fields []engine.FieldInfo
	if all {
		fields = sortedFields(rd)
	} else {
		for _, p := range o.paths {
			found := false
			for _, k := range []engine.FieldKind{engine.KindConfig, engine.KindMetric, engine.KindString} {
				f, ok := rd.Lookup(p, k)
				if ok && !slices.Contains(fields, f) {
					fields = append(fields, f)
				}
				found = found || ok
			}
			if !found {
				return fmt.Errorf("no field %q in run %s ('gsinspect fields' lists them)", p, sanitize(rd.RunID()))
			}
		}
	}
	bw := bufio.NewWriterSize(e.stdout, 64<<10)
	var d dumper
	if o.format == "csv" {
		cw := csv.NewWriter(bw)
		if err := cw.Write([]string{"path", "kind", "step", "value", "time"}); err != nil {
			return err
		}
		d = &csvDumper{w: cw, bw: bw}
	} else {
		d = &jsonDumper{w: bw}
	}

	wantMeta, wantConfigs := all || o.meta, all || o.configs
	if wantMeta {
		m := rd.Meta()
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if err := d.meta(k, m[k]); err != nil {
				return err
			}
		}
	}
	configs := rd.Configs()
	if wantConfigs {
		paths := make([]string, 0, len(configs))
		for p := range configs {
			paths = append(paths, p)
		}
		slices.Sort(paths)
		for _, p := range paths {
			if err := d.config(p, configs[p]); err != nil {
				return err
			}
		}
	}
	var (
		damaged []error
		mc      series.MetricColumns
		sc      series.StringColumns
	)
	for _, f := range fields {
		if err := e.ctx.Err(); err != nil {
			return err
		}
		var rerr, werr error
		switch f.Kind {
		case engine.KindConfig:
			if c, ok := configs[f.Path]; ok && !wantConfigs {
				werr = d.config(f.Path, c)
			}
		case engine.KindMetric:
			rerr = rd.ReadMetric(f.Path, &mc)
			werr = d.metric(f.Path, &mc)
		case engine.KindString:
			sc.Reset()
			rerr = rd.ReadString(f.Path, &sc)
			werr = d.text(f.Path, &sc)
		}
		if werr != nil {
			return werr
		}
		if rerr != nil {
			if errors.Is(rerr, engine.ErrNotFound) || errors.Is(rerr, engine.ErrKindMismatch) {
				return rerr
			}
			damaged = append(damaged, fmt.Errorf("%s: %w", sanitize(f.Path), rerr))
		}
	}
	if err := d.flush(); err != nil {
		return err
	}
	if len(damaged) > 0 {
		for _, err := range damaged {
			fmt.Fprintf(e.stderr, "gsinspect dump: damaged blocks skipped: %s\n", sanitize(err.Error()))
		}
		return errDamage
	}
	return nil
}

// jsonDumper writes JSON lines, built by hand: one series can hold
// millions of points.
type jsonDumper struct {
	w   *bufio.Writer
	buf []byte
}

func (j *jsonDumper) line(b []byte) error {
	b = append(b, '}', '\n')
	_, err := j.w.Write(b)
	j.buf = b[:0]
	return err
}

func (j *jsonDumper) meta(key string, m engine.MetaEntry) error {
	b := append(j.buf[:0], `{"meta":`...)
	b = appendJSONString(b, key)
	b = append(b, `,"value":`...)
	b = appendJSONString(b, m.Val)
	return j.timedLine(b, m.TimeMs)
}

func (j *jsonDumper) config(path string, c engine.ConfigEntry) error {
	b := append(j.buf[:0], `{"path":`...)
	b = appendJSONString(b, path)
	b = append(b, `,"kind":"config","type":`...)
	b = appendJSONString(b, c.Value.Type.String())
	b = append(b, `,"value":`...)
	b = appendJSONValue(b, c.Value)
	return j.timedLine(b, c.TimeMs)
}

// timedLine ends a record with its write time and writes it.
func (j *jsonDumper) timedLine(b []byte, timeMs int64) error {
	b = append(b, `,"time":"`...)
	b = appendTimeMs(b, timeMs)
	return j.line(append(b, '"'))
}

func (j *jsonDumper) metric(path string, c *series.MetricColumns) error {
	head := append(appendJSONString([]byte(`{"path":`), path), `,"kind":"metric","step":`...)
	for i := range c.Len() {
		b := append(j.buf[:0], head...)
		b = appendJSONFloat(b, c.Steps[i])
		b = append(b, `,"value":`...)
		b = appendJSONFloat(b, c.Values[i])
		if err := j.timedLine(b, c.TimesMs[i]); err != nil {
			return err
		}
	}
	return nil
}

func (j *jsonDumper) text(path string, c *series.StringColumns) error {
	head := append(appendJSONString([]byte(`{"path":`), path), `,"kind":"string","step":`...)
	for i := range c.Len() {
		b := append(j.buf[:0], head...)
		b = appendJSONFloat(b, c.Steps[i])
		b = append(b, `,"value":`...)
		b = appendJSONString(b, c.Values[i])
		if err := j.timedLine(b, c.TimesMs[i]); err != nil {
			return err
		}
	}
	return nil
}

func (j *jsonDumper) flush() error { return j.w.Flush() }

// csvDumper writes RFC 4180 CSV through encoding/csv.
type csvDumper struct {
	w   *csv.Writer
	bw  *bufio.Writer
	rec [5]string
}

func (c *csvDumper) write(path, kind, step, value string, timeMs int64) error {
	c.rec = [5]string{path, kind, step, value, string(appendTimeMs(nil, timeMs))}
	return c.w.Write(c.rec[:])
}

func (c *csvDumper) meta(key string, m engine.MetaEntry) error {
	return c.write(key, "meta", "", m.Val, m.TimeMs)
}

func (c *csvDumper) config(path string, e engine.ConfigEntry) error {
	return c.write(path, "config", "", valueText(e.Value), e.TimeMs)
}

func (c *csvDumper) metric(path string, m *series.MetricColumns) error {
	for i := range m.Len() {
		if err := c.write(path, "metric", floatText(m.Steps[i]), floatText(m.Values[i]), m.TimesMs[i]); err != nil {
			return err
		}
	}
	return c.w.Error()
}

func (c *csvDumper) text(path string, s *series.StringColumns) error {
	for i := range s.Len() {
		if err := c.write(path, "string", floatText(s.Steps[i]), s.Values[i], s.TimesMs[i]); err != nil {
			return err
		}
	}
	return c.w.Error()
}

func (c *csvDumper) flush() error {
	c.w.Flush()
	if err := c.w.Error(); err != nil {
		return err
	}
	return c.bw.Flush()
}

// floatText is a number as dump writes it: JSON's number text, or NaN,
// Infinity, -Infinity.
func floatText(v float64) string { return string(appendFloatText(nil, v)) }

func appendFloatText(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, 1):
		return append(b, "Infinity"...)
	case math.IsInf(v, -1):
		return append(b, "-Infinity"...)
	}
	// As encoding/json writes float64s: the shortest text that parses back
	// to v, in exponent form only for very small or large magnitudes.
	abs := math.Abs(v)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, v, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendJSONFloat writes a number, or NaN and the infinities as strings.
func appendJSONFloat(b []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		b = append(b, '"')
		b = appendFloatText(b, v)
		return append(b, '"')
	}
	return appendFloatText(b, v)
}

// appendJSONValue writes a config value as JSON.
func appendJSONValue(b []byte, v engine.Value) []byte {
	switch v.Type {
	case engine.TypeBool:
		return strconv.AppendBool(b, v.Bool)
	case engine.TypeInt:
		return append(b, v.IntText()...)
	case engine.TypeFloat:
		return appendJSONFloat(b, v.Float)
	case engine.TypeString:
		return appendJSONString(b, v.Str)
	case engine.TypeTime:
		return appendJSONString(b, v.String()) // its offset as given, none when naive
	case engine.TypeStringSet:
		b = append(b, '[')
		for i, s := range v.Set {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, s)
		}
		return append(b, ']')
	}
	return append(b, "null"...)
}

// valueText is a config value as CSV text: numbers as dump writes them,
// a set as its JSON array, null as "null".
func valueText(v engine.Value) string {
	switch v.Type {
	case engine.TypeString:
		return v.Str
	case engine.TypeTime:
		return v.String()
	case engine.TypeFloat:
		return floatText(v.Float)
	}
	return string(appendJSONValue(nil, v))
}

// appendTimeMs writes Unix milliseconds as RFC 3339 UTC with milliseconds.
func appendTimeMs(b []byte, ms int64) []byte {
	return time.UnixMilli(ms).UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
}

// appendJSONString writes s as a JSON string. Control characters are
// escaped, and so are U+2028 and U+2029 (JavaScript line terminators);
// invalid UTF-8 becomes U+FFFD, as encoding/json does. HTML characters
// are left alone.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += n
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += n
			start = i
			continue
		}
		i += n
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
