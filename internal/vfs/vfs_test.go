package vfs

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestCountdown(t *testing.T) {
	// N == 0 only counts.
	c := &Countdown{Ops: []Op{OpWrite}}
	for range 5 {
		if err := c.MaybeError(OpWrite, "f"); err != nil {
			t.Fatal(err)
		}
		if err := c.MaybeError(OpSync, "f"); err != nil {
			t.Fatal(err)
		}
	}
	if c.Count() != 5 || c.Fired() {
		t.Fatalf("count %d fired %v", c.Count(), c.Fired())
	}

	// The N-th matching op fails once; others pass.
	c = &Countdown{Ops: []Op{OpSync, OpWrite}, N: 3, Err: syscall.ENOSPC}
	var fails []int
	for i := 1; i <= 6; i++ {
		if err := c.MaybeError(OpWrite, "/d/f"); err != nil {
			if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "/d/f") || !strings.Contains(err.Error(), "write") {
				t.Fatalf("error %v", err)
			}
			fails = append(fails, i)
		}
		if err := c.MaybeError(OpRead, "/d/f"); err != nil {
			t.Fatalf("unmatched op failed: %v", err)
		}
	}
	if fmt.Sprint(fails) != "[3]" || !c.Fired() {
		t.Fatalf("failed at %v", fails)
	}

	// Sticky: the N-th and every later one; default error ErrInjected.
	c = &Countdown{N: 2, Sticky: true}
	fails = nil
	for i := 1; i <= 4; i++ {
		if err := c.MaybeError(Op(i%int(numOps)), "f"); err != nil {
			if !errors.Is(err, ErrInjected) {
				t.Fatal(err)
			}
			fails = append(fails, i)
		}
	}
	if fmt.Sprint(fails) != "[2 3 4]" {
		t.Fatalf("sticky failed at %v", fails)
	}
}

func TestErrorFSShortWrite(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "f")
	fsys := NewErrorFS(OS{}, &Countdown{Ops: []Op{OpWrite}, N: 2, Err: fmt.Errorf("%w: %w", ErrShortWrite, syscall.ENOSPC)})
	f, err := fsys.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("0123")); err != nil {
		t.Fatal(err)
	}
	n, err := f.Write([]byte("abcdefgh"))
	if n != 4 || !errors.Is(err, ErrShortWrite) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("short write: %d, %v", n, err)
	}
	if n, err := f.Write([]byte("xy")); n != 2 || err != nil {
		t.Fatalf("write after a non-sticky fault: %d, %v", n, err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(name); string(b) != "0123abcdxy" {
		t.Fatalf("file holds %q", b)
	}
}

func TestErrorFSOps(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "f")
	if err := os.WriteFile(name, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		op  Op
		run func(FS) error
	}{
		{OpCreate, func(fsys FS) error { _, err := fsys.Create(filepath.Join(dir, "new")); return err }},
		{OpOpen, func(fsys FS) error { _, err := fsys.Open(name); return err }},
		{OpOpenReadWrite, func(fsys FS) error { _, err := fsys.OpenReadWrite(name); return err }},
		{OpStat, func(fsys FS) error { _, err := fsys.Stat(name); return err }},
		{OpReadDir, func(fsys FS) error { _, err := fsys.ReadDir(dir); return err }},
		{OpSyncDir, func(fsys FS) error { return fsys.SyncDir(dir) }},
		{OpMkdirAll, func(fsys FS) error { return fsys.MkdirAll(filepath.Join(dir, "a/b"), 0o755) }},
		{OpRename, func(fsys FS) error { return fsys.Rename(name, name+"2") }},
		{OpRemove, func(fsys FS) error { return fsys.Remove(name) }},
		{OpLock, func(fsys FS) error { _, err := fsys.Lock(filepath.Join(dir, "LOCK")); return err }},
		{OpRead, func(fsys FS) error {
			f, err := fsys.Open(name)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.ReadAt(make([]byte, 2), 0)
			return err
		}},
		{OpTruncate, func(fsys FS) error {
			f, err := fsys.OpenReadWrite(name)
			if err != nil {
				return err
			}
			defer f.Close()
			return f.Truncate(1)
		}},
	} {
		t.Run(tc.op.String(), func(t *testing.T) {
			fsys := NewErrorFS(OS{}, &Countdown{Ops: []Op{tc.op}, N: 1})
			if err := tc.run(fsys); !errors.Is(err, ErrInjected) {
				t.Fatalf("%v: %v", tc.op, err)
			}
			// Nothing happened underneath.
			if b, err := os.ReadFile(name); err != nil || string(b) != "data" {
				t.Fatalf("file after injected %v: %q %v", tc.op, b, err)
			}
		})
	}
}

func TestOpString(t *testing.T) {
	if OpSyncDir.String() != "syncdir" || Op(200).String() != "op(200)" {
		t.Fatal(OpSyncDir.String(), Op(200).String())
	}
}

// TestOSLockAcrossProcesses holds the lock in a child process: the parent
// sees it held and cannot take it; once the child dies (as in kill -9) the
// lock is free at once, which is what makes a crashed run resumable.
func TestOSLockAcrossProcesses(t *testing.T) {
	if path := os.Getenv("VFS_TEST_HOLD_LOCK"); path != "" {
		if _, err := (OS{}).Lock(path); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("locked")
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	path := filepath.Join(t.TempDir(), "LOCK")
	cmd := exec.Command(os.Args[0], "-test.run=^TestOSLockAcrossProcesses$")
	cmd.Env = append(os.Environ(), "VFS_TEST_HOLD_LOCK="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "locked" {
		t.Fatalf("child: %q", line)
	}
	if locked, err := (OS{}).IsLocked(path); !locked || err != nil {
		t.Fatalf("IsLocked while the child holds it: %v %v", locked, err)
	}
	if _, err := (OS{}).Lock(path); !errors.Is(err, ErrLocked) {
		t.Fatalf("Lock while the child holds it: %v", err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if locked, err := (OS{}).IsLocked(path); locked || err != nil {
		t.Fatalf("IsLocked after the child died: %v %v", locked, err)
	}
	l, err := (OS{}).Lock(path)
	if err != nil {
		t.Fatalf("Lock after the child died: %v", err)
	}
	if _, err := l.File().Write([]byte("pid")); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
}
