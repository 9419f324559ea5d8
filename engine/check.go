package engine

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"

	"github.com/goodseed/goodseed-go/index"
	"github.com/goodseed/goodseed-go/internal/vfs"
	"github.com/goodseed/goodseed-go/segment"
)

// Severity grades a Finding.
type Severity uint8

// Severities, least to most serious.
const (
	// Info: worth knowing, nothing lost: an index readers will build, a
	// segment a crashed writer left unsealed, a live writer.
	Info Severity = iota
	// Warning: an expected leftover of a crash (a torn tail), or a cache
	// readers rebuild (a stale index, a torn owner record). No data that
	// was ever completely written is lost.
	Warning
	// Damage: bytes that were once written whole no longer verify, or are
	// gone; the data they held is lost to every reader.
	Damage
)

func (s Severity) String() string {
	switch s {
	case Info:
		return "info"
	case Warning:
		return "warning"
	case Damage:
		return "damage"
	}
	return fmt.Sprintf("severity(%d)", uint8(s))
}

// MarshalText renders the severity as its lower-case name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Finding is one thing Check found: what, where, and how bad.
type Finding struct {
	Severity Severity
	// Kind is a short stable token naming what was found; the list is in
	// Check's doc comment.
	Kind string
	// File is the path of the file the finding is about (for a missing
	// segment, the path it should have).
	File string
	// Offset is the byte offset in File of the unit found damaged (a block
	// header, the first byte of garbage, the start of a torn tail); -1 when
	// the finding is about the file as a whole or about no place in it.
	Offset int64
	// Length is how many bytes from Offset are affected (unreadable,
	// garbage, torn); 0 when not known or not meaningful.
	Length int64
	// Detail is a sentence for humans.
	Detail string
}

func (f Finding) String() string {
	loc := f.File
	if f.Offset >= 0 {
		loc += fmt.Sprintf("@%d", f.Offset)
		if f.Length > 0 {
			loc += fmt.Sprintf("+%d", f.Length)
		}
	}
	return fmt.Sprintf("%s %s %s: %s", f.Severity, f.Kind, loc, f.Detail)
}

// CheckSummary counts what Check examined and found.
type CheckSummary struct {
	Segments int   // segment files examined
	Blocks   int   // blocks that verified
	Records  int   // records decoded from them
	Bytes    int64 // bytes of the files examined (segments, index, LOCK)
	Damage   int   // findings of each severity
	Warnings int
	Infos    int
}

// Clean reports whether no finding was Damage.
func (s CheckSummary) Clean() bool { return s.Damage == 0 }

// Check verifies every byte of the run in dir and calls fn with each
// finding as it is made. It never modifies anything: no cut, no index
// write, no LOCK taken (only tested, as any reader does). fsys nil means the
// operating system's.
//
// The error is only for being unable to check: dir missing, holding no
// segment, or an I/O failure. Damage is reported as findings; a run is
// intact when the summary's Damage count is zero.
//
// Check reads each segment whole (every header, block checksum, zstd frame
// and record, every chunk decoded), replays the field dictionary in the
// order the engine's loader does, reads and validates the index with the
// loader's own rules and cross-checks its block table against the blocks
// found, and reads the LOCK owner record. Finding kinds:
//
//	segment-header   Damage   a segment's file header does not verify (its blocks are still read), or
//	                          claims more bytes than the file holds while blocks that verify follow it
//	                          (readers take it for a torn header and read none; recover copies them)
//	segment-name     Damage   a header names another writer or seq than its file name
//	run-id-mismatch  Damage   a segment of another run (readers skip it)
//	unknown-version  Damage   a segment header names a major version this build cannot read (recover
//	                          still copies its blocks when every one verifies and decodes as this format's)
//	                 Warning  the index is of an unknown major version (readers rebuild it)
//	missing-segment  Damage   a hole in a writer's segment numbers, or a segment the index or the writer's mark lists
//	block-header     Damage   a block header does not verify; Length bytes skipped to the next valid unit
//	block-checksum   Damage   a block whose header verifies fails its checksum
//	block-decode     Damage   a block that verifies does not decompress
//	block-kind       Warning  a valid block of a kind this build does not write (readers skip it)
//	zeroed           Damage   zero bytes where a block should start, up to the next valid unit
//	garbage          Damage   bytes after a sealed segment's trailer, or after the last valid block
//	torn-tail        Warning  the newest segment of a writer ends inside a block: a crash leftover
//	                 Damage   ... in a segment a later one follows, or that the index saw longer or sealed
//	truncated        Damage   a segment shorter than the index or its writer's mark recorded, ending on a block boundary, or one the
//	                          index recorded sealed that ends at its last block (footer and trailer gone)
//	footer           Damage   a footer or trailer does not verify, or its totals disagree with the blocks
//	record           Damage   a verified block whose records do not decode, whose count disagrees with
//	                          its header, or that contradict the field dictionary
//	orphan           Warning  records whose field definition was lost with damage reported before
//	sequence         Damage   a block's record sequence numbers go back within its writer's stream
//	seq-gap          Info     records missing from a writer's sequence where no damage explains it
//	                          (a recovered run shows where data was lost)
//	unsealed         Info     a segment never sealed: its writer stopped without closing
//	index            Damage   the index fails its checksum, its snapshot does not decode, or it
//	                          disagrees with the blocks it covers (readers rebuild a damaged index)
//	index-stale      Warning  the index does not match or cover the segments (readers rebuild or replay)
//	index-missing    Info     no index: readers rebuild it
//	index-temp       Info     an index write a crash interrupted (removed by the next writer)
//	torn-saved       Info     bytes recovery cut off a torn tail, kept for forensics
//	mark-temp        Info     a mark replacement a crash interrupted (removed by that writer's next session)
//	                 Damage   ... or where its writer's mark vouches for the bytes (written and acknowledged)
//	mark             Damage   a writer's mark file (how far its stream is known written) does not verify
//	lock             Warning  the LOCK owner record is torn or damaged
//	live             Info     a writer holds the LOCK: the run is being written
func Check(dir string, fsys vfs.FS, fn func(Finding)) (CheckSummary, error) {
	c, err := newRunChecker(dir, fsys, fn)
	if err != nil {
		return CheckSummary{}, err
	}
	err = c.run()
	return c.sum, err
}

// CheckSegment verifies one segment file as Check does, without the run
// around it: headers, blocks, records, footer and trailer. The file's
// siblings only tell whether it is its writer's newest segment (whose tail
// may be torn by a crash).
func CheckSegment(path string, fsys vfs.FS, fn func(Finding)) (CheckSummary, error) {
	if fsys == nil {
		fsys = vfs.Default
	}
	if fn == nil {
		fn = func(Finding) {}
	}
	fi, err := fsys.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return CheckSummary{}, fmt.Errorf("%w: segment %s", ErrNotFound, path)
		}
		return CheckSummary{}, fmt.Errorf("engine: check %s: %w", path, err)
	}
	if fi.IsDir() {
		return CheckSummary{}, fmt.Errorf("engine: check %s: a directory, not a segment file (check a run with Check)", path)
	}
	c := &checker{fsys: fsys, dir: filepath.Dir(path), fn: fn}
	c.marks = readMarks(fsys, c.dir)
	sf := segFile{name: filepath.Base(path)}
	var named bool
	sf.writer, sf.seq, named = segment.ParseSegmentName(sf.name)
	newest := true
	if named {
		if segs, err := listSegments(fsys, c.dir); err == nil {
			for _, o := range segs {
				if o.writer == sf.writer && o.seq > sf.seq {
					newest = false
				}
			}
		}
	}
	err = c.checkSegment(path, sf, named, newest)
	return c.sum, err
}

// checker is one Check (or CheckSegment) in progress.
type checker struct {
	fsys vfs.FS
	dir  string
	fn   func(Finding)
	sum  CheckSummary

	whole bool // checking a whole run: dictionary replay, index cross-checks
	// runID is the run the segments belong to (electRunID): the index's
	// when a segment header agrees, else the one most headers name.
	runID    string
	headers  map[string]segHeader // file headers that verify, by segment name
	hdrOrder []string             // run ids the headers name, first seen first
	hdrCount map[string]int       // headers naming each run id

	// The index, when it decodes and belongs to runID (possibly stale).
	ix        *index.Index
	ixErr     error  // index.ReadFile's error
	ixForeign string // the index's run id, when it is another run's
	ixProblem string // why readers would not trust ix ("" when they would)
	ixState   error  // the snapshot does not replay
	ixCurrent bool   // readers trust ix and it covers every segment whole
	knownSt   *runState
	// known keeps each writer's knownSt, for Salvage.
	known map[uint32]*runState

	// The LOCK, read first: a live writer's newest segments are in flight.
	lockSize int64
	lockRec  []byte
	owner    Owner
	live     bool
	ownerErr error

	fields  *fieldMap
	scratch blockScratch
	// cw is the writer whose stream is being checked: the lock, index and
	// dictionary above are its.
	cw uint32

	// marks are the writers' marks (read first, as the loader does);
	// markFiles the raw mark files, for their own findings.
	marks     marks
	markFiles []markCheck

	lossBefore bool // a finding of data loss was made in an earlier segment
	streams    map[uint32]*streamState
	segs       map[string]*segResult // by segment name
}

// streamState follows one writer's stream of records across its segments.
type streamState struct {
	lastSeg  uint64
	lastSeq  uint64
	hasBlock bool
	damaged  bool // data of the stream was lost since the last valid block
}

// segResult is what checking a segment found, for the index cross-checks.
type segResult struct {
	size   int64
	sealed bool
	valid  map[int64]segment.BlockMeta
	bad    []span // damaged byte ranges
	// rescue: the header cannot be read, the blocks can, with
	// segment.ScanFrom (readers skip them, recover copies them).
	rescue bool
}

type span struct{ off, end int64 }

func (r *segResult) inBad(off int64) bool {
	for _, s := range r.bad {
		if s.off <= off && off < max(s.end, s.off+1) {
			return true
		}
	}
	return false
}

func newRunChecker(dir string, fsys vfs.FS, fn func(Finding)) (*checker, error) {
	if fsys == nil {
		fsys = vfs.Default
	}
	if fn == nil {
		fn = func(Finding) {}
	}
	fi, err := fsys.Stat(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: run directory %s", ErrNotFound, dir)
		}
		return nil, fmt.Errorf("engine: check %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("engine: check %s: not a directory (check a segment file with CheckSegment)", dir)
	}
	return &checker{fsys: fsys, dir: dir, fn: fn, whole: true}, nil
}

func (c *checker) emit(f Finding) {
	switch f.Severity {
	case Damage:
		c.sum.Damage++
	case Warning:
		c.sum.Warnings++
	default:
		c.sum.Infos++
	}
	c.fn(f)
}

// run checks the whole run: the LOCK and the index are read first (they
// decide how a torn tail is graded), the segments are walked in the
// loader's order, then the index and LOCK findings follow.
func (c *checker) run() error {
	c.readMarkFiles()
	segs, err := listSegments(c.fsys, c.dir)
	if err != nil {
		return err
	}
	if len(segs) == 0 {
		return fmt.Errorf("%w: %s holds no run (no segments)", ErrNotFound, c.dir)
	}
	c.readHeaders(segs)
	if ix, err := index.ReadFile(c.fsys, c.dir); err == nil {
		c.runID = electRunID(c.hdrOrder, c.hdrCount, ix.RunID) // the loader's rule
	}
	c.marks = c.marks.forRun(c.runID)
	c.streams = make(map[uint32]*streamState)
	c.segs = make(map[string]*segResult)
	onDisk := make(map[string]bool, len(segs))
	for _, sf := range segs {
		onDisk[sf.name] = true
	}
	// Each writer's stream is checked as the loader reads it: with its own
	// index, dictionary and lock.
	for _, w := range segWriters(segs) {
		if err := c.checkStream(w, writerSegments(segs, w), onDisk); err != nil {
			return err
		}
	}
	c.markFindings(segs)
	return c.debris()
}

// checkStream checks writer w's stream (segs): its lock and index are read
// first (they decide how a torn tail is graded), its segments are walked
// in the loader's order, then the index and lock findings follow.
func (c *checker) checkStream(w uint32, segs []segFile, onDisk map[string]bool) error {
	c.cw = w
	c.ix, c.ixErr, c.ixForeign, c.ixProblem, c.ixState, c.ixCurrent, c.knownSt = nil, nil, "", "", nil, false, nil
	c.lockSize, c.lockRec, c.owner, c.live, c.ownerErr = 0, nil, Owner{}, false, nil
	c.lossBefore = false
	if err := c.readLock(); err != nil {
		return err
	}
	if err := c.readIndex(segs); err != nil {
		return err
	}
	c.fields = &fieldMap{byKey: make(map[FieldKey]uint32)}
	if c.knownSt != nil {
		c.fields.known = c.knownSt.fields
		if c.known == nil {
			c.known = make(map[uint32]*runState)
		}
		c.known[w] = c.knownSt
	}
	for _, name := range missingSegments(segs) {
		first, _, _ := strings.Cut(name, " ")
		f := Finding{Severity: Damage, Kind: "missing-segment", File: filepath.Join(c.dir, first), Offset: -1,
			Detail: fmt.Sprintf("segment %s is missing from its writer's stream: everything it held is lost", name)}
		if se, ok := c.indexEntry(first); ok && first == name {
			f.Length = se.Covered
			f.Detail = fmt.Sprintf("segment %s is missing from its writer's stream: everything it held (%d bytes of blocks, by the index) is lost", name, se.Covered)
		}
		c.emit(f)
		c.lossBefore = true
	}
	for i, sf := range segs {
		newest := i+1 == len(segs)
		if err := c.checkSegment(filepath.Join(c.dir, sf.name), sf, true, newest); err != nil {
			return err
		}
	}
	c.indexFindings(segs, onDisk)
	c.lockFindings()
	return nil
}

type segHeader struct {
	h     segment.Header
	bytes int64
}

// header returns the file header of a segment, when it verifies, and its
// length.
func (c *checker) header(path, name string) (segment.Header, int64, bool) {
	if c.headers == nil {
		c.headers = make(map[string]segHeader)
	}
	if sh, ok := c.headers[name]; ok {
		return sh.h, sh.bytes, true
	}
	r, err := segment.Open(c.fsys, path)
	if err != nil {
		return segment.Header{}, 0, false // the segment's own check reports it
	}
	sh := segHeader{r.Header(), r.HeaderBytes()}
	r.Close()
	c.headers[name] = sh
	return sh.h, sh.bytes, true
}

// readHeaders decodes the file header of every segment and decides whose
// run this is, until the index has its say (readIndex).
func (c *checker) readHeaders(segs []segFile) {
	c.hdrCount = make(map[string]int)
	for _, sf := range segs {
		h, _, ok := c.header(filepath.Join(c.dir, sf.name), sf.name)
		if !ok || h.RunID == "" {
			continue
		}
		if c.hdrCount[h.RunID] == 0 {
			c.hdrOrder = append(c.hdrOrder, h.RunID)
		}
		c.hdrCount[h.RunID]++
	}
	c.runID = electRunID(c.hdrOrder, c.hdrCount, "")
}

// readIndex reads the index and decides, with the loader's own rules
// (validateIndex, the snapshot replay), whether readers would trust it.
func (c *checker) readIndex(segs []segFile) error {
	ix, err := index.ReadFileOf(c.fsys, c.dir, c.cw)
	var ce *index.CorruptionError
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrNotExist), errors.As(err, &ce), errors.Is(err, index.ErrUnknownVersion):
		c.ixErr = err
		return nil
	default:
		return fmt.Errorf("engine: check %s: %w", c.dir, err)
	}
	if fi, err := c.fsys.Stat(filepath.Join(c.dir, index.FileNameOf(c.cw))); err == nil {
		c.sum.Bytes += fi.Size()
	}
	if ix.RunID != c.runID {
		c.ixForeign = ix.RunID
		return nil
	}
	c.ix = ix
	st := newRunState()
	if err := st.restore(ix.State); err != nil {
		c.ixState = err
	} else {
		c.knownSt = st
	}
	c.ixProblem = validateIndex(c.fsys, c.dir, ix, segs)
	return nil
}

// indexEntry returns the index's entry for a segment, when the index
// decodes and lists it.
func (c *checker) indexEntry(name string) (index.SegmentEntry, bool) {
	if c.ix == nil {
		return index.SegmentEntry{}, false
	}
	for _, se := range c.ix.Segments {
		if se.Name == name {
			return se, true
		}
	}
	return index.SegmentEntry{}, false
}

func (c *checker) stream(w uint32) *streamState {
	st := c.streams[w]
	if st == nil {
		st = &streamState{}
		c.streams[w] = st
	}
	return st
}

// blockFacts is what the records of one valid block showed.
type blockFacts struct {
	m        segment.BlockMeta
	problems []string // Damage: records that do not decode or contradict the dictionary
	orphans  []uint32 // source ids of records whose definition is lost
	holes    int      // definitions found lost at this block
}

// checkSegment checks one segment file and emits its findings in offset
// order.
func (c *checker) checkSegment(path string, sf segFile, named, newest bool) error {
	c.sum.Segments++
	h, hdrBytes, hdrOK := c.header(path, sf.name)
	foreign := c.whole && hdrOK && h.RunID != c.runID
	var facts []blockFacts
	rep, err := segment.Scan(c.fsys, path, func(m segment.BlockMeta, p []byte) error {
		c.sum.Blocks++
		bf := blockFacts{m: m}
		if m.Kind == blockKindRecords {
			c.blockRecords(&bf, p, c.whole && !foreign)
		}
		facts = append(facts, bf)
		return nil
	})
	var out []Finding
	add := func(sev Severity, kind string, off, length int64, format string, args ...any) {
		out = append(out, Finding{Severity: sev, Kind: kind, File: path, Offset: off, Length: length, Detail: fmt.Sprintf(format, args...)})
	}
	if errors.Is(err, segment.ErrUnknownVersion) {
		size := int64(0)
		if fi, serr := c.fsys.Stat(path); serr == nil {
			size = fi.Size()
		}
		c.sum.Bytes += size
		res := &segResult{size: size, bad: []span{{0, size}}}
		detail := fmt.Sprintf("%v: readers skip its %d bytes", err, size)
		// A flipped bit of the version field reads the same as a newer
		// format; blocks that verify and decode as this format's say which.
		if n := c.rescuable(path); n > 0 && c.whole && len(c.headers) > 0 {
			res.rescue = true
			detail += fmt.Sprintf("; yet %s after the header verify and decode as this format's (the version field is damaged?): recover copies them",
				plural(n, "block"))
		}
		add(Damage, "unknown-version", 0, size, "%s", detail)
		if named && c.whole {
			st := c.stream(sf.writer)
			st.lastSeg, st.damaged = sf.seq, true
		}
		c.finishSegment(sf, named, res, out)
		return nil
	}
	// A header length damaged to run past the end of the file reads as a
	// header a crash tore: readers skip the segment and a resuming writer
	// cuts it whole. Blocks that verify after it say it is damage.
	var rescued *segment.ScanReport
	if err == nil && rep.Torn != nil && rep.Torn.Offset == 0 && rep.Size > 0 {
		var rfacts []blockFacts
		r2, err2 := segment.ScanFrom(c.fsys, path, 1, func(m segment.BlockMeta, p []byte) error {
			c.sum.Blocks++
			bf := blockFacts{m: m}
			if m.Kind == blockKindRecords {
				c.blockRecords(&bf, p, false)
			}
			rfacts = append(rfacts, bf)
			return nil
		})
		if err2 == nil && r2.Blocks > 0 {
			rep, facts, rescued = r2, rfacts, &r2
		}
	}
	if err != nil {
		return fmt.Errorf("engine: check %s: %w", path, err)
	}
	c.sum.Bytes += rep.Size
	res := &segResult{size: rep.Size, sealed: rep.Sealed, valid: make(map[int64]segment.BlockMeta, len(facts))}
	for _, bf := range facts {
		res.valid[bf.m.Offset] = bf.m
	}
	if rescued != nil {
		first := facts[0].m.Offset
		add(Damage, "segment-header", 0, first,
			"file header claims more bytes than the file holds, as if a crash tore it, yet %s follow it: its length field is damaged; "+
				"readers read none of them%s; recover copies them",
			plural(len(facts), "valid block"), map[bool]string{true: ", and a resuming writer would cut the segment whole (keeping it aside)"}[newest])
		res.bad = append(res.bad, span{0, rep.Size})
		res.rescue = true
		if named && c.whole {
			st := c.stream(sf.writer)
			st.lastSeg, st.damaged = sf.seq, true
		}
	}
	if len(rep.Corruptions) > 0 || rep.Torn != nil {
		f, err := c.fsys.Open(path)
		if err != nil {
			return fmt.Errorf("engine: check %s: %w", path, err)
		}
		derr := c.classify(f, &rep, facts, res, add)
		f.Close()
		if derr != nil {
			return fmt.Errorf("engine: check %s: %w", path, derr)
		}
	}
	entry, listed := c.indexEntry(sf.name)
	headerOK := rep.Header.Major != 0
	if headerOK {
		if named && (rep.Header.WriterID != sf.writer || rep.Header.Seq != sf.seq) {
			add(Damage, "segment-name", 0, hdrBytes, "header says writer %d seq %d, the file name writer %d seq %d",
				rep.Header.WriterID, rep.Header.Seq, sf.writer, sf.seq)
		}
		if foreign {
			add(Damage, "run-id-mismatch", 0, hdrBytes,
				"segment of run %q in run %q: readers skip it; its %d blocks are not part of the run", rep.Header.RunID, c.runID, len(facts))
			res.bad = append(res.bad, span{0, rep.Size})
		}
	}
	if listed && rep.Torn == nil && rep.Size < entry.Covered {
		add(Damage, "truncated", rep.Size, entry.Covered-rep.Size,
			"file is %d bytes, the index recorded %d: the last %d bytes are gone", rep.Size, entry.Covered, entry.Covered-rep.Size)
		res.bad = append(res.bad, span{rep.Size, entry.Covered})
	}
	if end, short := c.markTruncated(sf, rep.Size); named && short && !rep.Sealed && rep.Torn == nil && !(listed && rep.Size < entry.Covered) {
		add(Damage, "truncated", rep.Size, end-rep.Size,
			"file is %d bytes, its writer's mark vouches for %d (written and acknowledged by Flush or Sync): the last %d bytes are gone",
			rep.Size, end, end-rep.Size)
		res.bad = append(res.bad, span{rep.Size, end})
	}
	if listed && entry.Sealed && !rep.Sealed && rep.Torn == nil && len(rep.Corruptions) == 0 && rep.Size >= entry.Covered {
		// Cut exactly at the end of its last block: every block is there,
		// and so the file reads as a crashed writer's unsealed segment.
		// Only the index remembers the seal.
		add(Damage, "truncated", rep.Size, 0,
			"the index recorded the segment sealed, yet it ends after its last block at %d: its footer and trailer are gone "+
				"(no block is lost; readers rebuild the index)", rep.Size)
	}
	damaged := slices.ContainsFunc(out, func(f Finding) bool { return f.Severity == Damage })
	if rep.Sealed && !damaged {
		c.checkFooter(&rep, facts, add)
	}
	if !rep.Sealed && !damaged && rep.Torn == nil {
		switch {
		case !newest:
			add(Info, "unsealed", -1, 0, "never sealed: its writer stopped without closing, and a later session went on in a new segment")
		case c.whole && !c.live:
			add(Info, "unsealed", -1, 0, "not sealed and no writer holds the LOCK: the writer stopped without closing (a crash); opening the run for writing resumes it")
		}
	}
	if rescued == nil {
		c.blockFindings(sf, named, facts, &out, add)
	}
	c.finishSegment(sf, named, res, out)
	return nil
}

// rescuable counts the blocks of a segment whose header cannot be read
// that verify and whose records all decode as this format's; 0 when any
// does not.
func (c *checker) rescuable(path string) int {
	n, ok := 0, true
	_, err := segment.ScanFrom(c.fsys, path, 1, func(m segment.BlockMeta, p []byte) error {
		if m.Kind == blockKindRecords {
			for b := p; len(b) > 0 && ok; {
				r, rest, err := DecodeRecord(b)
				if err == nil && (r.Kind == RecMetricChunk || r.Kind == RecStringChunk) {
					_, _, err = c.scratch.summarizeChunk(&r)
				}
				ok = err == nil
				b = rest
			}
		}
		n++
		return nil
	})
	if err != nil || !ok {
		return 0
	}
	return n
}

// finishSegment emits a segment's findings in offset order (findings about
// the whole file last) and records what the index cross-checks need.
func (c *checker) finishSegment(sf segFile, named bool, res *segResult, out []Finding) {
	slices.SortStableFunc(out, func(a, b Finding) int {
		ao, bo := a.Offset, b.Offset
		if ao < 0 {
			ao = 1 << 62
		}
		if bo < 0 {
			bo = 1 << 62
		}
		return cmpInt64(ao, bo)
	})
	for _, f := range out {
		if f.Severity >= Warning && lossKinds[f.Kind] {
			c.lossBefore = true
		}
		c.emit(f)
	}
	if c.segs != nil {
		c.segs[sf.name] = res
	}
}

// blockRecords decodes every record of a verified block payload, each
// chunk included, and replays the dictionary when checking a run.
func (c *checker) blockRecords(bf *blockFacts, p []byte, replay bool) {
	n := 0
	undecoded := false
	for b := p; len(b) > 0; {
		r, rest, err := DecodeRecord(b)
		if err != nil {
			bf.problems = append(bf.problems, fmt.Sprintf("record %d at payload byte %d does not decode (%v): the block's last %d payload bytes are unreadable",
				n, len(p)-len(b), err, len(b)))
			undecoded = true
			break
		}
		n++
		b = rest
		if r.Kind == RecMetricChunk || r.Kind == RecStringChunk {
			if _, _, err := c.scratch.summarizeChunk(&r); err != nil {
				bf.problems = append(bf.problems, fmt.Sprintf("record %d, a %s of field %d, does not decode: %v", n-1, r.Kind, r.Field, err))
			}
		}
		if !replay {
			continue
		}
		res := c.fields.resolve(r)
		bf.holes += res.holes
		switch {
		case res.orphan:
			bf.orphans = append(bf.orphans, r.Field)
		case res.problem != "":
			bf.problems = append(bf.problems, fmt.Sprintf("record %d: %s", n-1, res.problem))
		}
	}
	c.sum.Records += n
	if !undecoded && n != int(bf.m.Records) {
		bf.problems = append(bf.problems, fmt.Sprintf("block header counts %d records, its payload holds %d", bf.m.Records, n))
	}
}

// blockFindings grades what the records of each valid block showed, and
// follows the writer's sequence numbers, now that the segment's damage is
// known: a record whose field definition is gone is an orphan of damage
// reported before it, or itself the damage when nothing explains it.
func (c *checker) blockFindings(sf segFile, named bool, facts []blockFacts, out *[]Finding, add func(Severity, string, int64, int64, string, ...any)) {
	var st *streamState
	if named && c.whole {
		st = c.stream(sf.writer)
		if sf.seq > st.lastSeg+1 {
			st.damaged = true // a missing segment
		}
		st.lastSeg = sf.seq
	}
	lossIn := func(lo, hi int64) bool {
		return slices.ContainsFunc(*out, func(f Finding) bool { return f.Severity >= Warning && f.Offset >= lo && f.Offset < hi })
	}
	prevEnd := int64(0)
	for _, bf := range facts {
		m := bf.m
		problems := bf.problems
		explained := c.lossBefore || lossIn(0, m.Offset)
		if bf.holes > 0 && !explained {
			problems = append(problems, fmt.Sprintf("%s before it %s missing", plural(bf.holes, "field definition"), map[bool]string{true: "is", false: "are"}[bf.holes == 1]))
		}
		if len(bf.orphans) > 0 {
			ids := uniqueIDs(bf.orphans)
			if explained {
				add(Warning, "orphan", m.Offset, m.Size, "%s of fields whose definition was lost (ids %s): readers cannot place them; recover drops them",
					plural(len(bf.orphans), "record"), ids)
			} else {
				problems = append(problems, fmt.Sprintf("%s of undefined fields (ids %s)", plural(len(bf.orphans), "record"), ids))
			}
		}
		if len(problems) > 0 {
			detail := strings.Join(problems[:min(len(problems), 3)], "; ")
			if len(problems) > 3 {
				detail += fmt.Sprintf("; and %d more", len(problems)-3)
			}
			add(Damage, "record", m.Offset, m.Size, "block verifies, but %s", detail)
		}
		if m.Kind != blockKindRecords {
			add(Warning, "block-kind", m.Offset, m.Size, "a valid block of kind %d, which this build does not write: readers skip it, recover keeps it", m.Kind)
		}
		gapLoss := lossIn(prevEnd, m.Offset)
		prevEnd = m.End()
		if st == nil || m.Kind != blockKindRecords {
			continue
		}
		gapStart := uint64(0)
		if st.hasBlock {
			gapStart = st.lastSeq + 1
		}
		switch {
		case m.FirstSeq > m.LastSeq || (st.hasBlock && m.FirstSeq <= st.lastSeq):
			add(Damage, "sequence", m.Offset, m.Size, "records %d..%d do not follow the writer's previous records (last %d): its write order is broken",
				m.FirstSeq, m.LastSeq, st.lastSeq)
		case m.FirstSeq > gapStart && !st.damaged && !gapLoss:
			add(Info, "seq-gap", m.Offset, 0, "writer %d's records %d..%d are not in the run (no damage here explains it: a recovered run shows where data was lost)",
				sf.writer, gapStart, m.FirstSeq-1)
		}
		st.hasBlock, st.lastSeq, st.damaged = true, max(st.lastSeq, m.LastSeq), false
	}
	if st != nil && lossIn(prevEnd, 1<<62) {
		st.damaged = true // lost after the last valid block: the next segment's gap is explained
	}
}

// plural renders a count and a noun, "1 record", "3 records".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func uniqueIDs(ids []uint32) string {
	u := slices.Clone(ids)
	slices.Sort(u)
	u = slices.Compact(u)
	var b strings.Builder
	for i, id := range u {
		if i == 8 {
			fmt.Fprintf(&b, ", ... (%d ids)", len(u))
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprint(&b, id)
	}
	return b.String()
}

// classify turns the damage segment.Scan reported into findings: what
// each damaged unit was (from its header when that verifies), and how far
// the damage reaches (to the next unit that verifies).
func (c *checker) classify(f vfs.File, rep *segment.ScanReport, facts []blockFacts, res *segResult,
	add func(Severity, string, int64, int64, string, ...any)) error {
	// Unit starts: valid blocks, damage, the torn tail, the footer.
	var starts []int64
	for _, bf := range facts {
		starts = append(starts, bf.m.Offset)
	}
	for _, ce := range rep.Corruptions {
		starts = append(starts, ce.Offset)
	}
	if rep.Torn != nil {
		starts = append(starts, rep.Torn.Offset)
	}
	if rep.Sealed {
		starts = append(starts, rep.Footer.Offset)
	}
	slices.Sort(starts)
	next := func(off int64) int64 {
		for _, s := range starts {
			if s > off {
				return s
			}
		}
		return rep.Size
	}
	prevEnd := func(off int64) int64 { // end of the last valid block before off
		end := int64(-1)
		for _, bf := range facts {
			if bf.m.End() <= off {
				end = max(end, bf.m.End())
			}
		}
		return end
	}
	for _, ce := range rep.Corruptions {
		off, end := ce.Offset, next(ce.Offset)
		if off == 0 {
			add(Damage, "segment-header", 0, end, "file header does not verify (%s): the segment's run, writer and seq are unknown; its blocks are still read", ce.Reason)
			res.bad = append(res.bad, span{0, end})
			continue
		}
		m, herr := segment.BlockHeaderAt(f, off)
		var te *segment.TornTailError
		switch {
		case herr == nil && m.Kind == segment.KindFooter:
			n := min(m.Size+segment.TrailerBytes, rep.Size-off)
			add(Damage, "footer", off, n, "footer block fails its checksum: the segment's summary is unreadable (its data blocks are not affected)")
			res.bad = append(res.bad, span{off, off + n})
		case herr == nil && ce.Err != nil:
			add(Damage, "block-decode", off, m.Size, "block verifies, but its %s payload does not decompress (%v): its %s (seq %d..%d) are lost",
				m.Codec, ce.Err, plural(int(m.Records), "record"), m.FirstSeq, m.LastSeq)
			res.bad = append(res.bad, span{off, m.End()})
		case herr == nil:
			add(Damage, "block-checksum", off, m.Size, "block checksum mismatch: its %s (seq %d..%d) are lost", plural(int(m.Records), "record"), m.FirstSeq, m.LastSeq)
			res.bad = append(res.bad, span{off, m.End()})
		case rep.Sealed && off == rep.ValidEnd:
			add(Damage, "garbage", off, rep.Size-off, "%d bytes after the segment trailer", rep.Size-off)
			res.bad = append(res.bad, span{off, rep.Size})
		case errors.As(herr, &te):
			add(Damage, "footer", off, rep.Size-off, "%d bytes at the end that are a segment trailer with no valid footer before it: the segment's summary is lost",
				rep.Size-off)
			res.bad = append(res.bad, span{off, rep.Size})
		case footerAt(f, rep.Size) == off:
			add(Damage, "footer", off, rep.Size-off, "footer block header does not verify (%s): the segment's summary is unreadable (its data blocks are not affected)",
				reasonOf(herr))
			res.bad = append(res.bad, span{off, rep.Size})
		case isFooterEndingAt(f, prevEnd(off), off):
			add(Damage, "footer", off, rep.Size-off, "the segment trailer does not point back at the footer before it")
			res.bad = append(res.bad, span{off, rep.Size})
		default:
			zeros, err := zeroRun(f, off, end)
			if err != nil {
				return err
			}
			res.bad = append(res.bad, span{off, end})
			switch {
			case zeros >= zeroedMinBytes:
				add(Damage, "zeroed", off, end-off, "%d zero bytes where a block should start: %d bytes unreadable, to %s",
					zeros, end-off, unitAt(end, rep.Size))
			case end == rep.Size:
				add(Damage, "garbage", off, end-off, "%d bytes after the last valid block are not a block (%s)", end-off, reasonOf(herr))
			default:
				add(Damage, "block-header", off, end-off, "block header does not verify (%s): %d bytes skipped, to the next unit that verifies, at %d",
					reasonOf(herr), end-off, end)
			}
		}
	}
	if t := rep.Torn; t != nil {
		sev, why := Warning, "a crash mid-write leaves this; the next writer cuts it and keeps the bytes aside"
		if entry, ok := c.indexEntry(filepath.Base(t.File)); ok && (entry.Sealed || entry.Covered > t.Offset) {
			state := "unsealed"
			if entry.Sealed {
				state = "sealed"
			}
			sev = Damage
			why = fmt.Sprintf("the index recorded the segment %s at %d bytes, so %d bytes from offset %d are lost",
				state, entry.Covered, entry.Covered-t.Offset, t.Offset)
		} else if mwhy, ok := c.markTorn(t); ok {
			sev, why = Damage, mwhy
		} else if !c.isNewest(t.File) {
			sev, why = Damage, "a later segment of the same writer follows, and only a writer's newest segment can be torn by a crash: data is lost"
		}
		what := fmt.Sprintf("the last %d bytes do not form a whole block", t.Size)
		if zeros, err := zeroRun(f, t.Offset, t.Offset+t.Size); err != nil {
			return err
		} else if zeros == t.Size && t.Size > 0 {
			what = fmt.Sprintf("the last %d bytes are all zero", t.Size)
		}
		if t.Offset == 0 {
			what = fmt.Sprintf("the file (%d bytes) is shorter than its header", t.Size)
		}
		add(sev, "torn-tail", t.Offset, t.Size, "%s: %s", what, why)
		if sev == Damage {
			res.bad = append(res.bad, span{t.Offset, t.Offset + t.Size})
		}
	}
	return nil
}

// zeroedMinBytes is how many zero bytes a damaged unit must start with to
// be reported as zeroed: a block header always starts with a non-zero
// magic and a single flipped bit cannot clear eight bytes.
const zeroedMinBytes = 8

func unitAt(off, size int64) string {
	if off >= size {
		return "the end of the file"
	}
	return fmt.Sprintf("the next valid unit at %d", off)
}

func reasonOf(err error) string {
	var ce *segment.CorruptionError
	if errors.As(err, &ce) {
		return ce.Reason
	}
	return err.Error()
}

// footerAt returns the footer offset the trailer at the end of the file
// names, or -1.
func footerAt(f vfs.File, size int64) int64 {
	if off, ok := segment.FooterOffset(f, size); ok {
		return off
	}
	return -1
}

// isFooterEndingAt reports whether a footer block whose header verifies
// starts at off and ends at end.
func isFooterEndingAt(f vfs.File, off, end int64) bool {
	if off < 0 {
		return false
	}
	m, err := segment.BlockHeaderAt(f, off)
	return err == nil && m.Kind == segment.KindFooter && m.End() == end
}

// zeroRun counts the zero bytes from off, up to end.
func zeroRun(f vfs.File, off, end int64) (int64, error) {
	var buf [4096]byte
	n := int64(0)
	for off+n < end {
		k := int(min(int64(len(buf)), end-off-n))
		got, err := f.ReadAt(buf[:k], off+n)
		for i := 0; i < got; i++ {
			if buf[i] != 0 {
				return n + int64(i), nil
			}
		}
		n += int64(got)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			return n, err
		}
	}
	return n, nil
}

func (c *checker) isNewest(path string) bool {
	w, seq, ok := segment.ParseSegmentName(filepath.Base(path))
	if !ok {
		return true
	}
	segs, err := listSegments(c.fsys, filepath.Dir(path))
	if err != nil {
		return true
	}
	for _, o := range segs {
		if o.writer == w && o.seq > seq {
			return false
		}
	}
	return true
}

// checkFooter compares a sealed segment's footer with the blocks found.
func (c *checker) checkFooter(rep *segment.ScanReport, facts []blockFacts, add func(Severity, string, int64, int64, string, ...any)) {
	var got segment.Footer
	for i, bf := range facts {
		m := bf.m
		got.Blocks++
		got.Records += uint64(m.Records)
		if i == 0 || m.FirstSeq < got.FirstSeq {
			got.FirstSeq = m.FirstSeq
		}
		got.LastSeq = max(got.LastSeq, m.LastSeq)
		got.RawBytes += uint64(m.RawLen)
		got.StoredBytes += uint64(m.StoredBytes())
	}
	want := rep.Footer
	got.Offset = want.Offset
	if got != want {
		add(Damage, "footer", want.Offset, 0,
			"footer totals (%d blocks, %d records, seq %d..%d, %d raw and %d stored bytes) disagree with the blocks (%d, %d, %d..%d, %d, %d)",
			want.Blocks, want.Records, want.FirstSeq, want.LastSeq, want.RawBytes, want.StoredBytes,
			got.Blocks, got.Records, got.FirstSeq, got.LastSeq, got.RawBytes, got.StoredBytes)
	}
}

// indexFindings reports on the index: missing, damaged, stale, or
// disagreeing with the blocks it covers.
func (c *checker) indexFindings(segs []segFile, onDisk map[string]bool) {
	path := filepath.Join(c.dir, index.FileNameOf(c.cw))
	var ce *index.CorruptionError
	switch {
	case errors.Is(c.ixErr, fs.ErrNotExist):
		c.emit(Finding{Severity: Info, Kind: "index-missing", File: path, Offset: -1,
			Detail: "index missing; readers rebuild it from the segments"})
		return
	case errors.As(c.ixErr, &ce):
		c.emit(Finding{Severity: Damage, Kind: "index", File: path, Offset: ce.Offset,
			Detail: fmt.Sprintf("%v; readers rebuild the index from the segments", ce.Err)})
		return
	case c.ixErr != nil:
		c.emit(Finding{Severity: Warning, Kind: "unknown-version", File: path, Offset: 0,
			Detail: fmt.Sprintf("%v; readers rebuild the index from the segments", c.ixErr)})
		return
	case c.ixForeign != "":
		c.emit(Finding{Severity: Warning, Kind: "index-stale", File: path, Offset: -1,
			Detail: fmt.Sprintf("index is of run %q, the segments of run %q; readers rebuild it", c.ixForeign, c.runID)})
		return
	}
	if c.ixState != nil {
		c.emit(Finding{Severity: Damage, Kind: "index", File: path, Offset: -1,
			Detail: fmt.Sprintf("%v; readers rebuild the index from the segments", c.ixState)})
		return
	}
	// A segment the index lists that no name gap already reported.
	reported := make(map[string]bool)
	for _, name := range missingSegments(segs) {
		first, _, _ := strings.Cut(name, " ")
		reported[first] = true
	}
	for _, se := range c.ix.Segments {
		if !onDisk[se.Name] && !reported[se.Name] {
			c.emit(Finding{Severity: Damage, Kind: "missing-segment", File: filepath.Join(c.dir, se.Name), Offset: -1, Length: se.Covered,
				Detail: fmt.Sprintf("the index lists segment %s (%d bytes of blocks), which is missing: everything it held is lost", se.Name, se.Covered)})
		}
	}
	if c.ixProblem != "" {
		c.emit(Finding{Severity: Warning, Kind: "index-stale", File: path, Offset: -1,
			Detail: fmt.Sprintf("%s; readers rebuild the index from the segments", c.ixProblem)})
		return
	}
	// Readers trust this index: it must hold every block it covers, as found.
	listed := make(map[string]index.SegmentEntry)
	for _, se := range c.ix.Segments {
		listed[se.Name] = se
	}
	var problems []string
	indexed := make(map[string]map[int64]bool)
	for _, b := range c.ix.Blocks {
		se := c.ix.Segments[b.Segment]
		if indexed[se.Name] == nil {
			indexed[se.Name] = make(map[int64]bool)
		}
		indexed[se.Name][b.Offset] = true
		res := c.segs[se.Name]
		if res == nil {
			continue
		}
		m, ok := res.valid[b.Offset]
		switch {
		case ok && m.Size == b.Size && m.FirstSeq == b.FirstSeq && m.LastSeq == b.LastSeq:
		case res.inBad(b.Offset):
			// The block's damage is reported with the segment.
		default:
			problems = append(problems, fmt.Sprintf("it names a block at %s@%d (%d bytes, seq %d..%d) the segment does not hold",
				se.Name, b.Offset, b.Size, b.FirstSeq, b.LastSeq))
		}
	}
	var uncovered []string
	for _, sf := range segs {
		se, ok := listed[sf.name]
		res := c.segs[sf.name]
		if !ok {
			uncovered = append(uncovered, sf.name+" (not listed)")
			continue
		}
		if res == nil {
			continue
		}
		var beyond int
		for off, m := range res.valid {
			switch {
			case m.Kind != blockKindRecords:
			case m.End() <= se.Covered && !indexed[sf.name][off]:
				problems = append(problems, fmt.Sprintf("block %s@%d lies in the range it covers but is not in it: readers that trust it miss the block's %d records",
					sf.name, off, m.Records))
			case m.End() > se.Covered:
				beyond++
			}
		}
		if beyond > 0 {
			uncovered = append(uncovered, fmt.Sprintf("%s (%d blocks past the %d bytes covered)", sf.name, beyond, se.Covered))
		}
	}
	slices.Sort(problems)
	for _, p := range problems {
		c.emit(Finding{Severity: Damage, Kind: "index", File: path, Offset: -1, Detail: p + "; readers rebuild a damaged index, but trust this one"})
	}
	c.ixCurrent = len(problems) == 0 && len(uncovered) == 0
	if len(uncovered) > 0 {
		c.emit(Finding{Severity: Warning, Kind: "index-stale", File: path, Offset: -1,
			Detail: fmt.Sprintf("index does not cover %s; readers replay what it does not cover", strings.Join(uncovered, ", "))})
	}
}

// readLock reads the LOCK owner record; its findings come after the
// segments'.
func (c *checker) readLock() error {
	path := filepath.Join(c.dir, LockFileNameOf(c.cw))
	fi, err := c.fsys.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("engine: check %s: %w", path, err)
	}
	c.lockSize = fi.Size()
	c.sum.Bytes += fi.Size()
	c.owner, c.live, c.ownerErr = ReadOwnerOf(c.fsys, c.dir, c.cw)
	if c.ownerErr != nil && !errors.Is(c.ownerErr, ErrCorrupt) {
		return c.ownerErr
	}
	f, err := c.fsys.Open(path)
	if err != nil {
		return fmt.Errorf("engine: check %s: %w", path, err)
	}
	defer f.Close()
	c.lockRec, err = io.ReadAll(io.LimitReader(f, lockRecordBytes+1))
	if err != nil {
		return fmt.Errorf("engine: check %s: %w", path, err)
	}
	return nil
}

// lockFindings reports on the owner record: it must verify, and the
// padding after it (which its checksum does not cover) must be spaces.
func (c *checker) lockFindings() {
	if c.lockRec == nil && c.lockSize == 0 && c.ownerErr == nil && !c.live {
		if _, err := c.fsys.Stat(filepath.Join(c.dir, LockFileNameOf(c.cw))); err != nil {
			return // no lock: the writer never opened the run here
		}
	}
	path := filepath.Join(c.dir, LockFileNameOf(c.cw))
	switch {
	case c.ownerErr != nil:
		c.emit(Finding{Severity: Warning, Kind: "lock", File: path, Offset: 0, Length: c.lockSize,
			Detail: fmt.Sprintf("owner record does not verify (%v): torn by a crash mid-heartbeat, or damaged; the next writer rewrites it", errors.Unwrap(c.ownerErr))})
	case c.lockSize == 0:
		c.emit(Finding{Severity: Warning, Kind: "lock", File: path, Offset: 0,
			Detail: "LOCK is empty: the owner record never reached the disk (a power loss: it is not fsynced), or a writer stopped between taking the lock and recording itself; the next writer rewrites it"})
	default:
		nl := slices.Index(c.lockRec, '\n')
		bad := int64(-1)
		for i := nl + 1; i < len(c.lockRec); i++ {
			if c.lockRec[i] != ' ' {
				bad = int64(i)
				break
			}
		}
		switch {
		case bad >= 0:
			c.emit(Finding{Severity: Warning, Kind: "lock", File: path, Offset: bad, Length: 1,
				Detail: "the padding after the owner record is damaged (the record itself verifies); the next writer rewrites it"})
		case c.lockSize != lockRecordBytes:
			c.emit(Finding{Severity: Warning, Kind: "lock", File: path, Offset: min(c.lockSize, lockRecordBytes), Length: abs64(c.lockSize - lockRecordBytes),
				Detail: fmt.Sprintf("LOCK is %d bytes, not %d; the next writer rewrites it", c.lockSize, lockRecordBytes)})
		}
	}
	if c.live {
		o := c.owner
		c.emit(Finding{Severity: Info, Kind: "live", File: path, Offset: -1,
			Detail: fmt.Sprintf("a writer holds the LOCK (pid %d on %s, writer %d, since %s, heartbeat %s): its newest blocks may be in flight",
				o.PID, o.Host, o.WriterID, o.Start.UTC().Format("2006-01-02T15:04:05Z"), o.Heartbeat.UTC().Format("2006-01-02T15:04:05Z"))})
	}
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// debris reports files recovery and interrupted index writes leave.
func (c *checker) debris() error {
	entries, err := c.fsys.ReadDir(c.dir)
	if err != nil {
		return fmt.Errorf("engine: list %s: %w", c.dir, err)
	}
	for _, e := range entries {
		name := e.Name()
		size := int64(0)
		if fi, err := e.Info(); err == nil {
			size = fi.Size()
		}
		switch {
		case index.IsAnyTempName(name):
			c.emit(Finding{Severity: Info, Kind: "index-temp", File: filepath.Join(c.dir, name), Offset: -1, Length: size,
				Detail: "an index write a crash interrupted; the next writer removes it"})
		case strings.HasSuffix(name, ".mark.tmp"):
			c.emit(Finding{Severity: Info, Kind: "mark-temp", File: filepath.Join(c.dir, name), Offset: -1, Length: size,
				Detail: "a mark a resuming writer was replacing when it stopped; never read, removed by that writer's next session"})
		case strings.Contains(name, ".seg.torn-"):
			seg, off, _ := strings.Cut(name, ".torn-")
			c.emit(Finding{Severity: Info, Kind: "torn-saved", File: filepath.Join(c.dir, name), Offset: -1, Length: size,
				Detail: fmt.Sprintf("%d bytes recovery cut off the torn tail of %s at offset %s, kept for forensics", size, seg, off)})
		}
	}
	return nil
}

// fieldMap replays field definitions in the loader's order (by writer,
// then segment, then block) and resolves the field of every record. A
// definition lost with a damaged block is taken from the index's snapshot
// when it knows it (ids are dense and never reused, so even a stale
// snapshot's dictionary is a prefix of the run's); otherwise the id is a
// hole, and records of it are orphans. Check uses it to find orphans;
// Salvage to renumber what it copies around holes.
type fieldMap struct {
	known  []FieldInfo         // the index snapshot's dictionary; may be nil
	ids    []int64             // source id → resolved id; -1: lost
	fields []FieldInfo         // the resolved dictionary, dense
	byKey  map[FieldKey]uint32 // resolved id by path and kind
}

// resolution is what fieldMap.resolve made of one record.
type resolution struct {
	rec     Record      // the record, its field id resolved
	defs    []FieldInfo // definitions recovered from the snapshot, to emit before rec
	holes   int         // definitions found lost (not in the snapshot)
	drop    bool        // rec cannot be kept
	orphan  bool        // ... because its field's definition is lost
	problem string      // ... because it contradicts the dictionary
}

func (m *fieldMap) resolve(r Record) resolution {
	out := resolution{rec: r}
	var want FieldKind
	switch r.Kind {
	case RecMeta:
		return out
	case RecFieldDef:
		s := int64(r.Field)
		if s < int64(len(m.ids)) {
			out.drop = true
			switch d := m.ids[s]; {
			case d < 0:
				out.problem = fmt.Sprintf("field %d (%q) is defined after the definition was found lost", s, r.Path)
			case m.fields[d].Path != r.Path || m.fields[d].Kind != r.FieldKind:
				out.problem = fmt.Sprintf("field %d defined as %s %q, but it is %s %q", s, r.FieldKind, r.Path, m.fields[d].Kind, m.fields[d].Path)
			default:
				out.rec.Field = uint32(d) // a repeat: nothing new
			}
			return out
		}
		if s-int64(len(m.ids)) > maxFieldGap {
			out.drop, out.problem = true, fmt.Sprintf("field id %d is far past the %d defined", s, len(m.ids))
			return out
		}
		out.defs, out.holes = m.fill(s)
		if id, ok := m.byKey[FieldKey{r.Path, r.FieldKind}]; ok {
			m.ids = append(m.ids, -1)
			out.drop, out.problem = true, fmt.Sprintf("%s field %q defined twice (ids %d and %d)", r.FieldKind, r.Path, m.fields[id].ID, s)
			return out
		}
		out.rec.Field = m.add(r.Path, r.FieldKind)
		m.ids = append(m.ids, int64(out.rec.Field))
		return out
	case RecMetricChunk:
		want = KindMetric
	case RecStringChunk:
		want = KindString
	default: // config, set-op
		want = KindConfig
	}
	s := int64(r.Field)
	if s >= int64(len(m.ids)) {
		if s-int64(len(m.ids)) > maxFieldGap {
			out.drop, out.problem = true, fmt.Sprintf("a %s record of field %d, far past the %d defined", r.Kind, s, len(m.ids))
			return out
		}
		out.defs, out.holes = m.fill(s + 1)
	}
	d := m.ids[s]
	switch {
	case d < 0:
		out.drop, out.orphan = true, true
	case m.fields[d].Kind != want:
		out.drop = true
		out.problem = fmt.Sprintf("a %s record of %s field %q", r.Kind, m.fields[d].Kind, m.fields[d].Path)
	default:
		out.rec.Field = uint32(d)
	}
	return out
}

// fill resolves every source id below end that has no definition yet:
// from the snapshot when it knows the id, as a hole otherwise.
func (m *fieldMap) fill(end int64) (defs []FieldInfo, holes int) {
	for int64(len(m.ids)) < end {
		j := len(m.ids)
		if j < len(m.known) {
			k := m.known[j]
			if _, dup := m.byKey[FieldKey{k.Path, k.Kind}]; !dup {
				id := m.add(k.Path, k.Kind)
				m.ids = append(m.ids, int64(id))
				defs = append(defs, m.fields[id])
				continue
			}
		}
		m.ids = append(m.ids, -1)
		holes++
	}
	return defs, holes
}

func (m *fieldMap) add(path string, kind FieldKind) uint32 {
	id := uint32(len(m.fields))
	m.fields = append(m.fields, FieldInfo{ID: id, Path: path, Kind: kind})
	m.byKey[FieldKey{path, kind}] = id
	return id
}
