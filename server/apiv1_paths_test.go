package server

import (
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// v1Tree lists every file and directory under root with its size.
func v1Tree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out = append(out, fmt.Sprintf("%s %v %d", rel, info.Mode().Type(), info.Size()))
		return nil
	}))
	sort.Strings(out)
	return out
}

// TestAPIv1PathTraversal sends hostile names in every path parameter and
// body field that names a directory: "..", encoded dots and slashes,
// absolute paths, backslashes, and a symlink out of the home. Each is
// refused before it touches the file system, and nothing outside the data
// directory is written (a sibling directory is walked before and after).
func TestAPIv1PathTraversal(t *testing.T) {
	parent := t.TempDir()
	home := filepath.Join(parent, "home")
	sibling := filepath.Join(parent, "sibling")
	require.NoError(t, os.MkdirAll(filepath.Join(home, "projects"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(sibling, "p", "runs"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(sibling, "secret"), []byte("x"), 0o644))
	// A workspace directory that is a symlink to the sibling.
	require.NoError(t, os.Symlink(sibling, filepath.Join(home, "projects", "evil")))

	s, err := New(Options{Home: home, APIv1: true, APIKeys: map[string][]string{v1TestKey: {"*"}}})
	require.NoError(t, err)
	defer s.Close()
	h := s.Handler()
	before := v1Tree(t, parent)

	runBody := func(ws, proj, id string) string {
		return fmt.Sprintf(`{"workspace": %s, "project": %s, "run_id": %s}`, v1PyStr(ws), v1PyStr(proj), v1PyStr(id))
	}
	ingest := `{"points": [{"path": "a", "step": 1, "number": 1}]}`
	type req struct {
		method, target, body string
		status               int
	}
	var cases []req
	for _, b := range [][3]string{
		{"..", "p", "r"}, {"ws", "..", "r"}, {"ws", "p", ".."}, {"../sibling", "p", "r"}, {"ws", "../../sibling", "r"},
		{"ws", "p", "../../../sibling/x"}, {"/abs", "p", "r"}, {"ws", "/etc", "r"}, {"ws", "p", "/tmp/x"},
		{"ws/..", "p", "r"}, {"a/b", "c", "r"}, {`ws\..`, "p", "r"}, {"ws", `..\..`, "r"}, {"ws", "p", `r\..`},
		{"%2e%2e", "p", "r"}, {"ws", "%2e%2e%2fsibling", "r"}, {"ws", "p", "..%2Fx"}, {".", "p", "r"}, {"ws", ".", "r"},
		{"evil", "p", "r"}, // the symlinked workspace
		{"ws", "p", "r~x"}, {"w~s", "p", "r"}, {"", "p", "r"}, {"ws\x00", "p", "r"},
	} {
		cases = append(cases, req{"POST", "/api/v1/runs", runBody(b[0], b[1], b[2]), http.StatusBadRequest})
	}
	for _, id := range []string{
		"..%2F..%2Fsibling~p~r", "%2e%2e~p~r", "ws~%2e%2e~r", "ws~p~%2e%2e", "ws~p~..%2F..%2Fx",
		"%2Fabs~p~r", "ws~%2Fetc~r", "ws~p~%2Ftmp%2Fx", "ws%5C..~p~r", "ws~p~r%5C..", "evil~p~r",
		"ws%2Fp~q~r", "ws~p%2F..~r", "%2e~p~r", "ws~p~r%00",
	} {
		for _, route := range []string{"/ingest", "/configs", "/status", "/heartbeat", "", "/paths", "/data/metrics?path=a", "/data/strings?path=a"} {
			method := "POST"
			if route == "" || strings.HasPrefix(route, "/paths") || strings.HasPrefix(route, "/data") {
				method = "GET"
			}
			cases = append(cases, req{method, "/api/v1/runs/" + id + route, ingest, http.StatusBadRequest})
		}
	}
	for _, ws := range []string{"..%2F..", "%2e%2e%2fsibling", "ws%5C..", "evil", "%2Fetc"} {
		cases = append(cases,
			req{"GET", "/api/v1/workspaces/" + ws + "/projects", "", http.StatusBadRequest},
			req{"POST", "/api/v1/workspaces/" + ws + "/projects", `{"name": "p"}`, http.StatusBadRequest},
			req{"GET", "/api/v1/workspaces/" + ws + "/projects/p/runs", "", http.StatusBadRequest},
		)
	}
	for _, name := range []string{"..", "../../sibling", "/abs", `a\b`, "a/b", ".x", "%2e%2e"} {
		cases = append(cases, req{"POST", "/api/v1/workspaces/ws/projects", fmt.Sprintf(`{"name": %s}`, v1PyStr(name)), http.StatusBadRequest})
	}
	for _, p := range []string{"..%2F..%2Fsibling", "%2e%2e", "p%5C..", "%2Fetc"} {
		cases = append(cases, req{"GET", "/api/v1/workspaces/ws/projects/" + p + "/runs", "", http.StatusBadRequest})
	}
	// Encoded dot segments reach the handlers as ".." and are refused;
	// plain ones are refused before any handler (server.serveHTTP).
	for _, target := range []string{"/api/v1/runs/%2e%2e/ingest", "/api/v1/runs/%2E%2E/status", "/api/v1/workspaces/%2e%2e/projects"} {
		cases = append(cases, req{"POST", target, ingest, http.StatusBadRequest})
	}
	for _, target := range []string{"/api/v1/runs/%2e%2e", "/api/v1/runs/%2e%2e/paths", "/api/v1/workspaces/%2e%2e/projects/p/runs", "/api/v1/workspaces/ws/projects/%2e%2e/runs"} {
		cases = append(cases, req{"GET", target, "", http.StatusBadRequest})
	}
	for _, target := range []string{
		"/api/v1/runs/../../../sibling/ingest", "/api/v1/workspaces/../projects", "/api/v1/runs/ws~p~r/./ingest",
	} {
		cases = append(cases, req{"POST", target, ingest, http.StatusBadRequest},
			req{"GET", target, "", http.StatusBadRequest})
	}

	for _, tc := range cases {
		// As a server parses a request line: the target as sent.
		r := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
		r.Header.Set("Authorization", "Bearer "+v1TestKey)
		r.Header.Set("Content-Type", "application/json")
		rec := v1ServeReq(h, r)
		require.Equal(t, tc.status, rec.Code, "%s %s %s: %s", tc.method, tc.target, tc.body, rec.Body)
		require.Equal(t, "Request.Invalid", v1ErrorCode(t, rec), "%s %s", tc.method, tc.target)
	}

	after := v1Tree(t, parent)
	require.Equal(t, before, after, "nothing was written, inside the home or outside it")
	require.Equal(t, []string{". d--------- 0", "p d--------- 0", "p/runs d--------- 0", "secret ---------- 1"},
		v1TreeNoSize(v1Tree(t, sibling)))
}

// v1TreeNoSize drops directory sizes (file-system specific).
func v1TreeNoSize(tree []string) []string {
	var out []string
	for _, l := range tree {
		if strings.Contains(l, " d") {
			l = l[:strings.LastIndexByte(l, ' ')] + " 0"
		}
		out = append(out, l)
	}
	return out
}
