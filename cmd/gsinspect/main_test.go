package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/run"
)

func TestUsage(t *testing.T) {
	res := runCmd(t, nil, nil)
	require.Equal(t, exitError, res.code, "no command is a usage error")
	require.Contains(t, res.stdout, "usage: gsinspect <command>")
	for name := range commands {
		require.Contains(t, res.stdout, "  "+name+" ", "the list names every command")
	}

	res = runCmd(t, nil, nil, "--help")
	require.Equal(t, exitOK, res.code)

	res = runCmd(t, nil, nil, "frobnicate")
	require.Equal(t, exitError, res.code)
	require.Contains(t, res.stderr, `unknown command "frobnicate"`)
}

// TestEveryCommandHasHelp: --help and "help <cmd>" print the synopsis and
// an example, and exit 0.
func TestEveryCommandHasHelp(t *testing.T) {
	require.NotEmpty(t, commands)
	for name, c := range commands {
		require.NotEmpty(t, c.example, "%s has no example", name)
		require.NotEmpty(t, c.summary, name)
		for _, args := range [][]string{{name, "--help"}, {"help", name}} {
			res := runCmd(t, nil, nil, args...)
			require.Equal(t, exitOK, res.code, "%v", args)
			require.Contains(t, res.stdout, "usage: gsinspect "+name, "%v", args)
			require.Contains(t, res.stdout, "example:", "%v", args)
		}
	}
}

func TestInterleave(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.Bool("follow", false, "")
	fs.String("path", "", "")
	got := interleave(fs, []string{"RUN", "--path", "a/b", "--follow", "OUT", "--", "-weird"})
	require.Equal(t, []string{"--path", "a/b", "--follow", "RUN", "OUT", "-weird"}, got)
	require.Equal(t, []string{"--path=x", "RUN"}, interleave(fs, []string{"RUN", "--path=x"}))
}

func TestResolveRun(t *testing.T) {
	home := t.TempDir()
	r, err := run.New(run.Options{Home: home, Project: "ws/proj", RunID: "bold-falcon", Quiet: true, Git: run.GitOptions{Disabled: true}})
	require.NoError(t, err)
	require.NoError(t, r.Close())
	e := &env{getenv: func(k string) string {
		if k == run.EnvHome {
			return home
		}
		return ""
	}}

	dir, err := e.resolveRun("ws/proj/bold-falcon")
	require.NoError(t, err)
	require.Equal(t, r.Dir(), dir)
	dir, err = e.resolveRun(r.Dir())
	require.NoError(t, err, "a directory works as is")
	require.Equal(t, r.Dir(), dir)

	empty := t.TempDir()
	seg := filepath.Join(empty, "file.seg")
	require.NoError(t, os.WriteFile(seg, nil, 0o644))
	for arg, want := range map[string]string{
		"":                          "missing RUN",
		"ws/proj/nope":              `no run "nope" in project "ws/proj"`,
		"../x/y":                    "invalid project",
		"proj/bad.id":               "invalid run id",
		"justaname":                 "not of the form project/run_id",
		empty:                       "not a GoodSeed run directory",
		seg:                         "is a file, not a run directory",
		filepath.Join(home, "nope"): "no such directory",
	} {
		_, err := e.resolveRun(arg)
		require.Error(t, err, arg)
		require.True(t, strings.Contains(err.Error(), want), "%q: %v", arg, err)
	}
}
