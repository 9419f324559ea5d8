package segment

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/goodseed/goodseed-go/internal/vfs"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testHeader is the header every test segment starts from.
var testHeader = Header{
	RunID:    "run-7f3a",
	WriterID: 3,
	Seq:      42,
	Created:  time.Unix(1_700_000_000, 123456789),
}

// block is what a test wrote, for comparing with what is read back.
type block struct {
	meta BlockMeta
	raw  []byte
}

// genPayload makes a seeded payload of n bytes: compressible text-ish bytes
// on even i, random bytes on odd i, so both codecs show up.
func genPayload(rng *rand.Rand, i, n int) []byte {
	p := make([]byte, n)
	if i%2 == 0 {
		for j := range p {
			p[j] = "step loss accuracy lr "[(j+rng.IntN(3))%22]
		}
		return p
	}
	for j := range p {
		p[j] = byte(rng.Uint32())
	}
	return p
}

// writeSegment writes n blocks with seeded payloads of up to maxLen bytes
// (some empty) and seals the segment when seal is set.
func writeSegment(t testing.TB, fsys vfs.FS, dir string, n, maxLen int, seal bool, opts WriterOptions) (string, []block) {
	t.Helper()
	w, err := Create(fsys, dir, testHeader, opts)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(n), uint64(maxLen)))
	var blocks []block
	for i := range n {
		size := rng.IntN(maxLen + 1)
		if i%7 == 3 {
			size = 0
		}
		raw := genPayload(rng, i, size)
		m, err := w.Append(uint8(i%5), uint32(i+1), uint64(10*i), uint64(10*i+i), raw)
		if err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, block{m, raw})
	}
	if seal {
		err = w.Seal()
	} else {
		err = w.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	return w.Path(), blocks
}

// readAll reads a segment with Open and Next, returning the blocks and every
// error Next reported before io.EOF. It fails the test on a non-format error.
func readAll(t testing.TB, fsys vfs.FS, path string) (Header, []block, []error, error) {
	t.Helper()
	r, err := Open(fsys, path)
	if err != nil {
		return Header{}, nil, nil, err
	}
	defer r.Close()
	var got []block
	var findings []error
	for i := 0; ; i++ {
		if i > 1<<20 {
			t.Fatal("Next does not end")
		}
		m, err := r.Next()
		if err == io.EOF {
			break
		}
		if errors.Is(err, ErrCorrupt) || errors.Is(err, ErrTornTail) {
			findings = append(findings, err)
			continue
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		p, err := r.Payload(nil)
		if err != nil {
			findings = append(findings, err)
			continue
		}
		got = append(got, block{m, p})
	}
	return r.Header(), got, findings, nil
}

// scanAll runs Scan, collecting blocks with copies of their payloads.
func scanAll(t testing.TB, fsys vfs.FS, path string) (ScanReport, []block, error) {
	t.Helper()
	var got []block
	rep, err := Scan(fsys, path, func(m BlockMeta, p []byte) error {
		got = append(got, block{m, bytes.Clone(p)})
		return nil
	})
	return rep, got, err
}

// sameBlocks fails unless got equals want exactly (meta and payload).
func sameBlocks(t testing.TB, what string, got, want []block) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d blocks, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i].meta != want[i].meta {
			t.Fatalf("%s: block %d meta %+v, want %+v", what, i, got[i].meta, want[i].meta)
		}
		if !bytes.Equal(got[i].raw, want[i].raw) {
			t.Fatalf("%s: block %d payload differs (%d vs %d bytes)", what, i, len(got[i].raw), len(want[i].raw))
		}
	}
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// tempSegPath is a path in a fresh directory for hand-made files.
func tempSegPath(t testing.TB) string {
	return filepath.Join(t.TempDir(), SegmentName(1, 1))
}

func describe(blocks []block) string {
	var b bytes.Buffer
	for _, x := range blocks {
		fmt.Fprintf(&b, "[%d+%d]", x.meta.Offset, x.meta.Size)
	}
	return b.String()
}

// runtimeMem measures bytes allocated between start and allocated.
type runtimeMem struct{ before uint64 }

func (m *runtimeMem) start() {
	var s runtime.MemStats
	runtime.ReadMemStats(&s)
	m.before = s.TotalAlloc
}

func (m *runtimeMem) allocated() uint64 {
	var s runtime.MemStats
	runtime.ReadMemStats(&s)
	return s.TotalAlloc - m.before
}
