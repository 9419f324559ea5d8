package server

import (
	"errors"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/goodseed/goodseed-go/engine"
)

// ingestFormat is how an ingest body is encoded.
type ingestFormat uint8

const (
	formatJSON ingestFormat = iota
	formatProtobuf
)

// ingestFormatOf picks the decoder from Content-Type; an absent type is
// JSON.
func ingestFormatOf(r *http.Request) (ingestFormat, *apiError) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return formatJSON, nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil {
		switch mt {
		case "application/json":
			return formatJSON, nil
		case "application/protobuf", "application/x-protobuf", "application/vnd.google.protobuf":
			return formatProtobuf, nil
		}
	}
	return 0, &apiError{http.StatusUnsupportedMediaType, "Request.UnsupportedMediaType", "Unsupported content type",
		"ingest takes application/json or application/protobuf, not " + v1Quote(ct)}
}

// ingest is POST /api/v1/runs/{id}/ingest: decode the whole batch, check
// it, write it, flush, answer 200. See apiv1.go for the guarantees.
func (v *apiV1) ingest(w http.ResponseWriter, r *http.Request, g keyGrant) *apiError {
	ref, dir, e := v.resolveRun(r, g)
	if e != nil {
		return e
	}
	format, e := ingestFormatOf(r)
	if e != nil {
		return e
	}
	body, e := v.readBody(w, r)
	if e != nil {
		return e
	}
	defer v.putBody(body)
	b := getBatch()
	defer putBatch(b)
	var err error
	if format == formatProtobuf {
		err = decodeProtobufIngest(body.data, b)
	} else {
		err = decodeJSONIngest(body.data, b)
	}
	if err != nil {
		return v1BadRequest("%v", err)
	}
	rng, e := v1ParseRange(r)
	if e != nil {
		return e
	}
	rw, e := v.writers.acquireAs(dir, ref, r.Header.Get(v1HeaderWriter))
	if e != nil {
		return e
	}
	defer v.writers.release(rw)
	var meta map[string]string
	if rng != nil {
		stored, have := v1SyncEnd(rw.store, rng.origin)
		if have && !stored.Less(rng.end) {
			// Stored already: an answer that was lost, or a client that
			// crashed before it saved its position. Nothing twice.
			writeJSON(w, http.StatusOK, v1IngestAnswer{Duplicate: true, SyncEnd: stored.String()})
			return nil
		}
		if (have && stored.Less(rng.start)) || (!have && (engine.StreamPos{}).Less(rng.start)) {
			// A gap: the client believes more is stored than is (a server
			// restored from an older copy, another server under the same
			// URL). Say where to resume rather than store it short.
			writeJSON(w, http.StatusConflict, v1IngestAnswer{SyncEnd: stored.String()})
			return nil
		}
		meta = map[string]string{v1MetaSyncOrigin: rng.origin, v1MetaSyncEnd: rng.end.String()}
	}
	refused, e := v.writers.writeBatch(rw, b, meta)
	if e != nil {
		return e
	}
	ans := v1IngestAnswer{Points: len(b.points) - len(refused), Refused: v1ClipRefusals(refused), RefusedCount: len(refused)}
	if rng != nil {
		ans.SyncEnd = rng.end.String()
	}
	writeJSON(w, http.StatusOK, ans)
	return nil
}

// v1IngestAnswer is ingest's 200 body: the points stored and, for a
// request with a range, the end of the stream the server has stored.
type v1IngestAnswer struct {
	Points    int    `json:"points"`
	Duplicate bool   `json:"duplicate,omitempty"`
	SyncEnd   string `json:"sync_end,omitempty"`
	// RefusedCount points were not stored; Refused lists the first of
	// them (v1MaxListedRefusals) with why.
	RefusedCount int         `json:"refused_count,omitempty"`
	Refused      []v1Refusal `json:"refused,omitempty"`
}

// The writer's meta that remembers how far a client's stream is stored.
const (
	v1MetaSyncOrigin = "sync_origin"
	v1MetaSyncEnd    = "sync_end"
)

// v1Range is an ingest's X-Goodseed-Stream and X-Goodseed-Range.
type v1Range struct {
	origin     string
	start, end engine.StreamPos
}

// v1ParseRange reads the range headers; nil without them.
func v1ParseRange(r *http.Request) (*v1Range, *apiError) {
	origin, rs := r.Header.Get(v1HeaderStream), r.Header.Get(v1HeaderRange)
	if origin == "" && rs == "" {
		return nil, nil
	}
	a, b, ok := strings.Cut(rs, "-")
	start, err1 := engine.ParseStreamPos(a)
	end, err2 := engine.ParseStreamPos(b)
	switch {
	case origin == "" || len(origin) > 128:
		return nil, v1BadRequest("%s must name the stream (1 to 128 bytes) with %s", v1HeaderStream, v1HeaderRange)
	case !ok || err1 != nil || err2 != nil:
		return nil, v1BadRequest("%s %s is not start-end, each seq.offset", v1HeaderRange, v1Quote(rs))
	case end.Less(start):
		return nil, v1BadRequest("%s %s ends before it starts", v1HeaderRange, v1Quote(rs))
	}
	return &v1Range{origin: origin, start: start, end: end}, nil
}

// v1SyncEnd is the end of origin's stream the writer has stored.
func v1SyncEnd(st *engine.Store, origin string) (engine.StreamPos, bool) {
	o, ok := st.Meta(v1MetaSyncOrigin)
	if !ok || o.Val != origin {
		return engine.StreamPos{}, false
	}
	e, ok := st.Meta(v1MetaSyncEnd)
	if !ok {
		return engine.StreamPos{}, false
	}
	p, err := engine.ParseStreamPos(e.Val)
	return p, err == nil
}

// writeBatch stores every point of b the run can take, then meta, and
// flushes. A point the engine refuses (a path or text past a limit, a step
// that is not finite) is refused alone: the rest of the batch is stored,
// and the refusals are returned and recorded in the run (sys/refused).
// Only a storage failure fails the batch (500: nothing acknowledged).
func (p *writerPool) writeBatch(rw *runWriter, b *ingestBatch, meta map[string]string) ([]v1Refusal, *apiError) {
	// Handles by path index, one per kind; a path whose field cannot be
	// made keeps the error, and each of its points is refused with it.
	metrics := make([]*engine.Field, len(b.paths))
	texts := make([]*engine.Field, len(b.paths))
	fieldErrs := map[engine.FieldKey]error{}
	var refused []v1Refusal
	refuse := func(i int, path string, err error) {
		refused = append(refused, v1Refusal{Item: i, Path: path, Reason: err.Error()})
	}
	now := ingestNowMs()
	for i := range b.points {
		pt := &b.points[i]
		path := b.paths[pt.path]
		hs, kind := metrics, engine.KindMetric
		if pt.isText {
			hs, kind = texts, engine.KindString
		}
		h := hs[pt.path]
		if h == nil {
			k := engine.FieldKey{Path: path, Kind: kind}
			err, failed := fieldErrs[k]
			if !failed {
				h, err = rw.field(path, kind)
			}
			if err != nil {
				if !v1InputError(err) {
					return nil, p.writeError(rw, err)
				}
				fieldErrs[k] = err
				refuse(i, path, err)
				continue
			}
			hs[pt.path] = h
		}
		ts := pt.timeMs
		if !pt.hasTime {
			ts = now
		}
		var err error
		if pt.isText {
			err = h.LogStringAt(pt.step, pt.text, ts)
		} else {
			err = h.LogMetricAt(pt.step, pt.value, ts)
		}
		if err != nil {
			if !v1InputError(err) {
				return nil, p.writeError(rw, fmt.Errorf("point %d: %w", i, err))
			}
			refuse(i, path, err)
		}
	}
	if e := p.recordRefusals(rw, "ingest", refused); e != nil {
		return nil, e
	}
	if e := p.flushWithMeta(rw, meta); e != nil {
		return nil, e
	}
	return refused, nil
}

// flushWithMeta flushes what a request wrote, then records meta (the
// stream's stored end) and flushes again.
func (p *writerPool) flushWithMeta(rw *runWriter, meta map[string]string) *apiError {
	st := rw.store
	if err := st.Flush(); err != nil {
		return p.writeError(rw, err)
	}
	if len(meta) == 0 {
		return nil
	}
	// The stored end only after the points: a flush may cut its records
	// into several blocks (control records first), so one flush could
	// persist the end without every point. A crash between the two
	// flushes leaves the points without the end; the resend stores them
	// again, which reads the same (a step's last write wins).
	for _, k := range slices.Sorted(maps.Keys(meta)) {
		if err := st.SetMeta(k, meta[k]); err != nil {
			return p.writeError(rw, err)
		}
	}
	if err := st.Flush(); err != nil {
		return p.writeError(rw, err)
	}
	return nil
}

// v1InputError reports whether an engine error is the input's fault (a
// limit, say): that item is refused, and nothing else is affected.
func v1InputError(err error) bool {
	for _, input := range []error{engine.ErrLimit, engine.ErrInvalidPath, engine.ErrInvalidStep,
		engine.ErrInvalidValue, engine.ErrKindMismatch} {
		if errors.Is(err, input) {
			return true
		}
	}
	return false
}

// writeError answers an engine error met while writing: the input's fault
// is 400; anything else is the storage's, so the writer is dropped (the
// next request reopens and recovers the run) and the client, told 500,
// resends.
func (p *writerPool) writeError(rw *runWriter, err error) *apiError {
	if v1InputError(err) {
		return v1BadRequest("%v", err)
	}
	p.fail(rw)
	return v1ServerError(err)
}
