package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	gzip "github.com/klauspost/compress/gzip"

	"github.com/goodseed/goodseed-go/engine"
)

// Environment variables the Python client reads, read here too.
const (
	EnvAPIURL = "GOODSEED_API_URL"
	EnvAPIKey = "GOODSEED_API_KEY"
)

// Headers of the sync extensions (docs/http-api.md).
const (
	headerWriter = "X-Goodseed-Writer"
	headerStream = "X-Goodseed-Stream"
	headerRange  = "X-Goodseed-Range"
	// On a 204 configs answer: how many items were refused, and which.
	headerRefused      = "X-Goodseed-Refused"
	headerRefusedItems = "X-Goodseed-Refused-Items"
)

// ErrNoServer is a Client without a server URL.
var ErrNoServer = errors.New("remote: no server URL (set " + EnvAPIURL + ")")

// APIError is an answer of the server that retrying will not change: a
// 4xx other than 408 and 429. Code, Title and Detail are the server's
// error body; Body is the answer when it is not one.
type APIError struct {
	Method, URL string
	Status      int
	Code        string `json:"error_code"`
	Title       string `json:"title"`
	Detail      string `json:"detail"`
	Body        string
}

func (e *APIError) Error() string {
	msg := strings.TrimSpace(strings.Join([]string{e.Code, e.Title, e.Detail}, " "))
	if msg == "" {
		msg = e.Body
	}
	return fmt.Sprintf("remote: %s %s: %d %s", e.Method, e.URL, e.Status, msg)
}

// Client speaks the server's /api/v1 as GoodSeed's Python client does,
// plus the sync extensions: a writer per rank, stream ranges stored once,
// configs with their time. It retries what a retry can fix (connection
// errors, 5xx, 408, 429) with capped exponential backoff and jitter, and
// returns an *APIError for the rest.
type Client struct {
	base    *url.URL
	key     string
	hc      *http.Client
	retry   Backoff
	onRetry func(err error, wait time.Duration)
}

// Backoff is how a Client retries: waits from Min doubling to Max, each
// with up to half of itself added at random; Attempts bounds the tries of
// one request (0: until its context ends).
type Backoff struct {
	Min, Max time.Duration
	Attempts int
}

// ClientOptions configure NewClient. The zero value is the defaults.
type ClientOptions struct {
	// HTTP is the client requests go through; default one with a 60 s
	// timeout per request.
	HTTP *http.Client
	// Backoff; default 200 ms to 30 s, until the context ends.
	Backoff Backoff
	// OnRetry, when set, hears each failure that will be retried.
	OnRetry func(err error, wait time.Duration)
}

// NewClient returns a client of the server at apiURL (its root: the paths
// are /api/v1/...) with apiKey. Empty arguments are taken from
// GOODSEED_API_URL and GOODSEED_API_KEY.
func NewClient(apiURL, apiKey string, o ClientOptions) (*Client, error) {
	if apiURL == "" {
		apiURL = getenv(EnvAPIURL)
	}
	if apiKey == "" {
		apiKey = getenv(EnvAPIKey)
	}
	if apiURL == "" {
		return nil, ErrNoServer
	}
	u, err := url.Parse(strings.TrimRight(apiURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("remote: server URL %q is not http(s)://host[:port]", apiURL)
	}
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: 60 * time.Second}
	}
	if o.Backoff.Min <= 0 {
		o.Backoff.Min = 200 * time.Millisecond
	}
	if o.Backoff.Max < o.Backoff.Min {
		o.Backoff.Max = max(30*time.Second, o.Backoff.Min)
	}
	return &Client{base: u, key: apiKey, hc: o.HTTP, retry: o.Backoff, onRetry: o.OnRetry}, nil
}

// URL is the server's root URL.
func (c *Client) URL() string { return c.base.String() }

// request is one call: what to send and what a 2xx body decodes into.
type request struct {
	method, path string
	body         []byte
	contentType  string
	header       map[string]string
	// okStatus lists answers that are not errors besides 2xx, with their
	// bodies decoded into out (409 with where a stream resumes).
	okStatus []int
	// answerHeader, when set, receives a 2xx answer's header.
	answerHeader *http.Header
}

// do sends req until an answer that is not worth retrying, decoding a
// JSON body into out (when not nil); it returns the answer's status.
func (c *Client) do(ctx context.Context, req request, out any) (int, error) {
	wait := c.retry.Min
	for attempt := 1; ; attempt++ {
		status, body, err := c.once(ctx, req)
		if err == nil {
			if out != nil && len(bytes.TrimSpace(body)) > 0 {
				if jerr := json.Unmarshal(body, out); jerr != nil {
					return status, fmt.Errorf("remote: %s %s: answer %.200q: %w", req.method, req.path, body, jerr)
				}
			}
			return status, nil
		}
		var ae *APIError
		if errors.As(err, &ae) || ctx.Err() != nil || (c.retry.Attempts > 0 && attempt >= c.retry.Attempts) {
			return status, err
		}
		d := wait + time.Duration(rand.Int64N(int64(wait)/2+1))
		if c.onRetry != nil {
			c.onRetry(err, d)
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return status, errors.Join(err, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, c.retry.Max)
	}
}

// retryable is a failure worth another try: the server's, or the way to it.
type retryable struct {
	status int
	err    error
}

func (e *retryable) Error() string { return e.err.Error() }
func (e *retryable) Unwrap() error { return e.err }

func (c *Client) once(ctx context.Context, req request) (int, []byte, error) {
	u := c.base.JoinPath(req.path).String()
	body, gz := req.body, false
	if len(body) > 64<<10 {
		body, gz = gzipBytes(body), true
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if c.key != "" {
		hr.Header.Set("Authorization", "Bearer "+c.key)
	}
	if req.contentType != "" {
		hr.Header.Set("Content-Type", req.contentType)
	}
	if gz {
		hr.Header.Set("Content-Encoding", "gzip")
	}
	for k, v := range req.header {
		hr.Header.Set(k, v)
	}
	resp, err := c.hc.Do(hr)
	if err != nil {
		return 0, nil, &retryable{err: fmt.Errorf("remote: %s %s: %w", req.method, u, err)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return resp.StatusCode, nil, &retryable{resp.StatusCode, fmt.Errorf("remote: %s %s: read answer: %w", req.method, u, err)}
	}
	st := resp.StatusCode
	switch {
	case st >= 200 && st < 300:
		if req.answerHeader != nil {
			*req.answerHeader = resp.Header
		}
		return st, data, nil
	case st >= 500 || st == http.StatusTooManyRequests || st == http.StatusRequestTimeout:
		return st, nil, &retryable{st, fmt.Errorf("remote: %s %s: %d %.200s", req.method, u, st, data)}
	}
	for _, ok := range req.okStatus {
		if st == ok {
			return st, data, nil
		}
	}
	ae := &APIError{Method: req.method, URL: u, Status: st}
	if json.Unmarshal(data, ae) != nil || ae.Code == "" {
		ae.Body = string(data)
	}
	return st, nil, ae
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

// Workspace returns the key's default workspace (GET /api/v1/auth/me), for
// a project named without one, as the Python client does.
func (c *Client) Workspace(ctx context.Context) (string, error) {
	var me struct{ Name string }
	if _, err := c.do(ctx, request{method: http.MethodGet, path: "/api/v1/auth/me"}, &me); err != nil {
		return "", err
	}
	if me.Name == "" {
		return "", fmt.Errorf("remote: %s names no default workspace; name the project workspace/project", c.base)
	}
	return me.Name, nil
}

// RunSpec is what EnsureRun registers.
type RunSpec struct {
	Workspace, Project, RunID string
	Name                      string    // experiment_name; "" for none
	Created                   time.Time // zero: the server's now
}

// EnsureRun creates the run on the server unless it exists and returns its
// remote id (POST /api/v1/runs, which a retry may repeat safely).
func (c *Client) EnsureRun(ctx context.Context, s RunSpec) (string, error) {
	body := map[string]any{"workspace": s.Workspace, "project": s.Project, "run_id": s.RunID, "experiment_name": nil}
	if s.Name != "" {
		body["experiment_name"] = s.Name
	}
	if !s.Created.IsZero() {
		body["created_at"] = s.Created.UTC().Format("2006-01-02T15:04:05.000000+00:00")
	}
	js, _ := json.Marshal(body)
	var out struct{ ID string }
	if _, err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/runs", body: js, contentType: "application/json"}, &out); err != nil {
		return "", err
	}
	if out.ID == "" {
		return "", fmt.Errorf("remote: POST %s/api/v1/runs answered no run id", c.base)
	}
	return out.ID, nil
}

// Point is one series point as ingest carries it: Number for a metric,
// Text for a string series.
type Point struct {
	Path   string
	Step   float64
	TimeMs int64
	Number float64
	Text   string
	IsText bool
}

// Range names the part of a writer's stream an ingest carries, so the
// server stores it once: Origin identifies the stream (a run made again
// under the same id has another), Start is where the client's previous
// range ended.
type Range struct {
	Origin     string
	Start, End engine.StreamPos
}

// IngestResult is the server's answer to an ingest.
type IngestResult struct {
	Points    int  `json:"points"`
	Duplicate bool `json:"duplicate"` // the range was stored already
	// Gap is set when the range starts past what the server has stored:
	// nothing was stored, and SyncEnd is where to resume.
	Gap     bool   `json:"-"`
	SyncEnd string `json:"sync_end"`
	// RefusedCount counts the points the server could not store (the
	// rest were stored); Refused lists the first of them.
	RefusedCount int            `json:"refused_count"`
	Refused      []RefusedPoint `json:"refused"`
}

// RefusedPoint is an item of a request the server did not store: its
// index in the request, its path, and why.
type RefusedPoint struct {
	Item   int    `json:"item"`
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// Ingest sends points as one protobuf batch for writer ("" the primary),
// with the stream range rng (nil for none).
func (c *Client) Ingest(ctx context.Context, remoteID, writer string, rng *Range, points []Point) (IngestResult, error) {
	hdr := map[string]string{}
	if writer != "" {
		hdr[headerWriter] = writer
	}
	if rng != nil {
		hdr[headerStream] = rng.Origin
		hdr[headerRange] = rng.Start.String() + "-" + rng.End.String()
	}
	var res IngestResult
	st, err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/runs/" + url.PathEscape(remoteID) + "/ingest",
		body: encodePoints(points), contentType: "application/protobuf", header: hdr,
		okStatus: []int{http.StatusConflict}}, &res)
	if err == nil && st == http.StatusConflict {
		if rng == nil || res.SyncEnd == "" {
			return res, &APIError{Method: http.MethodPost, URL: remoteID + "/ingest", Status: st, Body: "409 without sync_end"}
		}
		res.Gap = true
	}
	return res, err
}

// Config is one config item: a value in the Python client's forms, the
// time it was set, and for a string-set update its op.
type Config struct {
	Path    string
	TypeTag string
	Value   *string // nil for null
	TimeMs  int64
	SetOp   string // "", "add" or "remove"
}

// ConfigsResult is the server's answer to a configs request: the items
// it did not store (the rest were), by index in the request.
type ConfigsResult struct {
	RefusedCount int
	RefusedItems []int // the first of them; the run's sys/refused says why
}

// Configs sends config items for writer in one request.
func (c *Client) Configs(ctx context.Context, remoteID, writer string, items []Config) (ConfigsResult, error) {
	type item struct {
		Path        string  `json:"path"`
		TypeTag     string  `json:"type_tag"`
		Value       *string `json:"value"`
		TimestampMs int64   `json:"timestamp_ms"`
		SetOp       string  `json:"set_op,omitempty"`
	}
	body := struct {
		Configs []item `json:"configs"`
	}{make([]item, len(items))}
	for i, it := range items {
		body.Configs[i] = item{it.Path, it.TypeTag, it.Value, it.TimeMs, it.SetOp}
	}
	js, err := json.Marshal(body)
	if err != nil {
		return ConfigsResult{}, err
	}
	var hdr http.Header
	_, err = c.do(ctx, request{method: http.MethodPost, path: "/api/v1/runs/" + url.PathEscape(remoteID) + "/configs",
		body: js, contentType: "application/json", header: writerHeader(writer), answerHeader: &hdr}, nil)
	var res ConfigsResult
	if err == nil && hdr != nil {
		res.RefusedCount, _ = strconv.Atoi(hdr.Get(headerRefused))
		for _, f := range strings.Split(hdr.Get(headerRefusedItems), ",") {
			if i, e := strconv.Atoi(f); e == nil && i >= 0 && i < len(items) {
				res.RefusedItems = append(res.RefusedItems, i)
			}
		}
	}
	return res, err
}

// Status posts a writer's status (running, finished or failed) with the
// failure reason of a failed one.
func (c *Client) Status(ctx context.Context, remoteID, writer, status, reason string) error {
	body := map[string]string{"status": status}
	if reason != "" {
		body["failure_reason"] = reason
	}
	js, _ := json.Marshal(body)
	_, err := c.do(ctx, request{method: http.MethodPost, path: "/api/v1/runs/" + url.PathEscape(remoteID) + "/status",
		body: js, contentType: "application/json", header: writerHeader(writer)}, nil)
	return err
}

func writerHeader(writer string) map[string]string {
	if writer == "" {
		return nil
	}
	return map[string]string{headerWriter: writer}
}

// encodePoints encodes an IngestRequest (server/protobuf.go): field 2
// carries the step truncated, as servers without step_exact read it.
func encodePoints(points []Point) []byte {
	var out, pt []byte
	for _, p := range points {
		pt = pt[:0]
		pt = pbBytes(pt, 1, p.Path)
		pt = pbVarint(pt, 2, uint64(truncStep(p.Step)))
		pt = pbVarint(pt, 3, uint64(p.TimeMs))
		if p.IsText {
			pt = pbBytes(pt, 5, p.Text)
		} else {
			pt = pbFixed64(pt, 4, math.Float64bits(p.Number))
		}
		if p.Step != math.Trunc(p.Step) || math.Signbit(p.Step) && p.Step == 0 {
			pt = pbFixed64(pt, 6, math.Float64bits(p.Step))
		}
		out = pbBytes(out, 1, string(pt))
	}
	return out
}

func truncStep(s float64) int64 {
	switch {
	case s != s:
		return 0
	case s >= math.MaxInt64:
		return math.MaxInt64
	case s <= math.MinInt64:
		return math.MinInt64
	}
	return int64(s)
}

func pbTag(b []byte, field, wire int) []byte { return appendUvarint(b, uint64(field<<3|wire)) }

func pbVarint(b []byte, field int, v uint64) []byte { return appendUvarint(pbTag(b, field, 0), v) }

func pbFixed64(b []byte, field int, v uint64) []byte {
	b = pbTag(b, field, 1)
	for i := range 8 {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

func pbBytes(b []byte, field int, s string) []byte {
	b = appendUvarint(pbTag(b, field, 2), uint64(len(s)))
	return append(b, s...)
}

func appendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// parsePos reads a sync_end the server answered.
func parsePos(s string) (engine.StreamPos, error) {
	p, err := engine.ParseStreamPos(s)
	if err != nil {
		return p, fmt.Errorf("remote: server answered sync_end %s: %w", strconv.Quote(s), err)
	}
	return p, nil
}

func getenv(k string) string { return os.Getenv(k) }
