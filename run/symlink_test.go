//go:build unix

package run

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/index"
	"github.com/goodseed/goodseed-go/internal/vfs"
	"github.com/goodseed/goodseed-go/segment"
)

// A symlink planted in a run directory, at any name the engine opens or
// creates, must not make the engine write, create or read through it
// (issue 14): before, a LOCK that was a link had its target created, or its
// first 512 bytes overwritten with the owner record, by New and Resume.

const symlinkOutsideBytes = "outside the home: not to be touched\n"

// plantedLink is a symlink at one name of a run directory, pointing at a
// file outside the home that exists with known bytes or does not exist.
type plantedLink struct {
	root, target string
	dangling     bool
	before       map[string]int64
}

// plant replaces dir/name (if present) with a link to a target in
// root/outside, and snapshots the tree under root.
func plant(t *testing.T, root, dir, name string, dangling bool) plantedLink {
	t.Helper()
	p := plantedLink{root: root, target: filepath.Join(root, "outside", "target"), dangling: dangling}
	require.NoError(t, os.MkdirAll(filepath.Dir(p.target), 0o755))
	if !dangling {
		require.NoError(t, os.WriteFile(p.target, []byte(symlinkOutsideBytes), 0o644))
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	require.NoError(t, os.Symlink(p.target, filepath.Join(dir, name)))
	p.before = tree(t, root)
	return p
}

// check asserts the target is as it was (or still absent) and nothing
// outside root/home was created, changed or removed. (Inside the home the
// engine may remove or replace the link itself.)
func (p plantedLink) check(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile(p.target)
	if p.dangling {
		require.ErrorIs(t, err, fs.ErrNotExist, "the dangling link's target was created: %q", b)
	} else {
		require.NoError(t, err)
		require.Equal(t, symlinkOutsideBytes, string(b), "the link's target was written")
	}
	outside := func(m map[string]int64) map[string]int64 {
		out := map[string]int64{}
		for path, size := range m {
			if path != "home" && !strings.HasPrefix(path, "home"+string(filepath.Separator)) {
				out[path] = size
			}
		}
		return out
	}
	require.Equal(t, outside(p.before), outside(tree(t, p.root)), "files outside the home")
}

// requireNoLink: a writer that succeeded replaced or removed the link at
// name (the index and mark are renamed over it, temp files removed).
func requireNoLink(t *testing.T, name string) {
	t.Helper()
	fi, err := os.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	require.NoError(t, err)
	require.True(t, fi.Mode().IsRegular(), "%s is %v", name, fi.Mode())
}

// symlinkRun writes a small finished run and returns its directory.
func symlinkRun(t *testing.T, opts Options, id string) string {
	t.Helper()
	opts.RunID = id
	r, err := New(opts)
	require.NoError(t, err)
	require.NoError(t, r.Set("cfg/lr", 0.1))
	for i := range 10 {
		require.NoError(t, r.Field("m").Log(float64(i), float64(i)))
	}
	require.NoError(t, r.Close())
	return r.Dir()
}

// tornSymlinkRun writes a run and leaves it as a crash would: its segment
// ends with half of its last block, and no index or mark says more. It
// returns the run's directory and the name a resume saves the torn tail as.
func tornSymlinkRun(t *testing.T, opts Options, id string) (dir, tornName string) {
	t.Helper()
	opts.RunID = id
	r, err := New(opts)
	require.NoError(t, err)
	dir = r.Dir()
	for i := range 100 {
		require.NoError(t, r.Field("m").Log(float64(i), float64(i)))
	}
	require.NoError(t, r.Flush())
	snap := map[string][]byte{}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		snap[e.Name()] = b
	}
	for i := 100; i < 200; i++ {
		require.NoError(t, r.Field("m").Log(float64(i), float64(i)))
	}
	require.NoError(t, r.Flush())
	seg := segment.SegmentName(1, 1)
	after, err := os.ReadFile(filepath.Join(dir, seg))
	require.NoError(t, err)
	require.NoError(t, r.Close())

	block := after[len(snap[seg]):]
	require.NotEmpty(t, block)
	offset := len(snap[seg])
	snap[seg] = append(snap[seg], block[:len(block)/2]...)
	delete(snap, index.FileName)
	delete(snap, fmt.Sprintf("%08x.mark", 1)) // the writer's mark, where it keeps one
	require.NoError(t, os.RemoveAll(dir))
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for name, b := range snap {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o644))
	}
	return dir, fmt.Sprintf("%s.torn-%d", seg, offset)
}

// symlinkNames are the files of a run directory the engine opens or
// creates.
var symlinkNames = []string{
	engine.LockFileName,
	segment.SegmentName(1, 1),
	segment.SegmentName(1, 2), // the next segment a writer would create
	index.FileName,
	index.FileName + ".tmp-1234abcd", // debris of a crashed index write
	fmt.Sprintf("%08x.mark", 1),      // the writer's mark file
	fmt.Sprintf("%08x.mark.tmp", 1),  // and the temp file it is written to
}

func TestSymlinkRefusedNew(t *testing.T) {
	for _, name := range symlinkNames {
		for _, dangling := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/dangling=%v", name, dangling), func(t *testing.T) {
				root := t.TempDir()
				opts := hostileOptions(root)
				opts.RunID = "planted"
				dir := filepath.Join(opts.Home, "projects", "default", "runs", "planted")
				p := plant(t, root, dir, name, dangling)
				r, err := New(opts)
				writePlanted(t, "New", r, err, 1, p, dir, name)
			})
		}
	}
}

func TestSymlinkRefusedResume(t *testing.T) {
	for _, name := range symlinkNames {
		for _, dangling := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/dangling=%v", name, dangling), func(t *testing.T) {
				root := t.TempDir()
				opts := hostileOptions(root)
				dir := symlinkRun(t, opts, "planted")
				p := plant(t, root, dir, name, dangling)
				r, err := Resume("planted", opts)
				writePlanted(t, "Resume", r, err, 100, p, dir, name)
				ro, err := OpenReadOnly("planted", opts)
				t.Logf("OpenReadOnly: %v", err)
				if err == nil {
					_, _ = ro.Info()
					_, _ = ro.Metric("m")
					_, _ = ro.Configs()
					require.NoError(t, ro.Close())
				}
				p.check(t)
			})
		}
	}
}

// TestSymlinkRefusedTornTail: a crashed run whose torn tail would be saved
// to a name that is a link is not resumed (the cut needs that copy), and
// nothing is written through the link.
func TestSymlinkRefusedTornTail(t *testing.T) {
	root := t.TempDir()
	opts := hostileOptions(root)
	_, torn := tornSymlinkRun(t, opts, "torn")
	r, err := Resume("torn", opts)
	require.NoError(t, err)
	require.Len(t, r.Recovery().Cuts, 1)
	require.Equal(t, torn, r.Recovery().Cuts[0].SavedAs, "the name a link is planted at below")
	require.NoError(t, r.Close())

	for _, dangling := range []bool{false, true} {
		t.Run(fmt.Sprintf("dangling=%v", dangling), func(t *testing.T) {
			root := t.TempDir()
			opts := hostileOptions(root)
			dir, torn := tornSymlinkRun(t, opts, "torn")
			p := plant(t, root, dir, torn, dangling)
			_, err := Resume("torn", opts)
			require.ErrorIs(t, err, vfs.ErrSymlink)
			p.check(t)
			ro, err := OpenReadOnly("torn", opts)
			require.NoError(t, err, "a reader cuts nothing")
			pts, err := ro.Metric("m")
			require.NoError(t, err)
			require.GreaterOrEqual(t, len(pts), 100)
			require.NoError(t, ro.Close())
			p.check(t)

			// Once the link is gone the run resumes as any crashed run.
			require.NoError(t, os.Remove(filepath.Join(dir, torn)))
			r, err := Resume("torn", opts)
			require.NoError(t, err)
			require.Len(t, r.Recovery().Cuts, 1)
			require.NoError(t, r.Close())
			b, err := os.ReadFile(p.target)
			if dangling {
				require.ErrorIs(t, err, fs.ErrNotExist)
			} else {
				require.True(t, bytes.Equal(b, []byte(symlinkOutsideBytes)))
			}
		})
	}
}

// writePlanted writes to and closes a run that New or Resume opened beside
// a planted link, then checks that nothing was written through the link,
// that a LOCK link refused the open, and that an open that worked left a
// real file where the link was.
func writePlanted(t *testing.T, op string, r *Run, err error, step float64, p plantedLink, dir, name string) {
	t.Helper()
	t.Logf("%s: %v", op, err)
	if err == nil {
		require.NoError(t, r.Set("cfg/lr", step/1000))
		require.NoError(t, r.Field("m").Log(step, 1))
		require.NoError(t, r.Close())
	}
	p.check(t)
	if name == engine.LockFileName {
		require.ErrorIs(t, err, vfs.ErrSymlink, "a run whose LOCK is a link is refused")
	}
	if err == nil {
		requireNoLink(t, filepath.Join(dir, name))
	}
}
