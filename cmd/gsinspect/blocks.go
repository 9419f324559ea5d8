package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/internal/vfs"
	"github.com/goodseed/goodseed-go/segment"
	"github.com/goodseed/goodseed-go/series"
)

func init() {
	register(&command{
		name:    "blocks",
		args:    "SEGMENT [--all]",
		summary: "a segment as a tree: header, blocks with offsets, sizes and checksums, their records, footer",
		example: "gsinspect blocks ~/.goodseed/projects/vision/runs/bold-falcon/00000001-0000000000000001.seg\n\n" +
			"Field ids are named from the field definitions of the segment's run\n" +
			"directory. A damaged unit is shown where it lies, with what its header\n" +
			"claimed when that still verifies; exit status 1 when there is damage.",
		flags: func(fs *flag.FlagSet) any {
			o := &blocksOptions{}
			fs.BoolVar(&o.all, "all", false, fmt.Sprintf("list every record (default: the first %d of a block, then counts)", blocksRecordLines))
			return o
		},
		run: runBlocks,
	})
}

type blocksOptions struct{ all bool }

// blocksRecordLines is how many record lines a block shows without --all.
const blocksRecordLines = 12

// blockNode is one line of the tree: a unit at an offset, with lines under
// it.
type blockNode struct {
	off   int64
	order int // header, then blocks and damage, then footer and trailer
	text  string
	sub   []string
}

func runBlocks(e *env, opts any, args []string) error {
	o := opts.(*blocksOptions)
	if len(args) != 1 {
		return usagef("blocks takes one argument, SEGMENT")
	}
	path := args[0]
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a segment file (blocks takes one file; 'gsinspect info RUN' lists a run's segments)", path)
	}
	fsys := vfs.Default
	names := fieldNames(filepath.Dir(path))

	var nodes []blockNode
	var scratch series.MetricColumns
	var text series.StringColumns
	show := func(m segment.BlockMeta, p []byte) error {
		n := blockNode{off: m.Offset, order: 1, text: fmt.Sprintf("block    %s  checksum OK", blockFacts(m))}
		if m.Kind == 1 {
			n.sub = recordLines(p, names, o.all, &scratch, &text)
		}
		nodes = append(nodes, n)
		return nil
	}
	rep, err := segment.Scan(fsys, path, show)
	if errors.Is(err, segment.ErrUnknownVersion) || (err == nil && rep.Torn != nil && rep.Torn.Offset == 0) {
		// The header cannot be read, or claims more than the file holds:
		// show the blocks that verify after it all the same.
		if r2, err2 := segment.ScanFrom(fsys, path, 1, show); err2 == nil && r2.Blocks > 0 {
			r2.Header = rep.Header
			rep = r2
		}
	}
	if err != nil && rep.Size == 0 {
		if fi, serr := os.Stat(path); serr == nil {
			rep.Size = fi.Size()
		}
	}
	var findings []engine.Finding
	sum, cerr := engine.CheckSegment(path, fsys, func(f engine.Finding) { findings = append(findings, f) })
	if cerr != nil {
		return cerr
	}

	f, ferr := fsys.Open(path)
	if ferr != nil {
		return ferr
	}
	defer f.Close()
	header := segmentHeaderLine(fsys, path, rep, err)
	if r, oerr := segment.Open(fsys, path); oerr == nil {
		nodes = append(nodes, blockNode{off: 0, order: 0, text: fmt.Sprintf("header   %s", plural(int(r.HeaderBytes()), "byte"))})
		r.Close()
	}
	var notes []string
	for _, fd := range findings {
		line := fmt.Sprintf("%s %s", strings.ToUpper(fd.Severity.String()), fd.Kind)
		if fd.Length > 0 {
			line += fmt.Sprintf(" (+%s)", plural(int(fd.Length), "byte"))
		}
		line += ": " + sanitize(fd.Detail)
		i := slices.IndexFunc(nodes, func(n blockNode) bool { return n.off == fd.Offset && n.order == 1 })
		switch {
		case fd.Offset < 0:
			notes = append(notes, line)
		case i >= 0: // about a block that verifies (its records, its kind)
			nodes[i].sub = append([]string{line}, nodes[i].sub...)
		default:
			n := blockNode{off: fd.Offset, order: 1, text: "damaged  " + line}
			if fd.Offset == 0 {
				n.order = 0
			}
			if m, err := segment.BlockHeaderAt(f, fd.Offset); err == nil && fd.Offset > 0 {
				n.sub = append(n.sub, "its header still verifies: "+blockFacts(m))
			}
			nodes = append(nodes, n)
		}
	}
	if rep.Sealed {
		ft := rep.Footer
		nodes = append(nodes, blockNode{off: ft.Offset, order: 2, text: fmt.Sprintf("footer   %s, %s, seq %d..%d, %d raw and %d stored bytes",
			plural(int(ft.Blocks), "block"), plural(int(ft.Records), "record"), ft.FirstSeq, ft.LastSeq, ft.RawBytes, ft.StoredBytes)})
		trailer := rep.Size - segment.TrailerBytes
		if fm, err := segment.BlockHeaderAt(f, ft.Offset); err == nil {
			trailer = fm.End()
		}
		nodes = append(nodes, blockNode{off: trailer, order: 3, text: fmt.Sprintf("trailer  %s, footer at %d", plural(segment.TrailerBytes, "byte"), ft.Offset)})
	}
	slices.SortStableFunc(nodes, func(a, b blockNode) int {
		if a.off != b.off {
			return int(a.off - b.off)
		}
		return a.order - b.order
	})

	w := e.stdout
	fmt.Fprintln(w, header)
	width := len(fmt.Sprint(rep.Size))
	for i, n := range nodes {
		branch, stem := "├─", "│ "
		if i == len(nodes)-1 {
			branch, stem = "└─", "  "
		}
		fmt.Fprintf(w, "%s @%-*d  %s\n", branch, width, n.off, n.text)
		for _, s := range n.sub {
			fmt.Fprintf(w, "%s %*s   %s\n", stem, width, "", s)
		}
	}
	for _, n := range notes {
		fmt.Fprintln(w, n)
	}
	fmt.Fprintln(w, summaryLine(sum))
	if !sum.Clean() {
		return errDamage
	}
	return nil
}

// segmentHeaderLine renders the facts of the file header.
func segmentHeaderLine(fsys vfs.FS, path string, rep segment.ScanReport, scanErr error) string {
	name := sanitize(filepath.Base(path))
	h := rep.Header
	state := "unsealed"
	if rep.Sealed {
		state = "sealed"
	}
	if scanErr != nil {
		return fmt.Sprintf("%s: %s, %s", name, plural(int(rep.Size), "byte"), sanitize(scanErr.Error()))
	}
	if h.Major == 0 {
		return fmt.Sprintf("%s: header damaged, %s, %s", name, plural(int(rep.Size), "byte"), state)
	}
	return fmt.Sprintf("%s: format %d.%d, run %s, writer %d, seq %d, created %s, %s, %s",
		name, h.Major, h.Minor, quoteClip(h.RunID, 64), h.WriterID, h.Seq, h.Created.UTC().Format("2006-01-02T15:04:05.000000000Z"),
		plural(int(rep.Size), "byte"), state)
}

// blockFacts renders a block header: kind, codec, sizes, records, seqs.
func blockFacts(m segment.BlockMeta) string {
	kind := fmt.Sprintf("kind %d", m.Kind)
	if m.Kind == 1 {
		kind = "records"
	}
	ratio := ""
	if m.StoredBytes() > 0 {
		ratio = fmt.Sprintf(" (%.2f×)", float64(m.RawLen)/float64(m.StoredBytes()))
	}
	return fmt.Sprintf("%s  %s  %d/%d bytes stored/raw%s  %s  seq %d..%d",
		kind, m.Codec, m.StoredBytes(), m.RawLen, ratio, plural(int(m.Records), "record"), m.FirstSeq, m.LastSeq)
}

// fieldNames reads the field dictionary of the run a segment lies in;
// none when the directory is not a readable run.
func fieldNames(dir string) map[uint32]engine.FieldInfo {
	names := make(map[uint32]engine.FieldInfo)
	rd, err := engine.OpenReader(dir, nil)
	if err != nil {
		return names
	}
	defer rd.Close()
	for _, fi := range rd.Fields() {
		names[fi.ID] = fi
	}
	return names
}

// recordLines summarises the records of a block payload, one line each
// (consecutive field definitions as one), at most blocksRecordLines
// unless all.
func recordLines(p []byte, names map[uint32]engine.FieldInfo, all bool, mc *series.MetricColumns, sc *series.StringColumns) []string {
	var lines []string
	var defs []string
	flushDefs := func() {
		if len(defs) > 0 {
			lines = append(lines, fmt.Sprintf("field-def ×%d: %s", len(defs), strings.Join(defs, ", ")))
			defs = nil
		}
	}
	counts := make(map[engine.RecordKind]int)
	total := 0
	for b := p; len(b) > 0; {
		r, rest, err := engine.DecodeRecord(b)
		if err != nil {
			flushDefs()
			lines = append(lines, fmt.Sprintf("record %d does not decode: %v", total, err))
			break
		}
		b = rest
		total++
		counts[r.Kind]++
		if r.Kind == engine.RecFieldDef {
			names[r.Field] = engine.FieldInfo{ID: r.Field, Path: r.Path, Kind: r.FieldKind}
			defs = append(defs, fmt.Sprintf("f%d %s %s", r.Field, quoteClip(r.Path, 40), r.FieldKind))
			continue
		}
		flushDefs()
		lines = append(lines, recordLine(&r, names, mc, sc))
	}
	flushDefs()
	if all || len(lines) <= blocksRecordLines {
		return lines
	}
	shown := lines[:blocksRecordLines-1]
	var rest []string
	for _, k := range []engine.RecordKind{engine.RecFieldDef, engine.RecMetricChunk, engine.RecStringChunk, engine.RecConfig, engine.RecSetOp, engine.RecMeta} {
		if counts[k] > 0 {
			rest = append(rest, fmt.Sprintf("%s ×%d", k, counts[k]))
		}
	}
	return append(shown, fmt.Sprintf("… %d more lines; the block's %s: %s (--all lists them)", len(lines)-len(shown),
		plural(total, "record"), strings.Join(rest, ", ")))
}

// recordLine summarises one record that is not a field definition.
func recordLine(r *engine.Record, names map[uint32]engine.FieldInfo, mc *series.MetricColumns, sc *series.StringColumns) string {
	field := func() string {
		if fi, ok := names[r.Field]; ok {
			return fmt.Sprintf("f%d %s", r.Field, quoteClip(fi.Path, 40))
		}
		return fmt.Sprintf("f%d", r.Field)
	}
	switch r.Kind {
	case engine.RecMetricChunk:
		mc.Reset()
		if err := series.DecodeMetricChunk(r.Chunk, mc); err != nil {
			return fmt.Sprintf("metric-chunk %s does not decode: %v", field(), err)
		}
		return fmt.Sprintf("metric-chunk %s %s%s", field(), plural(mc.Len(), "pt"), stepRange(mc.Steps))
	case engine.RecStringChunk:
		sc.Reset()
		if err := series.DecodeStringChunk(r.Chunk, sc); err != nil {
			return fmt.Sprintf("string-chunk %s does not decode: %v", field(), err)
		}
		return fmt.Sprintf("string-chunk %s %s%s", field(), plural(len(sc.Steps), "pt"), stepRange(sc.Steps))
	case engine.RecConfig:
		return fmt.Sprintf("config %s %s %s", field(), r.Value.Type, configText(r.Value, 40))
	case engine.RecSetOp:
		op := "add"
		if r.SetOp == engine.SetRemove {
			op = "remove"
		}
		items := make([]string, 0, len(r.Items))
		for _, it := range r.Items {
			items = append(items, quoteClip(it, 20))
		}
		return fmt.Sprintf("set-op %s %s %s", field(), op, clip(strings.Join(items, ", "), 60))
	case engine.RecMeta:
		return fmt.Sprintf("meta %s=%s", clip(r.Key, 30), quoteClip(r.Val, 40))
	}
	return r.Kind.String()
}

// stepRange renders " steps lo..hi" (a single step as " step s").
func stepRange(steps []float64) string {
	if len(steps) == 0 {
		return ""
	}
	lo, hi := slices.Min(steps), slices.Max(steps)
	if lo == hi {
		return " step " + num(lo)
	}
	return fmt.Sprintf(" steps %s..%s", num(lo), num(hi))
}
