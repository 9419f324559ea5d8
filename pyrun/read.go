package pyrun

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	// A pure-Go SQLite: `go run` and `go install` keep working without a
	// C toolchain, and the file format is SQLite's own code, not a reading
	// of its documentation.
	_ "modernc.org/sqlite"
)

// Ext is the file extension of a Python-written run.
const Ext = ".sqlite"

// ErrNotRun: the file is not a database of the Python client's schema.
var ErrNotRun = errors.New("pyrun: not a GoodSeed Python run")

// Config is one row of the configs table.
type Config struct {
	Path    string
	TypeTag string
	Value   *string // nil for NULL
	// UpdatedAt is the row's updated_at as the client wrote it.
	UpdatedAt string
}

// MetricPoint is one row of metric_points.
type MetricPoint struct {
	Step, Y float64
	TimeMs  int64 // the row's ts (Unix seconds) in milliseconds
}

// StringPoint is one row of string_points.
type StringPoint struct {
	Step   float64
	Value  string
	TimeMs int64
}

// Run is a Python-written run opened read-only, as of one instant: every
// read sees the database as it was when Open returned, however the client
// writes on meanwhile.
type Run struct {
	path string
	db   *sql.DB
	tx   *sql.Tx
}

// Open opens the run database at path read-only. A database left with a
// write-ahead log (a run still open, or killed) is read with the log.
func Open(path string) (*Run, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("pyrun: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("pyrun: %s: not a regular file: %w", path, ErrNotRun)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("pyrun: %w", err)
	}
	dsn := (&url.URL{Scheme: "file", Path: abs, RawQuery: "mode=ro&_pragma=busy_timeout(5000)&_txlock=deferred"}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("pyrun: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	r := &Run{path: path, db: db}
	// One read transaction holds one snapshot for every read after.
	r.tx, err = db.BeginTx(context.Background(), &sql.TxOptions{ReadOnly: true})
	if err == nil {
		err = r.checkSchema()
	}
	if err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("pyrun: open %s: %w", path, err)
	}
	return r, nil
}

// Path is the database's path as given to Open.
func (r *Run) Path() string { return r.path }

// Close ends the read and closes the database.
func (r *Run) Close() error {
	var errs []error
	if r.tx != nil {
		errs = append(errs, r.tx.Rollback())
		r.tx = nil
	}
	errs = append(errs, r.db.Close())
	return errors.Join(errs...)
}

var schemaTables = []string{"run_meta", "configs", "metric_series", "metric_points", "string_series", "string_points"}

func (r *Run) checkSchema() error {
	rows, err := r.tx.Query(`SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotRun, err)
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return err
		}
		have[n] = true
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrNotRun, err)
	}
	var missing []string
	for _, t := range schemaTables {
		if !have[t] {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: no table %s", ErrNotRun, strings.Join(missing, ", "))
	}
	return nil
}

// Meta returns run_meta.
func (r *Run) Meta() (map[string]string, error) {
	rows, err := r.tx.Query(`SELECT key, value FROM run_meta ORDER BY key`)
	if err != nil {
		return nil, r.wrap("run_meta", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k string
		var v sql.NullString
		if err := rows.Scan(&k, &v); err != nil {
			return nil, r.wrap("run_meta", err)
		}
		out[k] = v.String
	}
	return out, r.wrap("run_meta", rows.Err())
}

// Configs returns the configs in the order the client last set each.
func (r *Run) Configs() ([]Config, error) {
	rows, err := r.tx.Query(`SELECT path, type_tag, value, updated_at FROM configs ORDER BY rowid`)
	if err != nil {
		return nil, r.wrap("configs", err)
	}
	defer rows.Close()
	var out []Config
	for rows.Next() {
		var c Config
		var v sql.NullString
		if err := rows.Scan(&c.Path, &c.TypeTag, &v, &c.UpdatedAt); err != nil {
			return nil, r.wrap("configs", err)
		}
		if v.Valid {
			c.Value = &v.String
		}
		out = append(out, c)
	}
	return out, r.wrap("configs", rows.Err())
}

// SeriesPaths returns the paths of the metric and the string series that
// hold points, sorted.
func (r *Run) SeriesPaths() (metrics, strs []string, err error) {
	if metrics, err = r.paths("metric"); err != nil {
		return nil, nil, err
	}
	strs, err = r.paths("string")
	return metrics, strs, err
}

func (r *Run) paths(kind string) ([]string, error) {
	rows, err := r.tx.Query(`SELECT s.path FROM ` + kind + `_series s
		WHERE EXISTS (SELECT 1 FROM ` + kind + `_points p WHERE p.series_id = s.id) ORDER BY s.path`)
	if err != nil {
		return nil, r.wrap(kind+"_series", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, r.wrap(kind+"_series", err)
		}
		out = append(out, p)
	}
	return out, r.wrap(kind+"_series", rows.Err())
}

// batchPoints is how many points the visitors hand over at a time.
const batchPoints = 8192

// Metrics calls fn with each metric series' points in step order, a batch
// at a time (a series may come in several calls, one after another). The
// slice is reused after fn returns.
func (r *Run) Metrics(fn func(path string, pts []MetricPoint) error) error {
	rows, err := r.tx.Query(`SELECT s.path, p.step, p.y, p.ts FROM metric_points p
		JOIN metric_series s ON p.series_id = s.id ORDER BY s.path, p.step`)
	if err != nil {
		return r.wrap("metric_points", err)
	}
	defer rows.Close()
	var cur string
	buf := make([]MetricPoint, 0, batchPoints)
	for rows.Next() {
		var path string
		var step, y sql.NullFloat64
		var ts any
		if err := rows.Scan(&path, &step, &y, &ts); err != nil {
			return r.wrap("metric_points", err)
		}
		if (path != cur || len(buf) == cap(buf)) && len(buf) > 0 {
			if err := fn(cur, buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
		cur = path
		// NULL y: SQLite stores a NaN as NULL (the column is NOT NULL, so
		// the client cannot write one; a file edited by hand might).
		p := MetricPoint{Step: step.Float64, Y: y.Float64, TimeMs: unixMillis(ts)}
		if !y.Valid {
			p.Y = math.NaN()
		}
		buf = append(buf, p)
	}
	if err := rows.Err(); err != nil {
		return r.wrap("metric_points", err)
	}
	if len(buf) > 0 {
		return fn(cur, buf)
	}
	return nil
}

// Strings is Metrics for the string series.
func (r *Run) Strings(fn func(path string, pts []StringPoint) error) error {
	rows, err := r.tx.Query(`SELECT s.path, p.step, p.value, p.ts FROM string_points p
		JOIN string_series s ON p.series_id = s.id ORDER BY s.path, p.step`)
	if err != nil {
		return r.wrap("string_points", err)
	}
	defer rows.Close()
	var cur string
	buf := make([]StringPoint, 0, batchPoints)
	for rows.Next() {
		var path string
		var step sql.NullFloat64
		var v sql.NullString
		var ts any
		if err := rows.Scan(&path, &step, &v, &ts); err != nil {
			return r.wrap("string_points", err)
		}
		if (path != cur || len(buf) == cap(buf)) && len(buf) > 0 {
			if err := fn(cur, buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
		cur = path
		buf = append(buf, StringPoint{Step: step.Float64, Value: v.String, TimeMs: unixMillis(ts)})
	}
	if err := rows.Err(); err != nil {
		return r.wrap("string_points", err)
	}
	if len(buf) > 0 {
		return fn(cur, buf)
	}
	return nil
}

// unixMillis reads a ts column (Unix seconds) as milliseconds: an
// INTEGER as the client writes it, a REAL (from another writer) to the
// millisecond; 0 for anything else.
func unixMillis(v any) int64 {
	const limit = math.MaxInt64 / 1000
	switch x := v.(type) {
	case int64:
		if x > -limit && x < limit {
			return x * 1000
		}
	case float64:
		if ms := math.Round(x * 1000); ms > math.MinInt64 && ms < math.MaxInt64 {
			return int64(ms)
		}
	}
	return 0
}

func (r *Run) wrap(table string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("pyrun: %s: table %s: %w", r.path, table, err)
}

// Found is a Python-written run found under a projects directory.
type Found struct {
	Project string // slash-separated, as the client names it
	RunID   string
	Path    string // the database
}

// Find lists the Python runs under projectsDir (<project>/runs/<id>.sqlite
// at any depth, as the client's own server finds them), sorted by
// project and id. Symbolic links are not followed, and the directories of
// GoodSeed Go runs and hidden directories are not entered.
func Find(projectsDir string) ([]Found, error) {
	var out []Found
	err := filepath.WalkDir(projectsDir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if p == projectsDir {
				return err
			}
			return nil // unreadable below: skipped, as the client's glob does
		}
		if d.IsDir() {
			if p != projectsDir && (strings.HasPrefix(d.Name(), ".") || filepath.Base(filepath.Dir(p)) == "runs") {
				return filepath.SkipDir
			}
			return nil
		}
		id, ok := strings.CutSuffix(d.Name(), Ext)
		if !ok || !d.Type().IsRegular() || filepath.Base(filepath.Dir(p)) != "runs" {
			return nil
		}
		rel, err := filepath.Rel(projectsDir, filepath.Dir(filepath.Dir(p)))
		if err != nil || rel == "." {
			return nil
		}
		out = append(out, Found{Project: filepath.ToSlash(rel), RunID: id, Path: p})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pyrun: find runs in %s: %w", projectsDir, err)
	}
	return out, nil
}
