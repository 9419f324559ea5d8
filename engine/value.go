package engine

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// FieldKind says what a path holds. A path keeps its kind for the life of
// the run.
type FieldKind uint8

// Field kinds. Stored on disk: frozen.
const (
	KindMetric FieldKind = 1 // float64 points by step
	KindString FieldKind = 2 // UTF-8 text points by step
	KindConfig FieldKind = 3 // one typed value, last write wins
)

func (k FieldKind) String() string {
	switch k {
	case KindMetric:
		return "metric"
	case KindString:
		return "string"
	case KindConfig:
		return "config"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

func (k FieldKind) valid() bool { return k >= KindMetric && k <= KindConfig }

// ValueType is the type of a config value; the names match GoodSeed's type
// tags. Stored on disk: frozen.
type ValueType uint8

// Config value types.
const (
	TypeNull      ValueType = 0
	TypeBool      ValueType = 1
	TypeInt       ValueType = 2
	TypeFloat     ValueType = 3
	TypeString    ValueType = 4
	TypeTime      ValueType = 5
	TypeStringSet ValueType = 6
)

var typeTags = [...]string{"null", "bool", "int", "float", "str", "datetime", "string_set"}

// String returns GoodSeed's type tag ("int", "str", "string_set", ...).
func (t ValueType) String() string {
	if int(t) < len(typeTags) {
		return typeTags[t]
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Value is a typed config value.
type Value struct {
	Type  ValueType
	Bool  bool
	Int   int64
	Float float64
	Str   string
	Time  time.Time // UTC, nanosecond precision
	Set   []string  // sorted, unique
}

// Constructors for config values.
func Null() Value                 { return Value{Type: TypeNull} }
func Bool(b bool) Value           { return Value{Type: TypeBool, Bool: b} }
func Int(i int64) Value           { return Value{Type: TypeInt, Int: i} }
func Float(f float64) Value       { return Value{Type: TypeFloat, Float: f} }
func String(s string) Value       { return Value{Type: TypeString, Str: s} }
func Time(t time.Time) Value      { return Value{Type: TypeTime, Time: t.UTC()} }
func StringSet(s ...string) Value { return Value{Type: TypeStringSet, Set: normSet(s)} }

func normSet(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

// Equal reports whether two values are the same, bit-exact for floats.
func (v Value) Equal(w Value) bool {
	if v.Type != w.Type {
		return false
	}
	switch v.Type {
	case TypeBool:
		return v.Bool == w.Bool
	case TypeInt:
		return v.Int == w.Int
	case TypeFloat:
		return math.Float64bits(v.Float) == math.Float64bits(w.Float)
	case TypeString:
		return v.Str == w.Str
	case TypeTime:
		return v.Time.Equal(w.Time)
	case TypeStringSet:
		return slices.Equal(v.Set, w.Set)
	}
	return true
}

// String renders the value the way GoodSeed stores it as text.
func (v Value) String() string {
	switch v.Type {
	case TypeBool:
		if v.Bool {
			return "True"
		}
		return "False"
	case TypeInt:
		return fmt.Sprint(v.Int)
	case TypeFloat:
		return fmt.Sprint(v.Float)
	case TypeString:
		return v.Str
	case TypeTime:
		return v.Time.Format(time.RFC3339Nano)
	case TypeStringSet:
		return fmt.Sprintf("%q", v.Set)
	}
	return "None"
}
