package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/internal/segtest"
)

// created reads a run's meta created_at straight from the engine, as list
// should print it: UTC, to the second. (The fixture is regenerated with
// new times by GOODSEED_WRITE_GOLDEN=1 go test ./server.)
func created(t *testing.T, home, project, id string) string {
	t.Helper()
	rd, err := engine.OpenReader(filepath.Join(home, "projects", filepath.FromSlash(project), "runs", id), nil)
	require.NoError(t, err)
	defer rd.Close()
	c, err := time.Parse(time.RFC3339Nano, rd.Meta()["created_at"].Val)
	require.NoError(t, err)
	return c.UTC().Format("2006-01-02T15:04:05")
}

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
	require.Equal(t, strings.NewReplacer("C1", created(t, home, "vision", "calm-otter"), "C2", created(t, home, "vision", "bold-falcon")).Replace(
		`  [failed] calm-otter  (trashed)
      name: lr sweep 3e-3
      created: C1
  [finished] bold-falcon
      name: baseline resnet
      created: C2

2 run(s) in vision
`), out)
	code, out, _ = runCmd(t, map[string]string{"GOODSEED_HOME": home}, "list", "--project", "ws/proj")
	require.Equal(t, exitOK, code)
	require.Equal(t, `  [crashed] quiet-heron
      name: long job
      created: `+created(t, home, "ws/proj", "quiet-heron")+`

1 run(s) in ws/proj
`, out)
	code, out, _ = runCmd(t, nil, "list", home, "-p", "nope")
	require.Equal(t, exitOK, code)
	require.Equal(t, "No runs found in project 'nope'.\n", out)
}

// TestListEmptyAndMissing: a DIR that does not exist, or holds no runs,
// says so as the Python CLI does, with a hint at what DIR should be.
func TestListEmptyAndMissing(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope")
	code, out, errOut := runCmd(t, nil, "list", missing)
	require.Equal(t, exitOK, code)
	require.Equal(t, "Projects directory does not exist: "+missing+"\n", out)
	require.Contains(t, errOut, "DIR is GoodSeed's projects directory, such as ~/.goodseed/projects, or the data directory holding it")
	code, out, errOut = runCmd(t, nil, "list", dir)
	require.Equal(t, exitOK, code)
	require.Equal(t, "No projects found.\n", out)
	require.Contains(t, errOut, dir+" holds no <project>/runs/")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "projects", "empty", "runs"), 0o755))
	code, out, errOut = runCmd(t, nil, "list", dir, "-v")
	require.Equal(t, exitOK, code)
	require.Equal(t, "No projects found.\n", out)
	require.Contains(t, errOut, "Listing data directory "+dir+" (its projects: "+filepath.Join(dir, "projects")+")")
}

// TestListTakesTheProjectsDirectory: DIR may be the projects directory,
// as the Python CLI takes it, or the data directory above it: the same
// listing, and -v says which it was.
func TestListTakesTheProjectsDirectory(t *testing.T) {
	home := fixtureHome(t)
	_, fromHome, _ := runCmd(t, nil, "list", home)
	code, fromProjects, errOut := runCmd(t, nil, "list", filepath.Join(home, "projects"), "-v")
	require.Equal(t, exitOK, code)
	require.Equal(t, fromHome, fromProjects)
	require.Contains(t, fromHome, "2 project(s)")
	require.Equal(t, "Listing projects directory "+filepath.Join(home, "projects")+"\n", errOut)
	_, runsHome, _ := runCmd(t, nil, "list", home, "-p", "ws/proj")
	_, runsProjects, _ := runCmd(t, nil, "list", filepath.Join(home, "projects"), "-p", "ws/proj")
	require.Equal(t, runsHome, runsProjects)
	require.Contains(t, runsHome, "quiet-heron")
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

func TestListUnreadableRun(t *testing.T) {
	home := fixtureHome(t)
	src := filepath.Join(home, "projects", "ws", "proj", "runs", "quiet-heron", "00000001-0000000000000001.seg")
	b, err := os.ReadFile(src)
	require.NoError(t, err)
	segtest.SetMajor(b, 9) // a later format, unknown to this build
	require.NoError(t, os.WriteFile(src, b, 0o644))
	code, out, _ := runCmd(t, nil, "list", home, "-p", "ws/proj")
	require.Equal(t, exitOK, code)
	require.True(t, strings.HasPrefix(out, "  [unreadable] quiet-heron\n      error: "), out)
	require.Contains(t, out, "version")
	require.True(t, strings.HasSuffix(out, "\n1 run(s) in ws/proj\n"), out)
}
