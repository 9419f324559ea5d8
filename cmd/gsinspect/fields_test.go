package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/series"
)

func TestFieldsGolden(t *testing.T) {
	fixture(t)
	for name, dir := range map[string]string{"fields-finished": fixtureFinish, "fields-crashed": fixtureCrashed} {
		res := runCmd(t, nil, nil, "fields", dir)
		require.Equal(t, exitOK, res.code, res.stderr)
		checkGolden(t, name, res.stdout)
	}
}

// fieldRows returns the rows of a fields table, header dropped, as
// path → cells.
func fieldRows(t *testing.T, out string) map[string][]string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	require.True(t, strings.HasPrefix(lines[0], "PATH  "), out)
	rows := map[string][]string{}
	for _, l := range lines[1:] {
		if strings.HasPrefix(l, "[") {
			break
		}
		f := strings.Fields(l)
		rows[f[0]] = f
	}
	return rows
}

func TestFieldsFilters(t *testing.T) {
	fixture(t)
	res := runCmd(t, nil, nil, "fields", fixtureFinish, "--kind", "metric")
	require.Equal(t, exitOK, res.code, res.stderr)
	rows := fieldRows(t, res.stdout)
	require.Len(t, rows, 3)
	for p, r := range rows {
		require.Equal(t, "metric", r[1], p)
	}
	loss := rows["train/loss"]
	require.Equal(t, []string{"train/loss", "metric", "60", "0..59"}, loss[:4], "a step written twice counts once")
	require.Contains(t, loss[4], sparkNonFinite, "the NaN and the +Inf show")
	require.Equal(t, "0.16268617", loss[5])

	res = runCmd(t, nil, nil, "fields", fixtureFinish, "--kind=config", "--prefix", "sys/")
	require.Equal(t, exitOK, res.code, res.stderr)
	rows = fieldRows(t, res.stdout)
	require.Len(t, rows, 7)
	for p, r := range rows {
		require.True(t, strings.HasPrefix(p, "sys/"), p)
		require.Equal(t, "config", r[1], p)
	}
	require.Equal(t, `"finished" (str)`, strings.Join(rows["sys/state"][4:], " "))

	res = runCmd(t, nil, nil, "fields", fixtureFinish, "--kind", "string")
	rows = fieldRows(t, res.stdout)
	require.Len(t, rows, 1)
	require.Contains(t, res.stdout, `"done, with \"quotes\", a tab\tand unicode ✓"`)

	res = runCmd(t, nil, nil, "fields", fixtureFinish, "--prefix", "nothing/")
	require.Equal(t, exitOK, res.code)
	require.Contains(t, res.stdout, "(no fields match)")

	res = runCmd(t, nil, nil, "fields", fixtureFinish, "--kind", "bogus")
	require.Equal(t, exitError, res.code)
	require.Contains(t, res.stderr, `--kind "bogus"`)
}

// TestFieldsDamaged: a damaged block is skipped and noted; the rest shows.
func TestFieldsDamaged(t *testing.T) {
	home := tempHomeCopy(t, fixture(t))
	dir := filepath.Join(home, "projects", "vision", "runs", "bold-falcon")
	rd, err := engine.OpenReader(dir, nil)
	require.NoError(t, err)
	ix := rd.Index()
	fi, _ := rd.Lookup("train/loss", engine.KindMetric)
	ords := ix.FieldBlocks(fi.ID)
	b := ix.Blocks[ords[1]]
	require.NoError(t, rd.Close())
	flipByteAt(t, filepath.Join(dir, "00000001-0000000000000001.seg"), b.Offset+b.Size/2)

	res := runCmd(t, nil, nil, "fields", dir, "--kind", "metric")
	require.Equal(t, exitOK, res.code, res.stderr)
	rows := fieldRows(t, res.stdout)
	require.Len(t, rows, 3)
	require.Regexp(t, `^\[\d\]$`, rows["train/loss"][3], "the count is marked with its note")
	require.Regexp(t, `\[\d\] damaged blocks skipped: train/loss: .*checksum`, res.stdout)
	_, err = os.Stat(dir)
	require.NoError(t, err)
}

func TestSparkline(t *testing.T) {
	var c series.MetricColumns
	for i := range 48 {
		c.Append(float64(i), float64(i), 0)
	}
	s := []rune(sparkline(&c, 24))
	require.Len(t, s, 24)
	require.Equal(t, '▁', s[0])
	require.Equal(t, '█', s[23])
	for i := 1; i < len(s); i++ {
		require.LessOrEqual(t, s[i-1], s[i], "a rising series rises: %s", string(s))
	}

	c.Values[10] = math.NaN()
	c.Values[40] = math.Inf(-1)
	s = []rune(sparkline(&c, 24))
	require.Len(t, s, 24)
	require.Equal(t, sparkNonFinite, string(s[5]))
	require.Equal(t, sparkNonFinite, string(s[20]))

	c.Reset()
	for i := range 5 {
		c.Append(float64(i), 7, 0)
	}
	require.Equal(t, "▅▅▅▅▅", sparkline(&c, 24), "a flat series sits mid-height")
}

func TestFieldsHelp(t *testing.T) {
	res := runCmd(t, nil, nil, "fields", "-h")
	require.Equal(t, exitOK, res.code)
	require.Contains(t, res.stdout, "example:\n  gsinspect fields")
	require.Contains(t, res.stdout, sparkNonFinite)
}
