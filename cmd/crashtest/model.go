package main

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/run"
)

// state is what the workload's own fields hold: every metric point (value
// as bits, so NaN payloads and −0 compare exactly), every string point,
// and the configs it sets (c/* and sys/tags).
type state struct {
	metrics map[string]map[float64]uint64
	texts   map[string]map[float64]string
	configs map[string]engine.Value
}

func newState() *state {
	return &state{metrics: map[string]map[float64]uint64{}, texts: map[string]map[float64]string{}, configs: map[string]engine.Value{}}
}

func (s *state) points() int {
	n := 0
	for _, m := range s.metrics {
		n += len(m)
	}
	for _, m := range s.texts {
		n += len(m)
	}
	return n
}

// observe reads the workload's fields of the run through the public,
// read-only API. Any read error (a block that does not decode), a field
// the workload never defines, a field of the wrong kind or points out of
// step order is a violation.
func observe(ro *run.Run) (*state, error) {
	st := newState()
	fields, err := ro.Fields()
	if err != nil {
		return nil, fmt.Errorf("list fields: %w", err)
	}
	for _, f := range fields {
		want, ok := expectedKind(f.Path)
		if !ok {
			return nil, fmt.Errorf("field %q was never logged", f.Path)
		}
		if f.Kind != want {
			return nil, fmt.Errorf("field %q is a %s, logged as a %s", f.Path, f.Kind, want)
		}
		switch f.Kind {
		case run.KindMetric:
			pts, err := ro.Metric(f.Path)
			if err != nil {
				return nil, fmt.Errorf("read %q: %w", f.Path, err)
			}
			m := make(map[float64]uint64, len(pts))
			for i, p := range pts {
				if i > 0 && !(pts[i-1].Step < p.Step) {
					return nil, fmt.Errorf("%q: steps %v then %v", f.Path, pts[i-1].Step, p.Step)
				}
				m[p.Step] = math.Float64bits(p.Value)
			}
			st.metrics[f.Path] = m
		case run.KindString:
			pts, err := ro.Strings(f.Path)
			if err != nil {
				return nil, fmt.Errorf("read %q: %w", f.Path, err)
			}
			m := make(map[float64]string, len(pts))
			for i, p := range pts {
				if i > 0 && !(pts[i-1].Step < p.Step) {
					return nil, fmt.Errorf("%q: steps %v then %v", f.Path, pts[i-1].Step, p.Step)
				}
				m[p.Step] = p.Value
			}
			st.texts[f.Path] = m
		}
	}
	cfgs, err := ro.Configs()
	if err != nil {
		return nil, fmt.Errorf("read configs: %w", err)
	}
	for p, v := range cfgs {
		if strings.HasPrefix(p, "c/") || p == tagsPath {
			st.configs[p] = v
		}
	}
	return st, nil
}

// expectedKind is the kind the workload or the run package gives path.
func expectedKind(path string) (run.Kind, bool) {
	switch {
	case strings.HasPrefix(path, "m/"), strings.HasPrefix(path, "late/"):
		return run.KindMetric, true
	case strings.HasPrefix(path, "s/"):
		return run.KindString, true
	case strings.HasPrefix(path, "c/"), strings.HasPrefix(path, "sys/"), strings.HasPrefix(path, "source_code/"):
		return run.KindConfig, true
	}
	return 0, false
}

// explain checks that got is what the run held before the round (base)
// plus a prefix of the round's writes to one series or to the configs, at
// least the acked first ones: last write wins within the prefix, and a
// prefix because a writer's blocks land in order and only the tail a kill
// tore is lost. It returns the prefix length that explains got.
//
// One pass over the writes keeps the number of keys where the model and got
// differ, so every prefix is tried in O(1).
func explain[K comparable, V any](base, got map[K]V, writes []kv[K, V], acked int, eq func(a, b V) bool) (int, bool) {
	cur := make(map[K]V, len(base))
	for k, v := range base {
		cur[k] = v
	}
	same := func(k K) bool {
		a, okA := cur[k]
		b, okB := got[k]
		return okA == okB && (!okA || eq(a, b))
	}
	diff := 0
	for k := range cur {
		if !same(k) {
			diff++
		}
	}
	for k := range got {
		if _, ok := cur[k]; !ok {
			diff++
		}
	}
	for p := 0; ; p++ {
		if p >= acked && diff == 0 {
			return p, true
		}
		if p == len(writes) {
			return 0, false
		}
		w := writes[p]
		before := same(w.k)
		cur[w.k] = w.apply(cur[w.k])
		after := same(w.k)
		switch {
		case before && !after:
			diff++
		case !before && after:
			diff--
		}
	}
}

// kv is one write: apply turns the key's current value (zero when absent)
// into the new one.
type kv[K comparable, V any] struct {
	k     K
	apply func(V) V
}

// expect checks a round: obs must be base plus, for every series and for
// the configs, a prefix of the round's operations at least as long as what
// was acknowledged. done is how many operations the child performed at
// most (0 when it died before the run opened), acked how many a completed
// Flush or Sync covered. It returns how many writes beyond the acked ones
// reached the run.
func expect(base, obs *state, ops []op, done, acked int) (extra int, err error) {
	ops = ops[:done]
	type seriesW struct {
		metric []kv[float64, uint64]
		text   []kv[float64, string]
		acked  int
	}
	series := map[string]*seriesW{}
	var ctrl []kv[string, engine.Value]
	ctrlAcked := 0
	get := func(path string) *seriesW {
		s := series[path]
		if s == nil {
			s = &seriesW{}
			series[path] = s
		}
		return s
	}
	for i := range ops {
		o := &ops[i]
		counted := i < acked
		switch o.kind {
		case opMetric:
			s := get(o.path)
			bits := math.Float64bits(o.value)
			s.metric = append(s.metric, kv[float64, uint64]{o.step, func(uint64) uint64 { return bits }})
			if counted {
				s.acked++
			}
		case opString:
			s := get(o.path)
			text := o.text
			s.text = append(s.text, kv[float64, string]{o.step, func(string) string { return text }})
			if counted {
				s.acked++
			}
		case opConfig:
			v := o.cfg
			ctrl = append(ctrl, kv[string, engine.Value]{o.path, func(engine.Value) engine.Value { return v }})
		case opTagAdd, opTagRemove:
			add, items := o.kind == opTagAdd, o.items
			ctrl = append(ctrl, kv[string, engine.Value]{o.path, func(cur engine.Value) engine.Value {
				set := []string(nil)
				if cur.Type == engine.TypeStringSet {
					set = slices.Clone(cur.Set)
				}
				for _, it := range items {
					i, found := slices.BinarySearch(set, it)
					switch {
					case add && !found:
						set = slices.Insert(set, i, it)
					case !add && found:
						set = slices.Delete(set, i, i+1)
					}
				}
				return engine.StringSet(set...)
			}})
		}
		if counted && o.isControl() {
			ctrlAcked++
		}
	}
	paths := map[string]bool{}
	for p := range base.metrics {
		paths[p] = true
	}
	for p := range base.texts {
		paths[p] = true
	}
	for p := range obs.metrics {
		paths[p] = true
	}
	for p := range obs.texts {
		paths[p] = true
	}
	for p := range series {
		paths[p] = true
	}
	for p := range paths {
		s := series[p]
		if s == nil {
			s = &seriesW{}
		}
		if k, _ := expectedKind(p); k == run.KindString {
			n, ok := explain(base.texts[p], obs.texts[p], s.text, s.acked, func(a, b string) bool { return a == b })
			if !ok {
				return 0, fmt.Errorf("string series %q: %s", p, describeMismatch(base.texts[p], obs.texts[p], s.text, s.acked))
			}
			extra += n - s.acked
			continue
		}
		n, ok := explain(base.metrics[p], obs.metrics[p], s.metric, s.acked, func(a, b uint64) bool { return a == b })
		if !ok {
			return 0, fmt.Errorf("metric series %q: %s", p, describeMismatch(base.metrics[p], obs.metrics[p], s.metric, s.acked))
		}
		extra += n - s.acked
	}
	n, ok := explain(base.configs, obs.configs, ctrl, ctrlAcked, engine.Value.Equal)
	if !ok {
		return 0, fmt.Errorf("configs: %s", describeMismatch(base.configs, obs.configs, ctrl, ctrlAcked))
	}
	extra += n - ctrlAcked
	return extra, nil
}

// describeMismatch names the keys where got differs from base plus all
// acked writes: what a failure report needs first.
func describeMismatch[K comparable, V any](base, got map[K]V, writes []kv[K, V], acked int) string {
	cur := make(map[K]V, len(base))
	for k, v := range base {
		cur[k] = v
	}
	for _, w := range writes[:acked] {
		cur[w.k] = w.apply(cur[w.k])
	}
	var b strings.Builder
	fmt.Fprintf(&b, "no prefix of %d writes (%d acknowledged) explains what was read;", len(writes), acked)
	shown := 0
	for k, v := range cur {
		g, ok := got[k]
		if !ok || fmt.Sprint(g) != fmt.Sprint(v) {
			if shown < 5 {
				fmt.Fprintf(&b, " %v: want %v after the acked writes, read %v (present %v);", k, brief(v), brief(g), ok)
			}
			shown++
		}
	}
	for k, g := range got {
		if _, ok := cur[k]; !ok {
			if shown < 5 {
				fmt.Fprintf(&b, " %v: read %v, absent after the acked writes;", k, brief(g))
			}
			shown++
		}
	}
	fmt.Fprintf(&b, " %d keys differ", shown)
	return b.String()
}

func brief(v any) string {
	s := fmt.Sprint(v)
	if u, ok := v.(uint64); ok {
		s = fmt.Sprintf("%#x (%v)", u, math.Float64frombits(u))
	}
	if len(s) > 60 {
		s = s[:60] + "…"
	}
	return s
}

// ledger is every value a run's rounds logged to its series, step by step
// and in order, and how far each step's writes were acknowledged: what a
// read of the run may return once its files are damaged. The rounds'
// states hold only what a read returned; damage can bring back an older
// value of a step that a later write replaced, so the damage checks need
// the whole history.
type ledger struct {
	metrics map[string]map[float64]*history[uint64]
	texts   map[string]map[float64]*history[string]
}

// history is one step's writes, oldest first; the first acked of them were
// covered by a completed Flush or Sync.
type history[V comparable] struct {
	vals  []V
	acked int
}

// logged says whether v was ever written at the step.
func (h *history[V]) logged(v V) bool { return h != nil && slices.Contains(h.vals, v) }

// current says whether v is the step's last acknowledged write or a later
// one: anything older means an acknowledged write was lost.
func (h *history[V]) current(v V) bool {
	if h == nil || h.acked == 0 {
		return h.logged(v)
	}
	return slices.Contains(h.vals[h.acked-1:], v)
}

func newLedger() *ledger {
	return &ledger{metrics: map[string]map[float64]*history[uint64]{}, texts: map[string]map[float64]*history[string]{}}
}

// add records a round's writes: ops[:done], of which ops[:acked] were
// acknowledged.
func (l *ledger) add(ops []op, done, acked int) {
	for i := range ops[:done] {
		o := &ops[i]
		switch o.kind {
		case opMetric:
			record(l.metrics, o.path, o.step, math.Float64bits(o.value), i < acked)
		case opString:
			record(l.texts, o.path, o.step, o.text, i < acked)
		}
	}
}

func record[V comparable](m map[string]map[float64]*history[V], path string, step float64, v V, acked bool) {
	steps := m[path]
	if steps == nil {
		steps = map[float64]*history[V]{}
		m[path] = steps
	}
	h := steps[step]
	if h == nil {
		h = &history[V]{}
		steps[step] = h
	}
	h.vals = append(h.vals, v)
	if acked {
		h.acked = len(h.vals)
	}
}

// shortBy counts the acknowledged steps of one series that got (what a
// read returned) lacks or holds an older value of.
func shortBy[V comparable](steps map[float64]*history[V], got map[float64]V) int {
	n := 0
	for step, h := range steps {
		if h.acked == 0 {
			continue
		}
		if v, ok := got[step]; !ok || !h.current(v) {
			n++
		}
	}
	return n
}
