package server

// Configs over /api/v1: the Python client sends each config value as the
// string its storage keeps, with a type tag. Accepted forms per tag (both
// the forms of str() and those GoodSeed's serializer writes):
//
//	null        "", "None", "null" (or a JSON null value)
//	bool        "True"/"False", "true"/"false" (any case)
//	int         decimal digits with an optional sign, within int64
//	float       Python's repr: "0.1", "1e-05", "1.0", "-0.0", "nan", "inf", "-inf"
//	            (any form strconv.ParseFloat takes; "1e999" is +inf as in Python)
//	str         any text
//	datetime    ISO 8601 as Python's isoformat writes it: "2024-01-02T03:04:05.123456+00:00",
//	            without fraction, with "Z", with a space for "T", or naive (taken as UTC)
//	string_set  a JSON array of strings: '["a", "b"]'
//
// Reads give values back in Python's str()/repr() forms: "None", "True",
// "42", "0.1", "nan", ISO 8601 with "+00:00", and a JSON array text for
// string sets (sorted, as Python's serializer sorts them).

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/run"
)

// Limits of the Python client, enforced here too.
const (
	v1MaxConfigsPerRequest = 1000
	v1MaxConfigValueChars  = 10000
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
	values := make([]engine.Value, len(body.Configs))
	for i, c := range body.Configs {
		val := ""
		if c.Value != nil {
			val = *c.Value
		}
		if n := utf8.RuneCountInString(val); n > v1MaxConfigValueChars {
			return v1BadRequest("config %s: value of %d characters; at most %d are allowed", v1Quote(c.Path), n, v1MaxConfigValueChars)
		}
		if err := engine.ValidatePath(c.Path); err != nil {
			return v1BadRequest("config %s: %v", v1Quote(c.Path), err)
		}
		switch {
		case c.SetOp != "" && c.SetOp != "add" && c.SetOp != "remove":
			return v1BadRequest("config %s: set_op must be add or remove, not %s", v1Quote(c.Path), v1Quote(c.SetOp))
		case c.SetOp != "" && c.TypeTag != "string_set":
			return v1BadRequest("config %s: set_op takes a string_set, not %s", v1Quote(c.Path), v1Quote(c.TypeTag))
		}
		if c.Value == nil && c.TypeTag != "null" {
			return v1BadRequest("config %s: value is null for type %s", v1Quote(c.Path), v1Quote(c.TypeTag))
		}
		val2, err := v1ParseConfigValue(c.TypeTag, val)
		if err != nil {
			return v1BadRequest("config %s: %v", v1Quote(c.Path), err)
		}
		if c.Path == run.PathName && val2.Type == engine.TypeString {
			// It becomes the run's name (v1MirrorSysConfig): the rules of
			// POST runs' experiment_name and of the run package apply.
			if err := run.ValidateName(val2.Str); err != nil {
				return v1BadRequest("config %s: %v", v1Quote(c.Path), err)
			}
		}
		values[i] = val2
	}
	rw, e := v.writers.acquireAs(dir, ref, r.Header.Get(v1HeaderWriter))
	if e != nil {
		return e
	}
	defer v.writers.release(rw)
	st := rw.store
	for _, c := range body.Configs {
		if fi, ok := st.Lookup(c.Path); ok && fi.Kind != engine.KindConfig {
			return v1BadRequest("config %s: the path is a %s series of this run", v1Quote(c.Path), fi.Kind)
		}
	}
	now := time.Now().UnixMilli()
	for i, c := range body.Configs {
		at := now
		if c.TimestampMs != nil {
			at = *c.TimestampMs
		}
		if c.SetOp != "" {
			op := engine.SetAdd
			if c.SetOp == "remove" {
				op = engine.SetRemove
			}
			if err := st.UpdateSetAt(c.Path, op, at, values[i].Set...); err != nil {
				return v.writers.writeError(rw, fmt.Errorf("config %s: %w", c.Path, err))
			}
			continue
		}
		if err := st.SetConfigAt(c.Path, values[i], at); err != nil {
			return v.writers.writeError(rw, fmt.Errorf("config %s: %w", c.Path, err))
		}
		if err := v1MirrorSysConfig(st, c.Path, values[i]); err != nil {
			return v.writers.writeError(rw, err)
		}
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
		return st.SetMeta(v1MetaName, v.Str)
	case path == run.PathState && v.Str == v1StateRunning:
		return st.SetMeta(v1MetaStatus, v1StateRunning)
	}
	return nil
}

// v1ParseConfigValue parses a value in the string form of its type tag.
func v1ParseConfigValue(tag, s string) (engine.Value, error) {
	switch tag {
	case "null":
		switch s {
		case "", "None", "null":
			return engine.Null(), nil
		}
		return engine.Value{}, fmt.Errorf("null value must be empty or None, not %s", v1Quote(s))
	case "bool":
		switch strings.ToLower(s) {
		case "true":
			return engine.Bool(true), nil
		case "false":
			return engine.Bool(false), nil
		}
		return engine.Value{}, fmt.Errorf("bool value must be True or False, not %s", v1Quote(s))
	case "int":
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return engine.Value{}, fmt.Errorf("int value %s is not a 64-bit integer", v1Quote(s))
		}
		return engine.Int(i), nil
	case "float":
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil && !(errors.Is(err, strconv.ErrRange) && math.IsInf(f, 0)) {
			return engine.Value{}, fmt.Errorf("float value %s is not a number", v1Quote(s))
		}
		return engine.Float(f), nil
	case "str":
		if len(s) > engine.MaxStringBytes {
			return engine.Value{}, fmt.Errorf("str value of %d bytes is over the limit of %d", len(s), engine.MaxStringBytes)
		}
		return engine.String(s), nil
	case "datetime":
		t, err := v1ParsePyTime(s)
		if err != nil {
			return engine.Value{}, err
		}
		return engine.Time(t), nil
	case "string_set":
		var items []string
		if err := json.Unmarshal([]byte(s), &items); err != nil {
			return engine.Value{}, fmt.Errorf("string_set value must be a JSON array of strings: %v", err)
		}
		if len(items) > engine.MaxSetItems {
			return engine.Value{}, fmt.Errorf("string_set of %d items is over the limit of %d", len(items), engine.MaxSetItems)
		}
		return engine.StringSet(items...), nil
	}
	return engine.Value{}, fmt.Errorf("unknown type_tag %s (null, bool, int, float, str, datetime, string_set)", v1Quote(tag))
}

// v1PyTimeLayouts are the ISO 8601 forms Python's isoformat writes (with
// and without fraction and offset) and those fromisoformat reads.
var v1PyTimeLayouts = []string{
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02",
}

// v1ParsePyTime parses an ISO 8601 time as Python writes it; a time without
// offset is taken as UTC.
func v1ParsePyTime(s string) (time.Time, error) {
	in := strings.TrimSpace(s)
	if len(in) > 10 && in[10] == ' ' {
		in = in[:10] + "T" + in[11:]
	}
	for _, layout := range v1PyTimeLayouts {
		if t, err := time.Parse(layout, in); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%s is not an ISO 8601 time", v1Quote(s))
}

// v1PyValue renders v in the string form Python's client reads back.
func v1PyValue(v engine.Value) string {
	switch v.Type {
	case engine.TypeNull:
		return "None"
	case engine.TypeBool:
		if v.Bool {
			return "True"
		}
		return "False"
	case engine.TypeInt:
		return strconv.FormatInt(v.Int, 10)
	case engine.TypeFloat:
		return v1PyFloatRepr(v.Float)
	case engine.TypeString:
		return v.Str
	case engine.TypeTime:
		return v1PyISOTime(v.Time)
	case engine.TypeStringSet:
		return v1PyJSONStrings(v.Set)
	}
	return v.String()
}

// v1PyFloatRepr is Python's repr of a float: the shortest digits that read
// back exactly, positional for exponents -4 to 15 (with ".0" when
// integral), scientific beyond ("1e-05", "1.5e+16").
func v1PyFloatRepr(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64)
	exp, _ := strconv.Atoi(e[strings.IndexByte(e, 'e')+1:])
	if exp < -4 || exp >= 16 {
		return e
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".") {
		s += ".0"
	}
	return s
}

// v1PyISOTime renders t as Python's isoformat of an aware UTC datetime:
// microseconds when there are any (nanoseconds when finer), "+00:00".
func v1PyISOTime(t time.Time) string {
	t = t.UTC()
	switch ns := t.Nanosecond(); {
	case ns == 0:
		return t.Format("2006-01-02T15:04:05+00:00")
	case ns%1000 == 0:
		return t.Format("2006-01-02T15:04:05.000000+00:00")
	}
	return t.Format("2006-01-02T15:04:05.000000000+00:00")
}

// v1PyJSONStrings renders a string list as Python's json.dumps does
// (", " between items), leaving non-ASCII text unescaped.
func v1PyJSONStrings(items []string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	out := []byte{'['}
	for i, s := range items {
		if i > 0 {
			out = append(out, ", "...)
		}
		buf.Reset()
		_ = enc.Encode(s)
		out = append(out, bytes.TrimRight(buf.Bytes(), "\n")...)
	}
	return string(append(out, ']'))
}
