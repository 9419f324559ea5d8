package server

// A stand-in for GoodSeed's Python client (goodseed/sync.py and run.py):
// the exact bytes it sends. json.dumps with its defaults (", " and ": "
// separators, ensure_ascii, NaN/Infinity literals, float repr), request
// bodies assembled as it assembles them, gzip at level 6 for configs and
// ingest, no compression for runs and status, its hand-made protobuf
// encoding, and urlencode for query strings.

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/internal/pyform"
)

// v1PyStr is json.dumps of a str (ensure_ascii=True).
func v1PyStr(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r >= ' ' && r <= '~':
			b.WriteRune(r)
		case r > 0xFFFF:
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(&b, `\u%04x\u%04x`, r1, r2)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// v1PyFloat is json.dumps of a float: repr, or the NaN/Infinity literals.
func v1PyFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return pyform.FormatFloat(f)
}

// v1PyMetricPoint is _serialize_point(p, "metric") in JSON mode.
func v1PyMetricPoint(path string, step, tsMs int64, y float64) string {
	return fmt.Sprintf(`{"path": %s, "step": %d, "timestampMs": %d, "number": %s}`, v1PyStr(path), step, tsMs, v1PyFloat(y))
}

// v1PyStringPoint is _serialize_point(p, "string") in JSON mode.
func v1PyStringPoint(path string, step, tsMs int64, text string) string {
	return fmt.Sprintf(`{"path": %s, "step": %d, "timestampMs": %d, "text": %s}`, v1PyStr(path), step, tsMs, v1PyStr(text))
}

// v1PyIngestJSON assembles a JSON ingest body as _sync_ingest_points does.
func v1PyIngestJSON(points []string) []byte {
	return []byte(`{"points": [` + strings.Join(points, ", ") + `]}`)
}

// v1PyConfig is json.dumps({"path", "type_tag", "value"}) of one config.
func v1PyConfig(path, tag, value string) string {
	return fmt.Sprintf(`{"path": %s, "type_tag": %s, "value": %s}`, v1PyStr(path), v1PyStr(tag), v1PyStr(value))
}

// v1PyConfigsBody assembles a configs body as _sync_configs does.
func v1PyConfigsBody(items []string) []byte {
	return []byte(`{"configs": [` + strings.Join(items, ", ") + `]}`)
}

// v1PyVarint is _encode_varint (for the non-negative values it is given).
func v1PyVarint(v uint64) []byte { return binary.AppendUvarint(nil, v) }

func v1PyFieldBytes(field int, b []byte) []byte {
	out := v1PyVarint(uint64(field<<3 | 2))
	out = append(out, v1PyVarint(uint64(len(b)))...)
	return append(out, b...)
}

func v1PyFieldVarint(field int, v uint64) []byte {
	return append(v1PyVarint(uint64(field<<3|0)), v1PyVarint(v)...)
}

func v1PyFieldDouble(field int, f float64) []byte {
	return binary.LittleEndian.AppendUint64(v1PyVarint(uint64(field<<3|1)), math.Float64bits(f))
}

// v1PyProtoPoint is _serialize_point in protobuf mode: a field-1 entry.
func v1PyProtoPoint(path string, step, tsMs uint64, number *float64, text *string) []byte {
	pb := v1PyFieldBytes(1, []byte(path))
	pb = append(pb, v1PyFieldVarint(2, step)...)
	pb = append(pb, v1PyFieldVarint(3, tsMs)...)
	if number != nil {
		pb = append(pb, v1PyFieldDouble(4, *number)...)
	} else if text != nil {
		pb = append(pb, v1PyFieldBytes(5, []byte(*text))...)
	}
	return v1PyFieldBytes(1, pb)
}

// v1PyGzip is gzip.compress(data, compresslevel=6).
func v1PyGzip(t testing.TB, data []byte) []byte {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, 6)
	require.NoError(t, err)
	_, err = zw.Write(data)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

// v1PyClient speaks to a server the way the Python client does.
type v1PyClient struct {
	t    testing.TB
	base string // http://host:port
	key  string
	hc   *http.Client
}

// post is _api_post: Bearer key, Content-Type, and gzip when compress.
func (c *v1PyClient) post(path string, data []byte, contentType string, compress bool) (int, []byte) {
	c.t.Helper()
	if compress {
		data = v1PyGzip(c.t, data)
	}
	req, err := http.NewRequest(http.MethodPost, c.base+path, bytes.NewReader(data))
	require.NoError(c.t, err)
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Content-Type", contentType)
	if compress {
		req.Header.Set("Content-Encoding", "gzip")
	}
	return c.do(req)
}

// postJSON is _api_post with body= (json.dumps of the given text).
func (c *v1PyClient) postJSON(path, body string) (int, []byte) {
	return c.post(path, []byte(body), "application/json", false)
}

// get is _api_get: urlencode of the params.
func (c *v1PyClient) get(path string, params url.Values) (int, []byte) {
	c.t.Helper()
	u := c.base + path
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	require.NoError(c.t, err)
	req.Header.Set("Authorization", "Bearer "+c.key)
	return c.do(req)
}

func (c *v1PyClient) do(req *http.Request) (int, []byte) {
	c.t.Helper()
	hc := c.hc
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	return resp.StatusCode, body
}

// ensureRun is _ensure_run_once: POST /api/v1/runs, 200 → id.
func (c *v1PyClient) ensureRun(ws, project, runID string, name *string) string {
	c.t.Helper()
	n := "null"
	if name != nil {
		n = v1PyStr(*name)
	}
	status, body := c.postJSON("/api/v1/runs", fmt.Sprintf(`{"workspace": %s, "project": %s, "run_id": %s, "experiment_name": %s}`,
		v1PyStr(ws), v1PyStr(project), v1PyStr(runID), n))
	require.Equal(c.t, http.StatusOK, status, "%s", body)
	var out struct{ ID string }
	require.NoError(c.t, json.Unmarshal(body, &out))
	require.NotEmpty(c.t, out.ID)
	return out.ID
}

// v1Decode decodes a response, failing the test on error.
func v1Decode[T any](t testing.TB, body []byte) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(body, &v), "%s", body)
	return v
}
