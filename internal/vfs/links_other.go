//go:build !unix

package vfs

// sysNlink: this platform's FileInfo carries no link count.
func sysNlink(any) (uint64, bool) { return 0, false }
