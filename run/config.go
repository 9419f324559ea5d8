package run

import (
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/goodseed/goodseed-go/engine"
)

// StringSet is a set of strings stored as one config (type tag
// "string_set"), like sys/tags. A plain []string is flattened into
// path/0, path/1, ... instead.
type StringSet []string

// Value is a typed config value as stored (GoodSeed type tags: null, bool,
// int, float, str, datetime, string_set).
type Value = engine.Value

// maxFlattenDepth bounds recursion through nested maps, slices and structs,
// so a cyclic value is an error instead of a stack overflow.
const maxFlattenDepth = 64

// Set assigns a config at path. Last write wins.
//
// Stored as themselves: nil, bool, every int and uint type, float32 and
// float64 (NaN and ±Inf exactly), string, time.Time, StringSet and Value.
// Stored as their text: values implementing encoding.TextMarshaler (net.IP,
// netip.Addr, *big.Int) and fmt.Stringers that are not maps, slices or
// structs (time.Duration, enums); a uint64 beyond int64 as its decimal
// string; byte slices as one string (hex when not UTF-8).
//
// Flattened under path with '/': maps (keys formatted with fmt, visited in
// sorted order, empty segments dropped), slices and arrays (path/0,
// path/1, ...), and structs — exported fields named by their
// `goodseed:"name"` tag, else their `json` tag, else the field name; a tag
// "-" skips the field; embedded structs without a tag flatten into the
// parent. Pointers and interfaces are followed (nil is null). Anything else
// (complex numbers, channels, funcs) is stored as its fmt string form.
// Nesting deeper than 64 levels (a cycle) is ErrInvalidValue.
//
// sys/name and sys/description may be assigned (a name is checked by
// ValidateName); the sys/ fields the run keeps current are ErrReservedPath.
func (r *Run) Set(path string, value any) error {
	ok, err := r.writable("set", path)
	if !ok {
		return err
	}
	var errs []error
	err = flatten(normPath(path), value, 0, func(p string, v engine.Value) {
		if err := r.setOne(p, v); err != nil {
			errs = append(errs, err)
		}
	})
	if err != nil {
		errs = append(errs, fmt.Errorf("run %s: set %q: %w", r.id, path, err))
	}
	return errors.Join(errs...)
}

// SetAll assigns every entry of values as Set would, flattening nested
// values (GoodSeed's log_configs). Every entry is attempted; the error joins
// the failures.
func (r *Run) SetAll(values map[string]any) error {
	ok, err := r.writable("set", "")
	if !ok {
		return err
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs []error
	for _, k := range keys {
		if err := r.Set(k, values[k]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (r *Run) setOne(path string, v engine.Value) error {
	if reservedPaths[path] {
		return fmt.Errorf("run %s: set %q: %w; it is kept current by the run itself", r.id, path, ErrReservedPath)
	}
	if path == PathName {
		if v.Type != engine.TypeString {
			return fmt.Errorf("run %s: set %q: %w: a name is a string, not %s", r.id, path, ErrInvalidName, v.Type)
		}
		if err := ValidateName(v.Str); err != nil {
			return fmt.Errorf("run %s: set %q: %w", r.id, path, err)
		}
		if err := r.store.SetMeta(metaName, v.Str); err != nil {
			return r.wrap("set", path, err)
		}
	}
	return r.wrap("set", path, r.store.SetConfig(path, v))
}

var (
	timeType     = reflect.TypeFor[time.Time]()
	valueType    = reflect.TypeFor[engine.Value]()
	setType      = reflect.TypeFor[StringSet]()
	textMarshal  = reflect.TypeFor[encoding.TextMarshaler]()
	stringerType = reflect.TypeFor[fmt.Stringer]()
)

// flatten turns value into (path, Value) leaves and calls emit for each.
func flatten(path string, value any, depth int, emit func(string, engine.Value)) error {
	switch v := value.(type) { // the common leaves, without reflection
	case nil:
		emit(path, engine.Null())
		return nil
	case bool:
		emit(path, engine.Bool(v))
		return nil
	case int:
		emit(path, engine.Int(int64(v)))
		return nil
	case int64:
		emit(path, engine.Int(v))
		return nil
	case float64:
		emit(path, engine.Float(v))
		return nil
	case string:
		emit(path, engine.String(v))
		return nil
	case time.Time:
		emit(path, engine.Time(v))
		return nil
	case StringSet:
		emit(path, engine.StringSet(v...))
		return nil
	case engine.Value:
		emit(path, v)
		return nil
	}
	return flattenValue(path, reflect.ValueOf(value), depth, emit)
}

func flattenValue(path string, v reflect.Value, depth int, emit func(string, engine.Value)) error {
	if depth > maxFlattenDepth {
		return fmt.Errorf("%w: nested more than %d levels deep (a cycle?) at %q", ErrInvalidValue, maxFlattenDepth, path)
	}
	if !v.IsValid() {
		emit(path, engine.Null())
		return nil
	}
	t := v.Type()
	switch t {
	case timeType, valueType, setType:
		if !v.CanInterface() { // read through an unexported embedded field
			return flattenStruct(path, v, depth, emit)
		}
	}
	switch t {
	case timeType:
		emit(path, engine.Time(v.Interface().(time.Time)))
		return nil
	case valueType:
		emit(path, v.Interface().(engine.Value))
		return nil
	case setType:
		emit(path, engine.StringSet(v.Interface().(StringSet)...))
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			emit(path, engine.Null())
			return nil
		}
		if t.Kind() == reflect.Pointer && hasText(v) {
			return emitText(path, v, emit)
		}
		next := depth
		if t.Kind() == reflect.Pointer { // a pointer can point at itself; an interface holds a concrete value
			next++
		}
		return flattenValue(path, v.Elem(), next, emit)
	case reflect.Bool:
		emit(path, engine.Bool(v.Bool()))
		return nil
	}
	if hasText(v) {
		return emitText(path, v, emit)
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		emit(path, engine.Int(v.Int()))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if u := v.Uint(); u <= math.MaxInt64 {
			emit(path, engine.Int(int64(u)))
		} else {
			emit(path, engine.String(strconv.FormatUint(u, 10)))
		}
	case reflect.Float32, reflect.Float64:
		emit(path, engine.Float(v.Float()))
	case reflect.String:
		emit(path, engine.String(v.String()))
	case reflect.Map:
		return flattenMap(path, v, depth, emit)
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 { // bytes: one value, not one per byte
			b := make([]byte, v.Len())
			for i := range b { // element by element: the element type may be a named byte
				b[i] = byte(v.Index(i).Uint())
			}
			if utf8.Valid(b) {
				emit(path, engine.String(string(b)))
			} else {
				emit(path, engine.String(hex.EncodeToString(b)))
			}
			return nil
		}
		for i := 0; i < v.Len(); i++ {
			if err := flattenValue(join(path, strconv.Itoa(i)), v.Index(i), depth+1, emit); err != nil {
				return err
			}
		}
	case reflect.Struct:
		return flattenStruct(path, v, depth, emit)
	default: // complex numbers, channels, funcs
		emit(path, engine.String(fmt.Sprint(v.Interface())))
	}
	return nil
}

// hasText reports whether v is stored as its text: any type implementing
// encoding.TextMarshaler (net.IP, netip.Addr, *big.Int), and a fmt.Stringer
// that is not a container (time.Duration, enums) — a config struct that
// happens to have a String method still flattens.
func hasText(v reflect.Value) bool {
	if !v.CanInterface() {
		return false
	}
	t := v.Type()
	if t == timeType || (t.Kind() == reflect.Pointer && t.Elem() == timeType) {
		return false // stored as a datetime, not as its text
	}
	if t.Implements(textMarshal) {
		return true
	}
	if !t.Implements(stringerType) {
		return false
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Map, reflect.Slice, reflect.Array, reflect.Struct:
		return false
	}
	return true
}

func emitText(path string, v reflect.Value, emit func(string, engine.Value)) error {
	if m, ok := v.Interface().(encoding.TextMarshaler); ok {
		b, err := m.MarshalText()
		if err != nil {
			return fmt.Errorf("%w: %q: MarshalText: %v", ErrInvalidValue, path, err)
		}
		emit(path, engine.String(string(b)))
		return nil
	}
	emit(path, engine.String(v.Interface().(fmt.Stringer).String()))
	return nil
}

func flattenMap(path string, v reflect.Value, depth int, emit func(string, engine.Value)) error {
	type entry struct {
		key string
		val reflect.Value
	}
	entries := make([]entry, 0, v.Len())
	for it := v.MapRange(); it.Next(); {
		entries = append(entries, entry{fmt.Sprint(it.Key().Interface()), it.Value()})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].key < entries[j].key })
	for _, e := range entries {
		if err := flattenValue(join(path, normKey(e.key)), e.val, depth+1, emit); err != nil {
			return err
		}
	}
	return nil
}

func flattenStruct(path string, v reflect.Value, depth int, emit func(string, engine.Value)) error {
	if depth > maxFlattenDepth {
		return fmt.Errorf("%w: nested more than %d levels deep (a cycle?) at %q", ErrInvalidValue, maxFlattenDepth, path)
	}
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		name, explicit, skip := fieldName(sf)
		if skip {
			continue
		}
		fv := v.Field(i)
		if sf.Anonymous && !explicit {
			ft := sf.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				if fv.Kind() == reflect.Pointer {
					if fv.IsNil() {
						continue
					}
					fv = fv.Elem()
				}
				if err := flattenStruct(path, fv, depth+1, emit); err != nil {
					return err
				}
				continue
			}
		}
		if !sf.IsExported() && !(sf.Anonymous && explicit) {
			continue
		}
		if err := flattenValue(join(path, name), fv, depth+1, emit); err != nil {
			return err
		}
	}
	return nil
}

// fieldName returns the config name of a struct field: its goodseed tag,
// else its json tag, else its Go name.
func fieldName(sf reflect.StructField) (name string, explicit, skip bool) {
	for _, key := range []string{"goodseed", "json"} {
		tag, ok := sf.Tag.Lookup(key)
		if !ok {
			continue
		}
		if tag == "-" { // "-," names a field "-", as in encoding/json
			return "", false, true
		}
		name, _, _ = strings.Cut(tag, ",")
		if name != "" {
			return name, true, false
		}
	}
	return sf.Name, false, false
}

// normKey turns a map key into path segments: empty segments ("a//b",
// "/a/") are dropped, so user data cannot produce a path the engine refuses.
func normKey(k string) string {
	if !strings.Contains(k, "//") {
		return normPath(k)
	}
	return strings.Join(strings.FieldsFunc(k, func(r rune) bool { return r == '/' }), "/")
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	if key == "" {
		return path
	}
	return path + "/" + key
}
