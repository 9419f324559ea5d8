//go:build unix

package vfs

import "syscall"

// oNoFollow makes open(2) fail, instead of following, when the final
// component of the name is a symbolic link.
const oNoFollow = syscall.O_NOFOLLOW
