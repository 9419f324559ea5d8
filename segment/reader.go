package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/cespare/xxhash/v2"

	"github.com/goodseed/goodseed-go/internal/vfs"
)

const (
	// readaheadBytes is how much Next reads per syscall: many small blocks
	// per read, and at most one block's worth read twice at a window edge.
	readaheadBytes = 256 << 10
	// statAboveBytes: a read bigger than this first checks the file size,
	// so a forged payload length cannot make the reader allocate more than
	// the file holds.
	statAboveBytes = 1 << 20
	// maxRetainedBufferBytes: buffers grown past this for one huge block are
	// dropped rather than kept for the reader's lifetime.
	maxRetainedBufferBytes = 4 << 20
)

// Reader reads the blocks of one segment, sequentially with Next and
// Payload, or at random with ReadBlockAt. It works on a file that a writer
// is still appending to and sees everything written before each read.
//
// Next, Payload and Close must be called from one goroutine at a time;
// ReadBlockAt, Header, Path and Footer may be called concurrently with
// each other and with Next.
type Reader struct {
	f       vfs.File
	path    string
	hdr     Header
	dataOff int64 // offset of the first block (the header length)

	// Footer, when the segment is sealed. Set by Open (immutable after) or
	// by Next reaching it; Footer() reads footerMu-guarded copies.
	footerMu  sync.Mutex
	footer    Footer
	sealed    bool
	sealedEnd int64 // offset just past the trailer

	// Sequential state, owned by the goroutine calling Next.
	buf        []byte // window of the file starting at bufOff
	bufOff     int64
	bufEOF     bool  // buf ends at the end of the file, as of the read
	sizeHint   int64 // file size seen at open, to size reads of small files; 0 once outgrown
	off        int64 // where Next looks for the next block
	resync     bool  // off is not a block boundary: scan for a valid header first
	done       bool  // Next returns only io.EOF (after a torn tail, the footer, damage at the end)
	tornAt     int64 // offset of the torn tail that set done, or -1
	damaged    bool  // Next has reported a corruption
	cur        BlockMeta
	curPayload []byte // stored payload of cur, inside buf; valid while hasCur
	hasCur     bool
}

// Open opens a segment and validates its header. A file shorter than its
// header gives a *TornTailError at offset 0, damaged header bytes a
// *CorruptionError, a later major version ErrUnknownVersion.
func Open(fsys vfs.FS, path string) (*Reader, error) {
	r, herr, err := openReader(fsys, path)
	if err != nil {
		return nil, err
	}
	if herr != nil {
		r.Close()
		return nil, herr
	}
	return r, nil
}

// openReader opens path and decodes the header. A torn or corrupt header
// comes back as herr with a usable reader (Scan goes on to salvage blocks);
// err means there is nothing to read (I/O failure, unknown version).
func openReader(fsys vfs.FS, path string) (r *Reader, herr, err error) {
	f, err := fsys.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("segment: open %s: %w", path, err)
	}
	r = &Reader{f: f, path: path, tornAt: -1}
	if fi, err := f.Stat(); err == nil {
		r.sizeHint = fi.Size()
	}
	w, err := r.fill(0, maxFileHeaderBytes)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("segment: open %s: read header: %w", path, err)
	}
	h, n, prob, reason := decodeFileHeader(w, r.bufEOF)
	switch prob {
	case headerVersion:
		f.Close()
		return nil, nil, fmt.Errorf("segment: open %s: format %d.%d, this build reads %d.x: %w",
			path, h.Major, h.Minor, FormatMajor, ErrUnknownVersion)
	case headerTorn:
		r.done = true
		return r, &TornTailError{File: path, Offset: 0, Size: int64(len(w))}, nil
	case headerCorrupt:
		// Blocks may still be intact: look for them after the smallest header.
		r.off, r.resync, r.dataOff = fileHeaderFixedBytes, true, fileHeaderFixedBytes
		return r, &CorruptionError{File: path, Offset: 0, Reason: reason}, nil
	}
	r.hdr, r.dataOff, r.off = h, int64(n), int64(n)
	if err := r.loadFooter(); err != nil {
		f.Close()
		return nil, nil, err
	}
	return r, nil, nil
}

// loadFooter looks for a trailer at the end of the file pointing at a valid
// footer. Anything less leaves the segment unsealed; Next reports what is
// wrong when it gets there.
func (r *Reader) loadFooter() error {
	fi, err := r.f.Stat()
	if err != nil {
		return fmt.Errorf("segment: open %s: stat: %w", r.path, err)
	}
	size := fi.Size()
	if size < r.dataOff+blockOverheadBytes+footerPayloadBytes+segmentTrailerBytes {
		return nil
	}
	var tr [segmentTrailerBytes]byte
	if _, err := r.f.ReadAt(tr[:], size-segmentTrailerBytes); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // shrank under us
		}
		return fmt.Errorf("segment: open %s: read trailer: %w", r.path, err)
	}
	off, ok := parseSegmentTrailer(tr[:])
	if !ok || off < r.dataOff || off > size-segmentTrailerBytes-blockOverheadBytes {
		return nil
	}
	bp := framePool.Get().(*[]byte)
	defer framePool.Put(bp)
	bh, payload, _, ferr := r.readFrameAt(off, bp)
	if ferr != nil {
		var ce *CorruptionError
		var te *TornTailError
		if errors.As(ferr, &ce) || errors.As(ferr, &te) {
			return nil
		}
		return ferr
	}
	if bh.kind != KindFooter || off+bh.frameBytes() != size-segmentTrailerBytes {
		return nil
	}
	r.footer, r.sealed, r.sealedEnd = parseFooterPayload(payload, off), true, size
	return nil
}

// Header returns the file header.
func (r *Reader) Header() Header { return r.hdr }

// Path returns the file path.
func (r *Reader) Path() string { return r.path }

// Footer returns the footer summary and whether the segment is sealed.
func (r *Reader) Footer() (Footer, bool) {
	r.footerMu.Lock()
	defer r.footerMu.Unlock()
	return r.footer, r.sealed
}

// Close closes the file.
func (r *Reader) Close() error {
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f, r.buf, r.hasCur, r.done = nil, nil, false, true
	return err
}

// fill makes the window cover off and returns it from off. The result has
// more than n bytes unless the file ends first (then it has all there is),
// so a caller can tell "ends exactly at n" from "goes on".
func (r *Reader) fill(off int64, n int) ([]byte, error) {
	if rel := off - r.bufOff; rel >= 0 && rel <= int64(len(r.buf)) && len(r.buf)-int(rel) > n {
		return r.buf[rel:], nil
	}
	want := max(n+1, readaheadBytes)
	if r.sizeHint > 0 {
		// Small file: read what is there (plus room for appends since open).
		want = max(n+1, min(want, int(max(r.sizeHint-off, 0))+4096))
	}
	if want > statAboveBytes {
		fi, err := r.f.Stat()
		if err != nil {
			return nil, err
		}
		if avail := fi.Size() - off; avail < int64(want) {
			want = int(max(avail, 0)) + 1
		}
	}
	buf := r.buf
	if cap(buf) < want || (cap(buf) > maxRetainedBufferBytes && want <= readaheadBytes) {
		buf = make([]byte, want)
	}
	buf = buf[:want]
	k, err := r.f.ReadAt(buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		r.buf, r.bufOff = buf[:0], off
		return nil, err
	}
	r.buf, r.bufOff, r.bufEOF = buf[:k], off, k < want
	if !r.bufEOF {
		r.sizeHint = 0 // grown past the hint: back to full readahead
	}
	return r.buf, nil
}

// Next advances to the next block and validates it: header check, lengths,
// checksum. It returns io.EOF at a clean end: the end of the file at a block
// boundary (a later Next sees blocks appended since), or the footer.
//
// A block the file ends inside, an all-zero remainder, or a checksum failure
// on a block ending exactly at the end of the file give a *TornTailError;
// after it Next returns io.EOF. Other damage gives a *CorruptionError, and
// the following Next resumes at the next block that validates. I/O errors
// are returned as they are; Next can be retried.
func (r *Reader) Next() (BlockMeta, error) {
	r.hasCur, r.curPayload = false, nil
	if r.done {
		return BlockMeta{}, io.EOF
	}
	if r.resync {
		pos, found, err := r.findBlock(r.off)
		if err != nil {
			return BlockMeta{}, r.ioErr(r.off, err)
		}
		r.resync = false
		if !found {
			r.done = true
			return BlockMeta{}, io.EOF
		}
		r.off = pos
	}
	off := r.off
	w, err := r.fill(off, blockHeaderBytes)
	if err != nil {
		return BlockMeta{}, r.ioErr(off, err)
	}
	if len(w) == 0 {
		return BlockMeta{}, io.EOF
	}
	if len(w) < blockHeaderBytes {
		if _, ok := parseSegmentTrailer(w); ok {
			r.done = true
			if r.damaged {
				return BlockMeta{}, io.EOF // the trailer of a footer already reported as damaged
			}
			return BlockMeta{}, &CorruptionError{File: r.path, Offset: off, Reason: "segment trailer without a footer"}
		}
		return BlockMeta{}, r.torn(off)
	}
	bh, reason := parseBlockHeader(w)
	if reason != "" {
		zero, err := r.zeroToEOF(off)
		if err != nil {
			return BlockMeta{}, r.ioErr(off, err)
		}
		if zero {
			return BlockMeta{}, r.torn(off)
		}
		return BlockMeta{}, r.corrupt(off, reason, off+1, true)
	}
	size := bh.frameBytes()
	if w, err = r.fill(off, int(size)); err != nil {
		return BlockMeta{}, r.ioErr(off, err)
	}
	if int64(len(w)) < size {
		return BlockMeta{}, r.torn(off)
	}
	frame := w[:size]
	if !frameSumOK(frame) {
		if int64(len(w)) == size && r.bufEOF {
			return BlockMeta{}, r.torn(off)
		}
		// The header verified, so its length can be trusted: resume right after.
		return BlockMeta{}, r.corrupt(off, "block checksum mismatch", off+size, false)
	}
	if bh.kind == KindFooter {
		return BlockMeta{}, r.reachFooter(off, frame)
	}
	r.off = off + size
	r.cur = bh.meta(off)
	r.curPayload = frame[blockHeaderBytes : size-blockTrailerBytes]
	r.hasCur = true
	return r.cur, nil
}

// Retry undoes the stop at a torn tail: the next Next looks again at the
// torn offset. It is for following a file a writer is still appending to,
// where a block seen half-written may be whole by now. It does nothing
// when Next has not stopped at a torn tail (or the torn part is the header).
func (r *Reader) Retry() {
	if r.done && r.tornAt > 0 && r.f != nil {
		r.done, r.off, r.tornAt = false, r.tornAt, -1
	}
}

// reachFooter checks what follows a valid footer block and ends the walk.
func (r *Reader) reachFooter(off int64, frame []byte) error {
	end := off + int64(len(frame))
	w, err := r.fill(end, segmentTrailerBytes)
	if err != nil {
		return r.ioErr(end, err)
	}
	if len(w) < segmentTrailerBytes {
		// A crash during Seal: cut the footer and the segment is unsealed.
		return r.torn(off)
	}
	r.done = true
	if fo, ok := parseSegmentTrailer(w[:segmentTrailerBytes]); !ok || fo != off {
		return &CorruptionError{File: r.path, Offset: end, Reason: "bad segment trailer"}
	}
	r.footerMu.Lock()
	r.footer, r.sealed, r.sealedEnd = parseFooterPayload(frame[blockHeaderBytes:], off), true, end+segmentTrailerBytes
	r.footerMu.Unlock()
	if len(w) > segmentTrailerBytes {
		return &CorruptionError{File: r.path, Offset: end + segmentTrailerBytes, Reason: "data after segment trailer"}
	}
	return io.EOF
}

// Payload returns the current block's decompressed payload, appended to
// dst[:0]. The block's checksum was verified by Next.
func (r *Reader) Payload(dst []byte) ([]byte, error) {
	if !r.hasCur {
		return dst[:0], fmt.Errorf("segment: payload of %s: no current block", r.path)
	}
	out, err := decodePayload(dst, r.curPayload, r.cur.Codec, r.cur.RawLen)
	if err != nil {
		return out, &CorruptionError{File: r.path, Offset: r.cur.Offset, Reason: "payload does not decode", Err: err}
	}
	return out, nil
}

func (r *Reader) corrupt(off int64, reason string, resume int64, resync bool) error {
	r.off, r.resync, r.damaged = resume, resync, true
	return &CorruptionError{File: r.path, Offset: off, Reason: reason}
}

func (r *Reader) torn(off int64) error {
	r.done, r.tornAt = true, off
	size := r.bufOff + int64(len(r.buf)) - off
	if !r.bufEOF {
		if fi, err := r.f.Stat(); err == nil {
			size = fi.Size() - off
		}
	}
	return &TornTailError{File: r.path, Offset: off, Size: max(size, 0)}
}

func (r *Reader) ioErr(off int64, err error) error {
	return fmt.Errorf("segment: read %s at offset %d: %w", r.path, off, err)
}

// zeroToEOF reports whether every byte from off to the end of the file is
// zero: space a crash left allocated but unwritten, not damage.
func (r *Reader) zeroToEOF(off int64) (bool, error) {
	for {
		w, err := r.fill(off, readaheadBytes-1)
		if err != nil {
			return false, err
		}
		if !allZero(w) {
			return false, nil
		}
		if r.bufEOF {
			return true, nil
		}
		off += int64(len(w))
	}
}

// findBlock scans forward from pos for the next offset holding a block
// header that validates.
func (r *Reader) findBlock(pos int64) (int64, bool, error) {
	var magic [4]byte
	binary.LittleEndian.PutUint32(magic[:], blockMagic)
	for {
		w, err := r.fill(pos, blockHeaderBytes)
		if err != nil {
			return 0, false, err
		}
		if len(w) < blockHeaderBytes {
			return 0, false, nil
		}
		i := bytes.Index(w, magic[:])
		switch {
		case i < 0:
			pos += int64(len(w) - len(magic) + 1) // the magic may straddle the window edge
		case len(w)-i < blockHeaderBytes:
			pos += int64(i) // refill with the candidate at the window start
		default:
			if _, reason := parseBlockHeader(w[i:]); reason == "" {
				return pos + int64(i), true, nil
			}
			pos += int64(i) + 1
		}
	}
}

// frameSumOK checks a whole frame's trailing xxhash64.
func frameSumOK(frame []byte) bool {
	n := len(frame) - blockTrailerBytes
	return xxhash.Sum64(frame[:n]) == binary.LittleEndian.Uint64(frame[n:])
}

// framePool holds buffers for ReadBlockAt frames, so concurrent random reads
// share a few buffers rather than allocate one per block.
var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// ReadBlockAt reads, validates and decompresses the block at offset, which
// must be a block offset (from BlockMeta, e.g. via an index). The payload is
// appended to dst[:0]. Errors are as for Next; ReadBlockAt does not change
// Next's position.
func (r *Reader) ReadBlockAt(offset int64, dst []byte) ([]byte, BlockMeta, error) {
	if r.f == nil {
		return dst[:0], BlockMeta{}, fmt.Errorf("segment: read %s: reader closed", r.path)
	}
	if offset < r.dataOff {
		return dst[:0], BlockMeta{}, fmt.Errorf("segment: read %s at offset %d: inside the file header (%d bytes)", r.path, offset, r.dataOff)
	}
	bp := framePool.Get().(*[]byte)
	defer framePool.Put(bp)
	bh, stored, _, err := r.readFrameAt(offset, bp)
	if err != nil {
		return dst[:0], BlockMeta{}, err
	}
	out, err := decodePayload(dst, stored, bh.codec, int(bh.rawLen))
	if err != nil {
		return out, BlockMeta{}, &CorruptionError{File: r.path, Offset: offset, Reason: "payload does not decode", Err: err}
	}
	return out, bh.meta(offset), nil
}

// readFrameAt reads and verifies the frame at off into *bp and returns its
// header and stored payload (inside *bp). atEOF says the frame ends exactly
// at the end of the file.
func (r *Reader) readFrameAt(off int64, bp *[]byte) (bh blockHeader, stored []byte, atEOF bool, err error) {
	var hdr [blockHeaderBytes]byte
	n, err := r.f.ReadAt(hdr[:], off)
	if n < blockHeaderBytes {
		if err != nil && !errors.Is(err, io.EOF) {
			return bh, nil, false, r.ioErr(off, err)
		}
		return bh, nil, false, &TornTailError{File: r.path, Offset: off, Size: int64(n)}
	}
	bh, reason := parseBlockHeader(hdr[:])
	if reason != "" {
		return bh, nil, false, &CorruptionError{File: r.path, Offset: off, Reason: reason}
	}
	rest := int(bh.payloadLen) + blockTrailerBytes
	if rest > statAboveBytes {
		fi, err := r.f.Stat()
		if err != nil {
			return bh, nil, false, r.ioErr(off, err)
		}
		if have := fi.Size() - off; have < bh.frameBytes() {
			return bh, nil, false, &TornTailError{File: r.path, Offset: off, Size: max(have, 0)}
		}
	}
	// The frame goes into one buffer so its checksum is one pass; one byte
	// more than the frame tells "ends here" from "goes on".
	frameLen := blockHeaderBytes + rest
	buf := *bp
	if cap(buf) < frameLen+1 {
		buf = make([]byte, frameLen+1)
	}
	buf = buf[:frameLen+1]
	copy(buf, hdr[:])
	k, err := r.f.ReadAt(buf[blockHeaderBytes:], off+blockHeaderBytes)
	if cap(buf) <= maxRetainedBufferBytes {
		*bp = buf[:0]
	}
	if k < rest {
		if err != nil && !errors.Is(err, io.EOF) {
			return bh, nil, false, r.ioErr(off, err)
		}
		return bh, nil, false, &TornTailError{File: r.path, Offset: off, Size: int64(blockHeaderBytes + k)}
	}
	atEOF = k == rest
	if !frameSumOK(buf[:frameLen]) {
		if atEOF {
			return bh, nil, atEOF, &TornTailError{File: r.path, Offset: off, Size: bh.frameBytes()}
		}
		return bh, nil, atEOF, &CorruptionError{File: r.path, Offset: off, Reason: "block checksum mismatch"}
	}
	return bh, buf[blockHeaderBytes : blockHeaderBytes+int(bh.payloadLen)], atEOF, nil
}
