package segment

import (
	"errors"
	"os"
	"testing"

	"github.com/goodseed/goodseed-go/internal/vfs"
)

// TestBlockHeaderAt reads the header of every block and the footer of a
// sealed segment, and tells a damaged header and a short tail apart.
func TestBlockHeaderAt(t *testing.T) {
	path, want := writeSegment(t, vfs.Default, t.TempDir(), 12, 300, true, WriterOptions{})
	f, err := vfs.Default.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := Open(vfs.Default, path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.HeaderBytes() != want[0].meta.Offset {
		t.Fatalf("HeaderBytes %d, first block at %d", r.HeaderBytes(), want[0].meta.Offset)
	}
	var stored int64
	for _, b := range want {
		m, err := BlockHeaderAt(f, b.meta.Offset)
		if err != nil || m != b.meta {
			t.Fatalf("block at %d: %+v, %v; want %+v", b.meta.Offset, m, err, b.meta)
		}
		stored += m.StoredBytes()
	}
	foot, sealed := r.Footer()
	if !sealed || uint64(stored) != foot.StoredBytes {
		t.Fatalf("stored bytes %d, footer %+v (sealed %v)", stored, foot, sealed)
	}
	m, err := BlockHeaderAt(f, foot.Offset)
	if err != nil || m.Kind != KindFooter {
		t.Fatalf("footer: %+v, %v", m, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if m.End()+TrailerBytes != fi.Size() {
		t.Fatalf("footer ends at %d, trailer %d, file %d", m.End(), TrailerBytes, fi.Size())
	}
	if off, ok := FooterOffset(f, fi.Size()); !ok || off != foot.Offset {
		t.Fatalf("FooterOffset: %d %v, footer at %d", off, ok, foot.Offset)
	}
	if _, ok := FooterOffset(f, fi.Size()-1); ok {
		t.Fatal("FooterOffset found a trailer one byte early")
	}
	// Inside a block: not a header.
	var ce *CorruptionError
	if _, err := BlockHeaderAt(f, want[1].meta.Offset+1); !errors.As(err, &ce) || ce.Offset != want[1].meta.Offset+1 || ce.File != path {
		t.Fatalf("mid-block: %v", err)
	}
	// Fewer than a header's bytes left: the trailer.
	var te *TornTailError
	if _, err := BlockHeaderAt(f, fi.Size()-TrailerBytes); !errors.As(err, &te) || te.Size != TrailerBytes {
		t.Fatalf("trailer: %v", err)
	}
}

// TestScanFrom: a header whose major version field or length field is
// flipped is corrupt (the first verifies as major 1; the second claims more
// than the file holds, and the header is written whole before any block, so
// it is not torn): Scan reports it and resyncs to every block, as ScanFrom
// does.
func TestScanFrom(t *testing.T) {
	for _, tc := range []struct {
		name string
		off  int64
		mask byte
		err  error
	}{
		{"header length", 13, 0x20, ErrCorrupt}, // + 8 KiB, past the end of the file
		{"major version", 9, 0x08, ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, want := writeSegment(t, vfs.Default, t.TempDir(), 12, 300, true, WriterOptions{})
			b := readFile(t, path)
			b[tc.off] ^= tc.mask
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			rep, err := Scan(vfs.Default, path, nil)
			if tc.err == ErrCorrupt {
				if rep.Blocks != len(want) || rep.Torn != nil || len(rep.Corruptions) != 1 || !errors.Is(rep.Corruptions[0], ErrCorrupt) {
					t.Fatalf("Scan: %+v, %v", rep, err)
				}
			} else if rep.Blocks != 0 || (err == nil && rep.Torn == nil) || (err != nil && !errors.Is(err, tc.err)) {
				t.Fatalf("Scan: %+v, %v", rep, err)
			}
			var got []BlockMeta
			rep, err = ScanFrom(vfs.Default, path, 1, func(m BlockMeta, p []byte) error {
				got = append(got, m)
				return nil
			})
			if err != nil || !rep.OK() || !rep.Sealed || rep.Blocks != len(want) || rep.Header != (Header{}) {
				t.Fatalf("ScanFrom: %+v, %v", rep, err)
			}
			for i, b := range want {
				if got[i] != b.meta {
					t.Fatalf("block %d: %+v, want %+v", i, got[i], b.meta)
				}
			}
		})
	}
}
