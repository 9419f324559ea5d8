package segment

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/goodseed/goodseed-go/internal/vfs"
)

// The seed corpora under testdata/fuzz are written by
// GOODSEED_UPDATE_FUZZ=1 go test -run TestWriteFuzzCorpus ./segment/

// FuzzReader feeds arbitrary file bytes to Open/Next/Payload/ReadBlockAt
// and Scan.
func FuzzReader(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte(fileMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkFuzzFile(t, data)
	})
}

// FuzzBlockDecode feeds arbitrary bytes as the first block after a valid
// file header.
func FuzzBlockDecode(f *testing.F) {
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) >= blockHeaderBytes {
			bh, reason := parseBlockHeader(frame)
			if reason == "" && (bh.rawLen > MaxRawBytes || bh.frameBytes() > MaxRawBytes+blockOverheadBytes) {
				t.Fatalf("accepted header %+v", bh)
			}
		}
		data := appendFileHeader(nil, testHeader)
		checkFuzzFile(t, append(data, frame...))
	})
}

// checkFuzzFile checks the reading invariants on one file: no panic, no
// endless loop, bounded allocation, and every block returned is a frame
// whose checksum verifies, with a payload of its raw length.
func checkFuzzFile(t *testing.T, data []byte) {
	path := filepath.Join(t.TempDir(), "f.seg")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var mem runtimeMem
	mem.start()
	check := func(m BlockMeta, p []byte) {
		t.Helper()
		if m.Offset < 0 || m.End() > int64(len(data)) || m.Size < blockOverheadBytes {
			t.Fatalf("block %+v outside a %d-byte file", m, len(data))
		}
		frame := data[m.Offset:m.End()]
		bh, reason := parseBlockHeader(frame)
		if reason != "" || !frameSumOK(frame) || bh.meta(m.Offset) != m || m.Kind == KindFooter {
			t.Fatalf("block %+v returned without verifying (%s)", m, reason)
		}
		if len(p) != m.RawLen {
			t.Fatalf("payload of %d bytes, header says %d", len(p), m.RawLen)
		}
		if m.Codec == CodecNone && !bytes.Equal(p, frame[blockHeaderBytes:m.Size-blockTrailerBytes]) {
			t.Fatal("stored payload differs from the file")
		}
	}
	if r, err := Open(vfs.Default, path); err == nil {
		var buf, buf2 []byte
		for i := 0; ; i++ {
			if i > len(data)+4 {
				t.Fatal("Next does not end")
			}
			m, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTornTail) {
					t.Fatalf("Next: %v", err)
				}
				continue
			}
			if buf, err = r.Payload(buf); err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Payload: %v", err)
				}
				continue
			}
			check(m, buf)
			var m2 BlockMeta
			if buf2, m2, err = r.ReadBlockAt(m.Offset, buf2); err != nil || m2 != m || !bytes.Equal(buf, buf2) {
				t.Fatalf("ReadBlockAt(%d) = %+v, %v; Next gave %+v", m.Offset, m2, err, m)
			}
		}
		r.Footer()
		r.Close()
	}
	rep, err := Scan(vfs.Default, path, func(m BlockMeta, p []byte) error {
		check(m, p)
		return nil
	})
	if err != nil && !errors.Is(err, ErrUnknownVersion) {
		t.Fatalf("Scan: %v", err)
	}
	if rep.ValidEnd > int64(len(data)) {
		t.Fatalf("ValidEnd %d past a %d-byte file", rep.ValidEnd, len(data))
	}
	// A payload can be MaxRawBytes, but only when its checksum verifies.
	if a := mem.allocated(); a > 3*MaxRawBytes {
		t.Fatalf("allocated %d bytes for a %d-byte file", a, len(data))
	}
}

// TestWriteFuzzCorpus regenerates the seed corpora from real segments and
// damaged copies of them.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("GOODSEED_UPDATE_FUZZ") == "" {
		t.Skip("set GOODSEED_UPDATE_FUZZ=1 to rewrite testdata/fuzz")
	}
	dir := t.TempDir()
	path, bl := writeSegment(t, vfs.Default, dir, 6, 300, true, WriterOptions{})
	sealed := readFile(t, path)
	path2, bl2 := writeSegment(t, vfs.Default, t.TempDir(), 4, 100, false, WriterOptions{Compression: CompressionNone})
	unsealed := readFile(t, path2)
	hdrLen := bl[0].meta.Offset

	flipped := bytes.Clone(sealed)
	flipped[bl[2].meta.Offset+50] ^= 4
	badHdr := bytes.Clone(sealed)
	badHdr[20] ^= 1
	files := map[string][]byte{
		"sealed":        sealed,
		"unsealed":      unsealed,
		"headerOnly":    sealed[:hdrLen],
		"tornHeader":    sealed[:hdrLen-3],
		"tornBlock":     unsealed[:bl2[3].meta.Offset+30],
		"flipped":       flipped,
		"badHeader":     badHdr,
		"garbageAfter":  append(bytes.Clone(sealed), "garbage after the trailer"...),
		"zeroTail":      append(bytes.Clone(unsealed), make([]byte, 64)...),
		"footerNoTrail": sealed[:len(sealed)-segmentTrailerBytes],
	}
	frames := map[string][]byte{}
	for i, b := range bl {
		frames["block"+strconv.Itoa(i)+"-"+b.meta.Codec.String()] = sealed[b.meta.Offset:b.meta.End()]
	}
	frames["footerAndTrailer"] = sealed[bl[len(bl)-1].meta.End():]
	frames["twoBlocks"] = sealed[bl[0].meta.Offset:bl[1].meta.End()]
	frames["truncated"] = sealed[bl[1].meta.Offset : bl[1].meta.End()-3]
	writeCorpus(t, "FuzzReader", files)
	writeCorpus(t, "FuzzBlockDecode", frames)
}

func writeCorpus(t *testing.T, fuzzName string, seeds map[string][]byte) {
	dir := filepath.Join("testdata", "fuzz", fuzzName)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range seeds {
		body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
