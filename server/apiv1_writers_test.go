package server

import (
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/run"
	"github.com/goodseed/goodseed-go/series"
)

// TestAPIv1ConcurrentIngest writes many runs at once, several clients per
// run, in gzip JSON and protobuf, beside readers (run it under -race).
// Every point arrives once, whatever the interleaving.
func TestAPIv1ConcurrentIngest(t *testing.T) {
	s, c, home := newV1Server(t, nil)
	_ = s
	const runs, clientsPerRun, batches, perBatch = 8, 3, 6, 50
	ids := make([]string, runs)
	for r := range runs {
		ids[r] = c.ensureRun("ws", "conc", fmt.Sprintf("run-%d", r), nil)
	}
	var wg sync.WaitGroup
	errs := make(chan error, runs*clientsPerRun*batches*2)
	for r := range runs {
		for cl := range clientsPerRun {
			wg.Go(func() {
				path := fmt.Sprintf("client%d/loss", cl)
				for b := range batches {
					var status int
					var body []byte
					if b%2 == 0 {
						var pts []string
						for i := range perBatch {
							step := int64(b*perBatch + i)
							pts = append(pts, v1PyMetricPoint(path, step, step, float64(r*1000+cl*100)+float64(step)/1000))
						}
						status, body = c.post("/api/v1/runs/"+ids[r]+"/ingest", v1PyIngestJSON(pts), "application/json", true)
					} else {
						var pb []byte
						for i := range perBatch {
							step := uint64(b*perBatch + i)
							y := float64(r*1000+cl*100) + float64(step)/1000
							pb = append(pb, v1PyProtoPoint(path, step, step, &y, nil)...)
						}
						status, body = c.post("/api/v1/runs/"+ids[r]+"/ingest", pb, "application/protobuf", true)
					}
					if status != http.StatusOK {
						errs <- fmt.Errorf("run %d client %d batch %d: %d %s", r, cl, b, status, body)
					}
					// A reader in the middle of the writes.
					status, body = c.get("/api/v1/runs/"+ids[r]+"/data/metrics", url.Values{"path": {path}})
					if status != http.StatusOK {
						errs <- fmt.Errorf("read run %d: %d %s", r, status, body)
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for r := range runs {
		status, _ := c.postJSON("/api/v1/runs/"+ids[r]+"/status", `{"status": "finished"}`)
		require.Equal(t, http.StatusNoContent, status)
		dir := v1RunDir(home, "ws", "conc", fmt.Sprintf("run-%d", r))
		require.False(t, v1Live(t, dir))
		rd, err := engine.OpenReader(dir, nil)
		require.NoError(t, err)
		for cl := range clientsPerRun {
			var mc series.MetricColumns
			require.NoError(t, rd.ReadMetric(fmt.Sprintf("client%d/loss", cl), &mc))
			require.Equal(t, batches*perBatch, mc.Len())
			for i := range mc.Len() {
				require.Equal(t, float64(i), mc.Steps[i])
				require.Equal(t, float64(r*1000+cl*100)+float64(i)/1000, mc.Values[i])
				require.Equal(t, int64(i), mc.TimesMs[i])
			}
		}
		require.NoError(t, rd.Close())
	}
}

// TestAPIv1IdleWriterClosed: a run nobody writes to for writerIdleTimeout
// is closed (its LOCK released, so it reads as crashed, as a client that
// vanished should) and reopens on the next write.
func TestAPIv1IdleWriterClosed(t *testing.T) {
	old := writerIdleTimeout
	writerIdleTimeout = 40 * time.Millisecond
	defer func() { writerIdleTimeout = old }()
	_, c, home := newV1Server(t, nil)
	id := c.ensureRun("ws", "idle", "r", nil)
	dir := v1RunDir(home, "ws", "idle", "r")
	status, _ := c.post("/api/v1/runs/"+id+"/ingest", v1PyIngestJSON([]string{v1PyMetricPoint("m", 0, 1, 1)}), "application/json", true)
	require.Equal(t, http.StatusOK, status)
	require.True(t, v1Live(t, dir), "the server holds the run it writes")
	require.Eventually(t, func() bool { return !v1Live(t, dir) }, 5*time.Second, 5*time.Millisecond)

	r, err := run.OpenReadOnly("r", run.Options{Home: home, Project: "ws/idle", Quiet: true})
	require.NoError(t, err)
	info, err := r.Info()
	require.NoError(t, err)
	require.Equal(t, run.StatusCrashed, info.State, "says running, and no writer holds it")
	require.NoError(t, r.Close())

	// A heartbeat reopens it, and so does a write.
	status, _ = c.post("/api/v1/runs/"+id+"/heartbeat", nil, "", false)
	require.Equal(t, http.StatusNoContent, status)
	require.True(t, v1Live(t, dir))
	status, _ = c.post("/api/v1/runs/"+id+"/ingest", v1PyIngestJSON([]string{v1PyMetricPoint("m", 1, 2, 2)}), "application/json", true)
	require.Equal(t, http.StatusOK, status)
	status, body := c.get("/api/v1/runs/"+id+"/data/metrics", url.Values{"path": {"m"}})
	require.Equal(t, http.StatusOK, status)
	require.Len(t, v1Decode[v1MetricsAnswer](t, body).RawPoints, 2)
	require.Eventually(t, func() bool { return !v1Live(t, dir) }, 5*time.Second, 5*time.Millisecond)
}

// TestAPIv1ServerClose: Close closes every open writer (flushed, sealed,
// LOCK released); the acknowledged data is there; later requests get 503.
func TestAPIv1ServerClose(t *testing.T) {
	home := t.TempDir()
	s, err := New(Options{Home: home, APIv1: true, APIKeys: map[string][]string{v1TestKey: {"*"}}})
	require.NoError(t, err)
	h := s.Handler()
	var dirs []string
	for i := range 3 {
		id := v1CreateRun(t, h, "ws", "close", fmt.Sprint("r", i))
		rec := v1Serve(h, "POST", "/api/v1/runs/"+id+"/ingest", v1TestKey,
			v1PyIngestJSON([]string{v1PyMetricPoint("m", 0, 1, float64(i))}), "application/json", false)
		require.Equal(t, http.StatusOK, rec.Code)
		dirs = append(dirs, v1RunDir(home, "ws", "close", fmt.Sprint("r", i)))
		require.True(t, v1Live(t, dirs[i]))
	}
	require.NoError(t, s.Close())
	for i, dir := range dirs {
		require.False(t, v1Live(t, dir))
		rd, err := engine.OpenReader(dir, nil)
		require.NoError(t, err)
		require.True(t, rd.Report().Clean(), "closed cleanly: %+v", rd.Report())
		var mc series.MetricColumns
		require.NoError(t, rd.ReadMetric("m", &mc))
		require.Equal(t, []float64{float64(i)}, mc.Values)
		require.NoError(t, rd.Close())
	}
	rec := v1Serve(h, "POST", "/api/v1/runs/ws~close~r0/ingest", v1TestKey,
		v1PyIngestJSON([]string{v1PyMetricPoint("m", 1, 1, 1)}), "application/json", false)
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)
	require.Equal(t, "Server.Closing", v1ErrorCode(t, rec))
	require.NoError(t, s.Close(), "a second Close is a no-op")
}

// TestAPIv1StatusIsIdempotent: the client resends a status it got no
// answer for; the first close time stays.
func TestAPIv1StatusIsIdempotent(t *testing.T) {
	_, c, home := newV1Server(t, nil)
	id := c.ensureRun("ws", "st", "r", nil)
	status, _ := c.postJSON("/api/v1/runs/"+id+"/status", `{"status": "finished"}`)
	require.Equal(t, http.StatusNoContent, status)
	dir := v1RunDir(home, "ws", "st", "r")
	read := func() (string, engine.Value) {
		rd, err := engine.OpenReader(dir, nil)
		require.NoError(t, err)
		defer rd.Close()
		return rd.Meta()[v1MetaClosedAt].Val, rd.Configs()[run.PathClosedTime].Value
	}
	closedAt, closedTime := read()
	require.NotEmpty(t, closedAt)
	require.Equal(t, engine.TypeTime, closedTime.Type, "the server records sys/closed_time for a client that did not")
	time.Sleep(5 * time.Millisecond)
	status, _ = c.postJSON("/api/v1/runs/"+id+"/status", `{"status": "finished"}`)
	require.Equal(t, http.StatusNoContent, status)
	again, againTime := read()
	require.Equal(t, closedAt, again)
	require.True(t, closedTime.Equal(againTime))
	require.False(t, v1Live(t, dir))

	// running, then failed: a new close.
	status, _ = c.postJSON("/api/v1/runs/"+id+"/status", `{"status": "running"}`)
	require.Equal(t, http.StatusNoContent, status)
	require.True(t, v1Live(t, dir))
	status, _ = c.postJSON("/api/v1/runs/"+id+"/status", `{"status": "failed"}`)
	require.Equal(t, http.StatusNoContent, status)
	rd, err := engine.OpenReader(dir, nil)
	require.NoError(t, err)
	defer rd.Close()
	require.Equal(t, "failed", rd.Meta()[v1MetaStatus].Val)
	require.Equal(t, engine.String("failed"), rd.Configs()[run.PathState].Value)
}

// TestAPIv1RunCreation: POST runs records the run package's meta and sys/
// fields (name, created_at from the body), is idempotent, and finds runs
// made by other means (a local Go run) instead of remaking them.
func TestAPIv1RunCreation(t *testing.T) {
	_, c, home := newV1Server(t, map[string][]string{v1TestKey: {"*"}})
	status, body := c.postJSON("/api/v1/runs", `{"workspace": "ws", "project": "p", "run_id": "r", "experiment_name": "exp", "created_at": "2024-03-04T05:06:07.890123+00:00", "modified_at": "2024-03-04T06:00:00+00:00"}`)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, map[string]any{"id": "ws~p~r", "created": true}, v1Decode[map[string]any](t, body))
	status, body = c.postJSON("/api/v1/runs", `{"workspace": "ws", "project": "p", "run_id": "r", "experiment_name": "other name"}`)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, map[string]any{"id": "ws~p~r", "created": false}, v1Decode[map[string]any](t, body))

	status, body = c.get("/api/v1/runs/ws~p~r", nil)
	require.Equal(t, http.StatusOK, status)
	ra := v1Decode[v1RunJSON](t, body)
	require.Equal(t, "exp", ra.Name, "a second POST does not rename the run")
	require.Equal(t, "running", ra.Status)
	require.Equal(t, "2024-03-04T05:06:07.890123Z", ra.CreatedAt)
	cfg := map[string]v1ConfigJSON{}
	for _, c := range ra.Configs {
		cfg[c.Path] = c
	}
	require.Equal(t, "r", cfg["sys/id"].Value)
	require.Equal(t, "exp", cfg["sys/name"].Value)
	require.Equal(t, "running", cfg["sys/state"].Value)
	require.Equal(t, "datetime", cfg["sys/creation_time"].TypeTag)
	require.Equal(t, "2024-03-04T05:06:07.890123+00:00", cfg["sys/creation_time"].Value)

	r, err := run.OpenReadOnly("r", run.Options{Home: home, Project: "ws/p", Quiet: true})
	require.NoError(t, err)
	info, err := r.Info()
	require.NoError(t, err)
	require.Equal(t, "exp", info.Name)
	require.Equal(t, "ws/p", info.Project)
	require.True(t, info.Created.Equal(time.Date(2024, 3, 4, 5, 6, 7, 890123000, time.UTC)))
	require.True(t, info.WriterLive)
	require.NoError(t, r.Close())

	// A local run in the same place: POST runs reuses it.
	local, err := run.New(run.Options{RunID: "local", Home: home, Project: "ws/p", Quiet: true,
		Monitoring: run.MonitoringOptions{Off: true}, Git: run.GitOptions{Disabled: true}})
	require.NoError(t, err)
	require.NoError(t, local.Field("x").Log(1, 0))
	require.NoError(t, local.Close())
	status, body = c.postJSON("/api/v1/runs", `{"workspace": "ws", "project": "p", "run_id": "local"}`)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, false, v1Decode[map[string]any](t, body)["created"])
	status, body = c.get("/api/v1/runs/ws~p~local/data/metrics", url.Values{"path": {"x"}})
	require.Equal(t, http.StatusOK, status)
	require.Len(t, v1Decode[v1MetricsAnswer](t, body).RawPoints, 1)
}

func TestAPIv1WorkspacesAndProjects(t *testing.T) {
	home := t.TempDir()
	keys := map[string][]string{v1TestKey: {"*"}, "team": {"team"}}
	s, err := New(Options{Home: home, APIv1: true, APIKeys: keys, DefaultWorkspace: "main"})
	require.NoError(t, err)
	defer s.Close()
	h := s.Handler()

	rec := v1Serve(h, "POST", "/api/v1/workspaces/team/projects", v1TestKey, []byte(`{"name": "vision"}`), "application/json", false)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.Equal(t, v1ProjectJSON{"vision"}, v1Decode[v1ProjectJSON](t, rec.Body.Bytes()))
	rec = v1Serve(h, "POST", "/api/v1/workspaces/team/projects", v1TestKey, []byte(`{"name": "vision"}`), "application/json", false)
	require.Equal(t, http.StatusOK, rec.Code, "creating an existing project is fine")
	for i, created := range []string{"2024-01-01T00:00:00+00:00", "2024-03-01T00:00:00+00:00", "2024-02-01T00:00:00+00:00"} {
		rec := v1Serve(h, "POST", "/api/v1/runs", v1TestKey, fmt.Appendf(nil,
			`{"workspace": "team", "project": "nlp", "run_id": "r%d", "experiment_name": "n%d", "created_at": %q}`, i, i, created), "application/json", false)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	}
	v1CreateRun(t, h, "other", "p", "x")

	rec = v1Serve(h, "GET", "/api/v1/workspaces/team/projects", "team", nil, "", false)
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, []v1ProjectJSON{{"nlp"}, {"vision"}}, v1Decode[[]v1ProjectJSON](t, rec.Body.Bytes()))

	rec = v1Serve(h, "GET", "/api/v1/workspaces/team/projects/nlp/runs", "team", nil, "", false)
	require.Equal(t, http.StatusOK, rec.Code)
	runs := v1Decode[[]v1RunListJSON](t, rec.Body.Bytes())
	require.Len(t, runs, 3)
	for i, want := range []string{"r1", "r2", "r0"} { // newest first
		require.Equal(t, want, runs[i].RunID)
		require.Equal(t, "team~nlp~"+want, runs[i].ID)
		require.Equal(t, "running", runs[i].Status)
		require.Equal(t, "n"+want[1:], runs[i].Name)
	}
	rec = v1Serve(h, "GET", "/api/v1/workspaces/team/projects/vision/runs", "team", nil, "", false)
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "[]\n", rec.Body.String())

	rec = v1Serve(h, "GET", "/api/v1/workspaces", v1TestKey, nil, "", false)
	require.Equal(t, []v1WorkspaceJSON{{"main", "owner"}, {"other", "owner"}, {"team", "owner"}}, v1Decode[[]v1WorkspaceJSON](t, rec.Body.Bytes()))
	rec = v1Serve(h, "GET", "/api/v1/workspaces", "team", nil, "", false)
	require.Equal(t, []v1WorkspaceJSON{{"team", "owner"}}, v1Decode[[]v1WorkspaceJSON](t, rec.Body.Bytes()))
	rec = v1Serve(h, "GET", "/api/v1/workspaces/empty/projects", v1TestKey, nil, "", false)
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "[]\n", rec.Body.String())
}

// TestAPIv1HeartbeatAfterCloseKeepsItClosed: the Python client's last
// heartbeat can arrive after its final status; it must not reopen the
// run (which then showed live until the writer idled out).
func TestAPIv1HeartbeatAfterCloseKeepsItClosed(t *testing.T) {
	_, c, home := newV1Server(t, nil)
	id := c.ensureRun("ws", "hb", "r", nil)
	dir := v1RunDir(home, "ws", "hb", "r")
	status, _ := c.post("/api/v1/runs/"+id+"/ingest", v1PyIngestJSON([]string{v1PyMetricPoint("m", 0, 1, 1)}), "application/json", true)
	require.Equal(t, http.StatusOK, status)
	// A reader of the live run, cached by the server.
	status, _ = c.get("/api/v1/runs/"+id, nil)
	require.Equal(t, http.StatusOK, status)
	status, _ = c.post("/api/v1/runs/"+id+"/status", []byte(`{"status": "finished"}`), "application/json", false)
	require.Equal(t, http.StatusNoContent, status)
	require.False(t, v1Live(t, dir))
	for range 3 {
		status, _ = c.post("/api/v1/runs/"+id+"/heartbeat", nil, "", false)
		require.Equal(t, http.StatusNoContent, status)
		require.False(t, v1Live(t, dir), "a heartbeat after close reopens nothing")
	}
	status, body := c.get("/api/v1/runs/"+id, nil)
	require.Equal(t, http.StatusOK, status)
	got := v1Decode[v1RunJSON](t, body)
	require.Equal(t, "finished", got.Status)
	require.False(t, got.Live)
}
