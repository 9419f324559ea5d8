package server

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/run"
	"github.com/goodseed/goodseed-go/series"
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
	// Refusals recorded in sys/refused are not changes to what was stored.
	paths := slices.DeleteFunc(v1Decode[[]v1PathJSON](t, rec.Body.Bytes()), func(p v1PathJSON) bool { return p.Path == v1PathRefused })
	b, err := json.Marshal(paths)
	require.NoError(t, err)
	sb.Write(b)
	for _, p := range paths {
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

	var tooMany []string
	for i := range v1MaxConfigsPerRequest + 1 {
		tooMany = append(tooMany, v1PyConfig("k/"+strings.Repeat("x", i%7+1), "int", "1"))
	}
	// Requests that are not well-formed as a whole: nothing in them can be
	// told apart, so the whole request is 400 and nothing is stored.
	for _, tc := range []struct {
		name, target, ct string
		body             []byte
	}{
		{"json-syntax", ingest, "application/json", []byte(`{"points": [`)},
		{"json-not-object", ingest, "application/json", []byte(`[1, 2]`)},
		{"json-no-value", ingest, "application/json", []byte(`{"points": [{"path": "m", "step": 1}]}`)},
		{"protobuf-truncated", ingest, "application/protobuf", []byte{0x0a, 0x05, 0x0a}},
		{"protobuf-wire-type", ingest, "application/protobuf", []byte{0x08, 0x01}},
		{"configs-too-many", configs, "application/json", v1PyConfigsBody(tooMany)},
		{"config-value-number", configs, "application/json", []byte(`{"configs": [{"path": "x", "type_tag": "int", "value": 1}]}`)},
		{"configs-malformed", configs, "application/json", []byte(`{"configs": {}}`)},
		{"status-unknown", "/api/v1/runs/" + id + "/status", "application/json", []byte(`{"status": "done"}`)},
		{"status-malformed", "/api/v1/runs/" + id + "/status", "application/json", []byte(`status=finished`)},
	} {
		rec := v1Serve(h, "POST", tc.target, v1TestKey, tc.body, tc.ct, false)
		require.Equal(t, http.StatusBadRequest, rec.Code, "%s: %s", tc.name, rec.Body)
		require.Equal(t, "Request.Invalid", v1ErrorCode(t, rec), tc.name)
		require.Equal(t, before, v1Snapshot(t, h, id), "%s changed the run", tc.name)
	}
	rec = v1Serve(h, "POST", configs, v1TestKey, v1PyConfigsBody(tooMany[:v1MaxConfigsPerRequest]), "application/json", false)
	require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
}

// TestAPIv1RefusesItemsAlone: what GoodSeed's client accepts is stored
// as sent — a path holding a metric, a string series and a config, paths
// with empty segments, control characters or 1,100 bytes, ints past
// int64, long strings — and an item the run cannot take is refused alone:
// its neighbours are stored, the answer says which and why, and the run
// records it in sys/refused.
func TestAPIv1RefusesItemsAlone(t *testing.T) {
	h, home, id := v1OneRun(t)
	ingest := "/api/v1/runs/" + id + "/ingest"
	configs := "/api/v1/runs/" + id + "/configs"

	long := strings.Repeat("p", 1100)
	big := strings.Repeat("x", 2<<20)
	tooLong := strings.Repeat("q", engine.MaxPathBytes+1)
	rec := v1Serve(h, "POST", ingest, v1TestKey, v1PyIngestJSON([]string{
		v1PyMetricPoint("m", 1, 1, 1),
		v1PyStringPoint("m", 1, 1, "m as text"),
		v1PyMetricPoint("a//b", 1, 1, 2),
		v1PyMetricPoint("a/", 1, 1, 3),
		v1PyMetricPoint("a\u0001b", 1, 1, 4),
		v1PyMetricPoint(long, 1, 1, 5),
		v1PyMetricPoint(tooLong, 1, 1, 6), // refused: past the engine's path limit
		v1PyStringPoint("big", 1, 1, big),
		v1PyMetricPoint("m", 2, 2, 8),
	}), "application/json", false)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	ans := v1Decode[v1IngestAnswer](t, rec.Body.Bytes())
	require.Equal(t, 8, ans.Points)
	require.Equal(t, 1, ans.RefusedCount)
	require.Len(t, ans.Refused, 1)
	require.Equal(t, 6, ans.Refused[0].Item)
	require.Contains(t, ans.Refused[0].Reason, "limit")
	require.Equal(t, v1ClipPath(tooLong), ans.Refused[0].Path)

	rec = v1Serve(h, "POST", configs, v1TestKey, v1PyConfigsBody([]string{
		v1PyConfig("m", "int", "3"), // a config at a metric's path
		v1PyConfig("huge", "int", "1180591620717411303424"),
		v1PyConfig("neg", "int", "-1180591620717411303424"),
		v1PyConfig("x//y", "str", strings.Repeat("é", 20000)),
		v1PyConfig("bad", "int", "1.5"), // refused
		v1PyConfig("ok", "bool", "True"),
		v1PyConfig("unknown", "complex", "1j"), // refused
	}), "application/json", false)
	require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
	require.Equal(t, "2", rec.Header().Get(v1HeaderRefused))
	require.Equal(t, "4,6", rec.Header().Get(v1HeaderRefusedItems), "the refused items by index")

	rd, err := engine.OpenReader(filepath.Join(home, "projects", "ws", "p", "runs", "r"), nil)
	require.NoError(t, err)
	defer rd.Close()
	var mc series.MetricColumns
	require.NoError(t, rd.ReadMetric("m", &mc))
	require.Equal(t, []float64{1, 8}, mc.Values)
	var sc series.StringColumns
	require.NoError(t, rd.ReadString("m", &sc))
	require.Equal(t, []string{"m as text"}, sc.Values)
	for path, want := range map[string]float64{"a//b": 2, "a/": 3, "a\x01b": 4, long: 5} {
		require.NoError(t, rd.ReadMetric(path, &mc), "%q", path)
		require.Equal(t, []float64{want}, mc.Values, "%q", path)
	}
	require.NoError(t, rd.ReadString("big", &sc))
	require.Equal(t, []string{big}, sc.Values)
	cfg := rd.Configs()
	require.True(t, cfg["m"].Value.Equal(engine.Int(3)))
	require.Equal(t, "1180591620717411303424", cfg["huge"].Value.IntText())
	require.Equal(t, engine.TypeInt, cfg["huge"].Value.Type)
	require.Equal(t, "-1180591620717411303424", cfg["neg"].Value.IntText())
	require.Equal(t, strings.Repeat("é", 20000), cfg["x//y"].Value.Str)
	require.True(t, cfg["ok"].Value.Equal(engine.Bool(true)))
	require.NotContains(t, cfg, "bad")
	require.NotContains(t, cfg, "unknown")
	_, ok := rd.Lookup(tooLong, engine.KindMetric)
	require.False(t, ok)

	// The run says what it did not store, and why.
	require.NoError(t, rd.ReadString(v1PathRefused, &sc))
	require.Len(t, sc.Values, 3)
	var lines []map[string]any
	for _, l := range sc.Values {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		lines = append(lines, m)
	}
	require.Equal(t, "ingest", lines[0]["request"])
	require.EqualValues(t, 6, lines[0]["item"])
	require.Equal(t, v1ClipPath(tooLong), lines[0]["path"])
	require.Equal(t, "configs", lines[1]["request"])
	require.Equal(t, "bad", lines[1]["path"])
	require.Contains(t, lines[1]["reason"], "1.5")
	require.Equal(t, "unknown", lines[2]["path"])
	require.Equal(t, []float64{0, 1, 2}, sc.Steps)

	// Read back over the API: each kind at "m" is served.
	rec = v1Serve(h, "GET", "/api/v1/runs/"+id+"/data/strings?path=m", v1TestKey, nil, "", false)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.Contains(t, rec.Body.String(), "m as text")
	rec = v1Serve(h, "GET", "/api/v1/runs/"+id+"/data/metrics?path=m", v1TestKey, nil, "", false)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
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
