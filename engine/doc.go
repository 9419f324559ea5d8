// Package engine is one run's store: the field dictionary, the lock-free
// append buffers, the flusher that seals them into segment blocks, the
// writer lock, recovery and replay, and the read path.
//
// # A run on disk
//
//	<run dir>/
//	    LOCK                     flock'ed by the primary writer (writer 1) while live; its owner record
//	    <writer>.lock            the same for any other writer
//	    <writer>.writer          a joined writer's claim: its name (writers.go)
//	    <writer>-<seq>.seg       segments, append-only, one stream per writer (package segment)
//	    <writer>.mark            how far the writer's stream is written and synced (mark.go)
//	    <writer>-<seq>.seg.torn-<offset>   bytes cut off a torn tail by recovery, kept for forensics
//	    index                    writer 1's roaring index + summaries + state snapshot (package index); a cache
//	    <writer>.index           the same for any other writer
//
// Each writer's stream is self-contained (its own field ids, state and
// index) and only its writer writes it; a Reader merges the streams
// (reader.go, merge.go) by DESIGN.md invariant 5. docs/format/run.md
// draws the files and says what the design relies on from the file
// system.
//
// # Records
//
// Every block the engine writes is a sequence of records (record.go):
//
//	record   := kind u8 | uvarint len | body[len]
//	field-def    uvarint id | field kind u8 | path bytes
//	metric-chunk uvarint field | series metric chunk
//	string-chunk uvarint field | series string chunk
//	config       uvarint field | varint time ms | value
//	set-op       uvarint field | varint time ms | op u8 | uvarint n | n × (uvarint len | bytes)
//	meta         varint time ms | uvarint klen | key | value bytes
//	value    := type u8 | bool u8 | varint int | f64 LE bits | uvarint len+bytes | varint unix ns | strings
//	            | 0x82 | uvarint len | decimal   (an int past int64, exactly)
//
// A field is keyed by path and kind: one path may hold a metric series, a
// string series and a config, each its own field (GoodSeed's data model
// keeps the three apart). Options.OneKindPerPath makes a store refuse a
// second kind at a path, the run API's guard.
// Field ids are dense from 0 in definition order within a writer's stream.
// Each record has a sequence number: a block's records are FirstSeq..LastSeq
// of its writer's stream. Replaying a stream's records in order rebuilds
// that writer's part of the run.
//
// # Durability contract
//
//   - Log returns: the point is in memory.
//   - Every Options.FlushInterval (1 s), and whenever enough is queued,
//     the flusher writes blocks: they survive a crash of the process.
//   - Flush returns when everything logged before it is written; Sync also
//     fsyncs, so it survives power loss.
//   - Close flushes, seals and fsyncs the segment, writes the index
//     atomically (temp file, fsync, rename, fsync dir) and releases LOCK.
//   - A writer killed at any moment loses at most what it logged after its
//     last completed flush. The OS drops its flock with the process, so the
//     run reopens for writing at once; Open cuts the torn tail (keeping the
//     bytes aside) and reports it.
//   - What Flush or Sync acknowledged is never cut as a torn tail: each
//     writer's mark (mark.go, <writer>.mark) records how far its stream is
//     written (after every flush) and synced (with every Sync); damage
//     below it is reported as a LossError, its bytes kept, the run still
//     resumable. Only bytes past the mark may be a crash's torn tail.
//   - A read returns every point that verifies, and errors matching
//     ErrCorrupt for whatever the index, the segment numbers or the marks
//     say the run held and no longer does (loss.go): no answer is short
//     without saying so.
//   - A write or fsync error is sticky: Log, Flush, Sync and Close return it
//     from then on. What was durable before stays durable.
//   - Flush, Sync and Close fail, with ErrFilesRemoved naming the file,
//     when the files they vouch for were removed under the writer (its
//     segments, LOCK, the run directory): an fstat of the open segment and
//     LOCK after each flush, and a lookup of every segment of the writer's
//     stream in Sync and Close (liveness.go). It is sticky too.
//   - A Create that fails removes the run directory it made, so a retry
//     with the same run id starts afresh; Discard removes a run Create made
//     that its caller could not set up.
//
// # Concurrency
//
// Log on a Field handle is lock-free: a writer claims a slot with one
// atomic add on the buffer's reservation counter, stores the point and
// publishes it with a second atomic add (buffer.go). When a buffer fills,
// the writer installs the next one under the field's mutex and queues the
// full one for the flusher; when more than Options.MaxBufferedBytes is
// queued, Log waits for the flusher instead of growing memory.
// Timestamps come from a shared millisecond clock (clock.go): reading
// time.Now would cost more than the whole Log call.
//
// # Limits
//
// MaxFields (16 M) fields per run, MaxPathBytes (64 KiB) per path,
// MaxStringBytes (16 MiB) per string point or config string,
// MaxPointsPerSeries (4 G) points per series, MaxSetItems (65,536) strings
// per set operation. A call past a limit fails with ErrLimit; nothing else
// is affected. Field paths follow ValidateStoredPath (any valid UTF-8), or
// with Options.StrictPaths ValidatePath (1 KiB, no control characters, no
// empty segments).
package engine
