package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLsGolden(t *testing.T) {
	home := fixture(t)
	res := runCmd(t, nil, nil, "ls", home)
	require.Equal(t, exitOK, res.code, res.stderr)
	checkGolden(t, "ls", res.stdout)

	res2 := runCmd(t, nil, []string{"GOODSEED_HOME=" + home}, "ls")
	require.Equal(t, exitOK, res2.code, res2.stderr)
	require.Equal(t, res.stdout, res2.stdout, "HOME defaults to $GOODSEED_HOME")
}

func TestLsStates(t *testing.T) {
	res := runCmd(t, nil, nil, "ls", fixture(t))
	require.Equal(t, exitOK, res.code, res.stderr)
	for _, want := range []string{
		"vision   bold-falcon", "finished", "calm-otter", "failed",
		"ws/proj  quiet-heron", "crashed",
		"3 runs in 2 projects",
	} {
		require.Contains(t, res.stdout, want)
	}
}

func TestLsEmptyHome(t *testing.T) {
	home := t.TempDir()
	res := runCmd(t, nil, nil, "ls", home)
	require.Equal(t, exitOK, res.code)
	require.Equal(t, "no runs under "+home+"\n", res.stdout)

	require.NoError(t, os.MkdirAll(filepath.Join(home, "projects", "empty", "runs"), 0o755))
	res = runCmd(t, nil, []string{"GOODSEED_HOME=" + home}, "ls")
	require.Equal(t, exitOK, res.code)
	require.Equal(t, "no runs under "+home+"\n", res.stdout)
}

func TestLsMissingHome(t *testing.T) {
	home := filepath.Join(t.TempDir(), "nope")
	res := runCmd(t, nil, nil, "ls", home)
	require.Equal(t, exitError, res.code)
	require.Contains(t, res.stderr, home+": no such directory")

	res = runCmd(t, nil, []string{"GOODSEED_HOME=" + home}, "ls")
	require.Equal(t, exitError, res.code)
	require.Contains(t, res.stderr, home+": no such directory")

	res = runCmd(t, nil, nil, "ls", "a", "b")
	require.Equal(t, exitError, res.code)
	require.Contains(t, res.stderr, "usage: gsinspect ls")
}

// TestLsUnreadable: a run that does not open is a row and a note, not a
// failure of the listing.
func TestLsUnreadable(t *testing.T) {
	home := tempHomeCopy(t, fixture(t))
	broken := filepath.Join(home, "projects", "vision", "runs", "broken")
	require.NoError(t, os.MkdirAll(broken, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(broken, "LOCK"), []byte("garbage"), 0o644))

	res := runCmd(t, nil, nil, "ls", home)
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Regexp(t, `vision +broken +unreadable \[1\] +- +7 B +- +- +-`, res.stdout)
	require.Contains(t, res.stdout, "[1] vision/broken: engine: not found")
	require.Contains(t, res.stdout, "bold-falcon", "the other runs are listed")
	require.Contains(t, res.stdout, "4 runs in 2 projects")
}

// TestLsNestedRunsProject: a project named "runs" inside a workspace
// (ws/runs) is a project, not a run of project ws.
func TestLsNestedRunsProject(t *testing.T) {
	home := t.TempDir()
	for _, p := range []string{"ws", "ws/runs", "solo"} {
		r, err := newTestRun(home, p, "r1")
		require.NoError(t, err)
		require.NoError(t, r.Close())
	}
	res := runCmd(t, nil, nil, "ls", home)
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Contains(t, res.stdout, "3 runs in 3 projects")
	require.Regexp(t, `(?m)^ws/runs +r1 +finished`, res.stdout)
	require.Regexp(t, `(?m)^ws +r1 +finished`, res.stdout)
	require.NotContains(t, res.stdout, "unreadable")
}

func TestLsHelp(t *testing.T) {
	res := runCmd(t, nil, nil, "ls", "--help")
	require.Equal(t, exitOK, res.code)
	require.Contains(t, res.stdout, "example:\n  gsinspect ls")
}

// TestLsLive: a run whose writer is live is running, the writer named.
func TestLsLive(t *testing.T) {
	home := t.TempDir()
	r, err := newTestRun(home, "p", "live-one")
	require.NoError(t, err)
	defer r.Close()
	require.NoError(t, r.Field("x").Log(1, 0))
	require.NoError(t, r.Flush())
	host, err := os.Hostname()
	require.NoError(t, err)
	res := runCmd(t, nil, nil, "ls", home)
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Regexp(t, `(?m)^p +live-one +running +pid `+strconv.Itoa(os.Getpid())+`@`+regexp.QuoteMeta(host)+` +\S+ \S+ +1 +`, res.stdout)
}
