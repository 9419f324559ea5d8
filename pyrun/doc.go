// Package pyrun reads the runs GoodSeed's Python client writes, one
// SQLite database per run, and converts them into GoodSeed Go runs,
// verified point for point. The SQLite file is only ever opened read-only
// (SQLite's mode=ro): neither reading nor importing changes it.
//
// # Where the Python client keeps a run
//
//	<projects>/<project>/runs/<run_id>.sqlite     the database
//	<projects>/<project>/runs/<run_id>.sqlite-wal its write-ahead log, while
//	                                              the run is open or after a kill
//	<projects>/<project>/runs/<run_id>.sqlite-shm the log's shared index
//
// <project> may hold slashes ("ws/proj", "ws/team/sub"). A GoodSeed Go run
// of the same project and id lives beside it in <projects>/<project>/
// runs/<run_id>/; an import writes exactly there.
//
// # The schema (version 1, the client's storage.py)
//
//	run_meta(key TEXT PRIMARY KEY, value TEXT)
//	configs(path TEXT PRIMARY KEY, type_tag TEXT, value TEXT, updated_at TEXT, uploaded INT)
//	metric_series(id INTEGER PRIMARY KEY, path TEXT UNIQUE)
//	metric_points(series_id, step REAL, y REAL, ts INTEGER, uploaded INT,
//	              PRIMARY KEY (series_id, step))
//	string_series(id INTEGER PRIMARY KEY, path TEXT UNIQUE)
//	string_points(series_id, step REAL, value TEXT, ts INTEGER, uploaded INT,
//	              PRIMARY KEY (series_id, step))
//
// ts is Unix seconds; updated_at an ISO 8601 time; a config value the
// client's serialize_value form of its type tag. A config set again is
// replaced (INSERT OR REPLACE), so rowid order is the order the client's
// own server lists configs in.
//
// # Import
//
// Import reads the database in one read transaction (a live or killed
// run's log included, as of one instant), writes the run into a hidden
// directory beside its destination, reads that back and compares every
// meta key, config and point, and only then renames it into place. A kill
// at any moment leaves either no run or the whole verified run; a leftover
// hidden directory is removed by the next import. The run records the
// digest of what it was made from (meta import_digest), so importing an
// unchanged database again is a no-op, and one that has changed since is
// refused rather than overwriting a run that may have been continued.
package pyrun
