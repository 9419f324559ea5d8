package segment

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/goodseed/goodseed-go/internal/vfs"
)

// errENOSPCShort is a disk filling up mid-block: half the bytes land.
var errENOSPCShort = fmt.Errorf("%w: %w", vfs.ErrShortWrite, syscall.ENOSPC)

// TestWriteFaults fails the k-th write of a workload, for every k: Append
// (or Seal, or Create) returns the error, it sticks, nothing panics, and
// everything written before reads back, a half-written block as a torn tail.
func TestWriteFaults(t *testing.T) {
	const blocks = 8
	for _, fault := range []struct {
		name  string
		err   error
		short bool
	}{
		{"write", vfs.ErrInjected, false},
		{"shortWrite", vfs.ErrShortWrite, true},
		{"ENOSPC", errENOSPCShort, true},
		{"EIO", syscall.EIO, false},
	} {
		// Writes: header, blocks, footer, trailer.
		for k := 1; k <= 1+blocks+2; k++ {
			t.Run(fmt.Sprintf("%s/%d", fault.name, k), func(t *testing.T) {
				dir := t.TempDir()
				cd := &vfs.Countdown{Ops: []vfs.Op{vfs.OpWrite}, N: k, Err: fault.err}
				fsys := vfs.NewErrorFS(vfs.Default, cd)
				w, err := Create(fsys, dir, testHeader, WriterOptions{})
				if k == 1 {
					if !errors.Is(err, fault.err) {
						t.Fatalf("Create: %v", err)
					}
					if _, err := os.Stat(filepath.Join(dir, SegmentName(testHeader.WriterID, testHeader.Seq))); !errors.Is(err, fs.ErrNotExist) {
						t.Fatalf("failed Create left a file behind: %v", err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				var good []block
				var failed error
				var failedAt int64
				for i := range blocks {
					raw := genPayload(nil, 1, 0)
					raw = append(raw, fmt.Sprintf("block %d %0200d", i, i)...)
					off := w.Size()
					m, err := w.Append(1, 1, uint64(i), uint64(i), raw)
					if err != nil {
						failed, failedAt = err, off
						break
					}
					good = append(good, block{m, raw})
				}
				sealErr := w.Seal()
				if failed == nil {
					failed = sealErr
					failedAt = good[len(good)-1].meta.End()
				}
				if !errors.Is(failed, fault.err) || !errors.Is(sealErr, fault.err) {
					t.Fatalf("append/seal errors %v / %v, want %v", failed, sealErr, fault.err)
				}
				if fault.err == errENOSPCShort && !errors.Is(failed, syscall.ENOSPC) {
					t.Fatalf("ENOSPC lost in %v", failed)
				}
				// Sticky, and nothing more reaches the file.
				size := w.Size()
				if _, err := w.Append(1, 1, 0, 0, []byte("more")); err == nil || w.Size() != size {
					t.Fatalf("append after failure: %v, size %d -> %d", err, size, w.Size())
				}
				if err := w.Sync(); err == nil {
					t.Fatal("sync after failure: no error")
				}
				if err := w.Close(); err != nil {
					t.Fatalf("close after failure: %v", err)
				}

				rep, got, err := scanAll(t, vfs.Default, w.Path())
				if err != nil || len(rep.Corruptions) > 0 || rep.Sealed {
					t.Fatalf("scan: %v %+v", err, rep)
				}
				sameBlocks(t, "before the fault", got, good)
				// A failed trailer write leaves a footer with no trailer: torn there.
				wantTorn := fault.short || k == 1+blocks+2
				if wantTorn && (rep.Torn == nil || rep.Torn.Offset != failedAt) {
					t.Fatalf("short write: torn %+v, want at %d", rep.Torn, failedAt)
				}
				if !wantTorn && rep.Torn != nil {
					t.Fatalf("failed write: torn %+v", rep.Torn)
				}
				if rep.ValidEnd != failedAt {
					t.Fatalf("ValidEnd %d, want %d", rep.ValidEnd, failedAt)
				}
			})
		}
	}
}

// TestSyncFaults fails an fsync: it is fatal for the writer.
func TestSyncFaults(t *testing.T) {
	// Syncs: Create's file sync (1), Writer.Sync (2), Seal's (3).
	for k := 1; k <= 3; k++ {
		t.Run(fmt.Sprint(k), func(t *testing.T) {
			dir := t.TempDir()
			cd := &vfs.Countdown{Ops: []vfs.Op{vfs.OpSync}, N: k, Err: syscall.EIO}
			fsys := vfs.NewErrorFS(vfs.Default, cd)
			w, err := Create(fsys, dir, testHeader, WriterOptions{})
			if k == 1 {
				if !errors.Is(err, syscall.EIO) {
					t.Fatalf("Create: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			m, err := w.Append(2, 5, 1, 5, []byte("before the failed sync"))
			if err != nil {
				t.Fatal(err)
			}
			if k == 2 {
				err := w.Sync()
				if !errors.Is(err, syscall.EIO) {
					t.Fatalf("Sync: %v", err)
				}
				// A retried fsync could succeed and prove nothing: stay failed.
				if err := w.Sync(); !errors.Is(err, syscall.EIO) {
					t.Fatalf("second Sync: %v", err)
				}
				if _, err := w.Append(2, 1, 6, 6, []byte("after")); !errors.Is(err, syscall.EIO) {
					t.Fatalf("Append after failed sync: %v", err)
				}
			} else if err := w.Sync(); err != nil {
				t.Fatal(err)
			}
			if err := w.Seal(); !errors.Is(err, syscall.EIO) {
				t.Fatalf("Seal: %v", err)
			}
			_, got, findings, err := readAll(t, vfs.Default, w.Path())
			if err != nil || len(findings) > 0 {
				t.Fatalf("%v %v", err, findings)
			}
			sameBlocks(t, "after failed sync", got, []block{{m, []byte("before the failed sync")}})
		})
	}
}

// TestCreateFaults fails each step of Create: an error, and no file left.
func TestCreateFaults(t *testing.T) {
	for _, op := range []vfs.Op{vfs.OpCreate, vfs.OpWrite, vfs.OpSync, vfs.OpSyncDir} {
		t.Run(op.String(), func(t *testing.T) {
			dir := t.TempDir()
			fsys := vfs.NewErrorFS(vfs.Default, &vfs.Countdown{Ops: []vfs.Op{op}, N: 1})
			if _, err := Create(fsys, dir, testHeader, WriterOptions{}); !errors.Is(err, vfs.ErrInjected) {
				t.Fatalf("Create: %v", err)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Fatalf("left %v", ents)
			}
			// The name is free for a retry.
			w, err := Create(vfs.Default, dir, testHeader, WriterOptions{})
			if err != nil {
				t.Fatal(err)
			}
			w.Close()
		})
	}
}

// TestReadFaults fails reads: errors come back as I/O errors, never as
// corruption or data.
func TestReadFaults(t *testing.T) {
	path, want := writeSegment(t, vfs.Default, t.TempDir(), 5, 100, true, WriterOptions{})
	for k := 1; k <= 4; k++ {
		cd := &vfs.Countdown{Ops: []vfs.Op{vfs.OpRead}, N: k, Err: syscall.EIO, Sticky: true}
		fsys := vfs.NewErrorFS(vfs.Default, cd)
		r, err := Open(fsys, path)
		if err != nil {
			if !errors.Is(err, syscall.EIO) || errors.Is(err, ErrCorrupt) {
				t.Fatalf("k=%d: Open: %v", k, err)
			}
			continue
		}
		_, err = r.Next()
		if !errors.Is(err, syscall.EIO) || errors.Is(err, ErrCorrupt) || errors.Is(err, ErrTornTail) {
			t.Fatalf("k=%d: Next: %v", k, err)
		}
		if _, _, err := r.ReadBlockAt(want[0].meta.Offset, nil); !errors.Is(err, syscall.EIO) {
			t.Fatalf("k=%d: ReadBlockAt: %v", k, err)
		}
		r.Close()
	}
}
