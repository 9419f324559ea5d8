package main

import (
	"bytes"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// syncBuffer is a bytes.Buffer safe for a command writing while the test
// reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runCmd runs the command line with env vars from vars only.
func runCmd(t *testing.T, vars map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut syncBuffer
	code := run(args, &out, &errOut, func(k string) string { return vars[k] })
	return code, out.String(), errOut.String()
}

// fixtureHome copies Part A's committed fixture home (server/testdata) and
// sets every file's times to a fixed instant, so listings are stable.
func fixtureHome(t *testing.T) string {
	t.Helper()
	src := filepath.Join("..", "..", "server", "testdata", "parta", "home")
	dst := t.TempDir()
	fixed := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	var files []string
	require.NoError(t, filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		files = append(files, target)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(target)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	}))
	for i := len(files) - 1; i >= 0; i-- { // files before their directories
		require.NoError(t, os.Chtimes(files[i], fixed, fixed))
	}
	return dst
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		code, out, _ := runCmd(t, nil, args...)
		require.Equal(t, exitOK, code)
		require.Contains(t, out, "goodseed [serve] [DIR]")
		require.Contains(t, out, "goodseed list [DIR] [-p PROJECT]")
	}
	for _, c := range []string{"serve", "list"} {
		for _, args := range [][]string{{c, "--help"}, {c, "-h"}, {"help", c}} {
			code, out, _ := runCmd(t, nil, args...)
			require.Equal(t, exitOK, code, "%v", args)
			require.Contains(t, out, "Usage: goodseed "+c)
			require.Contains(t, out, "Examples:\n  goodseed")
		}
	}
	code, _, errOut := runCmd(t, nil, "help", "nope")
	require.Equal(t, exitUsage, code)
	require.Contains(t, errOut, `unknown command "nope"`)
}

func TestUnknownCommand(t *testing.T) {
	code, out, errOut := runCmd(t, nil, "lsit")
	require.Equal(t, exitUsage, code)
	require.Empty(t, out)
	require.Contains(t, errOut, `unknown command "lsit" (and no such directory)`)
	require.Contains(t, errOut, "Usage:")
}

func TestParseArgsInterleaved(t *testing.T) {
	for _, tc := range []struct {
		args []string
		p    string
		pos  []string
	}{
		{[]string{"dir", "-p", "x"}, "x", []string{"dir"}},
		{[]string{"-p", "x", "dir"}, "x", []string{"dir"}},
		{[]string{"a", "-p=x", "b"}, "x", []string{"a", "b"}},
		{[]string{"-p", "x", "--", "-dir"}, "x", []string{"-dir"}},
		{nil, "", nil},
	} {
		fs := newFlags("t")
		p := fs.String("p", "", "")
		pos, err := parseArgs(fs, tc.args)
		require.NoError(t, err, "%v", tc.args)
		require.Equal(t, tc.p, *p, "%v", tc.args)
		require.Equal(t, tc.pos, pos, "%v", tc.args)
	}
	_, err := parseArgs(newFlags("t"), []string{"--nope"})
	require.ErrorAs(t, err, new(usageError))
	_, err = parseArgs(newFlags("t"), []string{"-h"})
	require.ErrorIs(t, err, flag.ErrHelp)
}

func TestHomeResolution(t *testing.T) {
	e := &env{getenv: func(k string) string { return map[string]string{"GOODSEED_HOME": "/from/env"}[k] }}
	h, err := e.home(nil)
	require.NoError(t, err)
	require.Equal(t, "/from/env", h)
	h, err = e.home([]string{"/given"})
	require.NoError(t, err)
	require.Equal(t, "/given", h)
	_, err = e.home([]string{"a", "b"})
	require.ErrorAs(t, err, new(usageError))
	e = &env{getenv: func(string) string { return "" }}
	h, err = e.home(nil)
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(h, string(filepath.Separator)+".goodseed"), h)
}
