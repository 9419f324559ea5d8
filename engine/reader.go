package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/goodseed/goodseed-go/index"
	"github.com/goodseed/goodseed-go/internal/vfs"
	"github.com/goodseed/goodseed-go/segment"
	"github.com/goodseed/goodseed-go/series"
)

// Reader reads a run without locking it: it works on closed and crashed
// runs and beside live writers, seeing every block flushed when it was
// opened or last refreshed. It never writes. Safe for concurrent use.
//
// A run written by several writers is one stream per writer (writers.go),
// each with its own dictionary, state and index; the reader loads each and
// serves their merge: a field is the union of its path's series in every
// stream, a step's point the one written last (writer id breaking a tie:
// DESIGN.md invariant 5), a config or meta value the last set.
type Reader struct {
	fsys vfs.FS
	dir  string

	mu      sync.Mutex
	streams []*stream // by writer id
	runID   string
	merged  mergedView
	foreign []error // streams of another run, skipped (reported in Report)
}

// stream is one writer's part of a run, as a reader sees it.
type stream struct {
	w    uint32
	l    *loaded
	segs map[uint32]*segment.Reader // opened on first read
}

// OpenReader opens the run in dir read-only. fsys nil means the OS.
func OpenReader(dir string, fsys vfs.FS) (*Reader, error) {
	if fsys == nil {
		fsys = vfs.Default
	}
	if _, err := fsys.Stat(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: run directory %s", ErrNotFound, dir)
		}
		return nil, fmt.Errorf("engine: open %s: %w", dir, err)
	}
	r := &Reader{fsys: fsys, dir: dir}
	if err := r.loadStreams(); err != nil {
		return nil, err
	}
	if len(r.streams) == 0 || r.runID == "" && !r.anySegments() {
		return nil, fmt.Errorf("%w: %s holds no run (no segments)", ErrNotFound, dir)
	}
	return r, nil
}

func (r *Reader) anySegments() bool {
	for _, st := range r.streams {
		if len(st.l.ix.Segments) > 0 {
			return true
		}
	}
	return false
}

// loadStreams lists the segments and marks and loads or replays each
// writer's stream, then elects the run and merges. r.mu held or r new.
func (r *Reader) loadStreams() error {
	ms := readMarks(r.fsys, r.dir) // before the listing: see marks
	segs, err := listSegments(r.fsys, r.dir)
	if err != nil {
		return err
	}
	writers := map[uint32]bool{}
	for _, sf := range segs {
		writers[sf.writer] = true
	}
	for w := range ms {
		writers[w] = true // a writer whose every segment is gone still has its loss to report
	}
	have := map[uint32]*stream{}
	for _, st := range r.streams {
		have[st.w] = st
	}
	for _, w := range slices.Sorted(maps.Keys(writers)) {
		wsegs := writerSegments(segs, w)
		if st, ok := have[w]; ok {
			st.l.marks = ms.only(w).forRun(st.l.runID)
			st.l.report.Torn = nil
			if err := st.l.replay(r.fsys, r.dir, wsegs); err != nil {
				return err
			}
			// A segment that grew or was sealed is reopened on next read.
			st.closeSegs()
			continue
		}
		l, err := load(r.fsys, r.dir, w, wsegs, ms)
		if err != nil {
			if len(segs) > len(wsegs) && errors.As(err, new(*VersionError)) {
				// One writer of a newer build: its stream is skipped, as
				// a segment of an unknown version is.
				r.foreign = append(r.foreign, err)
				continue
			}
			return err
		}
		r.streams = append(r.streams, &stream{w: w, l: l, segs: make(map[uint32]*segment.Reader)})
	}
	slices.SortFunc(r.streams, func(a, b *stream) int { return cmpInt64(int64(a.w), int64(b.w)) })
	r.elect()
	r.merge()
	return nil
}

// elect decides whose run the directory is when streams disagree: the
// primary writer's run, else the run most streams name. A stream of
// another run (a writer's files copied from elsewhere) is skipped and
// reported, as a foreign segment is.
func (r *Reader) elect() {
	count := map[string]int{}
	var order []string
	for _, st := range r.streams {
		if id := st.l.runID; id != "" {
			if count[id] == 0 {
				order = append(order, id)
			}
			count[id]++
		}
	}
	runID := electRunID(order, count, "")
	for _, st := range r.streams {
		if st.w == 1 && st.l.runID != "" {
			runID = st.l.runID
		}
	}
	if r.runID != "" {
		runID = r.runID // once elected, a refresh keeps it
	}
	r.runID = runID
	kept := r.streams[:0]
	for _, st := range r.streams {
		if st.l.runID != "" && st.l.runID != runID {
			for _, se := range st.l.ix.Segments {
				r.foreign = append(r.foreign, &ForeignSegmentError{File: filepath.Join(r.dir, se.Name), RunID: st.l.runID, Want: runID})
			}
			st.closeSegs()
			continue
		}
		kept = append(kept, st)
	}
	r.streams = kept
}

func (st *stream) closeSegs() error {
	var errs []error
	for pos, sr := range st.segs {
		errs = append(errs, sr.Close())
		delete(st.segs, pos)
	}
	return errors.Join(errs...)
}

// Refresh picks up blocks flushed since the reader was opened or last
// refreshed, and writers that joined since.
func (r *Reader) Refresh() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.loadStreams()
}

// Close releases the reader's files.
func (r *Reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for _, st := range r.streams {
		errs = append(errs, st.closeSegs())
	}
	return errors.Join(errs...)
}

// Dir returns the run directory.
func (r *Reader) Dir() string { return r.dir }

// RunID returns the run id recorded in the segments.
func (r *Reader) RunID() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runID
}

// Report says what opening (and refreshing) found: torn tails, damage,
// whether an index was rebuilt, over every writer's stream.
func (r *Reader) Report() RecoveryReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.streams) == 1 && len(r.foreign) == 0 {
		return r.streams[0].l.report
	}
	var rep RecoveryReport
	var problems []string
	for _, st := range r.streams {
		sr := st.l.report
		rep.Cuts = append(rep.Cuts, sr.Cuts...)
		rep.Torn = append(rep.Torn, sr.Torn...)
		rep.Corruptions = append(rep.Corruptions, sr.Corruptions...)
		rep.ReplayedBlocks += sr.ReplayedBlocks
		rep.MissingSegments = append(rep.MissingSegments, sr.MissingSegments...)
		rep.UnknownVersion = append(rep.UnknownVersion, sr.UnknownVersion...)
		if sr.IndexRebuilt {
			rep.IndexRebuilt = true
			problems = append(problems, fmt.Sprintf("%s: %s", index.FileNameOf(st.w), sr.IndexProblem))
		}
	}
	rep.IndexProblem = strings.Join(problems, "; ")
	rep.Corruptions = append(rep.Corruptions, r.foreign...)
	return rep
}

// Index returns a copy of the primary writer's index as loaded (for
// forensics), or of the lowest writer's when the run has no writer 1.
// Indexes returns every writer's.
func (r *Reader) Index() *index.Index {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.streams) == 0 {
		return index.New(r.runID)
	}
	return r.streams[0].l.ix.Clone()
}

// Indexes returns a copy of each writer's index as loaded, by writer id.
func (r *Reader) Indexes() map[uint32]*index.Index {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[uint32]*index.Index, len(r.streams))
	for _, st := range r.streams {
		out[st.w] = st.l.ix.Clone()
	}
	return out
}

// StreamWriters returns the ids of the writers whose streams the reader
// merges, in order.
func (r *Reader) StreamWriters() []uint32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]uint32, len(r.streams))
	for i, st := range r.streams {
		out[i] = st.w
	}
	return out
}

// StreamMeta returns the run meta writer w recorded itself (its status,
// for one), as its stream alone holds it.
func (r *Reader) StreamMeta(w uint32) map[string]MetaEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, st := range r.streams {
		if st.w == w {
			return maps.Clone(st.l.st.meta)
		}
	}
	return nil
}

// Owner returns the primary writer's LOCK owner record and whether it is
// live; Writers lists every writer.
func (r *Reader) Owner() (Owner, bool, error) { return ReadOwner(r.fsys, r.dir) }

// Writers lists the run's writers, their owners and whether each is live.
func (r *Reader) Writers() ([]WriterInfo, error) { return Writers(r.fsys, r.dir) }

// Fields lists every field: the primary writer's in id order, then those
// only later writers hold, in theirs. Field ids are the reader's own.
func (r *Reader) Fields() []FieldInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.merged.fields)
}

// Lookup returns the field of kind at path.
func (r *Reader) Lookup(path string, kind FieldKind) (FieldInfo, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i, ok := r.merged.byKey[FieldKey{path, kind}]
	if !ok {
		return FieldInfo{}, false
	}
	return r.merged.fields[i], true
}

// Summary returns a series' summary: count, step range, last value.
// Across writers Count adds up (an upper bound where they share steps).
func (r *Reader) Summary(path string, kind FieldKind) (index.Summary, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.summaryLocked(path, kind)
}

func (r *Reader) summaryLocked(path string, kind FieldKind) (index.Summary, bool) {
	var out index.Summary
	found := false
	for _, ref := range r.merged.refs(path, kind) {
		f, ok := ref.st.l.ix.Fields[ref.id]
		if !ok {
			continue
		}
		if !found {
			out, found = f.Summary, true
			continue
		}
		sum := f.Summary
		out.Count += sum.Count
		out.MinStep = min(out.MinStep, sum.MinStep)
		out.MaxStep = max(out.MaxStep, sum.MaxStep)
		if sum.LastStep > out.LastStep || sum.LastStep == out.LastStep && sum.LastTimeMs >= out.LastTimeMs {
			out.LastStep, out.LastValue = sum.LastStep, sum.LastValue
		}
		out.LastTimeMs = max(out.LastTimeMs, sum.LastTimeMs)
	}
	return out, found
}

// Configs returns every config by path: across writers the value set last
// (writer id breaking a tie); a string set is the union of every writer's
// set at the path.
func (r *Reader) Configs() map[string]ConfigEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.merged.configs)
}

// Meta returns every run meta value by key: across writers the value set
// last (writer id breaking a tie). StreamMeta gives one writer's own.
func (r *Reader) Meta() map[string]MetaEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.merged.meta)
}

// ReadMetric reads a whole metric series into dst, sorted by step, the
// last write of each step winning. A damaged block is skipped: dst then
// holds every readable point and the error, wrapping segment.ErrCorrupt,
// names each block skipped with its file and offset.
func (r *Reader) ReadMetric(path string, dst *series.MetricColumns) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	refs, err := r.merged.lookup(path, KindMetric, r.dir)
	if err != nil {
		dst.Reset()
		return err
	}
	var errs []error
	if len(refs) == 1 {
		errs = append(errs, refs[0].st.readMetric(r, refs[0].id, dst))
		return errors.Join(errs...)
	}
	ws := make([]*series.MetricColumns, len(refs))
	for i, ref := range refs {
		ws[i] = new(series.MetricColumns)
		errs = append(errs, ref.st.readMetric(r, ref.id, ws[i]))
	}
	series.MergeWritersMetric(dst, ws)
	return errors.Join(errs...)
}

// readMetric reads the stream's series of field id. r.mu held.
func (st *stream) readMetric(r *Reader, id uint32, dst *series.MetricColumns) error {
	// Chunks decode straight into dst. Almost every series is written in
	// step order, and then dst is already the answer; otherwise the
	// decoded chunks are merged into fresh columns.
	dst.Reset()
	if f, ok := st.l.ix.Fields[id]; ok && f.Summary.Count <= MaxPointsPerSeries {
		// Count includes overwrites: an upper bound, so no append regrows.
		n := int(f.Summary.Count)
		dst.Steps, dst.Values, dst.TimesMs = slices.Grow(dst.Steps, n), slices.Grow(dst.Values, n), slices.Grow(dst.TimesMs, n)
	}
	var ends []int
	err := st.visitChunks(r, id, func(rec *Record) error {
		n := dst.Len()
		if err := series.DecodeMetricChunk(rec.Chunk, dst); err != nil {
			dst.Steps, dst.Values, dst.TimesMs = dst.Steps[:n], dst.Values[:n], dst.TimesMs[:n]
			return err
		}
		ends = append(ends, dst.Len())
		return nil
	})
	if !strictlyIncreasing(dst.Steps) {
		all := *dst
		chunks := make([]*series.MetricColumns, len(ends))
		for i, start := 0, 0; i < len(ends); i++ {
			end := ends[i]
			chunks[i] = &series.MetricColumns{Steps: all.Steps[start:end], Values: all.Values[start:end], TimesMs: all.TimesMs[start:end]}
			start = end
		}
		*dst = series.MetricColumns{}
		series.MergeMetric(dst, chunks)
	}
	return err
}

func strictlyIncreasing(steps []float64) bool {
	for i := 1; i < len(steps); i++ {
		if !(steps[i] > steps[i-1]) {
			return false
		}
	}
	return true
}

// ReadString reads a whole string series into dst, sorted by step, the
// last write of each step winning. Damage is handled as in ReadMetric.
func (r *Reader) ReadString(path string, dst *series.StringColumns) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	refs, err := r.merged.lookup(path, KindString, r.dir)
	if err != nil {
		dst.Reset()
		return err
	}
	var errs []error
	ws := make([]*series.StringColumns, len(refs))
	for i, ref := range refs {
		var chunks []*series.StringColumns
		errs = append(errs, ref.st.visitChunks(r, ref.id, func(rec *Record) error {
			c := new(series.StringColumns)
			if err := series.DecodeStringChunk(rec.Chunk, c); err != nil {
				return err
			}
			chunks = append(chunks, c)
			return nil
		}))
		ws[i] = new(series.StringColumns)
		series.MergeString(ws[i], chunks)
	}
	if len(ws) == 1 {
		*dst = *ws[0]
	} else {
		series.MergeWritersString(dst, ws)
	}
	return errors.Join(errs...)
}

// ReadMetricRange reads the points with lo <= step <= hi.
func (r *Reader) ReadMetricRange(path string, lo, hi float64, dst *series.MetricColumns) error {
	var all series.MetricColumns
	err := r.ReadMetric(path, &all)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrKindMismatch) && all.Len() == 0 {
		return err
	}
	i, _ := slices.BinarySearch(all.Steps, lo)
	j := i
	for j < len(all.Steps) && all.Steps[j] <= hi {
		j++
	}
	dst.Reset()
	dst.Steps = append(dst.Steps, all.Steps[i:j]...)
	dst.Values = append(dst.Values, all.Values[i:j]...)
	dst.TimesMs = append(dst.TimesMs, all.TimesMs[i:j]...)
	return err
}

// Downsample reads a metric series and reduces the index window
// [first, last] (last < 0: to the end) to about n points, as the local
// HTTP API defines.
func (r *Reader) Downsample(path string, first, last, n int) (series.DownResult, error) {
	if res, ok := r.downsampleStream(path, first, last, n); ok {
		return res, nil
	}
	var all series.MetricColumns
	err := r.ReadMetric(path, &all)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrKindMismatch) && all.Len() == 0 {
		return series.DownResult{}, err
	}
	return series.Downsample(&all, first, last, n), err
}

// downsampleStream folds the series into a series.Downsampler chunk by
// chunk as it decodes, never holding more than a chunk and a bucket: the
// answer for a 10 M-point series without 240 MB of columns. It applies when
// one writer wrote the series, in strictly increasing step order (almost
// every series: then no step was overwritten and the index's count is
// exact). It gives up (ok false) on anything else — a step out of order,
// damage, a count that does not add up, several writers — and Downsample
// then merges the whole series.
func (r *Reader) downsampleStream(path string, first, last, n int) (series.DownResult, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	refs, err := r.merged.lookup(path, KindMetric, r.dir)
	if err != nil || len(refs) != 1 {
		return series.DownResult{}, false
	}
	st, id := refs[0].st, refs[0].id
	f, ok := st.l.ix.Fields[id]
	if !ok || f.Summary.Count == 0 || f.Summary.Count > math.MaxInt32 {
		return series.DownResult{}, false
	}
	total := int(f.Summary.Count)
	d := series.NewDownsampler(total, first, last, n)
	var chunk series.MetricColumns
	prev, seen, ordered := math.Inf(-1), 0, true
	err = st.visitChunks(r, id, func(rec *Record) error {
		if !ordered {
			return nil
		}
		chunk.Reset()
		if err := series.DecodeMetricChunk(rec.Chunk, &chunk); err != nil {
			return err
		}
		if chunk.Len() == 0 {
			return nil
		}
		seen += chunk.Len()
		if !(chunk.Steps[0] > prev) || !strictlyIncreasing(chunk.Steps) || seen > total {
			ordered = false
			return nil
		}
		prev = chunk.Steps[chunk.Len()-1]
		d.Add(&chunk)
		return nil
	})
	if err != nil || !ordered || seen != total {
		return series.DownResult{}, false
	}
	return d.Result(), true
}

// blockRef is a block to visit.
type blockRef struct {
	ord uint32
	e   index.BlockEntry
	w   uint32
}

// visitChunks calls fn for every chunk record of the stream's field id,
// in the stream's write order (record sequence). r.mu held.
func (st *stream) visitChunks(r *Reader, id uint32, fn func(*Record) error) error {
	var errs []error
	for _, le := range st.l.losses {
		if le.concerns(id) {
			errs = append(errs, le.err)
		}
	}
	ix := st.l.ix
	if _, ok := ix.Fields[id]; !ok {
		return errors.Join(errs...) // defined, no point read (none flushed, or all lost)
	}
	var refs []blockRef
	for _, ord := range ix.FieldBlocks(id) {
		e := ix.Blocks[ord]
		refs = append(refs, blockRef{ord: ord, e: e, w: st.w})
	}
	var payload []byte
	// salvaged holds, per segment whose file header does not verify, the
	// payloads of this visit's blocks in it (see salvage).
	var salvaged map[uint32]map[int64][]byte
	for _, ref := range refs {
		path := filepath.Join(r.dir, ix.Segments[ref.e.Segment].Name)
		sr, err := st.segReader(r, ref.e.Segment)
		var p []byte
		switch {
		case err == nil:
			p, _, err = sr.ReadBlockAt(ref.e.Offset, payload)
			if err != nil {
				errs = append(errs, fmt.Errorf("engine: read %s: %w", path, err))
				continue
			}
			payload = p
		case errors.Is(err, segment.ErrCorrupt):
			// A damaged file header makes segment.Open refuse the file,
			// but it is one unit: the blocks after it still verify.
			blocks, ok := salvaged[ref.e.Segment]
			if !ok {
				errs = append(errs, err) // the header damage, once per visit
				var serr error
				if blocks, serr = st.salvage(r, ref.e.Segment, refs); serr != nil {
					errs = append(errs, serr)
				}
				if salvaged == nil {
					salvaged = make(map[uint32]map[int64][]byte)
				}
				salvaged[ref.e.Segment] = blocks
			}
			if p, ok = blocks[ref.e.Offset]; !ok {
				errs = append(errs, fmt.Errorf("engine: read %s: %w", path, &segment.CorruptionError{
					File: path, Offset: ref.e.Offset, Reason: "block does not verify (file header damaged too)"}))
				continue
			}
		default:
			errs = append(errs, err)
			continue
		}
		for b := p; len(b) > 0; {
			rec, rest, err := DecodeRecord(b)
			if err != nil {
				errs = append(errs, fmt.Errorf("engine: %s block at %d: %w", path, ref.e.Offset, err))
				break
			}
			b = rest
			if rec.Field != id || (rec.Kind != RecMetricChunk && rec.Kind != RecStringChunk) {
				continue
			}
			if err := fn(&rec); err != nil {
				errs = append(errs, fmt.Errorf("engine: %s block at %d: %w", path, ref.e.Offset, err))
			}
		}
	}
	return errors.Join(errs...)
}

// salvage reads the blocks of refs that lie in segment pos, whose file
// header does not verify. segment.Scan walks such a file from past the
// smallest possible header to the first block that verifies, and every
// block carries its own checksum, so a payload returned here verified as
// any other; the segment belongs to the run by its name and the index (or
// the rebuild that scanned it). The whole segment is scanned once per
// visit: slow, but only ever on a damaged file. r.mu held.
func (st *stream) salvage(r *Reader, pos uint32, refs []blockRef) (map[int64][]byte, error) {
	want := make(map[int64]bool)
	for _, ref := range refs {
		if ref.e.Segment == pos {
			want[ref.e.Offset] = true
		}
	}
	out := make(map[int64][]byte, len(want))
	path := filepath.Join(r.dir, st.l.ix.Segments[pos].Name)
	_, err := segment.Scan(r.fsys, path, func(m segment.BlockMeta, p []byte) error {
		if want[m.Offset] {
			out[m.Offset] = slices.Clone(p)
		}
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("engine: salvage %s: %w", path, err)
	}
	return out, nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (st *stream) segReader(r *Reader, pos uint32) (*segment.Reader, error) {
	if sr, ok := st.segs[pos]; ok {
		return sr, nil
	}
	path := filepath.Join(r.dir, st.l.ix.Segments[pos].Name)
	sr, err := segment.Open(r.fsys, path)
	if err != nil {
		return nil, fmt.Errorf("engine: open %s: %w", path, err)
	}
	st.segs[pos] = sr
	return sr, nil
}
