package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/internal/vfs"
	"github.com/goodseed/goodseed-go/run"
	"github.com/goodseed/goodseed-go/series"
)

const v1TestKey = "gs-test-key-1"

// newV1Server starts Part B on a fresh home behind a real HTTP listener.
func newV1Server(t *testing.T, keys map[string][]string) (*Server, *v1PyClient, string) {
	t.Helper()
	home := t.TempDir()
	if keys == nil {
		keys = map[string][]string{v1TestKey: {"ws"}}
	}
	s, err := New(Options{Home: home, APIv1: true, APIKeys: keys})
	require.NoError(t, err)
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		ts.Close()
		require.NoError(t, s.Close())
	})
	return s, &v1PyClient{t: t, base: ts.URL, key: v1TestKey, hc: ts.Client()}, s.Home()
}

func v1RunDir(home, ws, proj, id string) string {
	return filepath.Join(home, "projects", ws, proj, "runs", id)
}

// v1LossAt is the train/loss value the end-to-end test logs at step i.
func v1LossAt(i int) float64 {
	switch i {
	case 5:
		return math.NaN()
	case 6:
		return math.Inf(1)
	case 7:
		return math.Inf(-1)
	}
	return 1 / (1 + float64(i)*0.01)
}

// v1JSONY decodes a value of our read API: a number, or "NaN", "Infinity",
// "-Infinity".
func v1JSONY(t *testing.T, raw json.RawMessage) float64 {
	t.Helper()
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch s {
		case "NaN":
			return math.NaN()
		case "Infinity":
			return math.Inf(1)
		case "-Infinity":
			return math.Inf(-1)
		}
		t.Fatalf("unexpected string value %q", s)
	}
	var f float64
	require.NoError(t, json.Unmarshal(raw, &f))
	return f
}

func v1SameFloat(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }

type v1MetricsAnswer struct {
	Path        string
	Downsampled bool
	RawPoints   []struct {
		Step float64
		Y    json.RawMessage
	} `json:"raw_points"`
	Buckets []struct {
		StepMin float64         `json:"step_min"`
		StepMax float64         `json:"step_max"`
		Min     json.RawMessage `json:"min"`
		Max     json.RawMessage `json:"max"`
		Avg     json.RawMessage `json:"avg"`
		Count   int             `json:"count"`
	}
}

// TestAPIv1PythonClientEndToEnd plays a whole Python training run synced
// with storage="cloud" — exactly the requests and bytes the unmodified
// client sends — then reads it back as a read_only cloud client does, and
// finally opens the run directory with the engine: it is a normal run.
func TestAPIv1PythonClientEndToEnd(t *testing.T) {
	_, c, home := newV1Server(t, nil)

	// Run(project="proj") without a workspace asks auth/me.
	status, body := c.get("/api/v1/auth/me", nil)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "ws", v1Decode[map[string]string](t, body)["name"])

	name := "my experiment"
	id := c.ensureRun("ws", "proj", "bold-falcon", &name)
	require.Equal(t, "ws~proj~bold-falcon", id)
	require.Equal(t, id, c.ensureRun("ws", "proj", "bold-falcon", &name), "a retry reuses the run")
	dir := v1RunDir(home, "ws", "proj", "bold-falcon")

	// The configs the client logs at creation, then the user's: every
	// type tag, in both the str() forms and GoodSeed's serializer forms.
	creation := "2024-05-06T07:08:09.123456+00:00"
	longStr := "adam \"quoted\" ünïcødé 🚀 \\ \t\n"
	configs := []struct{ path, tag, sent, want string }{
		{"sys/id", "str", "bold-falcon", "bold-falcon"},
		{"sys/creation_time", "str", creation, creation},
		{"sys/state", "str", "running", "finished"}, // set again at close
		{"sys/name", "str", name, name},
		{"sys/tags", "string_set", `["bert", "finetune"]`, `["bert", "finetune"]`},
		{"params/lr", "float", "0.001", "0.001"},
		{"params/tiny", "float", "1e-05", "1e-05"},
		{"params/big", "float", "1e+16", "1e+16"},
		{"params/one", "float", "1.0", "1.0"},
		{"params/negzero", "float", "-0.0", "-0.0"},
		{"params/nan", "float", "nan", "nan"},
		{"params/inf", "float", "inf", "inf"},
		{"params/ninf", "float", "-inf", "-inf"},
		{"params/epochs", "int", "10", "10"},
		{"params/min", "int", "-9223372036854775808", "-9223372036854775808"},
		// Read back in the client's own stored forms (serialize_value):
		// what it sent comes back byte for byte; str() forms another
		// client may send come back in those.
		{"params/amp", "bool", "True", "true"},
		{"params/amp2", "bool", "false", "false"},
		{"params/none", "null", "None", ""},
		{"params/none2", "null", "", ""},
		{"params/opt/name", "str", longStr, longStr},
		{"params/empty", "str", "", ""},
		{"params/start", "datetime", "2024-01-02T03:04:05.123456+00:00", "2024-01-02T03:04:05.123456+00:00"},
		{"params/naive", "datetime", "2024-01-02T03:04:05", "2024-01-02T03:04:05"},
		{"params/offset", "datetime", "2024-01-02T03:04:05+02:00", "2024-01-02T03:04:05+02:00"},
		{"params/set", "string_set", `["x", "y \u00e9"]`, `["x", "y \u00e9"]`},
	}
	var items []string
	for _, cf := range configs {
		items = append(items, v1PyConfig(cf.path, cf.tag, cf.sent))
	}
	status, body = c.post("/api/v1/runs/"+id+"/configs", v1PyConfigsBody(items), "application/json", true)
	require.Equal(t, http.StatusNoContent, status, "%s", body)

	// Metrics in gzip JSON: NaN and ±Inf arrive as Python's literals.
	const n = 1000
	const ts0 = int64(1_700_000_000_000)
	var pts []string
	for i := range n {
		pts = append(pts, v1PyMetricPoint("train/loss", int64(i), ts0+int64(i)*10, v1LossAt(i)))
		pts = append(pts, v1PyMetricPoint("train/lr", int64(i), ts0+int64(i)*10, 0.1*math.Pow(0.99, float64(i))))
	}
	batch := v1PyIngestJSON(pts)
	for range 2 { // the same batch again: a resend after a lost answer
		status, body = c.post("/api/v1/runs/"+id+"/ingest", batch, "application/json", true)
		require.Equal(t, http.StatusOK, status, "%s", body)
		require.Equal(t, 2*n, v1Decode[map[string]int](t, body)["points"])
	}
	// A later batch overwrites one step.
	status, _ = c.post("/api/v1/runs/"+id+"/ingest",
		v1PyIngestJSON([]string{v1PyMetricPoint("train/loss", 10, ts0+99_999, 42)}), "application/json", true)
	require.Equal(t, http.StatusOK, status)

	// Protobuf (gzip'd too, as the client compresses every ingest body).
	var pb []byte
	for i := range 500 {
		y := float64(i) / 500
		pb = append(pb, v1PyProtoPoint("train/acc", uint64(i), uint64(ts0+int64(i)), &y, nil)...)
	}
	samples := []string{"première", "второй 🚀", ""}
	for i, s := range samples {
		pb = append(pb, v1PyProtoPoint("eval/sample", uint64(i), uint64(ts0), nil, &s)...)
	}
	for range 2 {
		status, body = c.post("/api/v1/runs/"+id+"/ingest", pb, "application/protobuf", true)
		require.Equal(t, http.StatusOK, status, "%s", body)
	}

	// Console lines as a string series, in JSON.
	const stdout = "monitoring/abcd1234/stdout"
	var lines []string
	for i := range 50 {
		lines = append(lines, v1PyStringPoint(stdout, int64(i), ts0+int64(i), fmt.Sprintf("line %d: é 🚀 \"q\" \\ \t%c", i, 0x7f)))
	}
	status, _ = c.post("/api/v1/runs/"+id+"/ingest", v1PyIngestJSON(lines), "application/json", true)
	require.Equal(t, http.StatusOK, status)

	// close(): sys/state and sys/closed_time as configs, then the status.
	closed := "2024-05-06T08:00:00.000001+00:00"
	status, _ = c.post("/api/v1/runs/"+id+"/configs", v1PyConfigsBody([]string{
		v1PyConfig("sys/state", "str", "finished"), v1PyConfig("sys/closed_time", "str", closed),
	}), "application/json", true)
	require.Equal(t, http.StatusNoContent, status)
	status, body = c.postJSON("/api/v1/runs/"+id+"/status", `{"status": "finished"}`)
	require.Equal(t, http.StatusNoContent, status, "%s", body)
	require.False(t, v1Live(t, dir), "finishing releases the run's LOCK")

	// ---- Run(..., storage="cloud", read_only=True) ----
	require.Equal(t, id, c.ensureRun("ws", "proj", "bold-falcon", nil))

	status, body = c.get("/api/v1/runs/"+id+"/paths", nil)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, []v1PathJSON{
		{"eval/sample", "string"}, {stdout, "string"},
		{"train/acc", "metric"}, {"train/loss", "metric"}, {"train/lr", "metric"},
	}, v1Decode[[]v1PathJSON](t, body))

	wantLoss := func(i int) float64 {
		if i == 10 {
			return 42
		}
		return v1LossAt(i)
	}
	status, body = c.get("/api/v1/runs/"+id+"/data/metrics", url.Values{"path": {"train/loss"}})
	require.Equal(t, http.StatusOK, status)
	m := v1Decode[v1MetricsAnswer](t, body)
	require.Equal(t, "train/loss", m.Path)
	require.False(t, m.Downsampled)
	require.Len(t, m.RawPoints, n, "the batch sent twice left no duplicates")
	for i, p := range m.RawPoints {
		require.Equal(t, float64(i), p.Step)
		require.True(t, v1SameFloat(wantLoss(i), v1JSONY(t, p.Y)), "step %d: %s", i, p.Y)
	}
	require.JSONEq(t, `"NaN"`, string(m.RawPoints[5].Y))
	require.JSONEq(t, `"Infinity"`, string(m.RawPoints[6].Y))
	require.JSONEq(t, `"-Infinity"`, string(m.RawPoints[7].Y))

	status, body = c.get("/api/v1/runs/"+id+"/data/metrics", url.Values{"path": {"train/loss"}, "step_min": {"100"}, "step_max": {"199"}})
	require.Equal(t, http.StatusOK, status)
	m = v1Decode[v1MetricsAnswer](t, body)
	require.Len(t, m.RawPoints, 100)
	require.Equal(t, 100.0, m.RawPoints[0].Step)
	require.Equal(t, 199.0, m.RawPoints[99].Step)

	// max_points: equal-width step buckets, checked against a direct
	// computation over the expected values.
	status, body = c.get("/api/v1/runs/"+id+"/data/metrics", url.Values{"path": {"train/loss"}, "max_points": {"10"}})
	require.Equal(t, http.StatusOK, status)
	m = v1Decode[v1MetricsAnswer](t, body)
	require.True(t, m.Downsampled)
	require.Nil(t, m.RawPoints)
	require.Len(t, m.Buckets, 10)
	total := 0
	for bi, b := range m.Buckets {
		lo, hi := math.Inf(1), math.Inf(-1)
		sum, finite, count := 0.0, 0, 0
		smin, smax := math.Inf(1), math.Inf(-1)
		for i := range n {
			if min(int(float64(i)/float64(n-1)*10), 9) != bi {
				continue
			}
			count++
			smin, smax = min(smin, float64(i)), max(smax, float64(i))
			y := wantLoss(i)
			if math.IsNaN(y) || math.IsInf(y, 0) {
				continue
			}
			lo, hi, sum, finite = min(lo, y), max(hi, y), sum+y, finite+1
		}
		require.Equal(t, count, b.Count, "bucket %d", bi)
		require.Equal(t, smin, b.StepMin)
		require.Equal(t, smax, b.StepMax)
		require.Equal(t, lo, v1JSONY(t, b.Min))
		require.Equal(t, hi, v1JSONY(t, b.Max))
		require.InDelta(t, sum/float64(finite), v1JSONY(t, b.Avg), 1e-12)
		total += b.Count
	}
	require.Equal(t, n, total)

	status, body = c.get("/api/v1/runs/"+id+"/data/metrics", url.Values{"path": {"train/acc"}})
	require.Equal(t, http.StatusOK, status)
	m = v1Decode[v1MetricsAnswer](t, body)
	require.Len(t, m.RawPoints, 500, "the protobuf batch sent twice left no duplicates")
	for i, p := range m.RawPoints {
		require.Equal(t, float64(i)/500, v1JSONY(t, p.Y))
	}

	type stringsAnswer struct {
		Points []struct {
			Step  float64
			Value string
		}
		Total int
	}
	status, body = c.get("/api/v1/runs/"+id+"/data/strings", url.Values{"path": {stdout}, "limit": {"10"}, "offset": {"45"}})
	require.Equal(t, http.StatusOK, status)
	sa := v1Decode[stringsAnswer](t, body)
	require.Equal(t, 50, sa.Total)
	require.Len(t, sa.Points, 5)
	for k, p := range sa.Points {
		require.Equal(t, float64(45+k), p.Step)
		require.Equal(t, fmt.Sprintf("line %d: é 🚀 \"q\" \\ \t%c", 45+k, 0x7f), p.Value)
	}
	status, body = c.get("/api/v1/runs/"+id+"/data/strings", url.Values{"path": {"eval/sample"}})
	require.Equal(t, http.StatusOK, status)
	sa = v1Decode[stringsAnswer](t, body)
	require.Equal(t, 3, sa.Total)
	for i, p := range sa.Points {
		require.Equal(t, samples[i], p.Value)
	}

	status, body = c.get("/api/v1/runs/"+id, nil)
	require.Equal(t, http.StatusOK, status)
	ra := v1Decode[v1RunJSON](t, body)
	require.Equal(t, id, ra.ID)
	require.Equal(t, "bold-falcon", ra.RunID)
	require.Equal(t, "ws", ra.Workspace)
	require.Equal(t, "proj", ra.Project)
	require.Equal(t, name, ra.Name)
	require.Equal(t, "finished", ra.Status)
	require.False(t, ra.Live)
	require.NotEmpty(t, ra.CreatedAt)
	require.NotEmpty(t, ra.ClosedAt)
	got := map[string]v1ConfigJSON{}
	for _, cf := range ra.Configs {
		got[cf.Path] = cf
		_, err := time.Parse(time.RFC3339Nano, cf.UpdatedAt)
		require.NoError(t, err, "updated_at of %s", cf.Path)
	}
	for _, cf := range configs {
		require.Contains(t, got, cf.path)
		require.Equal(t, cf.tag, got[cf.path].TypeTag, cf.path)
		require.Equal(t, cf.want, got[cf.path].Value, cf.path)
	}
	require.Equal(t, v1ConfigJSON{Path: "sys/closed_time", TypeTag: "str", Value: closed, UpdatedAt: got["sys/closed_time"].UpdatedAt}, got["sys/closed_time"])

	// ---- the run directory is a normal run ----
	rd, err := engine.OpenReader(dir, nil)
	require.NoError(t, err)
	defer rd.Close()
	var mc series.MetricColumns
	require.NoError(t, rd.ReadMetric("train/loss", &mc))
	require.Equal(t, n, mc.Len())
	for i := range n {
		require.True(t, v1SameFloat(wantLoss(i), mc.Values[i]), "step %d", i)
		wantTs := ts0 + int64(i)*10
		if i == 10 {
			wantTs = ts0 + 99_999
		}
		require.Equal(t, wantTs, mc.TimesMs[i], "the client's timestampMs is kept (step %d)", i)
	}
	var sc series.StringColumns
	require.NoError(t, rd.ReadString(stdout, &sc))
	require.Equal(t, 50, sc.Len())
	cfg := rd.Configs()
	require.Equal(t, engine.Float(0.001), cfg["params/lr"].Value)
	require.True(t, math.IsNaN(cfg["params/nan"].Value.Float))
	require.Equal(t, engine.Int(10), cfg["params/epochs"].Value)
	require.Equal(t, engine.Bool(true), cfg["params/amp"].Value)
	require.Equal(t, engine.Null(), cfg["params/none"].Value)
	require.Equal(t, engine.StringSet("x", "y é"), cfg["params/set"].Value)
	require.True(t, cfg["params/start"].Value.Time.Equal(time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC)))
	require.Equal(t, engine.String("bold-falcon"), cfg[run.PathID].Value)
	meta := rd.Meta()
	require.Equal(t, "bold-falcon", meta["run_id"].Val)
	require.Equal(t, "ws/proj", meta["project"].Val)
	require.Equal(t, "finished", meta["status"].Val)
	require.Equal(t, name, meta["name"].Val)
	require.NotEmpty(t, meta["closed_at"].Val)

	r, err := run.OpenReadOnly("bold-falcon", run.Options{Home: home, Project: "ws/proj", Quiet: true})
	require.NoError(t, err)
	info, err := r.Info()
	require.NoError(t, err)
	require.Equal(t, run.StatusFinished, info.State)
	require.Equal(t, name, info.Name)
	require.NoError(t, r.Close())

	sum, err := engine.Check(dir, nil, func(f engine.Finding) { t.Errorf("check: %s", f) })
	require.NoError(t, err)
	require.True(t, sum.Clean())
}

// TestAPIv1NoGoroutinesLeft: a server that wrote runs and closed leaves
// no goroutine behind (writers, flushers, reaper).
func TestAPIv1NoGoroutinesLeft(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	home := t.TempDir()
	s, err := New(Options{Home: home, APIv1: true, APIKeys: map[string][]string{v1TestKey: {"*"}}})
	require.NoError(t, err)
	h := s.Handler()
	for i := range 3 {
		id := v1CreateRun(t, h, "ws", "p", "r"+strconv.Itoa(i))
		rec := v1Serve(h, "POST", "/api/v1/runs/"+id+"/ingest", v1TestKey,
			v1PyIngestJSON([]string{v1PyMetricPoint("a", 1, 1, 1)}), "application/json", false)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	}
	require.NoError(t, s.Close())
}

// v1Live reports whether a writer holds the LOCK of the run in dir.
func v1Live(t testing.TB, dir string) bool {
	t.Helper()
	_, live, err := engine.ReadOwner(vfs.Default, dir)
	require.NoError(t, err)
	return live
}

// v1Serve runs one request through h in memory.
func v1Serve(h http.Handler, method, target, key string, body []byte, contentType string, gz bool) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, v1BytesReader(body))
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if gz {
		req.Header.Set("Content-Encoding", "gzip")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// v1NewReq builds a request with a JSON body (none when body is "").
func v1NewReq(method, target, body string) *http.Request {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

// v1ServeReq runs req through h in memory.
func v1ServeReq(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// v1CreateRun creates run ws/proj/id with a "*" key and returns its id.
// v1OneRun starts a Part B server over a fresh home, v1TestKey granting
// every workspace, and creates the run ws/p/r; it returns the handler, the
// home and the run's remote id.
func v1OneRun(t *testing.T) (h http.Handler, home, id string) {
	t.Helper()
	home = t.TempDir()
	s, err := New(Options{Home: home, APIv1: true, APIKeys: map[string][]string{v1TestKey: {"*"}}})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	h = s.Handler()
	return h, home, v1CreateRun(t, h, "ws", "p", "r")
}

func v1CreateRun(t testing.TB, h http.Handler, ws, proj, id string) string {
	t.Helper()
	rec := v1Serve(h, "POST", "/api/v1/runs", v1TestKey,
		fmt.Appendf(nil, `{"workspace": %q, "project": %q, "run_id": %q, "experiment_name": null}`, ws, proj, id), "application/json", false)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	return v1Decode[map[string]any](t, rec.Body.Bytes())["id"].(string)
}

// v1ErrorCode returns the error_code of an error answer, checking its shape.
func v1ErrorCode(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var e v1ErrorBody
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &e), rec.Body.String())
	require.NotEmpty(t, e.Title)
	require.NotEmpty(t, e.Detail)
	return e.ErrorCode
}

// v1BytesReader reads b (nil: an empty body).
func v1BytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
