package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/cespare/xxhash/v2"

	"github.com/goodseed/goodseed-go/internal/vfs"
)

// TestTruncateEveryOffset cuts a segment at every byte offset: the blocks
// before the cut come back whole, the cut block is a torn tail at its start,
// and a cut at a boundary is a clean end.
func TestTruncateEveryOffset(t *testing.T) {
	for _, seal := range []bool{false, true} {
		path, want := writeSegment(t, vfs.Default, t.TempDir(), 20, 150, seal, WriterOptions{})
		orig := readFile(t, path)
		hdrLen := int64(binary.LittleEndian.Uint32(orig[12:]))
		// Units a cut can fall in: the blocks, then the footer and trailer as
		// one unit (a cut anywhere in them unseals the segment).
		starts := []int64{}
		for _, b := range want {
			starts = append(starts, b.meta.Offset)
		}
		end := int64(len(orig))
		if seal {
			starts = append(starts, want[len(want)-1].meta.End())
		}
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		for cut := end; cut >= 0; cut-- {
			if err := f.Truncate(cut); err != nil {
				t.Fatal(err)
			}
			rep, got, err := scanAll(t, vfs.Default, path)
			if err != nil {
				t.Fatalf("seal=%v cut=%d: scan: %v", seal, cut, err)
			}
			if len(rep.Corruptions) > 0 {
				t.Fatalf("seal=%v cut=%d: corruption %v", seal, cut, rep.Corruptions[0])
			}
			if cut < hdrLen {
				if rep.Torn == nil || rep.Torn.Offset != 0 || rep.Torn.Size != cut || len(got) != 0 || rep.ValidEnd != 0 {
					t.Fatalf("seal=%v cut=%d in header: %+v", seal, cut, rep)
				}
				if _, err := Open(vfs.Default, path); !errors.Is(err, ErrTornTail) {
					t.Fatalf("seal=%v cut=%d: Open: %v", seal, cut, err)
				}
				continue
			}
			// Whole blocks before the cut, and the start of the unit it falls in.
			n := 0
			for n < len(want) && want[n].meta.End() <= cut {
				n++
			}
			tornAt := int64(-1)
			for _, s := range starts {
				if s < cut {
					tornAt = s
				}
			}
			wantEnd := hdrLen
			if n > 0 {
				wantEnd = want[n-1].meta.End()
			}
			switch {
			case cut == end && seal:
				tornAt, wantEnd = -1, end
			case cut == wantEnd:
				tornAt = -1
			}
			sameBlocks(t, "scan", got, want[:n])
			if (rep.Torn == nil) != (tornAt < 0) || (rep.Torn != nil && (rep.Torn.Offset != tornAt || rep.Torn.Size != cut-tornAt || rep.Torn.File != path)) {
				t.Fatalf("seal=%v cut=%d: torn %+v, want at %d", seal, cut, rep.Torn, tornAt)
			}
			if rep.ValidEnd != wantEnd || rep.Sealed != (seal && cut == end) {
				t.Fatalf("seal=%v cut=%d: ValidEnd %d sealed %v, want %d", seal, cut, rep.ValidEnd, rep.Sealed, wantEnd)
			}
			_, rgot, findings, err := readAll(t, vfs.Default, path)
			if err != nil {
				t.Fatal(err)
			}
			sameBlocks(t, "Next", rgot, want[:n])
			if (len(findings) == 1) != (tornAt >= 0) || len(findings) > 1 {
				t.Fatalf("seal=%v cut=%d: Next findings %v", seal, cut, findings)
			}
		}
		f.Close()
	}
}

// TestBitFlips flips single bits anywhere in a segment: every flip is
// reported where it happened, every block it did not touch still reads, and
// no damaged byte is ever returned.
func TestBitFlips(t *testing.T) {
	flips := 1000
	if testing.Short() {
		flips = 200
	}
	for _, seal := range []bool{false, true} {
		path, want := writeSegment(t, vfs.Default, t.TempDir(), 30, 300, seal, WriterOptions{})
		orig := readFile(t, path)
		hdrLen := int64(binary.LittleEndian.Uint32(orig[12:]))
		byOffset := map[int64]block{}
		for _, b := range want {
			byOffset[b.meta.Offset] = b
		}
		// unitStart maps a byte to the start of the unit holding it.
		unitStart := func(pos int64) int64 {
			if pos < hdrLen {
				return 0
			}
			s := hdrLen
			for _, b := range want {
				if pos < b.meta.End() {
					return b.meta.Offset
				}
				s = b.meta.End()
			}
			if fo := s + blockOverheadBytes + footerPayloadBytes; pos >= fo {
				return fo // the trailer
			}
			return s // the footer
		}
		rng := rand.New(rand.NewPCG(7, uint64(len(orig))))
		for i := range flips {
			pos := int64(rng.IntN(len(orig)))
			bit := byte(1) << rng.IntN(8)
			b := bytes.Clone(orig)
			b[pos] ^= bit
			writeFile(t, path, b)
			at := unitStart(pos)

			rep, got, err := scanAll(t, vfs.Default, path)
			if err != nil {
				t.Fatalf("flip %d (pos %d): scan: %v", i, pos, err)
			}
			found := false
			for _, c := range rep.Corruptions {
				found = found || c.Offset == at
				if c.File != path {
					t.Fatalf("flip %d: corruption names %s", i, c.File)
				}
			}
			if rep.Torn != nil {
				found = found || rep.Torn.Offset == at
			}
			if !found {
				t.Fatalf("flip %d (pos %d, unit %d, seal=%v): not reported there: torn %+v corruptions %v", i, pos, at, seal, rep.Torn, rep.Corruptions)
			}
			if len(rep.Corruptions) > 1 || (rep.Torn != nil && len(rep.Corruptions) > 0) {
				t.Fatalf("flip %d (pos %d): one flip, several findings: %+v %v", i, pos, rep.Torn, rep.Corruptions)
			}
			// Every block returned is an original one, byte for byte, and
			// every block the flip missed is returned.
			seen := map[int64]bool{}
			for _, g := range got {
				w, ok := byOffset[g.meta.Offset]
				if !ok {
					t.Fatalf("flip %d: block at %d is not one that was written", i, g.meta.Offset)
				}
				sameBlocks(t, "flipped", []block{g}, []block{w})
				if g.meta.Offset <= pos && pos < g.meta.End() {
					t.Fatalf("flip %d: block holding the flipped byte %d returned", i, pos)
				}
				seen[g.meta.Offset] = true
			}
			for _, w := range want {
				if !(w.meta.Offset <= pos && pos < w.meta.End()) && !seen[w.meta.Offset] {
					t.Fatalf("flip %d (pos %d): untouched block at %d lost; got %s", i, pos, w.meta.Offset, describe(got))
				}
			}
			// Open/Next agree with Scan.
			_, rgot, findings, err := readAll(t, vfs.Default, path)
			if pos < hdrLen {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("flip %d in header: Open: %v", i, err)
				}
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			sameBlocks(t, "Next vs Scan", rgot, got)
			if len(findings) != len(rep.Corruptions)+btoi(rep.Torn != nil) {
				t.Fatalf("flip %d: Next findings %v, scan %+v %v", i, findings, rep.Torn, rep.Corruptions)
			}
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestZeroedRange zeroes 4 KiB in the middle of a sealed segment.
func TestZeroedRange(t *testing.T) {
	path, want := writeSegment(t, vfs.Default, t.TempDir(), 200, 600, true, WriterOptions{})
	b := readFile(t, path)
	lo := int64(len(b)/2 - 2048)
	hi := lo + 4096
	clear(b[lo:hi])
	writeFile(t, path, b)
	rep, got, err := scanAll(t, vfs.Default, path)
	if err != nil || len(rep.Corruptions) == 0 || rep.Torn != nil || !rep.Sealed {
		t.Fatalf("%v %+v", err, rep)
	}
	var keep []block
	for _, w := range want {
		if w.meta.End() <= lo || w.meta.Offset >= hi {
			keep = append(keep, w)
		}
	}
	sameBlocks(t, "after zeroed range", got, keep)
	first := rep.Corruptions[0].Offset
	if first > lo || first < lo-700 {
		t.Fatalf("first corruption at %d, zeroed from %d", first, lo)
	}
}

// TestGarbageAfterSeal appends bytes after a sealed segment's trailer.
func TestGarbageAfterSeal(t *testing.T) {
	for _, n := range []int{1, 15, 16, 40, 100, 5000} {
		path, want := writeSegment(t, vfs.Default, t.TempDir(), 10, 200, true, WriterOptions{})
		b := readFile(t, path)
		end := int64(len(b))
		junk := make([]byte, n)
		for i := range junk {
			junk[i] = byte(i*7 + 1)
		}
		writeFile(t, path, append(b, junk...))
		rep, got, err := scanAll(t, vfs.Default, path)
		if err != nil || len(rep.Corruptions) != 1 || rep.Corruptions[0].Offset != end || rep.Torn != nil || !rep.Sealed || rep.ValidEnd != end {
			t.Fatalf("%d bytes of garbage: %v %+v", n, err, rep)
		}
		sameBlocks(t, "garbage", got, want)
	}
}

// A corruption case pokes bytes of a freshly written segment of 10 blocks.
// want lists the findings, as offsets: block indexes (-1: the file header,
// 10: the footer, 11: the trailer, 12: the end of the file).
type corruptCase struct {
	name     string
	seal     bool
	poke     func(t *testing.T, b []byte, bl []block) []byte
	torn     int   // unit index of the torn tail, or -2 for none
	corrupt  []int // unit indexes of corruptions
	lost     []int // block indexes not returned
	sealed   bool  // Scan says sealed
	openFail bool  // Open fails (header damage)
}

// rehash recomputes the header check and the trailer of the block at i, as
// a forger (or a writer bug) would.
func rehash(b []byte, m BlockMeta) {
	h := b[m.Offset : m.Offset+blockHeaderBytes]
	binary.LittleEndian.PutUint32(h[36:], uint32(xxhash.Sum64(h[:blockHeaderCheckedBytes])))
	f := b[m.Offset:m.End()]
	n := len(f) - blockTrailerBytes
	binary.LittleEndian.PutUint64(f[n:], xxhash.Sum64(f[:n]))
}

func flipPayload(t *testing.T, b []byte, bl []block) []byte {
	b[bl[5].meta.Offset+blockHeaderBytes+1] ^= 0x10
	return b
}

func flipLastPayload(t *testing.T, b []byte, bl []block) []byte {
	b[bl[9].meta.Offset+blockHeaderBytes+1] ^= 0x10
	return b
}

func badBlockMagic(t *testing.T, b []byte, bl []block) []byte {
	b[bl[5].meta.Offset] = 'X'
	return b
}

func forgedLengthNoCheck(t *testing.T, b []byte, bl []block) []byte {
	binary.LittleEndian.PutUint32(b[bl[5].meta.Offset+4:], 1<<20)
	return b
}

// forgedHugeLength has a header check that verifies a length running past
// the end of the file: indistinguishable from a torn tail by design, so the
// blocks after it are lost. It must not make the reader allocate 60 MiB.
func forgedHugeLength(t *testing.T, b []byte, bl []block) []byte {
	m := bl[5].meta
	binary.LittleEndian.PutUint32(b[m.Offset+4:], 60<<20)
	binary.LittleEndian.PutUint32(b[m.Offset+8:], 60<<20)
	b[m.Offset+12] = byte(CodecNone)
	h := b[m.Offset : m.Offset+blockHeaderBytes]
	binary.LittleEndian.PutUint32(h[36:], uint32(xxhash.Sum64(h[:blockHeaderCheckedBytes])))
	return b
}

func rawLenOverLimit(t *testing.T, b []byte, bl []block) []byte {
	binary.LittleEndian.PutUint32(b[bl[5].meta.Offset+8:], MaxRawBytes+1)
	rehash(b, bl[5].meta)
	return b
}

func unknownCodec(t *testing.T, b []byte, bl []block) []byte {
	b[bl[5].meta.Offset+12] = 9
	rehash(b, bl[5].meta)
	return b
}

// zstdThatDoesNotDecode relabels a stored block as zstd with checksums that
// verify: the payload must still never be returned.
func zstdThatDoesNotDecode(t *testing.T, b []byte, bl []block) []byte {
	m := bl[5].meta
	if m.Codec != CodecNone || m.RawLen == 0 {
		t.Fatalf("block 5 is %+v; the case needs a stored, non-empty block", m)
	}
	b[m.Offset+12] = byte(CodecZstd)
	rehash(b, m)
	return b
}

func zeroTail(t *testing.T, b []byte, bl []block) []byte { return append(b, make([]byte, 4096)...) }

func cutMidBlock(t *testing.T, b []byte, bl []block) []byte {
	return b[:bl[9].meta.Offset+blockHeaderBytes+2]
}

func cutMidHeader(t *testing.T, b []byte, bl []block) []byte { return b[:20] }

func emptyFile(t *testing.T, b []byte, bl []block) []byte { return b[:0] }

func zeroedHeader(t *testing.T, b []byte, bl []block) []byte {
	return make([]byte, bl[0].meta.Offset)
}

func badFileMagic(t *testing.T, b []byte, bl []block) []byte {
	b[0] = 'g'
	return b
}

func flipRunID(t *testing.T, b []byte, bl []block) []byte {
	b[40] ^= 1
	return b
}

func badEndMagic(t *testing.T, b []byte, bl []block) []byte {
	b[len(b)-1] ^= 1
	return b
}

func trailerWrongOffset(t *testing.T, b []byte, bl []block) []byte {
	b[len(b)-16] ^= 1
	return b
}

func footerDamaged(t *testing.T, b []byte, bl []block) []byte {
	b[bl[9].meta.End()+blockHeaderBytes+3] ^= 0x80
	return b
}

func footerTrailerTorn(t *testing.T, b []byte, bl []block) []byte { return b[:len(b)-5] }

func trailerOnly(t *testing.T, b []byte, bl []block) []byte {
	// The footer block is gone but its trailer remains.
	fo := bl[9].meta.End()
	return append(b[:fo:fo], b[len(b)-segmentTrailerBytes:]...)
}

func TestCorruptionTable(t *testing.T) {
	none := -2
	for _, tc := range []corruptCase{
		{name: "flipPayload", poke: flipPayload, torn: none, corrupt: []int{5}, lost: []int{5}},
		{name: "flipPayloadSealed", seal: true, sealed: true, poke: flipPayload, torn: none, corrupt: []int{5}, lost: []int{5}},
		{name: "flipLastPayload", poke: flipLastPayload, torn: 9, lost: []int{9}},
		{name: "flipLastPayloadSealed", seal: true, sealed: true, poke: flipLastPayload, torn: none, corrupt: []int{9}, lost: []int{9}},
		{name: "badBlockMagic", poke: badBlockMagic, torn: none, corrupt: []int{5}, lost: []int{5}},
		{name: "forgedLengthNoCheck", poke: forgedLengthNoCheck, torn: none, corrupt: []int{5}, lost: []int{5}},
		{name: "forgedHugeLength", poke: forgedHugeLength, torn: 5, lost: []int{5, 6, 7, 8, 9}},
		{name: "rawLenOverLimit", poke: rawLenOverLimit, torn: none, corrupt: []int{5}, lost: []int{5}},
		{name: "unknownCodec", poke: unknownCodec, torn: none, corrupt: []int{5}, lost: []int{5}},
		{name: "zstdThatDoesNotDecode", poke: zstdThatDoesNotDecode, torn: none, corrupt: []int{5}, lost: []int{5}},
		{name: "zeroTail", poke: zeroTail, torn: 12},
		{name: "cutMidBlock", poke: cutMidBlock, torn: 9, lost: []int{9}},
		{name: "cutMidHeader", poke: cutMidHeader, torn: -1, lost: all10, openFail: true},
		{name: "emptyFile", poke: emptyFile, torn: -1, lost: all10, openFail: true},
		{name: "zeroedHeader", poke: zeroedHeader, torn: -1, lost: all10, openFail: true},
		{name: "badFileMagic", poke: badFileMagic, torn: none, corrupt: []int{-1}, openFail: true},
		{name: "flipRunID", poke: flipRunID, torn: none, corrupt: []int{-1}, openFail: true},
		{name: "badEndMagic", seal: true, poke: badEndMagic, torn: none, corrupt: []int{11}},
		{name: "trailerWrongOffset", seal: true, poke: trailerWrongOffset, torn: none, corrupt: []int{11}},
		{name: "footerDamaged", seal: true, poke: footerDamaged, torn: none, corrupt: []int{10}},
		{name: "footerTrailerTorn", seal: true, poke: footerTrailerTorn, torn: 10},
		{name: "trailerOnly", seal: true, poke: trailerOnly, torn: none, corrupt: []int{10}},
	} {
		t.Run(tc.name, func(t *testing.T) { testCorruption(t, tc) })
	}
}

var all10 = []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}

// testCorruption is the driver every corruption case shares.
func testCorruption(t *testing.T, tc corruptCase) {
	path, want := writeSegment(t, vfs.Default, t.TempDir(), 10, 200, tc.seal, WriterOptions{Compression: CompressionNone})
	orig := readFile(t, path)
	b := tc.poke(t, bytes.Clone(orig), want)
	writeFile(t, path, b)
	unit := func(i int) int64 {
		switch {
		case i == -1:
			return 0
		case i < 10:
			return want[i].meta.Offset
		case i == 10:
			return want[9].meta.End()
		case i == 11:
			return want[9].meta.End() + blockOverheadBytes + footerPayloadBytes
		}
		return int64(len(orig))
	}
	var m runtimeMem
	m.start()
	rep, got, err := scanAll(t, vfs.Default, path)
	if alloc := m.allocated(); alloc > 16<<20 {
		t.Errorf("scan allocated %d bytes", alloc)
	}
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	var keep []block
	lost := map[int]bool{}
	for _, i := range tc.lost {
		lost[i] = true
	}
	for i, w := range want {
		if !lost[i] {
			keep = append(keep, w)
		}
	}
	sameBlocks(t, "scan", got, keep)
	if tc.torn == -2 && rep.Torn != nil {
		t.Fatalf("torn %+v, want none", rep.Torn)
	}
	if tc.torn != -2 && (rep.Torn == nil || rep.Torn.Offset != unit(tc.torn) || rep.Torn.File != path) {
		t.Fatalf("torn %+v, want at %d", rep.Torn, unit(tc.torn))
	}
	if len(rep.Corruptions) != len(tc.corrupt) {
		t.Fatalf("corruptions %v, want at units %v", rep.Corruptions, tc.corrupt)
	}
	for i, c := range rep.Corruptions {
		if c.Offset != unit(tc.corrupt[i]) || c.File != path || !errors.Is(c, ErrCorrupt) || errors.Is(c, ErrTornTail) {
			t.Fatalf("corruption %v, want at %d", c, unit(tc.corrupt[i]))
		}
	}
	if rep.Sealed != tc.sealed {
		t.Fatalf("sealed %v, want %v", rep.Sealed, tc.sealed)
	}
	_, rgot, findings, err := readAll(t, vfs.Default, path)
	if tc.openFail {
		if err == nil {
			t.Fatal("Open: no error")
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	sameBlocks(t, "Next", rgot, keep)
	if len(findings) != len(tc.corrupt)+btoi(tc.torn != -2) {
		t.Fatalf("Next findings %v", findings)
	}
}
