// Package pyclient runs GoodSeed's real Python client (0.4.0, MIT) for
// tests: the client is the judge of "drop-in" and of what a Python-written
// run holds, not our reading of its source. Its source is kept in
// ../shared/reference/goodseed-python-0.4.0 beside the repository
// ($GOODSEED_PY_CLIENT names its src directory elsewhere); it needs a
// python3 with psutil (Debian's python3-psutil; .ci/run installs it).
// Without them a test that asks for the client is skipped, saying why.
package pyclient

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Src returns the client's src directory, or skips t saying why not.
func Src(t testing.TB) string {
	t.Helper()
	src := os.Getenv("GOODSEED_PY_CLIENT")
	if src == "" {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		src = filepath.Join(root, "..", "shared", "reference", "goodseed-python-0.4.0", "src")
	}
	if _, err := os.Stat(filepath.Join(src, "goodseed", "run.py")); err != nil {
		t.Skipf("GoodSeed's Python client is not at %s (set GOODSEED_PY_CLIENT): %v", src, err)
	}
	if err := exec.Command(Python(), "-c", "import psutil").Run(); err != nil {
		t.Skipf("%s with psutil is needed for the real client (apt-get install python3 python3-psutil): %v", Python(), err)
	}
	return src
}

// Python is the interpreter: $GOODSEED_PYTHON, else Debian's (which
// python3-psutil serves), else python3 on the PATH.
func Python() string {
	if p := os.Getenv("GOODSEED_PYTHON"); p != "" {
		return p
	}
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	return "python3"
}

// Command is script run by the client's interpreter with the client
// importable, env (KEY=value) added to the environment.
func Command(ctx context.Context, src, script string, env ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, Python(), "-c", script)
	cmd.Env = append(append(os.Environ(), "PYTHONPATH="+src, "PYTHONUNBUFFERED=1"), env...)
	return cmd
}

// Run runs script (Command) to its end, failing t when it fails; it
// returns stdout and stderr.
func Run(t testing.TB, src, script string, env ...string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := Command(ctx, src, script, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	require.NoError(t, err, "python client:\nstdout: %s\nstderr: %s", out.String(), errb.String())
	return out.String(), errb.String()
}

// StartServer runs GoodSeed's own Python server (goodseed.server) on
// projectsDir until t ends, and returns its URL once it answers.
func StartServer(t testing.TB, src, projectsDir string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	cmd := Command(context.Background(), src,
		"import sys; from pathlib import Path; from goodseed.server import run_server; run_server(Path(sys.argv[1]), port=int(sys.argv[2]))")
	cmd.Args = append(cmd.Args, projectsDir, strconv.Itoa(port))
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	require.Eventually(t, func() bool {
		resp, err := http.Get(url + "/api/projects")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	}, 20*time.Second, 50*time.Millisecond, "the Python server starts")
	return url
}
