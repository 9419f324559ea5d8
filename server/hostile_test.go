package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/run"
	"github.com/goodseed/goodseed-go/series"
)

// Hostile input at the server, mirroring run/hostile_test.go one layer up:
// everything goes in through /api/v1 (Part B: JSON, gzip JSON and
// protobuf ingest, configs, run creation, path parameters) and comes back
// out through Part B's reads, Part A's reads and the run on disk
// (run.OpenReadOnly), and is either
//
//   - refused with a clear 4xx in the API's error shape ({"error_code",
//     "title", "detail"} for Part B, {"error"} with CORS for Part A),
//     with nothing of the request stored; or
//   - stored exactly (bit for bit for floats) and rendered exactly as the
//     API says: Part A as Python's json.dumps (NaN and infinities as the
//     strings "NaN", "Infinity", "-Infinity", "-0.0", repr's exponent
//     forms, ASCII-only strings), Part B as encoding/json numbers with the
//     same three strings, configs as Python's str().
//
// Each test walks a parent directory holding the home and a sibling canary
// before and after: nothing outside the home changes, and inside it only
// the directories of runs the test meant to create appear.
//
// The tests count what they try (t.Logf "hostile: ..."), for
// docs/reliability.md.

// ---- the environment ----

type hsEnv struct {
	t      *testing.T
	parent string
	home   string
	s      *Server
	h      http.Handler
	before map[string]string
	counts map[string]int
	order  []string
}

// newHSEnv makes parent/{home,canary} and a server with both parts on the
// home (a "*" key).
func newHSEnv(t *testing.T) *hsEnv {
	t.Helper()
	parent := t.TempDir()
	home := filepath.Join(parent, "home")
	canary := filepath.Join(parent, "canary")
	require.NoError(t, os.MkdirAll(filepath.Join(home, "projects"), 0o755))
	// The canary looks like a home, so a request that escaped would find
	// something to read or write.
	require.NoError(t, os.MkdirAll(filepath.Join(canary, "projects", "ws", "p", "runs", "r"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(canary, "secret"), []byte("canary"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(parent, "etc-passwd"), []byte("root:x:0:0"), 0o644))
	s, err := New(Options{Home: home, APIv1: true, APIKeys: map[string][]string{v1TestKey: {"*"}}})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	e := &hsEnv{t: t, parent: parent, home: home, s: s, h: s.Handler(), counts: map[string]int{}}
	e.before = hsTree(t, parent)
	return e
}

// hsTree maps every path under root (relative) to its type and size; a
// directory's size is left out (it is file-system specific).
func hsTree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			out[rel] = "dir"
		} else {
			out[rel] = fmt.Sprintf("%v %d", info.Mode().Type(), info.Size())
		}
		return nil
	}))
	return out
}

// requireContained checks the walk: nothing outside the home changed or
// vanished, and whatever is new or changed inside it lies in one of the
// allowed directories (relative to the home), or is a directory on the way
// to one.
func (e *hsEnv) requireContained(allowed ...string) {
	t := e.t
	t.Helper()
	after := hsTree(t, e.parent)
	for p, v := range e.before {
		w, ok := after[p]
		require.Truef(t, ok, "%s vanished", p)
		if !strings.HasPrefix(p, "home") {
			require.Equalf(t, v, w, "%s, outside the home, changed", p)
		}
	}
	for p, v := range after {
		if old, ok := e.before[p]; ok && old == v {
			continue
		}
		require.Truef(t, p == "home" || strings.HasPrefix(p, "home"+string(filepath.Separator)), "%s was written outside the home", p)
		rel := strings.TrimPrefix(strings.TrimPrefix(p, "home"), string(filepath.Separator))
		ok := slices.ContainsFunc(allowed, func(a string) bool {
			a = filepath.FromSlash(a)
			return rel == a || strings.HasPrefix(rel, a+string(filepath.Separator)) ||
				(v == "dir" && (rel == "" || strings.HasPrefix(a, rel+string(filepath.Separator))))
		})
		require.Truef(t, ok, "%s (%s) was written, outside %v", p, v, allowed)
	}
}

func (e *hsEnv) count(class string, n int) {
	if _, ok := e.counts[class]; !ok {
		e.order = append(e.order, class)
	}
	e.counts[class] += n
}

func (e *hsEnv) logCounts(what string) {
	var parts []string
	for _, c := range e.order {
		parts = append(parts, fmt.Sprintf("%d %s", e.counts[c], c))
	}
	e.t.Logf("hostile %s: %s", what, strings.Join(parts, ", "))
}

// v1 sends one Part B request with the key.
func (e *hsEnv) v1(method, target string, body []byte, contentType string) *httptest.ResponseRecorder {
	return v1Serve(e.h, method, target, v1TestKey, body, contentType, false)
}

// v1URL sends one Part B request for u as given: Path and RawPath as a
// server parses them from the request line, escapes kept.
func (e *hsEnv) v1URL(method string, u *url.URL, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "/", bytes.NewReader(body))
	req.URL = u
	req.RequestURI = u.RequestURI()
	req.Header.Set("Authorization", "Bearer "+v1TestKey)
	req.Header.Set("Content-Type", "application/json")
	return v1ServeReq(e.h, req)
}

// requireRefusedAlone checks a request whose bad item was refused alone:
// ingest answers 200 listing it, configs 204 counting it in
// X-Goodseed-Refused; the run records it in sys/refused.
func (e *hsEnv) requireRefusedAlone(rec *httptest.ResponseRecorder, msg string) {
	e.t.Helper()
	switch rec.Code {
	case http.StatusOK:
		ans := v1Decode[v1IngestAnswer](e.t, rec.Body.Bytes())
		require.Positivef(e.t, ans.RefusedCount, "%s: %s", msg, hsClip(rec.Body.String()))
		require.NotEmpty(e.t, ans.Refused, msg)
	case http.StatusNoContent:
		require.NotEmpty(e.t, rec.Header().Get(v1HeaderRefused), msg)
	default:
		e.t.Fatalf("%s: %d %s", msg, rec.Code, hsClip(rec.Body.String()))
	}
}

// requireV1Error checks a Part B refusal: the status and the error shape.
func (e *hsEnv) requireV1Error(rec *httptest.ResponseRecorder, status int, code, msg string) {
	e.t.Helper()
	require.Equalf(e.t, status, rec.Code, "%s: %s", msg, hsClip(rec.Body.String()))
	require.Equal(e.t, "application/json", rec.Header().Get("Content-Type"), msg)
	require.Equal(e.t, code, v1ErrorCode(e.t, rec), msg)
}

// requireV1Refused checks a Part B refusal of a hostile path parameter:
// 400 Request.Invalid from the handler, or 404 Route.NotFound when the
// parameter decodes to something no route takes (a lone "%2F" segment:
// net/http's mux matches no pattern then).
func (e *hsEnv) requireV1Refused(rec *httptest.ResponseRecorder, msg string) {
	e.t.Helper()
	if rec.Code == http.StatusNotFound {
		e.requireV1Error(rec, http.StatusNotFound, "Route.NotFound", msg)
		e.count("refused by the router (404 Route.NotFound)", 1)
		return
	}
	e.requireV1Error(rec, http.StatusBadRequest, "Request.Invalid", msg)
}

// requirePartAError checks a Part A refusal: status, CORS and {"error"}.
func (e *hsEnv) requirePartAError(rec *httptest.ResponseRecorder, status int, msg string) {
	e.t.Helper()
	require.Equalf(e.t, status, rec.Code, "%s: %s", msg, hsClip(rec.Body.String()))
	paRequireCORS(e.t, rec.Header())
	paErrorBody(e.t, rec.Body.String())
}

// createRun creates ws/p/<id> through Part B and returns its remote id.
func (e *hsEnv) createRun(id string) string {
	e.t.Helper()
	return v1CreateRun(e.t, e.h, "ws", "p", id)
}

func hsRunRel(ws, proj, id string) string { return "projects/" + ws + "/" + proj + "/runs/" + id }

// openRun opens ws/p/<id> read-only through the run package.
func (e *hsEnv) openRun(id string) *run.Run {
	e.t.Helper()
	r, err := run.OpenReadOnly(id, run.Options{Home: e.home, Project: "ws/p", Quiet: true})
	require.NoError(e.t, err)
	e.t.Cleanup(func() { _ = r.Close() })
	return r
}

// partA GETs a Part A route (200 required) and checks the body is JSON in
// ASCII only, as json.dumps(ensure_ascii=True) writes it.
func (e *hsEnv) partA(target string) []byte {
	e.t.Helper()
	rec := paDo(e.t, e.h, http.MethodGet, target)
	require.Equalf(e.t, http.StatusOK, rec.Code, "GET %s: %s", target, hsClip(rec.Body.String()))
	paRequireCORS(e.t, rec.Header())
	b := rec.Body.Bytes()
	require.Truef(e.t, json.Valid(b), "GET %s: not JSON: %s", target, hsClip(string(b)))
	for i, c := range b {
		if c >= 0x80 {
			e.t.Fatalf("GET %s: byte %d is not ASCII (%#x)", target, i, c)
		}
	}
	return b
}

// v1Get GETs a Part B route (200 required).
func (e *hsEnv) v1Get(target string) []byte {
	e.t.Helper()
	rec := e.v1("GET", target, nil, "")
	require.Equalf(e.t, http.StatusOK, rec.Code, "GET %s: %s", target, hsClip(rec.Body.String()))
	return rec.Body.Bytes()
}

func hsClip(s string) string {
	if len(s) > 300 {
		return s[:300] + fmt.Sprintf("... (%d bytes)", len(s))
	}
	return s
}

// hsJSONStr is a JSON string with raw UTF-8 (json.Marshal), as a
// non-Python client sends it; v1PyStr is the Python client's ASCII form.
func hsJSONStr(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// hsProtoPoint is a protobuf DataPoint with a signed step and timestamp.
func hsProtoPoint(path string, step, tsMs int64, number *float64, text *string) []byte {
	return v1PyProtoPoint(path, uint64(step), uint64(tsMs), number, text)
}

// Part A's answers.
type hsPAMetric struct {
	Path     string          `json:"path"`
	Step     json.RawMessage `json:"step"`
	Value    json.RawMessage `json:"value"`
	LoggedAt string          `json:"logged_at"`
}

type hsPAString struct {
	Path     string          `json:"path"`
	Step     json.RawMessage `json:"step"`
	Value    string          `json:"value"`
	LoggedAt string          `json:"logged_at"`
}

func (e *hsEnv) paMetrics(id, path string) []hsPAMetric {
	e.t.Helper()
	var m struct{ Metrics []hsPAMetric }
	require.NoError(e.t, json.Unmarshal(e.partA("/api/runs/ws/p/"+id+"/metrics?path="+url.QueryEscape(path)), &m))
	return m.Metrics
}

func (e *hsEnv) paStrings(id, path string) []hsPAString {
	e.t.Helper()
	var m struct {
		Series []hsPAString `json:"string_series"`
		Total  int
	}
	require.NoError(e.t, json.Unmarshal(e.partA("/api/runs/ws/p/"+id+"/string_series?path="+url.QueryEscape(path)), &m))
	require.Len(e.t, m.Series, m.Total)
	return m.Series
}

func (e *hsEnv) paConfigs(id string) map[string]json.RawMessage {
	e.t.Helper()
	var m struct{ Configs map[string]json.RawMessage }
	require.NoError(e.t, json.Unmarshal(e.partA("/api/runs/ws/p/"+id+"/configs"), &m))
	return m.Configs
}

// paRun is the run's element of /api/runs.
func (e *hsEnv) paRun(id string) map[string]any {
	e.t.Helper()
	var m struct{ Runs []map[string]any }
	require.NoError(e.t, json.Unmarshal(e.partA("/api/runs?project=ws/p"), &m))
	for _, r := range m.Runs {
		if r["run_id"] == id {
			return r
		}
	}
	e.t.Fatalf("run %s not in /api/runs", id)
	return nil
}

type hsV1Point struct {
	Step json.RawMessage `json:"step"`
	Y    json.RawMessage `json:"y"`
}

func (e *hsEnv) v1Metrics(id, path string) []hsV1Point {
	e.t.Helper()
	var m struct {
		Path      string
		RawPoints []hsV1Point `json:"raw_points"`
	}
	require.NoError(e.t, json.Unmarshal(e.v1Get("/api/v1/runs/ws~p~"+id+"/data/metrics?"+url.Values{"path": {path}}.Encode()), &m))
	require.Equal(e.t, path, m.Path)
	return m.RawPoints
}

type hsV1String struct {
	Step  float64
	Value string
}

func (e *hsEnv) v1Strings(id, path string) []hsV1String {
	e.t.Helper()
	var m struct {
		Points []hsV1String
		Total  int
	}
	require.NoError(e.t, json.Unmarshal(e.v1Get("/api/v1/runs/ws~p~"+id+"/data/strings?"+url.Values{"path": {path}}.Encode()), &m))
	require.Len(e.t, m.Points, m.Total)
	return m.Points
}

func (e *hsEnv) v1Run(id string) v1RunJSON {
	e.t.Helper()
	return v1Decode[v1RunJSON](e.t, e.v1Get("/api/v1/runs/ws~p~"+id))
}

func (e *hsEnv) v1Configs(id string) map[string]v1ConfigJSON {
	out := map[string]v1ConfigJSON{}
	for _, c := range e.v1Run(id).Configs {
		out[c.Path] = c
	}
	return out
}

// ingest posts a JSON or protobuf body to ws/p/<id>.
func (e *hsEnv) ingest(id string, body []byte, contentType string) *httptest.ResponseRecorder {
	return e.v1("POST", "/api/v1/runs/ws~p~"+id+"/ingest", body, contentType)
}

func (e *hsEnv) configs(id string, body []byte) *httptest.ResponseRecorder {
	return e.v1("POST", "/api/v1/runs/ws~p~"+id+"/configs", body, "application/json")
}

// ---- floats ----

// hsFloat is a hostile float and how each read renders it.
type hsFloat struct {
	name  string
	bits  uint64
	partA string // Part A's token: Python's json.dumps with NaN/Infinity as strings
	partB string // Part B's token
}

func (f hsFloat) value() float64 { return math.Float64frombits(f.bits) }

// jsonToken is what Python's json.dumps sends for it.
func (f hsFloat) jsonToken() string {
	v := f.value()
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "Infinity"
	case math.IsInf(v, -1):
		return "-Infinity"
	}
	return f.partA
}

// pyStr is Python's str(float): what the client sends as a float config,
// and what Part B's configs give back.
func (f hsFloat) pyStr() string {
	v := f.value()
	switch {
	case math.IsNaN(v):
		return "nan"
	case math.IsInf(v, 1):
		return "inf"
	case math.IsInf(v, -1):
		return "-inf"
	}
	return f.partA
}

// viaText is the value after a trip through text (JSON, a config string):
// a NaN's payload and sign do not survive; Go's NaN is what arrives.
func (f hsFloat) viaText() uint64 {
	if math.IsNaN(f.value()) {
		return math.Float64bits(math.NaN())
	}
	return f.bits
}

var hsFloats = []hsFloat{
	{"Go's NaN", 0x7ff8_0000_0000_0001, `"NaN"`, `"NaN"`},
	{"Python's NaN", 0x7ff8_0000_0000_0000, `"NaN"`, `"NaN"`},
	{"quiet NaN, payload", 0x7ff8_dead_beef_0001, `"NaN"`, `"NaN"`},
	{"signalling NaN, payload", 0x7ff4_dead_beef_0001, `"NaN"`, `"NaN"`},
	{"signalling NaN, payload 1", 0x7ff0_0000_0000_0001, `"NaN"`, `"NaN"`},
	{"negative quiet NaN", 0xfff8_0000_0000_0000, `"NaN"`, `"NaN"`},
	{"negative NaN, payload", 0xfff8_0000_0000_0bad, `"NaN"`, `"NaN"`},
	{"NaN, all ones", 0xffff_ffff_ffff_ffff, `"NaN"`, `"NaN"`},
	{"+Inf", 0x7ff0_0000_0000_0000, `"Infinity"`, `"Infinity"`},
	{"-Inf", 0xfff0_0000_0000_0000, `"-Infinity"`, `"-Infinity"`},
	{"-0", 0x8000_0000_0000_0000, "-0.0", "-0"},
	{"+0", 0, "0.0", "0"},
	{"smallest subnormal", 1, "5e-324", "5e-324"},
	{"-smallest subnormal", 0x8000_0000_0000_0001, "-5e-324", "-5e-324"},
	{"largest subnormal", 0x000f_ffff_ffff_ffff, "2.225073858507201e-308", "2.225073858507201e-308"},
	{"smallest normal", 0x0010_0000_0000_0000, "2.2250738585072014e-308", "2.2250738585072014e-308"},
	{"MaxFloat64", 0x7fef_ffff_ffff_ffff, "1.7976931348623157e+308", "1.7976931348623157e+308"},
	{"-MaxFloat64", 0xffef_ffff_ffff_ffff, "-1.7976931348623157e+308", "-1.7976931348623157e+308"},
	{"1e308", math.Float64bits(1e308), "1e+308", "1e+308"},
	{"float32(0.1)", math.Float64bits(float64(float32(0.1))), "0.10000000149011612", "0.10000000149011612"},
	{"0.1", math.Float64bits(0.1), "0.1", "0.1"},
	{"1e16", math.Float64bits(1e16), "1e+16", "10000000000000000"},
	{"9999999999999998", math.Float64bits(9999999999999998), "9999999999999998.0", "9999999999999998"},
	{"1e-05", math.Float64bits(1e-5), "1e-05", "0.00001"},
	{"0.0001", math.Float64bits(1e-4), "0.0001", "0.0001"},
	{"1e-07", math.Float64bits(1e-7), "1e-07", "1e-07"},
	{"1e21", math.Float64bits(1e21), "1e+21", "1e+21"},
	{"2^53+2", math.Float64bits(1<<53 + 2), "9007199254740994.0", "9007199254740994"},
	{"-123456789", math.Float64bits(-123456789), "-123456789.0", "-123456789"},
}

// TestHostileServerFloats: every hostile float goes in as a protobuf
// double (bit for bit), as a JSON number or Python literal, and as a float
// config, and comes back from disk bit-exact (a NaN through text as Go's
// NaN: text carries no payload) and from both read APIs in exactly the
// documented rendering. Odd steps and timestamps too, and the JSON
// spellings the decoder must refuse.
func TestHostileServerFloats(t *testing.T) {
	e := newHSEnv(t)
	const id = "floats"
	rid := e.createRun(id)

	// In: protobuf doubles, JSON as Python writes it, and float configs.
	var pb []byte
	var js, cfgs []string
	for i, f := range hsFloats {
		v := f.value()
		pb = append(pb, hsProtoPoint("float/pb", int64(i), 1000+int64(i), &v, nil)...)
		js = append(js, fmt.Sprintf(`{"path": "float/json", "step": %d, "timestampMs": %d, "number": %s}`, i, 1000+i, f.jsonToken()))
		cfgs = append(cfgs, v1PyConfig(fmt.Sprintf("float/cfg/%02d", i), "float", f.pyStr()))
	}
	rec := e.ingest(id, pb, "application/protobuf")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	rec = e.ingest(id, v1PyIngestJSON(js), "application/json")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	rec = e.configs(id, v1PyConfigsBody(cfgs))
	require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
	e.count("values", len(hsFloats))
	e.count("value writes (protobuf, JSON, config)", 3*len(hsFloats))

	// Other JSON spellings that mean a number: the read APIs' own strings,
	// and number forms Python never writes.
	alt := []struct {
		token string
		bits  uint64
	}{
		{`"NaN"`, math.Float64bits(math.NaN())}, {`"Infinity"`, 0x7ff0_0000_0000_0000}, {`"-Infinity"`, 0xfff0_0000_0000_0000},
		{"-0", 0x8000_0000_0000_0000}, {"-0.0e5", 0x8000_0000_0000_0000}, {"0E0", 0}, {"5E-324", 1}, {"4e-324", 1},
		{"1e-400", 0}, {"-1e-400", 0x8000_0000_0000_0000}, {"1.0e+16", math.Float64bits(1e16)},
		{"17976931348623157e292", 0x7fef_ffff_ffff_ffff}, {"100000000000000000000000", math.Float64bits(1e23)},
		{"0.30000000000000004", 0x3fd3_3333_3333_3334},
	}
	js = js[:0]
	for i, a := range alt {
		js = append(js, fmt.Sprintf(`{"path": "float/alt", "step": %d, "number": %s}`, i, a.token))
	}
	rec = e.ingest(id, v1PyIngestJSON(js), "application/json")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	e.count("other JSON spellings accepted", len(alt))

	// Float config forms other than str(): what strconv.ParseFloat and
	// Python's float() both take.
	cfgAlt := []struct {
		text string
		bits uint64
	}{
		{"NaN", math.Float64bits(math.NaN())}, {"nan", math.Float64bits(math.NaN())}, {"Infinity", 0x7ff0_0000_0000_0000},
		{"+inf", 0x7ff0_0000_0000_0000}, {"-Infinity", 0xfff0_0000_0000_0000}, {"1e999", 0x7ff0_0000_0000_0000},
		{"-1e999", 0xfff0_0000_0000_0000}, {"-0", 0x8000_0000_0000_0000}, {" 2.5 ", math.Float64bits(2.5)}, {"1e-400", 0},
		{"1_0", math.Float64bits(10)}, {"0x1p-2", math.Float64bits(0.25)}, // Go's literal forms, which ParseFloat takes
	}
	cfgs = cfgs[:0]
	for i, c := range cfgAlt {
		cfgs = append(cfgs, v1PyConfig(fmt.Sprintf("float/cfgalt/%02d", i), "float", c.text))
	}
	rec = e.configs(id, v1PyConfigsBody(cfgs))
	require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
	e.count("other config spellings accepted", len(cfgAlt))

	// Odd steps: JSON numbers (each its own series: -0 and 0 are one step)
	// and protobuf int64 varints.
	stepTokens := []string{"-0", "-0.0", "0", "5e-324", "-5e-324", "2.5", "-1", "1e15", "1.7976931348623157e308",
		"-1.7976931348623157e308", "9007199254740993", "1e-400"}
	var stepWant []uint64
	js = js[:0]
	for i, tok := range stepTokens {
		f, err := strconv.ParseFloat(tok, 64) // JSON's meaning of the number
		require.NoError(t, err)
		stepWant = append(stepWant, math.Float64bits(f))
		js = append(js, fmt.Sprintf(`{"path": "step/json/%02d", "step": %s, "number": %d}`, i, tok, i))
	}
	pbSteps := []int64{0, -1, 1, math.MinInt64, math.MaxInt64, 1 << 53, 1<<53 + 1, -(1 << 53), 1 << 62}
	pb = pb[:0]
	for i, s := range pbSteps {
		v := float64(i)
		pb = append(pb, hsProtoPoint(fmt.Sprintf("step/pb/%02d", i), s, 1, &v, nil)...)
	}
	rec = e.ingest(id, v1PyIngestJSON(js), "application/json")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	rec = e.ingest(id, pb, "application/protobuf")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	e.count("odd steps", len(stepTokens)+len(pbSteps))

	// Odd timestamps: kept exactly; Part A renders what Python's datetime
	// can hold as isoformat, and something for the rest, never an error.
	tsCases := []struct {
		token string
		ms    int64
		iso   string // Part A's logged_at; "" when outside datetime's range
	}{
		{"0", 0, "1970-01-01T00:00:00+00:00"},
		{"1", 1, "1970-01-01T00:00:00.001000+00:00"},
		{"-1", -1, "1969-12-31T23:59:59.999000+00:00"},
		{"1e3", 1000, "1970-01-01T00:00:01+00:00"},
		{"1.9", 1, "1970-01-01T00:00:00.001000+00:00"},
		{"-1.9", -1, "1969-12-31T23:59:59.999000+00:00"},
		{"253402300799999", 253402300799999, "9999-12-31T23:59:59.999000+00:00"},
		{"-62135596800000", -62135596800000, "0001-01-01T00:00:00+00:00"},
		{"253402300800000", 253402300800000, ""},
		{"-62135596800001", -62135596800001, ""},
		{"9223372036854775807", math.MaxInt64, ""},
		{"-9223372036854775808", math.MinInt64, ""},
	}
	js = js[:0]
	for i, tc := range tsCases {
		js = append(js, fmt.Sprintf(`{"path": "time/json", "step": %d, "timestampMs": %s, "number": 1}`, i, tc.token))
	}
	rec = e.ingest(id, v1PyIngestJSON(js), "application/json")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	pb = pb[:0]
	for i, tc := range tsCases {
		one := 1.0
		pb = append(pb, hsProtoPoint("time/pb", int64(i), tc.ms, &one, nil)...)
	}
	rec = e.ingest(id, pb, "application/protobuf")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	e.count("odd timestamps (JSON and protobuf)", 2*len(tsCases))

	// Refused: spellings that are not JSON numbers nor the three literals
	// or strings; steps that are not finite numbers; timestamps past int64.
	// Each batch holds a good point before the bad one: nothing is stored.
	before := v1Snapshot(t, e.h, rid)
	good := `{"path": "float/json", "step": 0, "number": 42}`
	var refused []string
	for _, tok := range []string{"nan", "inf", "-inf", "+Infinity", "-NaN", "+NaN", "infinity", "NAN", "Infinityy", "NaNa",
		`"nan"`, `"inf"`, `"+Infinity"`, `"-NaN"`, `"infinity"`, `"1.5"`, `""`, "1e999", "-1e999", "1e309", "0x10", ".5",
		"1.", "+1", "01", "-", "1e", "1e+", "--1", "true", "null", "[1]", "{}", "1_000"} {
		refused = append(refused, `{"path": "float/json", "step": 1, "number": `+tok+`}`)
	}
	e.count("JSON value spellings refused", len(refused))
	for _, tok := range []string{"NaN", "Infinity", "-Infinity", `"NaN"`, `"1"`, "1e999", "-1e999", "null", "true"} {
		refused = append(refused, `{"path": "float/json", "step": `+tok+`, "number": 1}`)
	}
	e.count("JSON steps refused", 9)
	for _, tok := range []string{"9223372036854775808", "-9223372036854775809", "1e19", "NaN", `"1"`, "1e999", "true"} {
		refused = append(refused, `{"path": "float/json", "step": 1, "timestampMs": `+tok+`, "number": 1}`)
	}
	e.count("JSON timestamps refused", 7)
	for _, bad := range refused {
		rec := e.ingest(id, v1PyIngestJSON([]string{good, bad}), "application/json")
		e.requireV1Error(rec, http.StatusBadRequest, "Request.Invalid", bad)
	}
	// Float configs that are no float; every batch holds a good one first.
	badCfg := []string{"", "-nan", "+nan", "nan(1)", "NaNa", "1,5", "0x1p-2x", "one", "1e", "--1", "inf inf", "0x10"}
	for _, text := range badCfg {
		rec := e.configs(id, v1PyConfigsBody([]string{v1PyConfig("float/cfg/bad", "float", text)}))
		e.requireRefusedAlone(rec, "config "+text)
	}
	e.count("config float forms refused", len(badCfg))
	require.Equal(t, before, v1Snapshot(t, e.h, rid), "a refused batch stored something")

	// Out: the run on disk, bit for bit.
	r := e.openRun(id)
	pts, err := r.Metric("float/pb")
	require.NoError(t, err)
	require.Len(t, pts, len(hsFloats))
	for i, p := range pts {
		require.Equalf(t, hsFloats[i].bits, math.Float64bits(p.Value), "protobuf %s: %#x on disk", hsFloats[i].name, math.Float64bits(p.Value))
		require.Equal(t, float64(i), p.Step)
		require.Equal(t, int64(1000+i), p.Time.UnixMilli())
	}
	pts, err = r.Metric("float/json")
	require.NoError(t, err)
	require.Len(t, pts, len(hsFloats))
	for i, p := range pts {
		require.Equalf(t, hsFloats[i].viaText(), math.Float64bits(p.Value), "JSON %s: %#x on disk", hsFloats[i].name, math.Float64bits(p.Value))
	}
	cfg, err := r.Configs()
	require.NoError(t, err)
	for i, f := range hsFloats {
		c := cfg[fmt.Sprintf("float/cfg/%02d", i)]
		require.Equal(t, engine.TypeFloat, c.Type)
		require.Equalf(t, f.viaText(), math.Float64bits(c.Float), "config %s", f.name)
	}
	for i, c := range cfgAlt {
		v := cfg[fmt.Sprintf("float/cfgalt/%02d", i)]
		require.Equal(t, engine.TypeFloat, v.Type)
		require.Equalf(t, c.bits, math.Float64bits(v.Float), "config %q", c.text)
	}
	pts, err = r.Metric("float/alt")
	require.NoError(t, err)
	require.Len(t, pts, len(alt))
	for i, p := range pts {
		require.Equalf(t, alt[i].bits, math.Float64bits(p.Value), "JSON %s", alt[i].token)
	}
	for i := range stepTokens {
		pts, err := r.Metric(fmt.Sprintf("step/json/%02d", i))
		require.NoError(t, err)
		require.Len(t, pts, 1)
		require.Equalf(t, stepWant[i], math.Float64bits(pts[0].Step), "step %s", stepTokens[i])
	}
	for i, s := range pbSteps {
		pts, err := r.Metric(fmt.Sprintf("step/pb/%02d", i))
		require.NoError(t, err)
		require.Len(t, pts, 1)
		require.Equalf(t, math.Float64bits(float64(s)), math.Float64bits(pts[0].Step), "protobuf step %d", s)
	}
	for _, path := range []string{"time/json", "time/pb"} {
		pts, err = r.Metric(path)
		require.NoError(t, err)
		require.Len(t, pts, len(tsCases))
		for i, p := range pts {
			require.Equalf(t, tsCases[i].ms, p.Time.UnixMilli(), "%s %s", path, tsCases[i].token)
		}
	}

	// Out: Part A, byte for byte; the downsampling route with room for
	// every point returns them unchanged (minY = maxY = value).
	for _, path := range []string{"float/pb", "float/json"} {
		ms := e.paMetrics(id, path)
		require.Len(t, ms, len(hsFloats))
		for i, m := range ms {
			require.Equalf(t, hsFloats[i].partA, string(m.Value), "Part A %s %s", path, hsFloats[i].name)
			require.Equal(t, fmt.Sprintf("%d.0", i), string(m.Step))
		}
		var d struct {
			Points []struct {
				Value, MinY, MaxY json.RawMessage
			}
			Downsampled bool
		}
		require.NoError(t, json.Unmarshal(e.partA("/api/runs/ws/p/"+id+"/metrics?pointCount=100&path="+path), &d))
		require.False(t, d.Downsampled)
		require.Len(t, d.Points, len(hsFloats))
		for i, p := range d.Points {
			for _, got := range []json.RawMessage{p.Value, p.MinY, p.MaxY} {
				require.Equalf(t, hsFloats[i].partA, string(got), "Part A pointCount %s %s", path, hsFloats[i].name)
			}
		}
	}
	pcfg := e.paConfigs(id)
	for i, f := range hsFloats {
		require.Equalf(t, f.partA, string(pcfg[fmt.Sprintf("float/cfg/%02d", i)]), "Part A config %s", f.name)
	}
	for i, tok := range stepTokens {
		ms := e.paMetrics(id, fmt.Sprintf("step/json/%02d", i))
		require.Len(t, ms, 1)
		f, err := strconv.ParseFloat(string(ms[0].Step), 64)
		require.NoError(t, err)
		require.Equalf(t, stepWant[i], math.Float64bits(f), "Part A step %s: %s", tok, ms[0].Step)
	}
	require.Equal(t, "-0.0", string(e.paMetrics(id, "step/json/00")[0].Step))
	for _, path := range []string{"time/json", "time/pb"} {
		ms := e.paMetrics(id, path)
		require.Len(t, ms, len(tsCases))
		for i, m := range ms {
			if tsCases[i].iso != "" {
				require.Equalf(t, tsCases[i].iso, m.LoggedAt, "%s %s", path, tsCases[i].token)
			} else {
				require.NotEmptyf(t, m.LoggedAt, "%s %s", path, tsCases[i].token)
			}
		}
	}

	// Out: Part B, byte for byte; configs as Python's str().
	for _, path := range []string{"float/pb", "float/json"} {
		ps := e.v1Metrics(id, path)
		require.Len(t, ps, len(hsFloats))
		for i, p := range ps {
			require.Equalf(t, hsFloats[i].partB, string(p.Y), "Part B %s %s", path, hsFloats[i].name)
			require.Equal(t, strconv.Itoa(i), string(p.Step))
			if s := string(p.Y); s[0] != '"' {
				f, err := strconv.ParseFloat(s, 64)
				require.NoError(t, err)
				require.Equalf(t, hsFloats[i].bits, math.Float64bits(f), "Part B %s %s reads back", path, hsFloats[i].name)
			}
		}
	}
	vcfg := e.v1Configs(id)
	for i, f := range hsFloats {
		c := vcfg[fmt.Sprintf("float/cfg/%02d", i)]
		require.Equal(t, "float", c.TypeTag)
		require.Equalf(t, f.pyStr(), c.Value, "Part B config %s", f.name)
	}
	for i, tok := range stepTokens {
		ps := e.v1Metrics(id, fmt.Sprintf("step/json/%02d", i))
		require.Len(t, ps, 1)
		f, err := strconv.ParseFloat(string(ps[0].Step), 64)
		require.NoError(t, err)
		require.Equalf(t, stepWant[i], math.Float64bits(f), "Part B step %s: %s", tok, ps[0].Step)
	}
	// max_points buckets over the NaNs and infinities: min, max and avg
	// of the finite values only; all three "NaN" for a bucket of none.
	var bk struct {
		Buckets []struct {
			Min, Max, Avg json.RawMessage
			Count         int
		}
	}
	require.NoError(t, json.Unmarshal(e.v1Get("/api/v1/runs/ws~p~"+id+"/data/metrics?path=float/pb&max_points=3"), &bk))
	total := 0
	for _, b := range bk.Buckets {
		total += b.Count
		for _, raw := range []json.RawMessage{b.Min, b.Max, b.Avg} {
			if s := string(raw); s[0] == '"' {
				require.Equal(t, `"NaN"`, s, "a bucket's statistic is a number or NaN, never an infinity")
			}
		}
	}
	require.Equal(t, len(hsFloats), total)
	e.requireContained(hsRunRel("ws", "p", id))
	e.logCounts("floats")
}

// ---- paths ----

// hsBadPaths are field paths the engine refuses: each write naming one is
// a 400 storing nothing. raw: the path cannot travel escaped in JSON (it
// is not UTF-8), only as raw bytes.
var hsBadPaths = []struct {
	name, path string
}{
	{"empty", ""},
	{"past the limit", strings.Repeat("p", engine.MaxPathBytes+1)},
	{"invalid UTF-8", "loss/\xff\xfe"},
	{"truncated rune", "loss/\xe2\x82"},
	{"surrogate as UTF-8", "\xed\xa0\x80"},
	{"overlong '/'", "a\xc0\xafb"},
}

// hsOddPaths are paths stored exactly, whatever they look like: they are
// field names inside the segments, never file names.
var hsOddPaths = []string{
	" ", "  blank  ", "..", ".", "../../etc/passwd", "a/../../b", "../x", "%2e%2e", "%2e%2e/%2f", "..%2f..%2fetc",
	`C:\Windows\x`, `\\server\share`, "x\uff0fy", "\uff0e\uff0e/z", "\u2024\u2024/z", "x\u2215y", "\u202eevil\u202c",
	"\u2066iso\u2069", "zero\u200bwidth", "\ufeffbom", "日本語/損失", "😀/🚀", "a?b=c&d#e", "100%", "+plus+", "a b/c d",
	"<script>alert(1)</script>", `"quoted"`, "~/x", "$HOME/x", "\ufffd", "\u00a0nbsp", "\u2028line\u2029para",
	strings.Repeat("q", engine.MaxPathBytes),
	// GoodSeed's client takes these, so the server stores them as sent
	// (the native run API still refuses them: engine.ValidatePath).
	"/", "//", "///", "a//b", "/etc/passwd", "a/", "loss\x00/x", "\x00", "loss\n", "a\rb", "a\tb", "\x1b[31mred", "a\u0085b", "a\x7fb",
}

// hsCarrier is one way a path reaches the run.
type hsCarrier struct {
	name string
	kind string // metric, string, config
	// body encodes one point or config (the index is its step and value).
	body func(path string, i int) []byte
	ct   string
}

func hsCarriers() []hsCarrier {
	jsonPoint := func(str func(string) string, text bool) func(string, int) []byte {
		return func(path string, i int) []byte {
			if text {
				return v1PyIngestJSON([]string{fmt.Sprintf(`{"path": %s, "step": %d, "timestampMs": 5, "text": %s}`, str(path), i, str(path))})
			}
			return v1PyIngestJSON([]string{fmt.Sprintf(`{"path": %s, "step": %d, "timestampMs": 5, "number": %d}`, str(path), i, i)})
		}
	}
	return []hsCarrier{
		{"json-metric-escaped", "metric", jsonPoint(v1PyStr, false), "application/json"},
		{"json-metric-utf8", "metric", jsonPoint(hsJSONStr, false), "application/json"},
		{"json-text-escaped", "string", jsonPoint(v1PyStr, true), "application/json"},
		{"json-text-utf8", "string", jsonPoint(hsJSONStr, true), "application/json"},
		{"pb-metric", "metric", func(path string, i int) []byte {
			v := float64(i)
			return hsProtoPoint(path, int64(i), 5, &v, nil)
		}, "application/protobuf"},
		{"pb-text", "string", func(path string, i int) []byte {
			return hsProtoPoint(path, int64(i), 5, nil, &path)
		}, "application/protobuf"},
		{"config-escaped", "config", func(path string, i int) []byte {
			return v1PyConfigsBody([]string{fmt.Sprintf(`{"path": %s, "type_tag": "str", "value": %s}`, v1PyStr(path), v1PyStr(path))})
		}, "application/json"},
		{"config-utf8", "config", func(path string, i int) []byte {
			return v1PyConfigsBody([]string{fmt.Sprintf(`{"path": %s, "type_tag": "str", "value": %s}`, hsJSONStr(path), hsJSONStr(path))})
		}, "application/json"},
	}
}

// hsRawJSON puts s in a JSON string as raw bytes, escaping only what JSON
// requires: a path or text that is not UTF-8 travels so.
func hsRawJSON(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20:
			fmt.Fprintf(&b, `\u%04x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// TestHostileServerPaths: every refused path is a 400 (in each carrier:
// JSON with escapes as Python sends it, JSON with raw UTF-8 or raw bytes,
// protobuf, configs) storing nothing, even beside a good point; every odd
// path is stored exactly and read back exactly from disk, Part B (paths,
// data, configs) and Part A (metric-paths, metrics, string_series, configs,
// the run list); nothing lands outside the run.
func TestHostileServerPaths(t *testing.T) {
	e := newHSEnv(t)
	carriers := hsCarriers()
	allowed := []string{}
	for _, c := range carriers {
		id := "paths-" + c.name
		rid := e.createRun(id)
		allowed = append(allowed, hsRunRel("ws", "p", id))
		// A good write first, so a refused one has something to leave alone.
		rec := e.v1("POST", "/api/v1/runs/"+rid+hsRoute(c), c.body("good", 0), c.ct)
		require.Less(t, rec.Code, 300, rec.Body.String())
		before := v1Snapshot(t, e.h, rid)
		for _, bp := range hsBadPaths {
			if strings.HasSuffix(c.name, "-escaped") && !utf8.ValidString(bp.path) {
				continue // the ASCII-escaped form cannot carry bytes that are not UTF-8
			}
			body := c.body(bp.path, 1)
			if strings.HasSuffix(c.name, "-utf8") {
				// Raw bytes in the JSON string (controls escaped, as JSON
				// requires): the form that carries invalid UTF-8.
				body = bytes.ReplaceAll(body, []byte(hsJSONStr(bp.path)), []byte(hsRawJSON(bp.path)))
			}
			rec := e.v1("POST", "/api/v1/runs/"+rid+hsRoute(c), body, c.ct)
			if !utf8.ValidString(bp.path) && rec.Code == http.StatusBadRequest {
				// Not text: the request does not decode (GoodSeed's client
				// cannot send it).
				e.requireV1Error(rec, http.StatusBadRequest, "Request.Invalid", c.name+" "+bp.name)
			} else {
				e.requireRefusedAlone(rec, c.name+" "+bp.name)
			}
			require.NotContains(t, rec.Body.String(), strings.Repeat("p", 2048), "the error is not the 64 KiB path echoed whole")
			e.count("refused path writes", 1)
		}
		// Raw control bytes inside a JSON string are a syntax error in
		// themselves.
		if strings.HasPrefix(c.name, "json") || strings.HasPrefix(c.name, "config") {
			for _, p := range []string{"a\x00b", "a\nb", "\x1f"} {
				body := bytes.Replace(c.body("PLACEHOLDER", 1), []byte("PLACEHOLDER"), []byte(p), 1)
				rec := e.v1("POST", "/api/v1/runs/"+rid+hsRoute(c), body, c.ct)
				e.requireV1Error(rec, http.StatusBadRequest, "Request.Invalid", c.name+fmt.Sprintf(" raw %q", p))
				e.count("refused path writes", 1)
			}
		}
		require.Equal(t, before, v1Snapshot(t, e.h, rid), "%s: a refused path stored something", c.name)

		for i, p := range hsOddPaths {
			rec := e.v1("POST", "/api/v1/runs/"+rid+hsRoute(c), c.body(p, i), c.ct)
			require.Lessf(t, rec.Code, 300, "%s %q: %s", c.name, p, hsClip(rec.Body.String()))
			e.count("odd paths stored", 1)
		}
		e.checkOddPaths(c, id)
	}
	e.count("paths the engine refuses", len(hsBadPaths))
	e.count("odd paths", len(hsOddPaths))
	e.count("carriers (JSON escaped and raw, protobuf; metric, text, config)", len(carriers))

	// Reads naming hostile paths: Part B says the series is not there
	// (404 Path.NotFound) or returns it; Part A returns no points, as the
	// Python server does; nothing is opened outside the run.
	for _, p := range []string{"", "\xff", "../../../../etc/passwd", "/etc/shadow", "a///b", strings.Repeat("p", 64<<10), "%00", "..%2f"} {
		for _, route := range []string{"/data/metrics", "/data/strings"} {
			rec := e.v1("GET", "/api/v1/runs/ws~p~paths-pb-metric"+route+"?"+url.Values{"path": {p}}.Encode(), nil, "")
			if p == "" {
				e.requireV1Error(rec, http.StatusBadRequest, "Request.Invalid", "empty path")
			} else {
				e.requireV1Error(rec, http.StatusNotFound, "Path.NotFound", fmt.Sprintf("read %q", hsClip(p)))
			}
		}
		var m struct{ Metrics []any }
		require.NoError(t, json.Unmarshal(e.partA("/api/runs/ws/p/paths-pb-metric/metrics?path="+url.QueryEscape(p)+"&firstPointIndex=0"), &m))
		if p != "" {
			require.Empty(t, m.Metrics, "read %q", hsClip(p))
		}
		e.count("hostile read paths (Part A and B)", 3)
	}
	e.requireContained(allowed...)
	e.logCounts("paths")
}

func hsRoute(c hsCarrier) string {
	if c.kind == "config" {
		return "/configs"
	}
	return "/ingest"
}

// checkOddPaths reads back every odd path a carrier stored, everywhere.
func (e *hsEnv) checkOddPaths(c hsCarrier, id string) {
	t := e.t
	t.Helper()
	want := append([]string{"good"}, hsOddPaths...)
	sorted := slices.Clone(want)
	sort.Strings(sorted)

	// Disk.
	r := e.openRun(id)
	fields, err := r.Fields()
	require.NoError(t, err)
	var got []string
	for _, f := range fields {
		if !strings.HasPrefix(f.Path, "sys/") {
			got = append(got, f.Path)
		}
	}
	sort.Strings(got)
	require.Equal(t, sorted, got, "%s: the fields on disk", c.name)

	// Part B's paths.
	if c.kind != "config" {
		var ps []v1PathJSON
		require.NoError(t, json.Unmarshal(e.v1Get("/api/v1/runs/ws~p~"+id+"/paths"), &ps))
		var names []string
		for _, p := range ps {
			if p.Path == v1PathRefused {
				continue // the refusals this run recorded
			}
			require.Equal(t, c.kind, p.Type)
			names = append(names, p.Path)
		}
		require.Equal(t, sorted, names, "%s: Part B's paths", c.name)
	}
	// Part A's paths: metric-paths and the run list.
	pr := e.paRun(id)
	var pm struct{ Paths []string }
	require.NoError(t, json.Unmarshal(e.partA("/api/runs/ws/p/"+id+"/metric-paths"), &pm))
	strPaths := slices.DeleteFunc(hsStrings(pr["string_series_paths"]), func(p string) bool { return p == v1PathRefused })
	metPaths := hsStrings(pr["metric_paths"])
	switch c.kind {
	case "metric":
		require.Equal(t, sorted, pm.Paths, "%s: Part A's metric-paths", c.name)
		require.Equal(t, sorted, metPaths)
		require.Empty(t, strPaths)
	case "string":
		require.Empty(t, pm.Paths)
		require.Equal(t, sorted, strPaths, "%s: Part A's string_series_paths", c.name)
	case "config":
		require.Empty(t, pm.Paths)
		require.Empty(t, strPaths)
		require.Empty(t, metPaths)
	}

	var cfg map[string]run.Value
	if c.kind == "config" {
		cfg, err = r.Configs()
		require.NoError(t, err)
	}
	var pcfg map[string]json.RawMessage
	var vcfg map[string]v1ConfigJSON
	if c.kind == "config" {
		pcfg, vcfg = e.paConfigs(id), e.v1Configs(id)
	}
	for i, p := range hsOddPaths {
		msg := fmt.Sprintf("%s %q", c.name, hsClip(p))
		switch c.kind {
		case "metric":
			pts, err := r.Metric(p)
			require.NoError(t, err, msg)
			require.Len(t, pts, 1, msg)
			require.Equal(t, float64(i), pts[0].Value, msg)
			ms := e.paMetrics(id, p)
			require.Len(t, ms, 1, msg)
			require.Equal(t, p, ms[0].Path, msg)
			require.Equal(t, fmt.Sprintf("%d.0", i), string(ms[0].Value), msg)
			vs := e.v1Metrics(id, p)
			require.Len(t, vs, 1, msg)
			require.Equal(t, strconv.Itoa(i), string(vs[0].Y), msg)
		case "string":
			pts, err := r.Strings(p)
			require.NoError(t, err, msg)
			require.Len(t, pts, 1, msg)
			require.Equal(t, p, pts[0].Value, msg)
			ss := e.paStrings(id, p)
			require.Len(t, ss, 1, msg)
			require.Equal(t, p, ss[0].Path, msg)
			require.Equal(t, p, ss[0].Value, msg)
			vs := e.v1Strings(id, p)
			require.Len(t, vs, 1, msg)
			require.Equal(t, p, vs[0].Value, msg)
		case "config":
			require.Equal(t, engine.String(p), cfg[p], msg)
			require.Equal(t, hsJSONStr(p), hsReencode(t, pcfg[p]), msg)
			require.Equal(t, "str", vcfg[p].TypeTag, msg)
			require.Equal(t, p, vcfg[p].Value, msg)
		}
	}
}

// hsReencode decodes a JSON string and encodes it again with
// json.Marshal, to compare a value whatever its escapes.
func hsReencode(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var s string
	require.NoError(t, json.Unmarshal(raw, &s), "%s", raw)
	return hsJSONStr(s)
}

func hsStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// ---- strings, configs and kinds ----

// TestHostileServerStrings: texts with NUL, controls, bidi and the like are
// stored exactly; 10 MiB and 1 MiB + 1 texts, invalid UTF-8 in texts,
// configs, tags and names are refused (4xx, nothing stored, nothing big on
// disk); a lone surrogate escape becomes U+FFFD, as documented; a path
// written as one kind refuses the others and keeps its data.
func TestHostileServerStrings(t *testing.T) {
	e := newHSEnv(t)
	const id = "strings"
	rid := e.createRun(id)

	mib := strings.Repeat("x", 1<<20)
	mibWide := strings.Repeat("é", 1<<19)
	texts := []string{
		"", "\x00", "nul\x00in\x00side", "\x1b[2J\x1b[31mred", "\u202eevil\u202c.exe", "\u2066iso\u2069", "zero\u200bwidth",
		"\ufeff", "\r\n\t\b\f\v", "\u2028\u2029", "\u0085\u009f", "\x7f", "😀🚀", "\ufffd", "<script>&amp;</script>",
		`"quoted" \back\slash`, "%2e%2e/../../etc/passwd", mib, mibWide,
	}
	carriers := []struct {
		path string
		body func(text string, step int) []byte
		ct   string
	}{
		{"text/json-escaped", func(s string, i int) []byte {
			return v1PyIngestJSON([]string{v1PyStringPoint("text/json-escaped", int64(i), 5, s)})
		}, "application/json"},
		{"text/json-utf8", func(s string, i int) []byte {
			return v1PyIngestJSON([]string{fmt.Sprintf(`{"path": "text/json-utf8", "step": %d, "text": %s}`, i, hsJSONStr(s))})
		}, "application/json"},
		{"text/pb", func(s string, i int) []byte { return hsProtoPoint("text/pb", int64(i), 5, nil, &s) }, "application/protobuf"},
	}
	for _, c := range carriers {
		for i, s := range texts {
			rec := e.ingest(id, c.body(s, i), c.ct)
			require.Equalf(t, http.StatusOK, rec.Code, "%s %q: %s", c.path, hsClip(s), rec.Body.String())
		}
		// gzip'd too, as the client sends ingest bodies.
		rec := v1Serve(e.h, "POST", "/api/v1/runs/"+rid+"/ingest", v1TestKey, v1PyGzip(t, c.body(texts[4], 100)), c.ct, true)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		e.count("texts stored", len(texts)+1)
	}
	// Configs (str, string_set as tags) and the description with the same
	// characters: stored exactly.
	cfgTexts := []string{"", "\x00", "\x1b[2J", "\u202eevil\u202c", "\u2066iso\u2069", "zero\u200bwidth", "\ufeff", "\r\n\t", "\u2028", "😀", "\x7f"}
	var items []string
	for i, s := range cfgTexts {
		items = append(items, v1PyConfig(fmt.Sprintf("cfg/%02d", i), "str", s))
	}
	tags := []string{"", "\x00", "\u202eevil", "tab\there", "😀", "dup", "dup", "\u200b"}
	tagsJSON, err := json.Marshal(tags)
	require.NoError(t, err)
	desc := "line one\nline two\t\u202e\x00 end"
	items = append(items, v1PyConfig(run.PathTags, "string_set", string(tagsJSON)), v1PyConfig(run.PathDescription, "str", desc))
	rec := e.configs(id, v1PyConfigsBody(items))
	require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
	e.count("config texts stored (with tags and a description)", len(cfgTexts)+len(tags)+1)

	// Lone surrogates: JSON can escape them, UTF-8 cannot hold them. The
	// decoders replace each with U+FFFD, as encoding/json does (ingest.go
	// says so); the replacement is what is stored.
	surr := []struct{ esc, want string }{
		{`"\ud800"`, "\ufffd"}, {`"\udfff"`, "\ufffd"}, {`"a\udc00\ud800b"`, "a\ufffd\ufffdb"}, {`"\ud83d"`, "\ufffd"},
		{`"\ud83d\ude00"`, "😀"}, // a pair is one rune
	}
	for i, s := range surr {
		rec := e.ingest(id, v1PyIngestJSON([]string{fmt.Sprintf(`{"path": "text/surrogate", "step": %d, "text": %s}`, i, s.esc)}), "application/json")
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		rec = e.configs(id, []byte(fmt.Sprintf(`{"configs": [{"path": "surrogate/%d", "type_tag": "str", "value": %s}]}`, i, s.esc)))
		require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
	}
	e.count("lone-surrogate escapes replaced by U+FFFD (text and config)", 2*(len(surr)-1))

	// Refusals, on a run of their own (so that "nothing changed" compares
	// a small run): a path of each kind, a text, a config.
	const rid2 = "refused"
	refusedID := e.createRun(rid2)
	rec = e.ingest(rid2, v1PyIngestJSON([]string{v1PyMetricPoint("kind/metric", 0, 5, 1.5), v1PyStringPoint("kind/text", 0, 5, "first"),
		v1PyStringPoint("text/pb", 0, 5, "ok")}), "application/json")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	rec = e.configs(rid2, v1PyConfigsBody([]string{v1PyConfig("kind/config", "int", "7"), v1PyConfig("cfg/00", "str", "ok")}))
	require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())

	before := v1Snapshot(t, e.h, refusedID)
	treeBefore := hsTree(t, e.home)
	big := strings.Repeat("B", 10<<20)
	overWide := mibWide + "é" // 1 MiB + 2 bytes, 524,289 characters
	over := mib + "x"
	one := 1.0
	pbText := func(path, s string) []byte { return hsProtoPoint(path, 9, 5, nil, &s) }
	goodJSON := v1PyStringPoint("text/pb", 999, 5, "would be stored")
	type refusal struct {
		name, route, ct string
		body            []byte
		gz              bool
		status          int
		code            string
	}
	var refusals, stored []refusal
	add := func(name, route, ct string, body []byte, status int, code string) {
		refusals = append(refusals, refusal{name, route, ct, body, false, status, code})
	}
	// store: what GoodSeed's client accepts, which the engine once refused
	// and now stores as sent (long texts, one path as several kinds).
	store := func(name, route, ct string, body []byte, _ int, _ string) {
		stored = append(stored, refusal{name, route, ct, body, false, 0, ""})
	}
	ingest, configs := "/ingest", "/configs"
	const pbCT, jsCT = "application/protobuf", "application/json"
	bigPoint := `{"path": "text/pb", "step": 9, "timestampMs": 5, "text": "` + big + `"}` // ASCII: as v1PyStringPoint writes it
	store("10 MiB text, JSON", ingest, jsCT, v1PyIngestJSON([]string{goodJSON, bigPoint}), 400, "Request.Invalid")
	stored = append(stored, refusal{"10 MiB text, gzip JSON", ingest, jsCT,
		v1PyGzip(t, v1PyIngestJSON([]string{goodJSON, bigPoint})), true, 0, ""})
	store("10 MiB text in a new path, protobuf", ingest, pbCT, append(pbText("text/pb", "ok"), pbText("text/new", big)...), 400, "Request.Invalid")
	store("1 MiB + 1 text, JSON", ingest, jsCT, v1PyIngestJSON([]string{v1PyStringPoint("text/new", 1, 5, over)}), 400, "Request.Invalid")
	store("1 MiB + 1 text, protobuf", ingest, pbCT, pbText("text/pb", over), 400, "Request.Invalid")
	store("1 MiB + 2 bytes of 'é', JSON", ingest, jsCT, v1PyIngestJSON([]string{goodJSON, v1PyStringPoint("text/pb", 9, 5, overWide)}), 400, "Request.Invalid")
	for _, bad := range []string{"\xff", "ok\xc3", "\xed\xa0\x80", "\xc0\xaf", "\xf4\x90\x80\x80", "a\xe2\x82"} {
		add(fmt.Sprintf("invalid UTF-8 text %q, JSON", bad), ingest, jsCT,
			[]byte(`{"points": [`+goodJSON+`, {"path": "text/pb", "step": 9, "text": `+hsRawJSON(bad)+`}]}`), 400, "Request.Invalid")
		add(fmt.Sprintf("invalid UTF-8 text %q, protobuf", bad), ingest, pbCT, append(pbText("text/pb", "ok"), pbText("text/pb", bad)...), 400, "Request.Invalid")
		add(fmt.Sprintf("invalid UTF-8 config %q", bad), configs, jsCT,
			[]byte(`{"configs": [{"path": "cfg/ok", "type_tag": "str", "value": "fine"}, {"path": "cfg/00", "type_tag": "str", "value": `+hsRawJSON(bad)+`}]}`), 400, "Request.Invalid")
		add(fmt.Sprintf("invalid UTF-8 config path %q", bad), configs, jsCT,
			[]byte(`{"configs": [{"path": `+hsRawJSON("cfg/"+bad)+`, "type_tag": "str", "value": "x"}]}`), 400, "Request.Invalid")
		add(fmt.Sprintf("invalid UTF-8 tag %q", bad), configs, jsCT,
			[]byte(`{"configs": [{"path": "sys/tags", "type_tag": "string_set", "value": "[\"ok\", `+strings.Trim(hsRawJSON(`"`+bad+`"`), `"`)+`]"}]}`), 400, "Request.Invalid")
	}
	store("10 MiB config", configs, jsCT, v1PyConfigsBody([]string{v1PyConfig("cfg/ok", "str", "fine"), `{"path": "cfg/00", "type_tag": "str", "value": "` + big + `"}`}), 400, "Request.Invalid")
	store("10 MiB tag", configs, jsCT, v1PyConfigsBody([]string{`{"path": "sys/tags", "type_tag": "string_set", "value": "[\"` + big + `\"]"}`}), 400, "Request.Invalid")
	// One path as two kinds.
	store("metric path as text, JSON", ingest, jsCT, v1PyIngestJSON([]string{goodJSON, v1PyStringPoint("kind/metric", 1, 5, "x")}), 400, "Request.Invalid")
	store("metric path as text, protobuf", ingest, pbCT, pbText("kind/metric", "x"), 400, "Request.Invalid")
	store("metric path as config", configs, jsCT, v1PyConfigsBody([]string{v1PyConfig("cfg/ok", "int", "1"), v1PyConfig("kind/metric", "float", "1")}), 400, "Request.Invalid")
	store("text path as metric, JSON", ingest, jsCT, v1PyIngestJSON([]string{goodJSON, v1PyMetricPoint("kind/text", 1, 5, 2)}), 400, "Request.Invalid")
	store("text path as metric, protobuf", ingest, pbCT, hsProtoPoint("kind/text", 1, 5, &one, nil), 400, "Request.Invalid")
	store("text path as config", configs, jsCT, v1PyConfigsBody([]string{v1PyConfig("kind/text", "str", "x")}), 400, "Request.Invalid")
	store("config path as metric", ingest, jsCT, v1PyIngestJSON([]string{goodJSON, v1PyMetricPoint("kind/config", 1, 5, 2)}), 400, "Request.Invalid")
	store("config path as text", ingest, pbCT, pbText("kind/config", "x"), 400, "Request.Invalid")
	store("new path as both kinds, JSON", ingest, jsCT, v1PyIngestJSON([]string{v1PyMetricPoint("kind/new", 1, 5, 2), v1PyStringPoint("kind/new", 2, 5, "x")}), 400, "Request.Invalid")
	store("new path as both kinds, protobuf", ingest, pbCT, append(hsProtoPoint("kind/new", 1, 5, &one, nil), pbText("kind/new", "x")...), 400, "Request.Invalid")
	store("sys path of the run as text", ingest, jsCT, v1PyIngestJSON([]string{v1PyStringPoint(run.PathState, 1, 5, "finished")}), 400, "Request.Invalid")
	for _, rf := range refusals {
		rec := v1Serve(e.h, "POST", "/api/v1/runs/"+refusedID+rf.route, v1TestKey, rf.body, rf.ct, rf.gz)
		e.requireV1Error(rec, rf.status, rf.code, rf.name)
		require.NotContains(t, rec.Body.String(), big[:1000], "%s: the error does not echo the value", rf.name)
		if strings.Contains(rf.name, " as ") {
			e.count("kind changes refused", 1)
		} else {
			e.count("values refused", 1)
		}
	}
	require.Equal(t, before, v1Snapshot(t, e.h, refusedID), "a refused request stored something")
	var grew int64
	for p, v := range hsTree(t, e.home) {
		var size, old int64
		fmt.Sscanf(v[strings.LastIndexByte(v, ' ')+1:], "%d", &size)
		if o, ok := treeBefore[p]; ok && o != "dir" {
			fmt.Sscanf(o[strings.LastIndexByte(o, ' ')+1:], "%d", &old)
		}
		if v != "dir" {
			grew += size - old
		}
	}
	require.Less(t, grew, int64(64<<10), "no refused value reached the disk")
	for _, st := range stored {
		rec := v1Serve(e.h, "POST", "/api/v1/runs/"+refusedID+st.route, v1TestKey, st.body, st.ct, st.gz)
		require.Less(t, rec.Code, 300, "%s: %s", st.name, hsClip(rec.Body.String()))
		require.NotContains(t, rec.Body.String(), "refused", st.name)
		require.Empty(t, rec.Header().Get(v1HeaderRefused), st.name)
		e.count("values and kinds once refused, now stored as sent", 1)
	}
	var big2 series.StringColumns
	rd, err := engine.OpenReader(filepath.Join(e.home, "projects", "ws", "p", "runs", rid2), nil)
	require.NoError(t, err)
	require.NoError(t, rd.ReadString("text/new", &big2))
	require.True(t, slices.Equal([]string{over, big}, big2.Values), "long texts stored whole")
	require.NoError(t, rd.ReadString("kind/metric", &big2))
	require.Equal(t, []string{"x", "x"}, big2.Values, "a metric's path holds a string series too")
	var mc series.MetricColumns
	require.NoError(t, rd.ReadMetric("kind/metric", &mc))
	require.Equal(t, []float64{1.5}, mc.Values, "and keeps its metric")
	require.True(t, rd.Configs()["kind/metric"].Value.Equal(engine.Float(1)))
	require.NoError(t, rd.Close())

	// Out: disk, Part A and Part B, exactly.
	r := e.openRun(id)
	for _, c := range carriers {
		pts, err := r.Strings(c.path)
		require.NoError(t, err)
		require.Len(t, pts, len(texts)+1)
		pa := e.paStrings(id, c.path)
		pb := e.v1Strings(id, c.path)
		require.Len(t, pa, len(texts)+1)
		require.Len(t, pb, len(texts)+1)
		for i, s := range texts {
			msg := fmt.Sprintf("%s %q", c.path, hsClip(s))
			require.Equal(t, s, pts[i].Value, msg)
			require.Equal(t, s, pa[i].Value, msg)
			require.Equal(t, s, pb[i].Value, msg)
		}
		require.Equal(t, texts[4], pts[len(texts)].Value, "%s: the gzip'd point", c.path)
		require.Equal(t, texts[4], pa[len(texts)].Value)
		require.Equal(t, texts[4], pb[len(texts)].Value)
	}
	require.Equal(t, `"\u0000"`, string(hsRawOf(t, e.partA("/api/runs/ws/p/"+id+"/string_series?path=text/json-escaped&offset=1&limit=1"))), "Part A escapes NUL as Python does")
	cfg, err := r.Configs()
	require.NoError(t, err)
	pcfg, vcfg := e.paConfigs(id), e.v1Configs(id)
	for i, s := range cfgTexts {
		p := fmt.Sprintf("cfg/%02d", i)
		require.Equal(t, engine.String(s), cfg[p], p)
		require.Equal(t, hsJSONStr(s), hsReencode(t, pcfg[p]), p)
		require.Equal(t, s, vcfg[p].Value, p)
	}
	wantTags := []string{"", "\x00", "dup", "tab\there", "\u200b", "\u202eevil", "😀"} // sorted by bytes
	require.Equal(t, engine.StringSet(tags...), cfg[run.PathTags])
	var ptags []string
	require.NoError(t, json.Unmarshal(pcfg[run.PathTags], &ptags))
	require.Equal(t, wantTags, ptags, "Part A: the tags as a sorted array")
	var vtags []string
	require.NoError(t, json.Unmarshal([]byte(vcfg[run.PathTags].Value), &vtags))
	require.ElementsMatch(t, wantTags, vtags)
	require.Equal(t, engine.String(desc), cfg[run.PathDescription])
	require.Equal(t, desc, vcfg[run.PathDescription].Value)
	pts, err := r.Strings("text/surrogate")
	require.NoError(t, err)
	for i, s := range surr {
		require.Equal(t, s.want, pts[i].Value, s.esc)
		require.Equal(t, engine.String(s.want), cfg[fmt.Sprintf("surrogate/%d", i)], s.esc)
	}
	// The refused run: each path kept its first kind's data beside the
	// kinds stored later.
	r2 := e.openRun(rid2)
	m, err := r2.Metric("kind/metric")
	require.NoError(t, err)
	require.Len(t, m, 1)
	require.Equal(t, 1.5, m[0].Value)
	st, err := r2.Strings("kind/text")
	require.NoError(t, err)
	require.Len(t, st, 1)
	require.Equal(t, "first", st[0].Value)
	cfg2, err := r2.Configs()
	require.NoError(t, err)
	require.Equal(t, engine.Int(7), cfg2["kind/config"])
	require.Equal(t, engine.String(big), cfg2["cfg/00"])
	require.True(t, r2.Exists("kind/new"))
	e.requireContained(hsRunRel("ws", "p", id), hsRunRel("ws", "p", rid2))
	e.logCounts("strings")
}

// hsRawOf returns the raw "value" of the first string_series entry.
func hsRawOf(t *testing.T, body []byte) json.RawMessage {
	t.Helper()
	var m struct {
		Series []struct {
			Value json.RawMessage
		} `json:"string_series"`
	}
	require.NoError(t, json.Unmarshal(body, &m))
	require.NotEmpty(t, m.Series)
	return m.Series[0].Value
}

// ---- run ids, projects, workspaces and names ----

// hsNames are hostile run ids, projects and workspaces.
var hsNames = []string{
	"..", ".", "...", "/", "/etc", "/etc/passwd", "a/../../b", "../x", "../../canary", "a/b", "x\x00y", "\x00",
	"%2e%2e", "%2E%2E", "%2f", "a%2fb", "..%2f..", "%5c", `a\b`, `..\..`, `\`, "x\uff0fy", "\uff0e\uff0e", "\u2024\u2024",
	"x\u2215y", "\u2044etc", "x\u29f8y", "a\nb", "a\tb", "\x1b[2J", "a\u0085b", "\x7f", " x", "x ", " ", "~", "a~b",
	"ａｂｃ", "\u202eid", "zero\u200bw", "\ufeffx", ".hidden", "x.", "-x", "x-", "_x", "a_b-c.d",
	strings.Repeat("a", run.MaxRunIDChars), strings.Repeat("a", run.MaxRunIDChars+1), strings.Repeat("a", 4096),
	strings.Repeat("a", 64<<10), "CON", "nul", "aux", "?", "#", "a?b", "a#b", "*", "%",
}

// hsNameOK says which names the run package's rules take, per role: the
// expectations, written out.
func hsNameOK(role, s string) bool {
	switch s {
	case "CON", "nul", "aux", strings.Repeat("a", run.MaxRunIDChars):
		return true
	case "-x", "x-", "_x", "x.", "...", "a_b-c.d":
		return role != "run_id" && s != "..." // a project segment may start with '-' or '_' and hold '.'
	}
	return false
}

// TestHostileServerNames: hostile run ids, projects and workspaces in every
// place a request names them — the body of POST runs, the remote id of
// every run route (escaped as a client sends it, and raw where it parses),
// the workspace and project routes, Part A's run paths and its project
// filter — are a 400 in the API's error shape, or a 404 for valid names of
// runs that do not exist; the few valid ones create their run exactly in
// the home. Run names, descriptions and tags with control and bidi
// characters at creation: names are refused (the run package's
// ValidateName), descriptions and tags are stored as given.
func TestHostileServerNames(t *testing.T) {
	e := newHSEnv(t)
	routes := []struct{ method, route string }{
		{"POST", "/ingest"}, {"POST", "/configs"}, {"POST", "/status"}, {"POST", "/heartbeat"},
		{"GET", ""}, {"GET", "/paths"}, {"GET", "/data/metrics?path=a"}, {"GET", "/data/strings?path=a"},
	}
	body := []byte(`{"points": [{"path": "a", "step": 1, "number": 1}], "configs": [], "status": "finished"}`)
	roles := []string{"workspace", "project", "run_id"}
	pick := func(role, s string) (ws, p, id string) {
		ws, p, id = "ws", "p", "r"
		switch role {
		case "workspace":
			ws = s
		case "project":
			p = s
		case "run_id":
			id = s
		}
		return
	}
	valid := func(ws, p, id string) bool {
		return (ws == "ws" || hsNameOK("workspace", ws)) && (p == "p" || hsNameOK("project", p)) && (id == "r" || hsNameOK("run_id", id))
	}

	// 1. Remote ids, before any run exists: 400, or 404 Run.NotFound for a
	// valid one; nothing is created either way.
	for _, s := range hsNames {
		for _, role := range roles {
			ws, p, id := pick(role, s)
			remote := ws + "~" + p + "~" + id
			forms := []*url.URL{{Path: "/api/v1/runs/" + remote, RawPath: "/api/v1/runs/" + url.PathEscape(remote)}}
			if raw := "/api/v1/runs/" + remote; !strings.ContainsAny(remote, "?#%") {
				if u, err := url.ParseRequestURI(raw); err == nil && !strings.Contains(remote, "/") {
					forms = append(forms, u)
				}
			}
			for _, u := range forms {
				for _, rt := range routes {
					uu := *u
					target, query, _ := strings.Cut(rt.route, "?")
					uu.Path += target
					if uu.RawPath != "" {
						uu.RawPath += target
					}
					uu.RawQuery = query
					rec := e.v1URL(rt.method, &uu, body)
					msg := fmt.Sprintf("%s %s (%s %q)", rt.method, hsClip(uu.RequestURI()), role, hsClip(s))
					if valid(ws, p, id) {
						e.requireV1Error(rec, http.StatusNotFound, "Run.NotFound", msg)
						e.count("remote-id requests answered 404 (valid names, no run)", 1)
					} else {
						e.requireV1Refused(rec, msg)
						e.count("remote-id requests refused", 1)
					}
				}
			}
		}
	}
	e.requireContained() // nothing at all yet

	// 2. Part A run paths, each segment escaped as a browser does: 400, or
	// 404 "Run not found" for valid names; and the run list's project
	// filter, which matches nothing.
	for _, s := range hsNames {
		seg := url.PathEscape(s)
		for _, tg := range []struct {
			target string
			ok     bool
		}{
			{"/api/runs/" + seg + "/r", hsNameOK("project", s)},
			{"/api/runs/ws/" + seg + "/r", hsNameOK("project", s)},
			{"/api/runs/" + seg + "/p/r", hsNameOK("workspace", s)},
			{"/api/runs/ws/p/" + seg, hsNameOK("run_id", s)},
		} {
			for _, verb := range []string{"/configs", "/metric-paths", "/metrics?path=a", "/string_series", "/trash", "/trash/restore"} {
				method := http.MethodGet
				if strings.HasPrefix(verb, "/trash") {
					method = http.MethodPost
				}
				rec := paDo(t, e.h, method, tg.target+verb)
				msg := method + " " + hsClip(tg.target+verb)
				if tg.ok {
					e.requirePartAError(rec, http.StatusNotFound, msg)
					require.Contains(t, paErrorBody(t, rec.Body.String()), "Run not found", msg)
					e.count("Part A run requests answered 404 (valid names, no run)", 1)
				} else {
					e.requirePartAError(rec, http.StatusBadRequest, msg)
					e.count("Part A run requests refused", 1)
				}
			}
		}
		var runs struct{ Runs []any }
		require.NoError(t, json.Unmarshal(e.partA("/api/runs?project="+url.QueryEscape(s)), &runs))
		require.Empty(t, runs.Runs)
		e.count("Part A project filters", 1)
	}
	e.requireContained()

	// 3. Workspace and project routes.
	var allowed []string
	for _, s := range hsNames {
		esc := url.PathEscape(s)
		for _, rq := range []struct {
			method, target, body string
			ok                   bool
		}{
			{"GET", "/api/v1/workspaces/" + esc + "/projects", "", hsNameOK("workspace", s)},
			{"GET", "/api/v1/workspaces/" + esc + "/projects/p/runs", "", hsNameOK("workspace", s)},
			{"GET", "/api/v1/workspaces/ws/projects/" + esc + "/runs", "", hsNameOK("project", s)},
			{"POST", "/api/v1/workspaces/ws/projects", `{"name": ` + v1PyStr(s) + `}`, hsNameOK("project", s)},
			{"POST", "/api/v1/workspaces/" + esc + "/projects", `{"name": "p"}`, hsNameOK("workspace", s)},
		} {
			rec := e.v1URL(rq.method, &url.URL{Path: hsMustUnescape(rq.target), RawPath: rq.target}, []byte(rq.body))
			msg := fmt.Sprintf("%s %s %s", rq.method, hsClip(rq.target), hsClip(rq.body))
			if !rq.ok {
				e.requireV1Refused(rec, msg)
				e.count("workspace and project requests refused", 1)
				continue
			}
			require.Containsf(t, []int{200, 404}, rec.Code, "%s: %s", msg, rec.Body)
			if rec.Code == 404 {
				require.Equal(t, "Project.NotFound", v1ErrorCode(t, rec))
			}
			if rq.method == "POST" {
				if rq.body == `{"name": "p"}` {
					allowed = append(allowed, "projects/"+s+"/p/runs")
				} else {
					allowed = append(allowed, "projects/ws/"+s+"/runs")
				}
			}
			e.count("workspace and project requests answered", 1)
		}
	}
	e.requireContained(allowed...)

	// 4. POST runs with the hostile name in each role: 400 storing nothing,
	// or the run created exactly where its names say.
	for _, s := range hsNames {
		for _, role := range roles {
			ws, p, id := pick(role, s)
			for _, enc := range []func(string) string{v1PyStr, hsJSONStr} {
				b := fmt.Sprintf(`{"workspace": %s, "project": %s, "run_id": %s, "experiment_name": null}`, enc(ws), enc(p), enc(id))
				rec := e.v1("POST", "/api/v1/runs", []byte(b), "application/json")
				msg := fmt.Sprintf("POST runs %s %q", role, hsClip(s))
				if !valid(ws, p, id) {
					e.requireV1Error(rec, http.StatusBadRequest, "Request.Invalid", msg)
					e.count("run creations refused", 1)
					continue
				}
				require.Equal(t, http.StatusOK, rec.Code, "%s: %s", msg, rec.Body)
				require.Equal(t, ws+"~"+p+"~"+id, v1Decode[map[string]any](t, rec.Body.Bytes())["id"])
				dir := filepath.Join(e.home, "projects", ws, p, "runs", id)
				fi, err := os.Stat(dir)
				require.NoError(t, err, msg)
				require.True(t, fi.IsDir())
				allowed = append(allowed, hsRunRel(ws, p, id))
				e.count("run creations accepted (valid names)", 1)
			}
		}
	}
	// Invalid UTF-8 in a name field: refused like any other bad name.
	for _, role := range roles {
		ws, p, id := pick(role, "ok\xff")
		b := fmt.Sprintf(`{"workspace": %s, "project": %s, "run_id": %s}`, hsRawJSON(ws), hsRawJSON(p), hsRawJSON(id))
		e.requireV1Error(e.v1("POST", "/api/v1/runs", []byte(b), "application/json"), http.StatusBadRequest, "Request.Invalid", role+" invalid UTF-8")
		e.count("run creations refused", 1)
	}
	e.requireContained(allowed...)

	// 5. Names: refused at creation and when set as sys/name later, as the
	// run package refuses them; odd but clean names stored exactly.
	badNames := []string{"a\x00b", "safe\u202eexe.txt", "\u2066isolate\u2069", "\u202a", "zero\u200bwidth", "\ufeffbom", "\x1b[2J",
		"line\nbreak", "tab\there", "a\u0085b", "del\x7f", strings.Repeat("n", run.MaxNameChars+1)}
	goodNames := []string{"", "日本語 🚀", "  spaces  ", `quote" and \ back`, "<script>alert(1)</script>", "%2e%2e/../x",
		strings.Repeat("n", run.MaxNameChars), strings.Repeat("é", run.MaxNameChars)}
	e.createRun("named")
	allowed = append(allowed, hsRunRel("ws", "p", "named"))
	for i, n := range badNames {
		for _, enc := range []func(string) string{v1PyStr, hsJSONStr} {
			b := fmt.Sprintf(`{"workspace": "ws", "project": "p", "run_id": "bad-name-%d", "experiment_name": %s}`, i, enc(n))
			e.requireV1Error(e.v1("POST", "/api/v1/runs", []byte(b), "application/json"), http.StatusBadRequest, "Request.Invalid", fmt.Sprintf("name %q", hsClip(n)))
			// As a config, GoodSeed's client stores it: so do we, but it
			// never becomes the run's name.
			rec := e.configs("named", v1PyConfigsBody([]string{v1PyConfig("ok/cfg", "int", "1"), v1PyConfig(run.PathName, "str", n)}))
			require.Equal(t, http.StatusNoContent, rec.Code, "sys/name %q: %s", hsClip(n), rec.Body)
			require.Empty(t, e.v1Run("named").Name, "sys/name %q", hsClip(n))
			e.count("names refused (POST runs and sys/name as the name)", 2)
		}
	}
	b := []byte(`{"workspace": "ws", "project": "p", "run_id": "bad-name-x", "experiment_name": ` + hsRawJSON("n\xff") + `}`)
	e.requireV1Error(e.v1("POST", "/api/v1/runs", b, "application/json"), http.StatusBadRequest, "Request.Invalid", "name invalid UTF-8")
	e.requireV1Error(e.configs("named", []byte(`{"configs": [{"path": "sys/name", "type_tag": "str", "value": `+hsRawJSON("n\xff")+`}]}`)),
		http.StatusBadRequest, "Request.Invalid", "sys/name invalid UTF-8")
	e.count("names refused (POST runs and sys/name as the name)", 2)
	require.Empty(t, e.paRun("named")["experiment_name"], "no name reached the run list")

	for i, n := range goodNames {
		id := fmt.Sprintf("good-name-%d", i)
		rec := e.v1("POST", "/api/v1/runs", []byte(fmt.Sprintf(`{"workspace": "ws", "project": "p", "run_id": %q, "experiment_name": %s}`, id, v1PyStr(n))), "application/json")
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		allowed = append(allowed, hsRunRel("ws", "p", id))
		require.Equal(t, n, e.v1Run(id).Name)
		if n == "" {
			require.Nil(t, e.paRun(id)["experiment_name"])
		} else {
			require.Equal(t, n, e.paRun(id)["experiment_name"])
		}
		info, err := e.openRun(id).Info()
		require.NoError(t, err)
		require.Equal(t, n, info.Name)
		// And set later as sys/name, as the Python client does.
		rec = e.configs("named", v1PyConfigsBody([]string{v1PyConfig(run.PathName, "str", n)}))
		require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
		require.Equal(t, n, e.v1Run("named").Name)
		e.count("odd names stored (POST runs and sys/name)", 2)
	}
	// Descriptions and tags are free text: stored as given, controls and
	// bidi included (the run package checks only UTF-8 and size there).
	desc := "desc \u202eevil\u202c\x00\x1b[2J\nline"
	tags := `["\u202etag", "a\u0000b", "\u2066x\u2069"]`
	rec := e.configs("named", v1PyConfigsBody([]string{v1PyConfig(run.PathDescription, "str", desc), v1PyConfig(run.PathTags, "string_set", tags)}))
	require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
	cfg, err := e.openRun("named").Configs()
	require.NoError(t, err)
	require.Equal(t, engine.String(desc), cfg[run.PathDescription])
	require.Equal(t, engine.StringSet("\u202etag", "a\x00b", "\u2066x\u2069"), cfg[run.PathTags])
	e.count("descriptions and tags stored", 4)
	e.count("hostile names", len(hsNames))
	e.requireContained(allowed...)
	e.logCounts("names")
}

func hsMustUnescape(s string) string {
	u, err := url.PathUnescape(s)
	if err != nil {
		panic(err)
	}
	return u
}
