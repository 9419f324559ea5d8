package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/goodseed/goodseed-go/index"
	"github.com/goodseed/goodseed-go/internal/vfs"
	"github.com/goodseed/goodseed-go/segment"
)

// LossError reports data that the run's own records say was written and
// that is gone or unreadable: a segment the index or a writer's segment
// numbers say exists and that is missing, a segment shorter than the index
// or its writer's mark recorded, bytes below a writer's mark (written and
// acknowledged) that no longer form whole blocks. Reads return every point
// that still verifies together with the LossErrors that may concern them,
// so an answer that is short always says so.
//
// It matches ErrCorrupt and segment.ErrCorrupt with errors.Is.
type LossError struct {
	File   string // the segment's path
	Offset int64  // where the loss starts; -1 for the whole file
	Bytes  int64  // bytes lost or unreadable; 0 when not known
	Reason string
	// Fields lists the ids of the fields that lost points, when the index
	// knew what the lost bytes held; nil when not known, and then any
	// series of the run may be short.
	Fields []uint32
}

func (e *LossError) Error() string {
	at := ""
	if e.Offset >= 0 {
		at = fmt.Sprintf(" at offset %d", e.Offset)
	}
	n := ""
	if e.Bytes > 0 {
		n = fmt.Sprintf(" (%d bytes)", e.Bytes)
	}
	return fmt.Sprintf("engine: data lost in %s%s%s: %s", e.File, at, n, e.Reason)
}

// Is reports the loss as corruption, so callers that count damage count it.
func (e *LossError) Is(target error) bool {
	return target == ErrCorrupt || target == segment.ErrCorrupt
}

// lossEntry is one thing a read of a series may be short by: a LossError,
// or damage a scan of the segments found (a block that does not verify,
// records that do not decode) whose content, and so whose fields, no one
// knows. fields nil: any series.
type lossEntry struct {
	err    error
	fields []uint32
}

func (e lossEntry) concerns(id uint32) bool {
	return e.fields == nil || slices.Contains(e.fields, id)
}

// lossKey names a loss by file and offset, so each is reported once
// (a reader refreshing a live run meets the same damage on every refresh,
// and a loss a writer recorded at resume is found again by a rescan).
func lossKey(file string, off int64) string { return fmt.Sprintf("%s@%d", filepath.Base(file), off) }

// addLoss records a loss once.
func (l *loaded) addLoss(e *LossError) {
	if l.seeLoss(lossKey(e.File, e.Offset)) {
		l.losses = append(l.losses, lossEntry{e, e.Fields})
		l.report.Corruptions = append(l.report.Corruptions, e)
	}
}

// addDamage records damage a scan found: reported, and returned with every
// series read, since what it held is not known.
func (l *loaded) addDamage(err error) {
	key := err.Error()
	var ce *segment.CorruptionError
	if errors.As(err, &ce) {
		key = lossKey(ce.File, ce.Offset)
	}
	if l.seeLoss(key) {
		l.losses = append(l.losses, lossEntry{err, nil})
		l.report.Corruptions = append(l.report.Corruptions, err)
	}
}

func (l *loaded) seeLoss(key string) bool {
	if l.lossSeen[key] {
		return false
	}
	if l.lossSeen == nil {
		l.lossSeen = make(map[string]bool)
	}
	l.lossSeen[key] = true
	return true
}

// LossMetaPrefix starts the run meta keys under which a resuming writer
// records the damage recovery found: once the writer closes, its index
// covers the damaged segment as it now is, and a reader that trusts the
// index would read nothing there that says what is gone. The records make
// the loss part of the run: every later reader reports it.
//
//	key   engine.loss/<segment>@<offset>
//	value <bytes> <field ids, comma-separated, or *> <reason>
const LossMetaPrefix = "engine.loss/"

// lossRecords returns the meta records for the damage l found that the run
// does not record yet.
func (l *loaded) lossRecords() map[string]string {
	out := make(map[string]string)
	for _, e := range l.losses {
		var file, reason string
		var off, n int64
		var le *LossError
		var ce *segment.CorruptionError
		switch {
		case errors.As(e.err, &le):
			file, off, n, reason = le.File, le.Offset, le.Bytes, le.Reason
		case errors.As(e.err, &ce):
			file, off, reason = ce.File, ce.Offset, "a block there does not verify: "+ce.Reason
		default:
			continue
		}
		key := LossMetaPrefix + lossKey(file, off)
		if _, ok := l.st.meta[key]; ok {
			continue
		}
		fields := "*"
		if e.fields != nil {
			ids := make([]string, len(e.fields))
			for i, id := range e.fields {
				ids[i] = strconv.FormatUint(uint64(id), 10)
			}
			fields = strings.Join(ids, ",")
			if fields == "" {
				fields = "-"
			}
		}
		out[key] = fmt.Sprintf("%d %s %s", n, fields, reason)
	}
	return out
}

// recordedLosses adds the losses the run's meta records (LossMetaPrefix).
func (l *loaded) recordedLosses(dir string) {
	for key, m := range l.st.meta {
		name, ok := strings.CutPrefix(key, LossMetaPrefix)
		if !ok {
			continue
		}
		seg, offText, _ := strings.Cut(name, "@")
		off, err := strconv.ParseInt(offText, 10, 64)
		nText, rest, _ := strings.Cut(m.Val, " ")
		fieldsText, reason, _ := strings.Cut(rest, " ")
		n, nerr := strconv.ParseInt(nText, 10, 64)
		if err != nil || nerr != nil || seg == "" || strings.ContainsAny(seg, `/\`) {
			continue // not a record this build wrote
		}
		le := &LossError{File: filepath.Join(dir, seg), Offset: off, Bytes: n,
			Reason: "recorded by the writer that resumed the run: " + reason}
		if fieldsText != "*" {
			le.Fields = []uint32{}
			for _, f := range strings.Split(fieldsText, ",") {
				if id, err := strconv.ParseUint(f, 10, 32); err == nil {
					le.Fields = append(le.Fields, uint32(id))
				}
			}
		}
		l.addLoss(le)
	}
}

// indexLosses reports what an index whose checksum holds recorded and the
// segments no longer hold: a segment it lists that is gone, or shorter
// than the bytes it covered. (The index is then rebuilt from the segments;
// without this the rebuilt run would simply be shorter, and say nothing.)
func (l *loaded) indexLosses(fsys vfs.FS, dir string, ix *index.Index) {
	for pos, se := range ix.Segments {
		path := filepath.Join(dir, se.Name)
		fi, err := fsys.Stat(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			l.addLoss(&LossError{File: path, Offset: -1, Bytes: se.Covered, Fields: lostFields(ix, uint32(pos), 0),
				Reason: fmt.Sprintf("the index lists this segment (%d bytes of blocks) and it is missing", se.Covered)})
		case err != nil:
		case fi.Size() < se.Covered:
			l.addLoss(&LossError{File: path, Offset: fi.Size(), Bytes: se.Covered - fi.Size(), Fields: lostFields(ix, uint32(pos), fi.Size()),
				Reason: fmt.Sprintf("the file is %d bytes, the index recorded %d: its end is gone", fi.Size(), se.Covered)})
		}
	}
}

// markLosses reports what the writers' marks vouch for and the segments no
// longer hold: a writer's segments up to its mark that are gone (the
// newest ones, which the holes between segment numbers cannot show), and
// a segment at its mark that is shorter than the mark. segs is sorted by
// writer, then seq.
func (l *loaded) markLosses(fsys vfs.FS, dir string, segs []segFile) {
	newest := make(map[uint32]uint64)
	for _, sf := range segs {
		newest[sf.writer] = max(newest[sf.writer], sf.seq)
	}
	for w, m := range l.marks {
		p := m.Vouched()
		have := newest[w]
		for seq := have + 1; seq <= lastVouchedSeq(p) && seq-have <= maxListedMissing; seq++ {
			name := segment.SegmentName(w, seq)
			l.report.MissingSegments = append(l.report.MissingSegments, name)
			l.addLoss(&LossError{File: filepath.Join(dir, name), Offset: -1,
				Reason: fmt.Sprintf("writer %d's mark vouches for segments to %d (%d bytes of it) and this one is missing", w, p.Seq, p.Offset)})
		}
		if have != p.Seq || p.Offset == 0 {
			continue
		}
		path := filepath.Join(dir, segment.SegmentName(w, p.Seq))
		if fi, err := fsys.Stat(path); err == nil && fi.Size() < p.Offset {
			l.addLoss(&LossError{File: path, Offset: fi.Size(), Bytes: p.Offset - fi.Size(),
				Reason: fmt.Sprintf("the file is %d bytes, its writer's mark vouches for %d (written and acknowledged): its end is gone", fi.Size(), p.Offset)})
		}
	}
}

// tornBelowMark turns a torn tail the marks vouch for into the loss it is:
// a crash cannot tear what the writer had finished writing. It reports
// whether it did.
func (l *loaded) tornBelowMark(t *segment.TornTailError, sf segFile, size int64) bool {
	if !l.marks.covers(sf.writer, sf.seq, t.Offset) {
		return false
	}
	end, all := l.marks.vouched(sf.writer, sf.seq)
	vouched := fmt.Sprintf("to %d", end)
	if all {
		vouched = "whole (a later segment of the writer is vouched for)"
	}
	l.addLoss(&LossError{File: t.File, Offset: t.Offset, Bytes: max(t.Size, end-t.Offset),
		Reason: fmt.Sprintf("the writer's mark vouches for this segment %s, written and acknowledged, but from here the file (%d bytes) holds no whole block: damage, not a torn tail", vouched, size)})
	return true
}

// lostFields lists the fields with blocks of segment pos ending past from,
// as ix records them; nil when ix did not see the whole segment (it was
// not sealed when the index was written), since the bytes past what it
// covered may have held any field.
func lostFields(ix *index.Index, pos uint32, from int64) []uint32 {
	if !ix.Segments[pos].Sealed {
		return nil
	}
	out := []uint32{}
	for id := range ix.Fields {
		for _, ord := range ix.FieldBlocks(id) {
			b := ix.Blocks[ord]
			if b.Segment == pos && b.Offset+b.Size > from {
				out = append(out, id)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}
