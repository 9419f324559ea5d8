package main

import (
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
	gsrun "github.com/goodseed/goodseed-go/run"
	"github.com/goodseed/goodseed-go/series"
	"github.com/goodseed/goodseed-go/server"
)

const syncKey = "cli-sync-key"

// syncServer is our server with /api/v1 on a loopback port, its own home.
func syncServer(t *testing.T) (url, home string) {
	t.Helper()
	home = t.TempDir()
	srv, err := server.New(server.Options{Home: home, APIv1: true, APIKeys: map[string][]string{syncKey: {"*"}}, DefaultWorkspace: "ws"})
	require.NoError(t, err)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		ts.Close()
		require.NoError(t, srv.Close())
	})
	return ts.URL, home
}

// logRun writes a closed run of n steps in project ws/p under home.
func logRun(t *testing.T, home, id string, n int) {
	t.Helper()
	r, err := gsrun.New(gsrun.Options{Home: home, Project: "ws/p", RunID: id, Quiet: true,
		Git: gsrun.GitOptions{Disabled: true}, Monitoring: gsrun.MonitoringOptions{Off: true}})
	require.NoError(t, err)
	require.NoError(t, r.Set("lr", 0.01))
	for i := range n {
		require.NoError(t, r.Field("train/loss").Log(1/float64(i+1), float64(i)))
	}
	require.NoError(t, r.Close())
}

// configs reads a run's configs in their text form.
func configs(t *testing.T, dir string) map[string]string {
	t.Helper()
	rd, err := engine.OpenReader(dir, nil)
	require.NoError(t, err)
	defer rd.Close()
	m := map[string]string{}
	for path, e := range rd.Configs() {
		m[path] = e.Value.String()
	}
	return m
}

func TestSync(t *testing.T) {
	url, serverHome := syncServer(t)
	home := t.TempDir()
	logRun(t, home, "first-run", 500)
	logRun(t, home, "second-run", 300)
	vars := map[string]string{"GOODSEED_HOME": home, "GOODSEED_API_URL": url, "GOODSEED_API_KEY": syncKey}

	code, out, errOut := runCmd(t, vars, "sync", "--all")
	require.Equal(t, exitOK, code, errOut)
	// Configs count the updates sent (a config set twice, twice).
	require.Regexp(t, `(?m)^first-run → ws~p~first-run: 500 points, \d+ configs$`, out)
	require.Regexp(t, `(?m)^second-run → ws~p~second-run: 300 points, \d+ configs$`, out)
	require.Regexp(t, `\n2 run\(s\) synced to `+regexp.QuoteMeta(url)+`: 800 points, \d+ configs\n$`, out)
	for _, id := range []string{"first-run", "second-run"} {
		require.Equal(t, configs(t, filepath.Join(home, "projects", "ws", "p", "runs", id)),
			configs(t, filepath.Join(serverHome, "projects", "ws", "p", "runs", id)), id)
	}
	require.Empty(t, errOut, "no progress bar when stderr is not a terminal")

	rd, err := engine.OpenReader(filepath.Join(serverHome, "projects", "ws", "p", "runs", "first-run"), nil)
	require.NoError(t, err)
	var cols series.MetricColumns
	require.NoError(t, rd.ReadMetric("train/loss", &cols))
	require.NoError(t, rd.Close())
	require.Len(t, cols.Values, 500)
	require.Equal(t, 1/500.0, cols.Values[499])

	// Nothing new: nothing sent, per-run lines left out.
	code, out, errOut = runCmd(t, vars, "sync", "second-run", "-p", "ws/p")
	require.Equal(t, exitOK, code, errOut)
	require.Equal(t, "1 run(s) synced to "+url+": 0 points, 0 configs\n", out)

	// A run directory by path, the server and key by flag.
	code, out, errOut = runCmd(t, nil, "sync", "--url", url, "--key", syncKey,
		filepath.Join(home, "projects", "ws", "p", "runs", "first-run"))
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, ": 0 points, 0 configs\n")
}

func TestSyncErrors(t *testing.T) {
	url, _ := syncServer(t)
	home := t.TempDir()
	logRun(t, home, "only-run", 10)
	for _, tc := range []struct {
		name string
		vars map[string]string
		args []string
		code int
		err  string
	}{
		{"nothing named", map[string]string{"GOODSEED_API_URL": url}, []string{"sync", "--home", home}, exitUsage, "name runs, -p PROJECT or --all"},
		{"no server", nil, []string{"sync", "--home", home, "--all"}, exitUsage, "no server: give --url or set GOODSEED_API_URL"},
		{"unknown run", map[string]string{"GOODSEED_API_URL": url}, []string{"sync", "--home", home, "no-such-run"}, exitError, `no run "no-such-run" under`},
		{"wrong key", map[string]string{"GOODSEED_API_URL": url, "GOODSEED_API_KEY": "wrong"}, []string{"sync", "--home", home, "only-run"}, exitError, "1 run(s) not synced"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runCmd(t, tc.vars, tc.args...)
			require.Equal(t, tc.code, code, errOut)
			require.Contains(t, errOut, tc.err)
		})
	}
}
