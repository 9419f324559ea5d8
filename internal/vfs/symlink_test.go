package vfs

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOSRefusesSymlinks plants a symlink at the name each OS operation
// opens, pointing at a file outside the directory (present with known
// bytes, or absent), and checks the operation is refused with ErrSymlink
// and the target is neither written nor created.
func TestOSRefusesSymlinks(t *testing.T) {
	ops := []struct {
		name string
		op   string // as the error names it
		do   func(name string) error
	}{
		{"Create", "create", func(name string) error {
			f, err := OS{}.Create(name)
			if err == nil {
				f.Write([]byte("written through the link"))
				f.Close()
			}
			return err
		}},
		{"Open", "open", func(name string) error {
			f, err := OS{}.Open(name)
			if err == nil {
				f.Close()
			}
			return err
		}},
		{"OpenReadWrite", "open", func(name string) error {
			f, err := OS{}.OpenReadWrite(name)
			if err == nil {
				f.Write([]byte("written through the link"))
				f.Close()
			}
			return err
		}},
		{"Lock", "lock", func(name string) error {
			l, err := OS{}.Lock(name)
			if err == nil {
				l.File().WriteAt([]byte("owner record"), 0)
				l.Release()
			}
			return err
		}},
		{"IsLocked", "open", func(name string) error {
			_, err := OS{}.IsLocked(name)
			return err
		}},
		{"Stat", "stat", func(name string) error {
			_, err := OS{}.Stat(name)
			return err
		}},
	}
	const before = "outside, not to be touched"
	for _, o := range ops {
		for _, dangling := range []bool{false, true} {
			label := o.name + "/existing"
			if dangling {
				label = o.name + "/dangling"
			}
			t.Run(label, func(t *testing.T) {
				outside := t.TempDir()
				target := filepath.Join(outside, "target")
				if !dangling {
					if err := os.WriteFile(target, []byte(before), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				dir := t.TempDir()
				link := filepath.Join(dir, "LOCK")
				if err := os.Symlink(target, link); err != nil {
					t.Fatal(err)
				}
				err := o.do(link)
				switch want := "vfs: " + o.op + " " + link + ": is a symbolic link, refused"; {
				case !errors.Is(err, ErrSymlink):
					t.Errorf("%s through a symlink: err %v, want ErrSymlink", o.name, err)
				case errors.Is(err, fs.ErrExist) || errors.Is(err, fs.ErrNotExist):
					t.Errorf("error %v also reads as exist/not-exist", err)
				case !strings.HasPrefix(err.Error(), want):
					t.Errorf("error %q, want it to start %q", err, want)
				}
				b, rerr := os.ReadFile(target)
				switch {
				case dangling && !errors.Is(rerr, fs.ErrNotExist):
					t.Errorf("dangling target was created (%q, %v)", b, rerr)
				case !dangling && !bytes.Equal(b, []byte(before)):
					t.Errorf("target now %q (%v), want %q", b, rerr, before)
				}
				if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
					t.Errorf("the link itself changed: %v %v", fi, err)
				}
			})
		}
	}
}

// TestOSStatFollowsDirectoryLinks: a directory may be reached through a
// symlink (a data directory on another disk); only files may not.
func TestOSStatFollowsDirectoryLinks(t *testing.T) {
	real := t.TempDir()
	link := filepath.Join(t.TempDir(), "runs")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	fi, err := OS{}.Stat(link)
	if err != nil || !fi.IsDir() {
		t.Fatalf("stat of a link to a directory: %v, %v", fi, err)
	}
	// Files below a linked directory are reached normally.
	name := filepath.Join(link, "LOCK")
	l, err := OS{}.Lock(name)
	if err != nil {
		t.Fatal(err)
	}
	l.Release()
	if _, err := os.Stat(filepath.Join(real, "LOCK")); err != nil {
		t.Fatal(err)
	}
	if _, err := (OS{}).Stat(name); err != nil {
		t.Fatal(err)
	}
	// A plain missing file is still fs.ErrNotExist.
	if _, err := (OS{}).Stat(filepath.Join(real, "nope")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("stat of a missing file: %v", err)
	}
	if _, err := (OS{}).Open(filepath.Join(real, "nope")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("open of a missing file: %v", err)
	}
	if _, err := (OS{}).Create(filepath.Join(real, "LOCK")); !errors.Is(err, fs.ErrExist) || errors.Is(err, ErrSymlink) {
		t.Fatalf("create of an existing file: %v", err)
	}
}
