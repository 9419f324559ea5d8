// Package series holds metric and string points column-wise, encodes them
// into self-describing chunks, merges chunks with last-write-wins, and
// downsamples merged series. It is pure code: no I/O, no goroutines. The
// segment package frames, compresses (zstd) and checksums the chunks; this
// package only knows points.
//
// # Chunk layout (format version 1)
//
// A metric chunk, and a string chunk, as AppendMetricChunk and
// AppendStringChunk write them:
//
//	metric chunk                          string chunk
//	+------------------------------+      +------------------------------+
//	| uvarint n (<= MaxChunkPoints)|      | uvarint n                    |
//	+------------------------------+      +------------------------------+
//	| steps column                 |      | steps column                 |
//	|   tag byte | payload         |      +------------------------------+
//	+------------------------------+      | times column                 |
//	| values column                |      +------------------------------+
//	|   tag byte | payload         |      | n × uvarint byte length      |
//	+------------------------------+      +------------------------------+
//	| times column                 |      | all string bytes, back to    |
//	|   tag byte | payload         |      | back, raw (zstd does the     |
//	+------------------------------+      | rest at block level)         |
//	                                      +------------------------------+
//
// Columns carry no length: the decoder knows n and every payload ends on the
// byte where its bit stream ends (zero-padded). A chunk must be consumed
// exactly; trailing bytes are corruption. Tags (type Encoding, frozen):
//
//	1 int            integer codec over int64(v)  (integral |v| <= 2^53, not -0; timestamps)
//	2 float32-xor    Gorilla XOR over float32 patterns (all values narrow bit-exactly)
//	3 float64-xor    Gorilla XOR over float64 patterns
//	4 float32-bits   integer codec over float32 patterns
//	5 float64-bits   integer codec over float64 patterns
//	6 dict           <= 256 distinct patterns + integer-codec indices
//	7 float64-split  integer codec over exp<<1|sign, then over the 52-bit mantissas
//
// The integer codec (see intcodec.go) stores the first integer as a zigzag
// uvarint, then one residual per point under the order (value, delta,
// delta-of-delta or linear) and up to four prefix-coded bit widths that give
// the smallest exact size for the chunk. A constant stride therefore costs
// zero bits per point, and timestamps 10 ms ± 1 ms apart about 2 bits.
// Steps and values share one chooser: it computes the exact size of each
// applicable encoding and writes the smallest. Every float64 round-trips
// bit-exactly (NaN payloads, signalling NaNs, ±Inf, -0, subnormals);
// float32 narrowing is done with integer arithmetic, never the FPU.
//
// docs/format/series.md specifies every encoding bit by bit.
//
// # Decoding hostile input
//
// Decoders return errors wrapping ErrCorrupt and never panic. They reject
// counts above MaxChunkPoints and counts that the remaining bytes cannot hold
// (for encodings spending at least one bit a point) before they allocate, and
// grow the caller's slices at most once per column.
//
// # Merge and downsampling
//
// MergeMetric and MergeString order points by step with last-write-wins over
// the chunks' write order (concatenation when already ordered, otherwise a
// stable radix sort). Downsample implements http-api.md Part A's power-of-two
// buckets, and BucketByStep the equal-width step buckets of Part B.
package series
