package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestUpload: the Python CLI's "upload -p PROJECT [-r RUN_ID]" ships the
// project's runs to $GOODSEED_API_URL; a second upload sends nothing new;
// a run the Python client wrote is not shipped from its read-only mirror,
// and says how to convert it.
func TestUpload(t *testing.T) {
	url, _ := syncServer(t)
	home := t.TempDir()
	t.Setenv("GOODSEED_PY_MIRROR", t.TempDir())
	logRun(t, home, "first", 300)
	logRun(t, home, "second", 200)
	vars := map[string]string{"GOODSEED_API_URL": url, "GOODSEED_API_KEY": syncKey, "GOODSEED_HOME": home}

	code, out, errOut := runCmd(t, vars, "upload", "-p", "ws/p", "-r", "second")
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, "1 run(s) synced to "+url+": 200 points")
	code, out, errOut = runCmd(t, vars, "upload", "-p", "ws/p")
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, "2 run(s) synced to "+url+": 300 points", "only what the server lacks")
	code, out, errOut = runCmd(t, vars, "upload", "--project", "ws/p")
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, ": 0 points, 0 configs", "a second upload sends nothing new")

	writePyRuns(t, home, 2)
	code, out, errOut = runCmd(t, vars, "upload", "-p", "solo")
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, "0 run(s) synced")
	require.Contains(t, errOut, "solo/run-000 was written by GoodSeed's Python client: not shipped; 'goodseed import run-000' converts it")
	code, _, errOut = runCmd(t, vars, "upload", "-p", "solo", "-r", "run-000")
	require.Equal(t, exitError, code)
	require.Contains(t, errOut, "goodseed import run-000")

	code, _, errOut = runCmd(t, vars, "upload")
	require.Equal(t, exitUsage, code)
	require.Contains(t, errOut, "-p PROJECT is required")
}
