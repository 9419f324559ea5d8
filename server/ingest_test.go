package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// v1DecodedPoint is a decoded point with its path resolved, for comparing.
type v1DecodedPoint struct {
	Path   string
	Step   float64
	TimeMs int64
	IsText bool
	Value  float64
	Text   string
}

func v1Points(b *ingestBatch) []v1DecodedPoint {
	out := []v1DecodedPoint{}
	for _, p := range b.points {
		out = append(out, v1DecodedPoint{b.paths[p.path], p.step, p.timeMs, p.isText, p.value, p.text})
	}
	return out
}

func v1EqualPoints(a, b []v1DecodedPoint) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Path != y.Path || math.Float64bits(x.Step) != math.Float64bits(y.Step) || x.TimeMs != y.TimeMs || x.IsText != y.IsText || x.Text != y.Text ||
			math.Float64bits(x.Value) != math.Float64bits(y.Value) && !(math.IsNaN(x.Value) && math.IsNaN(y.Value)) {
			return false
		}
	}
	return true
}

func decodeJSONPoints(data []byte) ([]v1DecodedPoint, error) {
	b := getBatch()
	defer putBatch(b)
	if err := decodeJSONIngest(data, b); err != nil {
		return nil, err
	}
	return v1Points(b), nil
}

func TestDecodeJSONIngest(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	for _, tc := range []struct {
		name string
		in   string
		want []v1DecodedPoint
	}{
		{"python", `{"points": [{"path": "a/b", "step": 3, "timestampMs": 1700000000123, "number": 0.25}, {"path": "t", "step": 4, "timestampMs": 5, "text": "hi"}]}`,
			[]v1DecodedPoint{{"a/b", 3, 1700000000123, false, 0.25, ""}, {"t", 4, 5, true, 0, "hi"}}},
		{"compact", `{"points":[{"path":"a","step":1,"timestampMs":2,"number":3}]}`, []v1DecodedPoint{{"a", 1, 2, false, 3, ""}}},
		{"nan-literals", `{"points": [{"path": "a", "step": 1, "number": NaN}, {"path": "a", "step": 2, "number": Infinity}, {"path": "a", "step": 3, "number": -Infinity}]}`,
			[]v1DecodedPoint{{"a", 1, ingestNoTime, false, nan, ""}, {"a", 2, ingestNoTime, false, inf, ""}, {"a", 3, ingestNoTime, false, -inf, ""}}},
		{"nan-strings", `{"points": [{"path": "a", "step": 1, "number": "NaN"}, {"path": "a", "step": 2, "number": "-Infinity"}]}`,
			[]v1DecodedPoint{{"a", 1, ingestNoTime, false, nan, ""}, {"a", 2, ingestNoTime, false, -inf, ""}}},
		{"escapes", `{"points": [{"path": "p\u00e9\/x", "step": 0, "text": "\"\\\b\f\n\r\t\ud83d\ude80\u00e9 \ud800"}]}`,
			[]v1DecodedPoint{{"pé/x", 0, ingestNoTime, true, 0, "\"\\\b\f\n\r\t🚀é \uFFFD"}}},
		{"raw-utf8", `{"points": [{"path": "π", "step": 0, "text": "日本語"}]}`, []v1DecodedPoint{{"π", 0, ingestNoTime, true, 0, "日本語"}}},
		{"unknown-keys-skipped", `{"meta": {"x": [1, {"y": NaN}, "s", true, null, -Infinity]}, "points": [{"extra": {"a": [[]]}, "path": "a", "step": 1.5, "number": -2e-3, "z": null}], "tail": 1}`,
			[]v1DecodedPoint{{"a", 1.5, ingestNoTime, false, -2e-3, ""}}},
		{"null-is-absent", `{"points": [{"path": "a", "step": 1, "number": null, "text": "x", "timestampMs": null}]}`,
			[]v1DecodedPoint{{"a", 1, ingestNoTime, true, 0, "x"}}},
		{"last-key-wins", `{"points": [{"path": "a", "path": "b", "step": 1, "step": 2, "number": 1, "number": 5}]}`,
			[]v1DecodedPoint{{"b", 2, ingestNoTime, false, 5, ""}}},
		{"points-repeated", `{"points": [{"path": "a", "step": 1, "number": 1}], "points": [{"path": "b", "step": 2, "number": 2}]}`,
			[]v1DecodedPoint{{"b", 2, ingestNoTime, false, 2, ""}}},
		{"points-null", `{"points": null}`, []v1DecodedPoint{}},
		{"no-points", ` { } `, []v1DecodedPoint{}},
		{"empty-array", `{"points": []}`, []v1DecodedPoint{}},
		{"big-numbers", `{"points": [{"path": "a", "step": 12345678901234567, "timestampMs": 9223372036854775807, "number": 1e308}, {"path": "a", "step": -5, "timestampMs": 1.9e3, "number": -0}]}`,
			[]v1DecodedPoint{{"a", 12345678901234567, math.MaxInt64, false, 1e308, ""}, {"a", -5, 1900, false, math.Copysign(0, -1), ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeJSONPoints([]byte(tc.in))
			require.NoError(t, err)
			require.True(t, v1EqualPoints(tc.want, got), "want %+v\ngot  %+v", tc.want, got)
		})
	}
}

func TestDecodeJSONIngestRejects(t *testing.T) {
	deep := `{"points": [], "x": ` + strings.Repeat("[", ingestMaxJSONDepth) + strings.Repeat("]", ingestMaxJSONDepth) + `}`
	okDeep := `{"points": [], "x": ` + strings.Repeat("[", ingestMaxJSONDepth-1) + strings.Repeat("]", ingestMaxJSONDepth-1) + `}`
	_, err := decodeJSONPoints([]byte(okDeep))
	require.NoError(t, err, "nesting up to the limit is accepted")
	for _, in := range []string{
		``, ` `, `[]`, `null`, `{`, `{"points": [`, `{"points": [}`, `{"points": {}}`, `{"points": [1]}`,
		`{"points": [null]}`, `{"points": [{}]}`,
		`{"points": [{"step": 1, "number": 1}]}`,                           // no path
		`{"points": [{"path": "a", "number": 1}]}`,                         // no step
		`{"points": [{"path": "a", "step": 1}]}`,                           // neither value
		`{"points": [{"path": "a", "step": 1, "number": 1, "text": "x"}]}`, // both values
		`{"points": [{"path": 1, "step": 1, "number": 1}]}`,                // path not a string
		`{"points": [{"path": "a", "step": "1", "number": 1}]}`,            // step not a number
		`{"points": [{"path": "a", "step": 1, "number": "1"}]}`,            // number as a string
		`{"points": [{"path": "a", "step": 1, "number": true}]}`,           // number as a bool
		`{"points": [{"path": "a", "step": 1, "text": 5}]}`,                // text not a string
		`{"points": [{"path": "a", "step": NaN, "number": 1}]}`,            // the literals are for values
		`{"points": [{"path": "a", "step": 1e999, "number": 1}]}`,          // out of range
		`{"points": [{"path": "a", "step": 1, "number": 1e999}]}`,          // out of range
		`{"points": [{"path": "a", "step": 1, "timestampMs": 1e19, "number": 1}]}`,
		`{"points": [{"path": "a", "step": 1, "timestampMs": 9223372036854775808, "number": 1}]}`,
		`{"points": [{"path": "a", "step": 01, "number": 1}]}`,               // leading zero
		`{"points": [{"path": "a", "step": 1., "number": 1}]}`,               // bare '.'
		`{"points": [{"path": "a", "step": .5, "number": 1}]}`,               //
		`{"points": [{"path": "a", "step": 1e, "number": 1}]}`,               //
		`{"points": [{"path": "a", "step": +1, "number": 1}]}`,               //
		`{"points": [{"path": "a", "step": 1, "number": nan}]}`,              // Python writes NaN
		`{"points": [{"path": "a", "step": 1, "number": 1},]}`,               // trailing comma
		`{"points": [{"path": "a", "step": 1, "number": 1,}]}`,               //
		`{"points": [{"path": "a" "step": 1, "number": 1}]}`,                 // missing comma
		`{"points": [{"path": "a\x", "step": 1, "number": 1}]}`,              // bad escape
		`{"points": [{"path": "a\u12", "step": 1, "number": 1}]}`,            // short \u
		"{\"points\": [{\"path\": \"a\tb\", \"step\": 1, \"number\": 1}]}",   // raw control char
		"{\"points\": [{\"path\": \"a\xffb\", \"step\": 1, \"number\": 1}]}", // invalid UTF-8 path
		"{\"points\": [{\"path\": \"a\", \"step\": 1, \"text\": \"\xc3\"}]}", // invalid UTF-8 text
		`{"points": []} x`, `{"points": []}{}`, `{'points': []}`, `{points: []}`,
		`{"points": [], "x": tru}`, `{"points": [], "x": nul}`, `{"points": [], "x": [1 2]}`, `{"points": [], "x": "unterminated}`,
		deep,
	} {
		_, err := decodeJSONPoints([]byte(in))
		require.Error(t, err, "%.80q", in)
	}
}

// v1ReferenceJSONPoints decodes an ingest body with encoding/json and the
// semantics of the ingest doc comment: the independent model the fuzz
// target checks the hand-written decoder against.
func v1ReferenceJSONPoints(data []byte) ([]v1DecodedPoint, bool) {
	r := bytes.NewReader(data)
	dec := json.NewDecoder(r)
	dec.UseNumber()
	var top any
	if err := dec.Decode(&top); err != nil {
		return nil, false
	}
	rest, _ := io.ReadAll(io.MultiReader(dec.Buffered(), r))
	if len(bytes.TrimLeft(rest, " \t\r\n")) > 0 {
		return nil, false // more after the value
	}
	obj, ok := top.(map[string]any)
	if !ok {
		return nil, false
	}
	out := []v1DecodedPoint{}
	raw, ok := obj["points"]
	if !ok || raw == nil {
		return out, true
	}
	arr, ok := raw.([]any)
	if !ok {
		return nil, false
	}
	num := func(v any) (float64, bool) {
		n, ok := v.(json.Number)
		if !ok {
			return 0, false
		}
		f, err := strconv.ParseFloat(string(n), 64)
		return f, err == nil
	}
	for _, e := range arr {
		po, ok := e.(map[string]any)
		if !ok {
			return nil, false
		}
		p := v1DecodedPoint{TimeMs: ingestNoTime}
		path, ok := po["path"].(string)
		if !ok {
			return nil, false
		}
		p.Path = path
		if p.Step, ok = num(po["step"]); !ok {
			return nil, false
		}
		if ts, present := po["timestampMs"]; present && ts != nil {
			n, ok := ts.(json.Number)
			if !ok {
				return nil, false
			}
			if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
				p.TimeMs = i
			} else if strings.ContainsAny(string(n), ".eE") {
				f, err := strconv.ParseFloat(string(n), 64)
				if err != nil || !(f >= -(1<<63) && f < 1<<63) {
					return nil, false
				}
				p.TimeMs = int64(f)
			} else {
				return nil, false
			}
		}
		nv, hasNum := po["number"]
		hasNum = hasNum && nv != nil
		tv, hasText := po["text"]
		hasText = hasText && tv != nil
		if hasNum == hasText {
			return nil, false
		}
		if hasText {
			if p.Text, ok = tv.(string); !ok {
				return nil, false
			}
			p.IsText = true
		} else if s, isStr := nv.(string); isStr {
			switch s {
			case "NaN":
				p.Value = math.NaN()
			case "Infinity":
				p.Value = math.Inf(1)
			case "-Infinity":
				p.Value = math.Inf(-1)
			default:
				return nil, false
			}
		} else if p.Value, ok = num(nv); !ok {
			return nil, false
		}
		out = append(out, p)
	}
	return out, true
}

// v1HasDuplicateKeys reports whether some object of data repeats a key
// (false when data is not JSON).
func v1HasDuplicateKeys(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		keys  map[string]bool
		isObj bool
		atKey bool
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if len(stack) > 0 && stack[len(stack)-1].isObj && stack[len(stack)-1].atKey {
			top := &stack[len(stack)-1]
			if k, ok := tok.(string); ok {
				if top.keys[k] {
					return true
				}
				top.keys[k] = true
				top.atKey = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, frame{keys: map[string]bool{}, isObj: true, atKey: true})
			continue
		case json.Delim('['):
			stack = append(stack, frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if len(stack) > 0 && stack[len(stack)-1].isObj {
			stack[len(stack)-1].atKey = true // a value ended: a key comes next
		}
	}
}

func v1JSONSeeds() []string {
	return []string{
		`{"points": [{"path": "train/loss", "step": 3, "timestampMs": 1700000000123, "number": 0.25}]}`,
		`{"points": [{"path": "a", "step": 1, "number": NaN}, {"path": "a", "step": 2, "number": -Infinity}]}`,
		`{"points": [{"path": "s", "step": 0, "timestampMs": 1, "text": "\ud83d\ude80 \"x\" \u00e9"}]}`,
		`{"x": {"y": [1, 2.5e-3, "z", null, true, false]}, "points": [{"path": "a", "step": -1, "number": "NaN", "k": [{}]}]}`,
		`{"points": null}`,
		`{"points": [{"path": "a", "path": null, "step": 1, "number": 1}]}`,
	}
}

// FuzzDecodeJSONIngest: the decoder never panics; whatever encoding/json
// accepts as an ingest body it decodes to the same points; and it accepts
// nothing else but Python's NaN/Infinity literals and the non-UTF-8 text
// encoding/json would silently replace.
func FuzzDecodeJSONIngest(f *testing.F) {
	for _, s := range v1JSONSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := decodeJSONPoints(data)
		want, ok := v1ReferenceJSONPoints(data)
		if !utf8.Valid(data) || v1HasDuplicateKeys(data) {
			return // encoding/json replaces bad UTF-8; a map keeps only a repeated key's last value
		}
		if ok {
			if err != nil {
				t.Fatalf("reference accepts, decoder refuses: %v\n%q", err, data)
			}
			if !v1EqualPoints(want, got) {
				t.Fatalf("points differ\nwant %+v\ngot  %+v\n%q", want, got, data)
			}
		}
		if err == nil && !ok && !bytes.Contains(data, []byte("NaN")) && !bytes.Contains(data, []byte("Infinity")) {
			t.Fatalf("decoder accepts what encoding/json refuses: %q", data)
		}
	})
}

// ---- bodies: limits, gzip ----

func TestIngestBodyLimits(t *testing.T) {
	_, c, _ := newV1Server(t, nil)
	id := c.ensureRun("ws", "p", "limits", nil)

	// Over 16 MiB as sent: 413 (the client never sends more).
	big := bytes.Repeat([]byte(" "), MaxBodyBytes+1)
	status, body := c.post("/api/v1/runs/"+id+"/ingest", big, "application/json", false)
	require.Equal(t, http.StatusRequestEntityTooLarge, status, "%s", body)
	require.Contains(t, string(body), "Request.TooLarge")

	// A gzip bomb: 64 members of 1 MiB of spaces, ~1 KiB each (gzip
	// readers concatenate members); expanding stops at the limit: 413.
	mib := v1PyGzip(t, bytes.Repeat([]byte(" "), 1<<20))
	bomb := bytes.Repeat(mib, 64)
	require.Less(t, len(bomb), 1<<20)
	req, _ := http.NewRequest(http.MethodPost, c.base+"/api/v1/runs/"+id+"/ingest", bytes.NewReader(bomb))
	req.Header.Set("Authorization", "Bearer "+v1TestKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	status, body = c.do(req)
	require.Equal(t, http.StatusRequestEntityTooLarge, status, "%s", body)
	require.Contains(t, string(body), "gzip-expanded")

	// Exactly 16 MiB expanded is fine: a valid body followed by 16 MiB
	// less its length of spaces, in members of the same kind.
	valid := v1PyIngestJSON([]string{v1PyMetricPoint("a", 1, 1, 1)})
	exact := append(v1PyGzip(t, valid), bytes.Repeat(mib, 15)...)
	exact = append(exact, v1PyGzip(t, bytes.Repeat([]byte(" "), 1<<20-len(valid)))...)
	req, _ = http.NewRequest(http.MethodPost, c.base+"/api/v1/runs/"+id+"/ingest", bytes.NewReader(exact))
	req.Header.Set("Authorization", "Bearer "+v1TestKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	status, body = c.do(req)
	require.Equal(t, http.StatusOK, status, "%s", body)
	// One byte more is too much.
	req, _ = http.NewRequest(http.MethodPost, c.base+"/api/v1/runs/"+id+"/ingest", bytes.NewReader(append(exact, v1PyGzip(t, []byte(" "))...)))
	req.Header.Set("Authorization", "Bearer "+v1TestKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	status, body = c.do(req)
	require.Equal(t, http.StatusRequestEntityTooLarge, status, "%s", body)

	// Broken gzip: 400.
	status, body = c.post("/api/v1/runs/"+id+"/ingest", []byte("not gzip at all"), "application/json", false)
	require.Equal(t, http.StatusBadRequest, status, "%s", body)
	req, _ = http.NewRequest(http.MethodPost, c.base+"/api/v1/runs/"+id+"/ingest", strings.NewReader("not gzip at all"))
	req.Header.Set("Authorization", "Bearer "+v1TestKey)
	req.Header.Set("Content-Encoding", "gzip")
	status, body = c.do(req)
	require.Equal(t, http.StatusBadRequest, status, "%s", body)
	require.Contains(t, string(body), "gzip")
	gz := v1PyGzip(t, valid)
	req, _ = http.NewRequest(http.MethodPost, c.base+"/api/v1/runs/"+id+"/ingest", bytes.NewReader(gz[:len(gz)-6]))
	req.Header.Set("Authorization", "Bearer "+v1TestKey)
	req.Header.Set("Content-Encoding", "gzip")
	status, body = c.do(req)
	require.Equal(t, http.StatusBadRequest, status, "a truncated gzip stream: %s", body)
}

// ---- benchmark ----

// v1BenchBatches builds gzip'd JSON ingest bodies as the Python client
// does: 10 metric series of a training loop (float32-ish losses and
// accuracies, a learning-rate schedule, counters), steps advancing batch
// to batch, timestamps ~10 ms apart.
func v1BenchBatches(b *testing.B, points, batches int) ([][]byte, int) {
	rng := rand.New(rand.NewPCG(1, 2))
	paths := []string{"train/loss", "train/acc", "train/lr", "train/grad_norm", "train/tokens",
		"val/loss", "val/acc", "sys/throughput", "monitoring/1a2b3c4d/cpu", "monitoring/1a2b3c4d/memory"}
	var out [][]byte
	raw := 0
	step := int64(0)
	ts := int64(1_700_000_000_000)
	for range batches {
		var pts []string
		for len(pts) < points {
			for k, p := range paths {
				var y float64
				switch k {
				case 2:
					y = 3e-4 * math.Pow(0.999, float64(step))
				case 4:
					y = float64(step * 4096)
				default:
					y = float64(float32(math.Exp(-float64(step)/5000) + rng.Float64()*0.05))
				}
				pts = append(pts, v1PyMetricPoint(p, step, ts, y))
			}
			step++
			ts += 10
		}
		body := v1PyIngestJSON(pts[:points])
		raw += len(body)
		out = append(out, v1PyGzip(b, body))
	}
	return out, raw / batches
}

// BenchmarkIngestGzipJSON measures points/s through the whole handler:
// auth, gzip, decoding, checks, engine writes and the flush before the
// answer.
func BenchmarkIngestGzipJSON(b *testing.B) {
	for _, points := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("points=%d", points), func(b *testing.B) {
			home := b.TempDir()
			s, err := New(Options{Home: home, APIv1: true, APIKeys: map[string][]string{v1TestKey: {"*"}}})
			require.NoError(b, err)
			defer s.Close()
			h := s.Handler()
			id := v1CreateRun(b, h, "ws", "bench", "run")
			bodies, rawBytes := v1BenchBatches(b, points, 16)
			target := "/api/v1/runs/" + id + "/ingest"
			b.SetBytes(int64(rawBytes))
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := v1ProcessCPU()
			for i := range b.N {
				rec := v1Serve(h, "POST", target, v1TestKey, bodies[i%len(bodies)], "application/json", true)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
			cpu := v1ProcessCPU() - cpu0
			b.ReportMetric(float64(points)*float64(b.N)/b.Elapsed().Seconds(), "points/s")
			// CPU seconds of the whole process (the engine's flusher
			// included): on a shared machine, less at the mercy of other
			// load than wall time.
			b.ReportMetric(float64(points)*float64(b.N)/cpu.Seconds(), "points/cpu-s")
		})
	}
}
