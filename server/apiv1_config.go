package server

// Configs over /api/v1: the Python client sends each config value as the
// string its storage keeps, with a type tag; internal/pyform reads and
// writes those forms.

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/internal/pyform"
	"github.com/goodseed/goodseed-go/run"
)

// Limits of the Python client, enforced here too.
const (
	v1MaxConfigsPerRequest = 1000
)

type v1ConfigItem struct {
	Path    string  `json:"path"`
	TypeTag string  `json:"type_tag"`
	Value   *string `json:"value"`
	// Ours (the Go syncer's), absent from the Python client's items:
	// TimestampMs is when the client set the value (Unix ms; the time of
	// arrival without it), so the last set across a run's writers is the
	// client's last; SetOp "add" or "remove" makes a string_set item an
	// update of the set (GoodSeed Go's tags) instead of its whole value.
	TimestampMs *int64 `json:"timestamp_ms,omitempty"`
	SetOp       string `json:"set_op,omitempty"`
}

type v1ConfigsBody struct {
	Configs []v1ConfigItem `json:"configs"`
}

// postConfigs is POST /api/v1/runs/{id}/configs: every item is checked
// before any is written; then they are set in order (the last of a path
// wins), the run is flushed, and the answer is 204.
func (v *apiV1) postConfigs(w http.ResponseWriter, r *http.Request, g keyGrant) *apiError {
	ref, dir, e := v.resolveRun(r, g)
	if e != nil {
		return e
	}
	var body v1ConfigsBody
	if e := v.readJSON(w, r, &body); e != nil {
		return e
	}
	if len(body.Configs) > v1MaxConfigsPerRequest {
		return v1BadRequest("%d configs in one request; at most %d are allowed", len(body.Configs), v1MaxConfigsPerRequest)
	}
	// Each item is parsed and stored on its own: one the run cannot take
	// is refused alone (sys/refused, X-Goodseed-Refused), the rest stored.
	var refused []v1Refusal
	values := make([]engine.Value, len(body.Configs))
	ok := make([]bool, len(body.Configs))
	for i, c := range body.Configs {
		val := ""
		if c.Value != nil {
			val = *c.Value
		}
		var err error
		switch {
		case c.SetOp != "" && c.SetOp != "add" && c.SetOp != "remove":
			err = fmt.Errorf("set_op must be add or remove, not %s", v1Quote(c.SetOp))
		case c.SetOp != "" && c.TypeTag != "string_set":
			err = fmt.Errorf("set_op takes a string_set, not %s", v1Quote(c.TypeTag))
		case c.Value == nil && c.TypeTag != "null":
			err = fmt.Errorf("value is null for type %s", v1Quote(c.TypeTag))
		default:
			values[i], err = pyform.Parse(c.TypeTag, val)
		}
		if err != nil {
			refused = append(refused, v1Refusal{Item: i, Path: c.Path, Reason: err.Error()})
			continue
		}
		ok[i] = true
	}
	rw, e := v.writers.acquireAs(dir, ref, r.Header.Get(v1HeaderWriter))
	if e != nil {
		return e
	}
	defer v.writers.release(rw)
	st := rw.store
	now := time.Now().UnixMilli()
	for i, c := range body.Configs {
		if !ok[i] {
			continue
		}
		at := now
		if c.TimestampMs != nil {
			at = *c.TimestampMs
		}
		var err error
		if c.SetOp != "" {
			op := engine.SetAdd
			if c.SetOp == "remove" {
				op = engine.SetRemove
			}
			err = st.UpdateSetAt(c.Path, op, at, values[i].Set...)
		} else if err = st.SetConfigAt(c.Path, values[i], at); err == nil {
			err = v1MirrorSysConfig(st, c.Path, values[i])
		}
		switch {
		case err == nil:
		case v1InputError(err):
			refused = append(refused, v1Refusal{Item: i, Path: c.Path, Reason: err.Error()})
		default:
			return v.writers.writeError(rw, fmt.Errorf("config %s: %w", v1Quote(c.Path), err))
		}
	}
	slices.SortFunc(refused, func(a, b v1Refusal) int { return a.Item - b.Item })
	if e := v.writers.recordRefusals(rw, "configs", refused); e != nil {
		return e
	}
	if len(refused) > 0 {
		w.Header().Set(v1HeaderRefused, strconv.Itoa(len(refused)))
		items := make([]string, 0, min(len(refused), v1MaxListedRefusals))
		for _, r := range refused[:cap(items)] {
			items = append(items, strconv.Itoa(r.Item))
		}
		w.Header().Set(v1HeaderRefusedItems, strings.Join(items, ","))
	}
	if err := st.Flush(); err != nil {
		return v.writers.writeError(rw, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// v1MirrorSysConfig keeps the run meta in step with the sys/ configs the
// client sets, as the run package does: sys/name is the run's name, and
// sys/state "running" (what a resuming client sets) makes it running
// again. The final states come with POST status, which also closes the run.
func v1MirrorSysConfig(st *engine.Store, path string, v engine.Value) error {
	if v.Type != engine.TypeString {
		return nil
	}
	switch {
	case path == run.PathName:
		if run.ValidateName(v.Str) != nil {
			// Stored as the client sent it; the run keeps its name.
			return nil
		}
		return st.SetMeta(v1MetaName, v.Str)
	case path == run.PathState && v.Str == v1StateRunning:
		return st.SetMeta(v1MetaStatus, v1StateRunning)
	}
	return nil
}
