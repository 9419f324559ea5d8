package remote_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/remote"
	"github.com/goodseed/goodseed-go/run"
)

// TestSyncRecordsWhatTheServerRefused: a server that stores a batch but
// refuses one item of it (a 200 ingest answer listing the refused point, a
// 204 configs answer with X-Goodseed-Refused) has the sync report and the
// cursor record exactly those items; their neighbours are stored, and
// nothing is resent.
func TestSyncRecordsWhatTheServerRefused(t *testing.T) {
	local := t.TempDir()
	o := quietOpts(local)
	o.RunID = "refusals"
	r, err := run.New(o)
	require.NoError(t, err)
	const probeStep = 7.123456789
	require.NoError(t, r.SetAll(map[string]any{"cfg/good": 6, "cfg/bad": 5, "cfg/other": "x"}))
	for i := range 400 {
		require.NoError(t, r.Field("train/loss").Log(float64(i), float64(i)))
	}
	require.NoError(t, r.Field("probe").Log(1, probeStep))
	require.NoError(t, r.Close())

	// The proxy makes two items invalid on the way, so the real server
	// refuses them as it would a client's: the probe's step becomes NaN,
	// cfg/bad's int value text that is not an int.
	var stepBits, nanBits [8]byte
	binary.LittleEndian.PutUint64(stepBits[:], math.Float64bits(probeStep))
	binary.LittleEndian.PutUint64(nanBits[:], math.Float64bits(math.NaN()))
	ts := newTestServer(t, "")
	ts.rewrite = func(path string, body []byte) []byte {
		switch {
		case strings.HasSuffix(path, "/ingest"):
			return bytes.ReplaceAll(body, stepBits[:], nanBits[:])
		case strings.HasSuffix(path, "/configs"):
			var req struct{ Configs []map[string]any }
			require.NoError(t, json.Unmarshal(body, &req))
			for _, c := range req.Configs {
				if c["path"] == "cfg/bad" {
					c["value"] = "five"
				}
			}
			out, err := json.Marshal(map[string]any{"configs": req.Configs})
			require.NoError(t, err)
			return out
		}
		return body
	}
	sy := ts.syncer(t)
	rep, err := sy.SyncRun(context.Background(), r.Dir())
	require.NoError(t, err)
	require.Equal(t, 400, rep.Points, "every point but the probe")
	var items []string
	for _, ref := range rep.Refused {
		items = append(items, ref.Item)
	}
	require.ElementsMatch(t, []string{"series probe", "config cfg/bad"}, items)
	for _, ref := range rep.Refused {
		if ref.Item == "series probe" {
			require.Contains(t, ref.Reason, "step", "the server's reason is kept")
		}
	}
	stored, _ := ts.counts()
	require.Equal(t, 400, stored)

	// The server has the neighbours and says what it refused.
	sr, err := engine.OpenReader(serverRunDir(ts.home, "refusals"), nil)
	require.NoError(t, err)
	defer sr.Close()
	cfgs := sr.Configs()
	require.Contains(t, cfgs, "cfg/good")
	require.Contains(t, cfgs, "cfg/other")
	require.NotContains(t, cfgs, "cfg/bad")
	_, ok := sr.Lookup("sys/refused", engine.KindString)
	require.True(t, ok, "the server run records its refusals")

	// A second pass resends nothing: the refused are recorded, not retried.
	before := ts.requests.Load()
	rep, err = sy.SyncRun(context.Background(), r.Dir())
	require.NoError(t, err)
	require.Zero(t, rep.Points)
	require.Empty(t, rep.Refused)
	require.Equal(t, int64(2), ts.requests.Load()-before, "registration and one question: no data")
	pending, err := remote.Pending(r.Dir(), ts.ts.URL)
	require.NoError(t, err)
	require.Zero(t, pending)
}
