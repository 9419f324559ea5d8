//go:build unix

package vfs

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// lockFile takes a non-blocking exclusive flock. flock locks belong to the
// open file description, so they vanish with the process, however it dies:
// that is what lets a crashed run be resumed at once.
func lockFile(f *os.File) error {
	err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return fmt.Errorf("lock %s: %w", f.Name(), ErrLocked)
	}
	if err != nil {
		return fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return nil
}

func unlockFile(f *os.File) error {
	return unix.Flock(int(f.Fd()), unix.LOCK_UN)
}

// IsLocked reports whether anyone holds the lock on name. flock locks
// belong to open file descriptions, so a holder in this very process is
// seen too. It takes and drops a shared lock when nobody holds it.
func (OS) IsLocked(name string) (bool, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|oSafe, 0)
	if err != nil {
		return false, refuseSymlink("open", name, err)
	}
	if err := checkRegular(f, "open", name); err != nil {
		return false, err
	}
	defer f.Close()
	err = unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return false, nil
}
