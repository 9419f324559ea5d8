package segment

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"testing"

	"github.com/goodseed/goodseed-go/internal/vfs"
)

func livePayload(i int) []byte {
	return bytes.Repeat([]byte(fmt.Sprintf("live block %d;", i)), 1+i%97)
}

// TestLiveWriter reads a segment while a goroutine appends to it: the
// reader sees every block, in order, whole; a block caught mid-write is a
// torn tail it retries. Random reads of blocks just written run alongside.
// Run with -race.
func TestLiveWriter(t *testing.T) {
	const n = 1500
	dir := t.TempDir()
	w, err := Create(vfs.Default, dir, testHeader, WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(vfs.Default, w.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	metas := make(chan BlockMeta, n)
	var wg sync.WaitGroup
	wg.Add(2)
	var werr, rerr error
	go func() {
		defer wg.Done()
		defer close(metas)
		for i := range n {
			m, err := w.Append(1, 1, uint64(i), uint64(i), livePayload(i))
			if err != nil {
				werr = err
				return
			}
			metas <- m
			if i%50 == 0 {
				if err := w.Sync(); err != nil {
					werr = err
					return
				}
			}
		}
		werr = w.Seal()
	}()
	go func() { // random reads of what was just written, on the same Reader
		defer wg.Done()
		var buf []byte
		for m := range metas {
			var got BlockMeta
			var err error
			buf, got, err = r.ReadBlockAt(m.Offset, buf)
			if err == nil && (got != m || !bytes.Equal(buf, livePayload(int(m.FirstSeq)))) {
				err = fmt.Errorf("ReadBlockAt %d: got %+v", m.Offset, got)
			}
			if err != nil && rerr == nil {
				rerr = err
			}
		}
	}()

	var buf []byte
	torn := 0
	for i := 0; i < n; {
		m, err := r.Next()
		switch {
		case err == io.EOF:
			if _, sealed := r.Footer(); sealed {
				t.Fatalf("footer after %d of %d blocks", i, n)
			}
			runtime.Gosched()
			continue
		case errors.Is(err, ErrTornTail):
			torn++
			r.Retry()
			continue
		case err != nil:
			t.Fatalf("block %d: %v", i, err)
		}
		if buf, err = r.Payload(buf); err != nil {
			t.Fatal(err)
		}
		if m.FirstSeq != uint64(i) || !bytes.Equal(buf, livePayload(i)) {
			t.Fatalf("block %d: got seq %d, %d bytes", i, m.FirstSeq, len(buf))
		}
		i++
	}
	wg.Wait()
	if werr != nil || rerr != nil {
		t.Fatal(werr, rerr)
	}
	for {
		_, err := r.Next()
		if err == io.EOF {
			break
		}
		if !errors.Is(err, ErrTornTail) {
			t.Fatalf("after the last block: %v", err)
		}
		r.Retry()
	}
	if f, sealed := r.Footer(); !sealed || f.Blocks != n {
		t.Fatalf("footer %+v %v", f, sealed)
	}
	t.Logf("torn tails seen and retried: %d", torn)
}
