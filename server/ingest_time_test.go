package server

import (
	"fmt"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/run"
)

// TestIngestTimestampMinInt64IsKept: a point's timestampMs is kept as
// sent, math.MinInt64 included. The decoders marked "no timestamp" with
// that very value, so a point carrying it was given the time of arrival
// instead; only a point without a timestamp is.
func TestIngestTimestampMinInt64IsKept(t *testing.T) {
	h, home, id := v1OneRun(t)
	one := 1.0
	start := time.Now().UnixMilli()
	for _, b := range []struct {
		ct   string
		body []byte
	}{
		{"application/json", []byte(fmt.Sprintf(`{"points": [{"path": "json", "step": 0, "timestampMs": %d, "number": 1}, {"path": "json", "step": 1, "number": 1}, {"path": "json", "step": 2, "timestampMs": null, "number": 1}]}`, int64(math.MinInt64)))},
		{"application/protobuf", append(v1PyProtoPoint("pb", 0, uint64(1<<63), &one, nil),
			v1PyFieldBytes(1, append(append(v1PyFieldBytes(1, []byte("pb")), v1PyFieldVarint(2, 1)...), v1PyFieldDouble(4, 1)...))...)},
	} {
		rec := v1Serve(h, "POST", "/api/v1/runs/"+id+"/ingest", v1TestKey, b.body, b.ct, false)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	}
	end := time.Now().UnixMilli()
	r, err := run.OpenReadOnly("r", run.Options{Home: home, Project: "ws/p", Quiet: true})
	require.NoError(t, err)
	defer r.Close()
	for _, path := range []string{"json", "pb"} {
		pts, err := r.Metric(path)
		require.NoError(t, err)
		require.Equal(t, int64(math.MinInt64), pts[0].Time.UnixMilli(), "%s: the timestamp sent", path)
		for _, p := range pts[1:] {
			ms := p.Time.UnixMilli()
			require.True(t, ms >= start && ms <= end, "%s: no timestamp is the time of arrival, not %d", path, ms)
		}
	}
}
