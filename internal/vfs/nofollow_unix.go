//go:build unix

package vfs

import "syscall"

// oNoFollow makes open(2) fail, instead of following, when the final
// component of the name is a symbolic link.
const oNoFollow = syscall.O_NOFOLLOW

// oNonBlock makes open(2) return at once on a FIFO with no writer (or a
// device that would wait), which checkRegular then refuses. It has no
// effect on regular files: their reads and writes never block on it.
const oNonBlock = syscall.O_NONBLOCK
