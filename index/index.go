package index

import (
	"math"
	"slices"

	"github.com/RoaringBitmap/roaring/v2"
)

// FileName is the name of the index file inside a run directory.
const FileName = "index"

// SegmentEntry describes one segment file known to the index.
type SegmentEntry struct {
	// Name is the file name inside the run directory (no separators).
	Name     string
	WriterID uint32
	Seq      uint64
	// Covered is how many bytes of the file, from its start, the index
	// accounts for. Bytes past Covered are replayed by the engine.
	Covered int64
	// Sealed reports that the segment was sealed (will never grow) when the
	// index was written.
	Sealed bool
}

// BlockEntry locates one block. Its ordinal is its position in
// Index.Blocks.
type BlockEntry struct {
	// Segment is a position in Index.Segments.
	Segment uint32
	// Offset and Size locate the block's bytes (framing included) in the
	// segment file.
	Offset, Size int64
	// FirstSeq and LastSeq bound the write order of the records the block
	// holds.
	FirstSeq, LastSeq uint64
	// MinTimeMs and MaxTimeMs bound the wall-clock timestamps (Unix ms) of
	// its points.
	MinTimeMs, MaxTimeMs int64
}

// Summary condenses every point written to one field, so that listing a
// run's fields with their last values needs no block decoding.
//
// Count counts points written, overwrites included: logging step 5 twice
// counts 2. MinStep and MaxStep bound the steps written. LastStep is the
// greatest step (so it equals MaxStep once anything was merged) and
// LastValue the value that won at that step under last-write-wins; it is
// meaningful for metric fields only and is kept bit for bit (NaN payloads
// and signed zeros included). LastTimeMs is the latest write timestamp seen
// (the maximum, not the timestamp of the last write in total order, so a
// clock stepping back does not move it back). Kind is opaque to this
// package: the engine's field kind.
type Summary struct {
	Kind      uint8
	Count     uint64
	MinStep   float64
	MaxStep   float64
	LastStep  float64
	LastValue float64
	// LastTimeMs is the latest write time, Unix milliseconds.
	LastTimeMs int64
}

// Merge folds chunk, the summary of the points of one field inside one
// block, into s. Chunks must be merged in the total write order
// (DESIGN.md invariant 5): Merge is not commutative at equal steps.
//
// The chunk's LastStep must be its greatest step and its LastValue the
// value that won at that step inside the chunk. Then:
//
//   - a chunk with Count == 0 holds no points and changes nothing;
//   - if s is empty (Count == 0), s takes the chunk's values;
//   - otherwise Count adds up, MinStep and MaxStep widen, LastTimeMs is the
//     larger of the two, and the chunk's LastStep and LastValue replace s's
//     when chunk.LastStep >= s.LastStep: a later write at the same greatest
//     step wins, an out-of-order chunk whose steps all lie below s.LastStep
//     leaves the last value alone.
//
// Merge never touches s.Kind (AddChunk sets it). Steps are compared as
// float64; a NaN step compares false everywhere and so never widens the
// bounds nor wins LastStep (the engine rejects NaN steps before they get
// here). Values are copied, never compared, so NaN values are kept exactly.
func (s *Summary) Merge(chunk Summary) {
	if chunk.Count == 0 {
		return
	}
	if s.Count == 0 {
		kind := s.Kind
		*s = chunk
		s.Kind = kind
		return
	}
	if s.Count > math.MaxUint64-chunk.Count {
		s.Count = math.MaxUint64
	} else {
		s.Count += chunk.Count
	}
	if chunk.MinStep < s.MinStep {
		s.MinStep = chunk.MinStep
	}
	if chunk.MaxStep > s.MaxStep {
		s.MaxStep = chunk.MaxStep
	}
	if chunk.LastStep >= s.LastStep {
		s.LastStep = chunk.LastStep
		s.LastValue = chunk.LastValue
	}
	if chunk.LastTimeMs > s.LastTimeMs {
		s.LastTimeMs = chunk.LastTimeMs
	}
}

// Field is the index of one field: the blocks holding its points and the
// summary of those points.
type Field struct {
	// Blocks holds the ordinals of the blocks with at least one point of
	// the field. A nil bitmap is read as empty.
	Blocks  *roaring.Bitmap
	Summary Summary
}

// Index is the in-memory form of a run's index file. It is not safe for
// concurrent mutation; MarshalBinary, FieldBlocks and Clone only read it, so
// they may run concurrently with each other.
type Index struct {
	RunID    string
	Segments []SegmentEntry
	Blocks   []BlockEntry
	Fields   map[uint32]*Field
	// State is the engine's snapshot (dictionary, configs, meta as
	// records). The index stores and checksums it and never looks inside.
	State []byte
}

// New returns an empty index for a run.
func New(runID string) *Index {
	return &Index{RunID: runID, Fields: make(map[uint32]*Field)}
}

// AddSegment appends e to the segment table and returns its position.
func (ix *Index) AddSegment(e SegmentEntry) uint32 {
	ix.Segments = append(ix.Segments, e)
	return uint32(len(ix.Segments) - 1)
}

// AddBlock appends e to the block table and returns its ordinal.
func (ix *Index) AddBlock(e BlockEntry) uint32 {
	ix.Blocks = append(ix.Blocks, e)
	return uint32(len(ix.Blocks) - 1)
}

// AddChunk records that block holds points of field: it marks the block in
// the field's bitmap, sets the field's kind and merges chunk into its
// summary (see Summary.Merge; call it in total write order).
func (ix *Index) AddChunk(field uint32, kind uint8, block uint32, chunk Summary) {
	if ix.Fields == nil {
		ix.Fields = make(map[uint32]*Field)
	}
	f := ix.Fields[field]
	if f == nil {
		f = &Field{Blocks: roaring.New()}
		ix.Fields[field] = f
	} else if f.Blocks == nil {
		f.Blocks = roaring.New()
	}
	f.Blocks.Add(block)
	f.Summary.Kind = kind
	f.Summary.Merge(chunk)
}

// FieldBlocks returns the ordinals of the blocks holding points of field,
// ascending; nil when the field is unknown or has none.
func (ix *Index) FieldBlocks(field uint32) []uint32 {
	f := ix.Fields[field]
	if f == nil || f.Blocks == nil || f.Blocks.IsEmpty() {
		return nil
	}
	return f.Blocks.ToArray()
}

// Clone returns a deep copy of ix: nothing the copy holds is shared.
func (ix *Index) Clone() *Index {
	c := &Index{
		RunID:    ix.RunID,
		Segments: slices.Clone(ix.Segments),
		Blocks:   slices.Clone(ix.Blocks),
		Fields:   make(map[uint32]*Field, len(ix.Fields)),
		State:    slices.Clone(ix.State),
	}
	for id, f := range ix.Fields {
		if f == nil {
			continue
		}
		nf := &Field{Summary: f.Summary}
		if f.Blocks != nil {
			nf.Blocks = f.Blocks.Clone()
		}
		c.Fields[id] = nf
	}
	return c
}
