package segtest

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/goodseed/goodseed-go/internal/vfs"
	"github.com/goodseed/goodseed-go/segment"
)

func TestSetMajor(t *testing.T) {
	dir := t.TempDir()
	w, err := segment.Create(vfs.Default, dir, segment.Header{RunID: "r", WriterID: 1, Seq: 1, Created: time.Unix(1, 0)}, segment.WriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Seal(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, segment.SegmentName(1, 1))
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b := bytes.Clone(orig)
	SetMajor(b, 2)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := segment.Open(vfs.Default, path); !errors.Is(err, segment.ErrUnknownVersion) {
		t.Fatalf("major 2: %v", err)
	}
	SetMajor(b, segment.FormatMajor)
	if !bytes.Equal(b, orig) {
		t.Fatal("setting the major back does not restore the header")
	}
}
