// Package index keeps a run's field index: which blocks hold each field's
// points (a roaring bitmap of block ordinals), a summary per field (count,
// step range, last value, last write time), the tables of segments and
// blocks those ordinals point into, and an opaque snapshot of the engine's
// state.
//
// The index is a cache (DESIGN.md invariant 4): everything in it can be
// derived from the segment files. The engine validates it against the
// segments on disk, replays what it does not cover (bytes past each
// segment's Covered length, segments it does not list), and rebuilds it from
// scratch when it is missing, stale or damaged. This package never decides
// whether an index is stale; it only guarantees that a file it accepts is
// exactly the file that was written (xxhash64 over every byte) and is
// internally consistent (every block names a segment of the table, every
// bitmap names blocks of the table, every segment name is a plain file
// name).
//
// Each writer of a run indexes its own segment stream in its own file
// (FileNameOf): "index" for writer 1, the primary writer, and
// "<writer, 8 hex digits>.index" for any other, so writers never share a
// file and none waits for another. The file is written once per Close by
// WriteFileOf, atomically: temp file, fsync, rename over the name, fsync
// of the directory.
//
// # File format, version 1.0
//
// All integers are little-endian. uvarint and varint are
// encoding/binary's unsigned and zig-zag signed varints; f64 is the IEEE 754
// bit pattern as a u64 (NaN payloads and -0 are kept exactly).
//
// The header and the trailer are frozen for every version, so any reader can
// tell a damaged file (ErrCorrupt) from an intact one it is too old to read
// (ErrUnknownVersion):
//
//	offset  size
//	     0     8  magic "GSEEDIDX"
//	     8     2  major version (1); a reader refuses other majors
//	    10     2  minor version (0); later minors only add sections
//	    12     4  flags, reserved: written 0, ignored by 1.x readers
//	    16     8  total file length in bytes, trailer included
//	    24     …  sections
//	  N-8      8  xxhash64 of bytes [0, N-8)
//
// A section is a tag byte, a uvarint payload length and the payload:
//
//	+-----+-----------------+---------------------+
//	| tag | length uvarint  | payload (length B)  |
//	+-----+-----------------+---------------------+
//
// Version 1.0 writes the five sections below once each, in tag order. A 1.x
// reader requires them in that order, skips sections with tags above 5
// (added by later minors), and refuses a payload it does not consume
// exactly.
//
//	tag 1 run       run id, raw bytes (the whole payload)
//
//	tag 2 segments  uvarint count, then per segment:
//	                  uvarint name length, name bytes (plain file name)
//	                  uvarint writer id (≤ 2^32-1)
//	                  uvarint seq
//	                  uvarint covered length (≤ 2^63-1)
//	                  u8 sealed (0 or 1)
//
//	tag 3 blocks    uvarint count, then per block, in ordinal order, each
//	                value relative to the previous block p (all zero for
//	                the first); differences wrap in 64 bits:
//	                  uvarint segment (position in the segment table)
//	                  varint  offset − (p.offset + p.size)
//	                  uvarint size
//	                  varint  firstSeq − p.lastSeq
//	                  varint  lastSeq − firstSeq
//	                  varint  minTimeMs − p.minTimeMs
//	                  varint  maxTimeMs − minTimeMs
//
//	tag 4 fields    uvarint count, then per field, by ascending id:
//	                  uvarint id − previous id (the first: the id; then ≥ 1)
//	                  u8      kind
//	                  uvarint count of points written
//	                  f64     min step
//	                  f64     max step
//	                  f64     last step
//	                  f64     last value
//	                  varint  last time ms
//	                  uvarint bitmap length B
//	                  B bytes roaring bitmap, portable format, run-optimized;
//	                          every ordinal < block count
//
//	tag 5 state     the engine's state snapshot, raw bytes (the whole payload)
//
// Checks run cheapest first: length, magic, total length, checksum, major
// version, then the sections. Every count is checked against the bytes left
// before anything is allocated for it, so a hostile file cannot make
// Unmarshal allocate more than a small multiple of its own size.
package index
