package engine

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
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
	Type ValueType
	Bool bool
	// Int is an int's value. An int beyond int64 (Python has no bound)
	// has Int 0 and its exact decimal text in Str; see BigInt.
	Int   int64
	Float float64
	Str   string
	// Time is a datetime's instant, to the nanosecond, in UTC or in the
	// fixed offset it was given with (ZonedTime). Naive marks a wall-clock
	// time with no offset (Python's naive datetime): its wall clock is
	// Time's, read as UTC.
	Time  time.Time
	Naive bool
	Set   []string // sorted, unique
}

// Constructors for config values.
func Null() Value           { return Value{Type: TypeNull} }
func Bool(b bool) Value     { return Value{Type: TypeBool, Bool: b} }
func Int(i int64) Value     { return Value{Type: TypeInt, Int: i} }
func Float(f float64) Value { return Value{Type: TypeFloat, Float: f} }

// BigInt is an int given as decimal text: Int(i) when it is an int64
// (strconv.ParseInt's forms), else, written as Python's str() writes it
// (an optional '-', digits, no leading zero), kept exactly as its text.
// Other text is ErrInvalidValue.
func BigInt(dec string) (Value, error) {
	if i, err := strconv.ParseInt(dec, 10, 64); err == nil {
		return Int(i), nil
	}
	if !isDecimal(dec) {
		return Value{}, fmt.Errorf("%w: int %+q is not a decimal integer", ErrInvalidValue, clip(dec))
	}
	return Value{Type: TypeInt, Str: dec}, nil
}

// isDecimal: '-'? then 1 to maxIntDigits digits, no leading zero.
func isDecimal(s string) bool {
	d := strings.TrimPrefix(s, "-")
	if d == "" || len(d) > maxIntDigits || (d[0] == '0' && len(d) > 1) {
		return false
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return false
		}
	}
	return true
}

// maxIntDigits bounds an int's text: Python's own default bound on int
// to str conversion (sys.int_info.default_max_str_digits).
const maxIntDigits = 4300

// clip cuts s for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// IntText is an int's exact decimal text.
func (v Value) IntText() string {
	if v.Str != "" {
		return v.Str
	}
	return strconv.FormatInt(v.Int, 10)
}
func String(s string) Value  { return Value{Type: TypeString, Str: s} }
func Time(t time.Time) Value { return Value{Type: TypeTime, Time: t.UTC()} }

// ZonedTime is a datetime that keeps the UTC offset t has (as a fixed
// zone): "+02:00" reads back as "+02:00", not as the UTC instant.
func ZonedTime(t time.Time) Value {
	_, off := t.Zone()
	if off == 0 {
		return Time(t)
	}
	return Value{Type: TypeTime, Time: t.In(time.FixedZone("", off))}
}

// NaiveTime is a wall-clock datetime with no offset: wall's clock, its
// zone ignored.
func NaiveTime(wall time.Time) Value {
	y, mo, d := wall.Date()
	h, mi, s := wall.Clock()
	return Value{Type: TypeTime, Naive: true, Time: time.Date(y, mo, d, h, mi, s, wall.Nanosecond(), time.UTC)}
}

// TimeOffset is a datetime's UTC offset in seconds (0 for UTC and naive).
func (v Value) TimeOffset() int {
	_, off := v.Time.Zone()
	return off
}
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
		return v.Int == w.Int && v.Str == w.Str
	case TypeFloat:
		return math.Float64bits(v.Float) == math.Float64bits(w.Float)
	case TypeString:
		return v.Str == w.Str
	case TypeTime:
		return v.Time.Equal(w.Time) && v.Naive == w.Naive && v.TimeOffset() == w.TimeOffset()
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
		return v.IntText()
	case TypeFloat:
		return fmt.Sprint(v.Float)
	case TypeString:
		return v.Str
	case TypeTime:
		switch {
		case v.Naive:
			return v.Time.Format("2006-01-02T15:04:05.999999999")
		case v.TimeOffset()%60 != 0:
			return v.Time.Format("2006-01-02T15:04:05.999999999Z07:00:00")
		}
		return v.Time.Format(time.RFC3339Nano)
	case TypeStringSet:
		return fmt.Sprintf("%q", v.Set)
	}
	return "None"
}
