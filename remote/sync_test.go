package remote_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/remote"
	"github.com/goodseed/goodseed-go/run"
	"github.com/goodseed/goodseed-go/series"
	"github.com/goodseed/goodseed-go/server"
)

const testKey = "sync-test-key"

// testServer is our server on a loopback port, behind a handler that
// counts what it stores and injects the faults a network has.
type testServer struct {
	t    testing.TB
	home string
	srv  *server.Server
	ts   *httptest.Server

	mu sync.Mutex
	// stored sums the points ingest answers stored; ingests counts the
	// ingest requests that stored any.
	stored, ingests int
	// fail answers the next n requests 500 without serving them; drop
	// serves the next n ingests, then drops the connection (the answer
	// is lost).
	fail, drop int
	lastDrop   string
	requests   atomic.Int64
	// rewrite, when set, changes a request's (unzipped) body before the
	// server reads it: items a real server then refuses.
	rewrite func(path string, body []byte) []byte
}

func newTestServer(t testing.TB, home string) *testServer {
	t.Helper()
	return newTestServerAt(t, home, "")
}

// newTestServerAt is newTestServer listening on addr ("": any port), so
// a restarted server answers at the URL its clients know.
func newTestServerAt(t testing.TB, home, addr string) *testServer {
	t.Helper()
	if home == "" {
		home = t.TempDir()
	}
	srv, err := server.New(server.Options{Home: home, APIv1: true, APIKeys: map[string][]string{testKey: {"*"}}, DefaultWorkspace: "ws"})
	require.NoError(t, err)
	s := &testServer{t: t, home: home, srv: srv}
	inner := srv.Handler()
	s.ts = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		s.mu.Lock()
		fail := s.fail > 0
		if fail {
			s.fail--
		}
		// Each batch's first try only: its resend gets through.
		rng := r.Header.Get("X-Goodseed-Stream") + r.Header.Get("X-Goodseed-Range")
		drop := !fail && s.drop > 0 && strings.HasSuffix(r.URL.Path, "/ingest") && r.ContentLength > 0 && rng != s.lastDrop
		if drop {
			s.drop--
			s.lastDrop = rng
		}
		s.mu.Unlock()
		if fail {
			http.Error(w, `{"error_code": "Server.StorageError", "title": "injected"}`, http.StatusInternalServerError)
			return
		}
		if s.rewrite != nil && r.Body != nil {
			body, err := io.ReadAll(r.Body)
			require.NoError(t, err)
			if r.Header.Get("Content-Encoding") == "gzip" {
				zr, err := gzip.NewReader(bytes.NewReader(body))
				require.NoError(t, err)
				body, err = io.ReadAll(zr)
				require.NoError(t, err)
				r.Header.Del("Content-Encoding")
			}
			body = s.rewrite(r.URL.Path, body)
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		}
		rec := httptest.NewRecorder()
		inner.ServeHTTP(rec, r)
		if strings.HasSuffix(r.URL.Path, "/ingest") && rec.Code == http.StatusOK {
			var ans struct{ Points int }
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &ans))
			s.mu.Lock()
			s.stored += ans.Points
			if ans.Points > 0 {
				s.ingests++
			}
			s.mu.Unlock()
		}
		if drop {
			conn, _, err := w.(http.Hijacker).Hijack()
			require.NoError(t, err)
			_ = conn.Close()
			return
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	if addr != "" {
		ln, err := net.Listen("tcp", addr)
		require.NoError(t, err)
		s.ts.Listener.Close()
		s.ts.Listener = ln
	}
	s.ts.Start()
	t.Cleanup(s.close)
	return s
}

func (s *testServer) close() {
	if s.ts != nil {
		s.ts.Close()
		require.NoError(s.t, s.srv.Close())
		s.ts = nil
	}
}

func (s *testServer) counts() (stored, ingests int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stored, s.ingests
}

func (s *testServer) syncer(t *testing.T) *remote.Syncer {
	c, err := remote.NewClient(s.ts.URL, testKey, remote.ClientOptions{Backoff: remote.Backoff{Min: time.Millisecond, Max: 5 * time.Millisecond}})
	require.NoError(t, err)
	return remote.NewSyncer(c, remote.Options{BatchPoints: 700})
}

func quietOpts(home string) run.Options {
	return run.Options{Home: home, Project: "ws/p", Quiet: true, Git: run.GitOptions{Disabled: true},
		Monitoring: run.MonitoringOptions{Off: true},
		// Small blocks: many batches.
		Engine: engine.Options{BlockTargetBytes: 2048, MaxChunkPoints: 128}}
}

// writeTwoWriterRun logs a run as two ranks: distinct and shared series,
// float steps, NaN and ±Inf, strings, every config type, tag updates; the
// second rank fails. It returns the run's directory and points logged.
func writeTwoWriterRun(t *testing.T, home string, steps int) (string, int) {
	t.Helper()
	o := quietOpts(home)
	o.RunID, o.Name, o.Tags = "two-ranks", "two ranks", []string{"a", "b"}
	r0, err := run.New(o)
	require.NoError(t, err)
	o.Writer = "rank-1"
	r1, err := run.Join(o.RunID, o)
	require.NoError(t, err)
	require.NoError(t, r0.SetAll(map[string]any{"lr": 0.1, "epochs": 3, "opt": map[string]any{"name": "adam", "amsgrad": false},
		"none": nil, "when": time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC), "huge": 1e300}))
	require.NoError(t, r1.Set("rank1/seed", 7))
	require.NoError(t, r0.Field("sys/tags").Add("c"))
	require.NoError(t, r0.Field("sys/tags").Remove("a"))
	points := 0
	for i := range steps {
		s := float64(i) / 2
		v := math.Sin(float64(i))
		switch i % 97 {
		case 5:
			v = math.NaN()
		case 6:
			v = math.Inf(1)
		case 7:
			v = math.Inf(-1)
		}
		require.NoError(t, r0.Field("train/loss").Log(v, s))
		require.NoError(t, r1.Field("train/loss").Log(v+1, s))
		require.NoError(t, r1.Field("rank1/grad").Log(float64(i), float64(i)))
		points += 3
		if i%50 == 0 {
			require.NoError(t, r0.Field("log/lines").LogString("line "+strings.Repeat("x", i%13), float64(i)))
			points++
		}
	}
	require.NoError(t, r1.CloseFailed("NCCL timeout"))
	require.NoError(t, r0.Close())
	return r0.Dir(), points
}

// requireSameRun checks the server's copy reads as the local run: every
// field, point for point (values bit for bit), every config, the state.
func requireSameRun(t *testing.T, localDir, serverDir string) {
	t.Helper()
	lr, err := engine.OpenReader(localDir, nil)
	require.NoError(t, err)
	defer lr.Close()
	sr, err := engine.OpenReader(serverDir, nil)
	require.NoError(t, err)
	defer sr.Close()
	require.Equal(t, lr.StreamWriters(), sr.StreamWriters(), "the same writer ids")
	for _, f := range lr.Fields() {
		switch f.Kind {
		case engine.KindMetric:
			var a, b series.MetricColumns
			require.NoError(t, lr.ReadMetric(f.Path, &a))
			require.NoError(t, sr.ReadMetric(f.Path, &b), f.Path)
			require.Equal(t, a.Steps, b.Steps, f.Path)
			require.Equal(t, a.TimesMs, b.TimesMs, f.Path)
			require.Equal(t, len(a.Values), len(b.Values), f.Path)
			for i := range a.Values {
				require.Equal(t, math.Float64bits(a.Values[i]), math.Float64bits(b.Values[i]), "%s[%d]", f.Path, i)
			}
		case engine.KindString:
			var a, b series.StringColumns
			require.NoError(t, lr.ReadString(f.Path, &a))
			require.NoError(t, sr.ReadString(f.Path, &b), f.Path)
			require.Equal(t, a, b, f.Path)
		}
	}
	lc, sc := lr.Configs(), sr.Configs()
	for path, e := range lc {
		got, ok := sc[path]
		require.True(t, ok, "config %s", path)
		require.True(t, e.Value.Equal(got.Value), "config %s: local %v, server %v", path, e.Value, got.Value)
	}
	ls, lws, err := run.DeriveState(lr)
	require.NoError(t, err)
	ss, sws, err := run.DeriveState(sr)
	require.NoError(t, err)
	require.Equal(t, ls, ss, "run state")
	require.Equal(t, len(lws), len(sws))
	for i := range lws {
		require.Equal(t, lws[i].ID, sws[i].ID)
		require.Equal(t, lws[i].State, sws[i].State)
		require.Equal(t, lws[i].FailureReason, sws[i].FailureReason)
	}
}

func serverRunDir(home, id string) string {
	return filepath.Join(home, "projects", "ws", "p", "runs", id)
}

// TestSyncTwoWritersEqualAndIncremental: a run two ranks wrote, synced,
// reads on the server as it reads locally, point for point; a second sync
// sends nothing.
func TestSyncTwoWritersEqualAndIncremental(t *testing.T) {
	local := t.TempDir()
	dir, points := writeTwoWriterRun(t, local, 3000)
	ts := newTestServer(t, "")
	sy := ts.syncer(t)
	rep, err := sy.SyncRun(context.Background(), dir)
	require.NoError(t, err)
	require.Equal(t, points, rep.Points)
	require.Equal(t, 2, rep.Writers)
	require.True(t, rep.Done)
	require.Empty(t, rep.Refused)
	require.Empty(t, rep.Damage)
	require.Greater(t, rep.Batches, 4, "batches of 700 points")
	stored, _ := ts.counts()
	require.Equal(t, points, stored)

	before := ts.requests.Load()
	rep, err = sy.SyncRun(context.Background(), dir)
	require.NoError(t, err)
	require.Zero(t, rep.Points)
	require.Zero(t, rep.Batches)
	require.Zero(t, rep.Statuses)
	require.Zero(t, rep.Rewound)
	// The run's registration and one question per writer: no data.
	require.Equal(t, int64(3), ts.requests.Load()-before)
	stored, _ = ts.counts()
	require.Equal(t, points, stored)
	pending, err := remote.Pending(dir, ts.ts.URL)
	require.NoError(t, err)
	require.Zero(t, pending)

	ts.close()
	requireSameRun(t, dir, serverRunDir(ts.home, "two-ranks"))
}

// TestSyncFaults: 500s and connections dropped after the server stored a
// batch (its answer lost) are retried; every point is stored exactly once.
func TestSyncFaults(t *testing.T) {
	local := t.TempDir()
	dir, points := writeTwoWriterRun(t, local, 2000)
	ts := newTestServer(t, "")
	ts.fail, ts.drop = 7, 5
	var retries atomic.Int64
	c, err := remote.NewClient(ts.ts.URL, testKey, remote.ClientOptions{
		Backoff: remote.Backoff{Min: time.Millisecond, Max: 5 * time.Millisecond},
		OnRetry: func(error, time.Duration) { retries.Add(1) }})
	require.NoError(t, err)
	rep, err := remote.NewSyncer(c, remote.Options{BatchPoints: 500}).SyncRun(context.Background(), dir)
	require.NoError(t, err)
	require.Equal(t, int64(12), retries.Load(), "each fault retried once")
	require.Equal(t, 5, rep.Resent, "each lost answer resent and answered as stored")
	stored, _ := ts.counts()
	require.Equal(t, points, stored, "nothing stored twice")
	ts.close()
	requireSameRun(t, dir, serverRunDir(ts.home, "two-ranks"))
}

// TestSyncCursorLost: without its cursor files (deleted, or damaged) a
// syncer asks the server how far it has each stream and sends nothing
// twice; a server restarted on its own disk keeps what it acknowledged.
func TestSyncCursorLost(t *testing.T) {
	local := t.TempDir()
	dir, points := writeTwoWriterRun(t, local, 1500)
	home := t.TempDir()
	ts := newTestServer(t, home)
	_, err := ts.syncer(t).SyncRun(context.Background(), dir)
	require.NoError(t, err)
	ts.close()

	matches, err := filepath.Glob(filepath.Join(dir, "sync-*.cursor"))
	require.NoError(t, err)
	require.Len(t, matches, 2)
	require.NoError(t, os.Remove(matches[0]))
	data, err := os.ReadFile(matches[1])
	require.NoError(t, err)
	data[10] ^= 0x20
	require.NoError(t, os.WriteFile(matches[1], data, 0o644))

	ts = newTestServer(t, home) // the same disk: a restart
	rep, err := ts.syncer(t).SyncRun(context.Background(), dir)
	require.NoError(t, err)
	require.Zero(t, rep.Points)
	stored, _ := ts.counts()
	require.Zero(t, stored)
	ts.close()
	requireSameRun(t, dir, serverRunDir(home, "two-ranks"))
	_ = points
}

// TestSyncServerLostData: a server whose copy is older than the cursors
// say (restored from a backup) answers the gap; the syncer goes back to
// where the server's copy ends, and the copy ends up whole.
func TestSyncServerLostData(t *testing.T) {
	local := t.TempDir()
	dir, _ := writeTwoWriterRun(t, local, 1500)
	ts := newTestServer(t, "")
	_, err := ts.syncer(t).SyncRun(context.Background(), dir)
	require.NoError(t, err)
	ts.close()

	// Another server, empty, at the same URL the cursors name: serve it
	// from a fresh home behind the first server's address.
	fresh := newTestServer(t, "")
	cursors, err := filepath.Glob(filepath.Join(dir, "sync-*.cursor"))
	require.NoError(t, err)
	for _, c := range cursors {
		require.NoError(t, remote.RewriteCursorServer(c, fresh.ts.URL))
	}
	rep, err := fresh.syncer(t).SyncRun(context.Background(), dir)
	require.NoError(t, err)
	require.Equal(t, 2, rep.Rewound, "both writers shipped again")
	require.True(t, rep.Done)
	fresh.close()
	requireSameRun(t, dir, serverRunDir(fresh.home, "two-ranks"))
}
