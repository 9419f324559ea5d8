package run

import (
	"context"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/internal/gitinfo"
)

// Paths of the sys/ namespace.
const (
	PathID            = "sys/id"
	PathName          = "sys/name"
	PathDescription   = "sys/description"
	PathTags          = "sys/tags"
	PathCreationTime  = "sys/creation_time"
	PathState         = "sys/state"
	PathClosedTime    = "sys/closed_time"
	PathFailureReason = "sys/failure_reason"
)

// reservedPaths are sys/ fields the run keeps current itself; assigning
// them would make the run lie about itself.
var reservedPaths = map[string]bool{
	PathID: true, PathState: true, PathCreationTime: true, PathClosedTime: true, PathFailureReason: true,
}

// isoTime renders t as GoodSeed's ISO 8601 UTC timestamps.
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z07:00") }

// recordCreation writes the meta and sys/ fields of a new run, and the Go
// build info under source_code/go/.
func (r *Run) recordCreation(now time.Time) error {
	s, o := r.store, r.opts
	errs := []error{
		s.SetMeta(metaRunID, r.id),
		s.SetMeta(metaProject, r.project),
		s.SetMeta(metaCreatedAt, isoTime(now)),
		s.SetMeta(metaStatus, string(StatusRunning)),
		s.SetMeta(metaName, o.Name),
		s.SetConfig(PathID, engine.String(r.id)),
		s.SetConfig(PathCreationTime, engine.Time(now)),
		s.SetConfig(PathState, engine.String(string(StatusRunning))),
	}
	errs = append(errs, r.recordIdentity(o.Options)...)
	errs = append(errs, r.recordBuildInfo()...)
	return joinOnce(errs...)
}

// recordIdentity writes the name, description and tags given in opts.
func (r *Run) recordIdentity(o Options) []error {
	var errs []error
	s := r.store
	if o.Name != "" {
		errs = append(errs, s.SetConfig(PathName, engine.String(o.Name)), s.SetMeta(metaName, o.Name))
	}
	if o.Description != "" {
		errs = append(errs, s.SetConfig(PathDescription, engine.String(o.Description)))
	}
	if len(o.Tags) > 0 {
		errs = append(errs, s.UpdateSet(PathTags, engine.SetAdd, o.Tags...))
	}
	return errs
}

// recordResume marks a reopened run running again and notes what it was.
func (r *Run) recordResume(now time.Time) error {
	s := r.store
	from := StatusFinished
	if m, ok := s.Meta(metaStatus); ok {
		from = Status(m.Val)
	}
	if from == StatusRunning {
		from = StatusCrashed // it said running, yet we hold its lock: its writer is gone
	}
	if p, ok := s.Meta(metaProject); ok {
		r.project = p.Val
	}
	errs := []error{
		s.SetMeta(metaStatus, string(StatusRunning)),
		s.SetMeta(metaResumedAt, isoTime(now)),
		s.SetMeta(metaResumedFrom, string(from)),
		s.SetConfig(PathState, engine.String(string(StatusRunning))),
	}
	errs = append(errs, r.recordIdentity(r.opts.Options)...)
	errs = append(errs, r.recordBuildInfo()...)
	return joinOnce(errs...)
}

// recordClose writes the final status.
func (r *Run) recordClose(st Status, reason string, now time.Time) error {
	s := r.store
	errs := []error{
		s.SetMeta(metaStatus, string(st)),
		s.SetMeta(metaClosedAt, isoTime(now)),
		s.SetConfig(PathState, engine.String(string(st))),
		s.SetConfig(PathClosedTime, engine.Time(now)),
	}
	if reason != "" {
		errs = append(errs, s.SetMeta(metaFailureReason, reason), s.SetConfig(PathFailureReason, engine.String(reason)))
	}
	return joinOnce(errs...)
}

// recordBuildInfo writes what the Go toolchain embedded in the binary:
// module, version and the VCS state it was built from. Python has nothing
// like it; for a Go binary it pins the code better than the working tree.
func (r *Run) recordBuildInfo() []error {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return nil
	}
	s := r.store
	set := func(path string, v engine.Value) { _ = s.SetConfig(path, v) }
	set("source_code/go/go_version", engine.String(bi.GoVersion))
	if bi.Path != "" {
		set("source_code/go/main_package", engine.String(bi.Path))
	}
	if bi.Main.Path != "" {
		set("source_code/go/module", engine.String(bi.Main.Path))
		set("source_code/go/module_version", engine.String(bi.Main.Version))
	}
	for _, kv := range bi.Settings {
		switch kv.Key {
		case "vcs.revision":
			set("source_code/go/vcs_revision", engine.String(kv.Value))
		case "vcs.modified":
			set("source_code/go/vcs_modified", engine.Bool(kv.Value == "true"))
		case "vcs.time":
			if t, err := time.Parse(time.RFC3339, kv.Value); err == nil {
				set("source_code/go/vcs_time", engine.Time(t))
			}
		}
	}
	return nil
}

// recordGit writes the source_code/ Git fields. Best effort: whatever git
// could tell within ctx is recorded, failures are not errors of the run.
func (r *Run) recordGit(ctx context.Context) {
	dir := r.opts.Git.Dir
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return
		}
		dir = wd
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	info, _ := gitinfo.Collect(ctx, dir, gitinfo.Options{Git: r.opts.Git.Binary, MaxDiffBytes: engine.MaxStringBytes - 4096})
	if info.RepositoryPath == "" {
		return
	}
	s := r.store
	set := func(path string, v engine.Value) { _ = s.SetConfig(path, v) }
	set("source_code/git/repository_path", engine.String(info.RepositoryPath))
	set("source_code/git/dirty", engine.Bool(info.Dirty))
	if info.CommitID != "" {
		set("source_code/git/commit_id", engine.String(info.CommitID))
		set("source_code/git/commit_message", engine.String(info.CommitMessage))
		set("source_code/git/commit_author", engine.String(info.CommitAuthor))
		set("source_code/git/commit_date", engine.Time(info.CommitDate))
	}
	if info.CurrentBranch != "" {
		set("source_code/git/current_branch", engine.String(info.CurrentBranch))
	}
	if len(info.Remotes) > 0 {
		set("source_code/git/remotes", engine.StringSet(info.Remotes...))
	}
	if info.Diff != "" {
		set("source_code/diff", engine.String(info.Diff))
	}
	if info.UpstreamCommit != "" {
		set("source_code/diff_upstream_"+info.UpstreamCommit, engine.String(info.UpstreamDiff))
	}
}
