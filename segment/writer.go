package segment

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/klauspost/compress/zstd"

	"github.com/goodseed/goodseed-go/internal/vfs"
)

// WriterOptions tune a Writer. The zero value is sensible.
type WriterOptions struct {
	// Compression picks the zstd level, or none. Default: zstd level 3.
	Compression Compression
}

// maxRetainedScratchBytes: after a block bigger than this the writer drops
// its scratch buffer rather than pin it for the writer's lifetime.
const maxRetainedScratchBytes = 4 << 20

// Writer appends blocks to one new segment file.
//
// Its methods are safe for concurrent use: they serialise on a mutex, so a
// Sync holds Appends up for the length of the fsync. Size and Path never
// block.
type Writer struct {
	path string
	enc  *zstd.Encoder // shared package-level encoder; nil stores raw

	mu      sync.Mutex
	f       vfs.File // nil once sealed or closed
	err     error    // sticky: the first write or fsync failure, wrapped
	scratch []byte   // frame buffer reused across Appends
	sum     Footer   // running totals Seal writes

	size atomic.Int64 // bytes written so far (also the next block's offset)
}

// Create makes dir/SegmentName(h.WriterID, h.Seq), which must not exist,
// writes and fsyncs its header and fsyncs dir, so the new file survives a
// crash. h.Major and h.Minor are ignored (the current version is written);
// a zero h.Created means now. On failure nothing is left behind.
func Create(fsys vfs.FS, dir string, h Header, opts WriterOptions) (*Writer, error) {
	if len(h.RunID) > maxRunIDBytes {
		return nil, fmt.Errorf("segment: create: run id is %d bytes, max %d", len(h.RunID), maxRunIDBytes)
	}
	if opts.Compression >= numCompressions {
		return nil, fmt.Errorf("segment: create: unknown compression %d", opts.Compression)
	}
	if h.Created.IsZero() {
		h.Created = time.Now()
	}
	path := filepath.Join(dir, SegmentName(h.WriterID, h.Seq))
	f, err := fsys.Create(path)
	if err != nil {
		return nil, fmt.Errorf("segment: create %s: %w", path, err)
	}
	buf := appendFileHeader(make([]byte, 0, fileHeaderFixedBytes+len(h.RunID)), h)
	fail := func(op string, err error) (*Writer, error) {
		_ = f.Close()
		_ = fsys.Remove(path) // a half-made file holds nothing; let a retry reuse the name
		return nil, fmt.Errorf("segment: create %s: %s: %w", path, op, err)
	}
	if _, err := f.Write(buf); err != nil {
		return fail("write header", err)
	}
	if err := f.Sync(); err != nil {
		return fail("sync", err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		return fail("sync dir", err)
	}
	w := &Writer{path: path, f: f}
	if opts.Compression != CompressionNone {
		w.enc = encoders[opts.Compression]()
	}
	w.size.Store(int64(len(buf)))
	return w, nil
}

// Path returns the segment's file path.
func (w *Writer) Path() string { return w.path }

// Size returns the bytes written so far, including any part of a failed
// write that reached the file.
func (w *Writer) Size() int64 { return w.size.Load() }

// Stat returns the FileInfo of the open segment file (an fstat, not a
// lookup of its name): its link count drops to 0 once the file is removed
// under the writer (vfs.Nlink). A sealed or closed writer has no file.
func (w *Writer) Stat() (fs.FileInfo, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil, fmt.Errorf("segment: stat %s: %w", w.path, ErrClosed)
	}
	fi, err := w.f.Stat()
	if err != nil {
		return nil, fmt.Errorf("segment: stat %s: %w", w.path, err)
	}
	return fi, nil
}

// Append compresses raw (when that makes it smaller), frames it and writes
// the frame with one Write. kind is the caller's (0..254); records, firstSeq
// and lastSeq are stored as given. After a failure every call returns the
// same error: the file's tail is unknown, and the caller must start a new
// segment.
func (w *Writer) Append(kind uint8, records uint32, firstSeq, lastSeq uint64, raw []byte) (BlockMeta, error) {
	if kind == KindFooter {
		return BlockMeta{}, fmt.Errorf("segment: append to %s: kind %#x is reserved for the footer", w.path, kind)
	}
	if len(raw) > MaxRawBytes {
		return BlockMeta{}, fmt.Errorf("segment: append to %s: payload of %d bytes over the %d limit", w.path, len(raw), MaxRawBytes)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return BlockMeta{}, err
	}
	bh := blockHeader{rawLen: uint32(len(raw)), kind: kind, records: records, firstSeq: firstSeq, lastSeq: lastSeq}
	meta, err := w.writeBlockLocked(&bh, raw)
	if err != nil {
		return BlockMeta{}, err
	}
	s := &w.sum
	if s.Blocks == 0 || firstSeq < s.FirstSeq {
		s.FirstSeq = firstSeq
	}
	s.LastSeq = max(s.LastSeq, lastSeq)
	s.Blocks++
	s.Records += uint64(records)
	s.RawBytes += uint64(len(raw))
	s.StoredBytes += uint64(bh.payloadLen)
	return meta, nil
}

// writeBlockLocked frames raw under bh (codec and lengths are filled in)
// and writes it.
func (w *Writer) writeBlockLocked(bh *blockHeader, raw []byte) (BlockMeta, error) {
	buf := w.scratch[:0]
	if need := len(raw) + blockOverheadBytes; cap(buf) < need {
		buf = make([]byte, 0, need)
	}
	buf = buf[:blockHeaderBytes]
	bh.codec = CodecNone
	if w.enc != nil && bh.kind != KindFooter && len(raw) >= minCompressBytes {
		// Compress straight after the header; keep the result only if it shrank.
		buf = w.enc.EncodeAll(raw, buf)
		if len(buf)-blockHeaderBytes < len(raw) {
			bh.codec = CodecZstd
		} else {
			buf = buf[:blockHeaderBytes]
		}
	}
	if bh.codec == CodecNone {
		buf = append(buf, raw...)
	}
	bh.payloadLen = uint32(len(buf) - blockHeaderBytes)
	putBlockHeader(buf, bh)
	buf = xxhashAppend(buf)

	off := w.size.Load()
	n, err := w.f.Write(buf)
	w.size.Add(int64(n))
	if err == nil && n != len(buf) {
		err = fmt.Errorf("short write of %d of %d bytes", n, len(buf))
	}
	if cap(buf) <= maxRetainedScratchBytes {
		w.scratch = buf[:0]
	} else {
		w.scratch = nil
	}
	if err != nil {
		w.err = fmt.Errorf("segment: write %s at offset %d: %w", w.path, off, err)
		return BlockMeta{}, w.err
	}
	return bh.meta(off), nil
}

// xxhashAppend appends the xxhash64 of b to b.
func xxhashAppend(b []byte) []byte {
	s := xxhash.Sum64(b)
	return append(b, byte(s), byte(s>>8), byte(s>>16), byte(s>>24), byte(s>>32), byte(s>>40), byte(s>>48), byte(s>>56))
}

func (w *Writer) usable() error {
	if w.err != nil {
		return w.err
	}
	if w.f == nil {
		return fmt.Errorf("segment: %s: %w", w.path, ErrClosed)
	}
	return nil
}

// Sync fsyncs the file. A failed fsync is fatal for the writer: the kernel
// may have dropped the dirty pages and cleared the error, so a retry that
// succeeds would prove nothing ("fsyncgate").
func (w *Writer) Sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.syncLocked()
}

func (w *Writer) syncLocked() error {
	if err := w.usable(); err != nil {
		return err
	}
	if err := w.f.Sync(); err != nil {
		w.err = fmt.Errorf("segment: sync %s at offset %d: %w", w.path, w.size.Load(), err)
		return w.err
	}
	return nil
}

// Seal appends the footer and the trailer, fsyncs and closes the file. A
// sealed segment is never written again. After an earlier failure Seal
// only closes the file and returns that failure.
func (w *Writer) Seal() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		w.closeLocked()
		return err
	}
	off := w.size.Load()
	payload := appendFooterPayload(make([]byte, 0, footerPayloadBytes), &w.sum)
	bh := blockHeader{rawLen: uint32(len(payload)), kind: KindFooter, firstSeq: w.sum.FirstSeq, lastSeq: w.sum.LastSeq}
	if _, err := w.writeBlockLocked(&bh, payload); err != nil {
		w.closeLocked()
		return err
	}
	// The trailer is a separate write: a crash between the two leaves a
	// footer block with no trailer, which readers report as a torn tail at
	// the footer, so recovery cuts it and the segment reads as unsealed.
	tr := appendSegmentTrailer(make([]byte, 0, segmentTrailerBytes), off)
	n, err := w.f.Write(tr)
	w.size.Add(int64(n))
	if err == nil && n != len(tr) {
		err = fmt.Errorf("short write of %d of %d bytes", n, len(tr))
	}
	if err != nil {
		w.err = fmt.Errorf("segment: write trailer %s at offset %d: %w", w.path, off, err)
		w.closeLocked()
		return w.err
	}
	if err := w.syncLocked(); err != nil {
		w.closeLocked()
		return err
	}
	if err := w.closeLocked(); err != nil {
		return fmt.Errorf("segment: seal %s: close: %w", w.path, err)
	}
	return nil
}

// Close closes the file without sealing it; it does not fsync. Closing a
// sealed or closed writer does nothing.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.closeLocked(); err != nil {
		return fmt.Errorf("segment: close %s: %w", w.path, err)
	}
	return nil
}

func (w *Writer) closeLocked() error {
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	w.scratch = nil
	return err
}
