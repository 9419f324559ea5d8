// Package vfs is the file-system seam under the storage engine.
//
// Every byte the engine reads or writes goes through an FS, so tests can swap
// the operating system for an implementation that injects faults (ErrorFS)
// or forgets everything that was not fsynced (MemFS with CrashClone). The
// interface is deliberately small: the operations an append-only,
// log-structured store needs, and nothing else.
//
// The OS FS never follows a symbolic link at the final component of a name.
// Create, Open, OpenReadWrite, Lock and IsLocked open with O_NOFOLLOW; they
// and Stat (of a link to anything but a directory) fail with an error that
// names the path and satisfies errors.Is(err, ErrSymlink). Every file the
// engine touches (LOCK, segments, the index and its temp file, marks, saved
// torn tails) lives in a run directory that a server exposes to the
// network, so a link planted there would otherwise make a request create
// or overwrite a file anywhere the process may write. Rename and Remove act
// on the link itself, never its target. Directories may still be reached
// through links: confining a run directory to the data directory is the
// caller's job.
//
// Nor does it open anything but a regular file. Every open adds O_NONBLOCK
// (no effect on a regular file), so that a FIFO planted at a segment or
// LOCK name cannot make open(2) wait forever for a writer, and then fstats
// what it opened: a FIFO, device, socket or directory is closed again and
// refused with an error that names the path, says what it is and
// satisfies errors.Is(err, ErrNotRegular).
package vfs

import (
	"errors"
	"io"
	"io/fs"
)

// File is an open file. Writes always append at the current offset, which
// for files opened by Create starts at zero.
type File interface {
	io.Reader
	io.ReaderAt
	io.Writer
	// WriterAt writes in place; only files not opened for appending
	// support it (the LOCK file's owner record is rewritten this way).
	io.WriterAt
	io.Closer
	// Sync makes the file's contents durable (fsync).
	Sync() error
	Stat() (fs.FileInfo, error)
	// Truncate changes the size of the file; the offset is not moved.
	Truncate(size int64) error
	// Name returns the path the file was opened with.
	Name() string
}

// FS is the set of file-system operations the engine uses.
type FS interface {
	// Create creates a new file for reading and writing. It fails with
	// fs.ErrExist when the file already exists.
	Create(name string) (File, error)
	// Open opens an existing file read-only.
	Open(name string) (File, error)
	// OpenReadWrite opens an existing file for reading and writing, with the
	// write offset at the end of the file.
	OpenReadWrite(name string) (File, error)
	// Rename atomically replaces newname with oldname.
	Rename(oldname, newname string) error
	Remove(name string) error
	MkdirAll(dir string, perm fs.FileMode) error
	// ReadDir lists a directory, sorted by name.
	ReadDir(dir string) ([]fs.DirEntry, error)
	Stat(name string) (fs.FileInfo, error)
	// SyncDir fsyncs a directory, making creations, renames and removals of
	// its entries durable.
	SyncDir(dir string) error
	// Lock takes an exclusive advisory lock on name (creating the file if
	// needed) without blocking. It fails with an error satisfying
	// errors.Is(err, ErrLocked) when another holder has it. The lock is held
	// until the returned Locker is released or the process dies.
	Lock(name string) (Locker, error)
	// IsLocked reports whether some holder, in this process or another,
	// has the lock on name. It never takes the lock for longer than the
	// check.
	IsLocked(name string) (bool, error)
}

// Locker is a held lock, together with the file that carries it, so the
// holder can record who it is.
type Locker interface {
	// File is the locked file, open for reading and writing.
	File() File
	// Release unlocks and closes the file. The file is not removed.
	Release() error
}

// ErrLocked reports that a lock is held by someone else.
var ErrLocked = errors.New("vfs: file is locked")

// ErrSymlink reports that the OS FS refused a name whose final component
// is a symbolic link.
var ErrSymlink = errors.New("vfs: file is a symlink")

// ErrNotRegular reports that the OS FS refused a name that is not a
// regular file: a FIFO, a device, a socket, a directory.
var ErrNotRegular = errors.New("vfs: not a regular file")

// ErrInjected is the error ErrorFS returns where no specific error was
// configured.
var ErrInjected = errors.New("vfs: injected fault")

// Default is the operating system's file system.
var Default FS = OS{}
