package engine

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"path/filepath"
	"slices"
	"strings"

	"github.com/goodseed/goodseed-go/index"
	"github.com/goodseed/goodseed-go/internal/vfs"
	"github.com/goodseed/goodseed-go/segment"
	"github.com/goodseed/goodseed-go/series"
)

// RecoveryReport says what opening a run found: torn tails cut, damaged
// blocks skipped, and whether the index had to be rebuilt.
type RecoveryReport struct {
	// Cuts lists the torn tails cut from segments (writable opens only).
	Cuts []TailCut
	// Torn lists torn tails seen but left alone (read-only opens: usually a
	// live writer's block in flight).
	Torn []*segment.TornTailError
	// Corruptions lists damaged blocks and records; their data is skipped,
	// everything else is read.
	Corruptions []error
	// IndexRebuilt is set when the index was missing, stale or corrupt;
	// IndexProblem says why.
	IndexRebuilt bool
	IndexProblem string
	// ReplayedBlocks counts blocks the index did not cover.
	ReplayedBlocks int
	// MissingSegments names segments absent from a writer's stream: a
	// writer numbers its segments 1, 2, 3, ... and recovery only ever
	// removes its newest one (a torn header), so a hole below a writer's
	// newest segment is a segment lost, with everything it held. A gap
	// wider than maxListedMissing is listed as its first and last name.
	MissingSegments []string
	// UnknownVersion lists segments whose header names a format major
	// version this build cannot read; their data is skipped. A run with no
	// readable segment at all is refused instead, and a writer refuses to
	// resume a run holding any.
	UnknownVersion []*VersionError
}

// VersionError is a segment whose header names a format major version this
// build cannot read. It wraps segment.ErrUnknownVersion.
type VersionError struct {
	File string
	Err  error
}

func (e *VersionError) Error() string { return fmt.Sprintf("engine: read %s: %v", e.File, e.Err) }

// Unwrap returns the segment package's error.
func (e *VersionError) Unwrap() error { return e.Err }

// ForeignSegmentError is a segment whose header names another run: a file
// copied between run directories. Readers and writers skip it whole, as
// they skip a damaged block; Check reports it and Salvage leaves it out.
type ForeignSegmentError struct {
	File  string // the segment's path
	RunID string // the run its header names
	Want  string // the run the directory holds
}

func (e *ForeignSegmentError) Error() string {
	return fmt.Sprintf("engine: segment %s belongs to run %q, not %q: skipped", e.File, e.RunID, e.Want)
}

// Is reports the error as corruption (ErrCorrupt and segment.ErrCorrupt),
// so callers that count damage count it.
func (e *ForeignSegmentError) Is(target error) bool {
	return target == ErrCorrupt || target == segment.ErrCorrupt
}

// electRunID decides whose run a directory is, the same way for readers,
// writers and Check: the run of an index whose checksum holds when a
// segment header names it too (or no header reads), else the run most
// segment headers name, the first in name order on a tie. A segment copied
// from another run is then the odd one out, even when it sorts first.
func electRunID(order []string, count map[string]int, indexRunID string) string {
	if indexRunID != "" && (count[indexRunID] > 0 || len(order) == 0) {
		return indexRunID
	}
	var best string
	for _, id := range order {
		if count[id] > count[best] {
			best = id
		}
	}
	return best
}

// segmentRunIDs returns the run id each segment's header names, "" where
// the header does not read (the scan reports it). A segment the index
// covers is not opened: it names indexRunID (validateIndex checked).
func segmentRunIDs(fsys vfs.FS, dir string, segs []segFile, covered map[string]uint32, indexRunID string) []string {
	ids := make([]string, len(segs))
	for i, sf := range segs {
		if _, ok := covered[sf.name]; ok {
			ids[i] = indexRunID
			continue
		}
		sr, err := segment.Open(fsys, filepath.Join(dir, sf.name))
		if err != nil {
			continue
		}
		ids[i] = sr.Header().RunID
		sr.Close()
	}
	return ids
}

// tallyRunIDs counts the run ids segment headers name, in first-seen order,
// for electRunID.
func tallyRunIDs(ids []string) (order []string, count map[string]int) {
	count = make(map[string]int)
	for _, id := range ids {
		if id == "" {
			continue
		}
		if count[id] == 0 {
			order = append(order, id)
		}
		count[id]++
	}
	return order, count
}

// maxListedMissing bounds the names listed for one gap in a writer's
// segment numbers (a hostile file name may claim seq 2^60).
const maxListedMissing = 64

// TailCut is one torn tail cut off a segment. The cut bytes are kept in
// SavedAs for forensics.
type TailCut struct {
	Segment string
	Offset  int64
	Bytes   int64
	SavedAs string
}

// Clean reports whether nothing was cut, found damaged or found missing.
func (r RecoveryReport) Clean() bool {
	return len(r.Cuts) == 0 && len(r.Torn) == 0 && len(r.Corruptions) == 0 && len(r.MissingSegments) == 0 &&
		len(r.UnknownVersion) == 0
}

// missingSegments lists the holes in each writer's segment numbers; segs
// is sorted by writer, then seq (listSegments).
func missingSegments(segs []segFile) []string {
	var out []string
	next := make(map[uint32]uint64)
	for _, sf := range segs {
		n, ok := next[sf.writer]
		if !ok {
			n = 1
		}
		switch {
		case sf.seq <= n:
		case sf.seq-n > maxListedMissing:
			out = append(out, fmt.Sprintf("%s ... %s (%d segments)",
				segment.SegmentName(sf.writer, n), segment.SegmentName(sf.writer, sf.seq-1), sf.seq-n))
		default:
			for ; n < sf.seq; n++ {
				out = append(out, segment.SegmentName(sf.writer, n))
			}
		}
		next[sf.writer] = max(n, sf.seq+1)
	}
	return out
}

// loaded is a run's state as found on disk.
type loaded struct {
	runID   string
	foreign map[string]bool // segments of another run, skipped (reported once)
	// headerRunIDs holds the run id load read from each segment's header
	// ("" where it did not read), so replay does not open them again.
	headerRunIDs map[string]string
	ix           *index.Index
	st           *runState
	segPos       map[string]uint32 // segment name → position in ix.Segments
	lastSeg      map[uint32]uint64 // writer → newest segment seq
	nextSeq      map[uint32]uint64 // writer → next record seq
	report       RecoveryReport
	// marks are the writers' marks (mark.go), read before the segments
	// were listed; losses what the index, the segment numbers or the marks
	// say is gone (also in report.Corruptions), each reported once.
	marks    marks
	losses   []lossEntry
	lossSeen map[string]bool
}

type segFile struct {
	name   string
	writer uint32
	seq    uint64
}

// writerSegments returns the segments of writer w in segs.
func writerSegments(segs []segFile, w uint32) []segFile {
	var out []segFile
	for _, sf := range segs {
		if sf.writer == w {
			out = append(out, sf)
		}
	}
	return out
}

// segWriters returns the writers of segs, in order (segs sorted by writer).
func segWriters(segs []segFile) []uint32 {
	var out []uint32
	for i, sf := range segs {
		if i == 0 || sf.writer != segs[i-1].writer {
			out = append(out, sf.writer)
		}
	}
	return out
}

// listWriterSegments lists writer w's segments in dir, by seq.
func listWriterSegments(fsys vfs.FS, dir string, w uint32) ([]segFile, error) {
	segs, err := listSegments(fsys, dir)
	return writerSegments(segs, w), err
}

func listSegments(fsys vfs.FS, dir string) ([]segFile, error) {
	entries, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("engine: list %s: %w", dir, err)
	}
	var segs []segFile
	for _, e := range entries {
		if w, seq, ok := segment.ParseSegmentName(e.Name()); ok && !e.IsDir() {
			segs = append(segs, segFile{name: e.Name(), writer: w, seq: seq})
		}
	}
	slices.SortFunc(segs, func(a, b segFile) int {
		if a.writer != b.writer {
			return int(a.writer) - int(b.writer)
		}
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	return segs, nil
}

// cutTornTails cuts the torn tail off the newest segment of each writer,
// keeping the cut bytes beside it. A crash can only tear the block a writer
// was appending, so older segments are left as they are.
//
// A torn tail the writer's mark vouches for (mark.go) is not cut: the
// writer had finished writing it, so it is damage, which load reports.
func cutTornTails(fsys vfs.FS, dir string, w uint32, segs []segFile, ms marks, rep *RecoveryReport) error {
	// What the index says was written is not a torn tail, whatever the
	// file looks like now: such damage is left for load to report.
	covered := map[string]int64{}
	var indexRunID string
	if ix, err := index.ReadFileOf(fsys, dir, w); err == nil {
		indexRunID = ix.RunID
		for _, se := range ix.Segments {
			covered[se.Name] = se.Covered
		}
	}
	ms = ms.forRun(indexRunID)
	// A segment of another run (copied in) is never cut, nor does it hide
	// the newest segment of the writer whose number it took. Only the
	// newest segments' headers are read, unless one disagrees with the
	// index: then every header, to elect the run as load does.
	for _, sf := range ownNewest(fsys, dir, segs, indexRunID) {
		path := filepath.Join(dir, sf.name)
		sr, err := segment.Scan(fsys, path, nil)
		if err != nil && !errors.Is(err, segment.ErrTornTail) && !errors.Is(err, segment.ErrCorrupt) {
			return fmt.Errorf("engine: scan %s: %w", path, err)
		}
		if sr.Torn == nil || sr.Sealed || covered[sf.name] > sr.ValidEnd || ms.covers(sf.writer, sf.seq, sr.ValidEnd) {
			continue
		}
		cut, err := cutTail(fsys, path, sr.ValidEnd, sr.Size)
		if err != nil {
			return err
		}
		rep.Cuts = append(rep.Cuts, cut)
	}
	return nil
}

// ownNewest returns, for each writer, its newest segment that is not of
// another run (segs sorted by writer, then seq).
func ownNewest(fsys vfs.FS, dir string, segs []segFile, indexRunID string) []segFile {
	runID := indexRunID
	var ids []string // every header's run id, once read
	headerID := func(i int) string {
		if ids != nil {
			return ids[i]
		}
		return segmentRunIDs(fsys, dir, segs[i:i+1], nil, "")[0]
	}
	var out []segFile
	for end := len(segs); end > 0; {
		start := end - 1
		for start > 0 && segs[start-1].writer == segs[end-1].writer {
			start--
		}
		for i := end - 1; i >= start; i-- {
			id := headerID(i)
			if id != "" && id != runID && ids == nil {
				// A header disagrees: elect the run from them all.
				ids = segmentRunIDs(fsys, dir, segs, nil, "")
				order, count := tallyRunIDs(ids)
				runID = electRunID(order, count, indexRunID)
			}
			if id == "" || id == runID {
				out = append(out, segs[i])
				break
			}
		}
		end = start
	}
	slices.Reverse(out) // writer order, as the cuts are reported
	return out
}

func cutTail(fsys vfs.FS, path string, from, size int64) (TailCut, error) {
	cut := TailCut{Segment: filepath.Base(path), Offset: from, Bytes: size - from}
	f, err := fsys.OpenReadWrite(path)
	if err != nil {
		return cut, fmt.Errorf("engine: open %s to cut torn tail: %w", path, err)
	}
	defer f.Close()
	tail := make([]byte, size-from)
	if _, err := f.ReadAt(tail, from); err != nil && !errors.Is(err, io.EOF) {
		return cut, fmt.Errorf("engine: read torn tail of %s at %d: %w", path, from, err)
	}
	saved, err := saveTail(fsys, fmt.Sprintf("%s.torn-%d", path, from), tail)
	if err != nil {
		return cut, err
	}
	cut.SavedAs = filepath.Base(saved)
	if from == 0 {
		// Not even the header made it: the segment is nothing but its tail.
		if err := fsys.Remove(path); err != nil {
			return cut, fmt.Errorf("engine: remove torn segment %s: %w", path, err)
		}
	} else {
		if err := f.Truncate(from); err != nil {
			return cut, fmt.Errorf("engine: cut %s at %d: %w", path, from, err)
		}
		if err := f.Sync(); err != nil {
			return cut, fmt.Errorf("engine: sync %s after cut: %w", path, err)
		}
	}
	if err := fsys.SyncDir(filepath.Dir(path)); err != nil {
		return cut, fmt.Errorf("engine: sync dir after cut of %s: %w", path, err)
	}
	return cut, nil
}

// saveTail keeps the bytes of a torn tail in name. A cut that a crash (or
// a failed call) interrupted after saving may have left name behind, whole
// or in part, with the segment still uncut: the same segment and offset can
// only ever have torn the same bytes, so a file there that holds a prefix
// of tail is that earlier attempt, and is completed. Anything else there is
// kept, and tail goes to name-2, name-3, ...
func saveTail(fsys vfs.FS, name string, tail []byte) (string, error) {
	const maxAttempts = 16
	for n := 1; n <= maxAttempts; n++ {
		path := name
		if n > 1 {
			path = fmt.Sprintf("%s-%d", name, n)
		}
		err := writeFileSync(fsys, path, tail)
		if !errors.Is(err, fs.ErrExist) {
			return path, err
		}
		old, err := readFile(fsys, path)
		if err != nil {
			return path, err
		}
		if bytes.HasPrefix(tail, old) {
			return path, rewriteFileSync(fsys, path, tail)
		}
	}
	return name, fmt.Errorf("engine: save torn tail: %s and %d more names are taken", name, maxAttempts-1)
}

func readFile(fsys vfs.FS, path string) ([]byte, error) {
	f, err := fsys.Open(path)
	if err != nil {
		return nil, fmt.Errorf("engine: open %s: %w", path, err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("engine: read %s: %w", path, err)
	}
	return b, nil
}

// rewriteFileSync makes the existing file path hold exactly b, durably.
// (OpenReadWrite appends, so the file is emptied first; the bytes it held
// are still in the segment, which is cut only after this.)
func rewriteFileSync(fsys vfs.FS, path string, b []byte) error {
	f, err := fsys.OpenReadWrite(path)
	if err != nil {
		return fmt.Errorf("engine: open %s: %w", path, err)
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return fmt.Errorf("engine: truncate %s: %w", path, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("engine: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("engine: sync %s: %w", path, err)
	}
	return f.Close()
}

func writeFileSync(fsys vfs.FS, path string, b []byte) error {
	f, err := fsys.Create(path)
	if err != nil {
		return fmt.Errorf("engine: create %s: %w", path, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("engine: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("engine: sync %s: %w", path, err)
	}
	return f.Close()
}

// load reads one writer's stream of a run (segs are writer w's segments):
// its index when it is valid, plus a replay of whatever it does not cover;
// a full rebuild from the segments otherwise, with the dictionary of an
// index that reads but is not trusted. Each writer's stream has its own
// dictionary, state and index; readers merge the streams (reader.go).
//
// ms are the marks, read before segs was listed; only writer w's is used.
func load(fsys vfs.FS, dir string, w uint32, segs []segFile, ms marks) (*loaded, error) {
	ms = ms.only(w)
	l := &loaded{
		foreign: make(map[string]bool),
		segPos:  make(map[string]uint32),
		lastSeg: make(map[uint32]uint64),
		nextSeq: make(map[uint32]uint64),
	}
	ix, err := index.ReadFileOf(fsys, dir, w)
	var checksummedRunID string // from an index that reads, trusted or not
	var seed *index.Index       // an index that reads but is not trusted
	if err == nil {
		checksummedRunID = ix.RunID
	}
	switch {
	case err == nil:
		if problem := validateIndex(fsys, dir, ix, segs); problem != "" {
			l.report.IndexProblem = problem
			seed = ix
		} else {
			l.ix, l.st = ix, newRunState()
			if err := l.st.restore(ix.State); err != nil {
				l.report.IndexProblem = err.Error()
				l.ix = nil
			}
		}
	case errors.Is(err, fs.ErrNotExist):
		l.report.IndexProblem = "index missing"
	default:
		l.report.IndexProblem = err.Error()
	}
	covered := make(map[string]uint32)
	if l.ix != nil {
		for i, se := range l.ix.Segments {
			covered[se.Name] = uint32(i)
		}
	}
	ids := segmentRunIDs(fsys, dir, segs, covered, checksummedRunID)
	order, count := tallyRunIDs(ids)
	l.runID = electRunID(order, count, checksummedRunID)
	l.headerRunIDs = make(map[string]string, len(segs))
	for i, sf := range segs {
		l.headerRunIDs[sf.name] = ids[i]
	}
	if l.ix != nil && l.ix.RunID != l.runID {
		// A trusted index covering no segment, of a run no segment names.
		l.report.IndexProblem = fmt.Sprintf("index is of run %q, the segments of run %q", l.ix.RunID, l.runID)
		l.ix, covered = nil, map[string]uint32{}
	}
	if seed != nil && seed.RunID != l.runID {
		seed = nil // another run's index: its dictionary is not this one's
	}
	l.marks = ms.forRun(l.runID)
	if seed != nil {
		l.indexLosses(fsys, dir, seed)
	}
	if l.ix == nil {
		l.report.IndexRebuilt = true
		l.ix, l.st = index.New(""), newRunState()
		if seed != nil {
			// Its checksum holds, so its dictionary is the run's as it
			// was (ids are dense and never reused): it names the fields
			// whose definitions a damaged or missing segment took with
			// it, and their records elsewhere are read instead of
			// dropped as orphans. Only the dictionary: its configs and
			// meta may be stale, the replay sets them.
			if l.st.seedFields(seed.State) != nil {
				l.st = newRunState()
			}
		}
	} else {
		l.report.Corruptions = append(l.report.Corruptions, verifyControlBlocks(fsys, dir, l.ix)...)
		l.segPos = covered
		for _, b := range l.ix.Blocks {
			w := l.ix.Segments[b.Segment].WriterID
			l.nextSeq[w] = max(l.nextSeq[w], b.LastSeq+1)
		}
	}
	if err := l.replay(fsys, dir, segs); err != nil {
		return nil, err
	}
	if len(segs) > 0 && len(l.report.UnknownVersion) == len(segs) {
		return nil, l.report.UnknownVersion[0] // a run of a newer format: refuse it
	}
	l.ix.RunID = l.runID
	l.report.MissingSegments = missingSegments(segs)
	for _, name := range l.report.MissingSegments {
		first, _, _ := strings.Cut(name, " ")
		l.addLoss(&LossError{File: filepath.Join(dir, first), Offset: -1,
			Reason: fmt.Sprintf("segment %s is missing from its writer's stream (its later segments are there): everything it held is lost", name)})
	}
	l.markLosses(fsys, dir, segs)
	l.recordedLosses(dir)
	return l, nil
}

// validateIndex says why ix cannot be trusted, or "" when it can: every
// segment it covers must still be there, at least as long as it covered.
func validateIndex(fsys vfs.FS, dir string, ix *index.Index, segs []segFile) string {
	onDisk := make(map[string]bool, len(segs))
	for _, sf := range segs {
		onDisk[sf.name] = true
	}
	for _, se := range ix.Segments {
		if !onDisk[se.Name] {
			return fmt.Sprintf("index lists segment %s, which is missing", se.Name)
		}
		fi, err := fsys.Stat(filepath.Join(dir, se.Name))
		if err != nil {
			return fmt.Sprintf("stat %s: %v", se.Name, err)
		}
		if fi.Size() < se.Covered {
			return fmt.Sprintf("segment %s is %d bytes, index covers %d", se.Name, fi.Size(), se.Covered)
		}
		if problem := checkIndexedSegment(fsys, dir, ix.RunID, se); problem != "" {
			return problem
		}
	}
	for _, b := range ix.Blocks {
		if int(b.Segment) >= len(ix.Segments) || b.Offset+b.Size > ix.Segments[b.Segment].Covered {
			return fmt.Sprintf("index block at %d lies outside its segment", b.Offset)
		}
	}
	return ""
}

// checkIndexedSegment says why segment se does not match its index entry,
// or "" when it does. Trusting the index means reading no segment bytes
// but the blocks a read visits, so this is where damage to the rest of a
// segment is caught: a file header that does not verify (it would make
// every block of the segment unreadable), a header of another run,
// writer or seq, and, for a segment the index says is sealed, a footer or
// trailer that does not verify or bytes appended after it. Any of these
// rebuilds the index, whose scan then reports the damage with its offset.
// It costs one open and three small reads per segment.
func checkIndexedSegment(fsys vfs.FS, dir, runID string, se index.SegmentEntry) string {
	sr, err := segment.Open(fsys, filepath.Join(dir, se.Name))
	if err != nil {
		return err.Error()
	}
	defer sr.Close()
	h := sr.Header()
	if h.RunID != runID {
		return fmt.Sprintf("index is of run %q, segment %s of run %q", runID, se.Name, h.RunID)
	}
	if h.WriterID != se.WriterID || h.Seq != se.Seq {
		return fmt.Sprintf("segment %s holds writer %d seq %d, index says writer %d seq %d",
			se.Name, h.WriterID, h.Seq, se.WriterID, se.Seq)
	}
	if _, sealed := sr.Footer(); se.Sealed && !sealed {
		return fmt.Sprintf("segment %s: index says sealed, but its end is not a valid footer and trailer", se.Name)
	}
	return ""
}

// verifyControlBlocks reads the blocks of a trusted index that no field's
// bitmap names: they hold only field definitions, configs, set operations
// and meta, which the index serves from its state snapshot, so no read
// would ever visit them and damage to them would go unseen. A damaged one
// is reported, not a reason to rebuild: the snapshot still holds its
// records, and a rebuild would lose them. They are few and small (a block
// is control-only when a flush had no points to write).
func verifyControlBlocks(fsys vfs.FS, dir string, ix *index.Index) []error {
	withPoints := make([]bool, len(ix.Blocks))
	for id := range ix.Fields {
		for _, ord := range ix.FieldBlocks(id) {
			withPoints[ord] = true
		}
	}
	var errs []error
	readers := make(map[uint32]*segment.Reader)
	defer func() {
		for _, sr := range readers {
			sr.Close()
		}
	}()
	var payload []byte
	for ord, b := range ix.Blocks {
		if withPoints[ord] {
			continue
		}
		path := filepath.Join(dir, ix.Segments[b.Segment].Name)
		sr, ok := readers[b.Segment]
		if !ok {
			var err error
			if sr, err = segment.Open(fsys, path); err != nil {
				errs = append(errs, fmt.Errorf("engine: verify %s: %w", path, err))
				continue
			}
			readers[b.Segment] = sr
		}
		p, _, err := sr.ReadBlockAt(b.Offset, payload)
		if err != nil {
			errs = append(errs, fmt.Errorf("engine: verify control block of %s: %w", path, err))
			continue
		}
		payload = p
	}
	return errs
}

// replay brings l up to date with the segments on disk: blocks past what
// the index covers, and segments it does not know. It is also how a reader
// refreshes.
func (l *loaded) replay(fsys vfs.FS, dir string, segs []segFile) error {
	var scratch blockScratch
	for _, sf := range segs {
		path := filepath.Join(dir, sf.name)
		l.lastSeg[sf.writer] = max(l.lastSeg[sf.writer], sf.seq)
		if l.foreign[sf.name] {
			continue
		}
		pos, known := l.segPos[sf.name]
		if !known {
			if l.isForeign(fsys, path) {
				continue
			}
			pos = l.ix.AddSegment(index.SegmentEntry{Name: sf.name, WriterID: sf.writer, Seq: sf.seq})
			l.segPos[sf.name] = pos
			if err := l.scanNew(fsys, path, pos, &scratch); err != nil {
				return err
			}
			continue
		}
		if err := l.continueFrom(fsys, path, pos, &scratch); err != nil {
			return err
		}
	}
	return nil
}

// isForeign says whether the segment at path is of another run, and if so
// reports it and remembers to skip it: it must not enter the index (a
// writer's index naming it would never validate again), and its blocks
// must not apply. A header that does not read is the scan's to report.
func (l *loaded) isForeign(fsys vfs.FS, path string) bool {
	if l.runID == "" {
		return false
	}
	id := l.headerRunIDs[filepath.Base(path)] // read by load already, when it read
	if id == "" {
		sr, err := segment.Open(fsys, path)
		if err != nil {
			return false
		}
		id = sr.Header().RunID
		sr.Close()
	}
	if id == "" || id == l.runID {
		return false
	}
	l.foreign[filepath.Base(path)] = true
	l.report.Corruptions = append(l.report.Corruptions, &ForeignSegmentError{File: path, RunID: id, Want: l.runID})
	return true
}

func (l *loaded) scanNew(fsys vfs.FS, path string, pos uint32, scratch *blockScratch) error {
	sr, err := segment.Scan(fsys, path, func(m segment.BlockMeta, payload []byte) error {
		if m.Kind == blockKindRecords {
			l.applyBlock(path, pos, m, payload, scratch)
		}
		return nil
	})
	if sr.Header.RunID != "" && l.runID == "" {
		l.runID = sr.Header.RunID
	}
	for _, c := range sr.Corruptions {
		l.addDamage(c)
	}
	if se := l.ix.Segments[pos]; sr.Torn != nil && !l.tornBelowMark(sr.Torn, segFile{writer: se.WriterID, seq: se.Seq}, sr.Size) {
		l.report.Torn = append(l.report.Torn, sr.Torn)
	}
	if errors.Is(err, segment.ErrUnknownVersion) {
		// One segment of a readable run claiming another major version is
		// damage (a flipped bit in its version field); a run whose every
		// segment does is refused by load.
		l.report.UnknownVersion = append(l.report.UnknownVersion, &VersionError{File: path, Err: err})
		return nil
	}
	if err != nil && !errors.Is(err, segment.ErrTornTail) && !errors.Is(err, segment.ErrCorrupt) {
		return fmt.Errorf("engine: scan %s: %w", path, err)
	}
	se := &l.ix.Segments[pos]
	se.Covered, se.Sealed = sr.ValidEnd, sr.Sealed
	return nil
}

// continueFrom replays the blocks of a known segment past what is covered.
func (l *loaded) continueFrom(fsys vfs.FS, path string, pos uint32, scratch *blockScratch) error {
	se := &l.ix.Segments[pos]
	fi, err := fsys.Stat(path)
	if err != nil {
		return fmt.Errorf("engine: stat %s: %w", path, err)
	}
	if fi.Size() <= se.Covered || se.Sealed {
		return nil
	}
	if se.Covered == 0 {
		// First seen before its writer had written the file header (a
		// reader refreshing a live run meets each new segment so): nothing
		// of it is covered, not even the header. Scan it as new now.
		if l.isForeign(fsys, path) {
			return nil
		}
		return l.scanNew(fsys, path, pos, scratch)
	}
	r, err := segment.Open(fsys, path)
	if err != nil {
		return fmt.Errorf("engine: open %s: %w", path, err)
	}
	defer r.Close()
	for off := se.Covered; off < fi.Size(); {
		payload, m, err := r.ReadBlockAt(off, scratch.payload)
		if err != nil {
			var torn *segment.TornTailError
			switch {
			case errors.As(err, &torn):
				if !l.tornBelowMark(torn, segFile{writer: se.WriterID, seq: se.Seq}, fi.Size()) {
					l.report.Torn = append(l.report.Torn, torn)
				}
			case errors.Is(err, io.EOF):
			case errors.Is(err, segment.ErrCorrupt):
				l.addDamage(err)
				// Step over the damage to the blocks after it, so a reader
				// refreshing a live run reports the damage once and goes on
				// seeing what the writer adds.
				return l.resyncAfter(fsys, path, pos, off+1, scratch)
			default:
				return fmt.Errorf("engine: read %s at %d: %w", path, off, err)
			}
			break
		}
		scratch.payload = payload
		if m.Kind != blockKindRecords {
			se.Sealed = true // the footer: nothing follows
			break
		}
		l.applyBlock(path, pos, m, payload, scratch)
		off = m.Offset + m.Size
		se.Covered = off
	}
	return nil
}

// resyncAfter replays the blocks of a known segment that verify at or
// after off, past damage that ReadBlockAt stopped at.
func (l *loaded) resyncAfter(fsys vfs.FS, path string, pos uint32, off int64, scratch *blockScratch) error {
	se := &l.ix.Segments[pos]
	first := int64(-1) // the first block that verifies after the damage
	rep, err := segment.ScanFrom(fsys, path, off, func(m segment.BlockMeta, payload []byte) error {
		if first < 0 {
			first = m.Offset
		}
		if m.Kind != blockKindRecords {
			se.Sealed = true
			return nil
		}
		l.applyBlock(path, pos, m, payload, scratch)
		se.Covered = m.Offset + m.Size
		return nil
	})
	for _, c := range rep.Corruptions {
		if first >= 0 && c.Offset > first { // further damage; the first was reported
			l.addDamage(c)
		}
	}
	if err != nil && !errors.Is(err, segment.ErrTornTail) && !errors.Is(err, segment.ErrCorrupt) {
		return fmt.Errorf("engine: scan %s from %d: %w", path, off, err)
	}
	return nil
}

type blockScratch struct {
	payload []byte
	metric  series.MetricColumns
	text    series.StringColumns
}

// applyBlock folds one block into the index and the state. A record that
// does not decode is reported and the rest of its block skipped (where
// the next record starts is then unknown). A record that decodes but does
// not fit the state — most often an orphan, whose field's definition was
// lost with a damaged block — is skipped alone: the records after it, of
// fields that are intact, still apply. The block's skipped records are
// reported once, with the first reason.
func (l *loaded) applyBlock(path string, pos uint32, m segment.BlockMeta, payload []byte, scratch *blockScratch) {
	w := l.ix.Segments[pos].WriterID
	l.nextSeq[w] = max(l.nextSeq[w], m.LastSeq+1)
	l.report.ReplayedBlocks++
	type chunk struct {
		field uint32
		kind  FieldKind
		sum   index.Summary
	}
	var chunks []chunk
	minT, maxT := int64(math.MaxInt64), int64(math.MinInt64)
	var firstErr error
	skipped, undecodable := 0, false
	for b := payload; len(b) > 0; {
		r, rest, err := DecodeRecord(b)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			undecodable = true
			break
		}
		b = rest
		err = l.st.apply(&r)
		if err == nil && (r.Kind == RecMetricChunk || r.Kind == RecStringChunk) {
			var sum index.Summary
			var lo int64
			sum, lo, err = scratch.summarizeChunk(&r)
			if err == nil {
				chunks = append(chunks, chunk{r.Field, l.st.fields[r.Field].Kind, sum})
				minT, maxT = min(minT, lo), max(maxT, sum.LastTimeMs)
			}
		} else if err == nil {
			minT, maxT = min(minT, r.TimeMs), max(maxT, r.TimeMs)
		}
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			skipped++
		}
	}
	if firstErr != nil {
		what := fmt.Sprintf("%d record(s) skipped", skipped)
		if undecodable {
			what += ", then the rest of the block (a record does not decode)"
		}
		err := fmt.Errorf("engine: %s block at %d: %s: %w", path, m.Offset, what, firstErr)
		if undecodable {
			l.addDamage(err) // records of any field may be in what was skipped
		} else {
			l.report.Corruptions = append(l.report.Corruptions, err)
		}
	}
	if minT > maxT {
		minT, maxT = 0, 0
	}
	ord := l.ix.AddBlock(index.BlockEntry{
		Segment: pos, Offset: m.Offset, Size: m.Size,
		FirstSeq: m.FirstSeq, LastSeq: m.LastSeq, MinTimeMs: minT, MaxTimeMs: maxT,
	})
	for _, c := range chunks {
		l.ix.AddChunk(c.field, uint8(c.kind), ord, c.sum)
	}
}

// summarizeChunk decodes a chunk record and summarises its points.
func (sc *blockScratch) summarizeChunk(r *Record) (index.Summary, int64, error) {
	if r.Kind == RecMetricChunk {
		sc.metric.Reset()
		if err := series.DecodeMetricChunk(r.Chunk, &sc.metric); err != nil {
			return index.Summary{}, 0, err
		}
		c := &sc.metric
		sum, lo := summarize(KindMetric, c.Steps, c.Values, c.TimesMs)
		return sum, lo, nil
	}
	sc.text.Reset()
	if err := series.DecodeStringChunk(r.Chunk, &sc.text); err != nil {
		return index.Summary{}, 0, err
	}
	c := &sc.text
	sum, lo := summarize(KindString, c.Steps, nil, c.TimesMs)
	return sum, lo, nil
}

// summarize computes a chunk's summary and its earliest timestamp. values
// is nil for string chunks. The last value is the one at the greatest step,
// the later point winning a tie.
func summarize(kind FieldKind, steps, values []float64, times []int64) (index.Summary, int64) {
	sum := index.Summary{Kind: uint8(kind), Count: uint64(len(steps))}
	sum.MinStep, sum.MaxStep = math.Inf(1), math.Inf(-1)
	minT, maxT := int64(math.MaxInt64), int64(math.MinInt64)
	for i, st := range steps {
		sum.MinStep = min(sum.MinStep, st)
		if st >= sum.MaxStep {
			sum.MaxStep = st
			if values != nil {
				sum.LastValue = values[i]
			}
		}
		minT, maxT = min(minT, times[i]), max(maxT, times[i])
	}
	sum.LastStep, sum.LastTimeMs = sum.MaxStep, maxT
	return sum, minT
}
