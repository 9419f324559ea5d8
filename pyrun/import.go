package pyrun

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/cespare/xxhash/v2"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/internal/pyform"
)

// Meta keys an import adds to the run it makes.
const (
	// MetaImportDigest is the digest of everything the run was made from.
	MetaImportDigest = "import_digest"
	// MetaImportSource is the database's file name.
	MetaImportSource = "import_source"
)

// ErrDestination: the destination holds a run that is not an import of
// the database as it is now.
var ErrDestination = errors.New("pyrun: the destination holds another run")

// ErrMismatch: the run written does not read back as the database holds
// it; nothing was put in place.
var ErrMismatch = errors.New("pyrun: imported run differs from its database")

// ErrUnconvertible: the database holds something a GoodSeed Go run cannot
// keep exactly (a config type tag it does not know, a path that is not
// valid UTF-8); the run is not imported.
var ErrUnconvertible = errors.New("pyrun: cannot convert losslessly")

// Result says what an Import did.
type Result struct {
	Dir string
	// AlreadyImported: dst held this import already; nothing was written.
	AlreadyImported bool
	Digest          string
	Configs         int
	Metrics         int // series
	Strings         int
	Points          int64 // metric and string points
}

// Import converts the Python run at src into a GoodSeed Go run at dst,
// verifying it point for point before it appears there (the package doc
// says how a kill or a second import is handled). engineOpts may be the
// zero Options.
func Import(src, dst string, engineOpts engine.Options) (Result, error) {
	r, err := Open(src)
	if err != nil {
		return Result{}, err
	}
	defer r.Close()
	res := Result{Dir: dst}
	if res.Digest, err = r.Digest(); err != nil {
		return res, err
	}
	parent := filepath.Dir(dst)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return res, fmt.Errorf("pyrun: %w", err)
	}
	removeLeftovers(parent, filepath.Base(dst))
	if done, err := alreadyImported(dst, res.Digest); err != nil || done {
		res.AlreadyImported = done
		return res, err
	}
	tmp := filepath.Join(parent, tmpPrefix(filepath.Base(dst))+randomSuffix())
	if err := r.write(tmp, engineOpts, &res); err != nil {
		_ = os.RemoveAll(tmp)
		return res, err
	}
	if err := Verify(r, tmp); err != nil {
		_ = os.RemoveAll(tmp)
		return res, err
	}
	if err := os.Rename(tmp, dst); err != nil {
		_ = os.RemoveAll(tmp)
		if _, serr := os.Stat(dst); serr == nil {
			return res, fmt.Errorf("%w: %s appeared while importing", ErrDestination, dst)
		}
		return res, fmt.Errorf("pyrun: %w", err)
	}
	return res, syncDir(parent)
}

// tmpPrefix names the hidden directories an import of base writes in: a
// dot hides them from every walk of runs (run ids start with a letter or
// digit).
func tmpPrefix(base string) string { return ".import-" + base + "." }

func randomSuffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// removeLeftovers removes what an import of base killed midway left.
func removeLeftovers(parent, base string) {
	ms, _ := filepath.Glob(filepath.Join(parent, tmpPrefix(base)+"*"))
	for _, m := range ms {
		_ = os.RemoveAll(m)
	}
}

// alreadyImported reports whether dst is the import of a database with
// digest; a run there that is not is ErrDestination.
func alreadyImported(dst, digest string) (bool, error) {
	if _, err := os.Lstat(dst); errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	rd, err := engine.OpenReader(dst, nil)
	if err != nil {
		return false, fmt.Errorf("%w: %s: %w", ErrDestination, dst, err)
	}
	defer rd.Close()
	m := rd.Meta()
	switch got := m[MetaImportDigest].Val; {
	case got == digest:
		return true, nil
	case got != "":
		return false, fmt.Errorf("%w: %s was imported from an earlier state of the database (the Python run went on since); move it away to import again", ErrDestination, dst)
	}
	return false, fmt.Errorf("%w: %s is a GoodSeed Go run of the same id, not an import", ErrDestination, dst)
}

// write makes the run in dir.
func (r *Run) write(dir string, opts engine.Options, res *Result) (err error) {
	meta, err := r.Meta()
	if err != nil {
		return err
	}
	id := meta["run_id"]
	if id == "" {
		id = strings.TrimSuffix(filepath.Base(r.path), Ext)
	}
	st, err := engine.Create(dir, id, opts)
	if err != nil {
		return fmt.Errorf("pyrun: %w", err)
	}
	defer func() {
		if cerr := st.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("pyrun: close %s: %w", dir, cerr)
		}
	}()
	for _, k := range sortedKeys(meta) {
		if err := st.SetMeta(k, meta[k]); err != nil {
			return fmt.Errorf("pyrun: meta %q: %w", k, err)
		}
	}
	cfgs, err := r.Configs()
	if err != nil {
		return err
	}
	for _, c := range cfgs {
		v, at, err := configValue(c)
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrUnconvertible, r.path, err)
		}
		if err := st.SetConfigAt(c.Path, v, at); err != nil {
			return fmt.Errorf("%w: %s: config %q: %w", ErrUnconvertible, r.path, c.Path, err)
		}
	}
	res.Configs = len(cfgs)
	var f *engine.Field
	var fpath string
	field := func(path string, kind engine.FieldKind, n *int) (*engine.Field, error) {
		if f != nil && fpath == path {
			return f, nil
		}
		nf, err := st.Field(path, kind)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %s series %q: %w", ErrUnconvertible, r.path, kind, path, err)
		}
		f, fpath = nf, path
		*n++
		return f, nil
	}
	err = r.Metrics(func(path string, pts []MetricPoint) error {
		f, err := field(path, engine.KindMetric, &res.Metrics)
		if err != nil {
			return err
		}
		for _, p := range pts {
			if err := f.LogMetricAt(p.Step, p.Y, p.TimeMs); err != nil {
				return fmt.Errorf("%w: %s: %q step %v: %w", ErrUnconvertible, r.path, path, p.Step, err)
			}
		}
		res.Points += int64(len(pts))
		return nil
	})
	if err != nil {
		return err
	}
	f = nil
	err = r.Strings(func(path string, pts []StringPoint) error {
		f, err := field(path, engine.KindString, &res.Strings)
		if err != nil {
			return err
		}
		for _, p := range pts {
			if err := f.LogStringAt(p.Step, p.Value, p.TimeMs); err != nil {
				return fmt.Errorf("%w: %s: %q step %v: %w", ErrUnconvertible, r.path, path, p.Step, err)
			}
		}
		res.Points += int64(len(pts))
		return nil
	})
	if err != nil {
		return err
	}
	// Last: a run holding the digest holds everything before it.
	if err := st.SetMeta(MetaImportSource, filepath.Base(r.path)); err != nil {
		return err
	}
	return st.SetMeta(MetaImportDigest, res.Digest)
}

// configValue is a config row as an engine value and the time it was set.
func configValue(c Config) (engine.Value, int64, error) {
	text := ""
	if c.Value != nil {
		text = *c.Value
	} else if c.TypeTag != "null" {
		return engine.Value{}, 0, fmt.Errorf("config %q: NULL value of type %q", c.Path, c.TypeTag)
	}
	v, err := pyform.Parse(c.TypeTag, text)
	if err != nil {
		return engine.Value{}, 0, fmt.Errorf("config %q: %w", c.Path, err)
	}
	if got := pyform.Format(v); got != text {
		return engine.Value{}, 0, fmt.Errorf("config %q: %s %q would read back as %q", c.Path, c.TypeTag, text, got)
	}
	at, err := pyform.ParseTime(c.UpdatedAt)
	if err != nil {
		return engine.Value{}, 0, fmt.Errorf("config %q: updated_at: %w", c.Path, err)
	}
	return v, at.UnixMilli(), nil
}

// Digest is a digest of everything the database holds (meta, configs in
// order, every point), as of the run's snapshot: the same content gives
// the same digest however SQLite laid it out.
func (r *Run) Digest() (string, error) {
	h := xxhash.New()
	var num [8]byte
	str := func(s string) {
		binary.LittleEndian.PutUint64(num[:], uint64(len(s)))
		_, _ = h.Write(num[:])
		_, _ = h.WriteString(s)
	}
	u64 := func(v uint64) {
		binary.LittleEndian.PutUint64(num[:], v)
		_, _ = h.Write(num[:])
	}
	meta, err := r.Meta()
	if err != nil {
		return "", err
	}
	str("meta")
	for _, k := range sortedKeys(meta) {
		str(k)
		str(meta[k])
	}
	cfgs, err := r.Configs()
	if err != nil {
		return "", err
	}
	str("configs")
	for _, c := range cfgs {
		str(c.Path)
		str(c.TypeTag)
		if c.Value == nil {
			u64(0)
		} else {
			u64(1)
			str(*c.Value)
		}
		str(c.UpdatedAt)
	}
	// A path once per series, however many batches it comes in.
	last := ""
	str("metrics")
	err = r.Metrics(func(path string, pts []MetricPoint) error {
		if path != last {
			str(path)
			last = path
		}
		for _, p := range pts {
			u64(math.Float64bits(p.Step))
			u64(math.Float64bits(p.Y))
			u64(uint64(p.TimeMs))
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	str("strings")
	last = ""
	err = r.Strings(func(path string, pts []StringPoint) error {
		if path != last {
			str(path)
			last = path
		}
		for _, p := range pts {
			u64(math.Float64bits(p.Step))
			str(p.Value)
			u64(uint64(p.TimeMs))
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%016x", h.Sum64()), nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("pyrun: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("pyrun: sync %s: %w", dir, err)
	}
	return nil
}
