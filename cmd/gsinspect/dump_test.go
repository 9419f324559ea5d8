package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/series"
)

func TestDumpGolden(t *testing.T) {
	fixture(t)
	res := runCmd(t, nil, nil, "dump", fixtureFinish)
	require.Equal(t, exitOK, res.code, res.stderr)
	checkGolden(t, "dump-all.jsonl", res.stdout)

	res = runCmd(t, nil, nil, "dump", fixtureFinish, "--path", "train/loss", "--path", "notes", "--format", "csv")
	require.Equal(t, exitOK, res.code, res.stderr)
	checkGolden(t, "dump-loss-notes.csv", res.stdout)
}

// TestDumpJSONL: every line is a JSON object; the counts match the run;
// NaN and the infinities come back as the documented strings; every
// finite value and step parses back to the exact float64.
func TestDumpJSONL(t *testing.T) {
	fixture(t)
	rd, err := engine.OpenReader(fixtureFinish, nil)
	require.NoError(t, err)
	defer rd.Close()

	res := runCmd(t, nil, nil, "dump", fixtureFinish)
	require.Equal(t, exitOK, res.code, res.stderr)
	counts := map[string]int{}
	var loss []map[string]any
	for _, line := range strings.Split(strings.TrimSuffix(res.stdout, "\n"), "\n") {
		var obj map[string]any
		dec := json.NewDecoder(strings.NewReader(line))
		dec.UseNumber()
		require.NoError(t, dec.Decode(&obj), line)
		switch {
		case obj["meta"] != nil:
			counts["meta"]++
		case obj["kind"] == "config":
			counts["config"]++
			require.NotEmpty(t, obj["type"], line)
		default:
			counts[obj["path"].(string)]++
			if obj["path"] == "train/loss" {
				loss = append(loss, obj)
			}
		}
		require.Contains(t, obj, "time", line)
	}
	require.Equal(t, len(rd.Meta()), counts["meta"])
	require.Equal(t, len(rd.Configs()), counts["config"])
	var mc series.MetricColumns
	for _, p := range []string{"train/loss", "train/acc", "train/lr"} {
		require.NoError(t, rd.ReadMetric(p, &mc))
		require.Equal(t, mc.Len(), counts[p], p)
	}
	require.Equal(t, 4, counts["notes"])

	require.NoError(t, rd.ReadMetric("train/loss", &mc))
	require.Len(t, loss, mc.Len())
	for i, obj := range loss {
		step, err := strconv.ParseFloat(string(obj["step"].(json.Number)), 64)
		require.NoError(t, err)
		require.Equal(t, mc.Steps[i], step)
		want := mc.Values[i]
		switch v := obj["value"].(type) {
		case string:
			require.Equal(t, map[bool]string{true: "NaN", false: "Infinity"}[math.IsNaN(want)], v, "step %v", step)
			require.True(t, math.IsNaN(want) || math.IsInf(want, 1))
		case json.Number:
			got, err := strconv.ParseFloat(string(v), 64)
			require.NoError(t, err)
			require.Equal(t, math.Float64bits(want), math.Float64bits(got), "step %v", step)
		}
	}
	require.Equal(t, "NaN", loss[17]["value"])
	require.Equal(t, "Infinity", loss[31]["value"])
	require.Equal(t, json.Number("0.25"), loss[10]["value"], "the last write of step 10 wins")

	// --configs and --meta alone: no points.
	res = runCmd(t, nil, nil, "dump", fixtureFinish, "--configs", "--meta")
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Equal(t, len(rd.Meta())+len(rd.Configs()), strings.Count(res.stdout, "\n"))
	require.Contains(t, res.stdout, `{"path":"model/dropout","kind":"config","type":"float","value":"NaN",`)
	require.Contains(t, res.stdout, `"type":"string_set","value":["color jitter","crop","flip"]`)
	require.Contains(t, res.stdout, `{"meta":"status","value":"finished",`)

	// A config by --path.
	res = runCmd(t, nil, nil, "dump", fixtureFinish, "--path", "optimizer/lr")
	require.Equal(t, exitOK, res.code, res.stderr)
	require.Regexp(t, `^\{"path":"optimizer/lr","kind":"config","type":"float","value":0.001,"time":"[^"]+Z"\}\n$`, res.stdout)
}

func TestDumpCSV(t *testing.T) {
	fixture(t)
	rd, err := engine.OpenReader(fixtureFinish, nil)
	require.NoError(t, err)
	defer rd.Close()
	res := runCmd(t, nil, nil, "dump", fixtureFinish, "--format", "csv")
	require.Equal(t, exitOK, res.code, res.stderr)
	recs, err := csv.NewReader(strings.NewReader(res.stdout)).ReadAll()
	require.NoError(t, err)
	require.Equal(t, []string{"path", "kind", "step", "value", "time"}, recs[0])
	var points int
	var mc series.MetricColumns
	for _, p := range []string{"train/loss", "train/acc", "train/lr"} {
		require.NoError(t, rd.ReadMetric(p, &mc))
		points += mc.Len()
	}
	points += 4 // notes
	require.Len(t, recs, 1+len(rd.Meta())+len(rd.Configs())+points)
	var sawNaN, sawInf, sawNote bool
	for _, r := range recs[1:] {
		require.Len(t, r, 5)
		if r[0] == "train/loss" {
			v, err := strconv.ParseFloat(r[3], 64)
			require.NoError(t, err, "Go parses NaN and Infinity: %q", r[3])
			sawNaN = sawNaN || math.IsNaN(v)
			sawInf = sawInf || math.IsInf(v, 1)
		}
		if r[0] == "notes" && r[2] == "59" {
			require.Equal(t, "done, with \"quotes\", a tab\tand unicode ✓", r[3], "quoting round-trips")
			sawNote = true
		}
	}
	require.True(t, sawNaN && sawInf && sawNote)
}

func TestDumpErrors(t *testing.T) {
	fixture(t)
	res := runCmd(t, nil, nil, "dump", fixtureFinish, "--path", "nope/x")
	require.Equal(t, exitError, res.code)
	require.Contains(t, res.stderr, `no field "nope/x" in run bold-falcon`)
	require.Empty(t, res.stdout)

	res = runCmd(t, nil, nil, "dump", fixtureFinish, "--format", "xml")
	require.Equal(t, exitError, res.code)
	require.Contains(t, res.stderr, `--format "xml"`)

	res = runCmd(t, nil, nil, "dump")
	require.Equal(t, exitError, res.code)
}

// TestDumpDamaged: a damaged block's points are skipped, the rest dumped,
// the damage reported on stderr, exit status 1.
func TestDumpDamaged(t *testing.T) {
	home := tempHomeCopy(t, fixture(t))
	dir := filepath.Join(home, "projects", "vision", "runs", "bold-falcon")
	rd, err := engine.OpenReader(dir, nil)
	require.NoError(t, err)
	ix := rd.Index()
	fi, _ := rd.Lookup("train/loss", engine.KindMetric)
	b := ix.Blocks[ix.FieldBlocks(fi.ID)[1]]
	require.NoError(t, rd.Close())
	flipByteAt(t, filepath.Join(dir, "00000001-0000000000000001.seg"), b.Offset+b.Size/2)

	res := runCmd(t, nil, nil, "dump", dir, "--path", "train/loss")
	require.Equal(t, exitDamage, res.code)
	require.Contains(t, res.stderr, "damaged blocks skipped: train/loss:")
	n := strings.Count(res.stdout, "\n")
	require.Greater(t, n, 0)
	require.Less(t, n, 60)
}

// TestJSONAppenders: the hand-built JSON matches encoding/json.
func TestJSONAppenders(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote\back`, "ctl\x00\x01\x1f\x7f", "nl\n\r\t", "<html>&", "bad\xffutf8", "\u2028\u2029", "✓ é 漢字 😀"} {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		require.NoError(t, enc.Encode(s))
		got := appendJSONString(nil, s)
		var back string
		require.NoError(t, json.Unmarshal(got, &back), "%s", got)
		require.Equal(t, strings.TrimSuffix(want.String(), "\n"), string(got), "%q", s)
	}
	for _, v := range []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 1e-7, 1.5e-9, 123456789, 1e20, 1e21, 1e300, math.SmallestNonzeroFloat64, math.MaxFloat64, float64(float32(0.4321))} {
		want, err := json.Marshal(v)
		require.NoError(t, err)
		require.Equal(t, string(want), string(appendJSONFloat(nil, v)), "%v", v)
	}
	require.Equal(t, `"NaN"`, string(appendJSONFloat(nil, math.NaN())))
	require.Equal(t, `"Infinity"`, string(appendJSONFloat(nil, math.Inf(1))))
	require.Equal(t, `"-Infinity"`, string(appendJSONFloat(nil, math.Inf(-1))))
}

func TestDumpHelp(t *testing.T) {
	res := runCmd(t, nil, nil, "dump", "--help")
	require.Equal(t, exitOK, res.code)
	require.Contains(t, res.stdout, "example:\n  gsinspect dump")
	require.Contains(t, res.stdout, `"Infinity"`)
}
