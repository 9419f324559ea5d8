package vfs

import (
	"errors"
	"fmt"
	"io/fs"
	"sync"
)

// Op names a file-system operation, for fault injection.
type Op uint8

// The operations ErrorFS can fail.
const (
	OpCreate Op = iota
	OpOpen
	OpOpenReadWrite
	OpRead
	OpWrite
	OpSync
	OpClose
	OpTruncate
	OpStat
	OpRename
	OpRemove
	OpMkdirAll
	OpReadDir
	OpSyncDir
	OpLock
	numOps
)

var opNames = [numOps]string{
	"create", "open", "open-rw", "read", "write", "sync", "close", "truncate",
	"stat", "rename", "remove", "mkdir", "readdir", "syncdir", "lock",
}

func (o Op) String() string {
	if o < numOps {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// ErrShortWrite, when an injector returns an error wrapping it for OpWrite,
// makes the write store the first half of its bytes before failing: the
// shape of a write cut by ENOSPC or a crash.
var ErrShortWrite = errors.New("vfs: short write")

// Injector decides whether an operation fails. A nil error lets it through.
type Injector interface {
	MaybeError(op Op, path string) error
}

// InjectorFunc adapts a function to Injector.
type InjectorFunc func(op Op, path string) error

// MaybeError implements Injector.
func (f InjectorFunc) MaybeError(op Op, path string) error { return f(op, path) }

// Countdown fails the n-th operation (counting from 1) that matches Ops
// (all operations when Ops is empty), and, when Sticky, every matching one
// after it. With N == 0 it never fails and only counts, which is how a test
// learns how many call sites a workload has before sweeping over them.
type Countdown struct {
	Ops    []Op
	N      int
	Err    error
	Sticky bool

	mu    sync.Mutex
	count int
	fired bool
}

// MaybeError implements Injector.
func (c *Countdown) MaybeError(op Op, path string) error {
	if len(c.Ops) > 0 {
		match := false
		for _, o := range c.Ops {
			match = match || o == op
		}
		if !match {
			return nil
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.count++
	if c.N == 0 || (c.count < c.N) || (c.fired && !c.Sticky) {
		return nil
	}
	c.fired = true
	err := c.Err
	if err == nil {
		err = ErrInjected
	}
	return fmt.Errorf("%s %s (call %d): %w", op, path, c.count, err)
}

// Count returns how many matching operations were seen.
func (c *Countdown) Count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.count
}

// Fired reports whether the fault was injected.
func (c *Countdown) Fired() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fired
}

// ErrorFS wraps an FS and fails the operations its Injector picks.
type ErrorFS struct {
	inner FS
	inj   Injector
}

// NewErrorFS returns an FS that consults inj before each operation on inner.
func NewErrorFS(inner FS, inj Injector) *ErrorFS { return &ErrorFS{inner: inner, inj: inj} }

var _ FS = (*ErrorFS)(nil)

func (e *ErrorFS) Create(name string) (File, error) {
	if err := e.inj.MaybeError(OpCreate, name); err != nil {
		return nil, err
	}
	f, err := e.inner.Create(name)
	if err != nil {
		return nil, err
	}
	return &errorFile{File: f, inj: e.inj}, nil
}

func (e *ErrorFS) Open(name string) (File, error) {
	if err := e.inj.MaybeError(OpOpen, name); err != nil {
		return nil, err
	}
	f, err := e.inner.Open(name)
	if err != nil {
		return nil, err
	}
	return &errorFile{File: f, inj: e.inj}, nil
}

func (e *ErrorFS) OpenReadWrite(name string) (File, error) {
	if err := e.inj.MaybeError(OpOpenReadWrite, name); err != nil {
		return nil, err
	}
	f, err := e.inner.OpenReadWrite(name)
	if err != nil {
		return nil, err
	}
	return &errorFile{File: f, inj: e.inj}, nil
}

func (e *ErrorFS) Rename(oldname, newname string) error {
	if err := e.inj.MaybeError(OpRename, newname); err != nil {
		return err
	}
	return e.inner.Rename(oldname, newname)
}

func (e *ErrorFS) Remove(name string) error {
	if err := e.inj.MaybeError(OpRemove, name); err != nil {
		return err
	}
	return e.inner.Remove(name)
}

func (e *ErrorFS) MkdirAll(dir string, perm fs.FileMode) error {
	if err := e.inj.MaybeError(OpMkdirAll, dir); err != nil {
		return err
	}
	return e.inner.MkdirAll(dir, perm)
}

func (e *ErrorFS) ReadDir(dir string) ([]fs.DirEntry, error) {
	if err := e.inj.MaybeError(OpReadDir, dir); err != nil {
		return nil, err
	}
	return e.inner.ReadDir(dir)
}

func (e *ErrorFS) Stat(name string) (fs.FileInfo, error) {
	if err := e.inj.MaybeError(OpStat, name); err != nil {
		return nil, err
	}
	return e.inner.Stat(name)
}

func (e *ErrorFS) SyncDir(dir string) error {
	if err := e.inj.MaybeError(OpSyncDir, dir); err != nil {
		return err
	}
	return e.inner.SyncDir(dir)
}

func (e *ErrorFS) Lock(name string) (Locker, error) {
	if err := e.inj.MaybeError(OpLock, name); err != nil {
		return nil, err
	}
	return e.inner.Lock(name)
}

func (e *ErrorFS) IsLocked(name string) (bool, error) { return e.inner.IsLocked(name) }

type errorFile struct {
	File
	inj Injector
}

func (f *errorFile) Read(p []byte) (int, error) {
	if err := f.inj.MaybeError(OpRead, f.Name()); err != nil {
		return 0, err
	}
	return f.File.Read(p)
}

func (f *errorFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.inj.MaybeError(OpRead, f.Name()); err != nil {
		return 0, err
	}
	return f.File.ReadAt(p, off)
}

func (f *errorFile) Write(p []byte) (int, error) {
	if err := f.inj.MaybeError(OpWrite, f.Name()); err != nil {
		if errors.Is(err, ErrShortWrite) && len(p) > 1 {
			n, werr := f.File.Write(p[:len(p)/2])
			if werr != nil {
				return n, werr
			}
			return n, err
		}
		return 0, err
	}
	return f.File.Write(p)
}

func (f *errorFile) Sync() error {
	if err := f.inj.MaybeError(OpSync, f.Name()); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *errorFile) Close() error {
	if err := f.inj.MaybeError(OpClose, f.Name()); err != nil {
		f.File.Close()
		return err
	}
	return f.File.Close()
}

func (f *errorFile) Truncate(size int64) error {
	if err := f.inj.MaybeError(OpTruncate, f.Name()); err != nil {
		return err
	}
	return f.File.Truncate(size)
}

func (f *errorFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.inj.MaybeError(OpWrite, f.Name()); err != nil {
		return 0, err
	}
	return f.File.WriteAt(p, off)
}
