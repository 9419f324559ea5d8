package server

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/run"
)

// v1Snapshot is what the read API says of a run: its answer to GET run
// (configs' updated_at included), paths and every series, to compare a
// run before and after a request that must not change it.
func v1Snapshot(t *testing.T, h http.Handler, id string) string {
	t.Helper()
	var sb strings.Builder
	rec := v1Serve(h, "GET", "/api/v1/runs/"+id, v1TestKey, nil, "", false)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	sb.Write(rec.Body.Bytes())
	rec = v1Serve(h, "GET", "/api/v1/runs/"+id+"/paths", v1TestKey, nil, "", false)
	require.Equal(t, http.StatusOK, rec.Code)
	sb.Write(rec.Body.Bytes())
	for _, p := range v1Decode[[]v1PathJSON](t, rec.Body.Bytes()) {
		route := "/data/metrics?path="
		if p.Type == "string" {
			route = "/data/strings?path="
		}
		rec := v1Serve(h, "GET", "/api/v1/runs/"+id+route+p.Path, v1TestKey, nil, "", false)
		require.Equal(t, http.StatusOK, rec.Code)
		sb.Write(rec.Body.Bytes())
	}
	return sb.String()
}

func TestAPIv1BadRequestsChangeNothing(t *testing.T) {
	s, err := New(Options{Home: t.TempDir(), APIv1: true, APIKeys: map[string][]string{v1TestKey: {"*"}}})
	require.NoError(t, err)
	defer s.Close()
	h := s.Handler()
	id := v1CreateRun(t, h, "ws", "p", "r")
	ingest := "/api/v1/runs/" + id + "/ingest"
	configs := "/api/v1/runs/" + id + "/configs"
	rec := v1Serve(h, "POST", ingest, v1TestKey, v1PyIngestJSON([]string{
		v1PyMetricPoint("m", 1, 1, 1), v1PyStringPoint("s", 1, 1, "x"),
	}), "application/json", false)
	require.Equal(t, http.StatusOK, rec.Code)
	rec = v1Serve(h, "POST", configs, v1TestKey, v1PyConfigsBody([]string{v1PyConfig("c", "int", "1")}), "application/json", false)
	require.Equal(t, http.StatusNoContent, rec.Code)
	before := v1Snapshot(t, h, id)

	long := strings.Repeat("é", v1MaxConfigValueChars+1)
	var tooMany []string
	for i := range v1MaxConfigsPerRequest + 1 {
		tooMany = append(tooMany, v1PyConfig("k/"+strings.Repeat("x", i%7+1), "int", "1"))
	}
	good := v1PyMetricPoint("m", 2, 2, 2) // would be written if the rest were valid
	pbText := func(path string) []byte { s := "t"; return v1PyProtoPoint(path, 1, 1, nil, &s) }
	for _, tc := range []struct {
		name, target, ct string
		body             []byte
	}{
		{"json-syntax", ingest, "application/json", []byte(`{"points": [`)},
		{"json-not-object", ingest, "application/json", []byte(`[1, 2]`)},
		{"json-no-value", ingest, "application/json", []byte(`{"points": [{"path": "m", "step": 1}]}`)},
		{"protobuf-truncated", ingest, "application/protobuf", []byte{0x0a, 0x05, 0x0a}},
		{"protobuf-wire-type", ingest, "application/protobuf", []byte{0x08, 0x01}},
		{"text-to-metric", ingest, "application/json", v1PyIngestJSON([]string{good, v1PyStringPoint("m", 3, 3, "x")})},
		{"number-to-string", ingest, "application/json", v1PyIngestJSON([]string{good, v1PyMetricPoint("s", 3, 3, 1)})},
		{"text-to-config", ingest, "application/protobuf", append(pbText("q"), pbText("c")...)},
		{"both-kinds-in-batch", ingest, "application/json", v1PyIngestJSON([]string{good, v1PyMetricPoint("n", 1, 1, 1), v1PyStringPoint("n", 2, 1, "x")})},
		{"path-empty-segment", ingest, "application/json", v1PyIngestJSON([]string{good, v1PyMetricPoint("a//b", 1, 1, 1)})},
		{"path-trailing-slash", ingest, "application/json", v1PyIngestJSON([]string{good, v1PyMetricPoint("a/", 1, 1, 1)})},
		{"path-control-char", ingest, "application/json", v1PyIngestJSON([]string{good, v1PyMetricPoint("a\x01b", 1, 1, 1)})},
		{"path-too-long", ingest, "application/json", v1PyIngestJSON([]string{good, v1PyMetricPoint(strings.Repeat("p", engine.MaxPathBytes+1), 1, 1, 1)})},
		{"step-huge", ingest, "application/json", []byte(`{"points": [{"path": "m", "step": 1e999, "number": 1}]}`)},
		{"configs-too-many", configs, "application/json", v1PyConfigsBody(tooMany)},
		{"config-too-long", configs, "application/json", v1PyConfigsBody([]string{v1PyConfig("ok", "int", "2"), v1PyConfig("x", "str", long)})},
		{"config-bad-int", configs, "application/json", v1PyConfigsBody([]string{v1PyConfig("ok", "int", "2"), v1PyConfig("x", "int", "1.5")})},
		{"config-int-overflow", configs, "application/json", v1PyConfigsBody([]string{v1PyConfig("x", "int", "9223372036854775808")})},
		{"config-bad-float", configs, "application/json", v1PyConfigsBody([]string{v1PyConfig("x", "float", "one")})},
		{"config-bad-bool", configs, "application/json", v1PyConfigsBody([]string{v1PyConfig("x", "bool", "yes")})},
		{"config-bad-null", configs, "application/json", v1PyConfigsBody([]string{v1PyConfig("x", "null", "0")})},
		{"config-bad-datetime", configs, "application/json", v1PyConfigsBody([]string{v1PyConfig("x", "datetime", "yesterday")})},
		{"config-bad-set", configs, "application/json", v1PyConfigsBody([]string{v1PyConfig("x", "string_set", `[1, 2]`)})},
		{"config-truncated-set", configs, "application/json", v1PyConfigsBody([]string{v1PyConfig("x", "string_set", "[\"a\", \"b\n[truncated]")})},
		{"config-unknown-tag", configs, "application/json", v1PyConfigsBody([]string{v1PyConfig("x", "complex", "1j")})},
		{"config-null-value", configs, "application/json", []byte(`{"configs": [{"path": "x", "type_tag": "int", "value": null}]}`)},
		{"config-value-number", configs, "application/json", []byte(`{"configs": [{"path": "x", "type_tag": "int", "value": 1}]}`)},
		{"config-on-series", configs, "application/json", v1PyConfigsBody([]string{v1PyConfig("ok", "int", "2"), v1PyConfig("m", "int", "1")})},
		{"config-bad-path", configs, "application/json", v1PyConfigsBody([]string{v1PyConfig("/x", "int", "1")})},
		{"configs-malformed", configs, "application/json", []byte(`{"configs": {}}`)},
		{"status-unknown", "/api/v1/runs/" + id + "/status", "application/json", []byte(`{"status": "done"}`)},
		{"status-malformed", "/api/v1/runs/" + id + "/status", "application/json", []byte(`status=finished`)},
	} {
		rec := v1Serve(h, "POST", tc.target, v1TestKey, tc.body, tc.ct, false)
		require.Equal(t, http.StatusBadRequest, rec.Code, "%s: %s", tc.name, rec.Body)
		require.Equal(t, "Request.Invalid", v1ErrorCode(t, rec), tc.name)
		require.Equal(t, before, v1Snapshot(t, h, id), "%s changed the run", tc.name)
	}

	// At the limits: accepted.
	rec = v1Serve(h, "POST", configs, v1TestKey, v1PyConfigsBody([]string{
		v1PyConfig("x", "str", strings.Repeat("é", v1MaxConfigValueChars)),
	}), "application/json", false)
	require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
	rec = v1Serve(h, "POST", configs, v1TestKey, v1PyConfigsBody(tooMany[:v1MaxConfigsPerRequest]), "application/json", false)
	require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
}

func TestAPIv1BadParameters(t *testing.T) {
	s, err := New(Options{Home: t.TempDir(), APIv1: true, APIKeys: map[string][]string{v1TestKey: {"*"}}})
	require.NoError(t, err)
	defer s.Close()
	h := s.Handler()
	id := v1CreateRun(t, h, "ws", "p", "r")
	rec := v1Serve(h, "POST", "/api/v1/runs/"+id+"/ingest", v1TestKey, v1PyIngestJSON([]string{
		v1PyMetricPoint("m", 1, 1, 1), v1PyStringPoint("s", 1, 1, "x"),
	}), "application/json", false)
	require.Equal(t, http.StatusOK, rec.Code)

	for _, tc := range []struct {
		method, target, body string
		status               int
		code                 string
	}{
		{"GET", "/api/v1/runs/" + id + "/data/metrics", "", 400, "Request.Invalid"},
		{"GET", "/api/v1/runs/" + id + "/data/metrics?path=", "", 400, "Request.Invalid"},
		{"GET", "/api/v1/runs/" + id + "/data/metrics?path=m&max_points=0", "", 400, "Request.Invalid"},
		{"GET", "/api/v1/runs/" + id + "/data/metrics?path=m&max_points=-3", "", 400, "Request.Invalid"},
		{"GET", "/api/v1/runs/" + id + "/data/metrics?path=m&max_points=ten", "", 400, "Request.Invalid"},
		{"GET", "/api/v1/runs/" + id + "/data/metrics?path=m&step_min=x", "", 400, "Request.Invalid"},
		{"GET", "/api/v1/runs/" + id + "/data/metrics?path=m&step_max=NaN", "", 400, "Request.Invalid"},
		{"GET", "/api/v1/runs/" + id + "/data/strings?path=s&limit=-1", "", 400, "Request.Invalid"},
		{"GET", "/api/v1/runs/" + id + "/data/strings?path=s&offset=x", "", 400, "Request.Invalid"},
		{"GET", "/api/v1/runs/" + id + "/data/metrics?path=nope", "", 404, "Path.NotFound"},
		{"GET", "/api/v1/runs/" + id + "/data/metrics?path=s", "", 404, "Path.NotFound"},
		{"GET", "/api/v1/runs/" + id + "/data/strings?path=m", "", 404, "Path.NotFound"},
		{"GET", "/api/v1/runs/abc", "", 400, "Request.Invalid"},
		{"GET", "/api/v1/runs/a~b", "", 400, "Request.Invalid"},
		{"GET", "/api/v1/runs/a~b~c~d", "", 400, "Request.Invalid"},
		{"GET", "/api/v1/runs/ws~p~-bad", "", 400, "Request.Invalid"},
		{"GET", "/api/v1/workspaces/ws/projects/nope/runs", "", 404, "Project.NotFound"},
		{"GET", "/api/v1/nope", "", 404, "Route.NotFound"},
		{"POST", "/api/v1/runs", `{"workspace": "ws", "project": "p"}`, 400, "Request.Invalid"},
		{"POST", "/api/v1/runs", `{"workspace": "ws", "project": "p", "run_id": "a b"}`, 400, "Request.Invalid"},
		{"POST", "/api/v1/runs", `{"workspace": "ws", "project": "p", "run_id": "r2", "experiment_name": "bad\u202ename"}`, 400, "Request.Invalid"},
		{"POST", "/api/v1/runs", `{"workspace": "ws", "project": "p", "run_id": "r2", "created_at": "tomorrow"}`, 400, "Request.Invalid"},
		{"POST", "/api/v1/runs", `{"workspace": "w s", "project": "p", "run_id": "r2"}`, 400, "Request.Invalid"},
		{"POST", "/api/v1/runs", `not json`, 400, "Request.Invalid"},
		{"POST", "/api/v1/workspaces/ws/projects", `{"name": ""}`, 400, "Request.Invalid"},
		{"POST", "/api/v1/workspaces/ws/projects", `{"name": ".hidden"}`, 400, "Request.Invalid"},
	} {
		rec := v1ServeReq(h, func() *http.Request {
			r := v1NewReq(tc.method, tc.target, tc.body)
			r.Header.Set("Authorization", "Bearer "+v1TestKey)
			return r
		}())
		require.Equal(t, tc.status, rec.Code, "%s %s: %s", tc.method, tc.target, rec.Body)
		require.Equal(t, tc.code, v1ErrorCode(t, rec), "%s %s", tc.method, tc.target)
	}

	// 415: an ingest type or encoding we do not take.
	rec = v1Serve(h, "POST", "/api/v1/runs/"+id+"/ingest", v1TestKey, []byte("x"), "text/plain", false)
	require.Equal(t, http.StatusUnsupportedMediaType, rec.Code)
	req := v1NewReq("POST", "/api/v1/runs/"+id+"/ingest", `{"points": []}`)
	req.Header.Set("Authorization", "Bearer "+v1TestKey)
	req.Header.Set("Content-Encoding", "br")
	rec = v1ServeReq(h, req)
	require.Equal(t, http.StatusUnsupportedMediaType, rec.Code)
	require.Equal(t, "Request.UnsupportedMediaType", v1ErrorCode(t, rec))
}

// TestAPIv1UnknownRun: every route of a run answers 404 for a valid id of
// a run that does not exist, and creates nothing.
func TestAPIv1UnknownRun(t *testing.T) {
	home := t.TempDir()
	s, err := New(Options{Home: home, APIv1: true, APIKeys: map[string][]string{v1TestKey: {"*"}}})
	require.NoError(t, err)
	defer s.Close()
	h := s.Handler()
	id := remoteID("ws", "p", "ghost")
	for _, rt := range []struct{ method, route, ct string }{
		{"GET", "", ""}, {"GET", "/paths", ""}, {"GET", "/data/metrics?path=a", ""}, {"GET", "/data/strings?path=a", ""},
		{"POST", "/ingest", "application/json"}, {"POST", "/configs", "application/json"},
		{"POST", "/status", "application/json"}, {"POST", "/heartbeat", ""},
	} {
		body := []byte(`{"points": [], "configs": [], "status": "finished"}`)
		rec := v1Serve(h, rt.method, "/api/v1/runs/"+id+rt.route, v1TestKey, body, rt.ct, false)
		require.Equal(t, http.StatusNotFound, rec.Code, "%s %s: %s", rt.method, rt.route, rec.Body)
		require.Equal(t, "Run.NotFound", v1ErrorCode(t, rec))
	}
	_, err = os.Stat(filepath.Join(home, "projects", "ws", "p", "runs", "ghost"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

// TestAPIv1LockedRun: a run another writer holds (here a local Go run
// resumed in this process, as a training script would) answers 409 to
// writes and is still readable; once that writer closes, the server
// writes it again, and a Python resume (sys/state running) shows running.
func TestAPIv1LockedRun(t *testing.T) {
	_, c, home := newV1Server(t, nil)
	id := c.ensureRun("ws", "p", "shared", nil)
	status, _ := c.post("/api/v1/runs/"+id+"/ingest", v1PyIngestJSON([]string{v1PyMetricPoint("m", 0, 1, 0.5)}), "application/json", true)
	require.Equal(t, http.StatusOK, status)
	status, _ = c.postJSON("/api/v1/runs/"+id+"/status", `{"status": "finished"}`)
	require.Equal(t, http.StatusNoContent, status)

	local, err := run.Resume("shared", run.Options{Home: home, Project: "ws/p", Quiet: true,
		Monitoring: run.MonitoringOptions{Off: true}, Git: run.GitOptions{Disabled: true}})
	require.NoError(t, err)
	require.NoError(t, local.Field("m").Log(1.5, 1))
	require.NoError(t, local.Flush())

	for _, route := range []string{"/ingest", "/configs", "/status", "/heartbeat"} {
		body := `{"points": [{"path": "m", "step": 2, "number": 2.5}]}`
		switch route {
		case "/configs":
			body = `{"configs": [{"path": "c", "type_tag": "int", "value": "1"}]}`
		case "/status":
			body = `{"status": "failed"}`
		}
		status, resp := c.postJSON("/api/v1/runs/"+id+route, body)
		require.Equal(t, http.StatusConflict, status, "%s: %s", route, resp)
		require.Contains(t, string(resp), "Run.Locked")
		require.Contains(t, string(resp), "pid")
	}
	// Reads work beside the live writer and see what it flushed.
	status, body := c.get("/api/v1/runs/"+id+"/data/metrics", map[string][]string{"path": {"m"}})
	require.Equal(t, http.StatusOK, status)
	require.Len(t, v1Decode[v1MetricsAnswer](t, body).RawPoints, 2)

	require.NoError(t, local.Close())

	// The Python client resumes: sys/state running, then more points.
	status, _ = c.post("/api/v1/runs/"+id+"/configs", v1PyConfigsBody([]string{v1PyConfig("sys/state", "str", "running")}), "application/json", true)
	require.Equal(t, http.StatusNoContent, status)
	status, body = c.get("/api/v1/runs/"+id, nil)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "running", v1Decode[v1RunJSON](t, body).Status)
	require.True(t, v1Decode[v1RunJSON](t, body).Live, "the server holds the run while the client writes")
	status, _ = c.post("/api/v1/runs/"+id+"/ingest", v1PyIngestJSON([]string{v1PyMetricPoint("m", 2, 3, 2.5)}), "application/json", true)
	require.Equal(t, http.StatusOK, status)
	status, _ = c.postJSON("/api/v1/runs/"+id+"/status", `{"status": "failed"}`)
	require.Equal(t, http.StatusNoContent, status)

	status, body = c.get("/api/v1/runs/"+id+"/data/metrics", map[string][]string{"path": {"m"}})
	require.Equal(t, http.StatusOK, status)
	pts := v1Decode[v1MetricsAnswer](t, body).RawPoints
	require.Len(t, pts, 3)
	for i, want := range []float64{0.5, 1.5, 2.5} {
		require.Equal(t, want, v1JSONY(t, pts[i].Y))
	}
	status, body = c.get("/api/v1/runs/"+id, nil)
	require.Equal(t, http.StatusOK, status)
	ra := v1Decode[v1RunJSON](t, body)
	require.Equal(t, "failed", ra.Status)
	require.False(t, ra.Live)
}
