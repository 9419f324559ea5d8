package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/internal/pyclient"
	"github.com/goodseed/goodseed-go/series"
)

// The interop suite runs GoodSeed's real Python client (internal/pyclient)
// against our server: the client is the judge of "drop-in", not our
// reading of its source.

// pyTestServer starts our server with /api/v1 on a loopback port for the
// client (newV1Server, every workspace); it returns its home and URL.
func pyTestServer(t *testing.T) (string, string) {
	t.Helper()
	_, c, home := newV1Server(t, map[string][]string{v1TestKey: {"*"}})
	return home, c.base
}

// runPyClient runs script with the client pointed at url and home; it
// returns stdout and stderr.
func runPyClient(t *testing.T, src, url, home, script string) (string, string) {
	t.Helper()
	return pyclient.Run(t, src, script, "GOODSEED_API_URL="+url, "GOODSEED_API_KEY="+v1TestKey, "GOODSEED_HOME="+home)
}

// TestPyClientNothingAcceptedIsLost: items the client accepts and our
// server once refused with the whole batch — paths a//b, with a control
// character, of 1,100 bytes; one path as a metric, a string series and a
// config; an int config of 2**70; a 2 MiB string point — are
// all stored as sent, next to the ordinary points of their batches, and
// the client ends with nothing pending.
func TestPyClientNothingAcceptedIsLost(t *testing.T) {
	src := pyclient.Src(t)
	serverHome, url := pyTestServer(t)

	const script = `
import goodseed
run = goodseed.Run(project="ws/interop", run_id="nothing-lost", storage="cloud",
                   capture_hardware_metrics=False, capture_stdout=False, capture_stderr=False,
                   capture_traceback=False, git_ref=False)
for i in range(200):
    run["train/loss"].log(1.0 / (i + 1), step=i)
run["a//b"].log(2.0, step=0)
run["ctl\x01path"].log(3.0, step=0)
run["p" * 1100].log(4.0, step=0)
run["both"].log(5.0, step=0)
run.log_strings({"both": "both as text"}, step=0)
run["both"] = 6
run["huge"] = 2**70
run["neg_huge"] = -(2**70)
run.log_strings({"big": "x" * (2 << 20)}, step=0)
run["lr"] = 0.001
run.close()
`
	_, stderr := runPyClient(t, src, url, t.TempDir(), script)
	require.NotContains(t, stderr, "pending upload", "the client holds nothing back")
	require.NotContains(t, stderr, "upload failed", "no batch was refused")

	rd, err := engine.OpenReader(filepath.Join(serverHome, "projects", "ws", "interop", "runs", "nothing-lost"), nil)
	require.NoError(t, err)
	defer rd.Close()
	var mc series.MetricColumns
	require.NoError(t, rd.ReadMetric("train/loss", &mc))
	require.Len(t, mc.Values, 200)
	for i := range 200 {
		require.Equal(t, 1.0/float64(i+1), mc.Values[i], "step %d", i)
	}
	for path, want := range map[string]float64{"a//b": 2, "ctl\x01path": 3, strings.Repeat("p", 1100): 4, "both": 5} {
		require.NoError(t, rd.ReadMetric(path, &mc), "%q", path)
		require.Equal(t, []float64{want}, mc.Values, "%q", path)
	}
	var sc series.StringColumns
	require.NoError(t, rd.ReadString("both", &sc))
	require.Equal(t, []string{"both as text"}, sc.Values)
	require.NoError(t, rd.ReadString("big", &sc))
	require.Len(t, sc.Values, 1)
	require.Equal(t, strings.Repeat("x", 2<<20), sc.Values[0])
	cfg := rd.Configs()
	require.True(t, cfg["both"].Value.Equal(engine.Int(6)), "%v", cfg["both"].Value)
	require.Equal(t, engine.TypeInt, cfg["huge"].Value.Type)
	require.Equal(t, "1180591620717411303424", cfg["huge"].Value.IntText())
	require.Equal(t, "-1180591620717411303424", cfg["neg_huge"].Value.IntText())
	require.True(t, cfg["lr"].Value.Equal(engine.Float(0.001)))
	require.Equal(t, "finished", cfg["sys/state"].Value.Str)
	_, refused := rd.Lookup(v1PathRefused, engine.KindString)
	require.False(t, refused, "nothing refused")
}

// TestPyClientConfigsReadBackAsStored: every config type the client has —
// bools, None, ints (one past int64), floats (nan, inf, -0.0, repr forms),
// strings, datetimes aware (+02:00, -05:30, UTC) and naive, string sets
// with non-ASCII and astral characters — is read back by the client's own
// get_configs() (GET /api/v1/runs/{id}) as exactly the (type_tag, value)
// its SQLite storage keeps.
func TestPyClientConfigsReadBackAsStored(t *testing.T) {
	src := pyclient.Src(t)
	_, url := pyTestServer(t)

	const script = `
import json, sys
from datetime import datetime, timezone, timedelta
import goodseed
from goodseed.storage import LocalStorage
run = goodseed.Run(project="ws/interop", run_id="configs", storage="cloud",
                   capture_hardware_metrics=False, capture_stdout=False, capture_stderr=False,
                   capture_traceback=False, git_ref=False, tags=["ünï", "😀", "plain"])
run.log_configs({
    "b/true": True, "b/false": False, "none": None,
    "i/small": -3, "i/big": 2**63, "i/huge": -(2**70),
    "f/lr": 0.001, "f/tiny": 1e-05, "f/big": 1e16, "f/one": 1.0, "f/negzero": -0.0,
    "f/nan": float("nan"), "f/inf": float("inf"), "f/ninf": float("-inf"), "f/third": 1/3,
    "s/text": "héllo \"quoted\"\n\ttab", "s/empty": "",
    "t/plus2": datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=timezone(timedelta(hours=2))),
    "t/minus530": datetime(2024, 6, 1, 12, 0, 0, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
    "t/utc": datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
    "t/naive": datetime(2024, 1, 2, 3, 4, 5),
    "t/naive_us": datetime(2024, 1, 2, 3, 4, 5, 7),
})
run["set/mixed"] = {"ü", "b", "😀", 'q"', "\\"}
run["sys/tags"].add("later")
db = run._db_path
run.close()
stored = LocalStorage(db).get_configs()
remote = goodseed.Run(project="ws/interop", run_id="configs", storage="cloud", read_only=True)
got = {c["path"]: (c["type_tag"], c["value"]) for c in remote.get_configs()}
bad = {p: {"stored": list(v), "read": list(got.get(p, ("missing", "")))} for p, v in stored.items() if tuple(got.get(p, ())) != tuple(v)}
print(json.dumps({"compared": len(stored), "bad": bad}, ensure_ascii=False))
`
	out, _ := runPyClient(t, src, url, t.TempDir(), script)
	line := out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:]
	var res struct {
		Compared int
		Bad      map[string]any
	}
	require.NoError(t, json.Unmarshal([]byte(line), &res), out)
	require.GreaterOrEqual(t, res.Compared, 26, "every config was compared")
	require.Empty(t, res.Bad, "configs that read back otherwise than the client stored them")
}

// jsonObjectKeys returns the keys of the object at key in body, in order.
func jsonObjectKeys(t *testing.T, body []byte, key string) []string {
	t.Helper()
	var outer map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(body, &outer), "%s", body)
	dec := json.NewDecoder(bytes.NewReader(outer[key]))
	tok, err := dec.Token()
	require.NoError(t, err)
	require.Equal(t, json.Delim('{'), tok)
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		require.NoError(t, err)
		keys = append(keys, k.(string))
		var skip json.RawMessage
		require.NoError(t, dec.Decode(&skip))
	}
	return keys
}

// TestPyServerSideBySideConfigs: one run, written by the real client to
// our server (its SQLite copy kept in the client's home), served by
// GoodSeed's own Python server from the SQLite and by ours: Part A's
// configs list the same keys in the same order (the web UI shows them in
// that order; a config set again moves to the end) with the same values.
func TestPyServerSideBySideConfigs(t *testing.T) {
	src := pyclient.Src(t)
	serverHome, url := pyTestServer(t)
	clientHome := t.TempDir()
	const script = `
import goodseed
run = goodseed.Run(project="ws/side", run_id="side", name="side by side", storage="cloud",
                   capture_hardware_metrics=False, capture_stdout=False, capture_stderr=False,
                   capture_traceback=False, git_ref=False)
run.log_configs({"zeta": 1, "alpha": 2.5, "opt/name": "adam", "flag": True, "none": None})
run.wait()
run["mid"] = "m"
run["zeta"] = 4
run.wait()
run["alpha"] = 3.5
run.close()
`
	runPyClient(t, src, url, clientHome, script)
	pyURL := pyclient.StartServer(t, src, filepath.Join(clientHome, "projects"))
	get := func(base string) []byte {
		resp, err := http.Get(base + "/api/runs/ws/side/side/configs")
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, base)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return b
	}
	pyBody := get(pyURL)
	ours := httptest.NewServer(mustServer(t, serverHome).Handler())
	defer ours.Close()
	ourBody := get(ours.URL)
	require.Equal(t, jsonObjectKeys(t, pyBody, "configs"), jsonObjectKeys(t, ourBody, "configs"),
		"the same keys in the same order\npython: %s\nours:   %s", pyBody, ourBody)
	var py, our struct{ Configs map[string]any }
	require.NoError(t, json.Unmarshal(pyBody, &py))
	require.NoError(t, json.Unmarshal(ourBody, &our))
	require.Equal(t, py.Configs, our.Configs, "the same values")
}

// mustServer is a Part A server on home.
func mustServer(t *testing.T, home string) *Server {
	t.Helper()
	s, err := New(Options{Home: home})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}
