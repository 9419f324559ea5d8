package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/internal/pyclient"
)

// writePyRuns has the real client write n local runs into home (pyrun's
// generator).
func writePyRuns(t *testing.T, home string, n int) {
	t.Helper()
	src := pyclient.Src(t)
	script, err := os.ReadFile(filepath.Join("..", "..", "pyrun", "testdata", "write_runs.py"))
	require.NoError(t, err)
	args, _ := json.Marshal([]any{n, 60, "small"})
	pyclient.Run(t, src, "import sys; sys.argv[1:] = [str(a) for a in "+string(args)+"]\n"+string(script), "GOODSEED_HOME="+home)
}

// TestListAndImportPythonRuns: runs the Python client wrote are listed
// (marked read-only) before any import; import --all converts them all,
// verified; a second import does nothing; the runs then list as ours.
func TestListAndImportPythonRuns(t *testing.T) {
	home := t.TempDir()
	t.Setenv("GOODSEED_PY_MIRROR", t.TempDir())
	writePyRuns(t, home, 5)

	code, out, errOut := runCmd(t, nil, "list", home)
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, "  ws/proj  (3 runs, last modified: ")
	require.Contains(t, out, "  solo  (2 runs, last modified: ")
	code, out, errOut = runCmd(t, nil, "list", home, "-p", "ws/proj")
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, "  [failed] run-004  (Python run, read-only: goodseed import converts it)\n      name: experiment 4 ü\n")
	require.Equal(t, 3, strings.Count(out, "(Python run"))

	code, out, errOut = runCmd(t, nil, "import", "--home", home, "run-001")
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, "  ws/proj/run-001: 25 configs, 3 metrics, 1 string series, ")
	require.Contains(t, out, "(verified)")
	require.DirExists(t, filepath.Join(home, "projects", "ws", "proj", "runs", "run-001"))

	code, out, errOut = runCmd(t, nil, "import", "--home", home, "--all")
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, "\n4 imported, 1 imported already, 0 failed\n")
	code, out, errOut = runCmd(t, nil, "import", "--home", home, "--all")
	require.Equal(t, exitOK, code, errOut)
	require.Contains(t, out, "\n0 imported, 5 imported already, 0 failed\n")

	code, out, errOut = runCmd(t, nil, "list", home, "-p", "ws/proj")
	require.Equal(t, exitOK, code, errOut)
	require.NotContains(t, out, "(Python run", "imported runs list as ours")
	require.Contains(t, out, "  [failed] run-004\n")
	require.Contains(t, out, "\n3 run(s) in ws/proj\n")

	code, _, errOut = runCmd(t, nil, "import", "--home", home, "no-such-run")
	require.Equal(t, exitError, code)
	require.Contains(t, errOut, `no Python run "no-such-run"`)
	code, _, errOut = runCmd(t, nil, "import", "--home", home)
	require.Equal(t, exitUsage, code)
	require.Contains(t, errOut, "name runs, -p PROJECT or --all")
}
