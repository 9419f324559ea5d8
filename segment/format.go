package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/cespare/xxhash/v2"
)

// FormatMajor and FormatMinor are the version this package writes. A reader
// refuses another major (the layout may differ in any way) and accepts any
// minor (minors only add fields a 1.0 reader may skip: bytes at the end of
// the file header, the footer payload, flag bits).
const FormatMajor, FormatMinor = 1, 0

// Wire format. These constants are FROZEN for format 1.x: changing any of
// them changes the bytes on disk and needs a new major version.
const (
	// fileMagic opens every segment file.
	fileMagic = "GSEEDSEG"
	// endMagic closes a sealed segment, after the footer offset.
	endMagic = "GSEEDEND"
	// blockMagic opens every block header, little-endian ("GSBK" on disk).
	blockMagic uint32 = 0x4b425347

	// fileHeaderFixedBytes is the file header without the run id bytes:
	// magic 8, major 2, minor 2, header length 4, writer 4, seq 8,
	// created 8, run id length 2, checksum 8.
	fileHeaderFixedBytes = 8 + 2 + 2 + 4 + 4 + 8 + 8 + 2 + 8
	// maxRunIDBytes bounds the run id stored in the header.
	maxRunIDBytes = 255
	// maxFileHeaderBytes bounds the header length a reader accepts, leaving
	// room for fields later minors may add.
	maxFileHeaderBytes = 64 << 10

	// blockHeaderBytes is the framed block header, header check included.
	blockHeaderBytes = 40
	// blockHeaderCheckedBytes is the prefix of the block header the header
	// check covers.
	blockHeaderCheckedBytes = 36
	// blockTrailerBytes is the xxhash64 after the payload.
	blockTrailerBytes = 8
	// blockOverheadBytes is what framing adds to a payload.
	blockOverheadBytes = blockHeaderBytes + blockTrailerBytes

	// MaxRawBytes caps a block's uncompressed (and so its stored) payload,
	// so a hostile length cannot make a reader allocate without bound.
	MaxRawBytes = 64 << 20

	// KindFooter is the block kind reserved for the footer; callers use 0..254.
	KindFooter uint8 = 0xff

	// footerPayloadBytes is the footer payload written by 1.0: blocks,
	// records, first seq, last seq, raw bytes, stored bytes (u64 each).
	footerPayloadBytes = 6 * 8
	// segmentTrailerBytes ends a sealed file: footer offset u64 + endMagic.
	segmentTrailerBytes = 8 + 8
)

// Codec says how a block payload is stored.
type Codec uint8

// Codecs. Their values are part of the frozen wire format.
const (
	CodecNone Codec = 0
	CodecZstd Codec = 1
)

func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecZstd:
		return "zstd"
	}
	return "codec(" + strconv.Itoa(int(c)) + ")"
}

// Header is the file header of a segment.
type Header struct {
	Major, Minor uint16
	RunID        string
	WriterID     uint32
	Seq          uint64
	Created      time.Time
}

// BlockMeta describes one framed block.
type BlockMeta struct {
	Offset            int64 // file offset of the block header
	Size              int64 // total framed bytes (header+payload+trailer)
	RawLen            int   // uncompressed payload length
	Codec             Codec
	Kind              uint8
	Records           uint32
	FirstSeq, LastSeq uint64
}

// End returns the offset just past the block.
func (m BlockMeta) End() int64 { return m.Offset + m.Size }

// Footer is the summary a sealed segment ends with. Totals cover data blocks
// only (not the footer itself).
type Footer struct {
	Offset      int64  // file offset of the footer block
	Blocks      uint64 // data blocks
	Records     uint64 // sum of the blocks' record counts
	FirstSeq    uint64 // smallest first seq of any block (0 when no blocks)
	LastSeq     uint64 // largest last seq of any block
	RawBytes    uint64 // sum of uncompressed payload lengths
	StoredBytes uint64 // sum of stored payload lengths (framing excluded)
}

// Errors. Test them with errors.Is; the typed errors below carry where.
var (
	ErrCorrupt        = errors.New("segment: corrupt data")
	ErrTornTail       = errors.New("segment: torn tail")
	ErrUnknownVersion = errors.New("segment: unknown format version")
	// ErrClosed is returned by a Writer used after Seal or Close.
	ErrClosed = errors.New("segment: writer closed")
)

// CorruptionError reports damaged bytes in the middle of a file: data that
// was once written whole and no longer verifies.
type CorruptionError struct {
	File   string
	Offset int64
	Reason string
	Err    error // underlying cause, if any (e.g. a zstd error)
}

func (e *CorruptionError) Error() string {
	s := fmt.Sprintf("segment: corruption in %s at offset %d: %s", e.File, e.Offset, e.Reason)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *CorruptionError) Unwrap() error        { return e.Err }
func (e *CorruptionError) Is(target error) bool { return target == ErrCorrupt }

// TornTailError reports an incomplete last write: the Size bytes from Offset
// to the end of the file do not form a whole block. After a crash this is
// expected; recovery cuts the file at Offset.
type TornTailError struct {
	File   string
	Offset int64
	Size   int64
}

func (e *TornTailError) Error() string {
	return fmt.Sprintf("segment: torn tail in %s at offset %d (%d bytes)", e.File, e.Offset, e.Size)
}

func (e *TornTailError) Is(target error) bool { return target == ErrTornTail }

// SegmentName returns the file name of a writer's seq-th segment. Fixed-width
// lower-case hex, so names sort by writer, then seq.
func SegmentName(writerID uint32, seq uint64) string {
	var b [8 + 1 + 16 + 4]byte
	putHex(b[0:8], uint64(writerID))
	b[8] = '-'
	putHex(b[9:25], seq)
	copy(b[25:], ".seg")
	return string(b[:])
}

func putHex(dst []byte, v uint64) {
	const digits = "0123456789abcdef"
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = digits[v&0xf]
		v >>= 4
	}
}

// ParseSegmentName is the inverse of SegmentName; it accepts only names
// SegmentName produces.
func ParseSegmentName(name string) (writerID uint32, seq uint64, ok bool) {
	if len(name) != 29 || name[8] != '-' || name[25:] != ".seg" {
		return 0, 0, false
	}
	w, ok1 := parseHex(name[0:8])
	s, ok2 := parseHex(name[9:25])
	if !ok1 || !ok2 {
		return 0, 0, false
	}
	return uint32(w), s, true
}

func parseHex(s string) (uint64, bool) {
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | uint64(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

// appendFileHeader encodes h (at the version this package writes).
func appendFileHeader(dst []byte, h Header) []byte {
	start := len(dst)
	n := fileHeaderFixedBytes + len(h.RunID)
	dst = append(dst, fileMagic...)
	dst = binary.LittleEndian.AppendUint16(dst, FormatMajor)
	dst = binary.LittleEndian.AppendUint16(dst, FormatMinor)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(n))
	dst = binary.LittleEndian.AppendUint32(dst, h.WriterID)
	dst = binary.LittleEndian.AppendUint64(dst, h.Seq)
	dst = binary.LittleEndian.AppendUint64(dst, uint64(h.Created.UnixNano()))
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(h.RunID)))
	dst = append(dst, h.RunID...)
	return binary.LittleEndian.AppendUint64(dst, xxhash.Sum64(dst[start:]))
}

// headerProblem classifies a file header that does not decode.
type headerProblem int

const (
	headerOK      headerProblem = iota
	headerTorn                  // file too short: a crash during Create
	headerCorrupt               // bytes present but wrong
	headerVersion               // unknown major
)

// decodeFileHeader decodes the header at the start of b, where b holds the
// whole file prefix that exists (atEOF says b ends at the end of the file).
// It returns the header, its length in bytes, and why it failed.
func decodeFileHeader(b []byte, atEOF bool) (h Header, n int, prob headerProblem, reason string) {
	m := min(len(b), len(fileMagic))
	if string(b[:m]) != fileMagic[:m] {
		if atEOF && allZero(b) {
			return h, 0, headerTorn, "zeroed header"
		}
		return h, 0, headerCorrupt, "bad file magic"
	}
	if len(b) < 12 {
		return h, 0, headerTorn, "short header"
	}
	h.Major = binary.LittleEndian.Uint16(b[8:])
	h.Minor = binary.LittleEndian.Uint16(b[10:])
	if h.Major != FormatMajor {
		// A later major may lay out everything differently, so its checksum
		// cannot be verified here. But a header that verifies once its
		// major is read as ours is ours with a flipped bit: damage, whose
		// blocks Scan still finds, not a segment to skip whole.
		if flippedMajor(b) {
			return h, 0, headerCorrupt, "damaged major version (the header verifies as major 1)"
		}
		return h, 0, headerVersion, "unknown major version"
	}
	if len(b) < fileHeaderFixedBytes {
		return h, 0, headerTorn, "short header"
	}
	n = int(binary.LittleEndian.Uint32(b[12:]))
	idLen := int(binary.LittleEndian.Uint16(b[36:]))
	if n < fileHeaderFixedBytes+idLen || n > maxFileHeaderBytes || idLen > maxRunIDBytes {
		return h, 0, headerCorrupt, "impossible header length"
	}
	if len(b) < n {
		// A file shorter than its header is torn only if the length is the
		// one its run id implies: Create writes and fsyncs the whole header
		// before any block, so a flipped length bit in a complete file must
		// not pass for a torn header (recovery would cut the segment away).
		// A later minor may lengthen the header; there the length is taken
		// as written.
		if atEOF && (h.Minor != FormatMinor || n == fileHeaderFixedBytes+idLen) {
			return h, 0, headerTorn, "short header"
		}
		return h, 0, headerCorrupt, "header length does not match the file"
	}
	if binary.LittleEndian.Uint64(b[n-8:]) != xxhash.Sum64(b[:n-8]) {
		return h, 0, headerCorrupt, "header checksum mismatch"
	}
	h.WriterID = binary.LittleEndian.Uint32(b[16:])
	h.Seq = binary.LittleEndian.Uint64(b[20:])
	h.Created = time.Unix(0, int64(binary.LittleEndian.Uint64(b[28:])))
	h.RunID = string(b[38 : 38+idLen])
	return h, n, headerOK, ""
}

// flippedMajor says whether b starts with a header of this major whose
// major field alone was changed: it verifies with FormatMajor in its place.
// A real later major passes only if its header happens to have this
// layout and an xxhash collision with it (2^-64).
func flippedMajor(b []byte) bool {
	if len(b) < fileHeaderFixedBytes {
		return false
	}
	n := int(binary.LittleEndian.Uint32(b[12:]))
	idLen := int(binary.LittleEndian.Uint16(b[36:]))
	if n < fileHeaderFixedBytes+idLen || n > maxFileHeaderBytes || idLen > maxRunIDBytes || len(b) < n {
		return false
	}
	var major [2]byte
	binary.LittleEndian.PutUint16(major[:], FormatMajor)
	d := xxhash.New()
	d.Write(b[:8])
	d.Write(major[:])
	d.Write(b[10 : n-8])
	return binary.LittleEndian.Uint64(b[n-8:]) == d.Sum64()
}

// blockHeader is the decoded fixed part of a block frame.
type blockHeader struct {
	payloadLen, rawLen uint32
	codec              Codec
	kind               uint8
	flags              uint16
	records            uint32
	firstSeq, lastSeq  uint64
}

func (bh *blockHeader) frameBytes() int64 {
	return int64(bh.payloadLen) + blockOverheadBytes
}

func (bh *blockHeader) meta(off int64) BlockMeta {
	return BlockMeta{
		Offset: off, Size: bh.frameBytes(), RawLen: int(bh.rawLen),
		Codec: bh.codec, Kind: bh.kind, Records: bh.records,
		FirstSeq: bh.firstSeq, LastSeq: bh.lastSeq,
	}
}

// putBlockHeader fills the first blockHeaderBytes of b.
func putBlockHeader(b []byte, bh *blockHeader) {
	_ = b[blockHeaderBytes-1]
	binary.LittleEndian.PutUint32(b[0:], blockMagic)
	binary.LittleEndian.PutUint32(b[4:], bh.payloadLen)
	binary.LittleEndian.PutUint32(b[8:], bh.rawLen)
	b[12] = byte(bh.codec)
	b[13] = bh.kind
	binary.LittleEndian.PutUint16(b[14:], bh.flags)
	binary.LittleEndian.PutUint32(b[16:], bh.records)
	binary.LittleEndian.PutUint64(b[20:], bh.firstSeq)
	binary.LittleEndian.PutUint64(b[28:], bh.lastSeq)
	binary.LittleEndian.PutUint32(b[36:], uint32(xxhash.Sum64(b[:blockHeaderCheckedBytes])))
}

// parseBlockHeader decodes and checks a block header; reason is empty when
// it is valid. Validity covers the magic, the header check and lengths a
// writer could have produced, so a header that passes can be trusted to say
// where the block ends.
func parseBlockHeader(b []byte) (bh blockHeader, reason string) {
	_ = b[blockHeaderBytes-1]
	if binary.LittleEndian.Uint32(b[0:]) != blockMagic {
		return bh, "bad block magic"
	}
	if binary.LittleEndian.Uint32(b[36:]) != uint32(xxhash.Sum64(b[:blockHeaderCheckedBytes])) {
		return bh, "block header check mismatch"
	}
	bh = blockHeader{
		payloadLen: binary.LittleEndian.Uint32(b[4:]),
		rawLen:     binary.LittleEndian.Uint32(b[8:]),
		codec:      Codec(b[12]),
		kind:       b[13],
		flags:      binary.LittleEndian.Uint16(b[14:]),
		records:    binary.LittleEndian.Uint32(b[16:]),
		firstSeq:   binary.LittleEndian.Uint64(b[20:]),
		lastSeq:    binary.LittleEndian.Uint64(b[28:]),
	}
	switch {
	case bh.rawLen > MaxRawBytes:
		return bh, "raw length over limit"
	case bh.codec == CodecNone && bh.payloadLen != bh.rawLen:
		return bh, "stored length differs from raw length"
	case bh.codec == CodecZstd && (bh.payloadLen == 0 || bh.payloadLen > bh.rawLen):
		return bh, "impossible compressed length"
	case bh.codec > CodecZstd:
		return bh, "unknown codec"
	case bh.kind == KindFooter && (bh.codec != CodecNone || bh.rawLen < footerPayloadBytes):
		return bh, "malformed footer header"
	}
	return bh, ""
}

func appendFooterPayload(dst []byte, f *Footer) []byte {
	for _, v := range [...]uint64{f.Blocks, f.Records, f.FirstSeq, f.LastSeq, f.RawBytes, f.StoredBytes} {
		dst = binary.LittleEndian.AppendUint64(dst, v)
	}
	return dst
}

// parseFooterPayload decodes a verified footer payload; later minors may
// append fields, which are ignored.
func parseFooterPayload(p []byte, off int64) Footer {
	u := func(i int) uint64 { return binary.LittleEndian.Uint64(p[8*i:]) }
	return Footer{Offset: off, Blocks: u(0), Records: u(1), FirstSeq: u(2), LastSeq: u(3), RawBytes: u(4), StoredBytes: u(5)}
}

func appendSegmentTrailer(dst []byte, footerOff int64) []byte {
	dst = binary.LittleEndian.AppendUint64(dst, uint64(footerOff))
	return append(dst, endMagic...)
}

// parseSegmentTrailer returns the footer offset a trailer points at.
func parseSegmentTrailer(b []byte) (int64, bool) {
	if len(b) != segmentTrailerBytes || string(b[8:]) != endMagic {
		return 0, false
	}
	off := binary.LittleEndian.Uint64(b)
	if off > 1<<62 {
		return 0, false
	}
	return int64(off), true
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
