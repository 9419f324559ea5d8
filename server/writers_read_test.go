package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/run"
)

// TestServeSeveralWriters: both APIs read a run two processes write (here
// two writers in one process, each with its own lock and stream) as one
// run: the series merged by the total order (the later write of a step
// wins, whichever writer made it), every writer's paths listed, and the
// state derived from every writer: running while any is live, failed once
// a rank failed and all closed.
func TestServeSeveralWriters(t *testing.T) {
	s, c, home := newV1Server(t, nil)
	h := s.Handler()
	primary, err := run.New(paOptions(home, "ws/ddp", "two-ranks"))
	require.NoError(t, err)
	defer primary.Close()
	jo := paOptions(home, "ws/ddp", "two-ranks")
	jo.Writer = "rank-1"
	rank, err := run.Join("two-ranks", jo)
	require.NoError(t, err)
	defer rank.Close()

	// Steps 0..9 from the primary, then 5..14 from rank-1 a few
	// milliseconds later: 5..9 are overwritten by the later writes.
	for i := range 10 {
		require.NoError(t, primary.Field("train/loss").Log(float64(i), float64(i)))
	}
	require.NoError(t, primary.Flush())
	time.Sleep(3 * time.Millisecond)
	for i := 5; i < 15; i++ {
		require.NoError(t, rank.Field("train/loss").Log(float64(100+i), float64(i)))
		require.NoError(t, rank.Field("rank1/grad_norm").Log(0.5, float64(i)))
	}
	require.NoError(t, rank.Flush())

	const base = "/api/runs/ws/ddp/two-ranks"
	var m struct {
		Metrics []struct{ Step, Value float64 } `json:"metrics"`
	}
	require.NoError(t, json.Unmarshal([]byte(paGet(t, h, base+"/metrics?path=train/loss")), &m))
	require.Len(t, m.Metrics, 15)
	for i, p := range m.Metrics {
		want := float64(i)
		if i >= 5 {
			want = float64(100 + i)
		}
		require.Equal(t, float64(i), p.Step)
		require.Equal(t, want, p.Value, "step %d: the later write wins", i)
	}
	got := paRuns(t, h, "/api/runs")["ws/ddp/two-ranks"]
	require.Equal(t, "running", got["status"])
	require.Equal(t, false, got["crashed"])
	require.ElementsMatch(t, []any{"rank1/grad_norm", "train/loss"}, got["metric_paths"])

	v1Run := func() (string, bool) {
		status, body := c.get("/api/v1/runs/ws~ddp~two-ranks", nil)
		require.Equal(t, http.StatusOK, status, string(body))
		var r struct {
			Status string `json:"status"`
			Live   bool   `json:"live"`
		}
		require.NoError(t, json.Unmarshal(body, &r))
		return r.Status, r.Live
	}
	st, live := v1Run()
	require.Equal(t, "running", st)
	require.True(t, live)

	// The primary closes first: the run still runs, as rank-1 does.
	require.NoError(t, primary.Close())
	got = paRuns(t, h, "/api/runs")["ws/ddp/two-ranks"]
	require.Equal(t, "running", got["status"], "rank-1 still writes")
	require.Equal(t, false, got["crashed"])
	st, live = v1Run()
	require.Equal(t, "running", st)
	require.True(t, live, "rank-1 holds its lock")

	require.NoError(t, rank.CloseFailed("NCCL timeout"))
	got = paRuns(t, h, "/api/runs")["ws/ddp/two-ranks"]
	require.Equal(t, "failed", got["status"], "one rank failed: the run failed")
	require.Equal(t, false, got["crashed"])
	st, live = v1Run()
	require.Equal(t, "failed", st)
	require.False(t, live)
	require.Contains(t, paGet(t, h, base+"/metrics?path=rank1/grad_norm"), fmt.Sprintf(`"step": %d`, 14))
}
