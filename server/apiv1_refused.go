package server

import (
	"encoding/json"
	"math"
	"unicode/utf8"

	"github.com/goodseed/goodseed-go/engine"
)

// An item of a request that could not be stored is refused alone: the
// rest of the request is stored and acknowledged as usual (GoodSeed's
// client resends a whole batch that is not acknowledged, so one refused
// item must never hold its neighbours hostage). Each refusal is said in
// the answer and recorded in the run, as one JSON line of the string
// series sys/refused:
//
//	{"request":"ingest","item":3,"path":"train/loss","reason":"..."}
//
// item is the item's index in its request; the path is cut to
// v1RefusedPathBytes. Past v1MaxListedRefusals in one request, one more
// line counts the rest: {"request":"ingest","more":n}. A refusal is never
// silent: a reader of the run sees what was sent and not stored, and why.
const (
	v1PathRefused       = "sys/refused"
	v1RefusedPathBytes  = 256
	v1MaxListedRefusals = 100
	// v1HeaderRefused on a 204 configs answer counts the items refused
	// (the answer has no body to list them; sys/refused does).
	v1HeaderRefused = "X-Goodseed-Refused"
	// v1HeaderRefusedItems on that answer lists the refused items'
	// indexes, comma-separated (the first v1MaxListedRefusals), so a
	// client can say which it sent were not stored.
	v1HeaderRefusedItems = "X-Goodseed-Refused-Items"
)

// v1Refusal is one item a request could not store, and why.
type v1Refusal struct {
	Item   int    `json:"item"`
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// v1ClipRefusals is what an answer lists of refused.
func v1ClipRefusals(refused []v1Refusal) []v1Refusal {
	out := refused[:min(len(refused), v1MaxListedRefusals)]
	for i := range out {
		out[i].Path = v1ClipPath(out[i].Path)
	}
	return out
}

// v1ClipPath cuts a path for a refusal at a rune boundary.
func v1ClipPath(p string) string {
	if len(p) <= v1RefusedPathBytes {
		return p
	}
	cut := v1RefusedPathBytes
	for cut > 0 && !utf8.RuneStart(p[cut]) {
		cut--
	}
	return p[:cut] + "..."
}

// recordRefusals appends refused to the run's sys/refused series, its
// steps counting on from the series' last.
func (p *writerPool) recordRefusals(rw *runWriter, request string, refused []v1Refusal) *apiError {
	if len(refused) == 0 {
		return nil
	}
	f, err := rw.field(v1PathRefused, engine.KindString)
	if err != nil {
		return p.writeError(rw, err)
	}
	if rw.refusedNext < 0 {
		rw.refusedNext = 0
		if s, ok := rw.store.Summary(v1PathRefused, engine.KindString); ok && s.Count > 0 && !math.IsInf(s.MaxStep, 0) {
			rw.refusedNext = math.Floor(s.MaxStep) + 1
		}
	}
	lines := make([]any, 0, v1MaxListedRefusals+1)
	for _, r := range refused[:min(len(refused), v1MaxListedRefusals)] {
		lines = append(lines, struct {
			Request string `json:"request"`
			Item    int    `json:"item"`
			Path    string `json:"path"`
			Reason  string `json:"reason"`
		}{request, r.Item, v1ClipPath(r.Path), r.Reason})
	}
	if n := len(refused) - v1MaxListedRefusals; n > 0 {
		lines = append(lines, struct {
			Request string `json:"request"`
			More    int    `json:"more"`
		}{request, n})
	}
	for _, l := range lines {
		b, _ := json.Marshal(l)
		if err := f.LogString(rw.refusedNext, string(b)); err != nil {
			return p.writeError(rw, err)
		}
		rw.refusedNext++
	}
	return nil
}
