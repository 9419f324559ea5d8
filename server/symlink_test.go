//go:build unix

package server

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/index"
	"github.com/goodseed/goodseed-go/run"
	"github.com/goodseed/goodseed-go/segment"
)

// A symlink planted in a run directory under the home, at any name the
// engine opens or creates, pointing at a file outside the home, is never
// followed by a request (issue 14): before, a LOCK that was a link had its
// target created, or its first 512 bytes overwritten with the owner
// record, by POST /api/v1/runs and by Part A's unauthenticated trash.

const symOutsideBytes = "outside the home: not to be touched\n"

var symNames = []string{
	engine.LockFileName,
	segment.SegmentName(1, 1),
	segment.SegmentName(1, 2), // the next segment a writer would create
	index.FileName,
	index.FileName + ".tmp-1234abcd", // debris of a crashed index write
	fmt.Sprintf("%08x.mark", 1),      // the writer's mark file
	fmt.Sprintf("%08x.mark.tmp", 1),  // and the temp file it is written to
}

// symRefused are the names whose link makes every write of the run fail:
// the engine cannot take the lock, or cannot read or create the segment.
var symRefused = map[string]bool{
	engine.LockFileName:       true,
	segment.SegmentName(1, 1): true,
	segment.SegmentName(1, 2): true,
}

// symPlant makes ws/p/<id> (a finished run, unless empty) under e's home,
// puts a link to parent/canary/target (holding symOutsideBytes, or absent)
// at name in it, and takes e's snapshot afresh.
func symPlant(t *testing.T, e *hsEnv, id, name string, withRun, dangling bool) (dir, target string) {
	t.Helper()
	dir = filepath.Join(e.home, filepath.FromSlash(hsRunRel("ws", "p", id)))
	if withRun {
		r, err := run.New(paOptions(e.home, "ws/p", id))
		require.NoError(t, err)
		require.NoError(t, r.Set("cfg/lr", 0.1))
		for i := range 10 {
			require.NoError(t, r.Field("m").Log(float64(i), float64(i)))
		}
		require.NoError(t, r.Close())
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	target = filepath.Join(e.parent, "canary", "target")
	if !dangling {
		require.NoError(t, os.WriteFile(target, []byte(symOutsideBytes), 0o644))
	}
	if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	require.NoError(t, os.Symlink(target, filepath.Join(dir, name)))
	// The engine may replace or remove the link (an index or mark is
	// renamed over it, a temp file removed): the run directory's own
	// entries may vanish, everything else is compared strictly.
	e.before = hsTree(t, e.parent)
	runRel := filepath.Join("home", filepath.FromSlash(hsRunRel("ws", "p", id)))
	for p := range e.before {
		if strings.HasPrefix(p, runRel+string(filepath.Separator)) {
			delete(e.before, p)
		}
	}
	return dir, target
}

// symCheck: the target holds what it held (or is still absent), nothing
// outside the home changed, and inside it only the run's directory did.
func symCheck(t *testing.T, e *hsEnv, id, target string, dangling bool) {
	t.Helper()
	b, err := os.ReadFile(target)
	if dangling {
		require.ErrorIs(t, err, fs.ErrNotExist, "the dangling link's target was created: %q", b)
	} else {
		require.NoError(t, err)
		require.Equal(t, symOutsideBytes, string(b), "the link's target was written")
	}
	e.requireContained(hsRunRel("ws", "p", id))
}

// symRequireError: a refused request answers an error, never 2xx.
func symRequireError(t *testing.T, rec *httptest.ResponseRecorder, what string) {
	t.Helper()
	require.GreaterOrEqualf(t, rec.Code, 400, "%s answered %d: %s", what, rec.Code, hsClip(rec.Body.String()))
}

func symCases(t *testing.T, fn func(t *testing.T, name string, dangling bool)) {
	for _, name := range symNames {
		for _, dangling := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/dangling=%v", name, dangling), func(t *testing.T) { fn(t, name, dangling) })
		}
	}
}

// TestSymlinkAPIv1Create: POST /api/v1/runs on a run directory that holds
// only the link, then ingest, configs and status.
func TestSymlinkAPIv1Create(t *testing.T) {
	symCases(t, func(t *testing.T, name string, dangling bool) {
		e := newHSEnv(t)
		_, target := symPlant(t, e, "planted", name, false, dangling)
		rec := e.v1("POST", "/api/v1/runs",
			[]byte(`{"workspace": "ws", "project": "p", "run_id": "planted", "experiment_name": null}`), "application/json")
		t.Logf("create: %d %s", rec.Code, hsClip(rec.Body.String()))
		symCheck(t, e, "planted", target, dangling)
		if name == engine.LockFileName {
			symRequireError(t, rec, "POST /api/v1/runs")
		}
		symV1Writes(t, e, "planted", name, target, dangling)
	})
}

// TestSymlinkAPIv1Resume: the requests a client resuming a run sends, on a
// finished run with the link planted.
func TestSymlinkAPIv1Resume(t *testing.T) {
	symCases(t, func(t *testing.T, name string, dangling bool) {
		e := newHSEnv(t)
		_, target := symPlant(t, e, "planted", name, true, dangling)
		rec := e.v1("POST", "/api/v1/runs",
			[]byte(`{"workspace": "ws", "project": "p", "run_id": "planted", "experiment_name": null}`), "application/json")
		t.Logf("create (exists): %d %s", rec.Code, hsClip(rec.Body.String()))
		symCheck(t, e, "planted", target, dangling)
		symV1Writes(t, e, "planted", name, target, dangling)
		for _, get := range []string{"", "/paths", "/data/metrics?path=m"} {
			rec := e.v1("GET", "/api/v1/runs/ws~p~planted"+get, nil, "")
			t.Logf("GET %s: %d %s", get, rec.Code, hsClip(rec.Body.String()))
		}
		symCheck(t, e, "planted", target, dangling)
	})
}

// symV1Writes sends ingest, configs and status for ws/p/<id>: each is
// refused when name's link makes the run unwritable, and none writes
// outside the home.
func symV1Writes(t *testing.T, e *hsEnv, id, name, target string, dangling bool) {
	t.Helper()
	for _, req := range []struct {
		what string
		rec  *httptest.ResponseRecorder
	}{
		{"ingest", e.ingest(id, v1PyIngestJSON([]string{v1PyMetricPoint("m", 100, 1, 0.5)}), "application/json")},
		{"configs", e.configs(id, v1PyConfigsBody([]string{v1PyConfig("cfg/note", "str", "x")}))},
		{"status", e.v1("POST", "/api/v1/runs/ws~p~"+id+"/status", []byte(`{"status": "finished"}`), "application/json")},
	} {
		t.Logf("%s: %d %s", req.what, req.rec.Code, hsClip(req.rec.Body.String()))
		symCheck(t, e, id, target, dangling)
		if symRefused[name] {
			symRequireError(t, req.rec, req.what)
		}
	}
}

// TestSymlinkPartA: trash and restore (unauthenticated) and the reads of
// Part A on a finished run with the link planted.
func TestSymlinkPartA(t *testing.T) {
	symCases(t, func(t *testing.T, name string, dangling bool) {
		e := newHSEnv(t)
		_, target := symPlant(t, e, "planted", name, true, dangling)
		for _, verb := range []string{"trash", "trash/restore"} {
			rec := paDo(t, e.h, http.MethodPost, "/api/runs/ws/p/planted/"+verb)
			t.Logf("%s: %d %s", verb, rec.Code, hsClip(rec.Body.String()))
			paRequireCORS(t, rec.Header())
			symCheck(t, e, "planted", target, dangling)
			// Restoring a run that was never trashed writes nothing, so
			// only trash is refused.
			if symRefused[name] && verb == "trash" {
				symRequireError(t, rec, verb)
				paErrorBody(t, rec.Body.String())
			}
		}
		for _, get := range []string{"/api/runs", "/api/runs/ws/p/planted/configs", "/api/runs/ws/p/planted/metric-paths",
			"/api/runs/ws/p/planted/metrics?path=m", "/api/runs/ws/p/planted/string_series"} {
			rec := paDo(t, e.h, http.MethodGet, get)
			t.Logf("GET %s: %d %s", get, rec.Code, hsClip(rec.Body.String()))
		}
		symCheck(t, e, "planted", target, dangling)
	})
}
