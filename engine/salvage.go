package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path/filepath"
	"slices"
	"time"

	"github.com/goodseed/goodseed-go/index"
	"github.com/goodseed/goodseed-go/internal/vfs"
	"github.com/goodseed/goodseed-go/segment"
)

// SalvageReport says what Salvage copied and what it could not.
type SalvageReport struct {
	RunID string
	// Segments counts the segments written to the new run.
	Segments int
	// BlocksKept counts the blocks written to the new run: the valid
	// blocks of the source (some perhaps without records that could not
	// be kept), and one more holding state restored from the index when
	// there is any. BlocksLost counts the damaged blocks, damaged regions
	// and torn tails of the source, each once.
	BlocksKept, BlocksLost int
	// RecordsKept counts the records written, recovered ones included.
	RecordsKept int
	// OrphanRecords counts records dropped because the definition of
	// their field was lost with a damaged block and the index did not
	// know it either; DroppedRecords those that do not decode or
	// contradict the field dictionary.
	OrphanRecords, DroppedRecords int
	// RecoveredDefinitions counts field definitions lost with a damaged
	// block and restored from the index's state snapshot; RecoveredState
	// the configs (string sets included) and meta values the copied blocks
	// lack or hold older, written with the value and time a reader of the
	// source serves — from the snapshot of an index it trusts, also when
	// the run went on after that index (a resumed writer that crashed).
	RecoveredDefinitions, RecoveredState int
	// BytesLost sums the bytes of the source that held nothing copied:
	// damaged units, torn tails, garbage, unreadable segments, missing
	// segments (as long as the index recorded them). Records dropped from
	// blocks otherwise copied are counted above, not here.
	BytesLost int64
	// Lost lists what in the source cost data, with its file and offset:
	// every Damage or Warning finding of Check about segment bytes.
	Lost []Finding
}

// Complete reports whether nothing was lost: no damaged data in the
// source, and every record kept. A torn tail (a crash's incomplete last
// write, a Warning in Lost) does not count.
func (r SalvageReport) Complete() bool {
	return r.OrphanRecords == 0 && r.DroppedRecords == 0 &&
		!slices.ContainsFunc(r.Lost, func(f Finding) bool { return f.Severity == Damage })
}

// lossKinds are the finding kinds about data of the source that a
// salvage cannot copy.
var lossKinds = map[string]bool{
	"block-header": true, "block-checksum": true, "block-decode": true, "zeroed": true, "garbage": true,
	"torn-tail": true, "truncated": true, "missing-segment": true, "unknown-version": true,
	"run-id-mismatch": true, "record": true, "orphan": true,
}

// blockLossKinds are the loss kinds that cost (at least) one block.
var blockLossKinds = map[string]bool{
	"block-header": true, "block-checksum": true, "block-decode": true, "zeroed": true, "garbage": true, "torn-tail": true,
}

// Salvage copies every valid block of the run in src into a new run in
// dst: blocks whose checksum verifies and the records of them that decode,
// in the loader's order, keeping the run id, the writer ids and every
// block's record sequence numbers, so last-write-wins decides as it did.
// It seals the new segments and writes an index, so dst opens cleanly and
// can be resumed. src is never modified. dst must not exist or be empty.
//
// A record whose field definition was lost with a damaged block cannot be
// placed: when the index's state snapshot still knows the definition it
// is restored, otherwise the record is dropped and counted, and later
// fields are renumbered around the hole. The new run then serves at least
// what a reader of the source serves: field definitions, configs, string
// sets and meta values the reader still has from the index's snapshot
// (one whose checksum holds, even one older than the segments after a
// crash) but the copied blocks lost are written after every copied record,
// with the reader's values and times. The report lists what was lost with
// file and offset.
func Salvage(src, dst string, fsys vfs.FS) (SalvageReport, error) {
	if fsys == nil {
		fsys = vfs.Default
	}
	var rep SalvageReport
	if err := salvageTarget(fsys, src, dst); err != nil {
		return rep, err
	}
	var findings []Finding
	c, err := newRunChecker(src, fsys, func(f Finding) { findings = append(findings, f) })
	if err != nil {
		return rep, err
	}
	if err := c.run(); err != nil {
		return rep, err
	}
	rep.RunID = c.runID
	for _, f := range findings {
		if res := c.segs[filepath.Base(f.File)]; res != nil && res.rescue && f.Kind == "unknown-version" {
			continue // its blocks are copied: nothing of it is lost
		}
		if f.Severity >= Warning && lossKinds[f.Kind] {
			rep.Lost = append(rep.Lost, f)
			if f.Kind != "orphan" && f.Kind != "record" {
				rep.BytesLost += f.Length
			}
			if blockLossKinds[f.Kind] {
				rep.BlocksLost++
			}
		}
	}
	if rep.RunID == "" {
		return rep, fmt.Errorf("engine: salvage %s: no segment header names the run", src)
	}
	if err := mkdirAllSync(fsys, dst); err != nil {
		return rep, err
	}
	s := &salvager{fsys: fsys, dst: dst, c: c, rep: &rep, writers: make(map[uint32]*salvageStream)}
	err = s.copyAll()
	if cerr := s.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return rep, err
	}
	return rep, s.writeIndex()
}

// salvageTarget refuses a dst that is src or holds anything.
func salvageTarget(fsys vfs.FS, src, dst string) error {
	if filepath.Clean(src) == filepath.Clean(dst) {
		return fmt.Errorf("engine: salvage %s: the new run must go to another directory", src)
	}
	fi, err := fsys.Stat(dst)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("engine: salvage into %s: %w", dst, err)
	case !fi.IsDir():
		return fmt.Errorf("engine: salvage into %s: %w: a file is there", dst, ErrExist)
	}
	entries, err := fsys.ReadDir(dst)
	if err != nil {
		return fmt.Errorf("engine: salvage into %s: %w", dst, err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("engine: salvage into %s: %w: the directory is not empty (%d entries)", dst, ErrExist, len(entries))
	}
	return nil
}

// salvager copies the valid blocks of a checked run.
type salvager struct {
	fsys vfs.FS
	dst  string
	c    *checker
	rep  *SalvageReport
	// st and fields are the stream being copied's (use): each writer's
	// stream has its own dictionary and state.
	st      *runState // the new run's state, to compare with the snapshot
	fields  *fieldMap
	dicts   map[uint32]*salvageDict
	scratch blockScratch
	writers map[uint32]*salvageStream
	payload []byte
}

// salvageDict is one writer's dictionary and state in the new run.
type salvageDict struct {
	st     *runState
	fields *fieldMap
}

// use makes writer w's dictionary and state the ones records resolve in.
func (s *salvager) use(w uint32) {
	if s.dicts == nil {
		s.dicts = make(map[uint32]*salvageDict)
	}
	d := s.dicts[w]
	if d == nil {
		d = &salvageDict{st: newRunState(), fields: &fieldMap{byKey: make(map[FieldKey]uint32)}}
		if k := s.c.known[w]; k != nil {
			d.fields.known = k.fields
		}
		s.dicts[w] = d
	}
	s.st, s.fields = d.st, d.fields
}

// salvageStream is one writer's stream in the new run.
type salvageStream struct {
	w       *segment.Writer
	from    string // source segment the open segment copies
	seq     uint64 // its sequence number in the new run
	nextSeq uint64 // the record sequence number after the last block's
}

func (s *salvager) copyAll() error {
	segs, err := listSegments(s.fsys, s.c.dir)
	if err != nil {
		return err
	}
	for _, sf := range segs {
		path := filepath.Join(s.c.dir, sf.name)
		res := s.c.segs[sf.name]
		h, _, hdrOK := s.c.header(path, sf.name)
		switch {
		case res == nil || (res.valid == nil && !res.rescue):
			continue // unreadable (unknown version): reported lost
		case hdrOK && h.RunID != s.c.runID:
			continue // another run's: reported lost
		}
		created := h.Created
		if !hdrOK || created.IsZero() {
			created = time.Now()
		}
		s.use(sf.writer)
		copyBlock := func(m segment.BlockMeta, p []byte) error { return s.copyBlock(sf, created, m, p) }
		var err error
		if res.rescue {
			// The header cannot be read; the blocks verify on their own.
			_, err = segment.ScanFrom(s.fsys, path, 1, copyBlock)
		} else {
			_, err = segment.Scan(s.fsys, path, copyBlock)
		}
		if err != nil && !errors.Is(err, segment.ErrUnknownVersion) {
			return fmt.Errorf("engine: salvage %s: %w", path, err)
		}
	}
	return s.recoverState()
}

// copyBlock writes what can be kept of one valid block.
func (s *salvager) copyBlock(sf segFile, created time.Time, m segment.BlockMeta, p []byte) error {
	if m.Kind != blockKindRecords {
		// Not a kind this build writes: kept as it is.
		return s.write(sf, created, m.Kind, m.Records, m.FirstSeq, m.LastSeq, p)
	}
	out := s.payload[:0]
	n := 0
	for b := p; len(b) > 0; {
		r, rest, err := DecodeRecord(b)
		if err != nil {
			s.rep.DroppedRecords++ // the rest of the block is one unreadable tail
			break
		}
		b = rest
		if r.Kind == RecMetricChunk || r.Kind == RecStringChunk {
			if _, _, err := s.scratch.summarizeChunk(&r); err != nil {
				s.rep.DroppedRecords++
				continue
			}
		}
		res := s.fields.resolve(r)
		for _, fi := range res.defs {
			out, n = s.appendRecord(out, n, Record{Kind: RecFieldDef, Field: fi.ID, FieldKind: fi.Kind, Path: fi.Path})
			s.rep.RecoveredDefinitions++
		}
		switch {
		case res.orphan:
			s.rep.OrphanRecords++
			continue
		case res.drop && res.problem != "":
			s.rep.DroppedRecords++
			continue
		case res.drop: // a repeated definition
			continue
		}
		out, n = s.appendRecord(out, n, res.rec)
	}
	s.payload = out
	if n == 0 {
		return nil
	}
	return s.write(sf, created, blockKindRecords, uint32(n), m.FirstSeq, m.LastSeq, out)
}

// appendRecord encodes r after replaying it into the new run's state; a
// record the state refuses is dropped (fieldMap should have caught it).
func (s *salvager) appendRecord(dst []byte, n int, r Record) ([]byte, int) {
	if err := s.st.apply(&r); err != nil {
		s.rep.DroppedRecords++
		return dst, n
	}
	switch r.Kind {
	case RecFieldDef:
		dst = appendFieldDef(dst, r.Field, r.FieldKind, r.Path)
	case RecMetricChunk, RecStringChunk:
		dst = appendChunkRecord(dst, r.Kind, r.Field, r.Chunk)
	case RecConfig:
		dst = appendConfig(dst, r.Field, r.TimeMs, r.Value)
	case RecSetOp:
		dst = appendSetOp(dst, r.Field, r.TimeMs, r.SetOp, r.Items)
	case RecMeta:
		dst = appendMeta(dst, r.TimeMs, r.Key, r.Val)
	}
	return dst, n + 1
}

// write appends a block to the writer's stream in the new run, in a new
// segment for each source segment.
func (s *salvager) write(sf segFile, created time.Time, kind uint8, records uint32, first, last uint64, payload []byte) error {
	ws := s.writers[sf.writer]
	if ws == nil {
		ws = &salvageStream{}
		s.writers[sf.writer] = ws
	}
	if ws.w == nil || ws.from != sf.name {
		if ws.w != nil {
			w := ws.w
			ws.w = nil
			if err := w.Seal(); err != nil {
				return fmt.Errorf("engine: salvage: seal %s: %w", w.Path(), err)
			}
		}
		ws.seq++
		w, err := segment.Create(s.fsys, s.dst, segment.Header{RunID: s.c.runID, WriterID: sf.writer, Seq: ws.seq, Created: created},
			segment.WriterOptions{})
		if err != nil {
			ws.w = nil
			return fmt.Errorf("engine: salvage: %w", err)
		}
		ws.w, ws.from = w, sf.name
		s.rep.Segments++
	}
	if _, err := ws.w.Append(kind, records, first, last, payload); err != nil {
		return fmt.Errorf("engine: salvage: write block to %s: %w", ws.w.Path(), err)
	}
	ws.nextSeq = max(ws.nextSeq, last+1)
	s.rep.BlocksKept++
	if kind == blockKindRecords {
		s.rep.RecordsKept += int(records)
	}
	return nil
}

// recoverState restores what a reader of the source serves and the copied
// blocks lack: field definitions, configs (string sets included) and meta
// values lost with a damaged block whose records the index's state
// snapshot still holds. A reader trusts an index whose checksum holds even
// when the run went on after it (a resumed writer that crashed): it
// restores the snapshot and replays the blocks written since, so what it
// serves, not only an index covering the whole run, is the measure. The
// records carry the reader's values and times and go in one last block of
// the last writer, with sequence numbers after every copied one, so they
// win last-write-wins over the copied records.
func (s *salvager) recoverState() error {
	served, err := readerStates(s.fsys, s.c.dir)
	if err != nil {
		return err
	}
	for _, w := range slices.Sorted(maps.Keys(served)) {
		if err := s.recoverStream(w, served[w]); err != nil {
			return err
		}
	}
	return nil
}

// recoverStream restores what a reader serves of writer w's stream and
// the copied blocks lack, into that writer's stream.
func (s *salvager) recoverStream(w uint32, served *runState) error {
	s.use(w)
	var out []byte
	n := 0
	for _, fi := range served.fields {
		if fi.Kind == 0 {
			continue // a hole for the reader too
		}
		if _, ok := s.fields.byKey[FieldKey{fi.Path, fi.Kind}]; ok {
			continue // defined (or refused) already
		}
		id := s.fields.add(fi.Path, fi.Kind)
		out, n = s.appendRecord(out, n, Record{Kind: RecFieldDef, Field: id, FieldKind: fi.Kind, Path: fi.Path})
		s.rep.RecoveredDefinitions++
	}
	ids := make([]uint32, 0, len(served.configs))
	for id := range served.configs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		want := served.configs[id]
		dstID, ok := s.st.byKey[FieldKey{served.fields[id].Path, KindConfig}]
		if !ok {
			continue
		}
		if got, ok := s.st.configs[dstID]; ok && got.TimeMs == want.TimeMs && got.Value.Equal(want.Value) {
			continue
		}
		out, n = s.appendRecord(out, n, Record{Kind: RecConfig, Field: dstID, TimeMs: want.TimeMs, Value: want.Value})
		s.rep.RecoveredState++
	}
	keys := make([]string, 0, len(served.meta))
	for k := range served.meta {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		want := served.meta[k]
		if got, ok := s.st.meta[k]; ok && got == want {
			continue
		}
		out, n = s.appendRecord(out, n, Record{Kind: RecMeta, TimeMs: want.TimeMs, Key: k, Val: want.Val})
		s.rep.RecoveredState++
	}
	if n == 0 {
		return nil
	}
	ws := s.writers[w]
	if ws == nil || ws.w == nil {
		// Nothing of the stream was copied: the state goes into a first segment.
		return s.write(segFile{name: "(index snapshot)", writer: w}, time.Now(), blockKindRecords, uint32(n), 0, uint64(n)-1, out)
	}
	first := ws.nextSeq
	return s.write(segFile{name: ws.from, writer: w}, time.Time{}, blockKindRecords, uint32(n), first, first+uint64(n)-1, out)
}

// readerStates returns the state a reader of the run in dir serves of
// each writer's stream: the dictionary, configs and meta, in the stream's
// own field ids. nil when no reader opens the run (no segment, every
// segment of an unknown format): then there is nothing a reader serves to
// keep. Opening a reader writes nothing.
func readerStates(fsys vfs.FS, dir string) (map[uint32]*runState, error) {
	r, err := OpenReader(dir, fsys)
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, segment.ErrUnknownVersion):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("engine: salvage: read what %s serves: %w", dir, err)
	}
	defer r.Close()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[uint32]*runState, len(r.streams))
	for _, st := range r.streams {
		out[st.w] = st.l.st.clone()
	}
	return out, nil
}

// close seals every segment of the new run.
func (s *salvager) close() error {
	var errs []error
	for _, ws := range s.writers {
		if ws.w != nil {
			if err := ws.w.Seal(); err != nil {
				errs = append(errs, fmt.Errorf("engine: salvage: seal %s: %w", ws.w.Path(), err))
			}
			ws.w = nil
		}
	}
	return errors.Join(errs...)
}

// writeIndex builds the new run's index with the loader's rebuild (which
// also proves the new run reads cleanly) and writes it.
func (s *salvager) writeIndex() error {
	segs, err := listSegments(s.fsys, s.dst)
	if err != nil {
		return err
	}
	if len(segs) == 0 {
		return fmt.Errorf("engine: salvage %s: no valid block to copy", s.c.dir)
	}
	for _, w := range segWriters(segs) {
		l, err := load(s.fsys, s.dst, w, writerSegments(segs, w), nil)
		if err != nil {
			return fmt.Errorf("engine: salvage: read back %s: %w", s.dst, err)
		}
		if !l.report.Clean() {
			return fmt.Errorf("engine: salvage: %s does not read back cleanly: %+v", s.dst, l.report)
		}
		l.ix.State = l.st.snapshot()
		if err := index.WriteFileOf(s.fsys, s.dst, w, l.ix); err != nil {
			return fmt.Errorf("engine: salvage: %w", err)
		}
	}
	return nil
}
