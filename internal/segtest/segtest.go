// Package segtest holds helpers for tests that damage or forge segment
// files: what a test needs to know of the on-disk layout that the segment
// package owns (see its package doc), kept in one place.
package segtest

import (
	"encoding/binary"

	"github.com/cespare/xxhash/v2"
)

// SetMajor rewrites the file header at the start of b as a header of
// format major m, checksummed as a real segment of that major would be:
// readers must refuse it by version, not take it for damage. (Flipping the
// major field alone leaves a header that verifies as this build's major,
// which readers treat as damage and read on.)
func SetMajor(b []byte, m uint16) {
	binary.LittleEndian.PutUint16(b[8:], m)
	n := binary.LittleEndian.Uint32(b[12:])
	binary.LittleEndian.PutUint64(b[n-8:], xxhash.Sum64(b[:n-8]))
}
