package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"slices"
	"sync"

	"github.com/goodseed/goodseed-go/index"
	"github.com/goodseed/goodseed-go/internal/vfs"
	"github.com/goodseed/goodseed-go/segment"
	"github.com/goodseed/goodseed-go/series"
)

// Reader reads a run without locking it: it works on closed and crashed
// runs and beside a live writer, seeing every block flushed when it was
// opened or last refreshed. It never writes. Safe for concurrent use.
type Reader struct {
	fsys vfs.FS
	dir  string

	mu   sync.Mutex
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
	ms := readMarks(fsys, dir) // before the listing: see marks
	segs, err := listSegments(fsys, dir)
	if err != nil {
		return nil, err
	}
	if len(segs) == 0 {
		return nil, fmt.Errorf("%w: %s holds no run (no segments)", ErrNotFound, dir)
	}
	l, err := load(fsys, dir, segs, ms)
	if err != nil {
		return nil, err
	}
	return &Reader{fsys: fsys, dir: dir, l: l, segs: make(map[uint32]*segment.Reader)}, nil
}

// Refresh picks up blocks flushed since the reader was opened or last
// refreshed.
func (r *Reader) Refresh() error {
	ms := readMarks(r.fsys, r.dir) // before the listing: see marks
	segs, err := listSegments(r.fsys, r.dir)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.l.marks = ms.forRun(r.l.runID)
	r.l.report.Torn = nil
	if err := r.l.replay(r.fsys, r.dir, segs); err != nil {
		return err
	}
	// A segment that grew or was sealed is reopened on next read.
	for pos, sr := range r.segs {
		sr.Close()
		delete(r.segs, pos)
	}
	return nil
}

// Close releases the reader's files.
func (r *Reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for pos, sr := range r.segs {
		errs = append(errs, sr.Close())
		delete(r.segs, pos)
	}
	return errors.Join(errs...)
}

// Dir returns the run directory.
func (r *Reader) Dir() string { return r.dir }

// RunID returns the run id recorded in the segments.
func (r *Reader) RunID() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.l.runID
}

// Report says what opening (and refreshing) found: torn tails, damage,
// whether the index was rebuilt.
func (r *Reader) Report() RecoveryReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.l.report
}

// Index returns a copy of the run's index as loaded (for forensics).
func (r *Reader) Index() *index.Index {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.l.ix.Clone()
}

// Owner returns the LOCK owner record and whether a writer is live.
func (r *Reader) Owner() (Owner, bool, error) { return ReadOwner(r.fsys, r.dir) }

// Fields lists every field in id order.
func (r *Reader) Fields() []FieldInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.l.st.defined()
}

// Lookup returns the field at path.
func (r *Reader) Lookup(path string) (FieldInfo, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id, ok := r.l.st.byPath[path]
	if !ok {
		return FieldInfo{}, false
	}
	return r.l.st.fields[id], true
}

// Summary returns a series' summary: count, step range, last value.
func (r *Reader) Summary(path string) (index.Summary, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id, ok := r.l.st.byPath[path]
	if !ok {
		return index.Summary{}, false
	}
	f, ok := r.l.ix.Fields[id]
	if !ok {
		return index.Summary{}, false
	}
	return f.Summary, true
}

// Configs returns every config by path.
func (r *Reader) Configs() map[string]ConfigEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]ConfigEntry, len(r.l.st.configs))
	for id, c := range r.l.st.configs {
		out[r.l.st.fields[id].Path] = c
	}
	return out
}

// Meta returns every run meta value by key.
func (r *Reader) Meta() map[string]MetaEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]MetaEntry, len(r.l.st.meta))
	for k, v := range r.l.st.meta {
		out[k] = v
	}
	return out
}

// ReadMetric reads a whole metric series into dst, sorted by step, the
// last write of each step winning. A damaged block is skipped: dst then
// holds every readable point and the error, wrapping segment.ErrCorrupt,
// names each block skipped with its file and offset.
func (r *Reader) ReadMetric(path string, dst *series.MetricColumns) error {
	// Chunks decode straight into dst. Almost every series is written in
	// step order, and then dst is already the answer; otherwise the
	// decoded chunks are merged into fresh columns.
	dst.Reset()
	if sum, ok := r.Summary(path); ok && sum.Count <= MaxPointsPerSeries {
		// Count includes overwrites: an upper bound, so no append regrows.
		n := int(sum.Count)
		dst.Steps, dst.Values, dst.TimesMs = slices.Grow(dst.Steps, n), slices.Grow(dst.Values, n), slices.Grow(dst.TimesMs, n)
	}
	var ends []int
	err := r.visitChunks(path, KindMetric, func(rec *Record) error {
		n := dst.Len()
		if err := series.DecodeMetricChunk(rec.Chunk, dst); err != nil {
			dst.Steps, dst.Values, dst.TimesMs = dst.Steps[:n], dst.Values[:n], dst.TimesMs[:n]
			return err
		}
		ends = append(ends, dst.Len())
		return nil
	})
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrKindMismatch) {
		return err
	}
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
	var chunks []*series.StringColumns
	err := r.visitChunks(path, KindString, func(rec *Record) error {
		c := new(series.StringColumns)
		if err := series.DecodeStringChunk(rec.Chunk, c); err != nil {
			return err
		}
		chunks = append(chunks, c)
		return nil
	})
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrKindMismatch) {
		return err
	}
	series.MergeString(dst, chunks)
	return err
}

// ReadMetricRange reads the points with lo <= step <= hi.
func (r *Reader) ReadMetricRange(path string, lo, hi float64, dst *series.MetricColumns) error {
	var all series.MetricColumns
	err := r.ReadMetric(path, &all)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrKindMismatch) {
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
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrKindMismatch) {
		return series.DownResult{}, err
	}
	return series.Downsample(&all, first, last, n), err
}

// downsampleStream folds the series into a series.Downsampler chunk by
// chunk as it decodes, never holding more than a chunk and a bucket: the
// answer for a 10 M-point series without 240 MB of columns. It applies when
// the series was written in strictly increasing step order (almost every
// series: then no step was overwritten and the index's count is exact). It
// gives up (ok false) on anything else — a step out of order, damage, a
// count that does not add up — and Downsample then merges the whole series.
func (r *Reader) downsampleStream(path string, first, last, n int) (series.DownResult, bool) {
	sum, ok := r.Summary(path)
	if !ok || sum.Count == 0 || sum.Count > math.MaxInt32 {
		return series.DownResult{}, false
	}
	total := int(sum.Count)
	d := series.NewDownsampler(total, first, last, n)
	var chunk series.MetricColumns
	prev, seen, ordered := math.Inf(-1), 0, true
	err := r.visitChunks(path, KindMetric, func(rec *Record) error {
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

// blockRef is a block to visit, with what orders it among writers.
type blockRef struct {
	ord uint32
	e   index.BlockEntry
	w   uint32
}

// visitChunks calls fn for every chunk record of path, in total write
// order: by sequence within a writer; across writers by the block's
// earliest timestamp, then writer id (DESIGN.md invariant 5).
func (r *Reader) visitChunks(path string, kind FieldKind, fn func(*Record) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	id, ok := r.l.st.byPath[path]
	if !ok {
		return fmt.Errorf("%w: field %q in %s", ErrNotFound, path, r.dir)
	}
	if k := r.l.st.fields[id].Kind; k != kind {
		return fmt.Errorf("%w: %q is a %s field, not %s", ErrKindMismatch, path, k, kind)
	}
	var errs []error
	for _, le := range r.l.losses {
		if le.concerns(id) {
			errs = append(errs, le.err)
		}
	}
	ix := r.l.ix
	if _, ok := ix.Fields[id]; !ok {
		return errors.Join(errs...) // defined, no point read (none flushed, or all lost)
	}
	var refs []blockRef
	writers := map[uint32]bool{}
	for _, ord := range ix.FieldBlocks(id) {
		e := ix.Blocks[ord]
		w := ix.Segments[e.Segment].WriterID
		writers[w] = true
		refs = append(refs, blockRef{ord: ord, e: e, w: w})
	}
	if len(writers) > 1 {
		slices.SortStableFunc(refs, func(a, b blockRef) int {
			switch {
			case a.e.MinTimeMs != b.e.MinTimeMs:
				return cmpInt64(a.e.MinTimeMs, b.e.MinTimeMs)
			case a.w != b.w:
				return cmpInt64(int64(a.w), int64(b.w))
			}
			return cmpInt64(int64(a.e.FirstSeq), int64(b.e.FirstSeq))
		})
	}
	var payload []byte
	// salvaged holds, per segment whose file header does not verify, the
	// payloads of this visit's blocks in it (see salvage).
	var salvaged map[uint32]map[int64][]byte
	for _, ref := range refs {
		path := filepath.Join(r.dir, ix.Segments[ref.e.Segment].Name)
		sr, err := r.segReader(ref.e.Segment)
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
				if blocks, serr = r.salvage(ref.e.Segment, refs); serr != nil {
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
func (r *Reader) salvage(pos uint32, refs []blockRef) (map[int64][]byte, error) {
	want := make(map[int64]bool)
	for _, ref := range refs {
		if ref.e.Segment == pos {
			want[ref.e.Offset] = true
		}
	}
	out := make(map[int64][]byte, len(want))
	path := filepath.Join(r.dir, r.l.ix.Segments[pos].Name)
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

func (r *Reader) segReader(pos uint32) (*segment.Reader, error) {
	if sr, ok := r.segs[pos]; ok {
		return sr, nil
	}
	path := filepath.Join(r.dir, r.l.ix.Segments[pos].Name)
	sr, err := segment.Open(r.fsys, path)
	if err != nil {
		return nil, fmt.Errorf("engine: open %s: %w", path, err)
	}
	r.segs[pos] = sr
	return sr, nil
}
