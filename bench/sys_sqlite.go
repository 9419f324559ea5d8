package main

import (
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/goodseed/goodseed-go/series"
	_ "modernc.org/sqlite" // the pure-Go SQLite driver, "sqlite"
)

// sqliteSys is the Python GoodSeed client's storage design, one SQLite file
// per run at <home>/projects/default/runs/<id>.sqlite, in pure Go
// (modernc.org/sqlite) so it runs in this process beside ours. The schema
// is rebuilt from what goodseed-python.md says of the client's tables and
// behaviour: a (series, step) written again overwrites its value (an upsert
// on the primary key), points carry the wall-clock time they were logged
// (REAL seconds, as Python's time.time()), and y is REAL NOT NULL — which is
// why a NaN fails there (SQLite turns NaN into NULL). The point tables are
// WITHOUT ROWID, clustered on (series_id, step): that lands at 39–40 bytes
// a point on the realistic mix, inside the 37–41 the client's own files
// measure, where a rowid table beside its key index takes about 57.
//
// It is given the best a user gets from that design: WAL mode with
// synchronous=NORMAL, a 64 MiB page cache, prepared statements, and one
// transaction per sqliteBatch points (the Python client commits far more
// often). Each handle gathers sqliteHandleBatch points before it inserts
// them, so goroutines logging different series share the one connection
// (SQLite has one writer at a time whatever the caller does) a batch at a
// time, not a point at a time.
type sqliteSys struct{}

// sqliteBatch is the number of points per transaction.
const sqliteBatch = 10_000

const sqliteSchema = `
CREATE TABLE run_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE configs (path TEXT PRIMARY KEY, type_tag TEXT NOT NULL, value TEXT, updated_at REAL NOT NULL);
CREATE TABLE metric_series (id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE);
CREATE TABLE metric_points (
	series_id INTEGER NOT NULL REFERENCES metric_series(id),
	step REAL NOT NULL,
	y REAL NOT NULL,
	logged_at REAL NOT NULL,
	PRIMARY KEY (series_id, step)) WITHOUT ROWID;
CREATE TABLE string_series (id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE);
CREATE TABLE string_points (
	series_id INTEGER NOT NULL REFERENCES string_series(id),
	step REAL NOT NULL,
	value TEXT NOT NULL,
	logged_at REAL NOT NULL,
	PRIMARY KEY (series_id, step)) WITHOUT ROWID;
`

func (sqliteSys) Name() string { return "sqlite" }

func sqliteRuns(home string) string { return filepath.Join(home, "projects", "default", "runs") }

func sqlitePath(home, id string) string { return filepath.Join(sqliteRuns(home), id+".sqlite") }

func sqliteOpen(path string) (*sql.DB, error) {
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)" +
		"&_pragma=cache_size(-65536)&_pragma=busy_timeout(10000)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func isoNow() string { return time.Now().UTC().Format(time.RFC3339Nano) }

type sqliteWriter struct {
	mu      sync.Mutex
	db      *sql.DB
	tx      *sql.Tx
	metric  *sql.Stmt
	text    *sql.Stmt
	handles []*sqliteHandle
	pending int
	err     error // sticky
}

func (sqliteSys) Create(home, id string) (Writer, error) {
	if err := os.MkdirAll(sqliteRuns(home), 0o755); err != nil {
		return nil, err
	}
	path := sqlitePath(home, id)
	if _, err := os.Stat(path); err == nil {
		return nil, fmt.Errorf("sqlite: run %s exists", id)
	}
	db, err := sqliteOpen(path)
	if err != nil {
		return nil, err
	}
	w := &sqliteWriter{db: db}
	if _, err := db.Exec(sqliteSchema); err != nil {
		db.Close()
		return nil, err
	}
	if err := w.begin(); err != nil {
		db.Close()
		return nil, err
	}
	now := isoNow()
	for _, kv := range [][2]string{{"run_id", id}, {"project", "default"}, {"created_at", now}, {"status", "running"}, {"name", id}} {
		if _, err := w.tx.Exec(`INSERT INTO run_meta(key, value) VALUES(?, ?)`, kv[0], kv[1]); err != nil {
			return nil, w.fail(err)
		}
	}
	for _, c := range [][3]string{{"sys/id", "str", id}, {"sys/creation_time", "datetime", now}, {"sys/state", "str", "running"}, {"sys/name", "str", id}} {
		if _, err := w.tx.Exec(`INSERT INTO configs(path, type_tag, value, updated_at) VALUES(?, ?, ?, ?)`,
			c[0], c[1], c[2], float64(time.Now().UnixNano())/1e9); err != nil {
			return nil, w.fail(err)
		}
	}
	return w, nil
}

func (w *sqliteWriter) fail(err error) error {
	if w.tx != nil {
		w.tx.Rollback()
	}
	w.db.Close()
	return err
}

func (w *sqliteWriter) begin() error {
	tx, err := w.db.Begin()
	if err != nil {
		return err
	}
	m, err := tx.Prepare(`INSERT INTO metric_points(series_id, step, y, logged_at) VALUES(?, ?, ?, ?)
		ON CONFLICT(series_id, step) DO UPDATE SET y = excluded.y, logged_at = excluded.logged_at`)
	if err != nil {
		tx.Rollback()
		return err
	}
	s, err := tx.Prepare(`INSERT INTO string_points(series_id, step, value, logged_at) VALUES(?, ?, ?, ?)
		ON CONFLICT(series_id, step) DO UPDATE SET value = excluded.value, logged_at = excluded.logged_at`)
	if err != nil {
		tx.Rollback()
		return err
	}
	w.tx, w.metric, w.text, w.pending = tx, m, s, 0
	return nil
}

// commit ends the current transaction; the caller holds mu.
func (w *sqliteWriter) commit() error {
	if w.tx == nil {
		return nil
	}
	err := w.tx.Commit()
	w.tx, w.metric, w.text = nil, nil, nil
	return err
}

func (w *sqliteWriter) seriesID(table, path string) (int64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	if _, err := w.tx.Exec(`INSERT INTO `+table+`(path) VALUES(?) ON CONFLICT(path) DO NOTHING`, path); err != nil {
		return 0, err
	}
	var id int64
	err := w.tx.QueryRow(`SELECT id FROM `+table+` WHERE path = ?`, path).Scan(&id)
	return id, err
}

// sqliteHandleBatch is how many points a handle gathers before it takes
// the connection to insert them: the writer's lock is taken once per
// batch, not once per point, so goroutines logging different series do not
// queue on it point by point.
const sqliteHandleBatch = 512

type sqliteRow struct {
	step float64
	v    any
	t    float64
}

// sqliteHandle is a series' handle: one goroutine at a time per handle,
// handles of different series from any goroutines.
type sqliteHandle struct {
	w    *sqliteWriter
	id   int64
	text bool
	rows []sqliteRow
}

func (w *sqliteWriter) handle(table, path string, text bool) (*sqliteHandle, error) {
	id, err := w.seriesID(table, path)
	if err != nil {
		return nil, err
	}
	h := &sqliteHandle{w: w, id: id, text: text, rows: make([]sqliteRow, 0, sqliteHandleBatch)}
	w.mu.Lock()
	w.handles = append(w.handles, h)
	w.mu.Unlock()
	return h, nil
}

type sqliteMetric struct{ h *sqliteHandle }

type sqliteString struct{ h *sqliteHandle }

func (w *sqliteWriter) Metric(path string) (MetricHandle, error) {
	h, err := w.handle("metric_series", path, false)
	return sqliteMetric{h}, err
}

func (w *sqliteWriter) Strings(path string) (StringHandle, error) {
	h, err := w.handle("string_series", path, true)
	return sqliteString{h}, err
}

// add queues one point; a full batch is inserted at once. A NaN goes to
// SQLite at once, alone, so that the refusal (NaN becomes NULL, which y's
// NOT NULL rejects) is SQLite's own and fails its own Log call.
func (h *sqliteHandle) add(step float64, v any) error {
	h.rows = append(h.rows, sqliteRow{step, v, float64(nowMs()) / 1000})
	f, isNaN := v.(float64)
	isNaN = isNaN && math.IsNaN(f)
	if len(h.rows) < sqliteHandleBatch && !isNaN {
		return nil
	}
	h.w.mu.Lock()
	defer h.w.mu.Unlock()
	if isNaN {
		last := h.rows[len(h.rows)-1]
		h.rows = h.rows[:len(h.rows)-1]
		if err := h.flush(); err != nil {
			return err
		}
		_, err := h.w.metric.Exec(h.id, last.step, last.v, last.t)
		return err // the transaction goes on without the refused point
	}
	return h.flush()
}

// flush inserts the queued points, committing every sqliteBatch points;
// the caller holds w.mu.
func (h *sqliteHandle) flush() error {
	w := h.w
	if w.err != nil {
		return w.err
	}
	for _, r := range h.rows {
		stmt := w.metric
		if h.text {
			stmt = w.text
		}
		if _, err := stmt.Exec(h.id, r.step, r.v, r.t); err != nil {
			w.err = err
			return err
		}
		w.pending++
		if w.pending >= sqliteBatch {
			if err := w.commit(); err != nil {
				w.err = err
				return err
			}
			if err := w.begin(); err != nil {
				w.err = err
				return err
			}
		}
	}
	h.rows = h.rows[:0]
	return nil
}

func (m sqliteMetric) Log(step, value float64) error       { return m.h.add(step, value) }
func (s sqliteString) Log(step float64, text string) error { return s.h.add(step, text) }

func (w *sqliteWriter) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, h := range w.handles {
		if err := h.flush(); err != nil {
			break
		}
	}
	if w.err != nil {
		if w.tx != nil {
			w.tx.Rollback()
		}
		w.db.Close()
		return w.err
	}
	now := isoNow()
	var errs []error
	for _, kv := range [][2]string{{"status", "finished"}, {"closed_at", now}} {
		_, err := w.tx.Exec(`INSERT INTO run_meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`, kv[0], kv[1])
		errs = append(errs, err)
	}
	_, err := w.tx.Exec(`UPDATE configs SET value = 'finished', updated_at = ? WHERE path = 'sys/state'`, float64(time.Now().UnixNano())/1e9)
	errs = append(errs, err, w.commit())
	// Closing the last connection checkpoints the WAL into the database
	// file (fsynced) and deletes it.
	errs = append(errs, w.db.Close())
	w.err = errors.New("sqlite: run closed")
	return errors.Join(errs...)
}

type sqliteReader struct{ db *sql.DB }

func (sqliteSys) Open(home, id string) (Reader, error) {
	path := sqlitePath(home, id)
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	db, err := sqliteOpen(path)
	if err != nil {
		return nil, err
	}
	r := sqliteReader{db}
	if _, err := r.MetricPaths(); err != nil { // load the series list, as ours loads its fields
		db.Close()
		return nil, err
	}
	return r, nil
}

func (r sqliteReader) MetricPaths() ([]string, error) {
	return queryStrings(r.db, `SELECT path FROM metric_series ORDER BY id`)
}

func queryStrings(db *sql.DB, q string, args ...any) ([]string, error) {
	rows, err := db.Query(q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func (r sqliteReader) ReadMetrics(paths []string) (map[string]*series.MetricColumns, error) {
	out := make(map[string]*series.MetricColumns, len(paths))
	for _, p := range paths {
		c, err := r.readMetric(p)
		if err != nil {
			return nil, err
		}
		out[p] = c
	}
	return out, nil
}

func (r sqliteReader) readMetric(path string) (*series.MetricColumns, error) {
	rows, err := r.db.Query(`SELECT p.step, p.y, p.logged_at FROM metric_points p
		JOIN metric_series s ON s.id = p.series_id WHERE s.path = ? ORDER BY p.step`, path)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	c := new(series.MetricColumns)
	for rows.Next() {
		var step, y, t float64
		if err := rows.Scan(&step, &y, &t); err != nil {
			return nil, err
		}
		c.Append(step, y, int64(math.Round(t*1000)))
	}
	return c, rows.Err()
}

func (r sqliteReader) ReadStrings(path string) (*series.StringColumns, error) {
	rows, err := r.db.Query(`SELECT p.step, p.value, p.logged_at FROM string_points p
		JOIN string_series s ON s.id = p.series_id WHERE s.path = ? ORDER BY p.step`, path)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	c := new(series.StringColumns)
	for rows.Next() {
		var step, t float64
		var v string
		if err := rows.Scan(&step, &v, &t); err != nil {
			return nil, err
		}
		c.Append(step, v, int64(math.Round(t*1000)))
	}
	return c, rows.Err()
}

func (r sqliteReader) Downsample(path string, n int) (series.DownResult, error) {
	c, err := r.readMetric(path)
	if err != nil {
		return series.DownResult{}, err
	}
	return series.Downsample(c, 0, -1, n), nil
}

func (r sqliteReader) Close() error { return r.db.Close() }

// Resume marks the run running again and restores each series' step
// counter (its greatest step), as the Python client does on resume.
func (sqliteSys) Resume(home, id string) (Closer, error) {
	db, err := sqliteOpen(sqlitePath(home, id))
	if err != nil {
		return nil, err
	}
	if _, err := db.Exec(`UPDATE run_meta SET value = 'running' WHERE key = 'status'`); err != nil {
		db.Close()
		return nil, err
	}
	ids, err := queryStrings(db, `SELECT CAST(id AS TEXT) FROM metric_series`)
	if err != nil {
		db.Close()
		return nil, err
	}
	last := make(map[string]float64, len(ids))
	for _, sid := range ids {
		var m sql.NullFloat64
		if err := db.QueryRow(`SELECT MAX(step) FROM metric_points WHERE series_id = ?`, sid).Scan(&m); err != nil {
			db.Close()
			return nil, err
		}
		last[sid] = m.Float64
	}
	return sqliteResumed{db}, nil
}

type sqliteResumed struct{ db *sql.DB }

func (r sqliteResumed) Close() error {
	_, err := r.db.Exec(`UPDATE run_meta SET value = 'finished' WHERE key = 'status'`)
	return errors.Join(err, r.db.Close())
}

func (sqliteSys) DropIndex(string, string) (bool, error) { return false, nil }

func (sqliteSys) List(home string) ([]Listed, error) {
	entries, err := os.ReadDir(sqliteRuns(home))
	if err != nil {
		return nil, err
	}
	var out []Listed
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".sqlite")
		if !ok {
			continue
		}
		db, err := sqliteOpen(filepath.Join(sqliteRuns(home), e.Name()))
		if err != nil {
			return nil, err
		}
		l := Listed{ID: id}
		err = db.QueryRow(`SELECT value FROM run_meta WHERE key = 'status'`).Scan(&l.Status)
		if err == nil {
			l.MetricPaths, err = queryStrings(db, `SELECT path FROM metric_series ORDER BY path`)
		}
		db.Close()
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", id, err)
		}
		out = append(out, l)
	}
	return out, nil
}

func (sqliteSys) Bytes(home string) (int64, error) { return dirBytes(home) }
