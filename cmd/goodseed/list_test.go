package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestListProjects(t *testing.T) {
	home := fixtureHome(t)
	code, out, errOut := runCmd(t, nil, "list", home)
	require.Equal(t, exitOK, code, errOut)
	// Equal mtimes: ties go by name.
	require.Equal(t, `  vision  (2 runs, last modified: 2026-02-03T04:05:06)
  ws/proj  (1 run, last modified: 2026-02-03T04:05:06)

2 project(s)
`, out)
	// $GOODSEED_HOME when no DIR is given.
	code, out2, _ := runCmd(t, map[string]string{"GOODSEED_HOME": home}, "list")
	require.Equal(t, exitOK, code)
	require.Equal(t, out, out2)
}

func TestListRuns(t *testing.T) {
	home := fixtureHome(t)
	code, out, errOut := runCmd(t, nil, "list", "-p", "vision", home)
	require.Equal(t, exitOK, code, errOut)
	require.Equal(t, `  [failed] calm-otter  (trashed)
      name: lr sweep 3e-3
      created: 2026-11-27T23:07:25
  [finished] bold-falcon
      name: baseline resnet
      created: 2026-11-27T23:07:25

2 run(s) in vision
`, out)
	code, out, _ = runCmd(t, map[string]string{"GOODSEED_HOME": home}, "list", "--project", "ws/proj")
	require.Equal(t, exitOK, code)
	require.Equal(t, `  [crashed] quiet-heron
      name: long job
      created: 2026-11-27T23:07:25

1 run(s) in ws/proj
`, out)
	code, out, _ = runCmd(t, nil, "list", home, "-p", "nope")
	require.Equal(t, exitOK, code)
	require.Equal(t, "No runs found in project 'nope'.\n", out)
}

func TestListEmptyAndMissing(t *testing.T) {
	dir := t.TempDir()
	code, out, _ := runCmd(t, nil, "list", dir)
	require.Equal(t, exitOK, code)
	require.Equal(t, "Projects directory does not exist: "+filepath.Join(dir, "projects")+"\n", out)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "projects", "empty", "runs"), 0o755))
	code, out, _ = runCmd(t, nil, "list", dir)
	require.Equal(t, exitOK, code)
	require.Equal(t, "No projects found.\n", out)
}

func TestListUsage(t *testing.T) {
	code, _, errOut := runCmd(t, nil, "list", "a", "b")
	require.Equal(t, exitUsage, code)
	require.Contains(t, errOut, "one DIR at most")
	code, _, errOut = runCmd(t, nil, "list", "--bogus")
	require.Equal(t, exitUsage, code)
	require.Contains(t, errOut, "flag provided but not defined: -bogus")
	require.Contains(t, errOut, "Usage: goodseed list")
}
