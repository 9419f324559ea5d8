package pyrun

import (
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/internal/pyform"
	"github.com/goodseed/goodseed-go/series"
)

// Verify reads the GoodSeed Go run in dir and compares it with r: every
// meta key, every config (type, value in the client's form, time, order)
// and every point (step, value and time, bit for bit). The first
// difference is an ErrMismatch error that names it.
func Verify(r *Run, dir string) error {
	rd, err := engine.OpenReader(dir, nil)
	if err != nil {
		return fmt.Errorf("pyrun: verify %s: %w", dir, err)
	}
	defer rd.Close()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s against %s: %s", ErrMismatch, dir, r.path, fmt.Sprintf(format, args...))
	}
	meta, err := r.Meta()
	if err != nil {
		return err
	}
	got := rd.Meta()
	for k, v := range meta {
		if e, ok := got[k]; !ok || e.Val != v {
			return bad("meta %q is %q, not %q", k, e.Val, v)
		}
	}

	cfgs, err := r.Configs()
	if err != nil {
		return err
	}
	have := rd.Configs()
	if len(have) != len(cfgs) {
		return bad("%d configs, not %d", len(have), len(cfgs))
	}
	prevOrder := uint64(0)
	for i, c := range cfgs {
		e, ok := have[c.Path]
		if !ok {
			return bad("config %q missing", c.Path)
		}
		want, at, err := configValue(c)
		if err != nil {
			return err
		}
		if e.Value.Type != want.Type || pyform.Format(e.Value) != pyform.Format(want) || e.TimeMs != at {
			return bad("config %q is %s %q at %d ms, not %s %q at %d ms", c.Path, e.Value.Type, pyform.Format(e.Value), e.TimeMs, want.Type, pyform.Format(want), at)
		}
		if i > 0 && e.Order <= prevOrder {
			return bad("config %q out of order", c.Path)
		}
		prevOrder = e.Order
	}

	metrics, strs, err := r.SeriesPaths()
	if err != nil {
		return err
	}
	var gotMetrics, gotStrings []string
	for _, f := range rd.Fields() {
		switch f.Kind {
		case engine.KindMetric:
			gotMetrics = append(gotMetrics, f.Path)
		case engine.KindString:
			gotStrings = append(gotStrings, f.Path)
		}
	}
	slices.Sort(gotMetrics)
	slices.Sort(gotStrings)
	if !slices.Equal(gotMetrics, metrics) {
		return bad("metric series %q, not %q", clipList(gotMetrics), clipList(metrics))
	}
	if !slices.Equal(gotStrings, strs) {
		return bad("string series %q, not %q", clipList(gotStrings), clipList(strs))
	}

	// Series by series, in the database's order: one series' columns in
	// memory at a time.
	var mc series.MetricColumns
	cur, i := "", 0
	check := func() error {
		if cur != "" && i != mc.Len() {
			return bad("metric %q has %d points, not %d", cur, mc.Len(), i)
		}
		return nil
	}
	err = r.Metrics(func(path string, pts []MetricPoint) error {
		if path != cur {
			if err := check(); err != nil {
				return err
			}
			cur, i = path, 0
			if err := rd.ReadMetric(path, &mc); err != nil {
				return bad("metric %q: %v", path, err)
			}
		}
		for _, p := range pts {
			if i >= mc.Len() {
				return bad("metric %q has %d points, more in the database", path, mc.Len())
			}
			if math.Float64bits(mc.Steps[i]) != math.Float64bits(p.Step) || math.Float64bits(mc.Values[i]) != math.Float64bits(p.Y) || mc.TimesMs[i] != p.TimeMs {
				return bad("metric %q point %d is (%v, %v, %d ms), not (%v, %v, %d ms)", path, i, mc.Steps[i], mc.Values[i], mc.TimesMs[i], p.Step, p.Y, p.TimeMs)
			}
			i++
		}
		return nil
	})
	if err == nil {
		err = check()
	}
	if err != nil {
		return err
	}

	var sc series.StringColumns
	cur, i = "", 0
	checkStr := func() error {
		if cur != "" && i != sc.Len() {
			return bad("string series %q has %d points, not %d", cur, sc.Len(), i)
		}
		return nil
	}
	err = r.Strings(func(path string, pts []StringPoint) error {
		if path != cur {
			if err := checkStr(); err != nil {
				return err
			}
			cur, i = path, 0
			if err := rd.ReadString(path, &sc); err != nil {
				return bad("string series %q: %v", path, err)
			}
		}
		for _, p := range pts {
			if i >= sc.Len() {
				return bad("string series %q has %d points, more in the database", path, sc.Len())
			}
			if math.Float64bits(sc.Steps[i]) != math.Float64bits(p.Step) || sc.Values[i] != p.Value || sc.TimesMs[i] != p.TimeMs {
				return bad("string series %q point %d at step %v differs", path, i, p.Step)
			}
			i++
		}
		return nil
	})
	if err == nil {
		err = checkStr()
	}
	return err
}

// clipList keeps an error about two path lists short.
func clipList(ps []string) []string {
	if len(ps) > 10 {
		return append(ps[:10:10], fmt.Sprintf("... %d more", len(ps)-10))
	}
	return ps
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }
