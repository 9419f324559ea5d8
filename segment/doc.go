// Package segment owns the on-disk unit of a run: an append-only file of
// checksummed, optionally zstd-compressed blocks. It knows bytes, not
// metrics: a block's kind, record count and sequence numbers are the
// caller's, stored as given.
//
// A run directory holds one stream of segments per writer, named by
// SegmentName(writer, seq). A Writer appends blocks with one write each and
// can Seal the file with a footer; a Reader walks the blocks (Next,
// Payload) or reads one at an offset (ReadBlockAt); Scan validates a whole
// file and reports every finding.
//
// # Format 1.0
//
// All integers little-endian. xxh64 is xxhash64 with seed 0.
//
//	File header (written and fsynced by Create):
//	+---------+-------+-------+--------+--------+-----+---------+-------+--------+--------+
//	| magic   | major | minor | hdrlen | writer | seq | created | idlen | run id | xxh64  |
//	| 8 bytes | u16   | u16   | u32    | u32    | u64 | i64 ns  | u16   | idlen  | u64    |
//	+---------+-------+-------+--------+--------+-----+---------+-------+--------+--------+
//	 "GSEEDSEG"  1       0      total header bytes          run id <= 255 bytes
//	 offset 0    8       10     12      16       20    28       36      38       hdrlen-8
//	hdrlen counts every header byte, checksum included; the checksum covers
//	bytes [0, hdrlen-8). A later minor may add fields before the checksum.
//
//	Block frame, repeated from offset hdrlen:
//	+-------+--------+--------+-------+------+-------+---------+-------+-------+--------+
//	| magic | paylen | rawlen | codec | kind | flags | records | first | last  | hcheck |
//	| u32   | u32    | u32    | u8    | u8   | u16   | u32     | u64   | u64   | u32    |
//	+-------+--------+--------+-------+------+-------+---------+-------+-------+--------+
//	 "GSBK"  stored   raw      0 none        0               seq     seq
//	 +0      +4       +8       +12     +13    +14     +16       +20     +28     +36
//	+--------------------+--------------------------------+
//	| payload            | trailer: xxh64(header+payload) |
//	| paylen bytes (+40) | u64 (+40+paylen)               |
//	+--------------------+--------------------------------+
//	hcheck is the low 32 bits of xxh64 over header bytes [0, 36): it lets a
//	reader trust paylen before reading the payload, and so tell a corrupted
//	length from a torn tail. rawlen <= MaxRawBytes. codec none: paylen ==
//	rawlen; codec zstd (1): 0 < paylen <= rawlen, one zstd frame. kind 0xff
//	is the footer; flags are 0 in 1.0 and ignored by readers.
//
//	Sealed end (written by Seal):
//	+-------------------------------------------------------------+---------------------+
//	| footer block: kind 0xff, codec none, first/last = summary,  | segment trailer     |
//	| payload: blocks u64 | records u64 | first seq u64 |          | footer offset u64 | |
//	|          last seq u64 | raw bytes u64 | stored bytes u64    | "GSEEDEND"          |
//	+-------------------------------------------------------------+---------------------+
//	The trailer is the last 16 bytes, so a reader finds the footer without
//	walking the file. A later minor may lengthen the footer payload.
//
// # Reading damaged files
//
// Next classifies what it cannot return:
//   - a torn tail (*TornTailError, errors.Is ErrTornTail): the file ends
//     inside a block, the rest of the file is zeros, or the last block of the
//     file fails its checksum — what a crash mid-write leaves. Recovery cuts
//     the file at its Offset. Next then returns io.EOF (Retry looks again,
//     for tailing a live file).
//   - corruption (*CorruptionError, errors.Is ErrCorrupt): anything else. If
//     the header verified, Next resumes after the block; otherwise it scans
//     forward for the next header that verifies. Later blocks stay readable.
//
// A payload is only ever returned after its checksum verified.
//
// # Why it is built this way
//
// One write per block keeps a crash from interleaving halves of two blocks.
// A header check separate from the payload checksum is what makes a torn
// tail distinguishable from a flipped length (Pebble's record chunks and
// etcd's WAL frames solve the same problem with lengths and CRCs). zstd
// coders are package-level and shared: EncodeAll and DecodeAll are safe for
// concurrent use, and a coder per block would dominate small blocks.
package segment
