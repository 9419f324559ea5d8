package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/index"
	"github.com/goodseed/goodseed-go/internal/vfs"
	"github.com/goodseed/goodseed-go/run"
	"github.com/goodseed/goodseed-go/segment"
	"github.com/goodseed/goodseed-go/series"
)

func init() {
	register(&command{
		name:    "info",
		args:    "RUN",
		summary: "the facts of a run: format, writers, segments, fields, state, lock holder, index, damage found",
		example: "gsinspect info ~/.goodseed/projects/vision/runs/bold-falcon\n" +
			"gsinspect info ws/proj/quiet-heron      # project/run_id under $GOODSEED_HOME\n\n" +
			"Times are UTC. A damaged run still gets its info, with the damage the\n" +
			"reader found on opening it summarised, and exit status 0; blocks the\n" +
			"index covers are checked when read: 'gsinspect verify' checks them all.",
		run: runInfo,
	})
}

// timeNow is the clock info measures the heartbeat's age against; tests
// fix it.
var timeNow = time.Now

func runInfo(e *env, _ any, args []string) error {
	dir, rd, err := e.openRun("info", args)
	if err != nil {
		return err
	}
	defer rd.Close()
	w := e.stdout
	meta := rd.Meta()
	owner, live, oerr := rd.Owner()
	derived, writerStates, _ := run.DeriveState(rd)
	indexes := rd.Indexes()
	rep := rd.Report()
	segs, others, err := listRunFiles(dir, indexes)
	if err != nil {
		return err
	}

	line := func(k, format string, a ...any) { fmt.Fprintf(w, "%-9s  %s\n", k, fmt.Sprintf(format, a...)) }
	line("run", "%s", sanitize(rd.RunID()))
	line("directory", "%s", sanitize(dir))
	if p, ok := meta[metaProject]; ok {
		line("project", "%s", sanitize(p.Val))
	}
	if n := meta[metaName].Val; n != "" {
		line("name", "%s", sanitize(n))
	}
	line("format", "%s", formatVersions(dir, segs))
	status := meta[metaStatus].Val
	state := derivedState(status, live)
	if len(writerStates) > 1 {
		state = stateText(derived) // every writer's, not the primary's alone
	}
	switch {
	case len(writerStates) > 1:
		line("state", "%s (of %d writers: running while any is live)", state, len(writerStates))
	case state == "crashed":
		line("state", "crashed (status says running, but no writer holds LOCK)")
	case state == "running" && status == "":
		line("state", "running (no status recorded; a writer holds LOCK)")
	default:
		line("state", "%s", sanitize(state))
	}
	for _, k := range []struct{ key, label string }{{metaCreatedAt, "created"}, {metaClosedAt, "closed"}} {
		if t := parseMetaTime(meta, k.key); !t.IsZero() {
			line(k.label, "%s", fmtTime(t))
		}
	}
	if t := parseMetaTime(meta, metaResumedAt); !t.IsZero() {
		from := ""
		if f := meta[metaResumedFrom].Val; f != "" {
			from = " (was " + sanitize(f) + ")"
		}
		line("resumed", "%s%s", fmtTime(t), from)
	}
	if r, ok := meta[metaFailureReason]; ok && r.Val != "" {
		line("failure", "%s", clip(r.Val, 120))
	}

	// The LOCK owner record.
	fmt.Fprintln(w)
	liveText := "not live: no process holds the lock"
	if live {
		liveText = "live: a writer holds the lock"
	}
	switch {
	case oerr != nil && owner.PID == 0:
		line("lock", "%s; %s", sanitize(oerr.Error()), liveText)
	case owner.PID == 0 && owner.Host == "":
		line("lock", "no owner record; %s", liveText)
	default:
		line("lock", "%s, writer %d, %s", sanitize(writerLabel(owner)), owner.WriterID, liveText)
		line("started", "%s", fmtTime(owner.Start))
		line("heartbeat", "%s (%s)", fmtTime(owner.Heartbeat), age(timeNow().Sub(owner.Heartbeat)))
	}
	if len(writerStates) > 1 {
		if err := writersTable(w, writerStates); err != nil {
			return err
		}
	}

	// Writers and segments.
	type writerStat struct {
		segs, blocks int
		bytes        int64
	}
	writers := map[uint32]*writerStat{}
	for _, s := range segs {
		ws := writers[s.writer]
		if ws == nil {
			ws = &writerStat{}
			writers[s.writer] = ws
		}
		ws.segs++
		ws.blocks += s.blocks
		ws.bytes += s.size
	}
	ids := make([]uint32, 0, len(writers))
	for id := range writers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	table := func(header string, rows [][]string) error {
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, header)
		for _, r := range rows {
			fmt.Fprintln(tw, strings.Join(r, "\t"))
		}
		return tw.Flush()
	}
	var rows [][]string
	for _, id := range ids {
		ws := writers[id]
		rows = append(rows, []string{writerIDText(id), fmt.Sprint(ws.segs), fmt.Sprint(ws.blocks), humanBytes(ws.bytes)})
	}
	if err := table("WRITER\tSEGMENTS\tBLOCKS\tBYTES", rows); err != nil {
		return err
	}
	rows = rows[:0]
	for _, s := range segs {
		rows = append(rows, []string{s.name, humanBytes(s.size), s.state, fmt.Sprint(s.blocks)})
	}
	if err := table("SEGMENT\tSIZE\tSTATE\tBLOCKS", rows); err != nil {
		return err
	}
	if len(others) > 0 {
		rows = rows[:0]
		for _, o := range others {
			rows = append(rows, []string{sanitize(o.name), o.size})
		}
		if err := table("FILE\tSIZE", rows); err != nil {
			return err
		}
	}

	// Fields and points, from the summaries.
	var nMetric, nString, nConfig int
	var points uint64
	minStep, maxStep := math.Inf(1), math.Inf(-1)
	lastMs := int64(math.MinInt64)
	for _, f := range rd.Fields() {
		switch f.Kind {
		case engine.KindMetric:
			nMetric++
		case engine.KindString:
			nString++
		default:
			nConfig++
			continue
		}
		s, ok := rd.Summary(f.Path, f.Kind)
		if !ok || s.Count == 0 {
			continue
		}
		points += s.Count
		minStep, maxStep = min(minStep, s.MinStep), max(maxStep, s.MaxStep)
		lastMs = max(lastMs, s.LastTimeMs)
	}
	firstMs, hasFirst := int64(math.MaxInt64), false
	for _, wix := range indexes {
		if t, ok := firstPointTime(dir, wix); ok {
			firstMs, hasFirst = min(firstMs, t), true
		}
	}
	fmt.Fprintln(w)
	line("fields", "%d: %d metric, %d string, %d config", nMetric+nString+nConfig, nMetric, nString, nConfig)
	line("points", "%d written (overwrites included)", points)
	if points > 0 {
		line("steps", "%s .. %s", num(minStep), num(maxStep))
		if hasFirst && firstMs <= lastMs {
			line("written", "%s .. %s (%s)", fmtMs(firstMs), fmtMs(lastMs), time.Duration(lastMs-firstMs)*time.Millisecond)
		}
	}
	line("index", "%s", indexText(dir, rep, state))
	if rep.Clean() {
		line("recovery", "clean on open (blocks the index covers are checked when read; 'gsinspect verify' checks every one)")
		return nil
	}
	line("recovery", "%s", damageSummary(rep))
	for _, t := range rep.Torn {
		line("  torn", "%s at offset %d: %d bytes (a live writer's block in flight, or a crash mid-write)",
			filepath.Base(t.File), t.Offset, t.Size)
	}
	for _, c := range rep.Corruptions {
		line("  damaged", "%s", sanitize(c.Error()))
	}
	for _, m := range rep.MissingSegments {
		line("  missing", "%s", m)
	}
	for _, v := range rep.UnknownVersion {
		line("  version", "%s", sanitize(v.Error()))
	}
	fmt.Fprintln(w, "run 'gsinspect verify' for every finding with offsets, 'gsinspect recover' to copy what is intact")
	return nil
}

// infoSegment is one segment file of a run, as info lists it.
type infoSegment struct {
	name    string
	writer  uint32
	size    int64
	state   string // sealed, unsealed, or why the header does not open
	blocks  int    // readable blocks the reader indexed
	version string // header major.minor, "" when the header does not open
}

type infoFile struct {
	name string
	size string
}

// listRunFiles reads the run directory: its segments (header, sealed or
// not, the blocks the reader found in each) and every other file.
func listRunFiles(dir string, indexes map[uint32]*index.Index) ([]infoSegment, []infoFile, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	blocks := map[string]int{}
	for _, ix := range indexes {
		for _, b := range ix.Blocks {
			blocks[ix.Segments[b.Segment].Name]++
		}
	}
	var segs []infoSegment
	var others []infoFile
	for _, de := range ents {
		fi, err := de.Info()
		if err != nil {
			continue
		}
		w, _, ok := segment.ParseSegmentName(de.Name())
		if !ok || de.IsDir() {
			size := humanBytes(fi.Size())
			if de.IsDir() {
				size = "directory"
			}
			others = append(others, infoFile{de.Name(), size})
			continue
		}
		s := infoSegment{name: de.Name(), writer: w, size: fi.Size(), blocks: blocks[de.Name()]}
		sr, err := segment.Open(vfs.Default, filepath.Join(dir, de.Name()))
		switch {
		case err != nil:
			s.state = "header: " + segmentErrText(err)
		default:
			h := sr.Header()
			s.version = fmt.Sprintf("%d.%d", h.Major, h.Minor)
			if _, sealed := sr.Footer(); sealed {
				s.state = "sealed"
			} else {
				s.state = "unsealed"
			}
			sr.Close()
		}
		segs = append(segs, s)
	}
	return segs, others, nil
}

// writerIDText renders a writer id as the names of its files carry it.
func writerIDText(w uint32) string { return fmt.Sprintf("%08x", w) }

// writersTable lists each writer of a run of several: its name, the state
// derived from what it recorded and its lock, and its lock's owner.
func writersTable(w io.Writer, ws []run.WriterState) error {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WRITER\tNAME\tSTATE\tLOCK\tHEARTBEAT")
	for _, ws := range ws {
		name := sanitize(ws.Name)
		if ws.ID == 1 {
			name = "(primary)"
		}
		state := stateText(ws.State)
		if ws.FailureReason != "" {
			state += ": " + clip(ws.FailureReason, 60)
		}
		lock, beat := "no owner record", "-"
		switch {
		case ws.Err != nil:
			lock = sanitize(ws.Err.Error())
		case ws.Owner.PID != 0 || ws.Owner.Host != "":
			lock = writerLabel(ws.Owner)
			beat = age(timeNow().Sub(ws.Owner.Heartbeat))
		}
		if ws.Live {
			lock += ", live"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", writerIDText(ws.ID), name, state, lock, beat)
	}
	return tw.Flush()
}

// segmentErrText drops the file path a segment error repeats.
func segmentErrText(err error) string {
	var ce *segment.CorruptionError
	if errors.As(err, &ce) {
		return fmt.Sprintf("damaged at offset %d: %s", ce.Offset, ce.Reason)
	}
	var te *segment.TornTailError
	if errors.As(err, &te) {
		return fmt.Sprintf("torn at offset %d", te.Offset)
	}
	if errors.Is(err, segment.ErrUnknownVersion) {
		return "unknown format version"
	}
	return sanitize(err.Error())
}

// formatVersions names the format versions of the segments and the index.
func formatVersions(dir string, segs []infoSegment) string {
	var vs []string
	for _, s := range segs {
		if s.version != "" && !slices.Contains(vs, s.version) {
			vs = append(vs, s.version)
		}
	}
	out := "segments " + strings.Join(vs, ", ")
	if len(vs) == 0 {
		out = "segments ?"
	}
	if v := indexVersion(dir); v != "" {
		out += ", index " + v
	}
	return out
}

// indexVersion reads the version in the index file's header (index
// package doc: magic, u16 major, u16 minor); "" when there is no index,
// "?" when its header is not an index's.
func indexVersion(dir string) string {
	f, err := os.Open(filepath.Join(dir, index.FileName))
	if err != nil {
		return ""
	}
	defer f.Close()
	var h [12]byte
	if _, err := io.ReadFull(f, h[:]); err != nil || string(h[:8]) != "GSEEDIDX" {
		return "?"
	}
	return fmt.Sprintf("%d.%d", uint16(h[8])|uint16(h[9])<<8, uint16(h[10])|uint16(h[11])<<8)
}

// firstPointTime is the earliest write time of any point, and whether
// there is one. A field's points reach the segments in the order they were
// logged, so its earliest point is in the first block (per writer) that
// holds it: those few blocks are read, nothing else. (A block's time
// bounds in the index would cost nothing, but they span the block's
// configs and meta too.) Blocks that do not read are left out.
func firstPointTime(dir string, ix *index.Index) (int64, bool) {
	firsts := map[uint32]map[uint32]bool{} // block ordinal → fields whose first block it is
	for id := range ix.Fields {
		seen := map[uint32]bool{}
		for _, ord := range ix.FieldBlocks(id) {
			if w := ix.Segments[ix.Blocks[ord].Segment].WriterID; !seen[w] {
				seen[w] = true
				if firsts[ord] == nil {
					firsts[ord] = map[uint32]bool{}
				}
				firsts[ord][id] = true
			}
		}
	}
	br := newBlockReader(dir)
	defer br.close()
	first, ok := int64(math.MaxInt64), false
	var mc series.MetricColumns
	var sc series.StringColumns
	for ord, ids := range firsts {
		_ = br.records(ix, ord, func(rec *engine.Record) error {
			if !ids[rec.Field] {
				return nil
			}
			var times []int64
			switch rec.Kind {
			case engine.RecMetricChunk:
				mc.Reset()
				if series.DecodeMetricChunk(rec.Chunk, &mc) != nil {
					return nil
				}
				times = mc.TimesMs
			case engine.RecStringChunk:
				sc.Reset()
				if series.DecodeStringChunk(rec.Chunk, &sc) != nil {
					return nil
				}
				times = sc.TimesMs
			}
			for _, t := range times {
				first, ok = min(first, t), true
			}
			return nil
		})
	}
	return first, ok
}

// blockReader reads a run's blocks by their ordinal in an index, keeping
// the segments it opens open until close.
type blockReader struct {
	dir     string
	segs    map[string]*segment.Reader
	payload []byte
}

func newBlockReader(dir string) *blockReader {
	return &blockReader{dir: dir, segs: map[string]*segment.Reader{}}
}

// records calls fn for each record of block ord of ix, in write order.
// The record (its chunk) is valid during the call only. It returns the
// error of a block that does not read or a record that does not decode
// (the records before it were passed to fn), or fn's.
func (b *blockReader) records(ix *index.Index, ord uint32, fn func(*engine.Record) error) error {
	e := ix.Blocks[ord]
	name := ix.Segments[e.Segment].Name
	sr, ok := b.segs[name]
	if !ok {
		var err error
		if sr, err = segment.Open(vfs.Default, filepath.Join(b.dir, name)); err != nil {
			return err
		}
		b.segs[name] = sr
	}
	p, _, err := sr.ReadBlockAt(e.Offset, b.payload)
	if err != nil {
		return err
	}
	b.payload = p
	for rest := p; len(rest) > 0; {
		rec, next, err := engine.DecodeRecord(rest)
		if err != nil {
			return fmt.Errorf("%s block at %d: %w", filepath.Join(b.dir, name), e.Offset, err)
		}
		rest = next
		if err := fn(&rec); err != nil {
			return err
		}
	}
	return nil
}

func (b *blockReader) close() {
	for name, sr := range b.segs {
		sr.Close()
		delete(b.segs, name)
	}
}

// indexText says where the reader's index came from.
func indexText(dir string, rep engine.RecoveryReport, state string) string {
	switch {
	case !rep.IndexRebuilt && rep.ReplayedBlocks == 0:
		return "loaded from the index file; it covers every segment"
	case !rep.IndexRebuilt:
		return fmt.Sprintf("loaded from the index file; %s written after it replayed from the segments", plural(rep.ReplayedBlocks, "block"))
	}
	why := sanitize(rep.IndexProblem)
	if _, err := os.Stat(filepath.Join(dir, index.FileName)); errors.Is(err, fs.ErrNotExist) {
		switch state {
		case "running":
			why += "; normal while a writer is live: it writes the index on close"
		case "crashed":
			why += "; normal after a crash: the index is written on close"
		}
	}
	return fmt.Sprintf("rebuilt from the segments (%s): %s", plural(rep.ReplayedBlocks, "block"), why)
}

// damageSummary counts what a recovery report found.
func damageSummary(rep engine.RecoveryReport) string {
	var parts []string
	add := func(n int, what string) {
		switch {
		case n == 1:
			parts = append(parts, "1 "+what)
		case n > 1:
			parts = append(parts, fmt.Sprintf("%d %ss", n, what))
		}
	}
	add(len(rep.Torn), "torn tail")
	add(len(rep.Cuts), "cut tail")
	add(len(rep.Corruptions), "damaged unit")
	add(len(rep.MissingSegments), "missing segment")
	add(len(rep.UnknownVersion), "segment of unknown version")
	if len(parts) == 0 {
		return "clean"
	}
	return strings.Join(parts, ", ")
}

// plural renders "1 block", "2 blocks".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// age renders how long ago something happened.
func age(d time.Duration) string {
	if d < 0 {
		return fmt.Sprintf("%s in the future: clock skew?", (-d).Round(time.Second))
	}
	return d.Round(time.Second).String() + " ago"
}

// Formatting shared by the commands.

// humanBytes renders a size in B, KiB, MiB, GiB or TiB with one decimal.
func humanBytes(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v := float64(n)
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
		v /= 1024
		if v < 1024 || u == "TiB" {
			return fmt.Sprintf("%.1f %s", v, u)
		}
	}
	panic("unreachable")
}

// num renders a step or value for people: integers as integers, values
// that are float32s widened (most losses and accuracies) by the shortest
// float32 text, others by the shortest float64 text; NaN, +Inf, -Inf.
// Every form parses back to the exact value.
func num(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case v == math.Trunc(v) && math.Abs(v) < 1<<53 && !(v == 0 && math.Signbit(v)):
		return strconv.FormatInt(int64(v), 10)
	case float64(float32(v)) == v:
		return strconv.FormatFloat(v, 'g', -1, 32)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// fmtTime renders an instant in UTC with milliseconds; "-" for zero.
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// fmtMs renders Unix milliseconds as fmtTime does.
func fmtMs(ms int64) string { return fmtTime(time.UnixMilli(ms)) }

// sanitize makes text from a run safe to print on a terminal: control
// characters, bidi overrides and zero-width characters become escapes
// (\n, \t, \x1b, \u202e); invalid UTF-8 bytes become \xNN.
func sanitize(s string) string {
	clean := true
	for _, r := range s {
		if needsEscape(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case needsEscape(r) && r < 0x100:
			fmt.Fprintf(&b, `\x%02x`, r)
		case needsEscape(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
		i += n
	}
	return b.String()
}

func needsEscape(r rune) bool {
	switch {
	case r == utf8.RuneError:
		return true
	case r < 0x20, r >= 0x7f && r <= 0x9f:
		return true
	case r >= 0x200b && r <= 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0xfeff:
		return true
	}
	return false
}

// clip sanitizes s and cuts it to at most n characters, marking a cut
// with "…".
func clip(s string, n int) string {
	s = sanitize(s)
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
