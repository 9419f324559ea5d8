package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/run"
)

func TestInfoGolden(t *testing.T) {
	fixture(t)
	withClock(t, fixtureNow(t))
	for name, dir := range map[string]string{
		"info-finished": fixtureFinish,
		"info-failed":   fixtureFailed,
		"info-crashed":  fixtureCrashed,
	} {
		t.Run(name, func(t *testing.T) {
			res := runCmd(t, nil, nil, "info", dir)
			require.Equal(t, exitOK, res.code, res.stderr)
			checkGolden(t, name, res.stdout)
		})
	}
}

func TestInfoFacts(t *testing.T) {
	home := fixture(t)
	res := runCmd(t, nil, []string{"GOODSEED_HOME=" + home}, "info", "ws/proj/quiet-heron")
	require.Equal(t, exitOK, res.code, res.stderr)
	for _, want := range []string{
		"run        quiet-heron",
		"state      crashed (status says running, but no writer holds LOCK)",
		"not live: no process holds the lock",
		"unsealed",
		"index      rebuilt from the segments (1 block): index missing; normal after a crash",
		"recovery   clean on open",
	} {
		require.Contains(t, res.stdout, want)
	}

	res = runCmd(t, nil, nil, "info", fixtureFinish)
	require.Equal(t, exitOK, res.code, res.stderr)
	for _, want := range []string{
		"state      finished", "format     segments 1.0, index 1.0", "sealed  7",
		"fields     25: 3 metric, 1 string, 21 config",
		"points     137 written (overwrites included)", "steps      0 .. 59",
		"index      loaded from the index file; it covers every segment",
	} {
		require.Contains(t, res.stdout, want)
	}

	res = runCmd(t, nil, nil, "info", fixtureFailed)
	require.Contains(t, res.stdout, "failure    loss diverged at step 19")

	res = runCmd(t, nil, nil, "info")
	require.Equal(t, exitError, res.code)
	require.Contains(t, res.stderr, "usage: gsinspect info RUN")
}

// TestInfoLive: a run with a live writer is running, its writer named.
func TestInfoLive(t *testing.T) {
	r, err := newTestRun(t.TempDir(), "p", "live-one")
	require.NoError(t, err)
	defer r.Close()
	require.NoError(t, r.Field("x").Log(1, 0))
	require.NoError(t, r.Flush())
	res := runCmd(t, nil, nil, "info", r.Dir())
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Contains(t, res.stdout, "state      running\n")
	require.Contains(t, res.stdout, "live: a writer holds the lock")
	require.Regexp(t, `heartbeat  \S+ \(\d+\S*s ago\)`, res.stdout)
	require.Contains(t, res.stdout, "normal while a writer is live")
}

// TestInfoDamaged: damage found on opening is summarised, and info still
// exits 0 (verify is the command that fails on damage).
func TestInfoDamaged(t *testing.T) {
	home := tempHomeCopy(t, fixture(t))
	dir := filepath.Join(home, "projects", "vision", "runs", "bold-falcon")
	seg := filepath.Join(dir, "00000001-0000000000000001.seg")
	rd, err := engine.OpenReader(dir, nil)
	require.NoError(t, err)
	blocks := rd.Index().Blocks
	require.NoError(t, rd.Close())
	require.Greater(t, len(blocks), 3)
	b := blocks[2]
	flipByteAt(t, seg, b.Offset+b.Size/2)

	// The index is trusted (it checks headers and footers, not every
	// block): without it the reader scans every block and finds the damage.
	require.NoError(t, os.Remove(filepath.Join(dir, "index")))
	res := runCmd(t, nil, nil, "info", dir)
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Contains(t, res.stdout, "recovery   1 damaged unit")
	require.Regexp(t, `  damaged  .*checksum`, res.stdout)
	require.Contains(t, res.stdout, "run 'gsinspect verify'")

	// A damaged segment header: the segment is still listed, and why.
	flipByteAt(t, seg, 10)
	res = runCmd(t, nil, nil, "info", dir)
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Contains(t, res.stdout, "header: damaged at offset")

	// A LOCK whose owner record does not verify.
	lock := filepath.Join(home, "projects", "vision", "runs", "calm-otter", "LOCK")
	flipByteAt(t, lock, 12)
	res = runCmd(t, nil, nil, "info", filepath.Dir(lock))
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Regexp(t, `lock       .*owner record checksum mismatch; not live`, res.stdout)
	res = runCmd(t, nil, nil, "ls", home)
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Regexp(t, `vision/calm-otter: LOCK: .*checksum mismatch`, res.stdout)

	// The crashed run's only block is the last of an unsealed segment:
	// damage there reads as a torn tail (what a crash mid-write leaves).
	cdir := filepath.Join(home, "projects", "ws", "proj", "runs", "quiet-heron")
	cseg := filepath.Join(cdir, "00000001-0000000000000001.seg")
	fi, err := os.Stat(cseg)
	require.NoError(t, err)
	flipByteAt(t, cseg, fi.Size()-20)
	res = runCmd(t, nil, nil, "info", cdir)
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Contains(t, res.stdout, "recovery   1 torn tail")
	require.Regexp(t, `  torn     00000001-0000000000000001.seg at offset \d+`, res.stdout)
}

// flipByteAt inverts the byte at off of file path.
func flipByteAt(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	b := make([]byte, 1)
	_, err = f.ReadAt(b, off)
	require.NoError(t, err)
	b[0] ^= 0xff
	_, err = f.WriteAt(b, off)
	require.NoError(t, err)
}

func TestInfoHelpers(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 55603: "54.3 KiB", 3 << 30: "3.0 GiB"} {
		require.Equal(t, want, humanBytes(n))
	}
	for v, want := range map[float64]string{
		1234: "1234", 0.5: "0.5", float64(float32(0.4321)): "0.4321", 0.1: "0.1", 1e6: "1000000", 1e300: "1e+300",
	} {
		require.Equal(t, want, num(v))
	}
	require.Equal(t, `a\nb\tc\x1b[31m\u202e`, sanitize("a\nb\tc\x1b[31m\u202e"))
	require.Equal(t, `bad\xff`, sanitize("bad\xff"))
	require.Equal(t, "plain ✓", sanitize("plain ✓"))
	require.Equal(t, "abcd…", clip("abcdefgh", 5))
}

func TestInfoHelp(t *testing.T) {
	res := runCmd(t, nil, nil, "help", "info")
	require.Equal(t, exitOK, res.code)
	require.Contains(t, res.stdout, "example:\n  gsinspect info")
}

// TestInfoResumed: a resumed run says when, and what it was before.
func TestInfoResumed(t *testing.T) {
	home := t.TempDir()
	r, err := newTestRun(home, "p", "again")
	require.NoError(t, err)
	require.NoError(t, r.Field("x").Log(1, 0))
	require.NoError(t, r.Close())
	r, err = run.Resume("again", fixtureOptions(home, "p", ""))
	require.NoError(t, err)
	require.NoError(t, r.Field("x").Log(2, 1))
	require.NoError(t, r.Close())

	res := runCmd(t, nil, []string{"GOODSEED_HOME=" + home}, "info", "p/again")
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Regexp(t, `resumed    \S+Z \(was finished\)\n`, res.stdout)
	require.Contains(t, res.stdout, "state      finished\n")
	require.Contains(t, res.stdout, "points     2 written")
}

// TestInfoMissingSegment: a segment gone from the middle of a writer's
// stream is named.
func TestInfoMissingSegment(t *testing.T) {
	home := t.TempDir()
	o := fixtureOptions(home, "p", "holes")
	o.Engine = engine.Options{SegmentTargetBytes: 1024}
	r, err := run.New(o)
	require.NoError(t, err)
	x := r.Field("x")
	for i := range 2000 {
		require.NoError(t, x.Log(float64(i)*1.1, float64(i)))
		if i%100 == 99 {
			require.NoError(t, r.Flush())
		}
	}
	require.NoError(t, r.Close())
	second := filepath.Join(r.Dir(), "00000001-0000000000000002.seg")
	_, err = os.Stat(filepath.Join(r.Dir(), "00000001-0000000000000003.seg"))
	require.NoError(t, err, "the run needs three segments or more")
	require.NoError(t, os.Remove(second))

	res := runCmd(t, nil, nil, "info", r.Dir())
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Contains(t, res.stdout, "  missing  00000001-0000000000000002.seg\n")
	require.Contains(t, res.stdout, "index      rebuilt from the segments")
	require.Contains(t, res.stdout, "which is missing")
}
