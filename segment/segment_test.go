package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"

	"github.com/goodseed/goodseed-go/internal/vfs"
)

func TestRoundTrip(t *testing.T) {
	for _, c := range []Compression{CompressionDefault, CompressionFastest, CompressionBetter, CompressionNone} {
		t.Run(c.String(), func(t *testing.T) {
			dir := t.TempDir()
			w, err := Create(vfs.Default, dir, testHeader, WriterOptions{Compression: c})
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			var want []block
			add := func(kind uint8, raw []byte) {
				t.Helper()
				i := len(want)
				m, err := w.Append(kind, uint32(i), uint64(i*3), uint64(i*3+2), raw)
				if err != nil {
					t.Fatal(err)
				}
				if m.Offset+m.Size != w.Size() {
					t.Fatalf("block %d ends at %d, writer size %d", i, m.Offset+m.Size, w.Size())
				}
				want = append(want, block{m, raw})
			}
			add(0, nil)
			add(1, []byte{})
			add(2, []byte("x"))
			for i := range 200 {
				add(uint8(i%254), genPayload(rng, i, rng.IntN(3000)))
			}
			if c == CompressionDefault || c == CompressionNone {
				add(254, genPayload(rng, 0, 10<<20)) // 10 MiB, compressible
				add(7, genPayload(rng, 1, 10<<20))   // 10 MiB, random
			}
			if err := w.Sync(); err != nil {
				t.Fatal(err)
			}
			if err := w.Seal(); err != nil {
				t.Fatal(err)
			}
			var zstdBlocks int
			for _, b := range want {
				if b.meta.Codec == CodecZstd {
					zstdBlocks++
				}
				if b.meta.Codec == CodecZstd && len(b.raw) > 0 && b.meta.Size-blockOverheadBytes >= int64(len(b.raw)) {
					t.Fatalf("zstd block did not shrink: %+v", b.meta)
				}
			}
			if (c == CompressionNone) != (zstdBlocks == 0) {
				t.Fatalf("compression %v: %d zstd blocks", c, zstdBlocks)
			}

			h, got, findings, err := readAll(t, vfs.Default, w.Path())
			if err != nil || len(findings) > 0 {
				t.Fatalf("read: %v %v", err, findings)
			}
			wantH := testHeader
			wantH.Major, wantH.Minor = FormatMajor, FormatMinor
			if h.RunID != wantH.RunID || h.WriterID != wantH.WriterID || h.Seq != wantH.Seq ||
				!h.Created.Equal(wantH.Created) || h.Major != 1 || h.Minor != 0 {
				t.Fatalf("header %+v, want %+v", h, wantH)
			}
			sameBlocks(t, "Next", got, want)

			rep, sgot, err := scanAll(t, vfs.Default, w.Path())
			if err != nil || !rep.OK() || !rep.Sealed {
				t.Fatalf("scan: %v %+v", err, rep)
			}
			sameBlocks(t, "Scan", sgot, want)
			fi, _ := os.Stat(w.Path())
			if rep.ValidEnd != fi.Size() || rep.Size != fi.Size() || rep.Blocks != len(want) {
				t.Fatalf("report %+v, size %d", rep, fi.Size())
			}

			r, err := Open(vfs.Default, w.Path())
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			f, ok := r.Footer()
			var raw, stored, recs uint64
			for _, b := range want {
				raw += uint64(len(b.raw))
				stored += uint64(b.meta.Size - blockOverheadBytes)
				recs += uint64(b.meta.Records)
			}
			wantF := Footer{Offset: want[len(want)-1].meta.End(), Blocks: uint64(len(want)), Records: recs,
				FirstSeq: 0, LastSeq: want[len(want)-1].meta.LastSeq, RawBytes: raw, StoredBytes: stored}
			if !ok || f != wantF || rep.Footer != wantF {
				t.Fatalf("footer %+v %v, want %+v", f, ok, wantF)
			}
			// Random access, backwards, reusing one buffer.
			var buf []byte
			for i := len(want) - 1; i >= 0; i-- {
				var m BlockMeta
				buf, m, err = r.ReadBlockAt(want[i].meta.Offset, buf)
				if err != nil {
					t.Fatal(err)
				}
				sameBlocks(t, "ReadBlockAt", []block{{m, buf}}, want[i:i+1])
			}
			if _, _, err := r.ReadBlockAt(3, nil); err == nil {
				t.Fatal("ReadBlockAt inside the header: no error")
			}
			if _, _, err := r.ReadBlockAt(want[1].meta.Offset+1, nil); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("ReadBlockAt off a block boundary: %v", err)
			}
		})
	}
}

func TestEmptySegment(t *testing.T) {
	for _, seal := range []bool{false, true} {
		path, _ := writeSegment(t, vfs.Default, t.TempDir(), 0, 0, seal, WriterOptions{})
		rep, got, err := scanAll(t, vfs.Default, path)
		if err != nil || !rep.OK() || rep.Sealed != seal || len(got) != 0 || rep.ValidEnd != rep.Size {
			t.Fatalf("seal=%v: %v %+v", seal, err, rep)
		}
	}
}

func TestUnknownVersion(t *testing.T) {
	path, want := writeSegment(t, vfs.Default, t.TempDir(), 5, 100, true, WriterOptions{})
	orig := readFile(t, path)

	// A later major, its header checksummed as written: refused by name,
	// whatever follows.
	hl := int(binary.LittleEndian.Uint32(orig[12:]))
	b := bytes.Clone(orig)
	binary.LittleEndian.PutUint16(b[8:], 2)
	binary.LittleEndian.PutUint64(b[hl-8:], xxhash.Sum64(b[:hl-8]))
	writeFile(t, path, b)
	_, err := Open(vfs.Default, path)
	if !errors.Is(err, ErrUnknownVersion) || !strings.Contains(err.Error(), path) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("major 2: %v", err)
	}
	if _, err := Scan(vfs.Default, path, nil); !errors.Is(err, ErrUnknownVersion) {
		t.Fatalf("scan major 2: %v", err)
	}

	// The same major field flipped in a header of ours (its checksum is of
	// major 1): damage at offset 0, and every block is still found.
	for _, major := range []uint16{0, 2, 3, 0x8001} {
		b = bytes.Clone(orig)
		binary.LittleEndian.PutUint16(b[8:], major)
		writeFile(t, path, b)
		var ce *CorruptionError
		if _, err := Open(vfs.Default, path); !errors.As(err, &ce) || ce.Offset != 0 || errors.Is(err, ErrUnknownVersion) {
			t.Fatalf("flipped major %d: Open: %v", major, err)
		}
		rep, err := Scan(vfs.Default, path, nil)
		if err != nil || rep.Blocks != len(want) || len(rep.Corruptions) != 1 || rep.Corruptions[0].Offset != 0 {
			t.Fatalf("flipped major %d: Scan: %+v, %v", major, rep, err)
		}
	}

	// A later minor that added 5 header bytes: accepted, extra bytes skipped.
	b = append(bytes.Clone(orig[:hl-8]), "extra"...)
	binary.LittleEndian.PutUint16(b[10:], 3)
	binary.LittleEndian.PutUint32(b[12:], uint32(hl+5))
	b = binary.LittleEndian.AppendUint64(b, xxhash.Sum64(b))
	shift := int64(len(b) - hl)
	b = append(b, orig[hl:]...)
	// The trailer holds an absolute offset: move it with the blocks.
	n := len(b)
	binary.LittleEndian.PutUint64(b[n-16:], binary.LittleEndian.Uint64(b[n-16:])+uint64(shift))
	writeFile(t, path, b)
	h, got, findings, err := readAll(t, vfs.Default, path)
	if err != nil || len(findings) > 0 || h.Minor != 3 || h.RunID != testHeader.RunID {
		t.Fatalf("minor 3: %v %v %+v", err, findings, h)
	}
	for i := range want {
		want[i].meta.Offset += shift
	}
	sameBlocks(t, "minor 3", got, want)
	if r, err := Open(vfs.Default, path); err != nil {
		t.Fatal(err)
	} else if _, ok := r.Footer(); !ok {
		r.Close()
		t.Fatal("minor 3: not sealed")
	} else {
		r.Close()
	}
}

func TestSegmentName(t *testing.T) {
	for _, tc := range []struct {
		writer uint32
		seq    uint64
		name   string
	}{
		{0, 0, "00000000-0000000000000000.seg"},
		{1, 1, "00000001-0000000000000001.seg"},
		{0xdeadbeef, 0x0123456789abcdef, "deadbeef-0123456789abcdef.seg"},
		{^uint32(0), ^uint64(0), "ffffffff-ffffffffffffffff.seg"},
	} {
		if got := SegmentName(tc.writer, tc.seq); got != tc.name {
			t.Errorf("SegmentName(%d, %d) = %q, want %q", tc.writer, tc.seq, got, tc.name)
		}
		w, s, ok := ParseSegmentName(tc.name)
		if !ok || w != tc.writer || s != tc.seq {
			t.Errorf("ParseSegmentName(%q) = %d, %d, %v", tc.name, w, s, ok)
		}
	}
	for _, bad := range []string{
		"", "index", "LOCK", "00000001-0000000000000001.se", "00000001-0000000000000001.seg.tmp",
		"0000000A-0000000000000001.seg", "00000001_0000000000000001.seg", "0000001-00000000000000001.seg",
		"00000001-000000000000000g.seg", "+0000001-0000000000000001.seg", "../00001-0000000000000001.seg",
	} {
		if _, _, ok := ParseSegmentName(bad); ok {
			t.Errorf("ParseSegmentName(%q) accepted", bad)
		}
	}
	// Names sort as (writer, seq) do.
	a, b := SegmentName(1, 0xff), SegmentName(1, 0x100)
	c := SegmentName(2, 0)
	if !(a < b && b < c) {
		t.Errorf("names do not sort: %s %s %s", a, b, c)
	}
}

func TestWriterMisuse(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(vfs.Default, dir, testHeader, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Create(vfs.Default, dir, testHeader, WriterOptions{}); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second Create: %v", err)
	}
	if _, err := w.Append(KindFooter, 0, 0, 0, nil); err == nil {
		t.Fatal("append with the footer kind: no error")
	}
	if _, err := w.Append(1, 1, 1, 1, []byte("ok")); err != nil {
		t.Fatalf("misuse made the writer sticky: %v", err)
	}
	if err := w.Seal(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Append(1, 0, 0, 0, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after seal: %v", err)
	}
	if err := w.Sync(); !errors.Is(err, ErrClosed) {
		t.Fatalf("sync after seal: %v", err)
	}
	if err := w.Seal(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second seal: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("close after seal: %v", err)
	}
	long := testHeader
	long.RunID = strings.Repeat("r", 256)
	if _, err := Create(vfs.Default, t.TempDir(), long, WriterOptions{}); err == nil {
		t.Fatal("256-byte run id accepted")
	}
	long.RunID = strings.Repeat("r", 255)
	w, err = Create(vfs.Default, t.TempDir(), long, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if h, _, _, err := readAll(t, vfs.Default, w.Path()); err != nil || h.RunID != long.RunID {
		t.Fatalf("255-byte run id: %v", err)
	}
	if filepath.Base(w.Path()) != SegmentName(long.WriterID, long.Seq) {
		t.Fatalf("path %s", w.Path())
	}
}

func TestReaderPayloadWithoutBlock(t *testing.T) {
	path, _ := writeSegment(t, vfs.Default, t.TempDir(), 1, 10, false, WriterOptions{})
	r, err := Open(vfs.Default, path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Payload(nil); err == nil {
		t.Fatal("Payload before Next: no error")
	}
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("Next at end: %v", err)
	}
	if _, err := r.Payload(nil); err == nil {
		t.Fatal("Payload after EOF: no error")
	}
}
