package index

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/goodseed/goodseed-go/internal/vfs"
)

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := vfs.Default.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteReadFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadFile(vfs.Default, dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing index: got %v, want fs.ErrNotExist", err)
	}
	ix := randomIndex(21, 10, 500, 100, 300)
	if err := WriteFile(vfs.Default, dir, ix); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(vfs.Default, dir)
	if err != nil {
		t.Fatal(err)
	}
	if d := equalIndex(ix, got); d != "" {
		t.Fatal(d)
	}
	// Overwrite with another index.
	ix2 := smallIndex()
	if err := WriteFile(vfs.Default, dir, ix2); err != nil {
		t.Fatal(err)
	}
	if got, err = ReadFile(vfs.Default, dir); err != nil {
		t.Fatal(err)
	} else if d := equalIndex(ix2, got); d != "" {
		t.Fatal(d)
	}
	if names := dirNames(t, dir); len(names) != 1 || names[0] != FileName {
		t.Fatalf("directory holds %v", names)
	}
}

func TestReadFileCorruptNamesFile(t *testing.T) {
	dir := t.TempDir()
	if err := WriteFile(vfs.Default, dir, smallIndex()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, FileName)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[40] ^= 4
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = ReadFile(vfs.Default, dir)
	var ce *CorruptionError
	if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) || ce.File != path {
		t.Fatalf("got %v, want a CorruptionError naming %s", err, path)
	}
}

// TestWriteFileFaults fails each step of WriteFile in turn: the error must
// come back, the previous index must stay whole and readable, and no temp
// file may remain.
func TestWriteFileFaults(t *testing.T) {
	old, next := smallIndex(), randomIndex(31, 5, 300, 50, 100)
	cases := []struct {
		name string
		op   vfs.Op
		err  error
		// renamed: the fault comes after the rename, so the new index is
		// in place (whole) rather than the old one.
		renamed bool
	}{
		{name: "create", op: vfs.OpCreate},
		{name: "write", op: vfs.OpWrite},
		{name: "short write", op: vfs.OpWrite, err: vfs.ErrShortWrite},
		{name: "fsync", op: vfs.OpSync},
		{name: "close", op: vfs.OpClose},
		{name: "rename", op: vfs.OpRename},
		{name: "dir sync", op: vfs.OpSyncDir, renamed: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := WriteFile(vfs.Default, dir, old); err != nil {
				t.Fatal(err)
			}
			cd := &vfs.Countdown{Ops: []vfs.Op{c.op}, N: 1, Err: c.err}
			err := WriteFile(vfs.NewErrorFS(vfs.Default, cd), dir, next)
			if err == nil || !cd.Fired() {
				t.Fatalf("fault not reported: err=%v fired=%v", err, cd.Fired())
			}
			if !errors.Is(err, vfs.ErrInjected) && !errors.Is(err, vfs.ErrShortWrite) {
				t.Fatalf("error %v does not carry the injected fault", err)
			}
			got, rerr := ReadFile(vfs.Default, dir)
			if rerr != nil {
				t.Fatalf("index unreadable after a failed write: %v", rerr)
			}
			want := old
			if c.renamed {
				want = next
			}
			if d := equalIndex(want, got); d != "" {
				t.Fatalf("index changed: %s", d)
			}
			if names := dirNames(t, dir); len(names) != 1 || names[0] != FileName {
				t.Fatalf("directory holds %v, want only %s", names, FileName)
			}
		})
	}
}

func TestWriteFileRemoveFailsLeavesTempOnly(t *testing.T) {
	dir := t.TempDir()
	if err := WriteFile(vfs.Default, dir, smallIndex()); err != nil {
		t.Fatal(err)
	}
	inj := vfs.InjectorFunc(func(op vfs.Op, path string) error {
		if op == vfs.OpSync || op == vfs.OpRemove {
			return vfs.ErrInjected
		}
		return nil
	})
	if err := WriteFile(vfs.NewErrorFS(vfs.Default, inj), dir, randomIndex(3, 1, 1, 1, 1)); err == nil {
		t.Fatal("no error")
	}
	if _, err := ReadFile(vfs.Default, dir); err != nil {
		t.Fatal(err)
	}
	names := dirNames(t, dir)
	if len(names) != 2 || names[0] != FileName || !IsTempName(names[1]) {
		t.Fatalf("directory holds %v", names)
	}
}

func TestWriteFileRefusesInconsistent(t *testing.T) {
	dir := t.TempDir()
	ix := smallIndex()
	ix.Blocks[0].Segment = 99
	if err := WriteFile(vfs.Default, dir, ix); err == nil {
		t.Fatal("inconsistent index written")
	}
	if names := dirNames(t, dir); len(names) != 0 {
		t.Fatalf("directory holds %v", names)
	}
}

// TestWriteFileCrashAtEveryStep stops WriteFile at each of its file-system
// operations in turn (that one and every later one fail, as if the process
// died there), then crashes the in-memory FS: what survives must always
// be a whole index, the old one or the new one.
func TestWriteFileCrashAtEveryStep(t *testing.T) {
	old, next := smallIndex(), randomIndex(41, 4, 200, 30, 50)
	setup := func() *vfs.MemFS {
		m := vfs.NewMem()
		if err := m.MkdirAll("/run", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := m.SyncDir("/"); err != nil {
			t.Fatal(err)
		}
		if err := WriteFile(m, "/run", old); err != nil {
			t.Fatal(err)
		}
		return m
	}
	counter := &vfs.Countdown{}
	if err := WriteFile(vfs.NewErrorFS(setup(), counter), "/run", next); err != nil {
		t.Fatal(err)
	}
	steps := counter.Count()
	if steps < 6 {
		t.Fatalf("WriteFile made only %d file-system calls", steps)
	}
	sawOld, sawNew := false, false
	for k := 1; k <= steps+1; k++ {
		m := setup()
		cd := &vfs.Countdown{N: k, Sticky: true}
		err := WriteFile(vfs.NewErrorFS(m, cd), "/run", next)
		if cd.Fired() != (err != nil) && k <= steps {
			t.Fatalf("step %d: fired=%v err=%v", k, cd.Fired(), err)
		}
		for _, c := range []*vfs.MemFS{m.CrashClone(), m.CrashCloneWith(vfs.CrashCloneOptions{KeepUnsyncedPrefix: true, Seed: int64(k)})} {
			got, rerr := ReadFile(c, "/run")
			if rerr != nil {
				t.Fatalf("crash at step %d: index unreadable: %v", k, rerr)
			}
			switch {
			case equalIndex(old, got) == "":
				sawOld = true
			case equalIndex(next, got) == "":
				sawNew = true
			default:
				t.Fatalf("crash at step %d: index is neither the old nor the new one", k)
			}
		}
	}
	if !sawOld || !sawNew {
		t.Fatalf("sweep saw old=%v new=%v; expected both", sawOld, sawNew)
	}
}
