// Package gitinfo describes the Git state of the working tree a program runs
// from, for the source_code/ fields of a run.
//
// It shells out to the git CLI rather than reading .git itself, so that
// worktrees, alternates, packed refs, includeIf configuration and the like
// mean exactly what they mean to git. Collection is best effort: a missing
// git binary, a directory outside any work tree or a git that hangs never
// blocks the caller past its context and never panics; Collect returns what
// it could gather together with an error naming what failed.
//
// Collect runs, in the given directory, with GIT_TERMINAL_PROMPT=0,
// GIT_OPTIONAL_LOCKS=0, LC_ALL=C and -c core.quotepath=off:
//
//	git rev-parse --show-toplevel
//	git rev-parse --quiet --verify HEAD^{commit}
//	git show -s --format=... <HEAD sha>
//	git symbolic-ref --quiet --short HEAD
//	git status --porcelain -z --untracked-files=normal
//	git diff --no-color --no-ext-diff --no-textconv --no-relative <HEAD sha>
//	  (git diff ... --cached in a repository without commits)
//	git remote -v
//	git for-each-ref --format=%(upstream) refs/heads/<branch>
//	git rev-parse --quiet --verify <upstream>^{commit}
//	git diff --no-color --no-ext-diff --no-textconv --no-relative <upstream sha>
//
// None of these prompts, touches the network or writes to the repository.
package gitinfo
