package segment

import (
	"errors"
	"fmt"
	"io"

	"github.com/goodseed/goodseed-go/internal/vfs"
)

// Forensic helpers. Readers skip what does not verify; a tool that explains
// damage (engine.Check, gsinspect) also wants to know what a damaged unit
// claimed to be and where the units of a file begin and end.

// BlockHeaderAt reads the block header at off of f and checks it (magic,
// header check, lengths), without reading the payload or its checksum. It
// says what a block whose checksum fails claimed to be: its kind, lengths
// and sequence numbers, which its verified header makes trustworthy. A
// header that does not verify gives a *CorruptionError, fewer than a
// header's bytes before the end of the file a *TornTailError.
func BlockHeaderAt(f vfs.File, off int64) (BlockMeta, error) {
	var hdr [blockHeaderBytes]byte
	n, err := f.ReadAt(hdr[:], off)
	if n < blockHeaderBytes {
		if err != nil && !errors.Is(err, io.EOF) {
			return BlockMeta{}, fmt.Errorf("segment: read %s at offset %d: %w", f.Name(), off, err)
		}
		return BlockMeta{}, &TornTailError{File: f.Name(), Offset: off, Size: int64(n)}
	}
	bh, reason := parseBlockHeader(hdr[:])
	if reason != "" {
		return BlockMeta{}, &CorruptionError{File: f.Name(), Offset: off, Reason: reason}
	}
	return bh.meta(off), nil
}

// HeaderBytes returns the length of the file header, which is the offset
// of the first block.
func (r *Reader) HeaderBytes() int64 { return r.dataOff }

// StoredBytes returns the block's stored payload length: its size without
// the framing (header and checksum).
func (m BlockMeta) StoredBytes() int64 { return m.Size - blockOverheadBytes }

// TrailerBytes is the length of the trailer that ends a sealed segment,
// after its footer block.
const TrailerBytes = segmentTrailerBytes

// FooterOffset reads the trailer at the end of a file of size bytes and
// returns the footer offset it names, when the last bytes are a trailer at
// all (the footer itself is not checked). It says where a sealed segment's
// footer was when the footer no longer verifies.
func FooterOffset(f vfs.File, size int64) (int64, bool) {
	if size < segmentTrailerBytes {
		return 0, false
	}
	var tr [segmentTrailerBytes]byte
	if _, err := f.ReadAt(tr[:], size-segmentTrailerBytes); err != nil && !errors.Is(err, io.EOF) {
		return 0, false
	}
	off, ok := parseSegmentTrailer(tr[:])
	if !ok || off >= size-segmentTrailerBytes {
		return 0, false
	}
	return off, true
}

// ScanFrom walks the blocks of a segment as Scan does, but without its
// file header: it starts at off, resynchronising on the first block header
// that verifies at or after it. It is for a file whose header cannot be
// trusted — damaged so that it reads as torn (a run id length flipped
// with the header length to match, past the end of the file) or as a real
// later major version — while its blocks, each with its own checksum, may
// all be intact; Scan returns none of them. The
// report's Header is zero; fn and the errors are as for Scan.
func ScanFrom(fsys vfs.FS, path string, off int64, fn func(BlockMeta, []byte) error) (ScanReport, error) {
	var rep ScanReport
	f, err := fsys.Open(path)
	if err != nil {
		return rep, fmt.Errorf("segment: open %s: %w", path, err)
	}
	r := &Reader{f: f, path: path, tornAt: -1, off: off, resync: true, dataOff: off}
	if fi, err := f.Stat(); err == nil {
		r.sizeHint = fi.Size()
	}
	defer r.Close()
	err = r.walk(&rep, fn)
	return rep, err
}
