package engine

import (
	"fmt"
	"slices"
)

// mergedView is what a reader serves of a run written by several writers:
// the union of the writers' dictionaries, configs and meta (reader.go).
// It is rebuilt from the streams at every open and refresh; the points
// stay in the streams and are merged per read.
type mergedView struct {
	// fields: the first stream's with its ids, then fields only later
	// streams hold, numbered on from there.
	fields  []FieldInfo
	byKey   map[FieldKey]int // path and kind → position in fields
	locals  [][]fieldRef     // by position: each stream's field at the key
	configs map[string]ConfigEntry
	meta    map[string]MetaEntry
}

// fieldRef is one stream's field: the stream and its local id.
type fieldRef struct {
	st *stream
	id uint32
}

// merge rebuilds r.merged from r.streams. r.mu held.
func (r *Reader) merge() {
	m := mergedView{
		byKey:   map[FieldKey]int{},
		configs: map[string]ConfigEntry{},
		meta:    map[string]MetaEntry{},
	}
	type setBy struct {
		w      uint32
		timeMs int64
	}
	configBy := map[string]setBy{}
	metaBy := map[string]setBy{}
	// later reports whether a value set at t by writer w replaces one set
	// at cur: the later time wins, the later writer on a tie (streams come
	// by writer id, so a tie is always the later one).
	later := func(t int64, cur setBy) bool { return t >= cur.timeMs }
	var nextID uint32
	for si, st := range r.streams {
		for _, f := range st.l.st.defined() {
			key := FieldKey{f.Path, f.Kind}
			i, ok := m.byKey[key]
			if !ok {
				id := nextID
				if si == 0 {
					id = f.ID
				}
				nextID = max(nextID, id+1)
				i = len(m.fields)
				m.byKey[key] = i
				m.fields = append(m.fields, FieldInfo{ID: id, Path: f.Path, Kind: f.Kind})
				m.locals = append(m.locals, nil)
			}
			m.locals[i] = append(m.locals[i], fieldRef{st: st, id: f.ID})
		}
		for id, c := range st.l.st.configs {
			path := st.l.st.fields[id].Path
			cur, ok := m.configs[path]
			switch {
			case !ok:
				m.configs[path] = c
			case c.Value.Type == TypeStringSet && cur.Value.Type == TypeStringSet:
				// A string set is the union of every writer's: tags one
				// rank adds are added, whoever else adds others.
				set := slices.Clone(cur.Value.Set)
				for _, it := range c.Value.Set {
					if j, found := slices.BinarySearch(set, it); !found {
						set = slices.Insert(set, j, it)
					}
				}
				m.configs[path] = ConfigEntry{Value: StringSet(set...), TimeMs: max(cur.TimeMs, c.TimeMs), Order: max(cur.Order, c.Order)}
			case later(c.TimeMs, configBy[path]):
				m.configs[path] = c
			default:
				continue
			}
			configBy[path] = setBy{st.w, max(c.TimeMs, configBy[path].timeMs)}
		}
		for k, v := range st.l.st.meta {
			if cur, ok := metaBy[k]; ok && !later(v.TimeMs, cur) {
				continue
			}
			m.meta[k] = v
			metaBy[k] = setBy{st.w, v.TimeMs}
		}
	}
	r.merged = m
}

// refs returns each stream's field at path of kind.
func (m *mergedView) refs(path string, kind FieldKind) []fieldRef {
	i, ok := m.byKey[FieldKey{path, kind}]
	if !ok {
		return nil
	}
	return m.locals[i]
}

// lookup returns each stream's field at path of kind: ErrNotFound if the
// path holds no field, ErrKindMismatch if it holds only other kinds.
func (m *mergedView) lookup(path string, kind FieldKind, dir string) ([]fieldRef, error) {
	if i, ok := m.byKey[FieldKey{path, kind}]; ok {
		return m.locals[i], nil
	}
	for _, k := range fieldKinds {
		if _, ok := m.byKey[FieldKey{path, k}]; ok {
			return nil, fmt.Errorf("%w: %q is a %s field, not %s", ErrKindMismatch, path, k, kind)
		}
	}
	return nil, fmt.Errorf("%w: %s field %q in %s", ErrNotFound, kind, path, dir)
}
