package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRotateIntoRemovedDirIsFilesRemoved (found by cmd/crashtest, about
// one directory-removal round in 21): one flush fills the segment, seals
// it and must create the next one in a run directory that was removed:
// Flush, Sync and Close must fail with ErrFilesRemoved, not with the
// create's ENOENT.
func TestRotateIntoRemovedDirIsFilesRemoved(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	s, err := Create(dir, "r", Options{SegmentTargetBytes: 2048, BlockTargetBytes: 256, FlushInterval: time.Hour, MaxChunkPoints: 16})
	if err != nil {
		t.Fatal(err)
	}
	var fs []*Field
	for i := range 6 {
		f, _ := s.Field(fmt.Sprintf("m/%d", i), KindMetric)
		fs = append(fs, f)
		_ = f.LogMetric(0, 0)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		for _, f := range fs {
			_ = f.LogMetric(float64(1+i), float64(i)*1.1)
		}
	}
	ferr := s.Flush()
	serr := s.Sync()
	cerr := s.Close()
	for _, e := range []error{ferr, serr, cerr} {
		if !errors.Is(e, ErrFilesRemoved) {
			t.Errorf("want ErrFilesRemoved, got %v", e)
		}
	}
}
