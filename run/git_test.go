//go:build unix

package run

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
)

// gitRepo makes a repository with one commit and returns its directory.
func gitRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	git := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_SYSTEM=/dev/null",
			"GIT_AUTHOR_NAME=Ada", "GIT_AUTHOR_EMAIL=ada@example.com", "GIT_COMMITTER_NAME=Ada",
			"GIT_COMMITTER_EMAIL=ada@example.com", "GIT_AUTHOR_DATE=2026-01-02T03:04:05Z",
			"GIT_COMMITTER_DATE=2026-01-02T03:04:05Z")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "git %v: %s", args, out)
		return strings.TrimSpace(string(out))
	}
	git("init", "-q", "-b", "main")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "train.py"), []byte("lr = 0.1\n"), 0o644))
	git("add", ".")
	git("commit", "-q", "-m", "first model")
	git("remote", "add", "origin", "https://example.com/ml/model.git")
	// A dirty working tree: the diff must be recorded.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "train.py"), []byte("lr = 0.01\n"), 0o644))
	return dir
}

func TestGitFieldsRecorded(t *testing.T) {
	repo := gitRepo(t)
	opts, _ := testOptions(t)
	opts.RunID = "with-git"
	opts.Git = GitOptions{Dir: filepath.Join(repo), Timeout: 10 * time.Second}
	r := newTestRun(t, opts)
	require.NoError(t, r.Close(), "close waits for the collection")

	ro, err := OpenReadOnly("with-git", opts)
	require.NoError(t, err)
	defer ro.Close()
	want, _ := filepath.EvalSymlinks(repo)
	got := mustGet(t, ro, "source_code/git/repository_path").Str
	got, _ = filepath.EvalSymlinks(got)
	require.Equal(t, want, got)
	require.Equal(t, engine.Bool(true), mustGet(t, ro, "source_code/git/dirty"))
	require.Equal(t, engine.String("first model"), mustGet(t, ro, "source_code/git/commit_message"))
	require.Equal(t, engine.String("Ada <ada@example.com>"), mustGet(t, ro, "source_code/git/commit_author"))
	require.Equal(t, engine.String("main"), mustGet(t, ro, "source_code/git/current_branch"))
	require.Len(t, mustGet(t, ro, "source_code/git/commit_id").Str, 40)
	require.True(t, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Equal(mustGet(t, ro, "source_code/git/commit_date").Time))
	require.Equal(t, []string{"https://example.com/ml/model.git"}, mustGet(t, ro, "source_code/git/remotes").Set)
	require.Contains(t, mustGet(t, ro, "source_code/diff").Str, "+lr = 0.01")
}

func TestGitOutsideRepositoryOrDisabled(t *testing.T) {
	opts, _ := testOptions(t)
	opts.RunID = "no-repo"
	opts.Git = GitOptions{Dir: t.TempDir()}
	r := newTestRun(t, opts)
	require.NoError(t, r.Close())
	ro, err := OpenReadOnly("no-repo", opts)
	require.NoError(t, err)
	defer ro.Close()
	require.False(t, ro.Exists("source_code/git/repository_path"))

	opts.RunID = "git-off"
	opts.Git = GitOptions{Disabled: true, Dir: gitRepo(t)}
	r = newTestRun(t, opts)
	require.NoError(t, r.Close())
	ro2, err := OpenReadOnly("git-off", opts)
	require.NoError(t, err)
	defer ro2.Close()
	require.False(t, ro2.Exists("source_code/git/repository_path"))
}

// TestHungGitNeverBlocks: a git that never answers delays neither New nor,
// past the timeout, Close.
func TestHungGitNeverBlocks(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "git")
	require.NoError(t, os.WriteFile(bin, []byte("#!/bin/sh\nsleep 30 &\nsleep 30\n"), 0o755))
	opts, _ := testOptions(t)
	opts.Git = GitOptions{Dir: gitRepo(t), Binary: bin, Timeout: 300 * time.Millisecond}

	start := time.Now()
	r := newTestRun(t, opts)
	require.Less(t, time.Since(start), 250*time.Millisecond, "New does not wait for git")
	require.NoError(t, r.Field("loss").Log(1, 0))
	require.NoError(t, r.Close())
	require.Less(t, time.Since(start), 3*time.Second, "Close waits at most about the timeout")
}
