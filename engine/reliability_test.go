package engine

import (
	"bytes"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/index"
	"github.com/goodseed/goodseed-go/internal/vfs"
	"github.com/goodseed/goodseed-go/segment"
	"github.com/goodseed/goodseed-go/series"
)

// The corruption matrix (docs/reliability.md): one generated multi-segment
// run, damaged every way a disk or a person can damage it — every
// truncation point of its last segment, a thousand seeded bit flips over
// all its files (segments, index, LOCK), a zeroed 4 KiB page, a deleted
// middle segment, a damaged index — and for each damage:
//
//   - engine.Check finds it, naming the damaged file and an offset inside
//     the damaged unit (a flip Check does not report must be provably
//     harmless, and is counted apart);
//   - engine.OpenReader still opens the run and returns every block the
//     damage did not hit, exactly: the points of the surviving blocks
//     replayed in write order (last write wins), nothing else;
//   - engine.Salvage copies every valid block into a new run that opens
//     clean.
//
// The run has what makes damage hurt: fields defined all through it (so a
// lost block can take definitions with it), steps overwritten by later
// blocks, NaN payloads, string points, configs, string sets and meta, two
// writer sessions. The matrix runs on two states of it: closed (sealed
// segments, an index covering everything) and crashed (the second session
// killed: its last segment unsealed, the index stale).

// mBlock is one block of the generated run, decoded.
type mBlock struct {
	file     string
	off, end int64
	recs     []Record
}

// matrixRun is a generated run, its files and its blocks in write order.
type matrixRun struct {
	name   string
	dir    string
	files  runFiles
	blocks []mBlock
	units  []unit // tiling every segment file (header, blocks, footer, trailer)
	paths  []FieldInfo
	segs   []string
	// logged holds every value ever logged per key, for "nothing that
	// was never logged".
	loggedMetric map[loggedMetric]bool
	loggedText   map[loggedText]bool
	replays      map[string]runContent // replay results by lost blocks and view
	// snap is the intact index: its state snapshot and the blocks it
	// covers (by position in blocks).
	snap    *index.Index
	covered map[int]bool
}

type loggedMetric struct {
	k    pointKey
	bits uint64
}

type loggedText struct {
	k    pointKey
	text string
}

// view says where a reader's dictionary, configs and meta come from.
type view struct {
	snapDefs  bool // the index's dictionary is known (trusted, or read to seed a rebuild)
	snapState bool // configs and meta from the index's snapshot, replayed past what it covers
}

const matrixEpochMs = 1_750_000_000_000

// buildMatrixRun writes the run through the engine on a MemFS. crashed
// leaves the second session unclosed.
func buildMatrixRun(t testing.TB, crashed bool) *matrixRun {
	t.Helper()
	mem := vfs.NewMem()
	dir := "/m/run"
	opts := Options{FS: mem, FlushInterval: time.Hour, HeartbeatInterval: time.Hour,
		BlockTargetBytes: 900, SegmentTargetBytes: 7 << 10, InitialChunkPoints: 16, MaxChunkPoints: 64}
	s, err := Create(dir, "matrix", opts)
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(41, 42))
	logSession := func(s *Store, from, to int, tag string) {
		for i := from; i < to; i++ {
			st := float64(i)
			// A new field every 90 steps: definitions all through the run.
			nf := 2 + i/90
			for k := 0; k < nf; k++ {
				if k >= 2 && (i+k)%3 != 0 {
					continue
				}
				f, err := s.Field(fmt.Sprintf("%s/f%d", tag, k), KindMetric)
				require.NoError(t, err)
				v := float64(float32(1 / (1 + st + float64(k))))
				switch {
				case k == 1:
					v = math.Float64frombits(rng.Uint64()) // any bits, NaN payloads included
				case i%97 == 0:
					v = specialFloats[i%len(specialFloats)]
				}
				require.NoError(t, f.LogMetricAt(st, v, matrixEpochMs+int64(i)))
			}
			if i%4 == 0 {
				f, err := s.Field(tag+"/log", KindString)
				require.NoError(t, err)
				require.NoError(t, f.LogStringAt(st, fmt.Sprintf("step %d ✓ %x", i, rng.Uint32()), matrixEpochMs+int64(i)))
			}
			if i%250 == 249 {
				// Overwrite the last 30 steps of the first field.
				f, err := s.Field(tag+"/f0", KindMetric)
				require.NoError(t, err)
				for j := i - 30; j < i; j++ {
					require.NoError(t, f.LogMetricAt(float64(j), -float64(j), matrixEpochMs+int64(i)))
				}
			}
			if i%170 == 0 {
				require.NoError(t, s.SetConfig(fmt.Sprintf("cfg/%s%d", tag, i/170), Int(int64(i))))
				require.NoError(t, s.UpdateSet("sys/tags", SetAdd, fmt.Sprintf("t%d", i/170)))
				require.NoError(t, s.SetMeta("phase", fmt.Sprintf("%s %d", tag, i)))
			}
			if i%300 == 150 {
				require.NoError(t, s.UpdateSet("sys/tags", SetRemove, fmt.Sprintf("t%d", i/170-1)))
			}
			if i%40 == 39 {
				require.NoError(t, s.Flush())
			}
		}
	}
	logSession(s, 0, 1100, "a")
	require.NoError(t, s.SetMeta("status", "finished"))
	require.NoError(t, s.Close())
	s, err = Open(dir, opts)
	require.NoError(t, err)
	logSession(s, 1000, 1500, "b") // overlaps session a's steps on new fields
	require.NoError(t, s.Close())
	// A third, short session: the last segment, whose every truncation
	// point the matrix tries, is a few blocks.
	s, err = Open(dir, opts)
	require.NoError(t, err)
	logSession(s, 1500, 1580, "c")
	require.NoError(t, s.Flush())
	rn := &matrixRun{dir: dir, name: "closed"}
	if crashed {
		rn.name = "crashed"
		rn.files = readRunFiles(t, mem, dir) // what kill -9 leaves: every flushed byte
		require.NoError(t, s.Close())
	} else {
		require.NoError(t, s.Close())
		rn.files = readRunFiles(t, mem, dir)
	}
	rn.scan(t)
	return rn
}

// scan decodes the intact files: blocks in write order, units, final state.
func (rn *matrixRun) scan(t testing.TB) {
	mem := rn.files.mount(t, rn.dir)
	r, err := OpenReader(rn.dir, mem)
	require.NoError(t, err)
	rep := r.Report()
	require.Empty(t, rep.Corruptions)
	require.Empty(t, rep.Torn, "flushed blocks only")
	rn.paths = r.Fields()
	got, errs := readAll(r)
	require.Empty(t, errs)
	require.NoError(t, r.Close())
	for name := range rn.files {
		if _, _, ok := segment.ParseSegmentName(name); ok {
			rn.segs = append(rn.segs, name)
		}
	}
	slices.Sort(rn.segs) // one writer: name order is write order
	for _, name := range rn.segs {
		size := int64(len(rn.files[name]))
		var blocks []mBlock
		sr, err := segment.Scan(mem, filepath.Join(rn.dir, name), func(m segment.BlockMeta, p []byte) error {
			b := mBlock{file: name, off: m.Offset, end: m.End()}
			for rest := p; len(rest) > 0; {
				rec, next, err := DecodeRecord(rest)
				require.NoError(t, err)
				rec.Chunk = slices.Clone(rec.Chunk)
				b.recs = append(b.recs, rec)
				rest = next
			}
			blocks = append(blocks, b)
			return nil
		})
		require.NoError(t, err)
		require.NotEmpty(t, blocks)
		rn.blocks = append(rn.blocks, blocks...)
		rn.units = append(rn.units, unit{file: name, off: 0, end: blocks[0].off, kind: "header"})
		for _, b := range blocks {
			rn.units = append(rn.units, unit{file: name, off: b.off, end: b.end, kind: "block"})
		}
		last := blocks[len(blocks)-1].end
		if sr.Sealed {
			rn.units = append(rn.units,
				unit{file: name, off: last, end: size - 16, kind: "footer"},
				unit{file: name, off: size - 16, end: size, kind: "trailer"})
		} else {
			require.Equal(t, size, last, "%s: an unsealed segment ends with its last block", name)
		}
	}
	ix, err := index.Unmarshal(rn.files[index.FileName])
	require.NoError(t, err)
	rn.snap, rn.covered = ix, map[int]bool{}
	for _, e := range ix.Blocks {
		for i, b := range rn.blocks {
			if b.file == ix.Segments[e.Segment].Name && b.off == e.Offset {
				rn.covered[i] = true
			}
		}
	}
	// Every value ever logged, from the blocks themselves.
	rn.loggedMetric, rn.loggedText = map[loggedMetric]bool{}, map[loggedText]bool{}
	rn.replays = map[string]runContent{}
	all := rn.replay(nil, view{})
	require.Equal(t, got.points(), all.points(), "the blocks replayed give what the intact run reads")
	requireExact(t, got, all, newRunContent(), "intact replay")
}

// replay replays the blocks not in lost, in write order, as a reader with
// view v would: a field is known when a surviving block defines it or
// (v.snapDefs) the index's dictionary does; records of other fields are
// orphans. Configs and meta come from the surviving blocks, or (v.snapState)
// from the index's snapshot and the surviving blocks it does not cover. It
// also fills the logged-values maps.
func (rn *matrixRun) replay(lost map[int]bool, v view) runContent {
	keys := make([]int, 0, len(lost))
	for i := range lost {
		keys = append(keys, i)
	}
	slices.Sort(keys)
	key := fmt.Sprint(keys, v)
	if c, ok := rn.replays[key]; ok {
		return c
	}
	c := rn.replayUncached(lost, v)
	rn.replays[key] = c
	return c
}

func (rn *matrixRun) replayUncached(lost map[int]bool, v view) runContent {
	c := newRunContent()
	known := map[uint32]bool{}
	sets := map[string][]string{}
	if v.snapDefs || v.snapState {
		for b := rn.snap.State; len(b) > 0; {
			rec, rest, err := DecodeRecord(b)
			if err != nil {
				panic(err)
			}
			b = rest
			switch {
			case rec.Kind == RecFieldDef && v.snapDefs:
				known[rec.Field] = true
			case rec.Kind == RecConfig && v.snapState:
				p := rn.paths[rec.Field].Path
				c.configs[p] = rec.Value
				sets[p] = rec.Value.Set
			case rec.Kind == RecMeta && v.snapState:
				c.meta[rec.Key] = rec.Val
			}
		}
	}
	for bi, b := range rn.blocks {
		if lost[bi] {
			continue
		}
		for _, rec := range b.recs {
			if rec.Kind == RecFieldDef {
				known[rec.Field] = true
				continue
			}
			if rec.Kind != RecMeta && !known[rec.Field] {
				continue // an orphan: its definition is lost
			}
			if v.snapState && rn.covered[bi] && rec.Kind != RecMetricChunk && rec.Kind != RecStringChunk {
				continue // the snapshot holds its effect
			}
			switch rec.Kind {
			case RecMetricChunk:
				var m series.MetricColumns
				if err := series.DecodeMetricChunk(rec.Chunk, &m); err != nil {
					panic(err)
				}
				for i, st := range m.Steps {
					k := pointKey{rn.paths[rec.Field].Path, st}
					bits := math.Float64bits(m.Values[i])
					c.metrics[k] = bits
					rn.loggedMetric[loggedMetric{k, bits}] = true
				}
			case RecStringChunk:
				var s series.StringColumns
				if err := series.DecodeStringChunk(rec.Chunk, &s); err != nil {
					panic(err)
				}
				for i, st := range s.Steps {
					k := pointKey{rn.paths[rec.Field].Path, st}
					c.texts[k] = s.Values[i]
					rn.loggedText[loggedText{k, s.Values[i]}] = true
				}
			case RecConfig:
				c.configs[rn.paths[rec.Field].Path] = rec.Value
			case RecSetOp:
				p := rn.paths[rec.Field].Path
				sets[p] = applySetOp(sets[p], rec.SetOp, rec.Items)
				c.configs[p] = StringSet(sets[p]...)
			case RecMeta:
				c.meta[rec.Key] = rec.Val
			}
		}
	}
	return c
}

// blocksHit returns the indexes of the blocks overlapping [lo, hi) of file.
func (rn *matrixRun) blocksHit(file string, lo, hi int64) map[int]bool {
	out := map[int]bool{}
	for i, b := range rn.blocks {
		if b.file == file && b.off < hi && lo < b.end {
			out[i] = true
		}
	}
	return out
}

func (rn *matrixRun) unitAt(file string, off int64) (unit, bool) {
	for _, u := range rn.units {
		if u.file == file && u.off <= off && off < u.end {
			return u, true
		}
	}
	return unit{}, false
}

// damage is one case of the matrix.
type damage struct {
	name  string
	edit  func(files runFiles)
	lost  map[int]bool // blocks the damage takes
	where []mloc       // Check must report one finding at one of these
	// harmless: the damage touches nothing any reader reads (counted
	// apart; Check may stay silent).
	harmless bool
	// boundary: a cut at a block boundary of an unsealed segment no index
	// covers: exactly what a crash after an earlier flush leaves, so no
	// reader or Check can tell anything is missing (counted apart).
	boundary bool
	// versionField: a flip in a segment header's major version.
	versionField bool
	// wantDamage: the bytes hit were written and acknowledged (the
	// writer's mark vouches for them): Check must grade it damage, not a
	// crash's torn tail.
	wantDamage bool
	unit       string // the kind of unit hit, for the tally
}

// mloc is a place a finding may name: file, and offsets [lo, hi) (lo < 0:
// the file as a whole).
type mloc struct {
	file   string
	lo, hi int64
}

// matrixStats counts what the matrix did.
type matrixStats struct {
	cases, detected, harmless, boundary, salvaged int
	shortReported, resumed                        int
	versionRead                                   int
	blocksLost                                    int
}

// runCase applies one damage and checks Check, OpenReader and Salvage.
func (rn *matrixRun) runCase(t *testing.T, d damage, st *matrixStats) {
	t.Helper()
	msg := rn.name + ": " + d.name
	files := rn.files.clone()
	d.edit(files)
	mem := files.mount(t, rn.dir)
	st.cases++
	st.blocksLost += len(d.lost)

	// (1) Check finds it where it is.
	var found []Finding
	_, err := Check(rn.dir, mem, func(f Finding) { found = append(found, f) })
	require.NoError(t, err, msg)
	hit := slices.ContainsFunc(found, func(f Finding) bool {
		if f.Severity == Info {
			return false
		}
		return slices.ContainsFunc(d.where, func(w mloc) bool {
			return filepath.Base(f.File) == w.file && (w.lo < 0 || (w.lo <= f.Offset && f.Offset < w.hi))
		})
	})
	switch {
	case hit:
		st.detected++
	case d.harmless:
		st.harmless++
	case d.boundary:
		st.boundary++
	default:
		t.Fatalf("%s: Check did not report it at %v; findings: %v", msg, d.where, found)
	}

	// (2) A reader opens the run and returns every block not hit, exactly.
	r, err := OpenReader(rn.dir, mem)
	require.NoError(t, err, "%s: the rest of the run must stay readable", msg)
	got, readErrs := readAll(r)
	rep := r.Report()
	require.NoError(t, r.Close())
	require.Equal(t, "matrix", r.RunID(), msg)
	lost := d.lost
	// A flip in the major-version field is header damage (the header
	// verifies as major 1), not a later format: every block still reads.
	require.Empty(t, rep.UnknownVersion, "%s: a flipped major version taken for a later format", msg)
	if d.versionField {
		st.versionRead++
	}
	// A trusted index gives the dictionary and state; a rebuild takes
	// the dictionary of an index whose checksum holds.
	v := view{snapDefs: true, snapState: !rep.IndexRebuilt}
	if rep.IndexRebuilt {
		_, err := index.Unmarshal(files[index.FileName])
		v.snapDefs = err == nil
	}
	want := rn.replay(lost, v)
	rn.requireLogged(t, got, msg)
	requirePointsEqual(t, want, got, msg)
	requireConfigsEqual(t, want, got, msg)
	full := rn.replay(nil, view{})
	if len(lost) == 0 && !d.harmless {
		requirePointsEqual(t, full, got, msg+" (nothing lost)")
	}
	// Nothing is silently short: a read that returns less (or an older
	// value of a step) than the run held says so, with damage errors.
	short := !samePoints(full, got)
	if short {
		require.NotEmpty(t, readErrs, "%s: the reads came back short without an error", msg)
		for _, e := range readErrs {
			require.ErrorIs(t, e, segment.ErrCorrupt, msg)
		}
		st.shortReported++
	}
	if d.wantDamage {
		require.True(t, slices.ContainsFunc(found, func(f Finding) bool {
			return f.Severity == Damage && slices.ContainsFunc(d.where, func(w mloc) bool { return filepath.Base(f.File) == w.file })
		}), "%s: acknowledged bytes damaged, yet no damage finding: %v", msg, found)
	}

	// (3) Salvage copies every valid block into a run that opens clean.
	dst := "/salvaged/" + fmt.Sprint(st.cases)
	srep, err := Salvage(rn.dir, dst, mem)
	require.NoError(t, err, msg)
	sr, err := OpenReader(dst, mem)
	require.NoError(t, err, msg)
	sgot, serrs := readAll(sr)
	require.NoError(t, sr.Close())
	require.Empty(t, serrs, msg)
	rn.requireLogged(t, sgot, msg+" (salvaged)")
	// Salvage restores lost definitions from the index snapshot when it
	// can, so it holds at least what the reader got.
	requirePointsCover(t, sgot, got, msg+" (salvaged ⊇ read)")
	requirePointsCover(t, sgot, rn.replay(d.lost, view{}), msg+" (salvaged ⊇ surviving blocks)")
	_, ixErr := index.Unmarshal(files[index.FileName])
	require.GreaterOrEqual(t, srep.BlocksKept, len(rn.blocks)-len(d.lost)-rn.allOrphans(d.lost, ixErr == nil), msg)
	st.salvaged++

	// (4) A writer resumes: every block of both runs was flushed, so its
	// mark vouches for all of them and no cut may start before a
	// segment's last block ends (a torn footer past it holds no point);
	// after it closes, a reader that trusts its index still says what is
	// missing.
	w, err := Open(rn.dir, Options{FS: mem, FlushInterval: time.Hour})
	require.NoError(t, err, "%s: the run must stay resumable", msg)
	for _, c := range w.Recovery().Cuts {
		require.GreaterOrEqual(t, c.Offset, rn.blocks[rn.lastBlockOf(c.Segment)].end, "%s: acknowledged bytes cut as a torn tail: %+v", msg, c)
	}
	require.NoError(t, w.Close(), msg)
	st.resumed++
	if short {
		r2, err := OpenReader(rn.dir, mem)
		require.NoError(t, err, msg)
		got2, errs2 := readAll(r2)
		require.NoError(t, r2.Close())
		rn.requireLogged(t, got2, msg+" (after a resume)")
		if !samePoints(full, got2) {
			require.NotEmpty(t, errs2, "%s: after a resume the reads came back short without an error", msg)
		}
	}
}

// samePoints reports whether a and b hold the same points, bit for bit.
func samePoints(a, b runContent) bool {
	return maps.Equal(a.metrics, b.metrics) && maps.Equal(a.texts, b.texts)
}

// allOrphans counts the surviving blocks whose every record lost its
// field's definition (Salvage has nothing of them to copy). snapDefs: the
// index's dictionary is readable, and Salvage takes definitions from it.
func (rn *matrixRun) allOrphans(lost map[int]bool, snapDefs bool) int {
	known := map[uint32]bool{}
	if snapDefs {
		for b := rn.snap.State; len(b) > 0; {
			rec, rest, _ := DecodeRecord(b)
			if rec.Kind == RecFieldDef {
				known[rec.Field] = true
			}
			b = rest
		}
	}
	n := 0
	for bi, b := range rn.blocks {
		if lost[bi] {
			continue
		}
		keep := false
		for _, rec := range b.recs {
			if rec.Kind == RecFieldDef {
				known[rec.Field] = true
			}
			keep = keep || rec.Kind == RecFieldDef || rec.Kind == RecMeta || known[rec.Field]
		}
		if !keep {
			n++
		}
	}
	return n
}

func (rn *matrixRun) requireLogged(t *testing.T, got runContent, msg string) {
	t.Helper()
	for k, v := range got.metrics {
		if !rn.loggedMetric[loggedMetric{k, v}] {
			t.Fatalf("%s: point %v = %#x was never logged", msg, k, v)
		}
	}
	for k, v := range got.texts {
		if !rn.loggedText[loggedText{k, v}] {
			t.Fatalf("%s: string point %v = %q was never logged", msg, k, v)
		}
	}
}

func requirePointsEqual(t *testing.T, want, got runContent, msg string) {
	t.Helper()
	requirePointsCover(t, got, want, msg)
	requirePointsCover(t, want, got, msg+" (read more than the surviving blocks hold)")
}

// requirePointsCover: every point of small is in big with the same value.
func requirePointsCover(t *testing.T, big, small runContent, msg string) {
	t.Helper()
	for k, v := range small.metrics {
		if g, ok := big.metrics[k]; !ok || g != v {
			t.Fatalf("%s: point %v: want %#x, have %#x (present %v)", msg, k, v, g, ok)
		}
	}
	for k, v := range small.texts {
		if g, ok := big.texts[k]; !ok || g != v {
			t.Fatalf("%s: string point %v: want %q, have %q (present %v)", msg, k, v, g, ok)
		}
	}
}

func requireConfigsEqual(t *testing.T, want, got runContent, msg string) {
	t.Helper()
	require.Equal(t, len(want.configs), len(got.configs), "%s: configs %v vs %v", msg, want.configs, got.configs)
	for p, v := range want.configs {
		require.Truef(t, got.configs[p].Equal(v), "%s: config %q: want %v, read %v", msg, p, v, got.configs[p])
	}
	require.Equal(t, want.meta, got.meta, msg)
}

// flipCase builds the damage of one bit flip at file@pos.
func (rn *matrixRun) flipCase(file string, pos int64, bit uint) damage {
	d := damage{name: fmt.Sprintf("bit %d of %s@%d", bit, file, pos), lost: map[int]bool{},
		edit: func(files runFiles) { files[file][pos] ^= 1 << bit }}
	d.unit = file
	switch {
	case file == LockFileName:
		d.where = []mloc{{file, -1, 0}}
		// The owner record ends at its newline; the padding after it is
		// read by Check alone. A flip there changes no owner any reader
		// gets.
		if nl := bytes.IndexByte(rn.files[file], '\n'); nl >= 0 && pos > int64(nl) {
			d.harmless = true
		}
	case file == index.FileName:
		d.where = []mloc{{file, -1, 0}}
	case isMarkFile(file):
		d.where = []mloc{{file, -1, 0}}
		d.unit = "mark"
	default:
		u, ok := rn.unitAt(file, pos)
		if !ok {
			panic(fmt.Sprintf("no unit at %s@%d", file, pos))
		}
		d.where = []mloc{{file, u.off, u.end}}
		d.wantDamage = true // every segment byte of the matrix runs was flushed
		switch u.kind {
		case "block":
			d.lost = rn.blocksHit(file, pos, pos+1)
		case "header":
			d.versionField = pos == 8 || pos == 9
		case "footer", "trailer":
			// The footer and trailer verify together: either may be named.
			size := int64(len(rn.files[file]))
			d.where = []mloc{{file, rn.blocks[rn.lastBlockOf(file)].end, size}}
		}
		d.name += " (" + u.kind + ")"
		d.unit = u.kind
	}
	return d
}

func (rn *matrixRun) lastBlockOf(file string) int {
	last := -1
	for i, b := range rn.blocks {
		if b.file == file {
			last = i
		}
	}
	return last
}

func TestCorruptionMatrix(t *testing.T) {
	// GS_FULL_MATRIX=1 runs the campaign docs/reliability.md reports: a
	// thousand flips on each state of the run and every truncation point
	// (a few minutes). By default a sample of it, smaller still under the
	// race detector or -short.
	flips, stride := [2]int{200, 100}, int64(13)
	switch {
	case os.Getenv("GS_FULL_MATRIX") != "":
		flips, stride = [2]int{1000, 1000}, 1
	case raceEnabled || testing.Short():
		flips, stride = [2]int{20, 15}, 251
	}
	for vi, crashed := range []bool{false, true} {
		flips := flips[vi]
		rn := buildMatrixRun(t, crashed)
		t.Run(rn.name, func(t *testing.T) {
			var st matrixStats
			var total int64
			var names []string
			for n, b := range rn.files {
				names = append(names, n)
				total += int64(len(b))
			}
			slices.Sort(names)
			t.Logf("%d segments, %d blocks, %d files, %d bytes", len(rn.segs), len(rn.blocks), len(names), total)

			// Seeded bit flips, uniformly over all bytes of all files.
			rng := rand.New(rand.NewPCG(0xf11b5, uint64(len(rn.name))))
			byKind := map[string]int{}
			for range flips {
				pos := rng.Int64N(total)
				var file string
				for _, n := range names {
					if pos < int64(len(rn.files[n])) {
						file = n
						break
					}
					pos -= int64(len(rn.files[n]))
				}
				d := rn.flipCase(file, pos, rng.UintN(8))
				byKind[d.unit]++
				rn.runCase(t, d, &st)
			}
			t.Logf("flips: %d tried, %d detected by Check, %d harmless (LOCK padding); by unit hit: %v; "+
				"%d in a major-version field (header damage; every block still read)",
				flips, st.detected, st.harmless, byKind, st.versionRead)
			fl := st

			// Every truncation point of the last segment.
			last := rn.segs[len(rn.segs)-1]
			size := int64(len(rn.files[last]))
			for cut := int64(0); cut < size; cut += stride {
				d := damage{name: fmt.Sprintf("%s cut at %d of %d", last, cut, size),
					edit: func(files runFiles) { files[last] = files[last][:cut] },
					lost: rn.blocksHit(last, cut, math.MaxInt64), where: []mloc{{last, cut, cut + 1}}}
				if u, ok := rn.unitAt(last, cut); ok {
					d.where = append(d.where, mloc{last, u.off, u.off + 1}) // named at the unit it cuts
					if u.kind == "trailer" {
						// The footer and trailer are one unit to readers.
						end := rn.blocks[rn.lastBlockOf(last)].end
						d.where = append(d.where, mloc{last, end, end + 1})
					}
				}
				if cut == 0 {
					d.where = append(d.where, mloc{last, -1, 0}) // an empty file: the file itself
				}
				// Every byte of the last segment was flushed, and its
				// writer's mark says so: no cut, even one between blocks of
				// the crashed writer's unsealed segment (which used to read
				// as what an earlier crash leaves, and went unseen), is a
				// torn tail. Each is damage.
				d.wantDamage = true
				rn.runCase(t, d, &st)
			}
			tr := st.cases - fl.cases
			t.Logf("truncations: %d (every %d bytes of %s), %d detected by Check, %d at a block boundary of an unsealed segment",
				tr, stride, last, st.detected-fl.detected, st.boundary-fl.boundary)

			// A zeroed 4 KiB page inside a middle segment, and one across
			// the boundary of the first two blocks of the last one.
			mid := rn.segs[1]
			for _, n := range rn.segs[1 : len(rn.segs)-1] {
				if len(rn.files[n]) > len(rn.files[mid]) {
					mid = n
				}
			}
			require.Greater(t, len(rn.files[mid]), 5120, "the middle segment holds a page")
			zero := func(file string, lo int64) damage {
				hi := min(lo+4096, int64(len(rn.files[file])))
				lost := rn.blocksHit(file, lo, hi)
				var where []mloc
				for i := range lost {
					where = append(where, mloc{file, rn.blocks[i].off, rn.blocks[i].end})
				}
				if len(where) == 0 || lo < rn.blocks[minKey(lost)].off {
					where = append(where, mloc{file, lo, hi})
				}
				return damage{name: fmt.Sprintf("zeroed page %s@%d", file, lo), lost: lost, where: where,
					edit: func(files runFiles) { clear(files[file][lo:hi]) }}
			}
			rn.runCase(t, zero(mid, 1024), &st)
			rn.runCase(t, zero(last, rn.blocks[rn.firstBlockOf(last)].off+7), &st)

			// A deleted middle segment.
			lostSeg := map[int]bool{}
			for i, b := range rn.blocks {
				if b.file == mid {
					lostSeg[i] = true
				}
			}
			rn.runCase(t, damage{name: "deleted " + mid, lost: lostSeg, where: []mloc{{mid, -1, 0}}, wantDamage: true,
				edit: func(files runFiles) { delete(files, mid) }}, &st)

			// The newest segment deleted: no hole in the segment numbers
			// shows it; the index (closed) or the writer's mark (crashed)
			// does.
			lostLast := rn.blocksHit(last, 0, math.MaxInt64)
			rn.runCase(t, damage{name: "deleted " + last, lost: lostLast, where: []mloc{{last, -1, 0}}, wantDamage: true,
				edit: func(files runFiles) { delete(files, last) }}, &st)

			// A sealed middle segment cut between two of its blocks and
			// inside one: its footer and trailer go with the cut.
			mb := rn.firstBlockOf(mid)
			for _, cut := range []int64{rn.blocks[mb+2].off, rn.blocks[mb+2].off + 41} {
				rn.runCase(t, damage{name: fmt.Sprintf("sealed %s cut at %d", mid, cut), lost: rn.blocksHit(mid, cut, math.MaxInt64),
					where: []mloc{{mid, cut - 41, cut + 1}}, wantDamage: true,
					edit: func(files runFiles) { files[mid] = files[mid][:cut] }}, &st)
			}

			// The last complete block of the newest segment: its header,
			// its payload, its checksum (the case that read as a torn tail
			// and was cut on resume).
			lb := rn.blocks[rn.lastBlockOf(last)]
			for _, off := range []int64{lb.off + 20, lb.off + (lb.end-lb.off)/2, lb.end - 2} {
				rn.runCase(t, damage{name: fmt.Sprintf("flip in the last block of %s at %d", last, off), lost: map[int]bool{rn.lastBlockOf(last): true},
					where: []mloc{{last, lb.off, lb.end}}, wantDamage: true,
					edit: func(files runFiles) { files[last][off] ^= 0x04 }}, &st)
			}

			// A damaged index: truncated, zeroed, replaced by garbage.
			ixSize := len(rn.files[index.FileName])
			for _, dmg := range []struct {
				name string
				edit func([]byte) []byte
			}{
				{"truncated index", func(b []byte) []byte { return b[:len(b)/2] }},
				{"zeroed index page", func(b []byte) []byte { clear(b[:min(4096, len(b))]); return b }},
				{"garbage index", func(b []byte) []byte {
					for i := range b {
						b[i] = byte(i * 7)
					}
					return b
				}},
			} {
				rn.runCase(t, damage{name: fmt.Sprintf("%s (%d bytes)", dmg.name, ixSize), lost: map[int]bool{},
					where: []mloc{{index.FileName, -1, 0}},
					edit:  func(files runFiles) { files[index.FileName] = dmg.edit(files[index.FileName]) }}, &st)
			}
			t.Logf("%s run: %d cases (%d flips, %d truncations, 2 zeroed pages, 2 deleted segments, 2 cuts of a sealed segment, "+
				"3 flips in the last block, 3 damaged indexes): %d detected by Check, %d harmless, %d undetectable by construction; "+
				"%d salvaged; %d resumed with no acknowledged byte cut; %d short reads, every one reported; %d blocks lost in all",
				rn.name, st.cases, flips, tr, st.detected, st.harmless, st.boundary, st.salvaged, st.resumed, st.shortReported, st.blocksLost)
		})
	}
}

func minKey(m map[int]bool) int {
	k := math.MaxInt
	for i := range m {
		k = min(k, i)
	}
	return k
}

func (rn *matrixRun) firstBlockOf(file string) int {
	for i, b := range rn.blocks {
		if b.file == file {
			return i
		}
	}
	return -1
}

// TestResumeAfterInterruptedCut is the regression test for a recovery
// that could never finish: a resume cuts a torn tail by saving its bytes
// to <segment>.torn-<offset> and then truncating the segment. A crash (or
// an error) between the two left the saved file behind and the tail
// uncut, and every later resume failed to create the saved file again
// ("file exists"): the run could not be resumed at all. Found by
// cmd/crashtest (a kill inside recovery).
func TestResumeAfterInterruptedCut(t *testing.T) {
	for _, tc := range []struct {
		name string
		op   vfs.Op
		err  error
	}{
		{"killed before the cut", vfs.OpTruncate, syscall.EIO},     // the saved copy is whole
		{"killed saving the tail", vfs.OpWrite, vfs.ErrShortWrite}, // the saved copy is half
		{"killed before its fsync", vfs.OpSync, syscall.EIO},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem, dir, tail, seg := tornRun(t)
			inj := &vfs.Countdown{Ops: []vfs.Op{tc.op}, N: 1, Err: tc.err}
			_, err := Open(dir, Options{FS: vfs.NewErrorFS(mem, inj)})
			require.ErrorIs(t, err, tc.err, "the interrupted recovery fails")

			s, err := Open(dir, Options{FS: mem})
			require.NoError(t, err, "the next resume must finish the cut")
			cuts := s.Recovery().Cuts
			require.Len(t, cuts, 1)
			require.Equal(t, seg+".torn-"+fmt.Sprint(cuts[0].Offset), cuts[0].SavedAs)
			require.NoError(t, s.Close())
			saved := readRunFiles(t, mem, dir)[cuts[0].SavedAs]
			require.Equal(t, tail, saved, "the saved copy holds the whole torn tail")
		})
	}
	t.Run("an unrelated file in the way", func(t *testing.T) {
		mem, dir, tail, seg := tornRun(t)
		files := readRunFiles(t, mem, dir)
		sz := int64(len(files[seg]))
		name := fmt.Sprintf("%s.torn-%d", seg, sz-int64(len(tail)))
		f, err := mem.Create(filepath.Join(dir, name))
		require.NoError(t, err)
		_, err = f.Write([]byte("not these bytes"))
		require.NoError(t, err)
		require.NoError(t, f.Close())
		s, err := Open(dir, Options{FS: mem})
		require.NoError(t, err)
		require.Equal(t, name+"-2", s.Recovery().Cuts[0].SavedAs, "kept; the tail goes beside it")
		require.NoError(t, s.Close())
		files = readRunFiles(t, mem, dir)
		require.Equal(t, "not these bytes", string(files[name]))
		require.Equal(t, tail, files[name+"-2"])
	})
}

// tornRun is a crashed run whose newest segment ends with half a block.
func tornRun(t *testing.T) (mem *vfs.MemFS, dir string, tail []byte, seg string) {
	t.Helper()
	mem, dir = vfs.NewMem(), "/torn/run"
	s, err := Create(dir, "torn", Options{FS: mem, FlushInterval: time.Hour})
	require.NoError(t, err)
	f, err := s.Field("m", KindMetric)
	require.NoError(t, err)
	for i := range 100 {
		require.NoError(t, f.LogMetric(float64(i), float64(i)))
	}
	require.NoError(t, s.Flush())
	files := readRunFiles(t, mem, dir)
	for i := 100; i < 200; i++ {
		require.NoError(t, f.LogMetric(float64(i), float64(i)))
	}
	require.NoError(t, s.Flush())
	after := readRunFiles(t, mem, dir)
	require.NoError(t, s.Close())
	seg = segment.SegmentName(1, 1)
	before := len(files[seg])
	block := after[seg][before:]
	tail = block[:len(block)/2]
	files[seg] = append(files[seg], tail...)
	delete(files, index.FileName)
	return files.mount(t, dir), dir, tail, seg
}

// TestResumeSyncsWhatItBuildsOn is the regression test for synced data a
// power loss could orphan: a writer killed after a Flush leaves blocks in
// the page cache that were never fsynced; a resume reads them and defines
// its new fields after theirs. When its own blocks were synced but the
// crashed writer's were not, a power loss kept the new blocks and dropped
// the old ones, and every record of the new fields named a field id whose
// definition was gone: data Sync had acknowledged, unreadable. A resume
// now fsyncs the unsealed segments it builds on. Found by the fault sweep
// (TestFaultSweepEverySite, a failed write then a resume).
func TestResumeSyncsWhatItBuildsOn(t *testing.T) {
	mem := vfs.NewMem()
	dir := "/p/run"
	s, err := Create(dir, "power", Options{FS: mem, FlushInterval: time.Hour})
	require.NoError(t, err)
	f, err := s.Field("old", KindMetric)
	require.NoError(t, err)
	require.NoError(t, f.LogMetric(1, 1))
	require.NoError(t, s.Flush()) // written, not synced
	// kill -9: the lock goes with the process, the page cache keeps the
	// bytes, nothing more is synced (the header and the directory were,
	// by Create).
	s.abandon()

	s, err = Open(dir, Options{FS: mem, FlushInterval: time.Hour})
	require.NoError(t, err)
	g, err := s.Field("new", KindMetric)
	require.NoError(t, err)
	require.EqualValues(t, 1, g.ID(), "defined after the crashed writer's field")
	require.NoError(t, g.LogMetric(1, 2))
	require.NoError(t, s.Sync())

	power := mem.CrashClone() // a power loss right after the Sync
	require.NoError(t, s.Close())
	r, err := OpenReader(dir, power)
	require.NoError(t, err)
	defer r.Close()
	require.Empty(t, r.Report().Corruptions)
	c := readMetric(t, r, "new")
	require.Equal(t, []float64{2}, c.Values, "what Sync acknowledged survives the power loss")
	c = readMetric(t, r, "old")
	require.Equal(t, []float64{1}, c.Values, "and so does what it was built on")
}

// TestCheckFindsACutFooter is the regression test for a truncation Check
// graded as a mere stale index: a sealed segment cut exactly at the end of
// its last block reads like a crashed writer's unsealed one — only the
// index remembers the seal — and Check reported a warning about the index
// and an unsealed segment, naming neither the segment's damage nor where.
// Found by the corruption matrix (every truncation point).
func TestCheckFindsACutFooter(t *testing.T) {
	mem := vfs.NewMem()
	dir := "/cut/run"
	s, err := Create(dir, "cut", Options{FS: mem, FlushInterval: time.Hour})
	require.NoError(t, err)
	f, err := s.Field("m", KindMetric)
	require.NoError(t, err)
	for i := range 100 {
		require.NoError(t, f.LogMetric(float64(i), float64(i)))
	}
	require.NoError(t, s.Close())
	seg := segment.SegmentName(1, 1)
	blocks := blocksOf(t, mem, filepath.Join(dir, seg))
	end := blocks[len(blocks)-1].End()
	files := readRunFiles(t, mem, dir)
	require.Greater(t, int64(len(files[seg])), end, "a footer and trailer follow the last block")
	files[seg] = files[seg][:end]
	mem = files.mount(t, dir)

	var found []Finding
	sum, err := Check(dir, mem, func(f Finding) { found = append(found, f) })
	require.NoError(t, err)
	require.False(t, sum.Clean(), "%v", found)
	require.True(t, slices.ContainsFunc(found, func(f Finding) bool {
		return f.Severity == Damage && f.Kind == "truncated" && filepath.Base(f.File) == seg && f.Offset == end
	}), "%v", found)
	// Nothing is lost: readers rebuild the index and read every point.
	r, err := OpenReader(dir, mem)
	require.NoError(t, err)
	defer r.Close()
	require.True(t, r.Report().IndexRebuilt)
	c := readMetric(t, r, "m")
	require.Len(t, c.Steps, 100)
}

// TestLostDefinitionKeepsLaterFields is the regression test for one
// damaged block costing every field defined after it. Field ids are dense,
// and the loader refused a definition whose id skipped one ("defined out
// of order"), then skipped the rest of that block; so once the block
// defining a field was lost (and no trusted index knew the dictionary),
// every later field's definition failed in turn, and with it all their
// points, in blocks that were intact. Now a lost definition leaves a hole
// in the dictionary: the hole's records are orphans (reported), every
// other record reads, a resumed writer carries on after the hole, and an
// index that does not verify against the segments but whose checksum
// holds still lends its dictionary to the rebuild. Found by the corruption
// matrix (a flip in a block of a crashed run).
func TestLostDefinitionKeepsLaterFields(t *testing.T) {
	mem := vfs.NewMem()
	dir := "/lost/run"
	opts := Options{FS: mem, FlushInterval: time.Hour, SegmentTargetBytes: 1}
	s, err := Create(dir, "lost", opts)
	require.NoError(t, err)
	logTo := func(path string, st float64) {
		f, err := s.Field(path, KindMetric)
		require.NoError(t, err)
		require.NoError(t, f.LogMetric(st, st))
	}
	// One block per flush, one segment per block (SegmentTargetBytes 1).
	logTo("a", 0) // segment 1: a defined
	require.NoError(t, s.Flush())
	logTo("b", 1) // segment 2: b defined, a and b points
	logTo("a", 1)
	require.NoError(t, s.SetConfig("cfg", Int(7)))
	require.NoError(t, s.Flush())
	logTo("c", 2) // segment 3: c defined, all three
	logTo("b", 2)
	logTo("a", 2)
	require.NoError(t, s.Close())
	intact := readRunFiles(t, mem, dir)
	seg1, seg2 := segment.SegmentName(1, 1), segment.SegmentName(1, 2)
	first := blocksOf(t, mem, filepath.Join(dir, seg1))[0]

	read := func(files runFiles) (*Reader, map[string]int) {
		t.Helper()
		fsys := files.mount(t, dir)
		r, err := OpenReader(dir, fsys)
		require.NoError(t, err)
		t.Cleanup(func() { r.Close() })
		n := map[string]int{}
		for _, fi := range r.Fields() {
			require.NotZero(t, fi.Kind, "a hole is not a field")
			if fi.Kind == KindMetric {
				var c series.MetricColumns
				_ = r.ReadMetric(fi.Path, &c)
				n[fi.Path] = c.Len()
			}
		}
		return r, n
	}

	// The block defining a damaged, no index: a's points are orphans, b's
	// and c's are all there.
	files := intact.clone()
	delete(files, index.FileName)
	files[seg1][first.Offset+first.Size/2] ^= 0x10
	r, n := read(files)
	require.Equal(t, map[string]int{"b": 2, "c": 1}, n)
	require.NotEmpty(t, r.Report().Corruptions, "the orphans are reported")
	require.Equal(t, Int(7), r.Configs()["cfg"].Value)

	// A writer resumes after the hole, and its index reopens.
	fsys := files.mount(t, dir)
	w, err := Open(dir, Options{FS: fsys, FlushInterval: time.Hour})
	require.NoError(t, err)
	d, err := w.Field("d", KindMetric)
	require.NoError(t, err)
	require.EqualValues(t, 4, d.ID(), "new fields go after the hole (a 0, b 1, cfg 2, c 3)")
	require.NoError(t, d.LogMetric(3, 3))
	fb, err := w.Field("b", KindMetric)
	require.NoError(t, err)
	require.NoError(t, fb.LogMetric(3, 3))
	require.Len(t, w.Fields(), 4, "b, cfg, c, d")
	require.NoError(t, w.Close())
	r2, err := OpenReader(dir, fsys)
	require.NoError(t, err)
	defer r2.Close()
	require.False(t, r2.Report().IndexRebuilt, r2.Report().IndexProblem)
	require.Len(t, r2.Fields(), 4)
	// The damage recovery found is recorded in the run: every series read
	// says what may be missing, though the index is trusted again.
	for path, want := range map[string]int{"b": 3, "d": 1} {
		var c series.MetricColumns
		err := r2.ReadMetric(path, &c)
		require.ErrorIs(t, err, segment.ErrCorrupt, path)
		require.ErrorContains(t, err, seg1, path)
		require.Equal(t, want, c.Len(), path)
	}

	// The segment defining b deleted, the index present: the index no
	// longer verifies (it lists the segment), but its dictionary still
	// names b, so b's point in segment 3 reads.
	files = intact.clone()
	delete(files, seg2)
	r, n = read(files)
	require.True(t, r.Report().IndexRebuilt)
	require.Equal(t, []string{seg2}, r.Report().MissingSegments)
	require.Equal(t, map[string]int{"a": 2, "b": 1, "c": 1}, n)
}

func isMarkFile(name string) bool {
	_, ok := ParseMarkFileName(name)
	return ok
}
