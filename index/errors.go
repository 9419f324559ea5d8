package index

import (
	"errors"
	"fmt"
)

var (
	// ErrCorrupt marks an index file that fails its checks: bad magic,
	// wrong length, checksum mismatch, or contents that do not parse. Test
	// for it with errors.Is; the error itself is a *CorruptionError.
	ErrCorrupt = errors.New("index: corrupt index file")
	// ErrUnknownVersion reports an intact index file whose major format
	// version this build cannot read.
	ErrUnknownVersion = errors.New("index: unknown format version")
)

// CorruptionError says where an index file is damaged. It satisfies
// errors.Is(err, ErrCorrupt) and unwraps to the specific cause.
type CorruptionError struct {
	// File is the path of the file, empty when the bytes did not come from
	// a file (Unmarshal).
	File string
	// Offset is the byte offset of the damage, or -1 when it is not known.
	Offset int64
	Err    error
}

func (e *CorruptionError) Error() string {
	file := e.File
	if file == "" {
		file = "(bytes)"
	}
	if e.Offset < 0 {
		return fmt.Sprintf("index: corrupt index %s: %v", file, e.Err)
	}
	return fmt.Sprintf("index: corrupt index %s at offset %d: %v", file, e.Offset, e.Err)
}

// Unwrap returns the specific cause.
func (e *CorruptionError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrCorrupt) hold.
func (e *CorruptionError) Is(target error) bool { return target == ErrCorrupt }

func corruptf(off int, format string, args ...any) error {
	return &CorruptionError{Offset: int64(off), Err: fmt.Errorf(format, args...)}
}
