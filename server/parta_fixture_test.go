package server

import (
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/run"
)

// Part A's fixture: a small home committed under testdata/parta/home, so
// the golden responses under testdata/parta/*.golden are byte-for-byte
// stable (the write times in it came from the clock once).
// GOODSEED_WRITE_GOLDEN=1 rebuilds the fixture and rewrites the goldens:
//
//	GOODSEED_WRITE_GOLDEN=1 go test ./server -run 'TestPartAGolden'
//
//	vision/bold-falcon   finished; tags; configs of every type (NaN, ±Inf,
//	                     datetime, string set, unicode, control characters);
//	                     a loss with NaN, +Inf, -Inf and an overwritten step,
//	                     an accuracy, a learning rate; two string series
//	vision/calm-otter    failed (CloseFailed); trashed afterwards
//	ws/proj/quiet-heron  crashed: copied while its writer was live, so it
//	                     says running and no process holds its LOCK
const (
	paFixtureHome    = "testdata/parta/home"
	paFixtureFinish  = paFixtureHome + "/projects/vision/runs/bold-falcon"
	paFixtureFailed  = paFixtureHome + "/projects/vision/runs/calm-otter"
	paFixtureCrashed = paFixtureHome + "/projects/ws/proj/runs/quiet-heron"
)

var (
	paWriteGolden = os.Getenv("GOODSEED_WRITE_GOLDEN") == "1"
	paFixtureOnce sync.Once
	paFixtureErr  error
)

// paFixture returns the fixture home, rebuilding it first (once per test
// binary) when GOODSEED_WRITE_GOLDEN=1.
func paFixture(t testing.TB) string {
	t.Helper()
	if paWriteGolden {
		paFixtureOnce.Do(func() { paFixtureErr = paBuildFixture(paFixtureHome) })
		require.NoError(t, paFixtureErr)
	}
	_, err := os.Stat(paFixtureFinish)
	require.NoError(t, err, "fixture missing: GOODSEED_WRITE_GOLDEN=1 go test ./server -run TestPartAGolden rebuilds it")
	return paFixtureHome
}

// paFixtureCopy copies the fixture home into a temporary directory, for
// tests that write (trash) or add runs.
func paFixtureCopy(t testing.TB) string {
	t.Helper()
	return paCopyTree(t, paFixture(t))
}

// paCopyTree copies the directories and regular files under src into a
// new temporary directory.
func paCopyTree(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	paCopyTreeTo(t, src, dst)
	return dst
}

// paCopyTreeTo copies the directories and regular files under src into dst.
func paCopyTreeTo(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		return paCopyFile(p, filepath.Join(dst, rel))
	})
	require.NoError(t, err)
}

func paCopyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// paCheckGolden compares got with testdata/parta/name.golden, or rewrites
// it when GOODSEED_WRITE_GOLDEN=1.
func paCheckGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "parta", name+".golden")
	if paWriteGolden {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "GOODSEED_WRITE_GOLDEN=1 go test ./server -run TestPartAGolden writes it")
	require.Equal(t, string(want), got, "response differs from %s", path)
}

// paOptions are the options of every run a test writes: no Git, no
// monitoring, nothing on stderr.
func paOptions(home, project, id string) run.Options {
	return run.Options{
		Home: home, Project: project, RunID: id, Quiet: true,
		Git:        run.GitOptions{Disabled: true},
		Monitoring: run.MonitoringOptions{Off: true},
	}
}

// paBuildFixture writes the fixture home afresh.
func paBuildFixture(home string) error {
	if err := os.RemoveAll(home); err != nil {
		return err
	}

	// vision/bold-falcon: finished.
	o := paOptions(home, "vision", "bold-falcon")
	o.Name = "baseline resnet"
	o.Description = "the reference run"
	o.Tags = []string{"resnet", "baseline", "ünïcode"}
	r, err := run.New(o)
	if err != nil {
		return err
	}
	for _, c := range []struct {
		path string
		v    any
	}{
		{"optimizer/name", "adamw"},
		{"optimizer/lr", 0.001},
		{"optimizer/eps", 1e-8},
		{"optimizer/betas/0", 0.9},
		{"batch_size", 128},
		{"epochs", 3.0},
		{"big", 1e16},
		{"amp", true},
		{"compile", false},
		{"resume_from", nil},
		{"data/started", time.Date(2026, 1, 2, 3, 4, 5, 600_000_000, time.UTC)},
		{"data/augment", run.StringSet{"flip", "crop", "color jitter"}},
		{"data/empty_set", run.StringSet{}},
		{"model/description", "ResNet-18 with a \"wide\" stem\tand a \\ backslash, <html> & ✓ 😀"},
		{"model/dropout", math.NaN()},
		{"model/clip", math.Inf(1)},
		{"model/floor", math.Inf(-1)},
	} {
		if err := r.Set(c.path, c.v); err != nil {
			return err
		}
	}
	loss, acc, lr := r.Field("train/loss"), r.Field("train/acc"), r.Field("train/lr")
	notes, evals := r.Field("notes"), r.Field("eval/samples")
	for i := range 60 {
		step := float64(i)
		v := float64(float32(2.5*math.Exp(-step/20) + 0.05*math.Sin(step)))
		switch i {
		case 17:
			v = math.NaN()
		case 31:
			v = math.Inf(1)
		case 32:
			v = math.Inf(-1)
		}
		if err := loss.Log(v, step); err != nil {
			return err
		}
		if err := lr.Log(0.001*0.5*(1+math.Cos(math.Pi*step/60)), step); err != nil {
			return err
		}
		if i%5 == 0 {
			if err := acc.Log(float64(float32(0.1+0.8*(1-math.Exp(-step/15)))), step); err != nil {
				return err
			}
		}
		if i%10 == 0 {
			if err := r.Flush(); err != nil { // several blocks per series
				return err
			}
			time.Sleep(3 * time.Millisecond) // distinct logged_at
		}
	}
	if err := loss.Log(0.25, 10); err != nil { // step 10 written again
		return err
	}
	for _, n := range []struct {
		step float64
		text string
	}{
		{0, "starting baseline"},
		{20, "epoch 1 done: loss 0.91"},
		{40, "a note with \"quotes\", a tab\tand a newline\n"},
		{59, "done ✓ 😀"},
	} {
		if err := notes.LogString(n.text, n.step); err != nil {
			return err
		}
	}
	for i := range 5 {
		if err := evals.LogString("sample "+string(rune('a'+i)), float64(i*10)); err != nil {
			return err
		}
	}
	if err := r.Close(); err != nil {
		return err
	}

	// vision/calm-otter: failed, then trashed as the server trashes.
	o = paOptions(home, "vision", "calm-otter")
	o.Name = "lr sweep 3e-3"
	if r, err = run.New(o); err != nil {
		return err
	}
	if err := r.Set("optimizer/lr", 0.003); err != nil {
		return err
	}
	loss = r.Field("train/loss")
	for i := range 20 {
		v := float64(float32(2.5 * math.Exp(float64(i)/3)))
		if i == 19 {
			v = math.Inf(1)
		}
		if err := loss.Log(v, float64(i)); err != nil {
			return err
		}
	}
	dir := r.Dir()
	if err := r.CloseFailed("loss diverged at step 19"); err != nil {
		return err
	}
	st, err := engine.Open(dir, engine.Options{})
	if err != nil {
		return err
	}
	if err := st.SetMeta(catMetaTrashed, "true"); err != nil {
		st.Close()
		return err
	}
	if err := st.Close(); err != nil {
		return err
	}

	// ws/proj/quiet-heron: crashed. Written in a scratch home and copied
	// while the writer is live (after a Flush): what a kill -9 leaves.
	scratch, err := os.MkdirTemp("", "parta-fixture")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	o = paOptions(scratch, "ws/proj", "quiet-heron")
	o.Name = "long job"
	if r, err = run.New(o); err != nil {
		return err
	}
	loss, notes = r.Field("train/loss"), r.Field("notes")
	for i := range 30 {
		if err := loss.Log(float64(float32(1/(1+float64(i)/10))), float64(i)); err != nil {
			return err
		}
	}
	if err := notes.LogString("checkpoint saved", 29); err != nil {
		return err
	}
	if err := r.Flush(); err != nil {
		return err
	}
	dst := filepath.Join(home, "projects", "ws", "proj", "runs", "quiet-heron")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	ents, err := os.ReadDir(r.Dir())
	if err != nil {
		return err
	}
	for _, de := range ents {
		if de.Type().IsRegular() {
			if err := paCopyFile(filepath.Join(r.Dir(), de.Name()), filepath.Join(dst, de.Name())); err != nil {
				return err
			}
		}
	}
	return r.Close()
}

// paServer starts a Part A server on home.
func paServer(t testing.TB, home string) *Server {
	t.Helper()
	s, err := New(Options{Home: home})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// paDo sends one request through the handler. target is sent as written
// (escapes kept), as a client puts it on the wire.
func paDo(t testing.TB, h http.Handler, method, target string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// paGet is paDo with GET, requiring status 200.
func paGet(t testing.TB, h http.Handler, target string) string {
	t.Helper()
	rec := paDo(t, h, http.MethodGet, target)
	require.Equal(t, http.StatusOK, rec.Code, "GET %s: %s", target, rec.Body.String())
	return rec.Body.String()
}

// paRequireCORS checks the headers every Part A response carries.
func paRequireCORS(t testing.TB, h http.Header) {
	t.Helper()
	require.Equal(t, "*", h.Get("Access-Control-Allow-Origin"))
	require.Equal(t, "GET, POST, OPTIONS", h.Get("Access-Control-Allow-Methods"))
	require.Equal(t, "Content-Type", h.Get("Access-Control-Allow-Headers"))
}

// paLines indents a JSON body one element per line, for goldens a person
// can read in a diff; the body itself is compared byte for byte too,
// since the split is on the exact separators.
func paLines(body string) string {
	return strings.ReplaceAll(body, "}, {", "},\n{") + "\n"
}
