package vfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"syscall"
)

// OS implements FS with the os package.
type OS struct{}

var _ FS = OS{}

// Every open below carries O_NOFOLLOW: a final component that is a symbolic
// link is refused with ErrSymlink, never followed; and O_NONBLOCK, with the
// file then refused unless it is a regular one (see the package doc).

// oSafe are the flags every open adds.
const oSafe = oNoFollow | oNonBlock

func (OS) Create(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL|oSafe, 0o644)
	return opened(f, "create", name, err)
}

func (OS) Open(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|oSafe, 0)
	return opened(f, "open", name, err)
}

func (OS) OpenReadWrite(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_APPEND|oSafe, 0)
	return opened(f, "open", name, err)
}

// opened returns f, or the error of opening name, told apart as ErrSymlink
// when name is a symbolic link and as ErrNotRegular when it is not a
// regular file.
func opened(f *os.File, op, name string, err error) (File, error) {
	if err != nil {
		return nil, refuseSymlink(op, name, err)
	}
	if err := checkRegular(f, op, name); err != nil {
		return nil, err
	}
	return f, nil
}

// checkRegular fstats f, just opened as name, and closes it and returns an
// ErrNotRegular error unless it is a regular file. The fstat is of what was
// opened, not of the name, so a file swapped in after the open cannot slip
// past it.
func checkRegular(f *os.File, op, name string) error {
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("vfs: %s %s: %w", op, name, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return fmt.Errorf("vfs: %s %s: is a %s, not a regular file, refused: %w", op, name, fileKind(fi.Mode()), ErrNotRegular)
	}
	return nil
}

// fileKind names the type of a file that is not a regular one.
func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "device"
	case m.IsDir():
		return "directory"
	}
	return "file of type " + m.Type().String()
}

// refuseSymlink turns err, the failure of an O_NOFOLLOW open of name, into
// an ErrSymlink error when name is a symbolic link. The errno does not tell:
// Linux says ELOOP, FreeBSD EMLINK, NetBSD EFTYPE, and with O_EXCL any of
// them says EEXIST, so Lstat is asked instead. A directory opened for
// writing (EISDIR) is refused as checkRegular refuses one opened to read.
func refuseSymlink(op, name string, err error) error {
	if fi, lerr := os.Lstat(name); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return symlinkError(op, name)
	}
	if errors.Is(err, syscall.EISDIR) {
		return fmt.Errorf("vfs: %s %s: is a directory, not a regular file, refused: %w", op, name, ErrNotRegular)
	}
	return err
}

func symlinkError(op, name string) error {
	return fmt.Errorf("vfs: %s %s: is a symbolic link, refused: %w", op, name, ErrSymlink)
}

func (OS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }
func (OS) Remove(name string) error             { return os.Remove(name) }

func (OS) MkdirAll(dir string, perm fs.FileMode) error { return os.MkdirAll(dir, perm) }

func (OS) ReadDir(dir string) ([]fs.DirEntry, error) {
	entries, err := os.ReadDir(dir)
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	return entries, err
}

// Stat does not follow a final symbolic link to a file: it fails with
// ErrSymlink, as opening it would, so a caller never trusts the size or
// mode of a file it could not open. A link to a directory is followed,
// since a run or data directory may live on another disk behind one.
func (OS) Stat(name string) (fs.FileInfo, error) {
	fi, err := os.Lstat(name)
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		return fi, err
	}
	if fi, err := os.Stat(name); err == nil && fi.IsDir() {
		return fi, nil
	}
	return nil, symlinkError("stat", name)
}

func (OS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}

func (OS) Lock(name string) (Locker, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|oSafe, 0o644)
	if err != nil {
		return nil, refuseSymlink("lock", name, err)
	}
	if err := checkRegular(f, "lock", name); err != nil {
		return nil, err
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, err
	}
	return &osLocker{f: f}, nil
}

type osLocker struct{ f *os.File }

func (l *osLocker) File() File { return l.f }

func (l *osLocker) Release() error {
	uerr := unlockFile(l.f)
	cerr := l.f.Close()
	if uerr != nil {
		return uerr
	}
	return cerr
}
