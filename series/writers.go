package series

// Merging writers. A run written by several writers holds one stream per
// writer, each already merged by its own write order (MergeMetric). Across
// writers, the point of a step that wins is the one written last by the
// clock (TimesMs), and on a tie the one of the later writer in the order
// the caller gives (the engine passes writers by id): DESIGN.md invariant
// 5. The winner is the maximum of (time, writer position), so the answer
// does not depend on how the streams are paired while merging.

// MergeWritersMetric merges ws — one series per writer, each sorted by
// step with unique steps, in writer order — into dst, sorted by step.
func MergeWritersMetric(dst *MetricColumns, ws []*MetricColumns) {
	in := make([]wcols[float64], len(ws))
	for i, w := range ws {
		in[i] = wcolsOf(w.Steps, w.Values, w.TimesMs)
	}
	m := mergeWriters(in)
	dst.Steps, dst.Values, dst.TimesMs = m.steps, m.values, m.times
}

// MergeWritersString is MergeWritersMetric for string points.
func MergeWritersString(dst *StringColumns, ws []*StringColumns) {
	in := make([]wcols[string], len(ws))
	for i, w := range ws {
		in[i] = wcolsOf(w.Steps, w.Values, w.TimesMs)
	}
	m := mergeWriters(in)
	dst.Steps, dst.Values, dst.TimesMs = m.steps, m.values, m.times
}

type wcols[V any] struct {
	steps  []float64
	values []V
	times  []int64
}

func wcolsOf[V any](s []float64, v []V, t []int64) wcols[V] { return wcols[V]{s, v, t} }

// mergeWriters merges writers lo..hi by halves: O(n log k).
func mergeWriters[V any](ws []wcols[V]) wcols[V] {
	switch len(ws) {
	case 0:
		return wcols[V]{}
	case 1:
		return ws[0]
	}
	mid := len(ws) / 2
	return mergeTwo(mergeWriters(ws[:mid]), mergeWriters(ws[mid:]))
}

// mergeTwo merges a and b, where every writer in b comes after every
// writer in a: on a step both hold, b's point wins unless a's is later.
func mergeTwo[V any](a, b wcols[V]) wcols[V] {
	n := len(a.steps) + len(b.steps)
	out := wcols[V]{steps: make([]float64, 0, n), values: make([]V, 0, n), times: make([]int64, 0, n)}
	i, j := 0, 0
	take := func(c wcols[V], k int) {
		out.steps = append(out.steps, c.steps[k])
		out.values = append(out.values, c.values[k])
		out.times = append(out.times, c.times[k])
	}
	for i < len(a.steps) && j < len(b.steps) {
		switch sa, sb := a.steps[i], b.steps[j]; {
		case sa < sb:
			take(a, i)
			i++
		case sb < sa:
			take(b, j)
			j++
		default:
			if a.times[i] > b.times[j] {
				take(a, i)
			} else {
				take(b, j)
			}
			i++
			j++
		}
	}
	for ; i < len(a.steps); i++ {
		take(a, i)
	}
	for ; j < len(b.steps); j++ {
		take(b, j)
	}
	return out
}
