// Package remote ships runs to a tracking server's /api/v1: GoodSeed's
// remote API, ours (goodseed serve --api-v1) or any server speaking it.
//
// The run directory is the queue. A Syncer reads each writer's segment
// stream (engine.ScanStream) from the position the server last
// acknowledged, converts its records to the API's requests — configs,
// then the points of a batch of blocks as one protobuf ingest — and
// records the new position, durably, in a cursor file in the run
// directory. Nothing is buffered in memory past one batch, and Log never
// waits for the network.
//
// # Stored once
//
// Each ingest names its part of the stream: X-Goodseed-Stream (the
// stream's origin: run id, writer, creation time, hashed) and
// X-Goodseed-Range ("seq.offset-seq.offset", from where the previous
// batch ended to where this one ends). The server stores the range's end
// with the points, in the same writer's stream, and answers a range it
// has stored as a duplicate without storing it again: a batch whose
// answer was lost, or one resent after a crash before the cursor was
// written, is stored once. A range that starts past what the server has
// (a server restored from an older copy) answers 409 with where the
// server's copy ends, and the syncer goes back there. Without a cursor
// (a first sync, a cursor lost or damaged) the syncer asks with an empty
// range. Configs and statuses are not ranged: they are idempotent (a
// config is set to the same value at the same time, a set update replayed
// in order ends where it was, a status posted again changes nothing), so
// a resend after a crash stores them again and reads the same.
//
// # Writers
//
// Writer 1 ships as the run's primary writer; every other writer ships
// with X-Goodseed-Writer set to its claim name, which the server claims
// in its copy of the run: the same name hashes to the same writer id, so
// the server merges the writers in the order the local disk does (time,
// then writer id) and its run reads as the local one, point for point.
// A writer's status (and failure reason) is posted when it differs from
// the one last posted, once its stream is shipped to its end.
//
// # Cursor file
//
// sync-<server>-<writer>.cursor, <server> the URL's xxh64 and <writer>
// eight hex digits, holds one line: a JSON object (server URL, remote
// run id, writer, origin, position, last posted status, points
// acknowledged, refusals) and its xxh64 in hex. It is replaced by
// write, fsync, rename and directory fsync; a file that does not verify
// is ignored and the server asked instead. sync-<server>-<writer>.lock
// keeps two syncers of one server off one stream; each rank's process
// ships its own writer while `goodseed sync` may ship the rest.
//
// # Refusals
//
// A server stores what it can of a request and says which items it
// refused (an ingest answer's "refused", a configs answer's
// X-Goodseed-Refused-Items); each is recorded in Report.Refused and the
// cursor, and the range is committed. A server that answers 400 for a
// whole batch does not hold the rest hostage either: configs are resent
// one by one and points path by path, and what it refuses is recorded
// the same way. Connection errors, 5xx, 408 and 429 are
// retried with capped exponential backoff and jitter.
package remote
