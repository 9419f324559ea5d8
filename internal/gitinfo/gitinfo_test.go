package gitinfo

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	authorName  = "Ada Lovelace"
	authorEmail = "ada@example.com"
	authorDate  = "2024-03-05T14:15:16+02:00"
)

var wantDate = time.Date(2024, 3, 5, 14, 15, 16, 0, time.FixedZone("", 2*60*60))

// TestMain makes every git in this process, the tests' own and Collect's,
// independent of the user's configuration and of any repository around the
// temporary directory.
func TestMain(m *testing.M) {
	for _, k := range repoEnvVars {
		os.Unsetenv(k)
	}
	tmp, err := filepath.EvalSymlinks(os.TempDir())
	if err != nil {
		tmp = os.TempDir()
	}
	for k, v := range map[string]string{
		"GIT_CONFIG_GLOBAL":       os.DevNull,
		"GIT_CONFIG_SYSTEM":       os.DevNull,
		"GIT_CONFIG_NOSYSTEM":     "1",
		"GIT_CEILING_DIRECTORIES": tmp, // a plain temp dir is never "inside" a repository
		"GIT_AUTHOR_NAME":         authorName,
		"GIT_AUTHOR_EMAIL":        authorEmail,
		"GIT_AUTHOR_DATE":         authorDate,
		"GIT_COMMITTER_NAME":      "Committer",
		"GIT_COMMITTER_EMAIL":     "committer@example.com",
		"GIT_COMMITTER_DATE":      "2024-04-01T00:00:00Z",
	} {
		os.Setenv(k, v)
	}
	os.Exit(m.Run())
}

// git runs the real git in dir and returns its trimmed stdout.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "git %v: %s", args, stderr.String())
	return strings.TrimSpace(string(out))
}

// newRepo is an empty repository on branch main.
func newRepo(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo")
	git(t, t.TempDir(), "init", "-q", "-b", "main", dir)
	return dir
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
}

func commitAll(t *testing.T, dir, msg string) string {
	t.Helper()
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", msg)
	return git(t, dir, "rev-parse", "HEAD")
}

// repoWithCommit has a.txt ("one\ntwo\n") and sub/b.txt committed.
func repoWithCommit(t *testing.T) string {
	t.Helper()
	dir := newRepo(t)
	writeFile(t, filepath.Join(dir, "a.txt"), "one\ntwo\n")
	writeFile(t, filepath.Join(dir, "sub", "b.txt"), "b\n")
	commitAll(t, dir, "Initial commit")
	return dir
}

func collect(t *testing.T, dir string, opts Options) (Info, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return Collect(ctx, dir, opts)
}

func realPath(t *testing.T, p string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(p)
	require.NoError(t, err)
	return r
}

func TestCollectCleanRepository(t *testing.T) {
	t.Parallel()
	const msg = "Add the model\n\nIt trains.\nIt even converges."
	repo := newRepo(t)
	writeFile(t, filepath.Join(repo, "train.py"), "print('hi')\n")
	writeFile(t, filepath.Join(repo, "sub", "deeper", "x.txt"), "x\n")
	sha := commitAll(t, repo, msg)
	require.Len(t, sha, 40)

	for _, tc := range []struct{ name, dir string }{
		{"top level", repo},
		{"subdirectory", filepath.Join(repo, "sub", "deeper")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			info, err := collect(t, tc.dir, Options{})
			require.NoError(t, err)
			assert.Equal(t, realPath(t, repo), realPath(t, info.RepositoryPath))
			assert.True(t, filepath.IsAbs(info.RepositoryPath))
			assert.Equal(t, sha, info.CommitID)
			assert.Equal(t, msg, info.CommitMessage)
			assert.Equal(t, authorName+" <"+authorEmail+">", info.CommitAuthor)
			assert.True(t, wantDate.Equal(info.CommitDate), "CommitDate = %v, want %v", info.CommitDate, wantDate)
			_, offset := info.CommitDate.Zone()
			assert.Equal(t, 2*60*60, offset, "author's time zone is kept")
			assert.Equal(t, "main", info.CurrentBranch)
			assert.False(t, info.Dirty)
			assert.Empty(t, info.Diff)
			assert.Empty(t, info.Remotes)
			assert.Empty(t, info.UpstreamCommit)
			assert.Empty(t, info.UpstreamDiff)
			assert.False(t, info.Truncated)
		})
	}
}

func TestCollectDirty(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		change    func(t *testing.T, repo string)
		wantDirty bool
		wantDiff  []string // substrings; none means Diff must be ""
	}{
		{
			name: "modified tracked file",
			change: func(t *testing.T, repo string) {
				writeFile(t, filepath.Join(repo, "a.txt"), "one\nTWO\n")
			},
			wantDirty: true,
			wantDiff:  []string{"diff --git a/a.txt b/a.txt", "-two\n", "+TWO\n"},
		},
		{
			name: "staged change",
			change: func(t *testing.T, repo string) {
				writeFile(t, filepath.Join(repo, "sub", "b.txt"), "b\nstaged\n")
				git(t, repo, "add", "sub/b.txt")
			},
			wantDirty: true,
			wantDiff:  []string{"b/sub/b.txt", "+staged\n"},
		},
		{
			name: "non-ASCII path is not quoted",
			change: func(t *testing.T, repo string) {
				writeFile(t, filepath.Join(repo, "données.txt"), "d\n")
				git(t, repo, "add", "données.txt")
			},
			wantDirty: true,
			wantDiff:  []string{"b/données.txt", "+d\n"},
		},
		{
			name: "untracked file only",
			change: func(t *testing.T, repo string) {
				writeFile(t, filepath.Join(repo, "new.txt"), "new\n")
			},
			wantDirty: true,
		},
		{
			name: "ignored file only",
			change: func(t *testing.T, repo string) {
				writeFile(t, filepath.Join(repo, ".gitignore"), "*.log\n")
				commitAll(t, repo, "ignore logs")
				writeFile(t, filepath.Join(repo, "run.log"), "noise\n")
			},
			wantDirty: false,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			repo := repoWithCommit(t)
			tc.change(t, repo)
			info, err := collect(t, repo, Options{})
			require.NoError(t, err)
			assert.Equal(t, tc.wantDirty, info.Dirty)
			if len(tc.wantDiff) == 0 {
				assert.Empty(t, info.Diff)
			}
			for _, s := range tc.wantDiff {
				assert.Contains(t, info.Diff, s)
			}
			assert.False(t, info.Truncated)
		})
	}
}

func TestCollectDetachedHead(t *testing.T) {
	t.Parallel()
	repo := repoWithCommit(t)
	writeFile(t, filepath.Join(repo, "a.txt"), "changed\n")
	second := commitAll(t, repo, "second")
	git(t, repo, "checkout", "-q", "--detach", "HEAD~1")
	first := git(t, repo, "rev-parse", "HEAD")
	require.NotEqual(t, second, first)

	info, err := collect(t, repo, Options{})
	require.NoError(t, err)
	assert.Equal(t, "", info.CurrentBranch)
	assert.Equal(t, first, info.CommitID)
	assert.Equal(t, "Initial commit", info.CommitMessage)
	assert.False(t, info.Dirty)
}

func TestCollectWithoutCommits(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		change    func(t *testing.T, repo string)
		wantDirty bool
		wantDiff  string // substring; "" means Diff must be ""
	}{
		{name: "empty", change: func(*testing.T, string) {}},
		{
			name: "untracked file",
			change: func(t *testing.T, repo string) {
				writeFile(t, filepath.Join(repo, "a.txt"), "a\n")
			},
			wantDirty: true,
		},
		{
			name: "staged file",
			change: func(t *testing.T, repo string) {
				writeFile(t, filepath.Join(repo, "a.txt"), "first line\n")
				git(t, repo, "add", "a.txt")
			},
			wantDirty: true,
			wantDiff:  "+first line\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			repo := newRepo(t)
			tc.change(t, repo)
			info, err := collect(t, repo, Options{})
			require.NoError(t, err, "a repository without commits is not an error")
			assert.Equal(t, realPath(t, repo), realPath(t, info.RepositoryPath))
			assert.Empty(t, info.CommitID)
			assert.Empty(t, info.CommitMessage)
			assert.Empty(t, info.CommitAuthor)
			assert.True(t, info.CommitDate.IsZero())
			assert.Equal(t, "main", info.CurrentBranch)
			assert.Equal(t, tc.wantDirty, info.Dirty)
			if tc.wantDiff == "" {
				assert.Empty(t, info.Diff)
			} else {
				assert.Contains(t, info.Diff, tc.wantDiff)
			}
			assert.Empty(t, info.UpstreamCommit)
		})
	}
}

func TestCollectRemotes(t *testing.T) {
	t.Parallel()
	repo := repoWithCommit(t)
	git(t, repo, "remote", "add", "zeta", "https://example.com/b.git")
	git(t, repo, "remote", "add", "alpha", "/srv/git/a.git")
	git(t, repo, "remote", "add", "dup", "https://example.com/b.git")
	git(t, repo, "remote", "add", "ssh", "git@example.com:team/c.git")
	git(t, repo, "remote", "add", "token", "https://x-access-token:s3cret@example.com/d.git")
	git(t, repo, "remote", "set-url", "--push", "zeta", "https://push.example.com/b.git")

	info, err := collect(t, repo, Options{})
	require.NoError(t, err)
	assert.Equal(t, []string{
		"/srv/git/a.git",
		"git@example.com:team/c.git",
		"https://example.com/b.git",
		"https://example.com/d.git",
	}, info.Remotes, "fetch URLs, sorted, deduplicated, without credentials")
	assert.False(t, info.Dirty, "adding remotes does not touch the work tree")
}

func TestCollectUpstream(t *testing.T) {
	t.Parallel()
	seed := repoWithCommit(t)
	base := git(t, seed, "rev-parse", "HEAD")
	origin := filepath.Join(t.TempDir(), "origin.git")
	git(t, seed, "clone", "-q", "--bare", seed, origin)
	work := filepath.Join(t.TempDir(), "work")
	git(t, seed, "clone", "-q", origin, work)

	info, err := collect(t, work, Options{})
	require.NoError(t, err)
	assert.Equal(t, base, info.CommitID)
	assert.Equal(t, "main", info.CurrentBranch)
	assert.Empty(t, info.UpstreamCommit, "HEAD equals its upstream")
	assert.Empty(t, info.UpstreamDiff)
	assert.Equal(t, []string{origin}, info.Remotes)

	writeFile(t, filepath.Join(work, "a.txt"), "one\ntwo\nthree\n")
	ahead := commitAll(t, work, "ahead of origin")
	require.Equal(t, base, git(t, work, "rev-parse", "origin/main"))

	info, err = collect(t, work, Options{})
	require.NoError(t, err)
	assert.Equal(t, ahead, info.CommitID)
	assert.Equal(t, base, info.UpstreamCommit)
	assert.Contains(t, info.UpstreamDiff, "+three\n")
	assert.Empty(t, info.Diff, "committed work is not in the diff against HEAD")
	assert.False(t, info.Dirty)

	// Uncommitted work shows in both diffs.
	writeFile(t, filepath.Join(work, "sub", "b.txt"), "b\nwip\n")
	info, err = collect(t, work, Options{})
	require.NoError(t, err)
	assert.Equal(t, base, info.UpstreamCommit)
	assert.Contains(t, info.UpstreamDiff, "+three\n")
	assert.Contains(t, info.UpstreamDiff, "+wip\n")
	assert.Contains(t, info.Diff, "+wip\n")
	assert.NotContains(t, info.Diff, "+three\n")

	// An upstream whose remote-tracking ref is gone is no upstream.
	git(t, work, "update-ref", "-d", "refs/remotes/origin/main")
	info, err = collect(t, work, Options{})
	require.NoError(t, err)
	assert.Empty(t, info.UpstreamCommit)
	assert.Empty(t, info.UpstreamDiff)
	assert.Equal(t, ahead, info.CommitID)
}

func TestCollectNotRepository(t *testing.T) {
	t.Parallel()
	plain := t.TempDir()
	file := filepath.Join(plain, "file.txt")
	writeFile(t, file, "x\n")
	repo := repoWithCommit(t)
	bare := filepath.Join(t.TempDir(), "bare.git")
	git(t, plain, "init", "-q", "--bare", bare)

	for _, tc := range []struct{ name, dir string }{
		{"plain directory", plain},
		{"missing directory", filepath.Join(plain, "missing")},
		{"regular file", file},
		{"inside .git", filepath.Join(repo, ".git")},
		{"bare repository", bare},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			info, err := collect(t, tc.dir, Options{})
			require.ErrorIs(t, err, ErrNotRepository)
			assert.NotErrorIs(t, err, ErrGitUnavailable)
			assert.Zero(t, info)
			assert.True(t, strings.HasPrefix(err.Error(), "gitinfo: "), err.Error())
			assert.Contains(t, err.Error(), tc.dir)
		})
	}
}

func TestCollectGitUnavailable(t *testing.T) {
	t.Parallel()
	repo := repoWithCommit(t)
	bin := t.TempDir()
	notExec := filepath.Join(bin, "git-not-executable")
	writeFile(t, notExec, "#!/bin/sh\nexit 0\n")
	// Executable, but execve refuses it (ENOEXEC): LookPath passes, the
	// first git invocation fails to start.
	noShebang := filepath.Join(bin, "git-no-shebang")
	require.NoError(t, os.WriteFile(noShebang, []byte("exit 0\n"), 0o755))

	cases := []struct{ name, git string }{
		{"missing path", filepath.Join(bin, "no-such-git")},
		{"missing name", "no-such-git-binary-for-gitinfo"},
	}
	if runtime.GOOS != "windows" {
		cases = append(cases,
			struct{ name, git string }{"not executable", notExec},
			struct{ name, git string }{"not a program", noShebang})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			info, err := collect(t, repo, Options{Git: tc.git})
			assert.Less(t, time.Since(start), time.Second)
			require.ErrorIs(t, err, ErrGitUnavailable)
			assert.NotErrorIs(t, err, ErrNotRepository)
			assert.Zero(t, info)
			assert.True(t, strings.HasPrefix(err.Error(), "gitinfo: "), err.Error())
		})
	}
}

// fakeGit writes an executable shell script named git and returns its path.
func fakeGit(t *testing.T, script string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "git")
	require.NoError(t, os.WriteFile(path, []byte("#!/bin/sh\n"+script), 0o755))
	return path
}

func TestCollectHungGit(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("fake git is a shell script")
	}
	t.Parallel()
	repo := repoWithCommit(t)
	for _, tc := range []struct{ name, script string }{
		{"sleeps", "sleep 30\n"},
		// The shell dies with the context, but its background child keeps
		// stdout open; only WaitDelay stops Wait from waiting for it.
		{"child holds stdout", "sleep 30 &\nsleep 30\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			gitPath := fakeGit(t, tc.script)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			info, err := Collect(ctx, repo, Options{Git: gitPath})
			elapsed := time.Since(start)
			assert.Less(t, elapsed, 2*time.Second)
			require.ErrorIs(t, err, context.DeadlineExceeded)
			assert.NotErrorIs(t, err, ErrNotRepository)
			assert.True(t, strings.HasPrefix(err.Error(), "gitinfo: "), err.Error())
			assert.Contains(t, err.Error(), "rev-parse --show-toplevel")
			assert.Zero(t, info)
		})
	}
}

// A failing command spoils only its own fields.
func TestCollectPartialFailure(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("fake git is a shell script")
	}
	t.Parallel()
	realGit, err := exec.LookPath("git")
	require.NoError(t, err)
	gitPath := fakeGit(t, `for a in "$@"; do
  if [ "$a" = diff ]; then echo "fatal: injected failure" >&2; exit 3; fi
done
exec '`+realGit+`' "$@"
`)
	seed := repoWithCommit(t)
	origin := filepath.Join(t.TempDir(), "origin.git")
	git(t, seed, "clone", "-q", "--bare", seed, origin)
	work := filepath.Join(t.TempDir(), "work")
	git(t, seed, "clone", "-q", origin, work)
	base := git(t, work, "rev-parse", "HEAD")
	writeFile(t, filepath.Join(work, "a.txt"), "changed\n")
	head := commitAll(t, work, "local")
	writeFile(t, filepath.Join(work, "a.txt"), "dirty\n")

	info, err := collect(t, work, Options{Git: gitPath})
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "gitinfo: "), err.Error())
	assert.Contains(t, err.Error(), "git diff")
	assert.Contains(t, err.Error(), "fatal: injected failure")
	assert.Contains(t, err.Error(), work)
	var exitErr *exec.ExitError
	require.ErrorAs(t, err, &exitErr)
	assert.Equal(t, 3, exitErr.ExitCode())
	// Two diffs failed: against HEAD and against the upstream.
	var joined interface{ Unwrap() []error }
	require.True(t, errors.As(err, &joined))
	assert.Len(t, joined.Unwrap(), 2)

	assert.Equal(t, head, info.CommitID)
	assert.Equal(t, "local", info.CommitMessage)
	assert.Equal(t, "main", info.CurrentBranch)
	assert.True(t, info.Dirty)
	assert.Equal(t, []string{origin}, info.Remotes)
	assert.Equal(t, base, info.UpstreamCommit)
	assert.Empty(t, info.Diff)
	assert.Empty(t, info.UpstreamDiff)
}

func TestCollectTruncatesDiff(t *testing.T) {
	t.Parallel()
	repo := repoWithCommit(t)
	line := "héllo wörld ✓ 日本語 🚀\n"
	big := strings.Repeat(line, 3<<20/len(line)+1)
	writeFile(t, filepath.Join(repo, "a.txt"), big)

	for _, limit := range []int{1000, 1001, 1002, 1003} { // every cut offset within a rune
		info, err := collect(t, repo, Options{MaxDiffBytes: limit})
		require.NoError(t, err)
		assert.True(t, info.Truncated, "limit %d", limit)
		assert.LessOrEqual(t, len(info.Diff), limit)
		assert.Greater(t, len(info.Diff), limit-utf8.UTFMax)
		assert.True(t, utf8.ValidString(info.Diff), "limit %d", limit)
		assert.NotContains(t, info.Diff, "\uFFFD", "a split rune is dropped, not replaced")
		assert.True(t, strings.HasPrefix(info.Diff, "diff --git a/a.txt b/a.txt\n"), info.Diff[:min(80, len(info.Diff))])
		assert.True(t, info.Dirty)
	}

	// The default limit keeps most of it, still cut.
	info, err := collect(t, repo, Options{})
	require.NoError(t, err)
	assert.True(t, info.Truncated)
	assert.LessOrEqual(t, len(info.Diff), DefaultMaxDiffBytes)
	assert.Greater(t, len(info.Diff), DefaultMaxDiffBytes-utf8.UTFMax)
	assert.True(t, utf8.ValidString(info.Diff))
}

func TestCollectNonUTF8Diff(t *testing.T) {
	t.Parallel()
	repo := repoWithCommit(t)
	// Latin-1 text: no NUL, so git diffs it as text and emits raw bytes.
	writeFile(t, filepath.Join(repo, "a.txt"), "caf\xe9 \xff\xfe\n")

	info, err := collect(t, repo, Options{})
	require.NoError(t, err)
	assert.True(t, utf8.ValidString(info.Diff))
	assert.Contains(t, info.Diff, "+caf\uFFFD \uFFFD\n")
	assert.False(t, info.Truncated)

	// git commit would re-encode a Latin-1 message, so write the commit
	// object by hand: no encoding header, raw bytes, as old tools did.
	obj := filepath.Join(t.TempDir(), "commit")
	writeFile(t, obj, "tree "+git(t, repo, "rev-parse", "HEAD^{tree}")+"\n"+
		"parent "+git(t, repo, "rev-parse", "HEAD")+"\n"+
		"author A <a@example.com> 1709640916 +0200\n"+
		"committer A <a@example.com> 1709640916 +0200\n"+
		"\ncaf\xe9 au lait\n")
	sha := git(t, repo, "hash-object", "-t", "commit", "-w", obj)
	git(t, repo, "update-ref", "refs/heads/main", sha)
	info, err = collect(t, repo, Options{})
	require.NoError(t, err)
	assert.Equal(t, sha, info.CommitID)
	assert.Equal(t, "caf\uFFFD au lait", info.CommitMessage)
}

func TestClipUTF8(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		in      string
		limit   int
		cut     bool
		want    string
		wantCut bool
	}{
		{"short valid", "héllo", 100, false, "héllo", false},
		{"cut inside a rune", "aé"[:2], 2, true, "a", true},
		{"cut inside a 4-byte rune", "a🚀"[:4], 4, true, "a", true},
		{"cut at a rune boundary", "aé", 3, true, "aé", true},
		{"invalid bytes replaced", "a\xffb", 100, false, "a\uFFFDb", false},
		{"invalid trailing byte kept as replacement when not cut", "a\xc3", 100, false, "a\uFFFD", false},
		{"replacement grows past the limit", "a\xffb\xffc\xff", 6, false, "a\uFFFDb", true},
		{"empty", "", 10, false, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, gotCut := clipUTF8([]byte(tc.in), tc.limit, tc.cut)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.wantCut, gotCut)
			assert.True(t, utf8.ValidString(got))
			assert.LessOrEqual(t, len(got), tc.limit)
		})
	}
}

func TestCapWriter(t *testing.T) {
	t.Parallel()
	w := &capWriter{limit: 5}
	for _, p := range []string{"abc", "defg", "hij"} {
		n, err := w.Write([]byte(p))
		require.NoError(t, err, "never fails, so git never sees EPIPE")
		assert.Equal(t, len(p), n)
	}
	b, cut := w.bytes()
	assert.Equal(t, "abcde", string(b))
	assert.True(t, cut)
	assert.Equal(t, int64(10), w.total)

	w = &capWriter{limit: 0}
	_, _ = w.Write([]byte("x"))
	b, cut = w.bytes()
	assert.Empty(t, b)
	assert.True(t, cut)
	assert.Equal(t, int64(1), w.total)
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"https://user:pass@example.com/r.git": "https://example.com/r.git",
		"http://token@example.com/r.git":      "http://example.com/r.git",
		"https://example.com/r.git":           "https://example.com/r.git",
		"git@example.com:team/r.git":          "git@example.com:team/r.git",
		"ssh://git@example.com/r.git":         "ssh://git@example.com/r.git",
		"/srv/git/r.git":                      "/srv/git/r.git",
	} {
		assert.Equal(t, want, redactURL(in), in)
	}
}

// markerCtx reports Canceled once a file exists. Its Done channel never
// closes, so no running git is killed: the context ends strictly between
// two commands.
type markerCtx struct {
	context.Context
	marker string
}

func (c markerCtx) Err() error {
	if _, err := os.Stat(c.marker); err == nil {
		return context.Canceled
	}
	return nil
}

// A context that ends after a successful command must still make Collect
// report the steps it skipped.
func TestCollectContextEndsBetweenCommands(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("fake git is a shell script")
	}
	t.Parallel()
	realGit, err := exec.LookPath("git")
	require.NoError(t, err)
	marker := filepath.Join(t.TempDir(), "ended")
	gitPath := fakeGit(t, `for a in "$@"; do
  if [ "$a" = status ]; then : > '`+marker+`'; fi
done
exec '`+realGit+`' "$@"
`)
	repo := repoWithCommit(t)
	writeFile(t, filepath.Join(repo, "a.txt"), "changed\n")
	git(t, repo, "remote", "add", "origin", "https://example.com/r.git")

	info, err := Collect(markerCtx{context.Background(), marker}, repo, Options{Git: gitPath})
	require.ErrorIs(t, err, context.Canceled)
	assert.True(t, strings.HasPrefix(err.Error(), "gitinfo: "), err.Error())
	assert.NotEmpty(t, info.CommitID, "steps before the end are kept")
	assert.True(t, info.Dirty, "the status that ran is kept")
	assert.Empty(t, info.Diff, "later steps did not run")
	assert.Empty(t, info.Remotes)
}
