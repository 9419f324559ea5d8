//go:build unix

package vfs

import "syscall"

// sysNlink reads st_nlink from an os.FileInfo's Sys.
func sysNlink(sys any) (uint64, bool) {
	st, ok := sys.(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return uint64(st.Nlink), true
}
