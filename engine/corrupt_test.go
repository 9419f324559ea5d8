package engine

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/index"
	"github.com/goodseed/goodseed-go/internal/segtest"
	"github.com/goodseed/goodseed-go/internal/vfs"
	"github.com/goodseed/goodseed-go/segment"
	"github.com/goodseed/goodseed-go/series"
)

// Engine-level corruption tests: what a reader and a resuming writer make
// of a run whose files were truncated, bit-flipped, zeroed, deleted or
// extended (DESIGN.md, "Reliability contract"). Every test checks the same
// three things: nothing is returned that was not logged, the damage is
// reported with its file and offset, and everything outside the damaged
// unit is still read.
//
// Runs live in a vfs.MemFS, so a test can copy a whole run per case for
// the price of a few small allocations.

// pointKey names one point: a series and a step.
type pointKey struct {
	path string
	step float64
}

// runContent is what a run returns, or what one block holds: metric values
// as bits (NaN payloads compared exactly), string points, configs, meta.
type runContent struct {
	metrics map[pointKey]uint64
	texts   map[pointKey]string
	configs map[string]Value
	meta    map[string]string
}

func newRunContent() runContent {
	return runContent{
		metrics: map[pointKey]uint64{}, texts: map[pointKey]string{},
		configs: map[string]Value{}, meta: map[string]string{},
	}
}

// add merges o into c; o wins (it is later in write order).
func (c runContent) add(o runContent) {
	for k, v := range o.metrics {
		c.metrics[k] = v
	}
	for k, v := range o.texts {
		c.texts[k] = v
	}
	for k, v := range o.configs {
		c.configs[k] = v
	}
	for k, v := range o.meta {
		c.meta[k] = v
	}
}

func (c runContent) clone() runContent {
	d := newRunContent()
	d.add(c)
	return d
}

func (c runContent) points() int { return len(c.metrics) + len(c.texts) }

// readAll reads every series, the configs and the meta of r, and returns
// them with every read error (a damaged block is skipped with an error).
func readAll(r *Reader) (runContent, []error) {
	got := newRunContent()
	var errs []error
	for _, fi := range r.Fields() {
		switch fi.Kind {
		case KindMetric:
			var c series.MetricColumns
			if err := r.ReadMetric(fi.Path, &c); err != nil {
				errs = append(errs, err)
			}
			for i, st := range c.Steps {
				got.metrics[pointKey{fi.Path, st}] = math.Float64bits(c.Values[i])
			}
		case KindString:
			var c series.StringColumns
			if err := r.ReadString(fi.Path, &c); err != nil {
				errs = append(errs, err)
			}
			for i, st := range c.Steps {
				got.texts[pointKey{fi.Path, st}] = c.Values[i]
			}
		}
	}
	for p, c := range r.Configs() {
		got.configs[p] = c.Value
	}
	for k, m := range r.Meta() {
		got.meta[k] = m.Val
	}
	return got, errs
}

// requireSubset checks that everything got holds was logged (is in want,
// bit-exact) and that everything want holds and got lacks is in lost. It
// runs over every point of every case, so it checks with plain ifs:
// require's t.Helper per call would dominate the test's time.
func requireSubset(t testing.TB, want, got, lost runContent, msg string) {
	t.Helper()
	for k, v := range got.metrics {
		if w, ok := want.metrics[k]; !ok || w != v {
			t.Fatalf("%s: returned point %v = %x was never logged (logged: %v %x)", msg, k, v, ok, w)
		}
	}
	for k, v := range got.texts {
		if w, ok := want.texts[k]; !ok || w != v {
			t.Fatalf("%s: returned string point %v = %q was never logged (logged: %v %q)", msg, k, v, ok, w)
		}
	}
	for p, v := range got.configs {
		if w, ok := want.configs[p]; !ok || !w.Equal(v) {
			t.Fatalf("%s: returned config %q = %v was never set (set: %v %v)", msg, p, v, ok, w)
		}
	}
	for k, v := range got.meta {
		if w, ok := want.meta[k]; !ok || w != v {
			t.Fatalf("%s: returned meta %q = %q was never set (set: %v %q)", msg, k, v, ok, w)
		}
	}
	for k := range want.metrics {
		if _, ok := got.metrics[k]; !ok {
			if _, allowed := lost.metrics[k]; !allowed {
				t.Fatalf("%s: point %v lost outside the damaged unit", msg, k)
			}
		}
	}
	for k := range want.texts {
		if _, ok := got.texts[k]; !ok {
			if _, allowed := lost.texts[k]; !allowed {
				t.Fatalf("%s: string point %v lost outside the damaged unit", msg, k)
			}
		}
	}
	for p := range want.configs {
		if _, ok := got.configs[p]; !ok {
			if _, allowed := lost.configs[p]; !allowed {
				t.Fatalf("%s: config %q lost outside the damaged unit", msg, p)
			}
		}
	}
	for k := range want.meta {
		if _, ok := got.meta[k]; !ok {
			if _, allowed := lost.meta[k]; !allowed {
				t.Fatalf("%s: meta %q lost outside the damaged unit", msg, k)
			}
		}
	}
}

// requireExact checks that got is want minus lost, exactly.
func requireExact(t testing.TB, want, got, lost runContent, msg string) {
	t.Helper()
	requireSubset(t, want, got, lost, msg)
	require.Equalf(t, want.points()-lostPoints(want, lost), got.points(), "%s: points read", msg)
	for p := range lost.configs {
		_, ok := got.configs[p]
		require.Falsef(t, ok, "%s: config %q of a lost unit was read", msg, p)
	}
}

func lostPoints(want, lost runContent) int {
	n := 0
	for k := range lost.metrics {
		if _, ok := want.metrics[k]; ok {
			n++
		}
	}
	for k := range lost.texts {
		if _, ok := want.texts[k]; ok {
			n++
		}
	}
	return n
}

// blockContent decodes the records of one block payload. paths maps field
// ids to paths (ids are dense and never reused, so the intact run's
// dictionary serves every block).
func blockContent(t testing.TB, payload []byte, paths []FieldInfo) runContent {
	t.Helper()
	c := newRunContent()
	for b := payload; len(b) > 0; {
		rec, rest, err := DecodeRecord(b)
		require.NoError(t, err)
		b = rest
		switch rec.Kind {
		case RecMetricChunk:
			var m series.MetricColumns
			require.NoError(t, series.DecodeMetricChunk(rec.Chunk, &m))
			for i, st := range m.Steps {
				c.metrics[pointKey{paths[rec.Field].Path, st}] = math.Float64bits(m.Values[i])
			}
		case RecStringChunk:
			var s series.StringColumns
			require.NoError(t, series.DecodeStringChunk(rec.Chunk, &s))
			for i, st := range s.Steps {
				c.texts[pointKey{paths[rec.Field].Path, st}] = s.Values[i]
			}
		case RecConfig:
			c.configs[paths[rec.Field].Path] = rec.Value
		case RecMeta:
			c.meta[rec.Key] = rec.Val
		}
	}
	return c
}

// runFiles is a run directory's files by base name.
type runFiles map[string][]byte

func readRunFiles(t testing.TB, fsys vfs.FS, dir string) runFiles {
	t.Helper()
	entries, err := fsys.ReadDir(dir)
	require.NoError(t, err)
	files := runFiles{}
	for _, e := range entries {
		f, err := fsys.Open(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		b, err := io.ReadAll(f)
		require.NoError(t, err)
		require.NoError(t, f.Close())
		files[e.Name()] = b
	}
	return files
}

func (files runFiles) clone() runFiles {
	c := make(runFiles, len(files))
	for n, b := range files {
		c[n] = slices.Clone(b)
	}
	return c
}

// mount writes files into a fresh MemFS under dir.
func (files runFiles) mount(t testing.TB, dir string) *vfs.MemFS {
	t.Helper()
	mem := vfs.NewMem()
	require.NoError(t, mem.MkdirAll(dir, 0o755))
	for n, b := range files {
		f, err := mem.Create(filepath.Join(dir, n))
		require.NoError(t, err)
		_, err = f.Write(b)
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
	return mem
}

// finding is a located report: damage, a torn tail or a damaged index.
type finding struct {
	file   string // base name
	offset int64
	torn   bool
}

func (f finding) String() string { return fmt.Sprintf("%s@%d(torn=%v)", f.file, f.offset, f.torn) }

// findings collects every located error in err's tree.
func findings(err error) []finding {
	var out []finding
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		var ce *segment.CorruptionError
		var te *segment.TornTailError
		var ie *index.CorruptionError
		var le *LossError
		switch {
		case errors.As(err, &le) && err == error(le):
			out = append(out, finding{file: filepath.Base(le.File), offset: le.Offset})
		case errors.As(err, &ce) && err == error(ce):
			out = append(out, finding{file: filepath.Base(ce.File), offset: ce.Offset})
		case errors.As(err, &te) && err == error(te):
			out = append(out, finding{file: filepath.Base(te.File), offset: te.Offset, torn: true})
		case errors.As(err, &ie) && err == error(ie):
			out = append(out, finding{file: filepath.Base(ie.File), offset: ie.Offset})
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}

// reportFindings collects the located entries of a report and of read
// errors. Every corruption the report lists must be located.
func reportFindings(t testing.TB, rep RecoveryReport, readErrs []error) []finding {
	t.Helper()
	var out []finding
	for _, c := range rep.Corruptions {
		f := findings(c)
		require.NotEmptyf(t, f, "report entry without file and offset: %v", c)
		out = append(out, f...)
	}
	for _, tt := range rep.Torn {
		out = append(out, finding{file: filepath.Base(tt.File), offset: tt.Offset, torn: true})
	}
	for _, v := range rep.UnknownVersion {
		// A flipped major-version bit: the header at offset 0 is the unit.
		require.ErrorIs(t, v, segment.ErrUnknownVersion)
		out = append(out, finding{file: filepath.Base(v.File), offset: 0})
	}
	for _, e := range readErrs {
		f := findings(e)
		require.NotEmptyf(t, f, "read error without file and offset: %v", e)
		for _, fi := range f {
			require.Containsf(t, e.Error(), fi.file, "read error text names the file")
			if fi.offset >= 0 { // -1: the file as a whole (a missing segment)
				require.Containsf(t, e.Error(), fmt.Sprintf("offset %d", fi.offset), "read error text names the offset")
			}
		}
		out = append(out, f...)
	}
	return out
}

// unit is one checksummed unit of a run's files: a segment header, block,
// footer or trailer, or the whole index file. Together they tile the files.
type unit struct {
	file     string
	off, end int64
	kind     string // "header", "block", "footer", "trailer", "index", "mark"
	content  runContent
}

func (u unit) String() string { return fmt.Sprintf("%s %s [%d,%d)", u.file, u.kind, u.off, u.end) }

// corruptRun is a closed run with several sealed segments and an index,
// its files, what was logged into it and the units its files are made of.
type corruptRun struct {
	dir   string
	files runFiles
	want  runContent
	units []unit
	segs  []string // segment names in order
}

// corruptRunFields are the series of the corruption workload.
var corruptRunFields = []string{"train/loss", "train/noise", "lr", "log"}

// buildCorruptRun logs a small realistic run: a smooth metric, a metric of
// random bits (NaN payloads included), a schedule, a string series,
// configs before and during the run and a status at the end, flushed
// every 100 steps into small blocks and segments.
func buildCorruptRun(t testing.TB) *corruptRun {
	t.Helper()
	mem := vfs.NewMem()
	s, dir := newRun(t, Options{
		FS: mem, FlushInterval: time.Hour, BlockTargetBytes: 1024, SegmentTargetBytes: 9 << 10,
		InitialChunkPoints: 16, MaxChunkPoints: 64,
	})
	want := newRunContent()
	setConfig := func(p string, v Value) {
		require.NoError(t, s.SetConfig(p, v))
		want.configs[p] = v
	}
	setConfig("params/lr", Float(3e-4))
	setConfig("params/name", String("adam ✓"))
	setConfig("sys/tags", StringSet("b", "a"))
	fields := make([]*Field, len(corruptRunFields))
	for i, p := range corruptRunFields {
		kind := KindMetric
		if p == "log" {
			kind = KindString
		}
		var err error
		fields[i], err = s.Field(p, kind)
		require.NoError(t, err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const steps = 2000
	for i := 0; i < steps; i++ {
		st := float64(i)
		values := []float64{
			float64(float32(2 / (1 + st/100))),
			math.Float64frombits(rng.Uint64()),
			3e-4 * math.Pow(0.5, math.Floor(st/300)),
		}
		for k, v := range values {
			require.NoError(t, fields[k].LogMetric(st, v))
			want.metrics[pointKey{corruptRunFields[k], st}] = math.Float64bits(v)
		}
		if i%3 == 0 {
			text := fmt.Sprintf("step %d: loss %.4f", i, values[0])
			require.NoError(t, fields[3].LogString(st, text))
			want.texts[pointKey{"log", st}] = text
		}
		if i == steps/2 {
			setConfig("params/phase", Int(2))
		}
		if i%100 == 99 {
			require.NoError(t, s.Flush())
		}
	}
	require.NoError(t, s.SetMeta("status", "finished"))
	want.meta["status"] = "finished"
	require.NoError(t, s.Close())

	rn := &corruptRun{dir: dir, files: readRunFiles(t, mem, dir), want: want}
	delete(rn.files, "LOCK") // the owner record is not run data; the flips skip it

	// The units, from the intact files: every segment scanned, the index whole.
	r, err := OpenReader(dir, mem)
	require.NoError(t, err)
	defer r.Close()
	require.True(t, r.Report().Clean())
	require.False(t, r.Report().IndexRebuilt)
	paths := r.Fields()
	got, errs := readAll(r)
	require.Empty(t, errs)
	requireExact(t, want, got, newRunContent(), "intact run")

	all := newRunContent()
	for name, b := range rn.files {
		size := int64(len(b))
		if name == index.FileName {
			rn.units = append(rn.units, unit{file: name, off: 0, end: size, kind: "index", content: newRunContent()})
			continue
		}
		if _, ok := ParseMarkFileName(name); ok {
			rn.units = append(rn.units, unit{file: name, off: 0, end: size, kind: "mark", content: newRunContent()})
			continue
		}
		_, _, ok := segment.ParseSegmentName(name)
		require.True(t, ok, "unexpected file %s", name)
		rn.segs = append(rn.segs, name)
		var blocks []unit
		rep, err := segment.Scan(mem, filepath.Join(dir, name), func(m segment.BlockMeta, p []byte) error {
			blocks = append(blocks, unit{file: name, off: m.Offset, end: m.End(), kind: "block", content: blockContent(t, p, paths)})
			return nil
		})
		require.NoError(t, err)
		require.True(t, rep.OK() && rep.Sealed, "%s: %+v", name, rep)
		require.NotEmpty(t, blocks, "%s has no blocks", name)
		for _, b := range blocks {
			all.add(b.content)
		}
		rn.units = append(rn.units, unit{file: name, off: 0, end: blocks[0].off, kind: "header", content: newRunContent()})
		rn.units = append(rn.units, blocks...)
		rn.units = append(rn.units,
			unit{file: name, off: rep.Footer.Offset, end: size - 16, kind: "footer", content: newRunContent()},
			unit{file: name, off: size - 16, end: size, kind: "trailer", content: newRunContent()})
	}
	slices.Sort(rn.segs)
	slices.SortFunc(rn.units, func(a, b unit) int {
		if c := strings.Compare(a.file, b.file); c != 0 {
			return c
		}
		return int(a.off - b.off)
	})
	// The units tile every file, and the blocks hold exactly what was logged.
	for i, u := range rn.units {
		if i == 0 || rn.units[i-1].file != u.file {
			require.Zero(t, u.off, "%v starts its file", u)
		} else {
			require.Equal(t, rn.units[i-1].end, u.off, "%v follows %v", u, rn.units[i-1])
		}
		if i == len(rn.units)-1 || rn.units[i+1].file != u.file {
			require.EqualValues(t, len(rn.files[u.file]), u.end, "%v ends its file", u)
		}
	}
	requireExact(t, want, all, newRunContent(), "blocks of the intact run")
	for _, n := range rn.segs {
		t.Logf("%s: %d bytes, %d blocks", n, len(rn.files[n]), len(rn.blocksIn(n, 0, math.MaxInt64)))
	}
	require.GreaterOrEqual(t, len(rn.segs), 3, "the workload needs a middle segment")

	return rn
}

// unitAt returns the unit holding byte off of file.
func (rn *corruptRun) unitAt(file string, off int64) unit {
	for _, u := range rn.units {
		if u.file == file && u.off <= off && off < u.end {
			return u
		}
	}
	panic(fmt.Sprintf("no unit at %s@%d", file, off))
}

// blocksIn returns the block units of file overlapping [lo, hi).
func (rn *corruptRun) blocksIn(file string, lo, hi int64) []unit {
	var out []unit
	for _, u := range rn.units {
		if u.file == file && u.kind == "block" && u.off < hi && lo < u.end {
			out = append(out, u)
		}
	}
	return out
}

// lostWith is the union of the units' contents.
func lostWith(units ...unit) runContent {
	c := newRunContent()
	for _, u := range units {
		c.add(u.content)
	}
	return c
}

// TestCorruptBitFlips flips one random bit of one file of a closed run,
// a thousand times over (each on a fresh copy), and reads everything back.
func TestCorruptBitFlips(t *testing.T) {
	flips := 1000
	if raceEnabled || testing.Short() {
		flips = 200
	}
	rn := buildCorruptRun(t)
	var names []string
	var total int64
	for n, b := range rn.files {
		names = append(names, n)
		total += int64(len(b))
	}
	slices.Sort(names)
	rng := rand.New(rand.NewPCG(0x5eed, 0xf11b))
	hits := map[string]int{}
	// First one flip inside every unit, so each kind (header, block,
	// footer, trailer, index) is hit whatever the random draws; then
	// flips at bytes drawn uniformly over all files.
	for i := 0; i < len(rn.units)+flips; i++ {
		var file string
		var pos int64
		if i < len(rn.units) {
			u := rn.units[i]
			file, pos = u.file, u.off+rng.Int64N(u.end-u.off)
		} else {
			pos = rng.Int64N(total)
			for _, n := range names {
				if pos < int64(len(rn.files[n])) {
					file = n
					break
				}
				pos -= int64(len(rn.files[n]))
			}
		}
		bit := rng.UintN(8)
		u := rn.unitAt(file, pos)
		hits[u.kind]++
		msg := fmt.Sprintf("flip %d: bit %d of %s@%d (%v)", i, bit, file, pos, u)

		files := rn.files.clone()
		files[file][pos] ^= 1 << bit
		mem := files.mount(t, rn.dir)
		r, err := OpenReader(rn.dir, mem)
		require.NoError(t, err, msg)
		got, errs := readAll(r)
		rep := r.Report()
		require.Equal(t, "test-run", r.RunID(), msg)
		require.NoError(t, r.Close())

		// (a) nothing unlogged, and (c) nothing lost outside the unit hit.
		requireSubset(t, rn.want, got, u.content, msg)
		found := reportFindings(t, rep, errs)
		if u.kind == "mark" {
			// A sealed run has no torn tail to grade: a damaged mark
			// changes nothing a reader reads (Check reports it).
			require.Empty(t, found, msg)
			require.Empty(t, errs, msg)
			requireExact(t, rn.want, got, newRunContent(), msg)
			continue
		}
		if u.kind == "index" {
			// A damaged index is rebuilt from the segments: same results.
			require.True(t, rep.IndexRebuilt, msg)
			require.Contains(t, rep.IndexProblem, filepath.Join(rn.dir, index.FileName), msg)
			require.Empty(t, found, msg)
			require.Empty(t, errs, msg)
			requireExact(t, rn.want, got, newRunContent(), msg)
			continue
		}
		// (b) detected, located in the unit hit, and nowhere else.
		require.NotEmpty(t, found, "%s: not detected (report %+v)", msg, rep)
		for _, f := range found {
			require.Falsef(t, f.torn, "%s: reported as a torn tail: %v", msg, f)
			require.Equalf(t, file, f.file, "%s: reported elsewhere: %v", msg, f)
			require.Truef(t, u.off <= f.offset && f.offset < u.end, "%s: reported at %v, outside the unit", msg, f)
		}
	}
	t.Logf("%d flips by unit hit: %v", len(rn.units)+flips, hits)
}

// TestCorruptDamage runs a table of corruptions of a closed run through
// one driver: each damages the files, says what must be reported and what
// is lost, and the driver checks that the rest reads back exactly.
func TestCorruptDamage(t *testing.T) {
	rn := buildCorruptRun(t)
	first, middle, last := rn.segs[0], rn.segs[1], rn.segs[len(rn.segs)-1]
	const pageBytes = 4096
	garbage := make([]byte, 1000)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range garbage {
		garbage[i] = byte(rng.Uint32())
	}
	type where struct {
		file     string
		lo, hi   int64 // a finding's offset is in [lo, hi)
		optional bool  // may be reported, need not be
	}
	type expect struct {
		rebuilt bool
		problem string // in IndexProblem
		missing []string
		found   []where // each must be reported; nothing else may be
		lost    runContent
	}
	editIndex := func(files runFiles, edit func(ix *index.Index)) {
		ix, err := index.Unmarshal(files[index.FileName])
		require.NoError(t, err)
		edit(ix)
		b, err := ix.MarshalBinary()
		require.NoError(t, err)
		files[index.FileName] = b
	}
	zeroPage := func(files runFiles) { clear(files[first][pageBytes : 2*pageBytes]) }
	pageLost := func() expect {
		var e expect
		blocks := rn.blocksIn(first, pageBytes, 2*pageBytes)
		require.NotEmpty(t, blocks)
		for _, b := range blocks {
			e.found = append(e.found, where{file: first, lo: b.off, hi: b.off + 1})
		}
		e.lost = lostWith(blocks...)
		return e
	}
	segmentLost := func(name string) runContent {
		var us []unit
		for _, u := range rn.units {
			if u.file == name {
				us = append(us, u)
			}
		}
		return lostWith(us...)
	}
	for _, tc := range []struct {
		name    string
		corrupt func(files runFiles)
		expect  func() expect
	}{
		{
			name:    "zeroed page mid-segment",
			corrupt: zeroPage,
			expect:  pageLost, // the index is trusted; each damaged block fails its read
		},
		{
			name:    "zeroed page mid-segment, no index",
			corrupt: func(files runFiles) { zeroPage(files); delete(files, index.FileName) },
			expect: func() expect {
				e := pageLost()
				// The rebuild's scan reports the first damaged block, then
				// either the next (when the first one's header verified) or
				// nothing until the next block that verifies.
				e.rebuilt, e.problem = true, "index missing"
				for i := range e.found[1:] {
					e.found[1+i].optional = true
				}
				return e
			},
		},
		{
			name:    "deleted middle segment",
			corrupt: func(files runFiles) { delete(files, middle) },
			expect: func() expect {
				return expect{rebuilt: true, problem: "index lists segment " + middle + ", which is missing",
					missing: []string{middle}, lost: segmentLost(middle), found: []where{{file: middle, lo: -1, hi: 0}}}
			},
		},
		{
			name:    "deleted middle segment, no index",
			corrupt: func(files runFiles) { delete(files, middle); delete(files, index.FileName) },
			expect: func() expect {
				return expect{rebuilt: true, problem: "index missing", missing: []string{middle}, lost: segmentLost(middle),
					found: []where{{file: middle, lo: -1, hi: 0}}}
			},
		},
		{
			name:    "garbage after the last segment",
			corrupt: func(files runFiles) { files[last] = append(files[last], garbage...) },
			expect: func() expect {
				size := int64(len(rn.files[last]))
				return expect{rebuilt: true, problem: last, found: []where{{file: last, lo: size, hi: size + 1}}}
			},
		},
		{
			name: "index truncated",
			corrupt: func(files runFiles) {
				files[index.FileName] = files[index.FileName][:len(files[index.FileName])/2]
			},
			expect: func() expect { return expect{rebuilt: true, problem: filepath.Join(rn.dir, index.FileName)} },
		},
		{
			name:    "index of another run",
			corrupt: func(files runFiles) { editIndex(files, func(ix *index.Index) { ix.RunID = "other-run" }) },
			expect:  func() expect { return expect{rebuilt: true, problem: `"other-run"`} },
		},
		{
			name: "index claims more than the segment holds",
			corrupt: func(files runFiles) {
				editIndex(files, func(ix *index.Index) {
					ix.Segments[len(ix.Segments)-1].Covered = int64(len(rn.files[last])) + 1
				})
			},
			expect: func() expect {
				// The reader cannot know what the missing byte held, only
				// that it is missing: it says so.
				size := int64(len(rn.files[last]))
				return expect{rebuilt: true, problem: "index covers", found: []where{{file: last, lo: size, hi: size + 1}}}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := rn.files.clone()
			tc.corrupt(files)
			e := tc.expect()
			if e.lost.metrics == nil {
				e.lost = newRunContent()
			}
			mem := files.mount(t, rn.dir)
			r, err := OpenReader(rn.dir, mem)
			require.NoError(t, err)
			defer r.Close()
			got, errs := readAll(r)
			rep := r.Report()
			require.Equal(t, "test-run", r.RunID())
			require.Equal(t, e.rebuilt, rep.IndexRebuilt, rep.IndexProblem)
			if e.problem != "" {
				require.Contains(t, rep.IndexProblem, e.problem)
			}
			require.Equal(t, e.missing, rep.MissingSegments)
			require.Empty(t, rep.Torn)
			found := reportFindings(t, rep, errs)
			for _, w := range e.found {
				if w.optional {
					continue
				}
				require.Truef(t, slices.ContainsFunc(found, func(f finding) bool {
					return f.file == w.file && w.lo <= f.offset && f.offset < w.hi
				}), "%v not reported; found %v", w, found)
			}
			for _, f := range found {
				require.Truef(t, slices.ContainsFunc(e.found, func(w where) bool {
					return f.file == w.file && w.lo <= f.offset && f.offset < w.hi
				}), "unexpected report %v", f)
			}
			require.Equal(t, e.rebuilt || len(found) > 0 || len(e.missing) > 0, !rep.Clean() || rep.IndexRebuilt || len(errs) > 0)
			requireExact(t, rn.want, got, e.lost, tc.name)
		})
	}
}

// TestCorruptTruncateTail cuts the newest segment of a crashed writer at
// every byte offset. The writer had resumed a closed run (so the index
// covers the first segment only), flushed small blocks and synced; the
// crash clone of its file system is what kill -9 leaves.
func TestCorruptTruncateTail(t *testing.T) {
	mem := vfs.NewMem()
	opts := Options{FS: mem, FlushInterval: time.Hour, BlockTargetBytes: 256, InitialChunkPoints: 8, MaxChunkPoints: 32}
	s, dir := newRun(t, opts)
	want := newRunContent()
	logStep := func(s *Store, paths []string, st float64) {
		for k, p := range paths {
			f, err := s.Field(p, KindMetric)
			require.NoError(t, err)
			v := st*10 + float64(k)
			require.NoError(t, f.LogMetric(st, v))
			want.metrics[pointKey{p, st}] = math.Float64bits(v)
		}
	}
	require.NoError(t, s.SetConfig("params/lr", Float(0.1)))
	want.configs["params/lr"] = Float(0.1)
	for st := 0; st < 50; st++ {
		logStep(s, []string{"a", "b"}, float64(st))
	}
	require.NoError(t, s.Close())
	session1 := want.clone()

	// Session 2: resume, flush a batch at a time, define a field and set a
	// config midway, sync; then the crash.
	s, err := Open(dir, opts)
	require.NoError(t, err)
	for batch := 0; batch < 15; batch++ {
		paths := []string{"a", "b"}
		if batch >= 8 {
			paths = append(paths, "late")
		}
		for st := 50 + batch*8; st < 58+batch*8; st++ {
			logStep(s, paths, float64(st))
		}
		if batch == 5 {
			require.NoError(t, s.SetConfig("params/phase", Int(2)))
			want.configs["params/phase"] = Int(2)
		}
		require.NoError(t, s.Flush())
	}
	// kill -9 now: every flushed byte is in the files, no footer, and no
	// index covers the segment.
	crashed := readRunFiles(t, mem, dir)
	require.NoError(t, s.Close())
	// Without its writer's mark, as an older writer left runs: every cut
	// reads as a crash's torn tail. (TestTruncateBelowMark cuts the same
	// run with its mark.)
	require.Contains(t, crashed, MarkFileName(1))
	delete(crashed, MarkFileName(1))

	seg := segment.SegmentName(1, 2)
	segPath := filepath.Join(dir, seg)
	intact := crashed[seg]
	require.NotContains(t, crashed, segment.SegmentName(1, 3))

	// The blocks of the intact tail segment, with what each holds.
	crashedFS := crashed.mount(t, dir)
	r0, err := OpenReader(dir, crashedFS)
	require.NoError(t, err)
	paths := r0.Fields()
	require.NoError(t, r0.Close())
	type block struct {
		off, end int64
		content  runContent
	}
	var blocks []block
	rep, err := segment.Scan(crashedFS, segPath, func(m segment.BlockMeta, p []byte) error {
		blocks = append(blocks, block{m.Offset, m.End(), blockContent(t, p, paths)})
		return nil
	})
	require.NoError(t, err)
	require.True(t, rep.OK() && !rep.Sealed)
	require.EqualValues(t, len(intact), rep.ValidEnd)
	require.GreaterOrEqual(t, len(blocks), 10)
	all := session1.clone()
	for _, b := range blocks {
		all.add(b.content)
	}
	requireExact(t, want, all, newRunContent(), "session 1 and the blocks of session 2")
	hdrEnd := blocks[0].off

	stride := 1
	if raceEnabled || testing.Short() {
		stride = 7 // still every kind of offset: header, block header, payload, trailer
	}
	extra := 0.0
	for cut := 0; cut <= len(intact); cut += stride {
		c := int64(cut)
		msg := fmt.Sprintf("cut at %d of %d", c, len(intact))
		// Expected: session 1 plus the blocks wholly before the cut; torn
		// from the start of the block the cut is in (0: the header).
		exp := session1.clone()
		tornAt := int64(-1)
		if c < hdrEnd {
			tornAt = 0
		}
		for _, b := range blocks {
			switch {
			case b.end <= c:
				exp.add(b.content)
			case b.off < c:
				tornAt = b.off
			}
		}
		files := crashed.clone()
		files[seg] = files[seg][:c]
		fsys := files.mount(t, dir)

		// (a) A reader: the complete blocks, the torn tail reported.
		r, err := OpenReader(dir, fsys)
		require.NoError(t, err, msg)
		got, errs := readAll(r)
		rep := r.Report()
		require.NoError(t, r.Close())
		require.Empty(t, errs, msg)
		require.Empty(t, rep.Corruptions, msg)
		require.False(t, rep.IndexRebuilt, msg)
		requireExact(t, exp, got, newRunContent(), msg)
		if tornAt < 0 {
			require.Empty(t, rep.Torn, msg)
		} else {
			require.Len(t, rep.Torn, 1, msg)
			require.Equal(t, segPath, rep.Torn[0].File, msg)
			require.Equal(t, tornAt, rep.Torn[0].Offset, msg)
			require.Equal(t, c-tornAt, rep.Torn[0].Size, msg)
		}

		// (b) A writer: the tail cut and kept aside, the run resumable.
		s, err := Open(dir, Options{FS: fsys, FlushInterval: time.Hour})
		require.NoError(t, err, msg)
		rec := s.Recovery()
		require.Empty(t, rec.Corruptions, msg)
		require.Empty(t, rec.Torn, msg)
		require.Empty(t, rec.MissingSegments, msg)
		if tornAt < 0 {
			require.Empty(t, rec.Cuts, msg)
		} else {
			saved := fmt.Sprintf("%s.torn-%d", seg, tornAt)
			require.Equal(t, []TailCut{{Segment: seg, Offset: tornAt, Bytes: c - tornAt, SavedAs: saved}}, rec.Cuts, msg)
			require.Equal(t, intact[tornAt:c], readRunFiles(t, fsys, dir)[saved], msg)
			fi, err := fsys.Stat(segPath)
			if tornAt == 0 {
				require.ErrorIs(t, err, fs.ErrNotExist, msg)
			} else {
				require.NoError(t, err, msg)
				require.Equal(t, tornAt, fi.Size(), msg)
			}
		}
		extra++
		f2, err := s.Field("after", KindMetric)
		require.NoError(t, err, msg)
		require.NoError(t, f2.LogMetric(extra, -extra), msg)
		require.NoError(t, s.Close(), msg)

		s, err = Open(dir, Options{FS: fsys, FlushInterval: time.Hour})
		require.NoError(t, err, msg)
		require.True(t, s.Recovery().Clean(), "%s: reopen: %+v", msg, s.Recovery())
		require.False(t, s.Recovery().IndexRebuilt, msg)
		require.NoError(t, s.Close(), msg)

		r, err = OpenReader(dir, fsys)
		require.NoError(t, err, msg)
		got, errs = readAll(r)
		require.NoError(t, r.Close())
		require.Empty(t, errs, msg)
		exp.metrics[pointKey{"after", extra}] = math.Float64bits(-extra)
		requireExact(t, exp, got, newRunContent(), msg+", resumed")
	}
}

// TestCorruptMissingSegmentNames checks the gap detection behind
// RecoveryReport.MissingSegments on listings no test run produces: several
// writers, a missing first segment, a gap too wide to list.
func TestCorruptMissingSegmentNames(t *testing.T) {
	name := segment.SegmentName
	for _, tc := range []struct {
		name string
		segs []segFile
		want []string
	}{
		{"none", []segFile{{writer: 1, seq: 1}, {writer: 1, seq: 2}, {writer: 2, seq: 1}}, nil},
		{"middle", []segFile{{writer: 1, seq: 1}, {writer: 1, seq: 3}}, []string{name(1, 2)}},
		{"first", []segFile{{writer: 1, seq: 2}}, []string{name(1, 1)}},
		{"per writer", []segFile{{writer: 1, seq: 1}, {writer: 2, seq: 1}, {writer: 2, seq: 4}},
			[]string{name(2, 2), name(2, 3)}},
		{"wide", []segFile{{writer: 1, seq: 1}, {writer: 1, seq: 1 << 40}, {writer: 1, seq: 1<<40 + 2}},
			[]string{fmt.Sprintf("%s ... %s (%d segments)", name(1, 2), name(1, 1<<40-1), 1<<40-2), name(1, 1<<40+1)}},
	} {
		require.Equal(t, tc.want, missingSegments(tc.segs), tc.name)
	}
}

// TestUnknownVersionSegment: a segment whose major version reads as one we
// do not know is skipped and reported while the rest of the run reads; a
// run whose every segment does is refused with ErrUnknownVersion, and a
// writer refuses to resume either.
func TestUnknownVersionSegment(t *testing.T) {
	s, dir := newRun(t, Options{SegmentTargetBytes: 1024, BlockTargetBytes: 256})
	f, err := s.Field("m", KindMetric)
	require.NoError(t, err)
	for i := 0; i < 3000; i++ {
		require.NoError(t, f.LogMetric(float64(i), float64(i)))
		if i%100 == 0 {
			require.NoError(t, s.Flush())
		}
	}
	require.NoError(t, s.Close())
	require.NoError(t, os.Remove(filepath.Join(dir, index.FileName)))
	segs, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	require.NoError(t, err)
	require.Greater(t, len(segs), 2)
	bumpMajor := func(path string) {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		segtest.SetMajor(b, 9) // a real later major, checksummed as such
		require.NoError(t, os.WriteFile(path, b, 0o644))
	}

	// A flipped bit in the major version is damage to one header: every
	// block is still read.
	orig, err := os.ReadFile(segs[1])
	require.NoError(t, err)
	flipped := bytes.Clone(orig)
	flipped[9] ^= 0x08
	require.NoError(t, os.WriteFile(segs[1], flipped, 0o644))
	r := openReader(t, dir)
	require.Empty(t, r.Report().UnknownVersion)
	require.Len(t, r.Report().Corruptions, 1)
	require.ErrorContains(t, r.Report().Corruptions[0], "damaged major version")
	var all series.MetricColumns
	err = r.ReadMetric("m", &all)
	require.ErrorIs(t, err, segment.ErrCorrupt, "the header damage is reported with the read")
	require.Len(t, all.Steps, 3000, "every block of the segment is still read")
	require.NoError(t, r.Close())
	require.NoError(t, os.WriteFile(segs[1], orig, 0o644))

	bumpMajor(segs[1])
	r = openReader(t, dir)
	rep := r.Report()
	require.Len(t, rep.UnknownVersion, 1)
	require.Equal(t, segs[1], rep.UnknownVersion[0].File)
	c := readMetric(t, r, "m")
	require.NotEmpty(t, c.Steps)
	require.Less(t, len(c.Steps), 3000, "the unreadable segment's points are missing")
	for i, st := range c.Steps {
		require.Equal(t, st, c.Values[i])
	}
	_, err = Open(dir, Options{})
	require.ErrorIs(t, err, segment.ErrUnknownVersion)

	for _, p := range segs {
		if p != segs[1] {
			bumpMajor(p)
		}
	}
	_, err = OpenReader(dir, nil)
	require.ErrorIs(t, err, segment.ErrUnknownVersion)
}

// TestFlippedHeaderLengthIsNotATornTail: a bit flipped in the header length
// of a complete, sealed segment must not make resume cut the segment away
// as if it were a torn header (it held every point of the run).
func TestFlippedHeaderLengthIsNotATornTail(t *testing.T) {
	dir := t.TempDir()
	s, err := Create(dir, "flip", Options{})
	require.NoError(t, err)
	f, err := s.Field("m", KindMetric)
	require.NoError(t, err)
	for i := range 100 {
		require.NoError(t, f.LogMetric(float64(i), float64(i)))
	}
	require.NoError(t, s.Close())
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	require.Len(t, segs, 1)
	b, err := os.ReadFile(segs[0])
	require.NoError(t, err)
	b[13] ^= 0x20 // the header length, now past the end of the small file
	require.NoError(t, os.WriteFile(segs[0], b, 0o644))

	w, err := Open(dir, Options{})
	require.NoError(t, err)
	require.Empty(t, w.Recovery().Cuts, "nothing is cut")
	require.NoError(t, w.Close())
	_, err = os.Stat(segs[0])
	require.NoError(t, err, "the segment is still there")

	r, err := OpenReader(dir, nil)
	require.NoError(t, err)
	defer r.Close()
	var c series.MetricColumns
	err = r.ReadMetric("m", &c)
	require.ErrorIs(t, err, segment.ErrCorrupt, "the damage is reported")
	require.Equal(t, 100, c.Len(), "and every block behind the damaged header is still read")
}

// TestRefreshStepsOverDamage: a reader refreshing a live run past a damaged
// block reports it once and keeps seeing the blocks written after it.
func TestRefreshStepsOverDamage(t *testing.T) {
	dir := t.TempDir()
	s, err := Create(dir, "live", Options{FlushInterval: time.Hour})
	require.NoError(t, err)
	f, err := s.Field("m", KindMetric)
	require.NoError(t, err)
	logN := func(from, to int) {
		for i := from; i < to; i++ {
			require.NoError(t, f.LogMetric(float64(i), float64(i)))
		}
		require.NoError(t, s.Flush())
	}
	logN(0, 10)
	r, err := OpenReader(dir, nil)
	require.NoError(t, err)
	defer r.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	before, err := os.Stat(segs[0])
	require.NoError(t, err)

	logN(10, 20) // this block gets damaged
	fh, err := os.OpenFile(segs[0], os.O_RDWR, 0)
	require.NoError(t, err)
	_, err = fh.WriteAt([]byte{0xFF, 0xFF}, before.Size()+50)
	require.NoError(t, err)
	require.NoError(t, fh.Close())
	logN(20, 30)

	require.NoError(t, r.Refresh())
	require.Len(t, r.Report().Corruptions, 1)
	var c series.MetricColumns
	_ = r.ReadMetric("m", &c)
	require.Equal(t, 20, c.Len(), "the blocks before and after the damage")

	logN(30, 40)
	require.NoError(t, r.Refresh())
	require.Len(t, r.Report().Corruptions, 1, "reported once, not on every refresh")
	_ = r.ReadMetric("m", &c)
	require.Equal(t, 30, c.Len(), "and later blocks keep coming")
	require.NoError(t, s.Close())
}

// TestRefreshMeetsSegmentBeforeItsHeader: a reader refreshing a live run
// meets a new segment the writer has created but not yet written the
// header of (empty, or part of the header). A later Refresh, once the
// segment is whole, must read it — it used to take the segment as covered
// up to offset 0 and fail every Refresh after with "inside the file
// header" (found by gsinspect's several-servers-and-tail test).
func TestRefreshMeetsSegmentBeforeItsHeader(t *testing.T) {
	s, src := newRun(t, Options{FlushInterval: time.Hour, SegmentTargetBytes: 1024, BlockTargetBytes: 256})
	f, err := s.Field("m", KindMetric)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 2000 {
		require.NoError(t, f.LogMetric(float64(i), rng.Float64()))
		if i%50 == 49 {
			require.NoError(t, s.Flush())
		}
	}
	require.NoError(t, s.Close())
	segs, err := filepath.Glob(filepath.Join(src, "*.seg"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(segs), 3)
	want := readMetric(t, openReader(t, src), "m")
	require.Equal(t, 2000, want.Len())

	for _, prefix := range []int{0, 5, 20} { // empty, inside the magic, past the major
		t.Run(fmt.Sprint(prefix), func(t *testing.T) {
			dir := t.TempDir()
			copyFile := func(i, n int) {
				b, err := os.ReadFile(segs[i])
				require.NoError(t, err)
				require.NoError(t, os.WriteFile(filepath.Join(dir, filepath.Base(segs[i])), b[:min(n, len(b))], 0o644))
			}
			copyFile(0, 1<<30)
			copyFile(1, prefix) // created, header not (all) written yet
			r, err := OpenReader(dir, nil)
			require.NoError(t, err)
			defer r.Close()
			for i := 1; i < len(segs); i++ {
				copyFile(i, 1<<30) // the writer finishes it and goes on
				require.NoError(t, r.Refresh())
			}
			got := readMetric(t, r, "m")
			require.Equal(t, want, got)
			require.Empty(t, r.Report().Corruptions)
			require.Empty(t, r.Report().Torn)
		})
	}
}
