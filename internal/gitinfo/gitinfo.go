package gitinfo

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// DefaultMaxDiffBytes is the diff size cap used when Options.MaxDiffBytes is
// zero: 1 MiB less a little room for whatever the caller stores beside it.
const DefaultMaxDiffBytes = 1<<20 - 4096

const (
	// waitDelay bounds how long Wait lingers after the context killed git
	// (or git exited) while something else still holds its output pipes,
	// e.g. a grandchild of a hung git.
	waitDelay = 200 * time.Millisecond
	// metaLimit caps the output kept from commands other than diffs; it only
	// matters for a pathological commit message or remote list.
	metaLimit = 1 << 20
	// stderrLimit caps the stderr kept for error messages.
	stderrLimit = 4 << 10
)

var (
	// ErrNotRepository reports that the directory is not inside a Git work
	// tree (this includes a bare repository and the inside of .git).
	ErrNotRepository = errors.New("gitinfo: not inside a git work tree")
	// ErrGitUnavailable reports that the git binary cannot be found or run.
	ErrGitUnavailable = errors.New("gitinfo: git unavailable")
)

// Info is the Git state of a working tree.
type Info struct {
	// RepositoryPath is the absolute top level of the work tree.
	RepositoryPath string
	// CommitID is the full sha of HEAD; "" in a repository without commits.
	CommitID string
	// CommitMessage is HEAD's full message without trailing newlines.
	CommitMessage string
	// CommitAuthor is HEAD's author as "Name <email>".
	CommitAuthor string
	// CommitDate is HEAD's author date, in the author's time zone.
	CommitDate time.Time
	// CurrentBranch is the short name of the checked-out branch; "" when
	// HEAD is detached.
	CurrentBranch string
	// Dirty reports staged or unstaged changes, or untracked files.
	Dirty bool
	// Diff is `git diff HEAD` (staged and unstaged changes against HEAD);
	// "" when there are none. In a repository without commits it is the
	// diff of the index.
	Diff string
	// Remotes holds the fetch URLs of all remotes, sorted and deduplicated.
	// Credentials in http(s) URLs are removed.
	Remotes []string
	// UpstreamCommit is the sha of the current branch's upstream when one
	// is configured, exists and differs from HEAD; "" otherwise.
	UpstreamCommit string
	// UpstreamDiff is the diff of the working tree against UpstreamCommit;
	// "" when UpstreamCommit is "".
	UpstreamDiff string
	// Truncated reports that Diff or UpstreamDiff was cut to
	// Options.MaxDiffBytes.
	Truncated bool
}

// Options tune Collect. The zero value is ready to use.
type Options struct {
	// Git is the git executable; "" means "git" looked up in PATH.
	Git string
	// MaxDiffBytes caps Diff and UpstreamDiff each, cut at a UTF-8
	// boundary; zero or less means DefaultMaxDiffBytes.
	MaxDiffBytes int
}

// Collect gathers Info for the repository containing dir ("" means the
// working directory). ctx bounds the whole collection.
//
// The error is nil only if every command succeeded. When dir is not inside
// a work tree it wraps ErrNotRepository and Info is zero; when git cannot
// be run it wraps ErrGitUnavailable; when ctx ends first it wraps ctx.Err().
// Otherwise the fields that could be gathered are filled and the error
// joins one error per failed git command.
func Collect(ctx context.Context, dir string, opts Options) (Info, error) {
	if dir == "" {
		dir = "."
	}
	maxDiff := opts.MaxDiffBytes
	if maxDiff <= 0 {
		maxDiff = DefaultMaxDiffBytes
	}
	name := opts.Git
	if name == "" {
		name = "git"
	}
	bin, err := exec.LookPath(name)
	if err != nil {
		return Info{}, fmt.Errorf("%w: %w", ErrGitUnavailable, err)
	}
	// A missing directory would otherwise surface as a failed exec, which
	// looks exactly like a missing git binary.
	if fi, err := os.Stat(dir); err != nil {
		return Info{}, fmt.Errorf("%w: %w", ErrNotRepository, err)
	} else if !fi.IsDir() {
		return Info{}, fmt.Errorf("%w: %s is not a directory", ErrNotRepository, dir)
	}

	c := &collector{ctx: ctx, git: bin, dir: dir, env: gitEnv()}
	var info Info

	top, err := c.run(metaLimit, "rev-parse", "--show-toplevel")
	if err != nil {
		if msg, ok := notRepository(err); ok {
			return Info{}, fmt.Errorf("%w: %s (git rev-parse --show-toplevel: %s)", ErrNotRepository, dir, msg)
		}
		return Info{}, err
	}
	info.RepositoryPath = filepath.Clean(filepath.FromSlash(firstLine(top.text())))

	// Each step records its own failure in c.errs; once ctx is done every
	// later command would fail the same way, so stop there.
	steps := []func(*Info){
		c.head,
		c.branch,
		c.status,
		c.diff(maxDiff),
		c.remotes,
		c.upstream(maxDiff),
	}
	for _, step := range steps {
		if ctx.Err() != nil {
			break
		}
		step(&info)
	}
	// ctx may have ended right after a command that still succeeded; the
	// skipped steps must not pass for "nothing to report".
	if err := ctx.Err(); err != nil && !errors.Is(errors.Join(c.errs...), err) {
		c.fail(fmt.Errorf("gitinfo: collection in %s stopped early: %w", dir, err))
	}
	return info, errors.Join(c.errs...)
}

type collector struct {
	ctx  context.Context
	git  string
	dir  string
	env  []string
	errs []error
}

func (c *collector) fail(err error) { c.errs = append(c.errs, err) }

// head fills CommitID, CommitMessage, CommitAuthor and CommitDate. A
// repository without commits leaves them empty and is not an error.
func (c *collector) head(info *Info) {
	out, err := c.run(metaLimit, "rev-parse", "--quiet", "--verify", "HEAD^{commit}")
	if exitCode(err) == 1 { // --verify --quiet: HEAD does not resolve yet
		return
	}
	if err != nil {
		c.fail(err)
		return
	}
	sha := firstLine(out.text())
	info.CommitID = sha

	// NUL cannot occur in names or dates, so it separates them from the
	// free-form message, which goes last.
	out, err = c.run(metaLimit, "show", "-s", "--no-show-signature", "--encoding=UTF-8",
		"--format=%an <%ae>%x00%aI%x00%B", sha, "--")
	if err != nil {
		c.fail(err)
		return
	}
	parts := strings.SplitN(out.text(), "\x00", 3)
	if len(parts) != 3 {
		c.fail(fmt.Errorf("gitinfo: git show %s in %s: unexpected output %q", sha, c.dir, truncateText(out.text(), 200)))
		return
	}
	info.CommitAuthor = parts[0]
	info.CommitMessage = strings.TrimRight(parts[2], "\n")
	date, err := time.Parse(time.RFC3339, strings.TrimSpace(parts[1]))
	if err != nil {
		c.fail(fmt.Errorf("gitinfo: git show %s in %s: author date: %w", sha, c.dir, err))
		return
	}
	info.CommitDate = date
}

// branch fills CurrentBranch; a detached HEAD leaves it empty.
func (c *collector) branch(info *Info) {
	out, err := c.run(metaLimit, "symbolic-ref", "--quiet", "--short", "HEAD")
	if exitCode(err) == 1 { // --quiet: HEAD is not a symbolic ref (detached)
		return
	}
	if err != nil {
		c.fail(err)
		return
	}
	info.CurrentBranch = firstLine(out.text())
}

// status fills Dirty. Only whether there is any output matters, so none of
// it is kept.
func (c *collector) status(info *Info) {
	out, err := c.run(0, "status", "--porcelain", "-z", "--untracked-files=normal")
	if err != nil {
		c.fail(err)
		return
	}
	info.Dirty = out.total > 0
}

var diffFlags = []string{"diff", "--no-color", "--no-ext-diff", "--no-textconv", "--no-relative"}

func (c *collector) diff(maxDiff int) func(*Info) {
	return func(info *Info) {
		args := slices.Clone(diffFlags)
		if info.CommitID != "" {
			args = append(args, info.CommitID, "--")
		} else {
			// No commit to compare with: show what is staged for the first.
			args = append(args, "--cached", "--")
		}
		out, err := c.run(maxDiff, args...)
		if err != nil {
			c.fail(err)
			return
		}
		var cut bool
		info.Diff, cut = out.diffText(maxDiff)
		info.Truncated = info.Truncated || cut
	}
}

// remotes fills Remotes from `git remote -v`, which applies url.insteadOf
// rewriting, so the URLs are the ones git actually fetches from.
func (c *collector) remotes(info *Info) {
	out, err := c.run(metaLimit, "remote", "-v")
	if err != nil {
		c.fail(err)
		return
	}
	var urls []string
	for line := range strings.Lines(out.text()) {
		// "<name>\t<url> (fetch)"; names cannot contain a tab.
		line = strings.TrimRight(line, "\r\n")
		_, u, ok := strings.Cut(line, "\t")
		if !ok {
			continue
		}
		if u, ok = strings.CutSuffix(u, " (fetch)"); ok {
			urls = append(urls, redactURL(u))
		}
	}
	slices.Sort(urls)
	info.Remotes = slices.Compact(urls)
}

// upstream fills UpstreamCommit and UpstreamDiff. No branch, no upstream
// configured, or an upstream whose ref is gone (never fetched, pruned) all
// mean "no upstream", not an error.
func (c *collector) upstream(maxDiff int) func(*Info) {
	return func(info *Info) {
		if info.CurrentBranch == "" || info.CommitID == "" {
			return
		}
		out, err := c.run(metaLimit, "for-each-ref", "--format=%(upstream)", "refs/heads/"+info.CurrentBranch)
		if err != nil {
			c.fail(err)
			return
		}
		ref := firstLine(out.text())
		if ref == "" {
			return
		}
		out, err = c.run(metaLimit, "rev-parse", "--quiet", "--verify", ref+"^{commit}")
		if exitCode(err) == 1 {
			return
		}
		if err != nil {
			c.fail(err)
			return
		}
		sha := firstLine(out.text())
		if sha == "" || sha == info.CommitID {
			return
		}
		info.UpstreamCommit = sha
		args := append(slices.Clone(diffFlags), sha, "--")
		out, err = c.run(maxDiff, args...)
		if err != nil {
			c.fail(err)
			return
		}
		var cut bool
		info.UpstreamDiff, cut = out.diffText(maxDiff)
		info.Truncated = info.Truncated || cut
	}
}

// cmdError is a git command that ran and failed, or was stopped by the
// context. It unwraps to an *exec.ExitError or to ctx.Err().
type cmdError struct {
	args   []string
	dir    string
	stderr string
	err    error
}

func (e *cmdError) Error() string {
	msg := fmt.Sprintf("gitinfo: git %s in %s: %v", strings.Join(e.args, " "), e.dir, e.err)
	if e.stderr != "" {
		msg += ": " + e.stderr
	}
	return msg
}

func (e *cmdError) Unwrap() error { return e.err }

// run runs git with args in c.dir, keeping at most limit bytes of stdout.
// The output is returned even on error; it is only trustworthy on success.
func (c *collector) run(limit int, args ...string) (*capWriter, error) {
	argv := append([]string{"-c", "core.quotepath=off"}, args...)
	cmd := exec.CommandContext(c.ctx, c.git, argv...)
	cmd.Dir = c.dir
	cmd.Env = c.env
	// Without WaitDelay, Wait blocks until every process holding the pipes
	// exits, which for a grandchild of a killed git may be never.
	cmd.WaitDelay = waitDelay
	stdout := &capWriter{limit: limit}
	stderr := &capWriter{limit: stderrLimit}
	// Not *os.File, so exec copies through pipes into the capped writers,
	// which keep draining: git never blocks on a full pipe.
	cmd.Stdout, cmd.Stderr = stdout, stderr

	fail := func(err error) error {
		// A killed git reports "signal: killed" or exec.ErrWaitDelay; the
		// real cause is the context.
		if ctxErr := c.ctx.Err(); ctxErr != nil {
			err = ctxErr
		}
		return &cmdError{args: args, dir: c.dir, stderr: firstLine(stderr.text()), err: err}
	}
	if err := cmd.Start(); err != nil {
		if c.ctx.Err() != nil {
			return stdout, fail(err)
		}
		// The directory was checked before, so this is git itself:
		// deleted since LookPath, or not something the OS can execute.
		return stdout, fmt.Errorf("%w: git %s in %s: %w", ErrGitUnavailable, strings.Join(args, " "), c.dir, err)
	}
	if err := cmd.Wait(); err != nil {
		return stdout, fail(err)
	}
	return stdout, nil
}

// exitCode is the exit status of a command that ran and failed, or -1.
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// notRepository tells "not a work tree" apart from other rev-parse
// failures (dubious ownership, corrupt repository) by git's message, which
// LC_ALL=C keeps in English, and returns that message.
func notRepository(err error) (string, bool) {
	var ce *cmdError
	if !errors.As(err, &ce) || exitCode(err) != 128 {
		return "", false
	}
	return ce.stderr, strings.Contains(ce.stderr, "not a git repository") ||
		strings.Contains(ce.stderr, "must be run in a work tree")
}

// repoEnvVars locate the repository for git. They are dropped so that dir
// alone decides which repository is described, even when the caller runs
// inside a git hook or alias, where git sets them.
var repoEnvVars = []string{
	"GIT_DIR", "GIT_WORK_TREE", "GIT_IMPLICIT_WORK_TREE", "GIT_COMMON_DIR",
	"GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES",
	"GIT_GRAFT_FILE", "GIT_SHALLOW_FILE", "GIT_PREFIX", "GIT_INTERNAL_SUPER_PREFIX",
}

func gitEnv() []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return slices.Contains(repoEnvVars, k)
	})
	return append(env,
		"GIT_TERMINAL_PROMPT=0", // never ask for credentials
		"GIT_OPTIONAL_LOCKS=0",  // git status must not refresh (write) the index
		"LC_ALL=C",              // stable messages for isNotRepository
	)
}

// capWriter keeps the first limit bytes written to it and counts the rest.
// It never fails, so the command writing to it never blocks or dies of
// EPIPE.
type capWriter struct {
	mu    sync.Mutex // exec's copying goroutine may outlive a WaitDelay
	buf   []byte
	limit int
	total int64
}

func (w *capWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.total += int64(len(p))
	if room := w.limit - len(w.buf); room > 0 {
		w.buf = append(w.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (w *capWriter) bytes() ([]byte, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf, w.total > int64(len(w.buf))
}

// text is the kept output as valid UTF-8.
func (w *capWriter) text() string {
	b, _ := w.bytes()
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

// diffText is the kept output as valid UTF-8 of at most limit bytes, and
// whether anything was cut.
func (w *capWriter) diffText(limit int) (string, bool) {
	b, cut := w.bytes()
	return clipUTF8(b, limit, cut)
}

// clipUTF8 turns b, which was cut from a longer output when cut is set,
// into valid UTF-8 of at most limit bytes. Invalid bytes (binary content,
// Latin-1 files) become U+FFFD.
func clipUTF8(b []byte, limit int, cut bool) (string, bool) {
	if cut {
		// The cut may have split a rune; drop the fragment rather than
		// turn it into a replacement character.
		for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
			if utf8.RuneStart(b[i]) {
				if !utf8.FullRune(b[i:]) {
					b = b[:i]
				}
				break
			}
		}
	}
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	if len(s) > limit {
		// Replacement characters can make s longer than the bytes kept.
		s, cut = truncateText(s, limit), true
	}
	return s, cut
}

// truncateText cuts valid UTF-8 s to at most n bytes at a rune boundary.
func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return strings.TrimRight(line, "\r")
}

// redactURL drops the user information from http(s) URLs, where it is
// usually an access token (https://x-access-token:TOKEN@host/...) that must
// not end up in run metadata. ssh users (git@host:...) are kept.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil || (u.Scheme != "http" && u.Scheme != "https") {
		return raw
	}
	u.User = nil
	return u.String()
}
