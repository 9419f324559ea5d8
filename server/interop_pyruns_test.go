package server

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/internal/pyclient"
)

// writePyLocalRuns has the real client write n local runs (SQLite) into
// home with pyrun's generator (every config type, int and float steps,
// inf, strings, tags; failed and killed runs among them).
func writePyLocalRuns(t *testing.T, src, home string, n, steps int, mode string) {
	t.Helper()
	script, err := os.ReadFile(filepath.Join("..", "pyrun", "testdata", "write_runs.py"))
	require.NoError(t, err)
	args, _ := json.Marshal([]any{n, steps, mode})
	pyclient.Run(t, src, "import sys; sys.argv[1:] = [str(a) for a in "+string(args)+"]\n"+string(script), "GOODSEED_HOME="+home)
}

// getJSON GETs url and decodes its JSON answer; it returns the status too.
func getJSON(t *testing.T, url string) (int, any, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var v any
	if len(b) > 0 {
		require.NoError(t, json.Unmarshal(b, &v), "%s: %s", url, b)
	}
	return resp.StatusCode, v, b
}

// TestPyRunsServedSideBySide: runs the real client wrote locally
// (SQLite), served by GoodSeed's own Python server and by ours from the
// same directory: every Part A endpoint answers the same JSON.
func TestPyRunsServedSideBySide(t *testing.T) {
	src := pyclient.Src(t)
	home := t.TempDir()
	t.Setenv("GOODSEED_PY_MIRROR", t.TempDir())
	writePyLocalRuns(t, src, home, 6, 300, "small")
	writePyLocalRuns(t, src, home, 3, 200, "plain")
	pyURL := pyclient.StartServer(t, src, filepath.Join(home, "projects"))
	ours := httptest.NewServer(mustServer(t, home).Handler())
	defer ours.Close()

	paths := []string{
		"/api/projects",
		"/api/runs",
		"/api/runs?project=ws/proj",
	}
	for _, run := range []string{"solo/run-000", "ws/proj/run-001", "ws/proj/run-004", "ws/proj/run-005",
		"plain/proj/plain-000", "plain/proj/plain-001", "plain/proj/plain-002"} {
		base := "/api/runs/" + run
		paths = append(paths,
			base+"/configs",
			base+"/metric-paths",
			base+"/metrics?path=train/loss",
			base+"/metrics?path=eval/half",
			base+"/metrics?path=train/loss&pointCount=50",
			base+"/metrics?path=train/loss&pointCount=20&firstPointIndex=10&lastPointIndex=200",
			base+"/metrics?path=no/such",
			base+"/string_series?path=log/line",
			base+"/string_series?path=log/line&limit=3&offset=2",
			base+"/string_series?path=log/line&tail=4",
			base+"/string_series",
		)
	}
	for _, p := range paths {
		pst, pv, pb := getJSON(t, pyURL+p)
		ost, ov, ob := getJSON(t, ours.URL+p)
		ov = withoutOurExtensions(ov)
		if pst == http.StatusInternalServerError && strings.Contains(string(pb), "is not JSON serializable") {
			// A listed difference: Python cannot answer the configs of a
			// run with tags or a datetime; we do.
			require.Equal(t, http.StatusOK, ost, "%s: %s", p, ob)
			continue
		}
		if !strings.Contains(p, "no/such") {
			require.Equal(t, http.StatusOK, pst, "%s: %s", p, pb)
			require.Greater(t, len(ob), 20, "%s answers something", p)
		}
		require.Equal(t, pst, ost, "%s\npython: %s\nours:   %s", p, pb, ob)
		require.Equal(t, pv, ov, "%s\npython: %.2000s\nours:   %.2000s", p, pb, ob)
	}
}

// withoutOurExtensions drops the fields our answers add to Python's
// (docs/http-api.md lists them): a run's "crashed".
func withoutOurExtensions(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	if runs, ok := m["runs"].([]any); ok {
		for _, r := range runs {
			delete(r.(map[string]any), "crashed")
		}
	}
	return m
}

// TestPyRunsReadOnlyAndNeverSilentlyMissing: a Python run is not
// trashed behind its database's back (409, the database unchanged); a
// .sqlite file that cannot be read lists as an unreadable run with the
// reason, not as nothing; a Python run that grows is served grown.
func TestPyRunsReadOnlyAndNeverSilentlyMissing(t *testing.T) {
	src := pyclient.Src(t)
	home := t.TempDir()
	t.Setenv("GOODSEED_PY_MIRROR", t.TempDir())
	writePyLocalRuns(t, src, home, 1, 50, "plain")
	db := filepath.Join(home, "projects", "plain", "proj", "runs", "plain-000.sqlite")
	before, err := os.ReadFile(db)
	require.NoError(t, err)
	ours := httptest.NewServer(mustServer(t, home).Handler())
	defer ours.Close()

	resp, err := http.Post(ours.URL+"/api/runs/plain/proj/plain-000/trash", "application/json", nil)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusConflict, resp.StatusCode, "%s", body)
	require.Contains(t, string(body), "goodseed import")
	after, err := os.ReadFile(db)
	require.NoError(t, err)
	require.Equal(t, before, after)

	require.NoError(t, os.WriteFile(filepath.Join(filepath.Dir(db), "broken.sqlite"), []byte("no database"), 0o644))
	runs, err := ListRuns(home)
	require.NoError(t, err)
	require.Len(t, runs, 2)
	var broken *RunSummary
	for i := range runs {
		if runs[i].RunID == "broken" {
			broken = &runs[i]
		}
	}
	require.NotNil(t, broken, "the unreadable database is listed")
	require.Error(t, broken.Err)
	require.Contains(t, broken.Err.Error(), "broken.sqlite")

	// The client goes on with the run: the next read sees the new point.
	pyclient.Run(t, src, `
import goodseed
r = goodseed.Run(project="plain/proj", resume_run_id="plain-000", storage="local", capture_hardware_metrics=False,
                 capture_stdout=False, capture_stderr=False, capture_traceback=False, git_ref=False)
r.log_metrics({"train/loss": 0.125}, step=5000)
r.close()
`, "GOODSEED_HOME="+home)
	st, v, b := getJSON(t, ours.URL+"/api/runs/plain/proj/plain-000/metrics?path=train/loss")
	require.Equal(t, http.StatusOK, st, "%s", b)
	require.Contains(t, string(b), "5000", "%v", v)
}

// TestPyCLIUploadToOurServer: the Python CLI's own "goodseed upload -p"
// ships runs its client wrote locally to our /api/v1; served by us they
// answer as GoodSeed's server answers from the SQLite, and a second
// upload has nothing left to send.
func TestPyCLIUploadToOurServer(t *testing.T) {
	src := pyclient.Src(t)
	clientHome := t.TempDir()
	writePyLocalRuns(t, src, clientHome, 3, 150, "small")
	serverHome, url := pyTestServer(t)
	env := []string{"GOODSEED_API_URL=" + url, "GOODSEED_API_KEY=" + v1TestKey, "GOODSEED_HOME=" + clientHome}
	const upload = "import sys; from goodseed.cli import main; sys.exit(main(['upload', '-p', 'ws/proj']))"
	out, _ := pyclient.Run(t, src, upload, env...)
	require.Contains(t, out, "Uploading run 'run-001'")
	require.NotContains(t, out, "Error")
	out, _ = pyclient.Run(t, src, upload, env...)
	require.Contains(t, out, "Done. Uploaded 0 item(s).", "nothing left to send")

	pyURL := pyclient.StartServer(t, src, filepath.Join(clientHome, "projects"))
	ours := httptest.NewServer(mustServer(t, serverHome).Handler())
	defer ours.Close()
	for _, run := range []string{"ws/proj/run-001", "ws/proj/run-002"} {
		base := "/api/runs/" + run
		for _, p := range []string{base + "/metric-paths", base + "/metrics?path=train/loss", base + "/metrics?path=eval/half",
			base + "/metrics?path=train/acc&pointCount=30", base + "/string_series?path=log/line", base + "/string_series?tail=3"} {
			pst, pv, pb := getJSON(t, pyURL+p)
			ost, ov, ob := getJSON(t, ours.URL+p)
			require.Equal(t, http.StatusOK, pst, "%s: %s", p, pb)
			require.Equal(t, pst, ost, "%s: %s", p, ob)
			if strings.Contains(p, "eval/half") {
				// The client's upload sends int(step) (sync.py,
				// _serialize_point): a fractional step arrives cut.
				for _, m := range pv.(map[string]any)["metrics"].([]any) {
					pt := m.(map[string]any)
					pt["step"] = math.Trunc(pt["step"].(float64))
				}
			}
			require.Equal(t, pv, ov, "%s\npython: %.1500s\nours:   %.1500s", p, pb, ob)
		}
	}
}
