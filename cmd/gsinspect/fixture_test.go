package main

import (
	"io"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/internal/vfs"
	"github.com/goodseed/goodseed-go/run"
)

// The fixture: a small home of three runs in two projects, committed under
// testdata/home so that the golden outputs of ls, info, fields and dump
// (testdata/*.golden) are byte-for-byte stable: the write times in it came
// from the clock once. GOODSEED_WRITE_GOLDEN=1 rebuilds the fixture and
// rewrites every golden file:
//
//	GOODSEED_WRITE_GOLDEN=1 go test ./cmd/gsinspect -run 'Golden'
//
//	vision/bold-falcon    finished; a loss with a NaN, an +Inf and an
//	                      overwritten step, an accuracy, a learning-rate
//	                      schedule, string notes, configs of every type
//	vision/calm-otter     failed (CloseFailed), a diverging loss
//	ws/proj/quiet-heron   crashed: copied while its writer was live, so it
//	                      says running, no process holds its LOCK, it has
//	                      no index and its segment is unsealed
const (
	fixtureHome    = "testdata/home"
	fixtureFinish  = fixtureHome + "/projects/vision/runs/bold-falcon"
	fixtureFailed  = fixtureHome + "/projects/vision/runs/calm-otter"
	fixtureCrashed = fixtureHome + "/projects/ws/proj/runs/quiet-heron"
)

var (
	writeGolden = os.Getenv("GOODSEED_WRITE_GOLDEN") == "1"
	fixtureOnce sync.Once
	fixtureErr  error
)

// fixture returns the fixture home, rebuilding it first (once per test
// binary) when GOODSEED_WRITE_GOLDEN=1.
func fixture(t *testing.T) string {
	t.Helper()
	if writeGolden {
		fixtureOnce.Do(func() { fixtureErr = buildFixture(t, fixtureHome) })
		require.NoError(t, fixtureErr)
	}
	_, err := os.Stat(fixtureFinish)
	require.NoError(t, err, "fixture missing: GOODSEED_WRITE_GOLDEN=1 go test ./cmd/gsinspect rebuilds it")
	return fixtureHome
}

// checkGolden compares got with testdata/name.golden, or rewrites the file
// when GOODSEED_WRITE_GOLDEN=1.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if writeGolden {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "GOODSEED_WRITE_GOLDEN=1 go test ./cmd/gsinspect writes it")
	require.Equal(t, string(want), got, "output differs from %s", path)
}

// fixtureOptions are the options of every run a test writes: no Git, no
// console capture, nothing on stderr.
func fixtureOptions(home, project, id string) run.Options {
	return run.Options{
		Home: home, Project: project, RunID: id, Quiet: true,
		Git:        run.GitOptions{Disabled: true},
		Monitoring: run.MonitoringOptions{Off: true},
	}
}

// buildFixture writes the fixture home afresh.
func buildFixture(t *testing.T, home string) error {
	if err := os.RemoveAll(home); err != nil {
		return err
	}

	// vision/bold-falcon: finished.
	o := fixtureOptions(home, "vision", "bold-falcon")
	o.Name = "baseline resnet"
	o.Description = "the reference run"
	o.Tags = []string{"baseline", "resnet"}
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
		{"batch_size", 128},
		{"amp", true},
		{"resume_from", nil},
		{"data/started", time.Date(2026, 1, 2, 3, 4, 5, 600_000_000, time.UTC)},
		{"data/augment", run.StringSet{"flip", "crop", "color jitter"}},
		{"model/description", "ResNet-18 with a \"wide\" stem\tand a long description that will be clipped"},
		{"model/dropout", math.NaN()},
	} {
		if err := r.Set(c.path, c.v); err != nil {
			return err
		}
	}
	loss, acc, lr, notes := r.Field("train/loss"), r.Field("train/acc"), r.Field("train/lr"), r.Field("notes")
	for i := range 60 {
		step := float64(i)
		v := float64(float32(2.5*math.Exp(-step/20) + 0.05*math.Sin(step)))
		switch i {
		case 17:
			v = math.NaN()
		case 31:
			v = math.Inf(1)
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
			// Flush now and then, so the series span several blocks.
			if err := r.Flush(); err != nil {
				return err
			}
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
		{40, "a long note that goes on and on, well past the forty characters a table shows"},
		{59, "done, with \"quotes\", a tab\tand unicode ✓"},
	} {
		if err := notes.LogString(n.text, n.step); err != nil {
			return err
		}
	}
	if err := r.Close(); err != nil {
		return err
	}

	// vision/calm-otter: failed.
	o = fixtureOptions(home, "vision", "calm-otter")
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
	if err := r.CloseFailed("loss diverged at step 19"); err != nil {
		return err
	}

	// ws/proj/quiet-heron: crashed. The run is written in a scratch home
	// and its files copied while the writer is live (after a Flush):
	// exactly what a kill -9 leaves, without a child process.
	scratch := t.TempDir()
	o = fixtureOptions(scratch, "ws/proj", "quiet-heron")
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
	if err := copyRunFiles(r.Dir(), filepath.Join(home, "projects", "ws", "proj", "runs", "quiet-heron")); err != nil {
		r.Close()
		return err
	}
	return r.Close()
}

// copyRunFiles copies the regular files of src into dst (created).
func copyRunFiles(src, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, de := range ents {
		if !de.Type().IsRegular() {
			continue
		}
		if err := copyOneFile(filepath.Join(src, de.Name()), filepath.Join(dst, de.Name())); err != nil {
			return err
		}
	}
	return nil
}

func copyOneFile(src, dst string) error {
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

// tempHomeCopy copies a home tree (projects/.../runs/<id>/files) into a
// temporary directory, for tests that damage or add runs.
func tempHomeCopy(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
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
		return copyOneFile(p, filepath.Join(dst, rel))
	})
	require.NoError(t, err)
	return dst
}

// fixtureNow is the clock info's golden outputs use: 90 minutes after the
// newest heartbeat recorded in the fixture, so that heartbeat ages are
// stable.
func fixtureNow(t *testing.T) time.Time {
	t.Helper()
	var newest time.Time
	for _, dir := range []string{fixtureFinish, fixtureFailed, fixtureCrashed} {
		o, _, err := engine.ReadOwner(vfs.Default, dir)
		require.NoError(t, err)
		if o.Heartbeat.After(newest) {
			newest = o.Heartbeat
		}
	}
	return newest.Add(90 * time.Minute)
}

// withClock fixes info's clock for one test.
func withClock(t *testing.T, now time.Time) {
	t.Helper()
	old := timeNow
	timeNow = func() time.Time { return now }
	t.Cleanup(func() { timeNow = old })
}

// newTestRun starts a run in home with the fixture's options.
func newTestRun(home, project, id string) (*run.Run, error) {
	return run.New(fixtureOptions(home, project, id))
}
