package main

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/internal/vfs"
	"github.com/goodseed/goodseed-go/run"
)

// Symlink steps: a run file's name taken by a symbolic link. A writer that
// followed it would write wherever the link points (another run, a file of
// the user's); the engine refuses such names (vfs.ErrSymlink). Before every
// symlinkPeriod-th round that resumes the run, the parent moves the run's
// LOCK or newest segment aside, plants at its name a link to a canary
// outside the run holding the same bytes (so an engine that followed it
// would find a valid file and write to it: LOCK's owner record, or the
// torn tail the canary of a segment ends with cut), and resumes the run:
// the resume must fail, or leave the canary alone, and the canary's bytes
// must be what they were. Then it removes the link, puts the file back and
// the round goes on; the round's checks show the run came through intact.

const (
	symlinkLock    = "LOCK"
	symlinkSegment = "segment"
)

const symlinkPeriod = 10

// drawSymlink says where a link goes before round, "" for none. The
// rounds and the order of the two targets come from the seed.
func drawSymlink(seed uint64, round, span int) string {
	rng := rand.New(rand.NewPCG(seed, 0x5e11e7))
	off, kindOff := rng.IntN(symlinkPeriod), rng.IntN(2)
	if round%symlinkPeriod != off || round%span == 0 {
		return ""
	}
	return []string{symlinkLock, symlinkSegment}[(round/symlinkPeriod+kindOff)%2]
}

// symlinkStep runs round's symlink step, if it has one, on the run in dir.
// It returns what the resume did ("" when the step did not run).
func symlinkStep(cfg Config, round int, runID, dir string) (outcome string, err error) {
	target := drawSymlink(cfg.Seed, round, cfg.Span)
	if target == "" {
		return "", nil
	}
	name := engine.LockFileName
	if target == symlinkSegment {
		names, err := segmentNames(dir)
		if err != nil || len(names) == 0 {
			return "", nil // killed in New before the run had a segment
		}
		name = names[len(names)-1]
	}
	path := filepath.Join(dir, name)
	orig, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	// The canary is the file, and for a segment a torn tail after it (the
	// first bytes of its last block header again): a resume that followed
	// the link would read a run it can use, and cut the tail through it.
	want := orig
	if target == symlinkSegment {
		s, err := scanSegment(dir, name)
		if err != nil {
			return "", err
		}
		tornTail := make([]byte, 7)
		if n := len(s.blocks); n > 0 {
			copy(tornTail, orig[s.blocks[n-1].Offset:])
		}
		want = append(slices.Clip(orig), tornTail...)
	}
	canary := filepath.Join(cfg.Dir, fmt.Sprintf("canary-%05d", round))
	aside := filepath.Join(cfg.Dir, fmt.Sprintf("aside-%05d", round))
	if err := os.WriteFile(canary, want, 0o644); err != nil {
		return "", err
	}
	if err := os.Rename(path, aside); err != nil {
		return "", err
	}
	if err := os.Symlink(canary, path); err != nil {
		return "", errors.Join(err, os.Rename(aside, path))
	}
	defer func() {
		// Put the file back, unless a resume that went through replaced
		// the link with a file of its own.
		if fi, lerr := os.Lstat(path); lerr == nil && fi.Mode()&os.ModeSymlink != 0 {
			err = errors.Join(err, os.Remove(path), os.Rename(aside, path))
		} else {
			err = errors.Join(err, os.Remove(aside))
		}
		err = errors.Join(err, os.Remove(canary))
	}()

	r, rerr := run.Resume(runID, run.Options{LogDir: cfg.Dir, Quiet: true,
		Git: run.GitOptions{Disabled: true}, Monitoring: run.MonitoringOptions{Off: true}})
	switch {
	case rerr == nil:
		outcome = target + " opened"
		if cerr := r.Close(); cerr != nil {
			outcome += fmt.Sprintf(" (close: %v)", cerr)
		}
	case errors.Is(rerr, vfs.ErrSymlink):
		outcome = target + " refused"
	default:
		outcome = target + " failed otherwise"
	}
	after, err := os.ReadFile(canary)
	if err != nil {
		return outcome, fmt.Errorf("symlink at %s: read the canary: %w", name, err)
	}
	if !bytes.Equal(after, want) {
		return outcome, fmt.Errorf("symlink at %s to %s: the resume (%v) changed the file the link points to: %d bytes, were %d",
			name, canary, rerr, len(after), len(want))
	}
	return outcome, nil
}
