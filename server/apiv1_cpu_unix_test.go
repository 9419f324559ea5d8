//go:build unix

package server

import (
	"syscall"
	"time"
)

// v1ProcessCPU is the user+system CPU time the process has used.
func v1ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
