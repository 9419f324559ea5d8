//go:build unix

package vfs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// notRegularTimeout bounds each operation on a FIFO: open(2) of a FIFO
// without O_NONBLOCK waits for a writer forever, so a regression fails
// here instead of hanging the test binary.
const notRegularTimeout = 5 * time.Second

// withTimeout runs do and fails the test if it does not return within
// notRegularTimeout. On a timeout it opens fifo for writing, which releases
// a read-only open blocked on it, so the goroutine does not outlive the test.
func withTimeout(t *testing.T, fifo string, do func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- do() }()
	select {
	case err := <-done:
		return err
	case <-time.After(notRegularTimeout):
		if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
		<-done
		t.Fatalf("did not return within %v: open(2) blocked on the FIFO", notRegularTimeout)
		return nil
	}
}

// TestOSRefusesNotRegular plants a FIFO, then a directory, at the name each
// OS operation opens: every one returns at once with an error naming the
// path, and those that open it say ErrNotRegular (Create, whose O_EXCL
// finds the name taken, says fs.ErrExist).
func TestOSRefusesNotRegular(t *testing.T) {
	ops := []struct {
		name string
		do   func(name string) error
		// exist: the operation fails because the name exists at all.
		exist bool
	}{
		{name: "Create", exist: true, do: func(name string) error {
			f, err := OS{}.Create(name)
			if err == nil {
				f.Close()
			}
			return err
		}},
		{name: "Open", do: func(name string) error {
			f, err := OS{}.Open(name)
			if err == nil {
				f.Close()
			}
			return err
		}},
		{name: "OpenReadWrite", do: func(name string) error {
			f, err := OS{}.OpenReadWrite(name)
			if err == nil {
				f.Close()
			}
			return err
		}},
		{name: "Lock", do: func(name string) error {
			l, err := OS{}.Lock(name)
			if err == nil {
				l.Release()
			}
			return err
		}},
		{name: "IsLocked", do: func(name string) error {
			_, err := OS{}.IsLocked(name)
			return err
		}},
	}
	plants := []struct {
		kind  string // as the error names it
		plant func(t *testing.T, name string)
	}{
		{"named pipe (FIFO)", func(t *testing.T, name string) {
			if err := syscall.Mkfifo(name, 0o644); err != nil {
				t.Skipf("mkfifo: %v", err)
			}
		}},
		{"directory", func(t *testing.T, name string) {
			if err := os.Mkdir(name, 0o755); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, p := range plants {
		for _, op := range ops {
			t.Run(p.kind+"/"+op.name, func(t *testing.T) {
				name := filepath.Join(t.TempDir(), "00000001-0000000000000001.seg")
				p.plant(t, name)
				start := time.Now()
				err := withTimeout(t, name, func() error { return op.do(name) })
				if err == nil {
					t.Fatalf("%s of a %s succeeded", op.name, p.kind)
				}
				if !strings.Contains(err.Error(), name) {
					t.Errorf("error does not name the path: %v", err)
				}
				if op.exist {
					if !errors.Is(err, fs.ErrExist) {
						t.Errorf("want fs.ErrExist, got %v", err)
					}
				} else {
					if !errors.Is(err, ErrNotRegular) {
						t.Errorf("want ErrNotRegular, got %v", err)
					}
					if !strings.Contains(err.Error(), p.kind) {
						t.Errorf("error does not say it is a %s: %v", p.kind, err)
					}
				}
				if d := time.Since(start); d > notRegularTimeout/2 {
					t.Errorf("took %v", d)
				}
				fi, lerr := os.Lstat(name)
				if lerr != nil || fi.Mode().IsRegular() {
					t.Errorf("the %s was replaced: %v %v", p.kind, fi, lerr)
				}
			})
		}
	}
}

// A regular file opens as before, O_NONBLOCK and all: reads, writes and
// the lock work.
func TestOSRegularFileStillOpens(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "f")
	f, err := OS{}.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if f, err = (OS{}).OpenReadWrite(name); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("def")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if f, err = (OS{}).Open(name); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	if _, err := f.ReadAt(b, 0); err != nil || string(b) != "abcdef" {
		t.Fatalf("read %q, %v", b, err)
	}
	f.Close()
	lock := filepath.Join(dir, "LOCK")
	l, err := OS{}.Lock(lock)
	if err != nil {
		t.Fatal(err)
	}
	if held, err := (OS{}).IsLocked(lock); err != nil || !held {
		t.Fatalf("IsLocked = %v, %v", held, err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
}
