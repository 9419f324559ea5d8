package server

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRunDirRefusesEscapes(t *testing.T) {
	home := t.TempDir()
	outside := t.TempDir()
	s, err := New(Options{Home: home})
	require.NoError(t, err)

	dir, err := s.runDir("ws/proj", "bold-falcon")
	require.NoError(t, err)
	require.Equal(t, filepath.Join(s.Home(), "projects", "ws", "proj", "runs", "bold-falcon"), dir)

	// A symlinked project directory pointing outside the home.
	require.NoError(t, os.MkdirAll(filepath.Join(home, "projects"), 0o755))
	require.NoError(t, os.Symlink(outside, filepath.Join(home, "projects", "evil")))
	// And one pointing inside, which is fine.
	require.NoError(t, os.MkdirAll(filepath.Join(home, "projects", "real"), 0o755))
	require.NoError(t, os.Symlink(filepath.Join(home, "projects", "real"), filepath.Join(home, "projects", "alias")))

	for _, tc := range []struct{ project, id string }{
		{"..", "x"}, {"a/..", "x"}, {"/abs", "x"}, {`a\b`, "x"}, {"a/b/c", "x"}, {"%2e%2e", "x"},
		{"p", ".."}, {"p", "a/b"}, {"p", ""}, {"", "x"},
		{"evil", "x"},
	} {
		_, err := s.runDir(tc.project, tc.id)
		require.ErrorIs(t, err, errBadPath, "%q %q", tc.project, tc.id)
	}
	_, err = s.runDir("alias", "x")
	require.NoError(t, err)
}

// TestDotSegmentsRefused: literal dot and empty segments get the API's own
// 400, with its error body (and CORS for Part A), not the mux's redirect.
func TestDotSegmentsRefused(t *testing.T) {
	s, err := New(Options{Home: t.TempDir()})
	require.NoError(t, err)
	for _, tc := range []struct{ path, body string }{
		{"/api/runs/../../etc/configs", `"error":`},
		{"/api/runs/p/./r/configs", `"error":`},
		{"/api/runs//r/configs", `"error":`},
		{"/api/v1/runs/../x", `"error_code":"Request.Invalid"`},
	} {
		req := httptest.NewRequest(http.MethodGet, "http://x"+tc.path, nil)
		req.URL.Path = tc.path // keep it as sent, unnormalised
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		require.Equal(t, http.StatusBadRequest, rec.Code, tc.path)
		require.Contains(t, strings.ReplaceAll(rec.Body.String(), " ", ""), tc.body, tc.path)
		if !strings.HasPrefix(tc.path, "/api/v1/") {
			require.Equal(t, "*", rec.Header().Get("Access-Control-Allow-Origin"))
		}
	}
}
