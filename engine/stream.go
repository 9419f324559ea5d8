package engine

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/goodseed/goodseed-go/internal/vfs"
	"github.com/goodseed/goodseed-go/segment"
)

// Reading one writer's stream in order, from a position: what ships a run
// elsewhere (a sync to a tracking server) reads. A position (StreamPos)
// names a byte of the writer's segments; blocks never move once written
// (segments are append-only and nothing a verified block holds is ever
// cut), so a position saved after shipping a block stays the start of the
// next one across crashes, resumes and seals.

// Less orders positions in a stream.
func (p StreamPos) Less(q StreamPos) bool { return p.less(q) }

// String renders p as "seq.offset", decimal: what ParseStreamPos reads.
func (p StreamPos) String() string { return fmt.Sprintf("%d.%d", p.Seq, p.Offset) }

// ParseStreamPos reads a position String wrote.
func ParseStreamPos(s string) (StreamPos, error) {
	seq, off, ok := strings.Cut(s, ".")
	q, err1 := strconv.ParseUint(seq, 10, 64)
	o, err2 := strconv.ParseInt(off, 10, 64)
	if !ok || err1 != nil || err2 != nil || o < 0 {
		return StreamPos{}, fmt.Errorf("engine: stream position %q is not seq.offset", s)
	}
	return StreamPos{Seq: q, Offset: o}, nil
}

// StreamBlock is one verified block of a writer's stream, its records
// decoded. Records reference fields by the stream's own ids (field
// definitions come earlier in the stream: StreamFields gives the ones
// before a position).
type StreamBlock struct {
	Start, End StreamPos // where the block starts, and where the next one may
	Records    []Record  // valid until fn returns
}

// ScanStream calls fn for each block of writer w's stream in dir that
// starts at or after from, in stream order. It stops at the end of what is
// written: a block a live writer is still appending (a torn tail) is left
// for the next scan. A block that does not verify, or whose records do not
// decode, is not passed to fn: onDamage gets it (file and offset) and the
// scan goes on past it, so one damaged block never stops what follows. It
// returns the position after the last block passed to fn (or skipped),
// from when there was none; fn's error stops the scan and is returned.
func ScanStream(fsys vfs.FS, dir string, w uint32, from StreamPos, fn func(StreamBlock) error, onDamage func(error)) (StreamPos, error) {
	if fsys == nil {
		fsys = vfs.Default
	}
	if onDamage == nil {
		onDamage = func(error) {}
	}
	segs, err := listWriterSegments(fsys, dir, w)
	if err != nil {
		return from, err
	}
	pos := from
	for i, sf := range segs {
		if sf.seq < pos.Seq {
			continue
		}
		if sf.seq > pos.Seq {
			pos = StreamPos{Seq: sf.seq}
		}
		next, sealed, err := scanSegmentFrom(fsys, filepath.Join(dir, sf.name), pos, fn, onDamage)
		if err != nil {
			return next, err
		}
		pos = next
		if !sealed && i == len(segs)-1 {
			// The writer appends here. (A live writer seals a segment
			// before it starts the next, so an unsealed segment with a
			// later one is a crashed session's last: it is final, and
			// what a crash tore off its end will never complete.)
			return pos, nil
		}
		pos = StreamPos{Seq: sf.seq + 1}
	}
	return pos, nil
}

// scanSegmentFrom passes the blocks of one segment from pos.Offset (0: the
// first block) and says whether the segment is sealed (its end reached).
func scanSegmentFrom(fsys vfs.FS, path string, pos StreamPos, fn func(StreamBlock) error, onDamage func(error)) (StreamPos, bool, error) {
	r, err := segment.Open(fsys, path)
	if err != nil {
		if errors.Is(err, segment.ErrTornTail) {
			return pos, false, nil // the header is being written
		}
		onDamage(fmt.Errorf("engine: read %s: %w", path, err))
		return pos, true, nil // unreadable whole: go on with the next segment
	}
	defer r.Close()
	fi, err := fsys.Stat(path)
	if err != nil {
		return pos, false, fmt.Errorf("engine: stat %s: %w", path, err)
	}
	off := pos.Offset
	if off < r.HeaderBytes() {
		off = r.HeaderBytes()
	}
	var payload []byte
	for off < fi.Size() {
		p, m, err := r.ReadBlockAt(off, payload)
		switch {
		case err == nil:
		case errors.Is(err, segment.ErrTornTail), errors.Is(err, io.EOF):
			return StreamPos{pos.Seq, off}, false, nil
		case errors.Is(err, segment.ErrCorrupt):
			onDamage(fmt.Errorf("engine: read %s: %w", path, err))
			next, ok := nextValidBlock(fsys, path, off+1)
			if !ok {
				return StreamPos{pos.Seq, off}, false, nil
			}
			off = next
			continue
		default:
			return StreamPos{pos.Seq, off}, false, fmt.Errorf("engine: read %s at %d: %w", path, off, err)
		}
		payload = p
		if m.Kind != blockKindRecords {
			return StreamPos{pos.Seq, m.End()}, true, nil // the footer: the segment is sealed
		}
		var recs []Record
		for b := p; len(b) > 0; {
			rec, rest, err := DecodeRecord(b)
			if err != nil {
				onDamage(fmt.Errorf("engine: %s block at %d: records do not decode: %w", path, m.Offset, err))
				recs = nil
				break
			}
			recs = append(recs, rec)
			b = rest
		}
		end := StreamPos{pos.Seq, m.End()}
		if recs != nil {
			if err := fn(StreamBlock{Start: StreamPos{pos.Seq, m.Offset}, End: end, Records: recs}); err != nil {
				return StreamPos{pos.Seq, m.Offset}, false, err
			}
		}
		off = m.End()
	}
	return StreamPos{pos.Seq, off}, false, nil
}

// nextValidBlock finds the first block at or after off that verifies.
func nextValidBlock(fsys vfs.FS, path string, off int64) (int64, bool) {
	found := int64(-1)
	errStop := errors.New("found")
	_, _ = segment.ScanFrom(fsys, path, off, func(m segment.BlockMeta, _ []byte) error {
		found = m.Offset
		return errStop
	})
	return found, found >= 0
}

// StreamFields returns the field dictionary of writer w's stream as the
// reader loaded it, by the stream's own ids: what records of the stream
// scanned from a later position refer to.
func (r *Reader) StreamFields(w uint32) []FieldInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, st := range r.streams {
		if st.w == w {
			return st.l.st.defined()
		}
	}
	return nil
}
