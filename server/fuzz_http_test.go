package server

// Handler-level fuzz targets: whole requests — method, path, query string,
// and for /api/v1 content type, Content-Encoding and body — through the
// server's real http.Handler, so that every parser on the way (the escaped
// path check of Server.serveHTTP, the mux, Part A's run path parser, the
// query parameters of both parts, /api/v1's remote ids, body reading with
// gzip, and the JSON, protobuf, configs and status decoders) meets hostile
// input together. FuzzDecodeJSONIngest and FuzzDecodeProtobufIngest cover
// the ingest decoders alone.
//
// Each fuzz process builds its world once (not per input): a parent
// temporary directory holding the data directory ("home") and a sibling
// directory ("outside") that holds a complete run whose name, config,
// metric path and text carry fhMarker. The home reaches it through a
// symlinked project directory ("evil") and a symlinked run directory
// ("linked-run"), as an attacker with write access to the home could
// arrange. Properties checked on every input:
//
//   - no panic, and no 5xx (see each target for why none is expected);
//   - error answers have the JSON error shape of the part that answers;
//     a 200 with a JSON content type is valid JSON;
//   - nothing under the parent directory outside the home changes (names,
//     types, sizes, modification times), and no answer carries fhMarker
//     unless the request itself did: nothing outside the home is read or
//     written;
//   - the home changes only where the request may change it (see each
//     target).
//
// Run them with (one at a time on a small machine):
//
//	go test -run '^$' -fuzz '^FuzzPartARequest$' -fuzztime 5m ./server
//	go test -run '^$' -fuzz '^FuzzAPIv1Request$' -fuzztime 5m ./server

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/run"
)

// fhMarker is carried by the run outside the home: its display name, a
// config value, a metric path and a text. A response that holds it read
// outside the data directory.
const fhMarker = "qx7canaryleakz9w"

// fhMaxBody bounds a fuzzed request body (before gzip), to keep each input
// quick; the 16 MiB limits are exercised by the gzip bomb seeds.
const fhMaxBody = 64 << 10

// fhWorld is one fuzz process's directories.
type fhWorld struct {
	parent  string // holds home and outside
	home    string
	outside string // the sibling holding the marked run
	// outsideSnap is fhSnapshot of parent without the home, taken once.
	outsideSnap map[string]string
}

// fhNewWorld makes parent/home (a copy of Part A's fixture when fixture is
// set, else empty) and parent/outside with the marked run at
// outside/projects/p/runs/leaky, reachable from the home as project "evil"
// (home/projects/evil -> outside/projects), so as "evil/p" to Part A and
// as workspace "evil", project "p" to /api/v1.
func fhNewWorld(tb testing.TB, fixture bool) *fhWorld {
	tb.Helper()
	parent := tb.TempDir()
	w := &fhWorld{parent: parent, home: filepath.Join(parent, "home"), outside: filepath.Join(parent, "outside")}
	require.NoError(tb, os.MkdirAll(filepath.Join(w.home, "projects"), 0o755))
	if fixture {
		paCopyTreeTo(tb, paFixture(tb), w.home)
	}

	o := paOptions(w.outside, "p", "leaky")
	o.Name = "leak " + fhMarker
	r, err := run.New(o)
	require.NoError(tb, err)
	require.NoError(tb, r.Set("secret", fhMarker))
	require.NoError(tb, r.Field(fhMarker+"/loss").Log(0.5, 1))
	require.NoError(tb, r.Field("notes").LogString("text "+fhMarker, 1))
	require.NoError(tb, r.Close())
	require.NoError(tb, os.WriteFile(filepath.Join(w.outside, "secret"), []byte(fhMarker), 0o644))

	require.NoError(tb, os.Symlink(filepath.Join(w.outside, "projects"), filepath.Join(w.home, "projects", "evil")))
	w.outsideSnap = w.snapOutside(tb)
	return w
}

// link makes home/projects/<project>/runs/linked-run a symlink to the
// marked run outside.
func (w *fhWorld) link(tb testing.TB, project string) {
	tb.Helper()
	runs := filepath.Join(w.home, "projects", filepath.FromSlash(project), "runs")
	require.NoError(tb, os.MkdirAll(runs, 0o755))
	require.NoError(tb, os.Symlink(filepath.Join(w.outside, "projects", "p", "runs", "leaky"), filepath.Join(runs, "linked-run")))
}

func (w *fhWorld) snapOutside(tb testing.TB) map[string]string {
	tb.Helper()
	m, err := fhSnapshot(w.parent, w.home, true)
	require.NoError(tb, err)
	return m
}

// fhSnapshot records every entry under root (symlinks not followed, skip
// and what lies under it left out) by its path relative to root. Full:
// type, size and modification time; else only the type, and the entries
// inside run directories (those whose parent is named "runs") are left
// out: the structure of projects and runs.
func fhSnapshot(root, skip string, full bool) (map[string]string, error) {
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == skip {
			return filepath.SkipDir
		}
		rel, _ := filepath.Rel(root, p)
		if !full {
			out[rel] = d.Type().String()
			if d.IsDir() && p != root && filepath.Base(filepath.Dir(p)) == "runs" {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out[rel] = fmt.Sprintf("%v %d %d", fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		return nil
	})
	return out, err
}

// fhDiff lists the paths whose entries differ between two snapshots.
func fhDiff(a, b map[string]string) []string {
	var out []string
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// fhIsToken reports whether s is an HTTP token (RFC 9110), as a request
// method must be to reach a handler.
func fhIsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// fhRequest builds the request a server hands its handler for method and
// the request target rawPath?rawQuery, or nil when the method is not a
// token (net/http refuses it on the wire; "" is taken as GET). A target
// net/http's server accepts (url.ParseRequestURI, no space or control
// byte) is parsed as the server parses it, escapes kept in RawPath;
// another one is still served, with its path and query set on the URL as
// a program embedding the handler could set them (its path then escaped
// by URL.EscapedPath).
func fhRequest(method, rawPath, rawQuery string, body []byte) *http.Request {
	if method == "" {
		method = http.MethodGet
	}
	if !fhIsToken(method) {
		return nil
	}
	target := rawPath
	if rawQuery != "" {
		target += "?" + rawQuery
	}
	u, err := url.ParseRequestURI(target)
	if err != nil || strings.ContainsAny(target, " ") {
		u = &url.URL{Path: rawPath, RawQuery: rawQuery}
		if !strings.HasPrefix(u.Path, "/") {
			u.Path = "/" + u.Path
		}
		target = u.RequestURI()
	}
	host := u.Host
	if host == "" {
		host = "127.0.0.1:8765"
	}
	req := &http.Request{
		Method: method, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Host: host, RemoteAddr: "127.0.0.1:50000", RequestURI: target,
		Body: http.NoBody, ContentLength: int64(len(body)),
	}
	if len(body) > 0 {
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	return req
}

// fhRequestText is what a request says, for the marker check: the target
// as sent and decoded, and the header values and body given.
func fhRequestText(req *http.Request, extra ...[]byte) []byte {
	var b bytes.Buffer
	b.WriteString(req.RequestURI)
	b.WriteString(req.URL.Path)
	if s, err := url.QueryUnescape(req.URL.RawQuery); err == nil {
		b.WriteString(s)
	}
	for _, e := range extra {
		b.Write(e)
	}
	return bytes.ToLower(b.Bytes())
}

// fhCheckCommon checks what holds of every answer of either part.
func fhCheckCommon(t *testing.T, w *fhWorld, req *http.Request, rec *httptest.ResponseRecorder, reqText []byte, desc string) {
	t.Helper()
	if rec.Code >= 500 {
		t.Fatalf("%s: status %d: %s", desc, rec.Code, rec.Body)
	}
	if rec.Code == http.StatusOK && strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") &&
		!(req.Method == http.MethodHead && rec.Body.Len() == 0) && !json.Valid(rec.Body.Bytes()) {
		t.Fatalf("%s: 200 with a body that is not JSON: %q", desc, rec.Body)
	}
	if !bytes.Contains(reqText, []byte(fhMarker)) {
		for k, vs := range rec.Header() {
			if strings.Contains(strings.ToLower(k+strings.Join(vs, " ")), fhMarker) {
				t.Fatalf("%s: status %d: header %s tells what lies outside the home: %q", desc, rec.Code, k, vs)
			}
		}
		if bytes.Contains(bytes.ToLower(rec.Body.Bytes()), []byte(fhMarker)) {
			t.Fatalf("%s: status %d: the answer holds data from outside the home: %s", desc, rec.Code, rec.Body)
		}
	}
	after, err := fhSnapshot(w.parent, w.home, true)
	if err != nil {
		t.Fatal(err)
	}
	if d := fhDiff(w.outsideSnap, after); len(d) > 0 {
		t.Fatalf("%s: status %d: changed outside the home: %q", desc, rec.Code, d)
	}
}

// fhErrorShape reports whether body is Part A's error ({"error": msg})
// and whether it is /api/v1's ({"error_code", "title", "detail"}), each
// with its strings non-empty.
func fhErrorShape(body []byte) (partA, v1 bool) {
	var a struct {
		Error *string `json:"error"`
	}
	if json.Unmarshal(body, &a) == nil && a.Error != nil && *a.Error != "" {
		partA = true
	}
	var e v1ErrorBody
	if json.Unmarshal(body, &e) == nil && e.ErrorCode != "" && e.Title != "" && e.Detail != "" {
		v1 = true
	}
	return partA, v1
}

// fhV1Routed reports whether /api/v1's handlers answer req: an /api/v1/
// path with a method its routes are registered for (GET, which takes
// HEAD too, and POST). Other methods fall through to Part A's catch-all
// "/" (404 in Part A's error shape; OPTIONS 204), as does "/api/v1"
// without the slash.
func fhV1Routed(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost:
		return strings.HasPrefix(req.URL.EscapedPath(), "/api/v1/")
	}
	return false
}

// ---- Part A ----

// fhPartASeeds are Part A requests: every route with valid and hostile
// parameters.
func fhPartASeeds() [][3]string {
	var seeds [][3]string
	add := func(method, path, query string) { seeds = append(seeds, [3]string{method, path, query}) }
	for _, m := range []string{"GET", "HEAD", "POST", "OPTIONS", "DELETE", "PUT", "get", "CONNECT", "", "G\x00ET", "BREW"} {
		add(m, "/api/projects", "")
		add(m, "/api/runs", "")
	}
	for _, q := range []string{"project=vision", "project=ws/proj", "project=ws%2Fproj", "project=..", "project=%2e%2e",
		"project=evil", "project=evil/p", "project=", "project=a&project=b", "project=%zz", "project=a;b", "project=%00",
		"project=" + strings.Repeat("x", 5000), "project=vision&project=", "=&&=", "project=vis%C4%B1on"} {
		add("GET", "/api/runs", q)
	}
	runs := []string{"vision/bold-falcon", "vision/calm-otter", "ws/proj/quiet-heron", "vision/no-such-run",
		"evil/p/leaky", "vision/linked-run", "ws/proj/linked-run", "evil/leaky", "p/leaky"}
	verbs := []string{"configs", "metric-paths", "metrics", "string_series", "trash", "trash/restore"}
	for _, r := range runs {
		for _, v := range verbs {
			m := "GET"
			if strings.HasPrefix(v, "trash") {
				m = "POST"
			}
			add(m, "/api/runs/"+r+"/"+v, "")
		}
	}
	// Trash and restore the same run, so the fuzzer sees both transitions.
	add("POST", "/api/runs/vision/bold-falcon/trash", "")
	add("POST", "/api/runs/vision/bold-falcon/trash/restore", "")
	add("POST", "/api/runs/vision/calm-otter/trash/restore", "")
	add("POST", "/api/runs/ws/proj/quiet-heron/trash", "")
	add("GET", "/api/runs/vision/bold-falcon/trash", "")
	add("POST", "/api/runs/vision/bold-falcon/configs", "")
	add("HEAD", "/api/runs/vision/bold-falcon/metrics", "path=train/loss")
	add("HEAD", "/api/runs/vision/bold-falcon/configs", "")

	bf := "/api/runs/vision/bold-falcon"
	for _, q := range []string{
		"path=train/loss", "path=train/loss&pointCount=10", "path=train/loss&pointCount=1", "path=train/loss&pointCount=0",
		"path=train/loss&pointCount=-1", "path=train/loss&pointCount=1e9", "path=train/loss&pointCount=NaN",
		"path=train/loss&pointCount=99999999999999999999", "path=train/loss&pointCount=9223372036854775807",
		"path=train/loss&pointCount=-9223372036854775808", "path=train/loss&pointCount=4&firstPointIndex=-5&lastPointIndex=3",
		"path=train/loss&pointCount=4&firstPointIndex=50&lastPointIndex=10", "path=train/loss&pointCount=4&lastPointIndex=-1",
		"path=train/loss&pointCount=3&firstPointIndex=9223372036854775807&lastPointIndex=9223372036854775807",
		"path=train/loss&pointCount=3&firstPointIndex=-9223372036854775808&lastPointIndex=-9223372036854775808",
		"path=train/loss&pointCount=2&firstPointIndex=0&lastPointIndex=9223372036854775807",
		"path=train/loss&pointCount=5&firstPointIndex=1.5", "path=train/loss&pointCount=5&lastPointIndex=Infinity",
		"path=train/loss&pointCount=10&path=train/acc", "path=train/loss&path=notes", "path=notes", "path=notes&pointCount=3",
		"path=nope&pointCount=3", "path=&pointCount=3", "pointCount=3", "firstPointIndex=x", "path=%00", "path=..%2F..%2Fx",
		"path=" + fhMarker + "/loss", "path=%zz", "path=a;b", "pointCount=+5&path=train/loss", "pointCount=0x10&path=train/loss",
		"pointCount=%EF%BC%95&path=train/loss", "path=train%2Floss&pointCount=7", "path=" + strings.Repeat("p", 5000),
	} {
		add("GET", bf+"/metrics", q)
	}
	add("GET", "/api/runs/ws/proj/quiet-heron/metrics", "path=train/loss&pointCount=2")
	for _, q := range []string{
		"limit=2", "offset=1", "limit=2&offset=3", "tail=2", "tail=0", "limit=0", "limit=-1", "offset=-1", "tail=-1",
		"limit=99999999999999999999", "offset=9223372036854775807", "tail=9223372036854775807", "limit=9223372036854775807&offset=9223372036854775807",
		"limit=NaN", "offset=1e3", "tail=Infinity", "limit=&offset=&tail=", "path=notes&tail=1", "path=eval/samples&limit=1&offset=1",
		"path=train/loss", "path=nope", "limit=1&limit=2", "tail=%201", "limit=%2D1",
	} {
		add("GET", bf+"/string_series", q)
	}
	for _, p := range []string{
		"/api/runs/../x/configs", "/api/runs/vision/../../../etc/x/configs", "/api/runs//etc/passwd/configs", "/api/runs/./evil/p/leaky/configs",
		"/api/runs/%2e%2e/bold-falcon/configs", "/api/runs/%2E%2E/%2e%2e/configs", "/api/runs/vision/%2e/configs",
		"/api/runs/%2e%2e%2F%2e%2e%2Fvision/bold-falcon/configs", "/api/runs/vision%2Fruns%2Fbold-falcon/x/configs",
		"/api/runs/%2Fetc/passwd/configs", "/api/runs/vision/bold-falcon%2F..%2F..%2Fcalm-otter/configs",
		"/api/runs/vision%5C..%5Cx/bold-falcon/configs", "/api/runs/%252e%252e/bold-falcon/configs",
		"/api/runs/.hidden/bold-falcon/configs", "/api/runs/a/b/c/bold-falcon/configs", "/api/runs/vision/bold%00falcon/configs",
		"/api/runs/vision/bold\x00falcon/configs", "/api/runs/vision/bold falcon/configs", "/api/runs/vision/bold-falcon%zz/configs",
		"/api/runs/vision\uff0fbold-falcon/configs", "/api/runs/vision/bold\u2010falcon/configs", "/api/runs/\u2024\u2024/bold-falcon/configs",
		"/api/runs/%E2%80%A4%E2%80%A4/bold-falcon/configs", "/api/runs/vision/bold-falcon\u2215..\u2215x/configs",
		"/api/runs/vi%73ion/bold-falcon/configs", "/api/runs/vision/bold-falcon/configs/", "/api/runs/vision/bold-falcon/trash/restore/",
		"/api/runs/vision/bold-falcon", "/api/runs/bold-falcon/configs", "/api/runs/", "/api/runs/trash", "/api/runs/trash/restore",
		"/api/runs/vision/trash/restore", "/api/runs/" + strings.Repeat("a", 300) + "/bold-falcon/configs",
		"/api/runs/vision/" + strings.Repeat("b", 5000) + "/configs", "/api/runs/" + strings.Repeat("x/", 500) + "configs",
		"/api/nope", "/", "*", "", "api/projects", "http://example.com/api/projects", "//api/projects", "/api/projects/",
		"/api/v1/runs", "/api/v1/auth/me", "/api/v1/runs/%2e%2e/ingest", "/api/v1/../projects", "/API/PROJECTS",
	} {
		add("GET", p, "")
	}
	add("POST", "/api/runs/%2e%2e/bold-falcon/trash", "")
	add("POST", "/api/runs/evil/p/leaky/trash", "")
	add("POST", "/api/runs/vision/linked-run/trash/restore", "")
	add("POST", "/api/runs/vision/bold-falcon/trash/../../calm-otter/trash", "")
	add("PUT", "/api/v1/runs", "")
	add("OPTIONS", "/api/v1/runs/%2e%2e", "")
	return seeds
}

// FuzzPartARequest sends method, path and query to Part A over a copy of
// its fixture home. Beyond the common properties (see the file comment):
// no 5xx (a Part A 500 means a storage error, and the fixture's runs are
// healthy, so none is expected for any request); every answer off /api/v1
// carries the CORS headers and its errors are {"error": msg}; and the home
// is unchanged (names, sizes, modification times) except after a 200 to
// POST trash or trash/restore, which may change files inside the one run
// directory it names, and only there.
func FuzzPartARequest(f *testing.F) {
	w := fhNewWorld(f, true)
	w.link(f, "vision")
	s, err := New(Options{Home: w.home})
	require.NoError(f, err)
	f.Cleanup(func() { require.NoError(f, s.Close()) })
	h := s.Handler()
	homeSnap, err := fhSnapshot(w.home, "", true)
	require.NoError(f, err)

	for _, sd := range fhPartASeeds() {
		f.Add(sd[0], sd[1], sd[2])
	}
	f.Fuzz(func(t *testing.T, method, rawPath, rawQuery string) {
		req := fhRequest(method, rawPath, rawQuery, nil)
		if req == nil {
			return
		}
		desc := fmt.Sprintf("%s %q", req.Method, req.RequestURI)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fhCheckCommon(t, w, req, rec, fhRequestText(req), desc)

		esc := req.URL.EscapedPath()
		if !strings.HasPrefix(esc, "/api/v1/") {
			if rec.Header().Get("Access-Control-Allow-Origin") != "*" {
				t.Fatalf("%s: status %d without the CORS headers", desc, rec.Code)
			}
		}
		if rec.Code >= 400 {
			if rec.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("%s: status %d with content type %q", desc, rec.Code, rec.Header().Get("Content-Type"))
			}
			pa, v1 := fhErrorShape(rec.Body.Bytes())
			// The /api/v1 routes of a server without Part B answer in
			// their own shape (API.Disabled).
			if !pa && !(v1 && strings.HasPrefix(esc, "/api/v1/")) {
				t.Fatalf("%s: status %d with an error body of neither shape: %q", desc, rec.Code, rec.Body)
			}
		}

		after, err := fhSnapshot(w.home, "", true)
		if err != nil {
			t.Fatal(err)
		}
		diff := fhDiff(homeSnap, after)
		if len(diff) == 0 {
			return
		}
		if req.Method != http.MethodPost || rec.Code != http.StatusOK {
			t.Fatalf("%s: status %d changed the home: %q", desc, rec.Code, diff)
		}
		rr, err := paParseRunPath(strings.TrimPrefix(esc, "/api/runs/"))
		if !strings.HasPrefix(esc, "/api/runs/") || err != nil || (rr.verb != paVerbTrash && rr.verb != paVerbRestore) {
			t.Fatalf("%s: status %d changed the home: %q", desc, rec.Code, diff)
		}
		dir := filepath.Join("projects", filepath.FromSlash(rr.project), "runs", rr.id)
		for _, p := range diff {
			if p != dir && !strings.HasPrefix(p, dir+string(filepath.Separator)) {
				t.Fatalf("%s: status %d changed %s, outside the run it names (%s)", desc, rec.Code, p, dir)
			}
		}
		homeSnap = after
	})
}

// TestServerNonAbsolutePath: a request target whose path does not start
// with '/' ("GET *", found by FuzzPartARequest; an absolute URL without a
// path) gets the API's 400 — CORS and {"error": msg} from Part A's side,
// the error_code shape never applying to it — not the mux's bare 400 or
// redirect; OPTIONS stays 204.
func TestServerNonAbsolutePath(t *testing.T) {
	home := t.TempDir()
	s, err := New(Options{Home: home, APIv1: true, APIKeys: map[string][]string{fhV1Key: {"*"}}})
	require.NoError(t, err)
	defer s.Close()
	h := s.Handler()
	for _, target := range []string{"*", "http://example.com"} {
		for _, method := range []string{"GET", "POST", "HEAD", "OPTIONS"} {
			req := fhRequest(method, target, "", nil)
			require.NotNil(t, req)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			paRequireCORS(t, rec.Header())
			if method == http.MethodOptions {
				require.Equal(t, http.StatusNoContent, rec.Code, target)
				continue
			}
			require.Equal(t, http.StatusBadRequest, rec.Code, "%s %s", method, target)
			require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			require.Contains(t, paErrorBody(t, rec.Body.String()), "does not start with '/'")
		}
	}
}

// ---- /api/v1 ----

const fhV1Key = "gs-fuzz-key"

// fhV1Seed is one /api/v1 request of the seed corpus.
type fhV1Seed struct {
	method, path, query, ct string
	encGzip, bodyGzip       bool
	body                    []byte
}

func fhV1Seeds(tb testing.TB) []fhV1Seed {
	var seeds []fhV1Seed
	js := "application/json"
	pb := "application/protobuf"
	add := func(method, path, query, ct string, body []byte) {
		seeds = append(seeds, fhV1Seed{method, path, query, ct, false, false, body})
	}
	addGz := func(method, path, query, ct string, encGzip, bodyGzip bool, body []byte) {
		seeds = append(seeds, fhV1Seed{method, path, query, ct, encGzip, bodyGzip, body})
	}
	const r = "/api/v1/runs/ws~p~r"
	ingest := v1PyIngestJSON([]string{
		v1PyMetricPoint("m", 2, 1700000000123, 0.25), v1PyMetricPoint("m", 3, 1700000000124, math.NaN()),
		v1PyStringPoint("s", 2, 1700000000125, "hello ✓"),
	})
	num, text := 1.5, "t"
	proto := append(v1PyProtoPoint("m", 4, 1700000000126, &num, nil), v1PyProtoPoint("s", 4, 1700000000127, nil, &text)...)

	// Every route, as the Python client sends it.
	add("GET", "/api/v1/auth/me", "", "", nil)
	add("POST", "/api/v1/runs", "", js, []byte(`{"workspace": "ws", "project": "p", "run_id": "r2", "experiment_name": "second run", "created_at": "2024-01-02T03:04:05.123456+00:00", "modified_at": "2024-01-02T03:04:06Z"}`))
	add("POST", "/api/v1/runs", "", js, []byte(`{"workspace": "ws", "project": "p", "run_id": "r", "experiment_name": null}`))
	addGz("POST", r+"/ingest", "", js, true, true, ingest)
	add("POST", r+"/ingest", "", js, ingest)
	add("POST", r+"/ingest", "", pb, proto)
	addGz("POST", r+"/ingest", "", "application/x-protobuf", true, true, proto)
	addGz("POST", r+"/configs", "", js, true, true, v1PyConfigsBody([]string{
		v1PyConfig("c", "int", "2"), v1PyConfig("f", "float", "nan"), v1PyConfig("b", "bool", "True"),
		v1PyConfig("n", "null", "None"), v1PyConfig("d", "datetime", "2024-01-02T03:04:05.123456+00:00"),
		v1PyConfig("set", "string_set", `["a", "b"]`), v1PyConfig("str", "str", "x"), v1PyConfig("sys/name", "str", "renamed"),
	}))
	add("POST", r+"/status", "", js, []byte(`{"status": "running"}`))
	add("POST", r+"/heartbeat", "", "", nil)
	add("GET", r, "", "", nil)
	add("HEAD", r, "", "", nil)
	add("GET", r+"/paths", "", "", nil)
	add("GET", r+"/data/metrics", "path=m", "", nil)
	add("GET", r+"/data/metrics", "path=m&max_points=1", "", nil)
	add("GET", r+"/data/metrics", "path=m&step_min=1&step_max=2.5&max_points=2", "", nil)
	add("GET", r+"/data/strings", "path=s", "", nil)
	add("GET", r+"/data/strings", "path=s&limit=1&offset=1", "", nil)
	add("GET", "/api/v1/workspaces", "", "", nil)
	add("GET", "/api/v1/workspaces/ws/projects", "", "", nil)
	add("POST", "/api/v1/workspaces/ws/projects", "", js, []byte(`{"name": "q"}`))
	add("GET", "/api/v1/workspaces/ws/projects/p/runs", "", "", nil)
	add("POST", "/api/v1/runs/ws~p~done/status", "", js, []byte(`{"status": "finished"}`))
	add("POST", "/api/v1/runs/ws~p~done/ingest", "", js, ingest) // reopens a finished run
	add("POST", "/api/v1/runs/ws~p~done/status", "", js, []byte(`{"status": "failed"}`))

	// Bad parameters.
	for _, q := range []string{"", "path=", "path=m&max_points=0", "path=m&max_points=-3", "path=m&max_points=ten",
		"path=m&max_points=99999999999999999999", "path=m&max_points=9223372036854775807", "path=m&step_min=x",
		"path=m&step_max=NaN", "path=m&step_min=Infinity", "path=m&step_min=1e309", "path=m&step_min=5&step_max=1",
		"path=m&path=s", "path=s", "path=nope", "path=%zz", "path=m;max_points=1", "path=%00", "path=m&max_points=%2B1",
		"path=m&step_min=0x1p-2", "path=m&step_max=-0"} {
		add("GET", r+"/data/metrics", q, "", nil)
	}
	for _, q := range []string{"path=s&limit=-1", "path=s&offset=x", "path=s&limit=99999999999999999999",
		"path=s&offset=9223372036854775807", "path=s&limit=9223372036854775807&offset=9223372036854775807", "path=m",
		"path=s&limit=0", "path=s&limit=1&limit=2"} {
		add("GET", r+"/data/strings", q, "", nil)
	}

	// Bodies: malformed, conflicting, over the limits.
	for _, b := range []string{`{"points": [`, `[1, 2]`, `{"points": [{"path": "m", "step": 1}]}`,
		`{"points": [{"path": "m", "step": 1e999, "number": 1}]}`, `{"points": [{"path": "m", "step": NaN, "number": 1}]}`,
		`{"points": [{"path": "s", "step": 1, "number": 1}]}`, `{"points": [{"path": "m", "step": 1, "text": "x"}]}`,
		`{"points": [{"path": "a//b", "step": 1, "number": 1}]}`, `{"points": [{"path": "c", "step": 1, "number": 1}]}`,
		`{"points": [{"path": "m", "step": 1, "timestampMs": 1e300, "number": 1}]}`, `{"points": null}`, `{}`, ``,
		`{"points": [{"path": "\ud800", "step": 1, "number": 1}]}`, `{"points": [{"path": "n", "step": -1, "number": -Infinity}]}`} {
		add("POST", r+"/ingest", "", js, []byte(b))
	}
	add("POST", r+"/ingest", "", pb, []byte{0x0a, 0x05, 0x0a})
	add("POST", r+"/ingest", "", pb, []byte{0x08, 0x01})
	add("POST", r+"/ingest", "", pb, append(v1PyProtoPoint("m", 1<<63, 1, &num, nil), 0x0a))
	for _, b := range []string{`{"configs": {}}`, `{"configs": [{"path": "x", "type_tag": "int", "value": null}]}`,
		`{"configs": [{"path": "x", "type_tag": "int", "value": "9223372036854775808"}]}`,
		`{"configs": [{"path": "m", "type_tag": "int", "value": "1"}]}`, `{"configs": [{"path": "/x", "type_tag": "str", "value": "1"}]}`,
		`{"configs": [{"path": "x", "type_tag": "string_set", "value": "[\"a\", \"b\n[truncated]"}]}`,
		`{"configs": [{"path": "x", "type_tag": "datetime", "value": "9999-99-99"}]}`, `{"configs": [{"path": "x", "type_tag": "complex", "value": "1j"}]}`} {
		add("POST", r+"/configs", "", js, []byte(b))
	}
	for _, b := range []string{`{"status": "done"}`, `status=finished`, `{"status": null}`, `{"status": "finished"`} {
		add("POST", r+"/status", "", js, []byte(b))
	}
	for _, b := range []string{`{"workspace": "ws", "project": "p"}`, `{"workspace": "ws", "project": "p", "run_id": "a b"}`,
		`{"workspace": "ws", "project": "p", "run_id": "r3", "experiment_name": "bad\u202ename"}`,
		`{"workspace": "ws", "project": "p", "run_id": "r3", "created_at": "tomorrow"}`, `not json`,
		`{"workspace": "..", "project": "p", "run_id": "r"}`, `{"workspace": "evil", "project": "p", "run_id": "leaky"}`,
		`{"workspace": "evil", "project": "p", "run_id": "fresh"}`, `{"workspace": "ws", "project": "../../outside", "run_id": "r"}`,
		`{"workspace": "ws", "project": "p", "run_id": "a/../../b"}`, `{"workspace": "ws", "project": "p", "run_id": "r\u0000"}`,
		`{"workspace": "ws/..", "project": "p", "run_id": "r"}`, `{"workspace": "ws", "project": "p", "run_id": "linked-run"}`,
		`{"workspace": "ws", "project": "p", "run_id": "r~x"}`, `{"workspace": "%2e%2e", "project": "p", "run_id": "r"}`} {
		add("POST", "/api/v1/runs", "", js, []byte(b))
	}
	for _, b := range []string{`{"name": ""}`, `{"name": ".hidden"}`, `{"name": "../x"}`, `{"name": "a/b"}`, `{"name": "runs"}`} {
		add("POST", "/api/v1/workspaces/ws/projects", "", js, []byte(b))
	}

	// Content types and encodings.
	for _, ct := range []string{"text/plain", "application/json; charset=utf-8", `application/protobuf; x="`, ";;;",
		"application/vnd.google.protobuf", "APPLICATION/JSON", "application/json, application/protobuf", strings.Repeat("a", 3000)} {
		add("POST", r+"/ingest", "", ct, ingest)
	}
	addGz("POST", r+"/ingest", "", js, true, false, []byte("not gzip at all"))
	addGz("POST", r+"/ingest", "", js, true, false, v1PyGzip(tb, ingest)[:20]) // truncated
	addGz("POST", r+"/ingest", "", js, false, true, ingest)                    // gzip not declared
	addGz("POST", r+"/configs", "", js, true, false, []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff})
	addGz("POST", "/api/v1/runs", "", js, true, true, []byte(`{"workspace": "ws", "project": "p", "run_id": "gz"}`))
	// Gzip bombs: one member of 1 MiB of spaces (expands within the limit,
	// then is no JSON) and 17 of them (over 16 MiB: 413).
	mib := v1PyGzip(tb, bytes.Repeat([]byte(" "), 1<<20))
	addGz("POST", r+"/ingest", "", js, true, false, mib)
	addGz("POST", r+"/ingest", "", js, true, false, bytes.Repeat(mib, 17))
	addGz("POST", r+"/status", "", js, true, false, bytes.Repeat(mib, 17))

	// Hostile ids and path parameters.
	for _, id := range []string{"..%2F..%2Foutside~p~r", "%2e%2e~p~r", "ws~%2e%2e~r", "ws~p~%2e%2e", "ws~p~..%2F..%2Fx",
		"%2Fabs~p~r", "ws~%2Fetc~r", "ws%5C..~p~r", "ws~p~r%5C..", "evil~p~leaky", "ws~p~linked-run", "ws%2Fp~q~r",
		"ws~p%2F..~r", "ws~p~r%00", "ws~p~r\x00", "ws~p~r~x", "~~", "ws~~r", "ws~p~r\u2215x", "ws\uff5ep\uff5er", "ws%7Ep%7Er",
		"ws~p~" + strings.Repeat("r", 300), "ws~p~ghost", "ws~p~r ", "ws~p~%zz"} {
		add("POST", "/api/v1/runs/"+id+"/ingest", "", js, ingest)
		add("GET", "/api/v1/runs/"+id, "", "", nil)
		add("GET", "/api/v1/runs/"+id+"/data/metrics", "path="+fhMarker+"/loss", "", nil)
	}
	for _, p := range []string{"/api/v1/runs/a/../../b/ingest", "/api/v1/runs/../../../outside/ingest", "/api/v1/runs/ws~p~r/./ingest",
		"/api/v1/runs//ingest", "/api/v1/runs/ws~p~r/ingest/", "/api/v1/runs/ws~p~r/data", "/api/v1/runs/ws~p~r/nope",
		"/api/v1/runs", "/api/v1/", "/api/v1", "/api/v1/nope"} {
		add("POST", p, "", js, ingest)
		add("GET", p, "", "", nil)
	}
	for _, ws := range []string{"..%2F..", "%2e%2e%2fsibling", "ws%5C..", "evil", "%2Fetc", "%2e%2e", "ws%00"} {
		add("GET", "/api/v1/workspaces/"+ws+"/projects", "", "", nil)
		add("POST", "/api/v1/workspaces/"+ws+"/projects", "", js, []byte(`{"name": "p"}`))
		add("GET", "/api/v1/workspaces/"+ws+"/projects/p/runs", "", "", nil)
		add("GET", "/api/v1/workspaces/ws/projects/"+ws+"/runs", "", "", nil)
	}
	for _, m := range []string{"PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "get", "", "P OST"} {
		add(m, r+"/ingest", "", js, ingest)
	}
	// Part A's routes answer on the same server.
	add("GET", "/api/runs", "", "", nil)
	add("GET", "/api/runs/ws/p/r/metrics", "path=m&pointCount=2", "", nil)
	add("POST", "/api/runs/ws/p/done/trash", "", "", nil)
	add("POST", "/api/runs/ws/p/r/trash", "", "", nil) // 409 while the server writes it
	add("POST", "/api/runs/evil/p/leaky/trash", "", "", nil)
	return seeds
}

// FuzzAPIv1Request sends a whole /api/v1 request with the valid key
// (granting every workspace): method, path, query, Content-Type, body,
// and whether the body is gzipped (bodyGzip) and whether Content-Encoding
// says gzip (encGzip) — all four combinations, so gzip garbage and
// undeclared gzip are sent too. Beyond the common properties (see the file
// comment):
//
//   - no 5xx: /api/v1 documents 500 Server.StorageError (a failed disk
//     write, which the client retries) and 503 Server.Closing (after
//     Close); neither happens to a healthy temporary directory and a
//     server that is not closing, so any 5xx here is a bug;
//   - an answer of /api/v1's handlers (fhV1Routed) that is an error is
//     {"error_code", "title", "detail"} with a JSON content type; never 401
//     or 403 (the key is valid and grants all); other errors come from
//     Part A's catch-all and are in either shape;
//   - a 4xx changes nothing: the projects and run directories under the
//     home stay as they were, and so does what the read API says of the
//     run a POST to /api/v1/runs/{id}/... names (its GET, paths and every
//     series, as TestAPIv1BadRequestsChangeNothing compares), except
//     "live" (a 4xx write may have opened the run's writer first). Reads
//     (any request but a POST answered 2xx) leave that structure as it
//     was too.
func FuzzAPIv1Request(f *testing.F) {
	w := fhNewWorld(f, false)
	s, err := New(Options{Home: w.home, APIv1: true, APIKeys: map[string][]string{fhV1Key: {"*"}}, DefaultWorkspace: "ws"})
	require.NoError(f, err)
	f.Cleanup(func() { require.NoError(f, s.Close()) })
	h := s.Handler()

	// Two runs to write and read: ws~p~r (open) and ws~p~done (finished).
	for _, id := range []string{"r", "done"} {
		rec := v1Serve(h, "POST", "/api/v1/runs", fhV1Key,
			fmt.Appendf(nil, `{"workspace": "ws", "project": "p", "run_id": %q}`, id), "application/json", false)
		require.Equal(f, http.StatusOK, rec.Code, rec.Body.String())
		rec = v1Serve(h, "POST", "/api/v1/runs/ws~p~"+id+"/ingest", fhV1Key, v1PyIngestJSON([]string{
			v1PyMetricPoint("m", 1, 1700000000000, 1), v1PyStringPoint("s", 1, 1700000000000, "x"),
		}), "application/json", false)
		require.Equal(f, http.StatusOK, rec.Code, rec.Body.String())
		rec = v1Serve(h, "POST", "/api/v1/runs/ws~p~"+id+"/configs", fhV1Key,
			v1PyConfigsBody([]string{v1PyConfig("c", "int", "1")}), "application/json", false)
		require.Equal(f, http.StatusNoContent, rec.Code, rec.Body.String())
	}
	rec := v1Serve(h, "POST", "/api/v1/runs/ws~p~done/status", fhV1Key, []byte(`{"status": "finished"}`), "application/json", false)
	require.Equal(f, http.StatusNoContent, rec.Code, rec.Body.String())
	w.link(f, "ws/p")

	structure, err := fhSnapshot(w.home, "", false)
	require.NoError(f, err)
	// What the read API says of a run, by remote id, taken before a POST
	// to it; dropped after any POST that was not refused.
	snaps := map[string]string{}
	var gzBuf bytes.Buffer
	zw := gzip.NewWriter(&gzBuf)

	for _, sd := range fhV1Seeds(f) {
		f.Add(sd.method, sd.path, sd.query, sd.ct, sd.encGzip, sd.bodyGzip, sd.body)
	}
	f.Fuzz(func(t *testing.T, method, rawPath, rawQuery, contentType string, encGzip, bodyGzip bool, body []byte) {
		if len(body) > fhMaxBody {
			body = body[:fhMaxBody]
		}
		sent := body
		if bodyGzip {
			gzBuf.Reset()
			zw.Reset(&gzBuf)
			_, _ = zw.Write(body)
			_ = zw.Close()
			sent = bytes.Clone(gzBuf.Bytes())
		}
		req := fhRequest(method, rawPath, rawQuery, sent)
		if req == nil {
			return
		}
		req.Header.Set("Authorization", "Bearer "+fhV1Key)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if encGzip {
			req.Header.Set("Content-Encoding", "gzip")
		}
		desc := fmt.Sprintf("%s %q content-type %q gzip %v/%v body %q", req.Method, req.RequestURI, contentType, encGzip, bodyGzip, fhShort(body))

		post := req.Method == http.MethodPost
		id, runRoute := fhV1RunID(req)
		if post && runRoute {
			if _, ok := snaps[id]; !ok {
				snaps[id] = fhV1Snapshot(t, h, id)
			}
		}

		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fhCheckCommon(t, w, req, rec, fhRequestText(req, []byte(contentType), body), desc)

		if rec.Code >= 400 {
			ct := rec.Header().Get("Content-Type")
			pa, v1 := fhErrorShape(rec.Body.Bytes())
			switch {
			case ct != "application/json":
				t.Fatalf("%s: status %d with content type %q", desc, rec.Code, ct)
			case fhV1Routed(req) && !v1:
				t.Fatalf("%s: status %d from /api/v1 without its error shape: %q", desc, rec.Code, rec.Body)
			case !pa && !v1:
				t.Fatalf("%s: status %d with an error body of neither shape: %q", desc, rec.Code, rec.Body)
			case fhV1Routed(req) && (rec.Code == http.StatusUnauthorized || rec.Code == http.StatusForbidden):
				t.Fatalf("%s: status %d with a valid key for every workspace: %s", desc, rec.Code, rec.Body)
			}
		}

		after, err := fhSnapshot(w.home, "", false)
		if err != nil {
			t.Fatal(err)
		}
		if post && rec.Code < 300 {
			structure = after
			clear(snaps)
			return
		}
		if d := fhDiff(structure, after); len(d) > 0 {
			t.Fatalf("%s: status %d changed the projects or runs of the home: %q", desc, rec.Code, d)
		}
		if post && runRoute && rec.Code >= 400 && rec.Code < 500 {
			if got := fhV1Snapshot(t, h, id); got != snaps[id] {
				t.Fatalf("%s: status %d changed run %s:\nbefore %s\nafter  %s", desc, rec.Code, id, snaps[id], got)
			}
		}
	})
}

// fhShort cuts a body for a failure message.
func fhShort(b []byte) []byte {
	if len(b) > 300 {
		return b[:300]
	}
	return b
}

// fhV1RunID returns the remote id that a request to
// /api/v1/runs/{id}/<more> names, decoded as the mux decodes it, when it
// is a valid remote id.
func fhV1RunID(req *http.Request) (string, bool) {
	rest, ok := strings.CutPrefix(req.URL.EscapedPath(), "/api/v1/runs/")
	if !ok {
		return "", false
	}
	seg, _, ok := strings.Cut(rest, "/")
	if !ok {
		return "", false
	}
	id, err := url.PathUnescape(seg)
	if err != nil {
		return "", false
	}
	if _, err := parseRemoteID(id); err != nil {
		return "", false
	}
	return id, true
}

// fhV1Snapshot is what the read API says of run id (as v1Snapshot, with
// "live" left out): GET run, its paths and every series; or the error
// answer when there is no such run.
func fhV1Snapshot(t *testing.T, h http.Handler, id string) string {
	t.Helper()
	get := func(target string) *httptest.ResponseRecorder {
		return v1Serve(h, "GET", target, fhV1Key, nil, "", false)
	}
	rec := get("/api/v1/runs/" + url.PathEscape(id))
	if rec.Code != http.StatusOK {
		return fmt.Sprintf("%d %s", rec.Code, rec.Body)
	}
	var fields map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &fields); err != nil {
		t.Fatalf("GET run %s: %v: %s", id, err, rec.Body)
	}
	delete(fields, "live")
	b, _ := json.Marshal(fields)
	var sb strings.Builder
	sb.Write(b)
	rec = get("/api/v1/runs/" + url.PathEscape(id) + "/paths")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET paths of %s: %d %s", id, rec.Code, rec.Body)
	}
	sb.Write(rec.Body.Bytes())
	var paths []v1PathJSON
	if err := json.Unmarshal(rec.Body.Bytes(), &paths); err != nil {
		t.Fatalf("GET paths of %s: %v", id, err)
	}
	for _, p := range paths {
		route := "/data/metrics?path="
		if p.Type == "string" {
			route = "/data/strings?path="
		}
		rec := get("/api/v1/runs/" + url.PathEscape(id) + route + url.QueryEscape(p.Path))
		if rec.Code != http.StatusOK {
			t.Fatalf("GET series %s of %s: %d %s", p.Path, id, rec.Code, rec.Body)
		}
		sb.Write(rec.Body.Bytes())
	}
	return sb.String()
}
