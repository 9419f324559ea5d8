package main

import (
	"crypto/sha256"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/series"
)

// dirHashes hashes every file of a directory, by name.
func dirHashes(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, de := range ents {
		b, err := os.ReadFile(filepath.Join(dir, de.Name()))
		require.NoError(t, err)
		out[de.Name()] = sha256.Sum256(b)
	}
	return out
}

// forensicPoints reads the metric points of a run, by path and step.
func forensicPoints(t *testing.T, dir string) map[string]map[float64]float64 {
	t.Helper()
	rd, err := engine.OpenReader(dir, nil)
	require.NoError(t, err)
	defer rd.Close()
	out := map[string]map[float64]float64{}
	for _, fi := range rd.Fields() {
		if fi.Kind != engine.KindMetric {
			continue
		}
		var c series.MetricColumns
		_ = rd.ReadMetric(fi.Path, &c) // a damaged run: the readable points
		out[fi.Path] = map[float64]float64{}
		for i, st := range c.Steps {
			out[fi.Path][st] = c.Values[i]
		}
	}
	return out
}

// wantForensicPoints are the forensic run's points, less steps lo..hi.
func wantForensicPoints(lo, hi float64) map[string]map[float64]float64 {
	out := map[string]map[float64]float64{"train/loss": {}, "lr": {}}
	for i := range 30 {
		if st := float64(i); st < lo || st > hi {
			out["train/loss"][st] = forensicLoss(i)
			out["lr"][st] = forensicLR(i)
		}
	}
	return out
}

func TestRecoverClean(t *testing.T) {
	fr := writeForensicRun(t)
	before := dirHashes(t, fr.dir)
	out := filepath.Join(t.TempDir(), "recovered")
	res := runCmd(t, nil, nil, "recover", fr.dir, out)
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Equal(t, fmt.Sprintf(`recovered run "forensic-run" from %s into %s
kept:      2 segments, 4 blocks, 16 records
lost:      nothing
%s is a clean run holding everything RUN held
`, fr.dir, out, out), res.stdout)
	require.Equal(t, before, dirHashes(t, fr.dir), "RUN was modified")

	res = runCmd(t, nil, nil, "verify", out)
	require.Equal(t, exitOK, res.code, res.stdout)
	require.True(t, strings.HasPrefix(res.stdout, "checked 2 segments, 4 blocks, 16 records, "), res.stdout)
	require.Contains(t, res.stdout, "no damage, 0 warnings, 0 info")
	require.Equal(t, wantForensicPoints(1, 0), forensicPoints(t, out))
	// Byte for byte the same segments: the blocks are copied as they were.
	for _, name := range []string{filepath.Base(fr.seg1), filepath.Base(fr.seg2)} {
		a, err := os.ReadFile(filepath.Join(fr.dir, name))
		require.NoError(t, err)
		b, err := os.ReadFile(filepath.Join(out, name))
		require.NoError(t, err)
		require.Equal(t, a, b, name)
	}
}

func TestRecoverDamage(t *testing.T) {
	fr := writeForensicRun(t)
	b := fr.block(fr.seg1, 1)
	flipBit(t, fr.seg1, b.Offset+48, 0x08)
	before := dirHashes(t, fr.dir)
	out := filepath.Join(t.TempDir(), "recovered")
	res := runCmd(t, nil, nil, "recover", fr.dir, out)
	require.Equal(t, exitDamage, res.code, res.stderr)
	require.Equal(t, fmt.Sprintf(`recovered run "forensic-run" from %s into %s
kept:      2 segments, 3 blocks, 14 records
lost:      1 damaged block or region, %d bytes of the source not copied:
  DAMAGE   block-checksum   00000001-0000000000000001.seg @ %d (+%d bytes): block checksum mismatch: its 2 records (seq 9..10) are lost
%s is a clean run holding everything that could be read; 'gsinspect verify %s' checks it
`, fr.dir, out, b.Size, b.Offset, b.Size, out, out), res.stdout)
	require.Equal(t, before, dirHashes(t, fr.dir), "RUN was modified")

	// The new run verifies; its sequence shows where the block was.
	res = runCmd(t, nil, nil, "verify", out)
	require.Equal(t, exitOK, res.code, res.stdout)
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	require.Len(t, lines, 2)
	require.True(t, strings.HasPrefix(lines[0], "INFO     seq-gap          00000001-0000000000000002.seg @ 58: writer 1's records 9..10 are not in the run"), lines[0])
	require.Equal(t, wantForensicPoints(10, 19), forensicPoints(t, out))
	require.Equal(t, forensicPoints(t, fr.dir), forensicPoints(t, out), "every point the damaged run returns")

	// The new run resumes.
	s, err := engine.Open(out, engine.Options{})
	require.NoError(t, err)
	require.True(t, s.Recovery().Clean())
	f, err := s.Field("train/loss", engine.KindMetric)
	require.NoError(t, err)
	require.NoError(t, f.LogMetric(30, math.Pi))
	require.NoError(t, s.Close())
	require.Equal(t, math.Pi, forensicPoints(t, out)["train/loss"][30])
}

// TestRecoverLostDefinitions: without an index, records of fields whose
// definition was in the damaged block cannot be placed and are dropped.
func TestRecoverLostDefinitions(t *testing.T) {
	fr := writeForensicRun(t)
	require.NoError(t, os.Remove(filepath.Join(fr.dir, "index")))
	a := fr.block(fr.seg1, 0)
	flipBit(t, fr.seg1, a.Offset+60, 0x02)
	out := filepath.Join(t.TempDir(), "recovered")
	res := runCmd(t, nil, nil, "recover", fr.dir, out)
	require.Equal(t, exitDamage, res.code, res.stderr)
	require.Contains(t, res.stdout, "dropped:   4 records whose field definition was lost\n")
	require.Contains(t, res.stdout, "kept:      1 segment, 1 block, 3 records\n")
	require.Contains(t, res.stdout, "WARNING  orphan           00000001-0000000000000001.seg @ ")
	res = runCmd(t, nil, nil, "verify", out)
	require.Equal(t, exitOK, res.code, res.stdout)
	rd, err := engine.OpenReader(out, nil)
	require.NoError(t, err)
	defer rd.Close()
	require.Equal(t, []engine.FieldInfo{{ID: 0, Path: "tags", Kind: engine.KindConfig}}, rd.Fields(), "renumbered around the lost ids")
	require.Equal(t, engine.StringSet("a", "b"), rd.Configs()["tags"].Value)
	require.Equal(t, "finished", rd.Meta()["status"].Val)
}

func TestRecoverErrors(t *testing.T) {
	fr := writeForensicRun(t)
	full := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(full, "x"), nil, 0o644))
	for _, tc := range []struct {
		args []string
		in   string
	}{
		{[]string{"recover", fr.dir}, "recover takes two arguments"},
		{[]string{"recover", fr.dir, full}, "not empty"},
		{[]string{"recover", fr.dir, fr.dir}, "another directory"},
		{[]string{"recover", filepath.Join(fr.dir, "nope"), filepath.Join(full, "new")}, "no such directory"},
		{[]string{"recover", t.TempDir(), filepath.Join(full, "new")}, "not a GoodSeed run directory"},
	} {
		res := runCmd(t, nil, nil, tc.args...)
		require.Equal(t, exitError, res.code, "%v: %s", tc.args, res.stdout)
		require.Contains(t, res.stderr, tc.in, "%v", tc.args)
	}
	_, err := os.Stat(filepath.Join(full, "new"))
	require.True(t, os.IsNotExist(err), "nothing created on refusal")
	res := runCmd(t, nil, nil, "recover", "--help")
	require.Equal(t, exitOK, res.code)
	require.Contains(t, res.stdout, "gsinspect recover vision/bold-falcon")
}
