package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// served is a serve command running in the test.
type served struct {
	url         string
	port        string
	out, errOut *syncBuffer
	done        chan int
}

// startServe runs "goodseed serve args..." until the test calls stop (or,
// with realSignals, until the process gets SIGINT/SIGTERM).
func startServe(t *testing.T, vars map[string]string, realSignals bool, args ...string) (*served, func() int) {
	t.Helper()
	cancel := func() {}
	if !realSignals {
		ctx, c := context.WithCancel(context.Background())
		cancel = c
		old := notifyContext
		notifyContext = func(context.Context, ...os.Signal) (context.Context, context.CancelFunc) { return ctx, c }
		t.Cleanup(func() { notifyContext = old })
	}
	s := &served{out: &syncBuffer{}, errOut: &syncBuffer{}, done: make(chan int, 1)}
	go func() {
		s.done <- run(append([]string{"serve"}, args...), s.out, s.errOut, func(k string) string { return vars[k] })
	}()
	re := regexp.MustCompile(`View your runs at https://app\.goodseed\.ai/local\?port=(\d+)\n`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := re.FindStringSubmatch(s.out.String()); m != nil {
			s.port = m[1]
			s.url = "http://127.0.0.1:" + m[1]
			break
		}
		select {
		case code := <-s.done:
			t.Fatalf("serve exited with %d: %s %s", code, s.out.String(), s.errOut.String())
		default:
		}
		require.True(t, time.Now().Before(deadline), "serve never printed its link: %s", s.out.String())
		time.Sleep(5 * time.Millisecond)
	}
	stop := func() int {
		cancel()
		select {
		case code := <-s.done:
			return code
		case <-time.After(15 * time.Second):
			t.Fatal("serve did not stop")
			return -1
		}
	}
	return s, stop
}

func httpGet(t *testing.T, url string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestServe(t *testing.T) {
	home := fixtureHome(t)
	s, stop := startServe(t, nil, false, home, "--port", "0", "-v")
	require.Equal(t, "Goodseed server running at "+s.url+"\nData directory: "+resolved(t, home)+
		" (projects: "+filepath.Join(resolved(t, home), "projects")+")"+
		"\nView your runs at https://app.goodseed.ai/local?port="+s.port+"\n", s.out.String())
	require.Empty(t, s.errOut.String())
	code, body := httpGet(t, s.url+"/api/runs?project=ws/proj")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `"run_id": "quiet-heron"`)
	code, _ = httpGet(t, s.url+"/api/v1/auth/me", "Authorization", "Bearer k")
	require.Equal(t, http.StatusNotFound, code, "/api/v1 is off without --api-v1")
	require.Equal(t, exitOK, stop())
	require.True(t, strings.HasSuffix(s.out.String(), "Server stopped.\n"))
	_, err := http.Get(s.url + "/api/runs")
	require.Error(t, err, "the listener is closed")
}

// TestServeQuietAndProjectsDir: quiet by default, as the Python CLI (the
// link alone); DIR may be the projects directory itself, served alike.
func TestServeQuietAndProjectsDir(t *testing.T) {
	home := fixtureHome(t)
	s, stop := startServe(t, nil, false, filepath.Join(home, "projects"), "--port", "0")
	require.Equal(t, "View your runs at https://app.goodseed.ai/local?port="+s.port+"\n", s.out.String())
	require.Empty(t, s.errOut.String())
	code, body := httpGet(t, s.url+"/api/runs?project=ws/proj")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `"run_id": "quiet-heron"`)
	code, body = httpGet(t, s.url+"/api/runs/vision/bold-falcon/metric-paths")
	require.Equal(t, http.StatusOK, code, body)
	require.Equal(t, exitOK, stop())
}

func resolved(t *testing.T, p string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(p)
	require.NoError(t, err)
	return r
}

// TestServeStopsOnSignal: a real SIGTERM stops the server gracefully (the
// handler is installed before the link is printed, so the signal cannot
// reach the default action).
func TestServeStopsOnSignal(t *testing.T) {
	home := fixtureHome(t)
	s, stop := startServe(t, nil, true, "--port", "0", home)
	code, _ := httpGet(t, s.url+"/api/projects")
	require.Equal(t, http.StatusOK, code)
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	require.Equal(t, exitOK, stop())
	require.Contains(t, s.out.String(), "Server stopped.")
}

// TestServeDefaultCommand: no command, or a directory, means serve, with
// the home from $GOODSEED_HOME when no DIR is given.
func TestServeDefaultCommand(t *testing.T) {
	home := fixtureHome(t)
	ctx, cancel := context.WithCancel(context.Background())
	old := notifyContext
	notifyContext = func(context.Context, ...os.Signal) (context.Context, context.CancelFunc) { return ctx, cancel }
	defer func() { notifyContext = old }()
	for _, args := range [][]string{{"--port", "0", "-v"}, {home, "--port", "0", "--verbose"}} {
		out := &syncBuffer{}
		done := make(chan int, 1)
		go func() {
			done <- run(args, out, io.Discard, func(k string) string {
				return map[string]string{"GOODSEED_HOME": home}[k]
			})
		}()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(out.String(), "View your runs at") {
			require.True(t, time.Now().Before(deadline))
			time.Sleep(5 * time.Millisecond)
		}
		require.Contains(t, out.String(), "Data directory: "+resolved(t, home)+" (projects: ")
		cancel()
		require.Equal(t, exitOK, <-done)
		ctx, cancel = context.WithCancel(context.Background())
	}
	cancel()
}

func TestServeAPIv1(t *testing.T) {
	home := t.TempDir()
	keys := filepath.Join(t.TempDir(), "keys")
	require.NoError(t, os.WriteFile(keys, []byte("# keys\nfilekey:acme  # trailing comment\n\n"), 0o600))
	s, stop := startServe(t, map[string]string{"GOODSEED_API_KEYS": "envkey;other:ws1"}, false,
		home, "--port", "0", "--api-v1", "--api-key", "flagkey:research,acme", "--api-keys-file", keys)
	require.Contains(t, s.out.String(), "Remote API (/api/v1) on, 4 API key(s)\n")
	for _, key := range []string{"flagkey", "filekey", "envkey"} {
		code, body := httpGet(t, s.url+"/api/v1/auth/me", "Authorization", "Bearer "+key)
		require.Equal(t, http.StatusOK, code, "%s: %s", key, body)
	}
	code, _ := httpGet(t, s.url+"/api/v1/auth/me", "Authorization", "Bearer wrong")
	require.Equal(t, http.StatusUnauthorized, code)
	require.Equal(t, exitOK, stop())
}

func TestServeUsageErrors(t *testing.T) {
	dir := t.TempDir()
	badFile := filepath.Join(dir, "keys")
	require.NoError(t, os.WriteFile(badFile, []byte("ok\n:nokey\n"), 0o600))
	for _, tc := range []struct {
		vars     map[string]string
		args     []string
		code     int
		contains string
	}{
		{nil, []string{dir, "--api-v1"}, exitUsage, "--api-v1 needs at least one API key"},
		{nil, []string{dir, "--api-key", "k"}, exitUsage, "need --api-v1"},
		{nil, []string{dir, "--api-v1", "--api-key", "k:"}, exitUsage, `key "k" names no workspace`},
		{nil, []string{dir, "--api-v1", "--api-key", "k:../x"}, exitUsage, `"../x" is not a workspace name`},
		{nil, []string{dir, "--api-v1", "--api-keys-file", badFile}, exitUsage, "line 2: an API key is empty"},
		{nil, []string{dir, "--api-v1", "--api-keys-file", filepath.Join(dir, "none")}, exitError, "no such file"},
		{map[string]string{"GOODSEED_API_KEYS": ":x"}, []string{dir, "--api-v1"}, exitUsage, "$GOODSEED_API_KEYS: an API key is empty"},
		{nil, []string{dir, "--port", "70000"}, exitUsage, "not a port"},
		{nil, []string{dir, "--port", "x"}, exitUsage, "invalid value"},
		{nil, []string{dir, dir}, exitUsage, "one DIR at most"},
		{nil, []string{dir, "--host", "256.1.1.1", "--port", "0"}, exitError, "listen"},
	} {
		code, _, errOut := runCmd(t, tc.vars, append([]string{"serve"}, tc.args...)...)
		require.Equal(t, tc.code, code, "%v: %s", tc.args, errOut)
		require.Contains(t, errOut, tc.contains, "%v", tc.args)
	}
}

func TestServeWarnsAndNotes(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "not-yet")
	s, stop := startServe(t, nil, false, missing, "--port", "0", "--host", "0.0.0.0", "-v")
	require.Contains(t, s.errOut.String(), "does not exist yet")
	require.Contains(t, s.errOut.String(), "Warning: listening on 0.0.0.0")
	require.Contains(t, s.out.String(), "running at http://127.0.0.1:"+s.port)
	require.Equal(t, exitOK, stop())
}

func TestAPIKeysParse(t *testing.T) {
	got, err := apiKeys([]string{"a", "b:ws1,ws2", "b:ws2, ws3"}, "", "c:*;d e:x")
	require.NoError(t, err)
	require.Equal(t, map[string][]string{
		"a": {"*"}, "b": {"ws1", "ws2", "ws3"}, "c": {"*"}, "d": {"*"}, "e": {"x"},
	}, got)
}
