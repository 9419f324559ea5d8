package vfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// fsUnderTest pairs an FS with a directory inside it to play in.
type fsUnderTest struct {
	name string
	fsys FS
	dir  string
}

func bothFS(t *testing.T) []fsUnderTest {
	m := NewMem()
	if err := m.MkdirAll("/work", 0o755); err != nil {
		t.Fatal(err)
	}
	return []fsUnderTest{{"os", OS{}, t.TempDir()}, {"mem", m, "/work"}}
}

func writeFile(t *testing.T, fsys FS, name, content string, sync bool) {
	t.Helper()
	f, err := fsys.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, fsys FS, name string) (string, error) {
	t.Helper()
	f, err := fsys.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	return string(b), err
}

func names(t *testing.T, fsys FS, dir string) []string {
	t.Helper()
	entries, err := fsys.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() {
			n += "/"
		}
		out = append(out, n)
	}
	return out
}

// TestMemMatchesOS runs the same script against the OS and MemFS and
// expects the same observable results.
func TestMemMatchesOS(t *testing.T) {
	for _, u := range bothFS(t) {
		t.Run(u.name, func(t *testing.T) {
			fsys, p := u.fsys, func(n string) string { return filepath.Join(u.dir, n) }

			// Create, fs.ErrExist, fs.ErrNotExist.
			writeFile(t, fsys, p("b"), "hello", false)
			if _, err := fsys.Create(p("b")); !errors.Is(err, fs.ErrExist) {
				t.Fatalf("Create existing: %v", err)
			}
			if _, err := fsys.Create(p("nodir/x")); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("Create in missing dir: %v", err)
			}
			for _, op := range []func() error{
				func() error { _, err := fsys.Open(p("missing")); return err },
				func() error { _, err := fsys.OpenReadWrite(p("missing")); return err },
				func() error { _, err := fsys.Stat(p("missing")); return err },
				func() error { return fsys.Remove(p("missing")) },
				func() error { return fsys.Rename(p("missing"), p("x")) },
				func() error { _, err := fsys.ReadDir(p("missing")); return err },
				func() error { return fsys.SyncDir(p("missing")) },
				func() error { _, err := fsys.IsLocked(p("missing")); return err },
			} {
				if err := op(); !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("on a missing file: %v, want fs.ErrNotExist", err)
				}
			}

			// Read and Write share the offset of a Create handle; WriteAt
			// writes in place; Truncate keeps the offset.
			f, err := fsys.Create(p("a"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write([]byte("0123456789")); err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt([]byte("AB"), 2); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 4)
			if n, err := f.Read(buf); n != 0 || err != io.EOF {
				t.Fatalf("Read at end: %d %v", n, err)
			}
			if n, err := f.ReadAt(buf, 8); n != 2 || err != io.EOF || string(buf[:2]) != "89" {
				t.Fatalf("ReadAt past end: %d %v %q", n, err, buf[:n])
			}
			if err := f.Truncate(4); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write([]byte("x")); err != nil { // at offset 10: a hole
				t.Fatal(err)
			}
			if fi, err := f.Stat(); err != nil || fi.Size() != 11 || fi.IsDir() || fi.Name() != "a" {
				t.Fatalf("Stat: %v %v", fi, err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err == nil {
				t.Fatal("second Close succeeded")
			}
			if got, _ := readFile(t, fsys, p("a")); got != "01AB\x00\x00\x00\x00\x00\x00x" {
				t.Fatalf("contents %q", got)
			}

			// OpenReadWrite appends; WriteAt is refused; Open is read-only.
			f, err = fsys.OpenReadWrite(p("b"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write([]byte(" world")); err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt([]byte("J"), 0); err == nil {
				t.Fatal("WriteAt on an append handle succeeded")
			}
			f.Close()
			if got, _ := readFile(t, fsys, p("b")); got != "hello world" {
				t.Fatalf("contents %q", got)
			}
			f, _ = fsys.Open(p("b"))
			if _, err := f.Write([]byte("x")); err == nil {
				t.Fatal("Write on a read-only handle succeeded")
			}
			f.Close()

			// Directories: MkdirAll, sorted ReadDir, Remove, Rename.
			if err := fsys.MkdirAll(p("d/e/f"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := fsys.MkdirAll(p("d/e"), 0o755); err != nil {
				t.Fatalf("MkdirAll existing: %v", err)
			}
			if err := fsys.MkdirAll(p("b/c"), 0o755); err == nil {
				t.Fatal("MkdirAll through a file succeeded")
			}
			writeFile(t, fsys, p("c"), "", false)
			if got := fmt.Sprint(names(t, fsys, u.dir)); got != "[a b c d/]" {
				t.Fatalf("ReadDir %s", got)
			}
			if err := fsys.Remove(p("d/e")); err == nil {
				t.Fatal("Remove of a non-empty directory succeeded")
			}
			if err := fsys.Remove(p("d/e/f")); err != nil {
				t.Fatal(err)
			}
			if err := fsys.Rename(p("a"), p("b")); err != nil { // file over file
				t.Fatal(err)
			}
			if err := fsys.Rename(p("c"), p("d")); err == nil {
				t.Fatal("Rename of a file over a directory succeeded")
			}
			if err := fsys.Rename(p("d"), p("d/e/g")); err == nil {
				t.Fatal("Rename of a directory into itself succeeded")
			}
			if err := fsys.Rename(p("d/e"), p("e")); err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(names(t, fsys, u.dir)); got != "[b c d/ e/]" {
				t.Fatalf("ReadDir after renames %s", got)
			}
			if got, _ := readFile(t, fsys, p("b")); len(got) != 11 || got[:4] != "01AB" {
				t.Fatalf("renamed contents %q", got)
			}
			if fi, err := fsys.Stat(p("e")); err != nil || !fi.IsDir() {
				t.Fatalf("Stat dir: %v %v", fi, err)
			}
			if _, err := fsys.ReadDir(p("b")); err == nil {
				t.Fatal("ReadDir of a file succeeded")
			}
			if err := fsys.SyncDir(u.dir); err != nil {
				t.Fatal(err)
			}

			// An open file survives the removal of its name.
			f, _ = fsys.Open(p("c"))
			if err := fsys.Remove(p("c")); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Stat(); err != nil {
				t.Fatalf("Stat of an open, removed file: %v", err)
			}
			f.Close()

			// Locks.
			l, err := fsys.Lock(p("LOCK"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := fsys.Lock(p("LOCK")); !errors.Is(err, ErrLocked) {
				t.Fatalf("second Lock: %v", err)
			}
			if locked, err := fsys.IsLocked(p("LOCK")); !locked || err != nil {
				t.Fatalf("IsLocked held: %v %v", locked, err)
			}
			if _, err := l.File().WriteAt([]byte("owner"), 0); err != nil {
				t.Fatalf("WriteAt on the lock file: %v", err)
			}
			if err := l.Release(); err != nil {
				t.Fatal(err)
			}
			if locked, err := fsys.IsLocked(p("LOCK")); locked || err != nil {
				t.Fatalf("IsLocked released: %v %v", locked, err)
			}
			l, err = fsys.Lock(p("LOCK"))
			if err != nil {
				t.Fatalf("relock: %v", err)
			}
			l.Release()
			if got, _ := readFile(t, fsys, p("LOCK")); got != "owner" {
				t.Fatalf("lock file %q", got)
			}
		})
	}
}

func TestMemCrashDropsUnsyncedData(t *testing.T) {
	m := NewMem()
	m.MkdirAll("/r", 0o755)
	f, _ := m.Create("/r/seg")
	f.Write([]byte("durable "))
	f.Sync()
	f.Write([]byte("volatile"))
	writeFile(t, m, "/r/never-synced", "gone", false)
	m.SyncDir("/")
	m.SyncDir("/r")

	c := m.CrashClone()
	if got, err := readFile(t, c, "/r/seg"); err != nil || got != "durable " {
		t.Fatalf("after crash: %q %v", got, err)
	}
	if got, err := readFile(t, c, "/r/never-synced"); err != nil || got != "" {
		t.Fatalf("never-synced file: %q %v, want present and empty", got, err)
	}
	// The original is untouched and still usable.
	if got, _ := readFile(t, m, "/r/seg"); got != "durable volatile" {
		t.Fatalf("original changed: %q", got)
	}
	f.Write([]byte("!"))
	f.Close()
}

func TestMemCrashDirectoryEntries(t *testing.T) {
	m := NewMem()
	m.MkdirAll("/r", 0o755)
	writeFile(t, m, "/r/old", "old", true)
	writeFile(t, m, "/r/removed", "r", true)
	m.SyncDir("/")
	m.SyncDir("/r")

	writeFile(t, m, "/r/new", "new", true) // file synced, directory not
	if err := m.Rename("/r/old", "/r/renamed"); err != nil {
		t.Fatal(err)
	}
	if err := m.Remove("/r/removed"); err != nil {
		t.Fatal(err)
	}
	m.MkdirAll("/r/sub", 0o755)

	c := m.CrashClone()
	if got := fmt.Sprint(names(t, c, "/r")); got != "[old removed]" {
		t.Fatalf("without SyncDir the changes must be undone, got %s", got)
	}
	if got, _ := readFile(t, c, "/r/old"); got != "old" {
		t.Fatalf("old %q", got)
	}

	m.SyncDir("/r")
	c = m.CrashClone()
	if got := fmt.Sprint(names(t, c, "/r")); got != "[new renamed sub/]" {
		t.Fatalf("after SyncDir, got %s", got)
	}
	if got, _ := readFile(t, c, "/r/renamed"); got != "old" {
		t.Fatalf("renamed %q", got)
	}

	// A directory whose parent was never synced vanishes with its contents.
	m.MkdirAll("/other/x", 0o755)
	writeFile(t, m, "/other/x/f", "data", true)
	m.SyncDir("/other/x")
	m.SyncDir("/other")
	if _, err := m.CrashClone().Stat("/other"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("unsynced directory survived: %v", err)
	}
	m.SyncDir("/")
	if got, _ := readFile(t, m.CrashClone(), "/other/x/f"); got != "data" {
		t.Fatalf("synced chain: %q", got)
	}
}

// TestMemCrashAfterInPlaceChanges checks that the synced snapshot does not
// alias data changed after the Sync.
func TestMemCrashAfterInPlaceChanges(t *testing.T) {
	m := NewMem()
	f, _ := m.Create("/f")
	f.Write([]byte("0123456789"))
	f.Sync()
	m.SyncDir("/")
	f.WriteAt([]byte("XX"), 3)
	f.Truncate(2)
	f.Truncate(8)
	f.Write([]byte("tail")) // Create handle: offset 10
	if got, _ := readFile(t, m, "/f"); got != "01\x00\x00\x00\x00\x00\x00\x00\x00tail" {
		t.Fatalf("live %q", got)
	}
	if got, _ := readFile(t, m.CrashClone(), "/f"); got != "0123456789" {
		t.Fatalf("after crash %q, want the synced contents", got)
	}
	f.Sync()
	if got, _ := readFile(t, m.CrashClone(), "/f"); got != "01\x00\x00\x00\x00\x00\x00\x00\x00tail" {
		t.Fatalf("after second sync %q", got)
	}
}

func TestMemCrashKeepUnsyncedPrefix(t *testing.T) {
	m := NewMem()
	f, _ := m.Create("/seg")
	f.Write([]byte("synced|"))
	f.Sync()
	m.SyncDir("/")
	tail := bytes.Repeat([]byte("u"), 1000)
	f.Write(tail)

	lengths := map[int]bool{}
	for seed := int64(0); seed < 50; seed++ {
		opts := CrashCloneOptions{KeepUnsyncedPrefix: true, Seed: seed}
		got, _ := readFile(t, m.CrashCloneWith(opts), "/seg")
		if len(got) < 7 || got[:7] != "synced|" || got[7:] != string(tail[:len(got)-7]) {
			t.Fatalf("seed %d: %q is not synced data plus a prefix of the rest", seed, got)
		}
		again, _ := readFile(t, m.CrashCloneWith(opts), "/seg")
		if again != got {
			t.Fatalf("seed %d not reproducible", seed)
		}
		lengths[len(got)] = true
	}
	if len(lengths) < 10 {
		t.Fatalf("only %d distinct lengths over 50 seeds", len(lengths))
	}
	if got, _ := readFile(t, m.CrashClone(), "/seg"); got != "synced|" {
		t.Fatalf("default clone %q", got)
	}
}

func TestMemCrashReleasesLocks(t *testing.T) {
	m := NewMem()
	l, err := m.Lock("/LOCK")
	if err != nil {
		t.Fatal(err)
	}
	l.File().Write([]byte("pid 1"))
	l.File().Sync()
	m.SyncDir("/")
	c := m.CrashClone()
	if locked, err := c.IsLocked("/LOCK"); locked || err != nil {
		t.Fatalf("clone lock: %v %v", locked, err)
	}
	l2, err := c.Lock("/LOCK")
	if err != nil {
		t.Fatalf("lock in the clone: %v", err)
	}
	l2.Release()
	if locked, _ := m.IsLocked("/LOCK"); !locked {
		t.Fatal("the original lost its lock")
	}
	l.Release()
	if err := l.Release(); err == nil {
		t.Fatal("second Release succeeded")
	}
}

func TestMemPaths(t *testing.T) {
	m := NewMem()
	m.MkdirAll("a/b", 0o755)
	writeFile(t, m, "/a/b/../f", "x", false)
	if got, err := readFile(t, m, "a/f"); err != nil || got != "x" {
		t.Fatalf("relative and absolute paths differ: %q %v", got, err)
	}
	if _, err := m.Create("/"); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Create root: %v", err)
	}
	if err := m.Remove("/"); err == nil {
		t.Fatal("Remove root succeeded")
	}
	if fi, err := m.Stat("/../.."); err != nil || !fi.IsDir() {
		t.Fatalf("root escapes: %v %v", fi, err)
	}
}

func TestMemUnderErrorFS(t *testing.T) {
	m := NewMem()
	cd := &Countdown{Ops: []Op{OpSync}, N: 1}
	e := NewErrorFS(m, cd)
	f, _ := e.Create("/f")
	f.Write([]byte("data"))
	if err := f.Sync(); !errors.Is(err, ErrInjected) {
		t.Fatalf("Sync: %v", err)
	}
	f.Close()
	e.SyncDir("/")
	if got, _ := readFile(t, m.CrashClone(), "/f"); got != "" {
		t.Fatalf("a failed Sync made data durable: %q", got)
	}
}

// TestMemConcurrent hammers one MemFS from several goroutines; run it with
// -race. Each worker owns a directory; all share one lock file and crash
// clones are taken meanwhile.
func TestMemConcurrent(t *testing.T) {
	m := NewMem()
	const workers, rounds = 8, 200
	var holders, maxHolders atomic.Int32
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			dir := fmt.Sprintf("/w%d", w)
			if err := m.MkdirAll(dir, 0o755); err != nil {
				t.Error(err)
				return
			}
			for i := 0; i < rounds; i++ {
				name := filepath.Join(dir, fmt.Sprintf("f%d", i%5))
				m.Remove(name)
				f, err := m.Create(name)
				if err != nil {
					t.Error(err)
					return
				}
				f.Write([]byte("payload"))
				if i%3 == 0 {
					f.Sync()
				}
				f.Close()
				m.Rename(name, name+".done")
				m.SyncDir(dir)
				m.ReadDir(dir)
				if l, err := m.Lock("/LOCK"); err == nil {
					if n := holders.Add(1); n > maxHolders.Load() {
						maxHolders.Store(n)
					}
					l.File().WriteAt([]byte{byte(w)}, 0)
					holders.Add(-1)
					l.Release()
				} else if !errors.Is(err, ErrLocked) {
					t.Error(err)
				}
				if i%50 == 0 {
					c := m.CrashClone()
					c.ReadDir("/")
				}
			}
		}(w)
	}
	wg.Wait()
	if maxHolders.Load() > 1 {
		t.Fatalf("%d lock holders at once", maxHolders.Load())
	}
	for w := 0; w < workers; w++ {
		if got := len(names(t, m, fmt.Sprintf("/w%d", w))); got != 5 {
			t.Fatalf("worker %d left %d files", w, got)
		}
	}
}
