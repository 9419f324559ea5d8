package server

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/run"
	"github.com/goodseed/goodseed-go/series"
)

// postWith is c.post with our extension headers.
func (c *v1PyClient) postWith(path string, data []byte, contentType string, hdr map[string]string) (int, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.base+path, bytes.NewReader(data))
	require.NoError(c.t, err)
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Content-Type", contentType)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return c.do(req)
}

// TestAPIv1SyncExtensions: what the Go syncer sends beyond the Python
// client — a writer per rank (X-Goodseed-Writer), stream ranges the server
// stores once (X-Goodseed-Stream, X-Goodseed-Range), configs with their
// client time and set updates, a writer's own status — and the refusals of
// malformed ones.
func TestAPIv1SyncExtensions(t *testing.T) {
	srv, c, home := newV1Server(t, nil)
	id := c.ensureRun("ws", "p", "synced", nil)
	dir := v1RunDir(home, "ws", "p", "synced")
	ingest := "/api/v1/runs/" + id + "/ingest"
	body := func(step float64, v float64) []byte {
		return pbLen(1, pbCat(pbLen(1, []byte("train/loss")), pbVarint(2, uint64(int64(step))), pbDouble(6, step),
			pbVarint(3, 1_700_000_000_000+uint64(step)), pbDouble(4, v)))
	}
	rank := map[string]string{v1HeaderWriter: "rank-1", v1HeaderStream: "origin-a", v1HeaderRange: "0.0-1.100"}
	status, out := c.postWith(ingest, body(0.5, 1), "application/protobuf", rank)
	require.Equal(t, http.StatusOK, status, "%s", out)
	require.JSONEq(t, `{"points": 1, "sync_end": "1.100"}`, string(out))

	// The same range again, as after a lost answer: stored once.
	status, out = c.postWith(ingest, body(0.5, 1), "application/protobuf", rank)
	require.Equal(t, http.StatusOK, status, "%s", out)
	require.JSONEq(t, `{"points": 0, "duplicate": true, "sync_end": "1.100"}`, string(out))
	// A range inside what is stored: the same.
	rank[v1HeaderRange] = "0.0-1.50"
	status, out = c.postWith(ingest, body(0.5, 2), "application/protobuf", rank)
	require.Equal(t, http.StatusOK, status, "%s", out)
	require.Contains(t, string(out), `"duplicate":true`)
	// Another origin (a run made again under the same id) is not deduplicated.
	rank[v1HeaderStream], rank[v1HeaderRange] = "origin-b", "0.0-1.50"
	status, out = c.postWith(ingest, body(1.5, 3), "application/protobuf", rank)
	require.Equal(t, http.StatusOK, status, "%s", out)
	require.JSONEq(t, `{"points": 1, "sync_end": "1.50"}`, string(out))
	// A probe (no points, the empty range) says how far the stream is stored.
	rank[v1HeaderRange] = "0.0-0.0"
	status, out = c.postWith(ingest, nil, "application/protobuf", rank)
	require.Equal(t, http.StatusOK, status, "%s", out)
	require.JSONEq(t, `{"points": 0, "duplicate": true, "sync_end": "1.50"}`, string(out))
	// A range that starts past what is stored is a gap, refused with where
	// to resume; for an origin the writer has not stored, that is 0.0.
	for rng, end := range map[[2]string]string{{"origin-b", "1.90-1.120"}: "1.50", {"origin-c", "1.0-1.5"}: "0.0"} {
		status, out = c.postWith(ingest, body(7, 7), "application/protobuf",
			map[string]string{v1HeaderWriter: "rank-1", v1HeaderStream: rng[0], v1HeaderRange: rng[1]})
		require.Equal(t, http.StatusConflict, status, "%v: %s", rng, out)
		require.JSONEq(t, `{"points": 0, "sync_end": "`+end+`"}`, string(out))
	}

	// The primary writer's points stay its own.
	status, out = c.postWith(ingest, body(2, 4), "application/protobuf", nil)
	require.Equal(t, http.StatusOK, status, "%s", out)

	cfg := `{"configs": [
		{"path": "lr", "type_tag": "float", "value": "0.1", "timestamp_ms": 1700000000000},
		{"path": "sys/tags", "type_tag": "string_set", "value": "[\"a\", \"b\"]", "set_op": "add", "timestamp_ms": 1700000000001},
		{"path": "sys/tags", "type_tag": "string_set", "value": "[\"a\"]", "set_op": "remove", "timestamp_ms": 1700000000002}]}`
	status, out = c.postWith("/api/v1/runs/"+id+"/configs", []byte(cfg), "application/json", map[string]string{v1HeaderWriter: "rank-1"})
	require.Equal(t, http.StatusNoContent, status, "%s", out)
	status, out = c.postWith("/api/v1/runs/"+id+"/status", []byte(`{"status": "failed", "failure_reason": "NCCL timeout"}`),
		"application/json", map[string]string{v1HeaderWriter: "rank-1"})
	require.Equal(t, http.StatusNoContent, status, "%s", out)
	// The run's first writer (no header) closes as the Python client does.
	status, out = c.postWith("/api/v1/runs/"+id+"/status", []byte(`{"status": "finished"}`), "application/json", nil)
	require.Equal(t, http.StatusNoContent, status, "%s", out)

	for _, bad := range []map[string]string{
		{v1HeaderWriter: "bad\tname"},
		{v1HeaderStream: "o", v1HeaderRange: "1.0"},
		{v1HeaderStream: "o", v1HeaderRange: "1.9-1.5"},
		{v1HeaderRange: "1.0-1.5"},
		{v1HeaderStream: "o", v1HeaderRange: "x.0-1.5"},
	} {
		status, out = c.postWith(ingest, body(9, 9), "application/protobuf", bad)
		require.Equal(t, http.StatusBadRequest, status, "%v: %s", bad, out)
	}
	// A set_op on what is no set: that item is refused alone.
	rec := v1Serve(srv.Handler(), "POST", "/api/v1/runs/"+id+"/configs", v1TestKey,
		[]byte(`{"configs": [{"path": "x", "type_tag": "int", "value": "1", "set_op": "add"}]}`), "application/json", false)
	require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
	require.Equal(t, "1", rec.Header().Get(v1HeaderRefused))
	status, _ = c.postWith("/api/v1/runs/ws~p~nope/ingest", body(1, 1), "application/protobuf", map[string]string{v1HeaderWriter: "rank-1"})
	require.Equal(t, http.StatusNotFound, status, "a named writer does not create a run")

	// What the run holds, read as every reader reads it: the two writers
	// kept apart and merged; the duplicate stored once.
	require.NoError(t, srv.Close()) // the server's writers close: their locks are free
	rd, err := engine.OpenReader(dir, nil)
	require.NoError(t, err)
	defer rd.Close()
	require.Len(t, rd.StreamWriters(), 2)
	var mc series.MetricColumns
	require.NoError(t, rd.ReadMetric("train/loss", &mc))
	require.Equal(t, []float64{0.5, 1.5, 2}, mc.Steps)
	require.Equal(t, []float64{1, 3, 4}, mc.Values)
	require.Equal(t, []int64{1_700_000_000_000, 1_700_000_000_001, 1_700_000_000_002}, mc.TimesMs)
	cfgs := rd.Configs()
	lr, ok := cfgs["lr"]
	require.True(t, ok)
	require.Equal(t, int64(1_700_000_000_000), lr.TimeMs)
	tags := cfgs["sys/tags"]
	require.Equal(t, []string{"b"}, tags.Value.Set)
	st, ws, err := run.DeriveState(rd)
	require.NoError(t, err)
	require.Equal(t, run.StatusFailed, st, "%+v", ws)
	var rank1 run.WriterState
	for _, w := range ws {
		if w.Name == "rank-1" {
			rank1 = w
		}
	}
	require.Equal(t, run.StatusFailed, rank1.State)
	require.Equal(t, "NCCL timeout", rank1.FailureReason)
	points := 0
	for _, w := range rd.StreamWriters() {
		_, err := engine.ScanStream(nil, dir, w, engine.StreamPos{}, func(b engine.StreamBlock) error {
			for _, r := range b.Records {
				if r.Kind == engine.RecMetricChunk {
					var c series.MetricColumns
					require.NoError(t, series.DecodeMetricChunk(r.Chunk, &c))
					points += c.Len()
				}
			}
			return nil
		}, nil)
		require.NoError(t, err)
	}
	require.Equal(t, 3, points, "each point stored once, the resends not at all")
}
