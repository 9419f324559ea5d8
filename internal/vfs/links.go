package vfs

import "io/fs"

// Nlink returns the number of directory entries (hard links) naming the
// file fi describes, and whether fi reports one at all. A file open under
// a writer whose every name was removed — deleted by hand, or its whole
// directory removed — reports 0 from the Stat of its open handle while the
// writer still holds it, which is how the engine notices that the files it
// writes are gone (engine.ErrFilesRemoved).
//
// The operating system's count comes from fstat (Sys, a *syscall.Stat_t on
// Unix); MemFS, which has no hard links, reports 1 for a linked file and 0
// for a removed one. An FS that reports neither returns false.
func Nlink(fi fs.FileInfo) (uint64, bool) {
	if l, ok := fi.(interface{ Nlink() uint64 }); ok {
		return l.Nlink(), true
	}
	return sysNlink(fi.Sys())
}
