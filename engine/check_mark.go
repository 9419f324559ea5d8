package engine

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"

	"github.com/goodseed/goodseed-go/segment"
)

// markCheck is what Check read of one mark file.
type markCheck struct {
	path string
	size int64
	raw  []byte
}

// readMarkFiles reads every mark file of the run, before the segments are
// listed (as the loader does, so a live writer's mark can only vouch for
// bytes already written when the segments are read). The marks that read
// decide how torn tails are graded; the findings about the files
// themselves come at the end, with the index's (markFindings).
func (c *checker) readMarkFiles() {
	c.marks = readMarks(c.fsys, c.dir)
	entries, err := c.fsys.ReadDir(c.dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if _, ok := ParseMarkFileName(e.Name()); !ok || e.IsDir() {
			continue
		}
		mc := markCheck{path: filepath.Join(c.dir, e.Name())}
		if f, err := c.fsys.Open(mc.path); err == nil {
			mc.raw, _ = io.ReadAll(io.LimitReader(f, markFileBytes+1))
			f.Close()
		}
		mc.size = int64(len(mc.raw))
		c.sum.Bytes += mc.size
		c.markFiles = append(c.markFiles, mc)
	}
}

// markFindings reports mark files that are damaged or of another run, and
// the newest segments of a writer that its mark vouches for and that are
// gone. segs is sorted by writer, then seq.
func (c *checker) markFindings(segs []segFile) {
	for _, mc := range c.markFiles {
		w, _ := ParseMarkFileName(filepath.Base(mc.path))
		add := func(sev Severity, off, n int64, format string, args ...any) {
			c.emit(Finding{Severity: sev, Kind: "mark", File: mc.path, Offset: off, Length: n,
				Detail: fmt.Sprintf(format, args...)})
		}
		if mc.size != markFileBytes {
			add(Damage, -1, mc.size, "mark file is %d bytes, not %d", mc.size, markFileBytes)
		}
		type bad struct {
			off int64
			why string
		}
		var bads []bad
		var good []Mark
		for i := range 2 {
			lo := int64(i * markSlotBytes)
			if lo >= mc.size {
				continue
			}
			slot := mc.raw[lo:min(mc.size, lo+markSlotBytes)]
			if !slices.ContainsFunc(slot, func(b byte) bool { return b != 0 }) {
				continue // never written
			}
			m, err := decodeMark(slot)
			switch {
			case err != nil:
				bads = append(bads, bad{lo, fmt.Sprintf("slot %d: %v", i, err)})
			case m.WriterID != w:
				bads = append(bads, bad{lo, fmt.Sprintf("slot %d names writer %d, the file name writer %d", i, m.WriterID, w)})
			case m.Generation%2 != uint64(i):
				bads = append(bads, bad{lo, fmt.Sprintf("slot %d holds generation %d, which belongs in slot %d", i, m.Generation, m.Generation%2)})
			case c.runID != "" && m.RunHash != runHash(c.runID):
				bads = append(bads, bad{lo, fmt.Sprintf("slot %d is of another run than %q", i, c.runID)})
			default:
				good = append(good, m)
			}
		}
		for _, b := range bads {
			if len(good) > 0 {
				// The writer rewrites the slots in turn: the bad one may be
				// the write a crash interrupted, the other one the mark.
				add(Warning, b.off, markSlotBytes, "%s: torn by a crash mid-write, or damaged; the other slot (generation %d) is read", b.why, good[0].Generation)
			} else {
				add(Damage, b.off, markSlotBytes, "%s", b.why)
			}
		}
		if len(good) == 0 && mc.size > 0 {
			add(Damage, -1, mc.size, "no slot of the mark verifies: writer %d's torn tails are graded without it (a cut may then take bytes it had written)", w)
		}
	}
	newest := make(map[uint32]uint64)
	for _, sf := range segs {
		newest[sf.writer] = max(newest[sf.writer], sf.seq)
	}
	for w, m := range c.marks {
		p := m.Vouched()
		for seq := newest[w] + 1; seq <= lastVouchedSeq(p) && seq-newest[w] <= maxListedMissing; seq++ {
			c.emit(Finding{Severity: Damage, Kind: "missing-segment", File: filepath.Join(c.dir, segment.SegmentName(w, seq)), Offset: -1,
				Detail: fmt.Sprintf("writer %d's mark vouches for its segments to %d (%d bytes of it), and this one is missing: everything it held is lost", w, p.Seq, p.Offset)})
			c.lossBefore = true
		}
	}
}

// markTorn grades a torn tail the writer's mark vouches for: the writer
// had finished writing those bytes, so a crash cannot have torn them.
func (c *checker) markTorn(t *segment.TornTailError) (string, bool) {
	w, seq, ok := segment.ParseSegmentName(filepath.Base(t.File))
	if !ok || !c.marks.covers(w, seq, t.Offset) {
		return "", false
	}
	end, all := c.marks.vouched(w, seq)
	if all {
		return "its writer's mark vouches for the whole segment (a later one of the writer is vouched for), written and acknowledged: damage, not a crash leftover; a resuming writer keeps the bytes", true
	}
	return fmt.Sprintf("its writer's mark vouches for the segment to %d bytes, written and acknowledged by Flush or Sync: damage, not a crash leftover; a resuming writer keeps the bytes", end), true
}

// markTruncated says how a segment that ends on a block boundary falls
// short of what its writer's mark vouches for ("" when it does not).
func (c *checker) markTruncated(sf segFile, size int64) (int64, bool) {
	end, all := c.marks.vouched(sf.writer, sf.seq)
	if all || size >= end {
		return 0, false
	}
	return end, true
}
