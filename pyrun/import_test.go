package pyrun_test

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/internal/pyclient"
	"github.com/goodseed/goodseed-go/internal/pyform"
	"github.com/goodseed/goodseed-go/pyrun"
	"github.com/goodseed/goodseed-go/series"
)

// pyRef is what the client's own read functions give for one run
// (testdata/write_runs.py).
type pyRef struct {
	Project string            `json:"project"`
	RunID   string            `json:"run_id"`
	Meta    map[string]string `json:"meta"`
	Configs [][3]*string      `json:"configs"`
	Metrics [][4]string       `json:"metrics"` // path, repr(step), repr(y), logged_at
	Strings [][3]string       `json:"strings"` // path, repr(step), value
}

// writePyRuns has the real client write runs into home (write_runs.py)
// and returns them by database path.
func writePyRuns(t *testing.T, home string, n, steps int, mode string) map[string]pyRef {
	t.Helper()
	src := pyclient.Src(t)
	script, err := os.ReadFile(filepath.Join("testdata", "write_runs.py"))
	require.NoError(t, err)
	out, _ := pyclient.Run(t, src, "import sys; sys.argv[1:] = "+pyList(strconv.Itoa(n), strconv.Itoa(steps), mode)+"\n"+string(script),
		"GOODSEED_HOME="+home)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	refs := map[string]pyRef{}
	require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &refs))
	return refs
}

func pyList(args ...string) string {
	b, _ := json.Marshal(args)
	return string(b)
}

// pyFloat parses Python's repr of a float.
func pyFloat(t *testing.T, s string) float64 {
	switch s {
	case "inf":
		return math.Inf(1)
	case "-inf":
		return math.Inf(-1)
	case "nan":
		return math.NaN()
	}
	f, err := strconv.ParseFloat(s, 64)
	require.NoError(t, err, s)
	return f
}

// importedDir is where an import of db goes: beside it, without .sqlite.
func importedDir(db string) string { return strings.TrimSuffix(db, pyrun.Ext) }

// requireAsPythonReadsIt compares the run in dir with what the client's
// own reads gave: every meta key, config (type, text, order) and point.
func requireAsPythonReadsIt(t *testing.T, dir string, ref pyRef) {
	t.Helper()
	rd, err := engine.OpenReader(dir, nil)
	require.NoError(t, err)
	defer rd.Close()
	meta := rd.Meta()
	for k, v := range ref.Meta {
		require.Equal(t, v, meta[k].Val, "meta %s", k)
	}
	cfgs := rd.Configs()
	require.Len(t, cfgs, len(ref.Configs))
	order := make([]string, 0, len(cfgs))
	for p := range cfgs {
		order = append(order, p)
	}
	sort.Slice(order, func(i, j int) bool { return cfgs[order[i]].Order < cfgs[order[j]].Order })
	for i, c := range ref.Configs {
		path, tag := *c[0], *c[1]
		require.Equal(t, path, order[i], "config %d in the client's order", i)
		e := cfgs[path]
		require.Equal(t, tag, e.Value.Type.String(), path)
		want := ""
		if c[2] != nil {
			want = *c[2]
		}
		require.Equal(t, want, pyform.Format(e.Value), path)
	}

	byPath := map[string][][4]string{}
	for _, m := range ref.Metrics {
		byPath[m[0]] = append(byPath[m[0]], m)
	}
	var mc series.MetricColumns
	n := 0
	for _, f := range rd.Fields() {
		if f.Kind != engine.KindMetric {
			continue
		}
		require.NoError(t, rd.ReadMetric(f.Path, &mc))
		want := byPath[f.Path]
		require.Equal(t, len(want), mc.Len(), f.Path)
		for i, w := range want {
			require.Equal(t, math.Float64bits(pyFloat(t, w[1])), math.Float64bits(mc.Steps[i]), "%s step %d", f.Path, i)
			require.Equal(t, math.Float64bits(pyFloat(t, w[2])), math.Float64bits(mc.Values[i]), "%s value %d", f.Path, i)
			at, err := time.Parse(time.RFC3339, w[3])
			require.NoError(t, err)
			require.Equal(t, at.UnixMilli(), mc.TimesMs[i], "%s time %d", f.Path, i)
		}
		n += mc.Len()
	}
	require.Equal(t, len(ref.Metrics), n, "every metric point")

	strs := map[string][][3]string{}
	for _, s := range ref.Strings {
		strs[s[0]] = append(strs[s[0]], s)
	}
	var sc series.StringColumns
	n = 0
	for _, f := range rd.Fields() {
		if f.Kind != engine.KindString {
			continue
		}
		require.NoError(t, rd.ReadString(f.Path, &sc))
		want := strs[f.Path]
		require.Equal(t, len(want), sc.Len(), f.Path)
		for i, w := range want {
			require.Equal(t, pyFloat(t, w[1]), sc.Steps[i])
			require.Equal(t, w[2], sc.Values[i])
		}
		n += sc.Len()
	}
	require.Equal(t, len(ref.Strings), n, "every string point")
}

// fileDigests hashes every file under dir (the databases, their logs).
func fileDigests(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	require.NoError(t, filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		// The -shm file is SQLite's shared index of the log, which every
		// reader updates (the client's own included): not data.
		if err != nil || !fi.Mode().IsRegular() || !strings.Contains(filepath.Base(p), pyrun.Ext) || strings.HasSuffix(p, "-shm") {
			return err
		}
		b, err := os.ReadFile(p)
		out[p+" "+fi.ModTime().String()] = sha256.Sum256(b)
		return err
	}))
	return out
}

// TestImportFiftyRuns: 50 runs the real client wrote (every config type,
// metrics at int and float steps, inf, strings, tags; failed runs and
// runs killed before close, their log not checkpointed) import as runs
// that read exactly as the client reads its own databases; the databases
// are left byte for byte as they were; a second import is a no-op.
func TestImportFiftyRuns(t *testing.T) {
	home := t.TempDir()
	refs := writePyRuns(t, home, 50, 60, "small")
	require.Len(t, refs, 50)
	before := fileDigests(t, home)
	var wal int
	for db, ref := range refs {
		if _, err := os.Stat(db + "-wal"); err == nil {
			wal++
		}
		res, err := pyrun.Import(db, importedDir(db), engine.Options{})
		require.NoError(t, err, db)
		require.False(t, res.AlreadyImported)
		require.Equal(t, int64(len(ref.Metrics)+len(ref.Strings)), res.Points)
		requireAsPythonReadsIt(t, importedDir(db), ref)
	}
	require.NotZero(t, wal, "some runs keep a write-ahead log (killed, or not checkpointed)")
	require.Equal(t, before, fileDigests(t, home), "the databases are untouched")

	for db := range refs {
		res, err := pyrun.Import(db, importedDir(db), engine.Options{})
		require.NoError(t, err)
		require.True(t, res.AlreadyImported, db)
	}
}

// TestImportRefusesToOverwrite: a run of the same id that is not this
// import (a Go run; an import of the database before the Python run went
// on) is never replaced.
func TestImportRefusesToOverwrite(t *testing.T) {
	home := t.TempDir()
	refs := writePyRuns(t, home, 1, 30, "small")
	var db string
	for db = range refs {
	}
	dst := importedDir(db)
	st, err := engine.Create(dst, "run-000", engine.Options{})
	require.NoError(t, err)
	require.NoError(t, st.Close())
	_, err = pyrun.Import(db, dst, engine.Options{})
	require.ErrorIs(t, err, pyrun.ErrDestination)
	require.Contains(t, err.Error(), "not an import")

	other := filepath.Join(t.TempDir(), "copy")
	_, err = pyrun.Import(db, other, engine.Options{})
	require.NoError(t, err)
	// The Python run goes on: the database changes.
	pyclient.Run(t, pyclient.Src(t), `
import goodseed
r = goodseed.Run(project="solo", resume_run_id="run-000", storage="local", capture_hardware_metrics=False,
                 capture_stdout=False, capture_stderr=False, capture_traceback=False, git_ref=False)
r.log_metrics({"train/loss": 0.01}, step=1000)
r.close()
`, "GOODSEED_HOME="+home)
	_, err = pyrun.Import(db, other, engine.Options{})
	require.ErrorIs(t, err, pyrun.ErrDestination)
	require.Contains(t, err.Error(), "earlier state")
}

// TestOpenRefusesOtherFiles: a file that is not a run database, or is
// cut short, is an error naming it; nothing is made.
func TestOpenRefusesOtherFiles(t *testing.T) {
	home := t.TempDir()
	refs := writePyRuns(t, home, 1, 200, "small")
	var db string
	for db = range refs {
	}
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.sqlite")
	require.NoError(t, os.WriteFile(junk, []byte("not a database at all, just text of some length...."), 0o644))
	_, err := pyrun.Import(junk, filepath.Join(dir, "junk"), engine.Options{})
	require.Error(t, err)
	require.Contains(t, err.Error(), junk)
	require.NoDirExists(t, filepath.Join(dir, "junk"))

	// Another application's database.
	other := filepath.Join(dir, "other.sqlite")
	b, err := os.ReadFile(db)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(other, b[:4096], 0o644)) // the first page only
	_, err = pyrun.Import(other, filepath.Join(dir, "other"), engine.Options{})
	require.Error(t, err)
	require.NoDirExists(t, filepath.Join(dir, "other"))
	require.True(t, errors.Is(err, pyrun.ErrNotRun) || strings.Contains(err.Error(), "other.sqlite"), err.Error())
}
