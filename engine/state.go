package engine

import (
	"cmp"
	"fmt"
	"slices"
)

// FieldInfo describes one field of the run.
type FieldInfo struct {
	ID   uint32
	Path string
	Kind FieldKind
}

// FieldKey names a field of a run: its path and its kind. One path may
// hold a metric series, a string series and a config at once, as GoodSeed's
// data model keeps the three apart.
type FieldKey struct {
	Path string
	Kind FieldKind
}

// fieldKinds lists the kinds a path may hold, in the order readers that
// take a path alone try them.
var fieldKinds = [...]FieldKind{KindMetric, KindString, KindConfig}

// ConfigEntry is a config's current value and when it was set.
type ConfigEntry struct {
	Value  Value
	TimeMs int64
	// Order ranks the configs of one writer's stream by when each was
	// last set: a config set again moves past every other (as GoodSeed's
	// SQLite rows do, which its web UI lists in that order). It is
	// relative, rebuilt on replay; compare it only within a stream.
	Order uint64
}

// MetaEntry is a run meta value and when it was set.
type MetaEntry struct {
	Val    string
	TimeMs int64
}

// runState is everything a run holds except its points: the field
// dictionary, configs (string sets included) and run meta. Replaying the
// records of a run rebuilds it; the index keeps a snapshot of it so that
// opening a run replays only what the snapshot does not cover.
//
// The dictionary may have holes: ids whose definition was lost with a
// damaged block (Kind 0, no path). Records of a hole are orphans, reported
// and skipped; the fields defined after it keep their ids and are read as
// usual. defined lists the dictionary without its holes.
type runState struct {
	fields  []FieldInfo // by id; ids are dense from 0, holes have Kind 0
	byKey   map[FieldKey]uint32
	configs map[uint32]ConfigEntry
	meta    map[string]MetaEntry
	order   uint64 // the last ConfigEntry.Order given
}

func newRunState() *runState {
	return &runState{
		byKey:   make(map[FieldKey]uint32),
		configs: make(map[uint32]ConfigEntry),
		meta:    make(map[string]MetaEntry),
	}
}

// apply folds one non-chunk record into the state. Records arrive in write
// order, so the last one wins.
func (st *runState) apply(r *Record) error {
	switch r.Kind {
	case RecFieldDef:
		key := FieldKey{r.Path, r.FieldKind}
		if id, ok := st.byKey[key]; ok {
			if id != r.Field {
				return fmt.Errorf("%w: %s field %q defined twice (ids %d and %d)", ErrCorrupt, r.FieldKind, r.Path, id, r.Field)
			}
			return nil
		}
		switch n := uint64(len(st.fields)); {
		case uint64(r.Field) < n:
			if st.fields[r.Field].Kind != 0 {
				return fmt.Errorf("%w: field id %d defined as %q, but it is %q", ErrCorrupt, r.Field, r.Path, st.fields[r.Field].Path)
			}
			// A hole: a definition that went missing arrives after all.
		case uint64(r.Field)-n > maxFieldGap:
			return fmt.Errorf("%w: field id %d is far past the %d defined", ErrCorrupt, r.Field, n)
		default:
			// Ids are dense: the ones skipped were defined in blocks
			// that are lost. They stay holes, so that the fields after
			// them keep their ids and their records still apply.
			for uint64(len(st.fields)) <= uint64(r.Field) {
				st.fields = append(st.fields, FieldInfo{ID: uint32(len(st.fields))})
			}
		}
		st.fields[r.Field] = FieldInfo{ID: r.Field, Path: r.Path, Kind: r.FieldKind}
		st.byKey[key] = r.Field
	case RecConfig:
		if err := st.checkField(r.Field, KindConfig); err != nil {
			return err
		}
		st.order++
		st.configs[r.Field] = ConfigEntry{Value: r.Value, TimeMs: r.TimeMs, Order: st.order}
	case RecSetOp:
		if err := st.checkField(r.Field, KindConfig); err != nil {
			return err
		}
		cur := st.configs[r.Field]
		if cur.Value.Type != TypeStringSet {
			cur.Value = StringSet()
		}
		cur.Value.Set = applySetOp(cur.Value.Set, r.SetOp, r.Items)
		cur.TimeMs = r.TimeMs
		st.order++
		cur.Order = st.order
		st.configs[r.Field] = cur
	case RecMeta:
		st.meta[r.Key] = MetaEntry{Val: r.Val, TimeMs: r.TimeMs}
	case RecMetricChunk, RecStringChunk:
		want := KindMetric
		if r.Kind == RecStringChunk {
			want = KindString
		}
		return st.checkField(r.Field, want)
	}
	return nil
}

func (st *runState) checkField(id uint32, kind FieldKind) error {
	if int(id) >= len(st.fields) || st.fields[id].Kind == 0 {
		return fmt.Errorf("%w: record for undefined field %d", ErrCorrupt, id)
	}
	if k := st.fields[id].Kind; k != kind {
		return fmt.Errorf("%w: record of kind %s for %s field %q", ErrCorrupt, kind, k, st.fields[id].Path)
	}
	return nil
}

// applySetOp returns set (sorted, unique) with items added or removed.
func applySetOp(set []string, op uint8, items []string) []string {
	out := slices.Clone(set)
	for _, it := range items {
		i, found := slices.BinarySearch(out, it)
		switch {
		case op == SetAdd && !found:
			out = slices.Insert(out, i, it)
		case op == SetRemove && found:
			out = slices.Delete(out, i, i+1)
		}
	}
	return out
}

// maxFieldGap: a definition this far past the ids defined so far is
// corrupt, not proof that that many definitions were lost (a forged record
// could otherwise make the dictionary grow by 2^32 ids). Check's fieldMap
// uses the same bound.
const maxFieldGap = 1 << 16

// defined returns the dictionary without its holes.
func (st *runState) defined() []FieldInfo {
	out := make([]FieldInfo, 0, len(st.fields))
	for _, f := range st.fields {
		if f.Kind != 0 {
			out = append(out, f)
		}
	}
	return out
}

// seedFields defines the fields of a snapshot's dictionary and nothing
// else of it.
func (st *runState) seedFields(b []byte) error {
	for len(b) > 0 {
		r, rest, err := DecodeRecord(b)
		if err != nil {
			return err
		}
		if r.Kind == RecFieldDef {
			if err := st.apply(&r); err != nil {
				return err
			}
		}
		b = rest
	}
	return nil
}

// snapshot encodes the state as records whose replay rebuilds it.
func (st *runState) snapshot() []byte {
	var b []byte
	for _, f := range st.fields {
		if f.Kind == 0 {
			continue // a hole; the ids after it say where it was
		}
		b = appendFieldDef(b, f.ID, f.Kind, f.Path)
	}
	ids := make([]uint32, 0, len(st.configs))
	for id := range st.configs {
		ids = append(ids, id)
	}
	// In the order they were last set, so that a restore ranks them as
	// the replay of the stream did.
	slices.SortFunc(ids, func(a, b uint32) int { return cmp.Compare(st.configs[a].Order, st.configs[b].Order) })
	for _, id := range ids {
		c := st.configs[id]
		b = appendConfig(b, id, c.TimeMs, c.Value)
	}
	keys := make([]string, 0, len(st.meta))
	for k := range st.meta {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		m := st.meta[k]
		b = appendMeta(b, m.TimeMs, k, m.Val)
	}
	return b
}

// restore replays a snapshot into an empty state.
func (st *runState) restore(b []byte) error {
	for len(b) > 0 {
		r, rest, err := DecodeRecord(b)
		if err != nil {
			return fmt.Errorf("state snapshot: %w", err)
		}
		if err := st.apply(&r); err != nil {
			return fmt.Errorf("state snapshot: %w", err)
		}
		b = rest
	}
	return nil
}

func (st *runState) clone() *runState {
	c := &runState{
		fields:  slices.Clone(st.fields),
		byKey:   make(map[FieldKey]uint32, len(st.byKey)),
		configs: make(map[uint32]ConfigEntry, len(st.configs)),
		meta:    make(map[string]MetaEntry, len(st.meta)),
		order:   st.order,
	}
	for k, v := range st.byKey {
		c.byKey[k] = v
	}
	for k, v := range st.configs {
		c.configs[k] = v
	}
	for k, v := range st.meta {
		c.meta[k] = v
	}
	return c
}
