package vfs

import (
	"os"
	"path/filepath"
	"testing"
)

// TestNlink: the Stat of an open handle says 1 while a name points at the
// file and 0 once every name is gone (removed, replaced by a rename, or its
// directory removed), on the OS, on MemFS and through ErrorFS.
func TestNlink(t *testing.T) {
	type env struct {
		fsys      FS
		dir       string
		removeAll func(dir string) error
	}
	envs := map[string]func(t *testing.T) env{
		"os": func(t *testing.T) env {
			return env{OS{}, t.TempDir(), os.RemoveAll}
		},
		"mem": func(t *testing.T) env {
			m := NewMem()
			return env{m, "/run", func(dir string) error { return memRemoveAll(m, dir) }}
		},
		"errorfs-over-mem": func(t *testing.T) env {
			m := NewMem()
			return env{NewErrorFS(m, InjectorFunc(func(Op, string) error { return nil })), "/run",
				func(dir string) error { return memRemoveAll(m, dir) }}
		},
	}
	nlink := func(t *testing.T, f File) uint64 {
		t.Helper()
		fi, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		n, ok := Nlink(fi)
		if !ok {
			t.Fatalf("%s: no link count in %T", f.Name(), fi)
		}
		return n
	}
	for name, mk := range envs {
		t.Run(name, func(t *testing.T) {
			e := mk(t)
			if err := e.fsys.MkdirAll(e.dir, 0o755); err != nil {
				t.Fatal(err)
			}
			create := func(base string) File {
				f, err := e.fsys.Create(filepath.Join(e.dir, base))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { f.Close() })
				return f
			}
			removed, replaced, kept := create("removed"), create("replaced"), create("kept")
			other := create("other")
			for _, f := range []File{removed, replaced, kept, other} {
				if n := nlink(t, f); n != 1 {
					t.Fatalf("%s: nlink %d before any removal", f.Name(), n)
				}
			}
			if fi, err := e.fsys.Stat(kept.Name()); err != nil {
				t.Fatal(err)
			} else if n, ok := Nlink(fi); !ok || n != 1 {
				t.Fatalf("Stat by name: nlink %d, %v", n, ok)
			}

			if err := e.fsys.Remove(removed.Name()); err != nil {
				t.Fatal(err)
			}
			if err := e.fsys.Rename(other.Name(), replaced.Name()); err != nil {
				t.Fatal(err)
			}
			if n := nlink(t, removed); n != 0 {
				t.Fatalf("removed file: nlink %d", n)
			}
			if n := nlink(t, replaced); n != 0 {
				t.Fatalf("file replaced by a rename: nlink %d", n)
			}
			if n := nlink(t, other); n != 1 {
				t.Fatalf("renamed file: nlink %d", n)
			}
			if n := nlink(t, kept); n != 1 {
				t.Fatalf("untouched file: nlink %d", n)
			}
			if err := e.removeAll(e.dir); err != nil {
				t.Fatal(err)
			}
			if n := nlink(t, kept); n != 0 {
				t.Fatalf("file of a removed directory: nlink %d", n)
			}
		})
	}
}

// memRemoveAll removes dir and everything under it, as os.RemoveAll does.
func memRemoveAll(m *MemFS, dir string) error {
	entries, err := m.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if e.IsDir() {
			err = memRemoveAll(m, p)
		} else {
			err = m.Remove(p)
		}
		if err != nil {
			return err
		}
	}
	return m.Remove(dir)
}
