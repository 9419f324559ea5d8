// Package server serves runs over HTTP with GoodSeed's two APIs (see
// docs/http-api.md and the reference it follows), so GoodSeed's own
// frontends work against our engine unchanged:
//
//   - Part A, the local read API under /api/ that GoodSeed's web UI reads:
//     projects, runs, configs, metrics (raw and downsampled), string series,
//     trash and restore.
//   - Part B, the remote API under /api/v1/ that GoodSeed's Python client
//     syncs to with storage="cloud": run creation, configs, ingest (gzip JSON
//     and protobuf), status, heartbeat and every read. Ingested runs are
//     written by the engine with the server as their writer, so Part A and
//     gsinspect see them like any other run.
//
// The server binds 127.0.0.1 unless told otherwise, validates every path
// parameter before it touches the file system, limits bodies and gzip
// expansion, and compares API keys in constant time.
package server
