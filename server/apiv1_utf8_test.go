package server

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAPIv1JSONBodyMustBeUTF8: a JSON body (configs, runs, projects,
// status) holding bytes that are not UTF-8 is a 400 storing nothing.
// encoding/json used to turn them into U+FFFD, so a config value "ok\xc3"
// was stored as "ok\ufffd", two config paths differing in an invalid byte
// landed on one field, and a run name the run package refuses (invalid
// UTF-8) was stored; the ingest decoders already refused such bytes.
func TestAPIv1JSONBodyMustBeUTF8(t *testing.T) {
	h, home, id := v1OneRun(t)
	rec := v1Serve(h, "POST", "/api/v1/runs/"+id+"/configs", v1TestKey,
		v1PyConfigsBody([]string{v1PyConfig("c", "str", "fine")}), "application/json", false)
	require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
	before := v1Snapshot(t, h, id)

	for _, tc := range []struct{ name, target, body string }{
		{"config value", "/api/v1/runs/" + id + "/configs", `{"configs": [{"path": "c", "type_tag": "str", "value": "ok` + "\xc3" + `"}]}`},
		{"config path", "/api/v1/runs/" + id + "/configs", `{"configs": [{"path": "c` + "\xff" + `", "type_tag": "int", "value": "1"}]}`},
		{"string_set item", "/api/v1/runs/" + id + "/configs", `{"configs": [{"path": "sys/tags", "type_tag": "string_set", "value": "[\"a` + "\xed\xa0\x80" + `\"]"}]}`},
		{"run name", "/api/v1/runs", `{"workspace": "ws", "project": "p", "run_id": "r2", "experiment_name": "n` + "\xff" + `"}`},
		{"project name", "/api/v1/workspaces/ws/projects", `{"name": "q` + "\xff" + `"}`},
		{"status", "/api/v1/runs/" + id + "/status", `{"status": "finished", "x": "` + "\xff" + `"}`},
	} {
		for _, gz := range []bool{false, true} {
			body := []byte(tc.body)
			if gz {
				body = v1PyGzip(t, body)
			}
			rec := v1Serve(h, "POST", tc.target, v1TestKey, body, "application/json", gz)
			require.Equal(t, http.StatusBadRequest, rec.Code, "%s (gzip %v): %s", tc.name, gz, rec.Body)
			require.Equal(t, "Request.Invalid", v1ErrorCode(t, rec), tc.name)
			require.Contains(t, rec.Body.String(), "UTF-8", tc.name)
		}
	}
	require.Equal(t, before, v1Snapshot(t, h, id))
	_, err := os.Stat(filepath.Join(home, "projects", "ws", "p", "runs", "r2"))
	require.ErrorIs(t, err, os.ErrNotExist)
	_, err = os.Stat(filepath.Join(home, "projects", "ws", "q\ufffd"))
	require.ErrorIs(t, err, os.ErrNotExist)
}
