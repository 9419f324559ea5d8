package server

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestPartAGolden checks every Part A route on the committed fixture
// against its golden response, byte for byte.
func TestPartAGolden(t *testing.T) {
	home := paFixture(t)
	h := paServer(t, home).Handler()
	const bf, qh = "/api/runs/vision/bold-falcon", "/api/runs/ws/proj/quiet-heron"
	for _, tc := range []struct{ name, target string }{
		{"runs", "/api/runs"},
		{"runs-vision", "/api/runs?project=vision"},
		{"runs-ws-proj", "/api/runs?project=ws/proj"},
		{"runs-none", "/api/runs?project=nope"},
		{"configs-finished", bf + "/configs"},
		{"configs-crashed", qh + "/configs"},
		{"metric-paths", bf + "/metric-paths"},
		{"metrics-all", bf + "/metrics"},
		{"metrics-loss", bf + "/metrics?path=train/loss"},
		{"metrics-unknown-path", bf + "/metrics?path=no/such"},
		{"metrics-string-path", bf + "/metrics?path=notes"},
		{"downsample-loss-10", bf + "/metrics?path=train/loss&pointCount=10"},
		{"downsample-loss-window", bf + "/metrics?path=train%2Floss&pointCount=8&firstPointIndex=5&lastPointIndex=40"},
		{"downsample-loss-raw", bf + "/metrics?path=train/loss&pointCount=100&firstPointIndex=15&lastPointIndex=20"},
		{"downsample-unknown-path", bf + "/metrics?path=no/such&pointCount=10&firstPointIndex=3"},
		{"downsample-crashed", qh + "/metrics?path=train/loss&pointCount=4"},
		{"string-series-all", bf + "/string_series"},
		{"string-series-notes", bf + "/string_series?path=notes"},
		{"string-series-page", bf + "/string_series?limit=3&offset=2"},
		{"string-series-tail", bf + "/string_series?tail=3&limit=1&offset=1"},
		{"string-series-crashed", qh + "/string_series?path=notes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := paDo(t, h, http.MethodGet, tc.target)
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			paRequireCORS(t, rec.Header())
			require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			require.Empty(t, rec.Header().Get(paDamageHeader))
			require.True(t, json.Valid(rec.Body.Bytes()), rec.Body.String())
			paCheckGolden(t, tc.name, paLines(rec.Body.String()))
		})
	}

	// Projects: last_modified comes from the files' modification times,
	// which a checkout sets; it is checked against them, then masked.
	t.Run("projects", func(t *testing.T) {
		rec := paDo(t, h, http.MethodGet, "/api/projects")
		require.Equal(t, http.StatusOK, rec.Code)
		paRequireCORS(t, rec.Header())
		var got struct {
			Projects []struct {
				Name         string `json:"name"`
				RunCount     int    `json:"run_count"`
				LastModified string `json:"last_modified"`
			} `json:"projects"`
		}
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
		require.Len(t, got.Projects, 2)
		prev := time.Now().Add(time.Hour)
		for _, p := range got.Projects {
			want := paNewestMtime(t, filepath.Join(home, "projects", filepath.FromSlash(p.Name), "runs"))
			lm, err := time.Parse(time.RFC3339Nano, p.LastModified)
			require.NoError(t, err, p.LastModified)
			require.True(t, strings.HasSuffix(p.LastModified, "+00:00"), p.LastModified)
			require.Equal(t, want.Truncate(time.Microsecond), lm.UTC(), p.Name)
			require.False(t, lm.After(prev), "projects are newest first")
			prev = lm
		}
		masked := regexp.MustCompile(`"last_modified": "[^"]*"`).ReplaceAllString(rec.Body.String(), `"last_modified": "<mtime>"`)
		// The order follows the mtimes (checked above): either is right.
		const v, w = `{"name": "vision", "run_count": 2, "last_modified": "<mtime>"}`, `{"name": "ws/proj", "run_count": 1, "last_modified": "<mtime>"}`
		require.Contains(t, []string{`{"projects": [` + v + ", " + w + "]}", `{"projects": [` + w + ", " + v + "]}"}, masked)
	})
}

// paNewestMtime is the newest modification time of the segments and
// indexes under dir.
func paNewestMtime(t *testing.T, dir string) time.Time {
	t.Helper()
	var newest time.Time
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !strings.HasSuffix(p, ".seg") && d.Name() != "index" {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if fi.ModTime().After(newest) {
			newest = fi.ModTime()
		}
		return nil
	})
	require.NoError(t, err)
	return newest.UTC()
}

// TestPartAGoldenFacts checks, independently of the goldens, the facts the
// goldens must show: a regenerated golden that lost one would otherwise go
// unnoticed.
func TestPartAGoldenFacts(t *testing.T) {
	h := paServer(t, paFixture(t)).Handler()

	var runs struct {
		Runs []map[string]any `json:"runs"`
	}
	require.NoError(t, json.Unmarshal([]byte(paGet(t, h, "/api/runs")), &runs))
	byID := map[string]map[string]any{}
	for _, r := range runs.Runs {
		byID[r["run_id"].(string)] = r
	}
	require.Len(t, byID, 3)
	bf, co, qh := byID["bold-falcon"], byID["calm-otter"], byID["quiet-heron"]
	require.Equal(t, "finished", bf["status"])
	require.Equal(t, false, bf["crashed"])
	require.Equal(t, "baseline resnet", bf["experiment_name"])
	require.Equal(t, []any{"eval/samples", "notes"}, bf["string_series_paths"])
	require.Equal(t, []any{"train/acc", "train/loss", "train/lr"}, bf["metric_paths"])
	require.NotNil(t, bf["closed_at"])
	require.Equal(t, "failed", co["status"])
	require.Equal(t, true, co["trashed"])
	require.Equal(t, false, co["crashed"])
	require.Equal(t, "failed", qh["status"], "a crashed run shows as failed")
	require.Equal(t, true, qh["crashed"])
	require.Nil(t, qh["closed_at"])
	require.Equal(t, "ws/proj", qh["project"])
	// Newest created first, timestamps with a UTC offset.
	var prev time.Time
	for i, r := range runs.Runs {
		ca := r["created_at"].(string)
		require.True(t, strings.HasSuffix(ca, "+00:00"), ca)
		c, err := time.Parse(time.RFC3339Nano, ca)
		require.NoError(t, err)
		if i > 0 {
			require.False(t, c.After(prev))
		}
		prev = c
	}

	// Configs: typed, tags a sorted array.
	var cfg struct {
		Configs map[string]any `json:"configs"`
	}
	body := paGet(t, h, "/api/runs/vision/bold-falcon/configs")
	require.NoError(t, json.Unmarshal([]byte(body), &cfg))
	c := cfg.Configs
	require.Equal(t, []any{"baseline", "resnet", "ünïcode"}, c["sys/tags"])
	require.Equal(t, []any{"color jitter", "crop", "flip"}, c["data/augment"])
	require.Equal(t, []any{}, c["data/empty_set"])
	require.Equal(t, "2026-01-02T03:04:05.600000+00:00", c["data/started"])
	require.Equal(t, "NaN", c["model/dropout"])
	require.Equal(t, "Infinity", c["model/clip"])
	require.Equal(t, "-Infinity", c["model/floor"])
	require.Equal(t, true, c["amp"])
	require.Equal(t, false, c["compile"])
	require.Contains(t, c, "resume_from")
	require.Nil(t, c["resume_from"])
	require.Equal(t, 128.0, c["batch_size"])
	require.Contains(t, body, `"batch_size": 128,`, "an int is an integer")
	require.Contains(t, body, `"epochs": 3.0,`, "a float keeps its point, as in Python")
	require.Contains(t, body, `"big": 1e+16,`)
	require.Equal(t, "adamw", c["optimizer/name"])
	require.Equal(t, "ResNet-18 with a \"wide\" stem\tand a \\ backslash, <html> & ✓ 😀", c["model/description"])
	require.Contains(t, body, `\u2713 \ud83d\ude00`, "ASCII-only output, as Python's json.dumps")

	// Metrics: NaN and infinities as strings, ordered by step, the
	// overwritten step once with its last value.
	var m struct {
		Metrics []struct {
			Path     string `json:"path"`
			Step     float64
			Value    any
			LoggedAt string `json:"logged_at"`
		} `json:"metrics"`
	}
	require.NoError(t, json.Unmarshal([]byte(paGet(t, h, "/api/runs/vision/bold-falcon/metrics?path=train/loss")), &m))
	require.Len(t, m.Metrics, 60)
	for i, p := range m.Metrics {
		require.Equal(t, float64(i), p.Step)
		require.Equal(t, "train/loss", p.Path)
		_, err := time.Parse(time.RFC3339Nano, p.LoggedAt)
		require.NoError(t, err)
	}
	require.Equal(t, "NaN", m.Metrics[17].Value)
	require.Equal(t, "Infinity", m.Metrics[31].Value)
	require.Equal(t, "-Infinity", m.Metrics[32].Value)
	require.Equal(t, 0.25, m.Metrics[10].Value)

	// All metrics: ordered by path, then step.
	require.NoError(t, json.Unmarshal([]byte(paGet(t, h, "/api/runs/vision/bold-falcon/metrics")), &m))
	require.Len(t, m.Metrics, 12+60+60)
	for i := 1; i < len(m.Metrics); i++ {
		a, b := m.Metrics[i-1], m.Metrics[i]
		require.True(t, a.Path < b.Path || (a.Path == b.Path && a.Step < b.Step), "%v then %v", a, b)
	}
}
