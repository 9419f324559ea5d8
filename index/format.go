package index

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/cespare/xxhash/v2"
)

// Wire-format constants. They are frozen: changing any of them changes the
// format, and needs a new version and a fixture under testdata/.
const (
	magic = "GSEEDIDX"

	// versionMajor is bumped for changes old readers cannot skip;
	// versionMinor for additions they can (new section tags).
	versionMajor uint16 = 1
	versionMinor uint16 = 0

	magicSizeBytes    = 8
	headerSizeBytes   = 24 // magic, major, minor, flags, total length
	checksumSizeBytes = 8
	minFileSizeBytes  = headerSizeBytes + checksumSizeBytes

	offMajor  = 8
	offMinor  = 10
	offFlags  = 12
	offLength = 16
)

// sectionTag identifies a section of the file.
type sectionTag uint8

// Section tags, frozen. Version 1.0 writes each known tag exactly once, in
// this order. Readers skip tags above tagState (later minor versions).
const (
	tagRun      sectionTag = 1
	tagSegments sectionTag = 2
	tagBlocks   sectionTag = 3
	tagFields   sectionTag = 4
	tagState    sectionTag = 5
)

func (t sectionTag) String() string {
	switch t {
	case tagRun:
		return "run"
	case tagSegments:
		return "segments"
	case tagBlocks:
		return "blocks"
	case tagFields:
		return "fields"
	case tagState:
		return "state"
	}
	return fmt.Sprintf("section(%d)", uint8(t))
}

// Smallest encodings, used to bound counts before allocating.
const (
	minSegmentSizeBytes = 6  // name length, 1-byte name, writer, seq, covered, sealed
	minBlockSizeBytes   = 7  // seven 1-byte varints
	minFieldSizeBytes   = 37 // id, kind, count, 4 × f64, time, bitmap length
	fixedFloatsBytes    = 32
)

// MarshalBinary encodes the index in the current format version. It only
// reads ix. It fails when ix is inconsistent (a block naming a missing
// segment, a bitmap naming a missing block, a bad segment name), so that it
// never writes a file Unmarshal would refuse.
func (ix *Index) MarshalBinary() ([]byte, error) {
	if err := ix.check(); err != nil {
		return nil, err
	}
	ids := make([]uint32, 0, len(ix.Fields))
	for id, f := range ix.Fields {
		if f != nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	// Run-optimize copies of the bitmaps, leaving ix untouched so that
	// marshalling is a pure read.
	bms := make([]*roaring.Bitmap, len(ids))
	bitmapBytes := 0
	for i, id := range ids {
		var bm *roaring.Bitmap
		if b := ix.Fields[id].Blocks; b != nil {
			bm = b.Clone()
		} else {
			bm = roaring.New()
		}
		bm.RunOptimize()
		bms[i] = bm
		bitmapBytes += int(bm.GetSerializedSizeInBytes()) + binary.MaxVarintLen64
	}

	// A close estimate: the varints are mostly 1-3 bytes.
	size := headerSizeBytes + checksumSizeBytes + 5*(1+binary.MaxVarintLen64) +
		len(ix.RunID) + len(ix.State) +
		len(ix.Segments)*32 + len(ix.Blocks)*16 + len(ids)*48 + bitmapBytes
	b := make([]byte, headerSizeBytes, size)
	copy(b, magic)
	binary.LittleEndian.PutUint16(b[offMajor:], versionMajor)
	binary.LittleEndian.PutUint16(b[offMinor:], versionMinor)
	// flags (b[12:16]) and the total length are filled below.

	b, at := beginSection(b, tagRun)
	b = append(b, ix.RunID...)
	b = endSection(b, at)

	b, at = beginSection(b, tagSegments)
	b = binary.AppendUvarint(b, uint64(len(ix.Segments)))
	for _, s := range ix.Segments {
		b = binary.AppendUvarint(b, uint64(len(s.Name)))
		b = append(b, s.Name...)
		b = binary.AppendUvarint(b, uint64(s.WriterID))
		b = binary.AppendUvarint(b, s.Seq)
		b = binary.AppendUvarint(b, uint64(s.Covered))
		if s.Sealed {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	}
	b = endSection(b, at)

	b, at = beginSection(b, tagBlocks)
	b = binary.AppendUvarint(b, uint64(len(ix.Blocks)))
	var prev BlockEntry
	for _, e := range ix.Blocks {
		b = binary.AppendUvarint(b, uint64(e.Segment))
		b = binary.AppendVarint(b, e.Offset-(prev.Offset+prev.Size))
		b = binary.AppendUvarint(b, uint64(e.Size))
		b = binary.AppendVarint(b, int64(e.FirstSeq-prev.LastSeq))
		b = binary.AppendVarint(b, int64(e.LastSeq-e.FirstSeq))
		b = binary.AppendVarint(b, e.MinTimeMs-prev.MinTimeMs)
		b = binary.AppendVarint(b, e.MaxTimeMs-e.MinTimeMs)
		prev = e
	}
	b = endSection(b, at)

	b, at = beginSection(b, tagFields)
	b = binary.AppendUvarint(b, uint64(len(ids)))
	var prevID uint32
	w := &appender{}
	for i, id := range ids {
		s := ix.Fields[id].Summary
		b = binary.AppendUvarint(b, uint64(id-prevID))
		prevID = id
		b = append(b, s.Kind)
		b = binary.AppendUvarint(b, s.Count)
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(s.MinStep))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(s.MaxStep))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(s.LastStep))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(s.LastValue))
		b = binary.AppendVarint(b, s.LastTimeMs)
		b = binary.AppendUvarint(b, bms[i].GetSerializedSizeInBytes())
		w.b = b
		if _, err := bms[i].WriteTo(w); err != nil {
			return nil, fmt.Errorf("index: encode bitmap of field %d: %w", id, err)
		}
		b = w.b
	}
	b = endSection(b, at)

	b, at = beginSection(b, tagState)
	b = append(b, ix.State...)
	b = endSection(b, at)

	binary.LittleEndian.PutUint64(b[offLength:], uint64(len(b)+checksumSizeBytes))
	b = binary.LittleEndian.AppendUint64(b, xxhash.Sum64(b))
	return b, nil
}

// appender is an io.Writer appending to a slice.
type appender struct{ b []byte }

func (a *appender) Write(p []byte) (int, error) {
	a.b = append(a.b, p...)
	return len(p), nil
}

// beginSection appends the tag and room for the longest length varint; the
// payload is appended after it, then endSection fills in the length.
func beginSection(b []byte, tag sectionTag) ([]byte, int) {
	b = append(b, byte(tag))
	at := len(b)
	return append(b, make([]byte, binary.MaxVarintLen64)...), at
}

// endSection writes the payload length at at and slides the payload down
// over the unused varint room.
func endSection(b []byte, at int) []byte {
	payload := len(b) - at - binary.MaxVarintLen64
	n := binary.PutUvarint(b[at:], uint64(payload))
	copy(b[at+n:], b[at+binary.MaxVarintLen64:])
	return b[:at+n+payload]
}

// appendSection appends a whole section (used by tests).
func appendSection(b []byte, tag sectionTag, payload []byte) []byte {
	b = append(b, byte(tag))
	b = binary.AppendUvarint(b, uint64(len(payload)))
	return append(b, payload...)
}

// check reports inconsistencies MarshalBinary refuses to write.
func (ix *Index) check() error {
	for i, s := range ix.Segments {
		if err := checkSegmentName(s.Name); err != nil {
			return fmt.Errorf("index: segment %d: %w", i, err)
		}
		if s.Covered < 0 {
			return fmt.Errorf("index: segment %s: negative covered length %d", s.Name, s.Covered)
		}
	}
	for i, e := range ix.Blocks {
		if int(e.Segment) >= len(ix.Segments) {
			return fmt.Errorf("index: block %d: segment %d out of range (%d segments)", i, e.Segment, len(ix.Segments))
		}
		if e.Offset < 0 || e.Size < 0 || e.Offset > math.MaxInt64-e.Size {
			return fmt.Errorf("index: block %d: bad extent offset %d size %d", i, e.Offset, e.Size)
		}
	}
	for id, f := range ix.Fields {
		if f == nil || f.Blocks == nil || f.Blocks.IsEmpty() {
			continue
		}
		if m := f.Blocks.Maximum(); uint64(m) >= uint64(len(ix.Blocks)) {
			return fmt.Errorf("index: field %d: block %d out of range (%d blocks)", id, m, len(ix.Blocks))
		}
	}
	return nil
}

var errBadName = errors.New("bad segment file name")

// checkSegmentName accepts plain file names only, so an index can never
// send the engine outside the run directory.
func checkSegmentName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") {
		return fmt.Errorf("%w %q", errBadName, name)
	}
	return nil
}

// Unmarshal decodes an index file. Damage of any kind gives a
// *CorruptionError (errors.Is(err, ErrCorrupt)); an intact file of an
// unknown major version gives an error wrapping ErrUnknownVersion. It does
// not retain b.
func Unmarshal(b []byte) (*Index, error) {
	if len(b) < minFileSizeBytes {
		return nil, corruptf(0, "file is %d bytes, shorter than the minimum %d", len(b), minFileSizeBytes)
	}
	if string(b[:magicSizeBytes]) != magic {
		return nil, corruptf(0, "bad magic %q", b[:magicSizeBytes])
	}
	if n := binary.LittleEndian.Uint64(b[offLength:]); n != uint64(len(b)) {
		return nil, corruptf(offLength, "header says %d bytes, file has %d (truncated or extended)", n, len(b))
	}
	end := len(b) - checksumSizeBytes
	if want, got := binary.LittleEndian.Uint64(b[end:]), xxhash.Sum64(b[:end]); want != got {
		return nil, corruptf(end, "checksum mismatch: stored %#016x, computed %#016x", want, got)
	}
	major := binary.LittleEndian.Uint16(b[offMajor:])
	minor := binary.LittleEndian.Uint16(b[offMinor:])
	if major != versionMajor {
		return nil, fmt.Errorf("%w %d.%d (this build reads %d.x)", ErrUnknownVersion, major, minor, versionMajor)
	}
	// b[offFlags:offFlags+4] is reserved: written zero, ignored by 1.x.

	ix := &Index{}
	d := decoder{b: b[:end], off: headerSizeBytes}
	next := tagRun
	for d.off < len(d.b) {
		tagOff := d.off
		tag := sectionTag(d.byte())
		n := d.uvarint()
		if d.err != nil {
			return nil, d.err
		}
		if n > uint64(len(d.b)-d.off) {
			return nil, corruptf(tagOff, "section %v: length %d past the end", tag, n)
		}
		payload := decoder{b: d.b[:d.off+int(n)], off: d.off}
		d.off += int(n)
		if tag > tagState {
			continue // added by a later minor version
		}
		if tag != next {
			return nil, corruptf(tagOff, "section %v where %v was expected", tag, next)
		}
		next++
		switch tag {
		case tagRun:
			ix.RunID = string(payload.rest())
		case tagSegments:
			ix.Segments = payload.segments()
		case tagBlocks:
			ix.Blocks = payload.blocks(len(ix.Segments))
		case tagFields:
			ix.Fields = payload.fields(len(ix.Blocks))
		case tagState:
			if s := payload.rest(); len(s) > 0 {
				ix.State = bytes.Clone(s)
			}
		}
		if payload.err == nil && payload.off != len(payload.b) {
			payload.fail("section %v: %d trailing bytes", tag, len(payload.b)-payload.off)
		}
		if payload.err != nil {
			return nil, payload.err
		}
	}
	if next <= tagState {
		return nil, corruptf(end, "section %v missing", next)
	}
	return ix, nil
}

// decoder reads varints and fixed fields from b starting at off. The first
// failure sticks in err (a *CorruptionError with the offset), and every
// read after it returns zero.
type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = corruptf(d.off, format, args...)
	}
}

func (d *decoder) remaining() int { return len(d.b) - d.off }

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if d.off >= len(d.b) {
		d.fail("unexpected end of data")
		return 0
	}
	c := d.b[d.off]
	d.off++
	return c
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b[d.off:])
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) uint32v(what string) uint32 {
	at := d.off
	v := d.uvarint()
	if v > math.MaxUint32 {
		d.off = at
		d.fail("%s %d overflows uint32", what, v)
		return 0
	}
	return uint32(v)
}

func (d *decoder) int64v(what string) int64 {
	at := d.off
	v := d.uvarint()
	if v > math.MaxInt64 {
		d.off = at
		d.fail("%s %d overflows int64", what, v)
		return 0
	}
	return int64(v)
}

func (d *decoder) float64() float64 {
	if d.err != nil {
		return 0
	}
	if d.remaining() < 8 {
		d.fail("unexpected end of data")
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.b[d.off:]))
	d.off += 8
	return v
}

// bytesN returns the next n bytes, without copying.
func (d *decoder) bytesN(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(d.remaining()) {
		d.fail("length %d past the end", n)
		return nil
	}
	s := d.b[d.off : d.off+int(n)]
	d.off += int(n)
	return s
}

func (d *decoder) rest() []byte {
	s := d.b[d.off:]
	d.off = len(d.b)
	return s
}

// count reads an entry count and checks that the bytes left can hold that
// many entries of at least minSize bytes, so hostile counts never size an
// allocation.
func (d *decoder) count(what string, minSize int) int {
	at := d.off
	n := d.uvarint()
	if d.err == nil && n > uint64(d.remaining()/minSize) {
		d.off = at
		d.fail("%d %s cannot fit in %d bytes", n, what, d.remaining())
		return 0
	}
	return int(n)
}

func (d *decoder) segments() []SegmentEntry {
	n := d.count("segments", minSegmentSizeBytes)
	if n == 0 || d.err != nil {
		return nil
	}
	segs := make([]SegmentEntry, n)
	for i := range segs {
		s := &segs[i]
		at := d.off
		s.Name = string(d.bytesN(d.uvarint()))
		if err := checkSegmentName(s.Name); err != nil && d.err == nil {
			d.off = at
			d.fail("segment %d: %v", i, err)
		}
		s.WriterID = d.uint32v("writer id")
		s.Seq = d.uvarint()
		s.Covered = d.int64v("covered length")
		at = d.off
		switch d.byte() {
		case 0:
		case 1:
			s.Sealed = true
		default:
			d.off = at
			d.fail("segment %d: bad sealed flag", i)
		}
		if d.err != nil {
			return nil
		}
	}
	return segs
}

func (d *decoder) blocks(nSegments int) []BlockEntry {
	n := d.count("blocks", minBlockSizeBytes)
	if n == 0 || d.err != nil {
		return nil
	}
	blocks := make([]BlockEntry, n)
	var prev BlockEntry
	for i := range blocks {
		e := &blocks[i]
		at := d.off
		e.Segment = d.uint32v("segment")
		if d.err == nil && int(e.Segment) >= nSegments {
			d.off = at
			d.fail("block %d: segment %d out of range (%d segments)", i, e.Segment, nSegments)
		}
		at = d.off
		e.Offset = d.varint() + prev.Offset + prev.Size
		e.Size = d.int64v("block size")
		if d.err == nil && (e.Offset < 0 || e.Offset > math.MaxInt64-e.Size) {
			d.off = at
			d.fail("block %d: bad extent offset %d size %d", i, e.Offset, e.Size)
		}
		e.FirstSeq = prev.LastSeq + uint64(d.varint())
		e.LastSeq = e.FirstSeq + uint64(d.varint())
		e.MinTimeMs = prev.MinTimeMs + d.varint()
		e.MaxTimeMs = e.MinTimeMs + d.varint()
		if d.err != nil {
			return nil
		}
		prev = *e
	}
	return blocks
}

func (d *decoder) fields(nBlocks int) map[uint32]*Field {
	n := d.count("fields", minFieldSizeBytes)
	if d.err != nil {
		return nil
	}
	fields := make(map[uint32]*Field, n)
	var id uint64
	for i := 0; i < n; i++ {
		at := d.off
		delta := d.uvarint()
		if i > 0 && delta == 0 && d.err == nil {
			d.off = at
			d.fail("field ids not strictly increasing")
		}
		id += delta
		if id > math.MaxUint32 && d.err == nil {
			d.off = at
			d.fail("field id %d overflows uint32", id)
		}
		f := &Field{}
		s := &f.Summary
		s.Kind = d.byte()
		s.Count = d.uvarint()
		s.MinStep = d.float64()
		s.MaxStep = d.float64()
		s.LastStep = d.float64()
		s.LastValue = d.float64()
		s.LastTimeMs = d.varint()
		at = d.off
		raw := d.bytesN(d.uvarint())
		if d.err != nil {
			return nil
		}
		bm, err := decodeBitmap(raw, nBlocks)
		if err != nil {
			d.off = at
			d.fail("field %d: bitmap: %v", id, err)
			return nil
		}
		f.Blocks = bm
		fields[uint32(id)] = f
	}
	return fields
}

// decodeBitmap reads a roaring bitmap that must fill raw exactly and name
// only blocks below nBlocks. The roaring decoder copies what it keeps, so
// the bitmap does not alias raw.
func decodeBitmap(raw []byte, nBlocks int) (bm *roaring.Bitmap, err error) {
	defer func() {
		// Belt and braces: roaring is third-party code fed bytes that passed
		// our checksum but may still be hostile.
		if r := recover(); r != nil {
			bm, err = nil, fmt.Errorf("decoder panic: %v", r)
		}
	}()
	bm = roaring.New()
	n, err := bm.ReadFrom(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	if n != int64(len(raw)) {
		return nil, fmt.Errorf("%d bytes used of %d", n, len(raw))
	}
	if err := bm.Validate(); err != nil {
		return nil, err
	}
	if !bm.IsEmpty() && uint64(bm.Maximum()) >= uint64(nBlocks) {
		return nil, fmt.Errorf("block %d out of range (%d blocks)", bm.Maximum(), nBlocks)
	}
	return bm, nil
}
