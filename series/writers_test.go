package series

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMergeWritersModel checks the cross-writer merge against a direct
// reading of invariant 5 on random series: for every step, the point of
// the greatest time wins, the later writer on a tie; every step of every
// writer is there once.
func TestMergeWritersModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 15))
	for round := 0; round < 500; round++ {
		k := 1 + rng.IntN(9)
		ws := make([]*MetricColumns, k)
		for w := range ws {
			c := &MetricColumns{}
			step := float64(rng.IntN(5))
			for n := rng.IntN(40); n > 0; n-- {
				c.Steps = append(c.Steps, step)
				c.Values = append(c.Values, float64(w*1000)+step)
				c.TimesMs = append(c.TimesMs, int64(rng.IntN(8))) // many ties
				step += float64(1 + rng.IntN(3))
			}
			ws[w] = c
		}
		type win struct {
			v float64
			t int64
			w int
		}
		model := map[float64]win{}
		for w, c := range ws {
			for i, st := range c.Steps {
				cur, ok := model[st]
				if !ok || c.TimesMs[i] > cur.t || c.TimesMs[i] == cur.t && w > cur.w {
					model[st] = win{c.Values[i], c.TimesMs[i], w}
				}
			}
		}
		var got MetricColumns
		MergeWritersMetric(&got, ws)
		steps := slices.Sorted(func(yield func(float64) bool) {
			for st := range model {
				if !yield(st) {
					return
				}
			}
		})
		require.Equal(t, steps, got.Steps, "round %d", round)
		for i, st := range got.Steps {
			require.Equal(t, model[st].v, got.Values[i], "round %d step %v", round, st)
			require.Equal(t, model[st].t, got.TimesMs[i], "round %d step %v", round, st)
		}
		// Strings merge by the same rule.
		ss := make([]*StringColumns, k)
		for w, c := range ws {
			s := &StringColumns{Steps: c.Steps, TimesMs: c.TimesMs}
			for _, v := range c.Values {
				s.Values = append(s.Values, string(rune('a'+int(v)/1000)))
			}
			ss[w] = s
		}
		var gs StringColumns
		MergeWritersString(&gs, ss)
		require.Equal(t, got.Steps, gs.Steps)
		for i := range gs.Values {
			require.Equal(t, string(rune('a'+int(got.Values[i])/1000)), gs.Values[i])
		}
	}
}
