package server

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/internal/segtest"
	"github.com/goodseed/goodseed-go/run"
)

func TestPartAOptionsAndCORS(t *testing.T) {
	h := paServer(t, paFixture(t)).Handler()
	for _, p := range []string{"/", "/api/projects", "/api/runs", "/api/runs/vision/bold-falcon/configs",
		"/api/runs/vision/bold-falcon/trash", "/anything/else", "/api/runs/%2e%2e/x/configs"} {
		rec := paDo(t, h, http.MethodOptions, p)
		require.Equal(t, http.StatusNoContent, rec.Code, p)
		require.Empty(t, rec.Body.String(), p)
		paRequireCORS(t, rec.Header())
	}
	// Errors carry CORS too, and the JSON error shape.
	rec := paDo(t, h, http.MethodGet, "/api/nope")
	require.Equal(t, http.StatusNotFound, rec.Code)
	paRequireCORS(t, rec.Header())
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	require.Equal(t, `{"error": "Not found"}`, rec.Body.String())
}

// paError decodes an error body.
func paErrorBody(t *testing.T, body string) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &e), body)
	require.NotEmpty(t, e.Error, body)
	return e.Error
}

func TestPartAErrors(t *testing.T) {
	h := paServer(t, paFixture(t)).Handler()
	const bf = "/api/runs/vision/bold-falcon"
	for _, tc := range []struct {
		method, target string
		status         int
		contains       string
	}{
		{"GET", "/api/runs/vision/no-such-run/configs", 404, "Run not found: vision/no-such-run"},
		{"GET", "/api/runs/nope/bold-falcon/metrics", 404, "Run not found"},
		{"GET", "/api/runs/ws/proj/nope/string_series", 404, "Run not found"},
		{"POST", "/api/runs/vision/no-such-run/trash", 404, "Run not found"},
		{"GET", "/api/runs/vision/no-such-run/metrics?pointCount=x", 404, "Run not found"}, // the run first, as Python
		{"GET", bf + "/nope", 404, "Not found"},
		{"GET", "/api/runs/bold-falcon/configs", 404, "Not found"}, // no project
		{"GET", "/api/runs/", 404, "Not found"},
		{"GET", bf, 404, "Not found"},
		{"POST", bf + "/configs", 404, "use GET"},
		{"GET", bf + "/trash", 404, "use POST"},
		{"GET", bf + "/trash/restore", 404, "use POST"},
		{"POST", "/api/projects", 404, "use GET"},
		{"DELETE", "/api/runs", 404, "use GET"},
		{"GET", bf + "/metrics?pointCount=10", 400, "pointCount requires a path parameter"},
		{"GET", bf + "/metrics?pointCount=abc", 400, "pointCount requires a path"},
		{"GET", bf + "/metrics?path=train/loss&pointCount=abc", 400, "pointCount must be an integer"},
		{"GET", bf + "/metrics?path=train/loss&pointCount=1.5", 400, "pointCount must be an integer"},
		{"GET", bf + "/metrics?path=train/loss&pointCount=0", 400, "pointCount must be a positive integer"},
		{"GET", bf + "/metrics?path=train/loss&pointCount=-3", 400, "positive"},
		{"GET", bf + "/metrics?path=train/loss&pointCount=99999999999999999999", 400, "must be an integer"},
		{"GET", bf + "/metrics?path=train/loss&pointCount=5&firstPointIndex=a", 400, "firstPointIndex must be an integer"},
		{"GET", bf + "/metrics?path=train/loss&pointCount=5&lastPointIndex=1e3", 400, "lastPointIndex must be an integer"},
		{"GET", bf + "/metrics?firstPointIndex=zero", 400, "firstPointIndex must be an integer"},
		{"GET", bf + "/string_series?limit=ten", 400, "limit must be an integer"},
		{"GET", bf + "/string_series?offset=1.0", 400, "offset must be an integer"},
		{"GET", bf + "/string_series?tail=%20", 400, "tail must be an integer"},
		{"GET", bf + "/string_series?limit=-1", 400, "limit must not be negative"},
		{"GET", bf + "/string_series?tail=-2", 400, "tail must not be negative"},
		{"GET", bf + "/metrics?path=%zz", 400, "malformed query"},
		{"GET", "/api/runs?project=%zz", 400, "malformed query"},
	} {
		rec := paDo(t, h, tc.method, tc.target)
		require.Equal(t, tc.status, rec.Code, "%s %s: %s", tc.method, tc.target, rec.Body.String())
		paRequireCORS(t, rec.Header())
		require.Contains(t, paErrorBody(t, rec.Body.String()), tc.contains, "%s %s", tc.method, tc.target)
	}
	// Empty values count as absent, as in the Python server.
	body := paGet(t, h, bf+"/metrics?path=train/loss&pointCount=")
	require.Contains(t, body, `{"metrics": [`)
	body = paGet(t, h, bf+"/string_series?limit=&offset=&tail=")
	require.Contains(t, body, `"total": 9}`)
	require.Equal(t, 9, strings.Count(body, `"path": `))
	// HEAD is GET without a body.
	rec := paDo(t, h, http.MethodHead, "/api/runs")
	require.Equal(t, http.StatusOK, rec.Code)
}

// paSnapshot records every file and directory under dir with its size,
// mode and modification time.
func paSnapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out[p] = fmt.Sprintf("%v %d %d", fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		return nil
	})
	require.NoError(t, err)
	return out
}

// TestPartAPathTraversal sends hostile paths. Outside the home lies a
// complete copy of a run, reachable through a symlinked project directory;
// were any request to read it, it would answer 200 with its data, and were
// any to write it (trash), a segment would appear or change there.
func TestPartAPathTraversal(t *testing.T) {
	home := paFixtureCopy(t)
	outside := t.TempDir()
	// The outside run, under the same names as inside, and one more.
	src := filepath.Join(paFixture(t), "projects", "vision")
	out := paCopyTree(t, src)
	require.NoError(t, os.Rename(out, filepath.Join(outside, "vision")))
	require.NoError(t, os.WriteFile(filepath.Join(outside, "canary"), []byte("secret"), 0o644))
	require.NoError(t, os.Symlink(filepath.Join(outside, "vision"), filepath.Join(home, "projects", "evil")))
	// A symlinked run directory too.
	require.NoError(t, os.Symlink(filepath.Join(outside, "vision", "runs", "bold-falcon"), filepath.Join(home, "projects", "vision", "runs", "linked-run")))
	before := paSnapshot(t, outside)
	homeBefore := paSnapshot(t, home)

	h := paServer(t, home).Handler()
	const sep, dot, name, notFound = "encoded separator", "dot segment", "invalid", "Run not found"
	for _, tc := range []struct {
		method, target string
		status         int
		contains       string
	}{
		{"GET", "/api/runs/%2e%2e/bold-falcon/configs", 400, dot},
		{"GET", "/api/runs/%2E%2E/%2e%2e/configs", 400, dot},
		{"GET", "/api/runs/vision/%2e%2e/configs", 400, dot},
		{"GET", "/api/runs/vision/%2e/configs", 400, dot},
		{"GET", "/api/runs/%2e%2e%2F%2e%2e%2Fvision/bold-falcon/configs", 400, sep},
		{"GET", "/api/runs/vision%2Fruns%2Fbold-falcon/x/configs", 400, sep},
		{"GET", "/api/runs/%2Fetc/passwd/configs", 400, sep},
		{"GET", "/api/runs/%2ftmp/x/metrics", 400, sep},
		{"GET", "/api/runs/vision/bold-falcon%2F..%2F..%2Fcalm-otter/configs", 400, sep},
		{"GET", "/api/runs/vision%5C..%5Cx/bold-falcon/configs", 400, sep},
		{"GET", "/api/runs/%252e%252e/bold-falcon/configs", 400, name}, // decoded once: "%2e%2e" is no project name
		{"GET", "/api/runs/.hidden/bold-falcon/configs", 400, name},
		{"GET", "/api/runs/a/b/c/bold-falcon/configs", 400, name}, // three project segments
		{"GET", "/api/runs/vision/bold%00falcon/configs", 400, name},
		{"GET", "/api/runs/evil/bold-falcon/configs", 404, notFound}, // symlink leading out
		{"GET", "/api/runs/evil/bold-falcon/metrics?path=train/loss", 404, notFound},
		{"GET", "/api/runs/evil/bold-falcon/string_series", 404, notFound},
		{"POST", "/api/runs/evil/bold-falcon/trash", 404, notFound},
		{"POST", "/api/runs/evil/calm-otter/trash/restore", 404, notFound},
		{"GET", "/api/runs/vision/linked-run/configs", 404, notFound}, // run directory symlink leading out
		{"POST", "/api/runs/vision/linked-run/trash", 404, notFound},
	} {
		rec := paDo(t, h, tc.method, tc.target)
		require.Equal(t, tc.status, rec.Code, "%s %s: %s", tc.method, tc.target, rec.Body.String())
		paRequireCORS(t, rec.Header())
		require.Contains(t, paErrorBody(t, rec.Body.String()), tc.contains, tc.target)
		require.NotContains(t, rec.Body.String(), "baseline", "%s served data", tc.target)
	}
	// Literal dot segments and empty segments never reach Part A: the
	// server refuses them first (400, with the error body and CORS).
	for _, p := range []string{"/api/runs/vision/../../../etc/x/configs", "/api/runs//etc/passwd/configs",
		"/api/runs/./evil/bold-falcon/configs", "/api/runs/vision/runs/../../evil/bold-falcon/configs"} {
		rec := paDo(t, h, http.MethodGet, p)
		require.Equal(t, http.StatusBadRequest, rec.Code, p)
		paRequireCORS(t, rec.Header())
		require.Contains(t, paErrorBody(t, rec.Body.String()), "segment", p)
		require.NotContains(t, rec.Body.String(), "baseline")
	}
	// The listing does not enter the symlinks either.
	body := paGet(t, h, "/api/runs")
	require.NotContains(t, body, `"evil"`)
	require.NotContains(t, body, "linked-run")
	require.Equal(t, 3, strings.Count(body, `"run_id"`))
	body = paGet(t, h, "/api/projects")
	require.NotContains(t, body, "evil")

	require.Equal(t, before, paSnapshot(t, outside), "nothing outside the home was written")
	require.Equal(t, homeBefore, paSnapshot(t, home), "nothing inside the home was written either")
}

// paRuns decodes /api/runs into run id → fields.
func paRuns(t *testing.T, h http.Handler, target string) map[string]map[string]any {
	t.Helper()
	var got struct {
		Runs []map[string]any `json:"runs"`
	}
	require.NoError(t, json.Unmarshal([]byte(paGet(t, h, target)), &got))
	out := map[string]map[string]any{}
	for _, r := range got.Runs {
		out[r["project"].(string)+"/"+r["run_id"].(string)] = r
	}
	return out
}

func paFileNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func TestPartATrashRoundTrip(t *testing.T) {
	home := paFixtureCopy(t)
	h := paServer(t, home).Handler()
	const id = "vision/bold-falcon"
	dir := filepath.Join(home, "projects", "vision", "runs", "bold-falcon")
	require.Equal(t, false, paRuns(t, h, "/api/runs")[id]["trashed"])

	// Restoring a run never trashed writes nothing.
	files := paSnapshot(t, dir)
	rec := paDo(t, h, http.MethodPost, "/api/runs/vision/bold-falcon/trash/restore")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.Equal(t, `{"ok": true}`, rec.Body.String())
	paRequireCORS(t, rec.Header())
	require.Equal(t, files, paSnapshot(t, dir))

	names := paFileNames(t, dir)
	rec = paDo(t, h, http.MethodPost, "/api/runs/vision/bold-falcon/trash")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.Equal(t, `{"ok": true}`, rec.Body.String())
	r := paRuns(t, h, "/api/runs")[id]
	require.Equal(t, true, r["trashed"])
	require.Equal(t, "finished", r["status"], "trash leaves the status alone")
	require.Subset(t, paFileNames(t, dir), names, "nothing deleted")
	require.Greater(t, len(paFileNames(t, dir)), len(names), "the flag went into a new segment")

	// The flag is run meta, recorded through the engine.
	rd, err := engine.OpenReader(dir, nil)
	require.NoError(t, err)
	require.Equal(t, "true", rd.Meta()[catMetaTrashed].Val)
	require.NoError(t, rd.Close())
	// The data is untouched.
	require.Contains(t, paGet(t, h, "/api/runs/vision/bold-falcon/metrics?path=train/acc"), `"step": 55.0`)

	// Trash again: idempotent, writes nothing.
	files = paSnapshot(t, dir)
	rec = paDo(t, h, http.MethodPost, "/api/runs/vision/bold-falcon/trash")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, files, paSnapshot(t, dir))

	rec = paDo(t, h, http.MethodPost, "/api/runs/vision/bold-falcon/trash/restore")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.Equal(t, false, paRuns(t, h, "/api/runs")[id]["trashed"])
	// A fresh server (no cache) sees it too.
	require.Equal(t, false, paRuns(t, paServer(t, home).Handler(), "/api/runs?project=vision")[id]["trashed"])
	rd, err = engine.OpenReader(dir, nil)
	require.NoError(t, err)
	require.Equal(t, "false", rd.Meta()[catMetaTrashed].Val)
	require.NoError(t, rd.Close())

	// A crashed run can be trashed; it stays crashed.
	rec = paDo(t, h, http.MethodPost, "/api/runs/ws/proj/quiet-heron/trash")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	r = paRuns(t, h, "/api/runs")["ws/proj/quiet-heron"]
	require.Equal(t, true, r["trashed"])
	require.Equal(t, true, r["crashed"])
	require.Equal(t, "failed", r["status"])
}

// paLiveRun starts a run in home that the test writes while the server
// reads it.
func paLiveRun(t *testing.T, home, project, id string) *run.Run {
	t.Helper()
	r, err := run.New(paOptions(home, project, id))
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func TestPartATrashLiveRunIsRefused(t *testing.T) {
	home := t.TempDir()
	r := paLiveRun(t, home, "live", "busy-bee")
	require.NoError(t, r.Field("x").Log(1, 0))
	require.NoError(t, r.Flush())
	h := paServer(t, home).Handler()
	dir := r.Dir()
	files := paFileNames(t, dir)

	rec := paDo(t, h, http.MethodPost, "/api/runs/live/busy-bee/trash")
	require.Equal(t, http.StatusConflict, rec.Code, rec.Body.String())
	paRequireCORS(t, rec.Header())
	msg := paErrorBody(t, rec.Body.String())
	require.Contains(t, msg, "live/busy-bee is being written")
	require.Contains(t, msg, fmt.Sprintf("pid %d", os.Getpid()))
	require.Equal(t, files, paFileNames(t, dir))
	require.Equal(t, false, paRuns(t, h, "/api/runs")["live/busy-bee"]["trashed"])
	// The writer is unharmed.
	require.NoError(t, r.Field("x").Log(2, 1))
	require.NoError(t, r.Flush())

	// Once it has finished, trash works.
	require.NoError(t, r.Close())
	rec = paDo(t, h, http.MethodPost, "/api/runs/live/busy-bee/trash")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	got := paRuns(t, h, "/api/runs")["live/busy-bee"]
	require.Equal(t, true, got["trashed"])
	require.Equal(t, "finished", got["status"])
}

// TestPartALiveRun reads a run while its writer logs: every flushed point
// is served, and the status follows the writer.
func TestPartALiveRun(t *testing.T) {
	home := t.TempDir()
	h := paServer(t, home).Handler()
	require.Equal(t, `{"runs": []}`, paGet(t, h, "/api/runs"))
	require.Equal(t, `{"projects": []}`, paGet(t, h, "/api/projects"))

	o := paOptions(home, "ws/live", "growing-run")
	o.Name = "grows"
	o.Tags = []string{"b", "a"}
	r, err := run.New(o)
	require.NoError(t, err)
	defer r.Close()
	f := r.Field("train/loss")
	notes := r.Field("notes")
	const base = "/api/runs/ws/live/growing-run"
	for round := 1; round <= 3; round++ {
		for i := range 100 {
			step := float64((round-1)*100 + i)
			require.NoError(t, f.Log(step/10, step))
		}
		require.NoError(t, notes.LogString(fmt.Sprintf("round %d", round), float64(round)))
		require.NoError(t, r.Flush())

		var m struct {
			Metrics []struct{ Step float64 } `json:"metrics"`
		}
		require.NoError(t, json.Unmarshal([]byte(paGet(t, h, base+"/metrics?path=train/loss")), &m))
		require.Len(t, m.Metrics, round*100, "round %d", round)
		require.Equal(t, float64(round*100-1), m.Metrics[len(m.Metrics)-1].Step)

		var d struct {
			TotalCount int  `json:"totalCount"`
			Down       bool `json:"downsampled"`
		}
		require.NoError(t, json.Unmarshal([]byte(paGet(t, h, base+"/metrics?path=train/loss&pointCount=50")), &d))
		require.Equal(t, round*100, d.TotalCount)
		require.True(t, d.Down)
		require.Contains(t, paGet(t, h, base+"/string_series?path=notes&tail=1"), fmt.Sprintf(`"value": "round %d"`, round))

		got := paRuns(t, h, "/api/runs")["ws/live/growing-run"]
		require.Equal(t, "running", got["status"])
		require.Equal(t, false, got["crashed"])
		require.Nil(t, got["closed_at"])
		require.Equal(t, "grows", got["experiment_name"])
		require.Equal(t, []any{"train/loss"}, got["metric_paths"])
		require.Equal(t, []any{"notes"}, got["string_series_paths"])
	}
	require.Contains(t, paGet(t, h, base+"/configs"), `"sys/tags": ["a", "b"]`)
	require.Contains(t, paGet(t, h, "/api/projects"), `{"name": "ws/live", "run_count": 1, "last_modified": "`)
	require.NoError(t, r.Close())
	got := paRuns(t, h, "/api/runs")["ws/live/growing-run"]
	require.Equal(t, "finished", got["status"])
	require.NotNil(t, got["closed_at"])
}

// TestPartAConcurrentReads runs parallel GETs of every route while a writer
// logs; under -race this checks the catalog's and readers' locking. Each
// reader sees the series only grow.
func TestPartAConcurrentReads(t *testing.T) {
	home := paFixtureCopy(t)
	s := paServer(t, home)
	h := s.Handler()
	r := paLiveRun(t, home, "vision", "busy-writer")
	f := r.Field("train/loss")
	notes := r.Field("notes")
	done := make(chan struct{})
	writerErr := make(chan error, 1)
	go func() {
		defer close(done)
		for i := range 40 {
			for j := range 50 {
				step := float64(i*50 + j)
				if err := f.Log(step, step); err != nil {
					writerErr <- err
					return
				}
			}
			if err := notes.LogString("n", float64(i)); err != nil {
				writerErr <- err
				return
			}
			if err := r.Flush(); err != nil {
				writerErr <- err
				return
			}
		}
	}()
	const base = "/api/runs/vision/busy-writer"
	errs := make(chan error, 64)
	for g := range 6 {
		go func() {
			last := 0
			for k := 0; ; k++ {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				var target string
				switch (g + k) % 6 {
				case 0:
					target = base + "/metrics?path=train/loss"
				case 1:
					target = base + "/metrics?path=train/loss&pointCount=37&firstPointIndex=3"
				case 2:
					target = "/api/runs"
				case 3:
					target = base + "/string_series?tail=5"
				case 4:
					target = "/api/projects"
				case 5:
					target = "/api/runs/vision/bold-falcon/metrics"
				}
				rec := paDo(t, h, http.MethodGet, target)
				if rec.Code == http.StatusNotFound && strings.HasPrefix(target, base) {
					continue // before the writer's first flush
				}
				if rec.Code != http.StatusOK || !json.Valid(rec.Body.Bytes()) {
					errs <- fmt.Errorf("GET %s: %d %s", target, rec.Code, rec.Body.String())
					return
				}
				if strings.HasSuffix(target, "/metrics?path=train/loss") {
					n := strings.Count(rec.Body.String(), `"path"`)
					if n < last {
						errs <- fmt.Errorf("series shrank from %d to %d points", last, n)
						return
					}
					last = n
				}
			}
		}()
	}
	for range 6 {
		require.NoError(t, <-errs)
	}
	select {
	case err := <-writerErr:
		require.NoError(t, err)
	default:
	}
	require.Equal(t, 2000, strings.Count(paGet(t, h, base+"/metrics?path=train/loss"), `"path"`))
}

// TestCatalogReloadsOnlyChangedRuns counts the runs the catalog reads
// again: none when nothing changed, one when one run changed.
func TestCatalogReloadsOnlyChangedRuns(t *testing.T) {
	home := paFixtureCopy(t)
	c, err := newCatalog(filepath.Join(home, "projects"))
	require.NoError(t, err)
	defer c.close()
	ents, err := c.scan()
	require.NoError(t, err)
	require.Len(t, ents, 3)
	require.EqualValues(t, 3, c.loads.Load())
	for range 3 {
		_, err = c.scan()
		require.NoError(t, err)
	}
	require.EqualValues(t, 3, c.loads.Load(), "nothing changed, nothing reread")

	// One run gets a new segment (a resume that logs).
	o := paOptions(home, "vision", "bold-falcon")
	r, err := run.Resume("bold-falcon", o)
	require.NoError(t, err)
	require.NoError(t, r.Field("train/extra").Log(1, 1))
	require.NoError(t, r.Close())
	ents, err = c.scan()
	require.NoError(t, err)
	require.EqualValues(t, 4, c.loads.Load(), "only the changed run is reread")
	for _, e := range ents {
		if e.key.id == "bold-falcon" {
			require.Contains(t, e.summary().MetricPaths, "train/extra")
		}
	}

	// A removed run leaves the catalog.
	require.NoError(t, os.RemoveAll(filepath.Join(home, "projects", "vision", "runs", "calm-otter")))
	ents, err = c.scan()
	require.NoError(t, err)
	require.Len(t, ents, 2)
	c.mu.Lock()
	require.Len(t, c.entries, 2)
	c.mu.Unlock()

	// A directory without segments is no run.
	require.NoError(t, os.MkdirAll(filepath.Join(home, "projects", "vision", "runs", "empty-dir"), 0o755))
	ents, err = c.scan()
	require.NoError(t, err)
	require.Len(t, ents, 2)

	// ListRuns and ListProjects give the same view.
	rs, err := ListRuns(home)
	require.NoError(t, err)
	require.Len(t, rs, 2)
	require.Equal(t, "quiet-heron", rs[0].RunID)
	require.Equal(t, run.StatusCrashed, rs[0].Status)
	ps, err := ListProjects(home)
	require.NoError(t, err)
	require.Len(t, ps, 2)
}

// TestCatalogUnreadableRun: a run no reader can open (its only segment is
// of a format version this build does not know) is left out of /api/runs,
// as the Python server leaves out what it cannot read, and listed with its
// error by ListRuns; its routes answer 500 with the reason.
func TestCatalogUnreadableRun(t *testing.T) {
	home := paFixtureCopy(t)
	bad := filepath.Join(home, "projects", "vision", "runs", "broken-run")
	require.NoError(t, os.MkdirAll(bad, 0o755))
	b, err := os.ReadFile(filepath.Join(paFixtureCrashed, "00000001-0000000000000001.seg"))
	require.NoError(t, err)
	segtest.SetMajor(b, 9) // a later format
	require.NoError(t, os.WriteFile(filepath.Join(bad, "00000001-0000000000000001.seg"), b, 0o644))
	h := paServer(t, home).Handler()
	runs := paRuns(t, h, "/api/runs")
	require.Len(t, runs, 3)
	require.NotContains(t, runs, "vision/broken-run")
	rs, err := ListRuns(home)
	require.NoError(t, err)
	var found bool
	for _, r := range rs {
		if r.RunID == "broken-run" {
			found = true
			require.Error(t, r.Err)
		}
	}
	require.True(t, found)
	rec := paDo(t, h, http.MethodGet, "/api/runs/vision/broken-run/configs")
	require.Equal(t, http.StatusInternalServerError, rec.Code)
	require.Contains(t, paErrorBody(t, rec.Body.String()), "version")
}

// TestPartACrashedWriterDetected: a writer process killed with SIGKILL
// changes no file, yet /api/runs turns its run from running to crashed at
// once, because the catalog asks LOCK whether its writer is alive.
func TestPartACrashedWriterDetected(t *testing.T) {
	if os.Getenv("PA_CHILD_HOME") != "" {
		t.Skip("the child itself")
	}
	home := t.TempDir()
	h := paServer(t, home).Handler()
	child := paStartChildWriter(t, home)
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := paRuns(t, h, "/api/runs")["kill/doomed-run"]
		if got != nil && len(got["metric_paths"].([]any)) == 1 {
			require.Equal(t, "running", got["status"])
			require.Equal(t, false, got["crashed"])
			break
		}
		require.True(t, time.Now().Before(deadline), "child run never showed up")
		time.Sleep(20 * time.Millisecond)
	}
	dir := filepath.Join(home, "projects", "kill", "runs", "doomed-run")
	require.NoError(t, child.Process.Kill())
	_, _ = child.Process.Wait()
	files := paSnapshot(t, dir)
	got := paRuns(t, h, "/api/runs")["kill/doomed-run"]
	require.Equal(t, "failed", got["status"])
	require.Equal(t, true, got["crashed"])
	require.Equal(t, files, paSnapshot(t, dir), "no file changed: liveness alone told")
}

// TestPartAStringSeriesPaging compares paging and tail with a slice of the
// full ordering (by path, then step), for one series and for all.
func TestPartAStringSeriesPaging(t *testing.T) {
	home := t.TempDir()
	dir := filepath.Join(home, "projects", "p", "runs", "strings-run")
	st, err := engine.Create(dir, "strings-run", engine.Options{})
	require.NoError(t, err)
	base := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC).UnixMilli()
	type sp struct {
		path, value string
		step        float64
	}
	var all []sp
	for _, path := range []string{"b/logs", "a/notes", "c"} {
		f, err := st.Field(path, engine.KindString)
		require.NoError(t, err)
		for i := 9; i >= 0; i-- { // written out of order
			v := fmt.Sprintf("%s #%d", path, i)
			require.NoError(t, f.LogStringAt(float64(i), v, base+int64(i)))
		}
		require.NoError(t, f.LogStringAt(3, path+" #3 again", base+100)) // overwrite
	}
	_, err = st.Field("empty", engine.KindString)
	require.NoError(t, err)
	require.NoError(t, st.Close())
	for _, path := range []string{"a/notes", "b/logs", "c"} {
		for i := range 10 {
			v := fmt.Sprintf("%s #%d", path, i)
			if i == 3 {
				v = path + " #3 again"
			}
			all = append(all, sp{path, v, float64(i)})
		}
	}
	h := paServer(t, home).Handler()
	type page struct {
		Series []struct {
			Path, Value string
			Step        float64
			LoggedAt    string `json:"logged_at"`
		} `json:"string_series"`
		Total int `json:"total"`
	}
	for _, path := range []string{"", "b/logs", "empty", "nope"} {
		var want []sp
		for _, p := range all {
			if path == "" || p.path == path {
				want = append(want, p)
			}
		}
		for _, q := range []struct {
			limit, offset, tail *int
		}{
			{}, {limit: paInt(5)}, {limit: paInt(5), offset: paInt(3)}, {offset: paInt(7)}, {limit: paInt(0)},
			{limit: paInt(100), offset: paInt(28)}, {offset: paInt(1000)}, {tail: paInt(4)}, {tail: paInt(0)},
			{tail: paInt(1000)}, {tail: paInt(2), limit: paInt(1), offset: paInt(1)},
		} {
			target := "/api/runs/p/strings-run/string_series?x=1"
			exp := want
			if path != "" {
				target += "&path=" + path
			}
			if q.tail != nil {
				target += fmt.Sprintf("&tail=%d", *q.tail)
				exp = want[max(0, len(want)-*q.tail):]
			}
			if q.limit != nil {
				target += fmt.Sprintf("&limit=%d", *q.limit)
			}
			if q.offset != nil {
				target += fmt.Sprintf("&offset=%d", *q.offset)
			}
			if q.tail == nil {
				if q.offset != nil {
					exp = exp[min(*q.offset, len(exp)):]
				}
				if q.limit != nil {
					exp = exp[:min(*q.limit, len(exp))]
				}
			}
			var got page
			require.NoError(t, json.Unmarshal([]byte(paGet(t, h, target)), &got), target)
			require.Equal(t, len(want), got.Total, target)
			require.Len(t, got.Series, len(exp), target)
			for i, e := range exp {
				g := got.Series[i]
				require.Equal(t, e, sp{g.Path, g.Value, g.Step}, target)
				_, err := time.Parse(time.RFC3339Nano, g.LoggedAt)
				require.NoError(t, err)
			}
		}
	}
}

func paInt(v int) *int { return &v }

// TestCatalogRestamp checks the cheap restat: while a run directory's
// mtime is unchanged and was not racy when listed, only each writer's
// newest segment is stat'ed; a racy listing is always listed again.
func TestCatalogRestamp(t *testing.T) {
	home := paFixtureCopy(t)
	dir := filepath.Join(home, "projects", "vision", "runs", "calm-otter")
	old := time.Now().Add(-time.Hour)
	setTimes := func(tm time.Time) {
		require.NoError(t, filepath.WalkDir(home, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Chtimes(p, tm, tm)
		}))
	}
	setTimes(old)
	c, err := newCatalog(filepath.Join(home, "projects"))
	require.NoError(t, err)
	defer c.close()
	_, err = c.scan()
	require.NoError(t, err)
	require.EqualValues(t, 3, c.loads.Load())

	// A file appears while the directory's mtime stays as it was (what a
	// coarse timestamp allows): the cheap path does not list, so it is not
	// seen — proof the cheap path is the one taken.
	extra := filepath.Join(dir, "00000002-0000000000000001.seg")
	require.NoError(t, paCopyFile(filepath.Join(dir, "00000001-0000000000000002.seg"), extra))
	require.NoError(t, os.Chtimes(extra, old, old))
	require.NoError(t, os.Chtimes(dir, old, old))
	_, err = c.scan()
	require.NoError(t, err)
	require.EqualValues(t, 3, c.loads.Load())

	// The newest segment of a writer changes: the run is listed and read
	// again, and the new file is in its stamp.
	require.NoError(t, os.Chtimes(filepath.Join(dir, "00000001-0000000000000002.seg"), old, time.Now()))
	_, err = c.scan()
	require.NoError(t, err)
	require.EqualValues(t, 4, c.loads.Load())
	c.mu.Lock()
	e := c.entries[catKey{"vision", "calm-otter"}]
	c.mu.Unlock()
	e.mu.Lock()
	require.Contains(t, e.stamp, catStamp{name: "00000002-0000000000000001.seg", size: paSize(t, extra), mtimeNs: old.UnixNano()})
	e.mu.Unlock()

	// A sealed segment that changes is not looked at (it never does).
	require.NoError(t, os.Chtimes(filepath.Join(dir, "00000001-0000000000000001.seg"), old, time.Now()))
	_, err = c.scan()
	require.NoError(t, err)
	require.EqualValues(t, 4, c.loads.Load())

	// The directory changes: listed again, the changed file seen.
	require.NoError(t, os.Chtimes(dir, old, old.Add(time.Second)))
	_, err = c.scan()
	require.NoError(t, err)
	require.EqualValues(t, 5, c.loads.Load())

	// A directory listed within catRacyNs of its last change is listed
	// on every look: a file slipping in under the same mtime is seen.
	now := time.Now()
	require.NoError(t, os.Chtimes(dir, now, now))
	_, err = c.scan()
	require.NoError(t, err)
	require.EqualValues(t, 5, c.loads.Load(), "same files")
	require.NoError(t, os.Remove(extra))
	require.NoError(t, os.Chtimes(dir, now, now))
	_, err = c.scan()
	require.NoError(t, err)
	require.EqualValues(t, 6, c.loads.Load())
}

func paSize(t *testing.T, p string) int64 {
	t.Helper()
	fi, err := os.Stat(p)
	require.NoError(t, err)
	return fi.Size()
}

// TestPartADamagedBlock: a flipped bit in a segment costs the points of
// that block only; the response says which block was skipped, and every
// point it serves is one the run really holds.
func TestPartADamagedBlock(t *testing.T) {
	clean := paServer(t, paFixture(t)).Handler()
	home := paFixtureCopy(t)
	seg := filepath.Join(home, "projects", "vision", "runs", "bold-falcon", "00000001-0000000000000001.seg")
	b, err := os.ReadFile(seg)
	require.NoError(t, err)
	b[len(b)/2] ^= 0x40
	require.NoError(t, os.WriteFile(seg, b, 0o644))
	h := paServer(t, home).Handler()

	type pt struct {
		Path  string
		Step  float64
		Value any
	}
	decode := func(body string) map[string]any {
		var m struct{ Metrics []pt }
		require.NoError(t, json.Unmarshal([]byte(body), &m))
		out := map[string]any{}
		for _, p := range m.Metrics {
			out[fmt.Sprintf("%s@%v", p.Path, p.Step)] = p.Value
		}
		return out
	}
	want := decode(paGet(t, clean, "/api/runs/vision/bold-falcon/metrics"))
	rec := paDo(t, h, http.MethodGet, "/api/runs/vision/bold-falcon/metrics")
	require.Equal(t, http.StatusOK, rec.Code)
	dmg := rec.Header().Get(paDamageHeader)
	require.Contains(t, dmg, "00000001-0000000000000001.seg at offset")
	require.Contains(t, dmg, "checksum mismatch")
	require.NotContains(t, dmg, home, "no absolute paths")
	require.Equal(t, 1, strings.Count(dmg, "at offset"), "each damaged block once: %s", dmg)
	got := decode(rec.Body.String())
	require.Less(t, len(got), len(want))
	require.NotEmpty(t, got)
	for k, v := range got {
		require.Equal(t, want[k], v, k)
	}
	rec = paDo(t, h, http.MethodGet, "/api/runs/vision/bold-falcon/metrics?path=train/loss&pointCount=5")
	require.Equal(t, http.StatusOK, rec.Code)
	require.NotEmpty(t, rec.Header().Get(paDamageHeader))
}

// TestCatalogDroppedEntryStillServes: a run the catalog dropped while a
// request was reading it (a scan whose walk did not see it) is still
// served, and a catalog that closed serves requests still coming in.
func TestCatalogDroppedEntryStillServes(t *testing.T) {
	home := paFixtureCopy(t)
	c, err := newCatalog(filepath.Join(home, "projects"))
	require.NoError(t, err)
	key := catKey{"vision", "bold-falcon"}
	dir := filepath.Join(c.projects, "vision", "runs", "bold-falcon")
	e := c.entry(catRef{key: key, dir: dir})
	c.drop(e) // what scan does to an entry its walk did not see
	sr, _, err := c.acquire(key, dir)
	require.NoError(t, err)
	require.Contains(t, sr.rd.Meta(), catMetaName)
	sr.release()
	require.NoError(t, c.close())
	sr, _, err = c.acquire(key, dir)
	require.NoError(t, err)
	require.Equal(t, "baseline resnet", sr.rd.Meta()[catMetaName].Val)
	sr.release()
}
