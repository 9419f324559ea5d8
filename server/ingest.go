package server

// Ingest bodies: reading them within the size limits, and decoding the
// JSON form (the protobuf form is in protobuf.go) into an ingestBatch.
//
// # JSON ingest
//
//	{"points": [{"path": "train/loss", "step": 3, "timestampMs": 1700000000123, "number": 0.25},
//	            {"path": "notes", "step": 3, "timestampMs": 1700000000123, "text": "hello"}]}
//
// The decoder is written for this one shape, because encoding/json spends
// most of the ingest time in reflection; it is strict JSON (RFC 8259:
// UTF-8, the number grammar, escapes, nesting up to 10,000 levels) with one
// extension the Python client needs:
//
// NaN and infinities. Python's json.dumps writes a float NaN as the bare
// literal NaN and the infinities as Infinity and -Infinity (allow_nan is
// on by default), so a diverging loss arrives as "number": NaN. These
// three literals are accepted wherever a JSON value may stand, and stored
// exactly (the engine keeps NaN and ±Inf bit for bit). The strings "NaN",
// "Infinity" and "-Infinity", which our read APIs write for them, are
// accepted as "number" too, so a non-Python client can send them in
// strict JSON.
//
// Semantics: other top-level keys and other point keys are ignored; null
// for a known key means absent; a repeated key's last value wins (as in
// encoding/json). A point needs "path" (a string), "step" (a number) and
// exactly one of "number" and "text"; "timestampMs" is the client's log
// time in Unix milliseconds (an integer; a fraction is cut), the time of
// arrival when absent.

import (
	"bytes"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	gzip "github.com/klauspost/compress/gzip"
)

// ---- the decoded batch ----

// ingestNoTime is the timeMs of a point that carried no timestamp; hasTime
// tells it from a point that carried this very value.
const ingestNoTime = math.MinInt64

// ingestPoint is one decoded point. path indexes ingestBatch.paths.
type ingestPoint struct {
	step    float64
	value   float64
	timeMs  int64
	text    string
	path    int32
	isText  bool
	hasTime bool
}

// ingestBatch is one ingest request's points and the distinct paths they
// name (each path string allocated once per request).
type ingestBatch struct {
	paths   []string
	index   map[string]int32
	points  []ingestPoint
	scratch []byte // unescaping buffer
}

var batchPool = sync.Pool{New: func() any { return &ingestBatch{index: map[string]int32{}} }}

func getBatch() *ingestBatch { return batchPool.Get().(*ingestBatch) }

func putBatch(b *ingestBatch) {
	if cap(b.points) > 1<<16 || len(b.paths) > 1<<12 {
		return // let an outsized batch go rather than keep its memory
	}
	clear(b.points[:cap(b.points)]) // drop text references
	b.points = b.points[:0]
	b.paths = b.paths[:0]
	clear(b.index)
	batchPool.Put(b)
}

// pathIndex returns the index of path p, adding it on first use. Looking
// up a []byte converted in the index expression does not allocate.
func (b *ingestBatch) pathIndex(p []byte) int32 {
	if i, ok := b.index[string(p)]; ok {
		return i
	}
	i := int32(len(b.paths))
	s := string(p)
	b.paths = append(b.paths, s)
	b.index[s] = i
	return i
}

// ---- request bodies ----

// v1Body is a request body read within the limits. Release it with
// putBody; it holds a slot of apiV1.bodies.
type v1Body struct {
	raw, plain *bytes.Buffer
	data       []byte
}

var ingestBufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}
var ingestGzPool sync.Pool // *gzip.Reader

func v1TooLarge(what string) *apiError {
	return &apiError{http.StatusRequestEntityTooLarge, "Request.TooLarge", "Request too large",
		what + " exceeds " + strconv.Itoa(MaxBodyBytes>>20) + " MiB"}
}

// readBody reads r's body: at most MaxBodyBytes as sent, and at most
// MaxBodyBytes after gzip expansion (Content-Encoding: gzip), so neither a
// huge body nor a gzip bomb takes more memory than that. The raw body is
// read first, so a slow client holds no decoding slot; then a slot of
// v.bodies bounds how many bodies are expanded and decoded at once.
func (v *apiV1) readBody(w http.ResponseWriter, r *http.Request) (*v1Body, *apiError) {
	var gz bool
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		gz = true
	default:
		return nil, &apiError{http.StatusUnsupportedMediaType, "Request.UnsupportedMediaType",
			"Unsupported content encoding", "Content-Encoding must be gzip or absent, not " + v1Quote(enc)}
	}
	if r.ContentLength > MaxBodyBytes {
		return nil, v1TooLarge("the request body")
	}
	raw := ingestBufPool.Get().(*bytes.Buffer)
	raw.Reset()
	if r.ContentLength > 0 {
		raw.Grow(int(r.ContentLength))
	}
	_, err := raw.ReadFrom(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		ingestBufPool.Put(raw)
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, v1TooLarge("the request body")
		}
		return nil, v1BadRequest("reading the body: %v", err)
	}
	select {
	case v.bodies <- struct{}{}:
	case <-r.Context().Done():
		ingestBufPool.Put(raw)
		return nil, v1BadRequest("request cancelled")
	}
	b := &v1Body{raw: raw, data: raw.Bytes()}
	if gz {
		if e := b.gunzip(); e != nil {
			v.putBody(b)
			return nil, e
		}
	}
	return b, nil
}

// gunzip expands the raw body into b.plain, refusing more than
// MaxBodyBytes of output.
func (b *v1Body) gunzip() *apiError {
	src := bytes.NewReader(b.raw.Bytes())
	zr, _ := ingestGzPool.Get().(*gzip.Reader)
	var err error
	if zr == nil {
		zr, err = gzip.NewReader(src)
	} else {
		err = zr.Reset(src)
	}
	if err != nil {
		return v1BadRequest("malformed gzip body: %v", err)
	}
	defer ingestGzPool.Put(zr)
	b.plain = ingestBufPool.Get().(*bytes.Buffer)
	b.plain.Reset()
	if n := b.raw.Len() * 8; n < MaxBodyBytes { // a guess at the expansion, to grow once or twice
		b.plain.Grow(n)
	}
	n, err := b.plain.ReadFrom(io.LimitReader(zr, MaxBodyBytes+1))
	if err != nil {
		return v1BadRequest("malformed gzip body: %v", err)
	}
	if n > MaxBodyBytes {
		return v1TooLarge("the gzip-expanded body")
	}
	b.data = b.plain.Bytes()
	return nil
}

// putBody returns the body's buffers and its decoding slot.
func (v *apiV1) putBody(b *v1Body) {
	<-v.bodies
	for _, buf := range []*bytes.Buffer{b.raw, b.plain} {
		if buf != nil && buf.Cap() <= 2*MaxBodyBytes {
			ingestBufPool.Put(buf)
		}
	}
	b.raw, b.plain, b.data = nil, nil, nil
}

// ---- JSON decoding ----

// ingestMaxJSONDepth is the deepest nesting accepted, as encoding/json.
const ingestMaxJSONDepth = 10000

// ingestSyntaxError is a malformed ingest body.
type ingestSyntaxError struct {
	format string
	offset int
	msg    string
}

func (e *ingestSyntaxError) Error() string {
	return e.format + " ingest body: " + e.msg + " at byte " + strconv.Itoa(e.offset)
}

type jsonDec struct {
	data []byte
	pos  int
	b    *ingestBatch
	// The path of the previous point and its index: clients send a
	// series' points together, so most points skip the map and the UTF-8
	// check. lastIdx < 0: none yet.
	lastPath string
	lastIdx  int32
}

func (d *jsonDec) errf(msg string) error {
	return &ingestSyntaxError{"JSON", d.pos, msg}
}

// decodeJSONIngest decodes a JSON ingest body into b (appending).
func decodeJSONIngest(data []byte, b *ingestBatch) error {
	d := jsonDec{data: data, b: b, lastIdx: -1}
	base := len(b.points)
	d.ws()
	if !d.consume('{') {
		return d.errf("expected a JSON object")
	}
	if err := d.object(func(key []byte) error {
		if string(key) != "points" {
			return d.skip(1)
		}
		b.points = b.points[:base] // a repeated key: the last one wins
		if d.literal("null") {
			return nil
		}
		return d.pointsArray()
	}); err != nil {
		return err
	}
	d.ws()
	if d.pos != len(d.data) {
		return d.errf("data after the JSON object")
	}
	return nil
}

func (d *jsonDec) ws() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *jsonDec) consume(c byte) bool {
	if d.pos < len(d.data) && d.data[d.pos] == c {
		d.pos++
		return true
	}
	return false
}

func (d *jsonDec) literal(lit string) bool {
	if len(d.data)-d.pos >= len(lit) && string(d.data[d.pos:d.pos+len(lit)]) == lit {
		d.pos += len(lit)
		return true
	}
	return false
}

// object parses the members of an object whose '{' was consumed, calling
// member with each key (only valid until the next read) positioned at its
// value, which member must consume.
func (d *jsonDec) object(member func(key []byte) error) error {
	d.ws()
	if d.consume('}') {
		return nil
	}
	for {
		d.ws()
		key, err := d.stringValue()
		if err != nil {
			return err
		}
		d.ws()
		if !d.consume(':') {
			return d.errf("expected ':' after an object key")
		}
		d.ws()
		if err := member(key); err != nil {
			return err
		}
		d.ws()
		if d.consume(',') {
			continue
		}
		if d.consume('}') {
			return nil
		}
		return d.errf("expected ',' or '}' in an object")
	}
}

func (d *jsonDec) pointsArray() error {
	if !d.consume('[') {
		return d.errf(`"points" must be an array`)
	}
	d.ws()
	if d.consume(']') {
		return nil
	}
	for {
		d.ws()
		if err := d.point(); err != nil {
			return err
		}
		d.ws()
		if d.consume(',') {
			continue
		}
		if d.consume(']') {
			return nil
		}
		return d.errf("expected ',' or ']' in the points array")
	}
}

// point decodes one point object. Its member loop is written out (not
// object's callback) to keep the hot path free of allocations.
func (d *jsonDec) point() error {
	start := d.pos
	if !d.consume('{') {
		return d.errf("a point must be an object")
	}
	p := ingestPoint{timeMs: ingestNoTime, path: -1}
	var hasStep, hasNum, hasText bool
	d.ws()
	if !d.consume('}') {
		for {
			d.ws()
			key, err := d.stringValue()
			if err != nil {
				return err
			}
			d.ws()
			if !d.consume(':') {
				return d.errf("expected ':' after an object key")
			}
			d.ws()
			null := d.pos < len(d.data) && d.data[d.pos] == 'n' && d.literal("null")
			switch string(key) {
			case "path":
				p.path = -1
				if !null {
					s, err := d.stringValue()
					if err != nil {
						return err
					}
					if d.lastIdx >= 0 && string(s) == d.lastPath {
						p.path = d.lastIdx
						break
					}
					if !utf8.Valid(s) {
						return d.errf("path is not valid UTF-8")
					}
					p.path = d.b.pathIndex(s)
					d.lastPath, d.lastIdx = d.b.paths[p.path], p.path
				}
			case "step":
				hasStep = false
				if !null {
					if p.step, err = d.number(); err != nil {
						return err
					}
					hasStep = true
				}
			case "timestampMs":
				p.timeMs, p.hasTime = ingestNoTime, false
				if !null {
					if p.timeMs, err = d.intNumber(); err != nil {
						return err
					}
					p.hasTime = true
				}
			case "number":
				hasNum = false
				if !null {
					if p.value, err = d.numberOrNonFinite(); err != nil {
						return err
					}
					hasNum = true
				}
			case "text":
				hasText = false
				if !null {
					s, err := d.stringValue()
					if err != nil {
						return err
					}
					if !utf8.Valid(s) {
						return d.errf("text is not valid UTF-8")
					}
					p.text, hasText = string(s), true
				}
			default:
				if !null {
					if err := d.skip(3); err != nil {
						return err
					}
				}
			}
			d.ws()
			if d.consume(',') {
				continue
			}
			if d.consume('}') {
				break
			}
			return d.errf("expected ',' or '}' in an object")
		}
	}
	switch {
	case p.path < 0:
		return &ingestSyntaxError{"JSON", start, `a point has no "path"`}
	case !hasStep:
		return &ingestSyntaxError{"JSON", start, `a point has no "step"`}
	case hasNum == hasText:
		return &ingestSyntaxError{"JSON", start, `a point needs exactly one of "number" and "text"`}
	}
	p.isText = hasText
	if !hasText {
		p.text = ""
	}
	d.b.points = append(d.b.points, p)
	return nil
}

// stringValue reads a string and returns its unescaped bytes; they alias
// the input or the batch's scratch buffer, valid until the next call.
func (d *jsonDec) stringValue() ([]byte, error) {
	if !d.consume('"') {
		return nil, d.errf("expected a string")
	}
	start := d.pos
	data := d.data
	i := start
	for i < len(data) {
		c := data[i]
		if c == '"' {
			d.pos = i + 1
			return data[start:i], nil
		}
		if c == '\\' {
			return d.unescape(start, i)
		}
		if c < 0x20 {
			d.pos = i
			return nil, d.errf("control character in a string")
		}
		i++
	}
	d.pos = i
	return nil, d.errf("unterminated string")
}

// unescape continues a string with escapes from data[esc], its content
// starting at start, into the scratch buffer.
func (d *jsonDec) unescape(start, esc int) ([]byte, error) {
	data := d.data
	out := append(d.b.scratch[:0], data[start:esc]...)
	i := esc
	for i < len(data) {
		c := data[i]
		switch {
		case c == '"':
			d.pos = i + 1
			d.b.scratch = out
			return out, nil
		case c < 0x20:
			d.pos = i
			return nil, d.errf("control character in a string")
		case c != '\\':
			out = append(out, c)
			i++
			continue
		}
		if i+1 >= len(data) {
			d.pos = i
			return nil, d.errf("unterminated string")
		}
		i += 2
		switch data[i-1] {
		case '"', '\\', '/':
			out = append(out, data[i-1])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := jsonHex4(data, i)
			if !ok {
				d.pos = i
				return nil, d.errf(`invalid \u escape`)
			}
			i += 4
			if utf16.IsSurrogate(r) {
				r2, ok2 := rune(-1), false
				if i+6 <= len(data) && data[i] == '\\' && data[i+1] == 'u' {
					r2, ok2 = jsonHex4(data, i+2)
				}
				if dec := utf16.DecodeRune(r, r2); ok2 && dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					r = utf8.RuneError // a lone surrogate, as encoding/json
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			d.pos = i - 2
			return nil, d.errf("invalid escape")
		}
	}
	d.pos = i
	return nil, d.errf("unterminated string")
}

func jsonHex4(data []byte, i int) (rune, bool) {
	if i+4 > len(data) {
		return 0, false
	}
	var r rune
	for _, c := range data[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// numberToken scans a JSON number and returns its bytes and whether it is
// an integer (no fraction, no exponent).
func (d *jsonDec) numberToken() ([]byte, bool, error) {
	data := d.data
	start, i := d.pos, d.pos
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && '1' <= data[i] && data[i] <= '9':
		for i < len(data) && '0' <= data[i] && data[i] <= '9' {
			i++
		}
	default:
		d.pos = i
		return nil, false, d.errf("expected a number")
	}
	integer := true
	if i < len(data) && data[i] == '.' {
		integer = false
		i++
		j := i
		for i < len(data) && '0' <= data[i] && data[i] <= '9' {
			i++
		}
		if i == j {
			d.pos = i
			return nil, false, d.errf("expected a digit after '.'")
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		integer = false
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		j := i
		for i < len(data) && '0' <= data[i] && data[i] <= '9' {
			i++
		}
		if i == j {
			d.pos = i
			return nil, false, d.errf("expected a digit in the exponent")
		}
	}
	d.pos = i
	return data[start:i], integer, nil
}

// jsonSmallInt parses an integer token of at most 15 digits (exact in a
// float64 and an int64) without strconv.
func jsonSmallInt(tok []byte) (int64, bool) {
	neg := tok[0] == '-'
	if neg {
		tok = tok[1:]
	}
	if len(tok) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range tok {
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// number reads a JSON number as a float64; a number beyond float64's
// range is an error (as encoding/json).
func (d *jsonDec) number() (float64, error) {
	tok, integer, err := d.numberToken()
	if err != nil {
		return 0, err
	}
	if integer {
		if n, ok := jsonSmallInt(tok); ok && (n != 0 || tok[0] != '-') { // "-0" is -0.0
			return float64(n), nil
		}
	}
	f, err := strconv.ParseFloat(string(tok), 64)
	if err != nil {
		return 0, d.errf("number out of range")
	}
	return f, nil
}

// intNumber reads a JSON number as an int64: an integer must fit; a
// number with a fraction or exponent is cut toward zero and must fit too.
func (d *jsonDec) intNumber() (int64, error) {
	tok, integer, err := d.numberToken()
	if err != nil {
		return 0, err
	}
	if integer {
		if n, ok := jsonSmallInt(tok); ok {
			return n, nil
		}
		n, err := strconv.ParseInt(string(tok), 10, 64)
		if err != nil {
			return 0, d.errf("integer out of range")
		}
		return n, nil
	}
	f, err := strconv.ParseFloat(string(tok), 64)
	if err != nil || !(f >= -(1<<63) && f < 1<<63) {
		return 0, d.errf("integer out of range")
	}
	return int64(f), nil
}

// numberOrNonFinite reads a number, Python's literals NaN, Infinity and
// -Infinity, or the strings "NaN", "Infinity" and "-Infinity".
func (d *jsonDec) numberOrNonFinite() (float64, error) {
	if f, ok := d.nonFiniteLiteral(); ok {
		return f, nil
	}
	if d.pos < len(d.data) && d.data[d.pos] == '"' {
		s, err := d.stringValue()
		if err != nil {
			return 0, err
		}
		switch string(s) {
		case "NaN":
			return math.NaN(), nil
		case "Infinity":
			return math.Inf(1), nil
		case "-Infinity":
			return math.Inf(-1), nil
		}
		return 0, d.errf(`"number" must be a number, NaN, Infinity or -Infinity`)
	}
	return d.number()
}

func (d *jsonDec) nonFiniteLiteral() (float64, bool) {
	switch {
	case d.literal("NaN"):
		return math.NaN(), true
	case d.literal("Infinity"):
		return math.Inf(1), true
	case d.literal("-Infinity"):
		return math.Inf(-1), true
	}
	return 0, false
}

// skip consumes one value of any kind; depth counts the objects and
// arrays around it.
func (d *jsonDec) skip(depth int) error {
	if d.pos >= len(d.data) {
		return d.errf("unexpected end of input")
	}
	c := d.data[d.pos]
	if (c == '{' || c == '[') && depth+1 > ingestMaxJSONDepth {
		return d.errf("nesting too deep")
	}
	switch {
	case c == '{':
		d.pos++
		return d.object(func([]byte) error { return d.skip(depth + 1) })
	case c == '[':
		d.pos++
		d.ws()
		if d.consume(']') {
			return nil
		}
		for {
			d.ws()
			if err := d.skip(depth + 1); err != nil {
				return err
			}
			d.ws()
			if d.consume(',') {
				continue
			}
			if d.consume(']') {
				return nil
			}
			return d.errf("expected ',' or ']' in an array")
		}
	case c == '"':
		_, err := d.stringValue()
		return err
	case c == '-' || ('0' <= c && c <= '9'):
		if _, ok := d.nonFiniteLiteral(); ok {
			return nil
		}
		_, _, err := d.numberToken()
		return err
	default:
		if d.literal("true") || d.literal("false") || d.literal("null") {
			return nil
		}
		if _, ok := d.nonFiniteLiteral(); ok {
			return nil
		}
		return d.errf("expected a JSON value")
	}
}

// ingestNowMs is the arrival time given to points without a timestamp.
func ingestNowMs() int64 { return time.Now().UnixMilli() }
