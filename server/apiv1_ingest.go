package server

import (
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"

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
	rw, e := v.writers.acquire(dir, ref)
	if e != nil {
		return e
	}
	defer v.writers.release(rw)
	if e := v.writers.writeBatch(rw, b); e != nil {
		return e
	}
	writeJSON(w, http.StatusOK, map[string]int{"points": len(b.points)})
	return nil
}

// writeBatch checks every point of b against the run, then writes them and
// flushes. A batch that fails a check writes nothing (400).
func (p *writerPool) writeBatch(rw *runWriter, b *ingestBatch) *apiError {
	st := rw.store
	// Each path used, the kind its points give it (0: unused).
	kinds := make([]engine.FieldKind, len(b.paths))
	for i := range b.points {
		pt := &b.points[i]
		k := engine.KindMetric
		if pt.isText {
			k = engine.KindString
			if len(pt.text) > engine.MaxStringBytes {
				return v1BadRequest("point %d: text of %d bytes is over the limit of %d", i, len(pt.text), engine.MaxStringBytes)
			}
		}
		if math.IsNaN(pt.step) || math.IsInf(pt.step, 0) {
			return v1BadRequest("point %d: step must be a finite number", i)
		}
		switch kinds[pt.path] {
		case 0:
			kinds[pt.path] = k
		case k:
		default:
			return v1BadRequest("point %d: path %s gets both numbers and texts in this batch", i, v1Quote(b.paths[pt.path]))
		}
	}
	for i, k := range kinds {
		if k == 0 {
			continue
		}
		path := b.paths[i]
		if err := engine.ValidatePath(path); err != nil {
			return v1BadRequest("path %s: %v", v1Quote(path), err)
		}
		if fi, ok := st.Lookup(path); ok && fi.Kind != k {
			return v1BadRequest("path %s is a %s field of this run; it cannot take %s points", v1Quote(path), fi.Kind, k)
		}
	}
	handles := make([]*engine.Field, len(b.paths))
	for i, k := range kinds {
		if k == 0 {
			continue
		}
		f, err := rw.field(b.paths[i], k)
		if err != nil {
			return p.writeError(rw, err)
		}
		handles[i] = f
	}
	now := ingestNowMs()
	for i := range b.points {
		pt := &b.points[i]
		ts := pt.timeMs
		if !pt.hasTime {
			ts = now
		}
		var err error
		if pt.isText {
			err = handles[pt.path].LogStringAt(pt.step, pt.text, ts)
		} else {
			err = handles[pt.path].LogMetricAt(pt.step, pt.value, ts)
		}
		if err != nil {
			return p.writeError(rw, fmt.Errorf("point %d: %w", i, err))
		}
	}
	if err := st.Flush(); err != nil {
		return p.writeError(rw, err)
	}
	return nil
}

// writeError answers an engine error met while writing: the input's fault
// (a limit, say) is 400; anything else is the storage's, so the writer is
// dropped (the next request reopens and recovers the run) and the client,
// told 500, resends.
func (p *writerPool) writeError(rw *runWriter, err error) *apiError {
	for _, input := range []error{engine.ErrLimit, engine.ErrInvalidPath, engine.ErrInvalidStep,
		engine.ErrInvalidValue, engine.ErrKindMismatch} {
		if errors.Is(err, input) {
			return v1BadRequest("%v", err)
		}
	}
	p.fail(rw)
	return v1ServerError(err)
}
