package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/internal/vfs"
	"github.com/goodseed/goodseed-go/segment"
	"github.com/goodseed/goodseed-go/series"
)

// forensicRun is a run written byte for byte at test time: segments made
// with package segment from records encoded here as docs/format/run.md
// lays them out, with fixed times, so every offset and size in the output
// of verify, blocks and recover is the same on every run of the test. The
// engine only adds the index (and a LOCK), by opening and closing it.
//
//	00000001-0000000000000001.seg  A: 4 field definitions, a config, meta, 3 chunks (seq 0..8)
//	                               B: 2 chunks, steps 10..19 (seq 9..10)
//	00000001-0000000000000002.seg  C: 2 chunks, steps 20..29 (seq 11..12)
//	                               D: a field definition, a set operation, meta (seq 13..15)
type forensicRun struct {
	dir    string
	seg1   string // paths
	seg2   string
	blocks map[string][]segment.BlockMeta // by base name
}

const forensicT0 = 1767323045000 // 2026-01-02T03:04:05Z, Unix ms

func forensicRecord(kind byte, body []byte) []byte {
	b := binary.AppendUvarint([]byte{kind}, uint64(len(body)))
	return append(b, body...)
}

func forensicDef(id uint32, kind engine.FieldKind, path string) []byte {
	body := append(binary.AppendUvarint(nil, uint64(id)), byte(kind))
	return forensicRecord(byte(engine.RecFieldDef), append(body, path...))
}

func forensicMetric(id uint32, from, to int, value func(int) float64) []byte {
	var c series.MetricColumns
	for i := from; i <= to; i++ {
		c.Steps = append(c.Steps, float64(i))
		c.Values = append(c.Values, value(i))
		c.TimesMs = append(c.TimesMs, forensicT0+int64(i)*10)
	}
	body := series.AppendMetricChunk(binary.AppendUvarint(nil, uint64(id)), &c)
	return forensicRecord(byte(engine.RecMetricChunk), body)
}

func forensicText(id uint32, steps []float64, texts []string) []byte {
	c := series.StringColumns{Steps: steps, Values: texts}
	for _, st := range steps {
		c.TimesMs = append(c.TimesMs, forensicT0+int64(st)*10)
	}
	body := series.AppendStringChunk(binary.AppendUvarint(nil, uint64(id)), &c)
	return forensicRecord(byte(engine.RecStringChunk), body)
}

func forensicConfigFloat(id uint32, v float64) []byte {
	body := binary.AppendVarint(binary.AppendUvarint(nil, uint64(id)), forensicT0)
	body = binary.LittleEndian.AppendUint64(append(body, byte(engine.TypeFloat)), math.Float64bits(v))
	return forensicRecord(byte(engine.RecConfig), body)
}

func forensicSetAdd(id uint32, items ...string) []byte {
	body := binary.AppendVarint(binary.AppendUvarint(nil, uint64(id)), forensicT0+300)
	body = binary.AppendUvarint(append(body, engine.SetAdd), uint64(len(items)))
	for _, it := range items {
		body = append(binary.AppendUvarint(body, uint64(len(it))), it...)
	}
	return forensicRecord(byte(engine.RecSetOp), body)
}

func forensicMeta(ms int64, key, val string) []byte {
	body := binary.AppendUvarint(binary.AppendVarint(nil, ms), uint64(len(key)))
	return forensicRecord(byte(engine.RecMeta), append(append(body, key...), val...))
}

func forensicLoss(i int) float64 { return float64(float32(2 / (1 + float64(i)/10))) }
func forensicLR(i int) float64   { return 0.001 * math.Pow(0.5, float64(i/10)) }

// writeForensicRun writes the run into a fresh directory.
func writeForensicRun(t *testing.T) *forensicRun {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "forensic-run")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	fr := &forensicRun{dir: dir, blocks: map[string][]segment.BlockMeta{}}
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	type block struct {
		first, last uint64
		recs        [][]byte
	}
	for seq, blocks := range [][]block{
		{
			{0, 8, [][]byte{
				forensicDef(0, engine.KindMetric, "train/loss"), forensicDef(1, engine.KindMetric, "lr"),
				forensicDef(2, engine.KindString, "notes"), forensicDef(3, engine.KindConfig, "params/lr"),
				forensicConfigFloat(3, 0.001), forensicMeta(forensicT0, "status", "running"),
				forensicMetric(0, 0, 9, forensicLoss), forensicMetric(1, 0, 9, forensicLR),
				forensicText(2, []float64{0, 5}, []string{"starting", "warm-up done"}),
			}},
			{9, 10, [][]byte{forensicMetric(0, 10, 19, forensicLoss), forensicMetric(1, 10, 19, forensicLR)}},
		},
		{
			{11, 12, [][]byte{forensicMetric(0, 20, 29, forensicLoss), forensicMetric(1, 20, 29, forensicLR)}},
			{13, 15, [][]byte{forensicDef(4, engine.KindConfig, "tags"), forensicSetAdd(4, "b", "a"), forensicMeta(forensicT0+400, "status", "finished")}},
		},
	} {
		h := segment.Header{RunID: "forensic-run", WriterID: 1, Seq: uint64(seq + 1), Created: created.Add(time.Duration(seq) * time.Minute)}
		w, err := segment.Create(vfs.Default, dir, h, segment.WriterOptions{})
		require.NoError(t, err)
		for _, b := range blocks {
			m, err := w.Append(1, uint32(len(b.recs)), b.first, b.last, []byte(strings.Join(bytesToStrings(b.recs), "")))
			require.NoError(t, err)
			fr.blocks[filepath.Base(w.Path())] = append(fr.blocks[filepath.Base(w.Path())], m)
		}
		require.NoError(t, w.Seal())
	}
	fr.seg1 = filepath.Join(dir, segment.SegmentName(1, 1))
	fr.seg2 = filepath.Join(dir, segment.SegmentName(1, 2))
	// The engine writes the index: open for writing, close.
	s, err := engine.Open(dir, engine.Options{FlushInterval: time.Hour})
	require.NoError(t, err)
	require.True(t, s.Recovery().Clean(), "%+v", s.Recovery())
	require.NoError(t, s.Close())
	return fr
}

func bytesToStrings(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = string(b)
	}
	return out
}

// block returns the i-th block of a segment (base name).
func (fr *forensicRun) block(seg string, i int) segment.BlockMeta {
	return fr.blocks[filepath.Base(seg)][i]
}

// size is the total size of the run's files: what verify says it checked.
func (fr *forensicRun) size(t *testing.T) int64 {
	t.Helper()
	var n int64
	ents, err := os.ReadDir(fr.dir)
	require.NoError(t, err)
	for _, de := range ents {
		fi, err := de.Info()
		require.NoError(t, err)
		n += fi.Size()
	}
	return n
}

// flip flips one bit of a file.
func flipBit(t *testing.T, path string, off int64, mask byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	b[off] ^= mask
	require.NoError(t, os.WriteFile(path, b, 0o644))
}

func TestVerifyClean(t *testing.T) {
	fr := writeForensicRun(t)
	res := runCmd(t, nil, nil, "verify", fr.dir)
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Equal(t, fmt.Sprintf("checked 2 segments, 4 blocks, 16 records, %d bytes: no damage, 0 warnings, 0 info\n", fr.size(t)), res.stdout)
	require.Empty(t, res.stderr)

	res = runCmd(t, nil, nil, "verify", fr.seg1)
	require.Equal(t, exitOK, res.code, res.stderr)
	fi, err := os.Stat(fr.seg1)
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf("checked 1 segment, 2 blocks, 11 records, %d bytes: no damage, 0 warnings, 0 info\n", fi.Size()), res.stdout)
}

func TestVerifyDamage(t *testing.T) {
	fr := writeForensicRun(t)
	b := fr.block(fr.seg1, 1)
	flipBit(t, fr.seg1, b.Offset+48, 0x08) // in the payload
	want := fmt.Sprintf("DAMAGE   block-checksum   00000001-0000000000000001.seg @ %d (+%d bytes): block checksum mismatch: its 2 records (seq 9..10) are lost\n"+
		"checked 2 segments, 3 blocks, 14 records, %d bytes: 1 damage finding, 0 warnings, 0 info\n", b.Offset, b.Size, fr.size(t))
	res := runCmd(t, nil, nil, "verify", fr.dir)
	require.Equal(t, exitDamage, res.code, res.stderr)
	require.Equal(t, want, res.stdout)

	// One segment: the same line, the segment's own summary.
	res = runCmd(t, nil, nil, "verify", fr.seg1)
	require.Equal(t, exitDamage, res.code)
	require.True(t, strings.HasPrefix(res.stdout, strings.SplitAfter(want, "\n")[0]), res.stdout)

	// --json: one document, stable keys.
	res = runCmd(t, nil, nil, "verify", "--json", fr.dir)
	require.Equal(t, exitDamage, res.code)
	var doc struct {
		Run      string `json:"run"`
		Findings []struct {
			Severity, Kind, File, Detail string
			Offset, Length               int64
		} `json:"findings"`
		Summary map[string]any `json:"summary"`
	}
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &doc), res.stdout)
	require.Equal(t, fr.dir, doc.Run)
	require.Len(t, doc.Findings, 1)
	f := doc.Findings[0]
	require.Equal(t, []any{"damage", "block-checksum", "00000001-0000000000000001.seg", b.Offset, b.Size},
		[]any{f.Severity, f.Kind, f.File, f.Offset, f.Length})
	require.Equal(t, map[string]any{"segments": 2.0, "blocks": 3.0, "records": 14.0, "bytes": float64(fr.size(t)),
		"damage": 1.0, "warnings": 0.0, "info": 0.0, "clean": false}, doc.Summary)
	for _, key := range []string{`"severity"`, `"kind"`, `"file"`, `"offset"`, `"length"`, `"detail"`} {
		require.Contains(t, res.stdout, key)
	}
}

// TestVerifyTornBelowMark: the same cut where the writer's mark vouches
// for the bytes (they were written and acknowledged) is damage, exit
// status 1, and recover says what it lost — it used to read as a torn
// tail, exit 0, and "a clean run holding everything RUN held".
func TestVerifyTornBelowMark(t *testing.T) {
	fr := writeForensicRun(t)
	require.NoError(t, os.Remove(filepath.Join(fr.dir, "index")))
	d := fr.block(fr.seg2, 1)
	require.NoError(t, os.Truncate(fr.seg2, d.Offset+20))
	res := runCmd(t, nil, nil, "verify", fr.dir)
	require.Equal(t, exitDamage, res.code, res.stdout+res.stderr)
	require.Contains(t, res.stdout, fmt.Sprintf("DAMAGE   torn-tail        00000001-0000000000000002.seg @ %d (+20 bytes)", d.Offset))
	require.Contains(t, res.stdout, "its writer's mark vouches for")
	out := filepath.Join(t.TempDir(), "recovered")
	res = runCmd(t, nil, nil, "recover", fr.dir, out)
	require.Equal(t, exitDamage, res.code, res.stdout+res.stderr)
	require.NotContains(t, res.stdout, "everything RUN held")
}

// TestVerifyWarningsOnly: a crash leftover is a warning, exit status 0.
// The writer was killed mid-write, before its mark vouched for the block:
// here, a run without the mark.
func TestVerifyWarningsOnly(t *testing.T) {
	fr := writeForensicRun(t)
	require.NoError(t, os.Remove(filepath.Join(fr.dir, "index")))
	require.NoError(t, os.Remove(filepath.Join(fr.dir, engine.MarkFileName(1))))
	d := fr.block(fr.seg2, 1)
	require.NoError(t, os.Truncate(fr.seg2, d.Offset+20))
	res := runCmd(t, nil, nil, "verify", fr.dir)
	require.Equal(t, exitOK, res.code, res.stdout+res.stderr)
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	require.Equal(t, []string{
		fmt.Sprintf("WARNING  torn-tail        00000001-0000000000000002.seg @ %d (+20 bytes): the last 20 bytes do not form a whole block: "+
			"a crash mid-write leaves this; the next writer cuts it and keeps the bytes aside", d.Offset),
		"INFO     index-missing    index: index missing; readers rebuild it from the segments",
		fmt.Sprintf("checked 2 segments, 3 blocks, 13 records, %d bytes: no damage, 1 warning, 1 info", fr.size(t)),
	}, lines)

	res = runCmd(t, nil, nil, "verify", "--json", fr.dir)
	require.Equal(t, exitOK, res.code)
	var doc verifyJSON
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &doc))
	require.Len(t, doc.Findings, 2)
	require.Equal(t, "warning", doc.Findings[0].Severity)
	require.True(t, doc.Summary.Clean)
}

func TestVerifyErrors(t *testing.T) {
	fr := writeForensicRun(t)
	for _, tc := range []struct {
		name string
		args []string
		in   string // in stderr
	}{
		{"no argument", []string{"verify"}, "verify takes one argument"},
		{"two arguments", []string{"verify", fr.dir, fr.dir}, "verify takes one argument"},
		{"missing", []string{"verify", filepath.Join(fr.dir, "nope")}, "no such directory"},
		{"not a run", []string{"verify", t.TempDir()}, "not a GoodSeed run directory"},
		{"unknown flag", []string{"verify", "--frob", fr.dir}, "flag provided but not defined"},
	} {
		res := runCmd(t, nil, nil, tc.args...)
		require.Equal(t, exitError, res.code, tc.name)
		require.Contains(t, res.stderr, tc.in, tc.name)
	}
	res := runCmd(t, nil, nil, "verify", "--help")
	require.Equal(t, exitOK, res.code)
	require.Contains(t, res.stdout, "gsinspect verify vision/bold-falcon")
	require.Contains(t, res.stdout, "-json")
}

// TestVerifyProjectRun resolves project/run_id under the home.
func TestVerifyProjectRun(t *testing.T) {
	fr := writeForensicRun(t)
	home := t.TempDir()
	runs := filepath.Join(home, "projects", "vision", "runs")
	require.NoError(t, os.MkdirAll(runs, 0o755))
	require.NoError(t, os.Rename(fr.dir, filepath.Join(runs, "forensic-run")))
	res := runCmd(t, nil, []string{"GOODSEED_HOME=" + home}, "verify", "vision/forensic-run")
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Contains(t, res.stdout, "no damage")
}

// TestVerifyProgressAndSegmentJSON: on a terminal a bar over the bytes read
// goes to stderr and is cleared; --json of a segment names the segment.
func TestVerifyProgressAndSegmentJSON(t *testing.T) {
	fr := writeForensicRun(t)
	var out, errb strings.Builder
	e := &env{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }, terminal: true}
	require.Equal(t, exitOK, execute(e, []string{"verify", fr.dir}))
	require.Contains(t, errb.String(), "verify [##############################] 100%")
	require.True(t, strings.HasSuffix(errb.String(), "\r"), "the bar is cleared")
	require.True(t, strings.HasPrefix(out.String(), "checked 2 segments"))

	res := runCmd(t, nil, nil, "verify", "--json", fr.seg2)
	require.Equal(t, exitOK, res.code)
	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &doc))
	require.Equal(t, fr.seg2, doc["segment"])
	require.NotContains(t, doc, "run")
	require.Equal(t, []any{}, doc["findings"])
}
