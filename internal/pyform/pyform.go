// Package pyform reads and writes config values in the string forms of
// GoodSeed's Python client: the value its storage keeps beside a type tag,
// as /api/v1 carries it. Accepted forms per tag (both those of str() and
// those GoodSeed's serializer writes):
//
//	null        "", "None", "null"
//	bool        "true"/"false", "True"/"False" (any case)
//	int         decimal digits with an optional '-', any size (beyond int64 kept as text)
//	float       Python's repr: "0.1", "1e-05", "1.0", "-0.0", "nan", "inf", "-inf"
//	            (any form strconv.ParseFloat takes; "1e999" is +inf as in Python)
//	str         any text
//	datetime    ISO 8601 as Python's isoformat writes it: "2024-01-02T03:04:05.123456+02:00"
//	            (the offset is kept), without fraction, with "Z", with a space for "T", or
//	            naive (kept naive)
//	string_set  a JSON array of strings: '["a", "b"]'
//
// Format gives values back exactly as the client's serialize_value writes
// them (what its storage keeps and its sync sends): "", "true"/"false",
// str(int), repr(float), isoformat() with the offset given (none for a
// naive datetime), and json.dumps(sorted(set)) — ", " between items,
// non-ASCII escaped as \uXXXX. So a value the client sent reads back as
// the bytes it sent. The type tag of a value is its engine type's name
// (engine.Type.String).
package pyform

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/goodseed/goodseed-go/engine"
)

// quote quotes a value for an error, cut short so an error never echoes a
// whole hostile value.
func quote(s string) string {
	const maxEcho = 200
	if len(s) > maxEcho {
		s = s[:maxEcho] + "..."
	}
	return "'" + strings.ToValidUTF8(s, "\uFFFD") + "'"
}

// Parse parses a value in the string form of its type tag.
func Parse(tag, s string) (engine.Value, error) {
	switch tag {
	case "null":
		switch s {
		case "", "None", "null":
			return engine.Null(), nil
		}
		return engine.Value{}, fmt.Errorf("null value must be empty or None, not %s", quote(s))
	case "bool":
		switch strings.ToLower(s) {
		case "true":
			return engine.Bool(true), nil
		case "false":
			return engine.Bool(false), nil
		}
		return engine.Value{}, fmt.Errorf("bool value must be True or False, not %s", quote(s))
	case "int":
		v, err := engine.BigInt(s)
		if err != nil {
			return engine.Value{}, fmt.Errorf("int value %s is not a decimal integer", quote(s))
		}
		return v, nil
	case "float":
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil && !(errors.Is(err, strconv.ErrRange) && math.IsInf(f, 0)) {
			return engine.Value{}, fmt.Errorf("float value %s is not a number", quote(s))
		}
		return engine.Float(f), nil
	case "str":
		if len(s) > engine.MaxStringBytes {
			return engine.Value{}, fmt.Errorf("str value of %d bytes is over the limit of %d", len(s), engine.MaxStringBytes)
		}
		return engine.String(s), nil
	case "datetime":
		return parseDatetime(s)
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
	return engine.Value{}, fmt.Errorf("unknown type_tag %s (null, bool, int, float, str, datetime, string_set)", quote(tag))
}

// timeLayouts are the ISO 8601 forms Python's isoformat writes (with
// and without fraction and offset) and those fromisoformat reads.
var timeLayouts = []struct {
	layout string
	zoned  bool
}{
	{"2006-01-02T15:04:05.999999999Z07:00", true},
	{"2006-01-02T15:04:05.999999999Z07:00:00", true},
	{"2006-01-02T15:04:05.999999999Z0700", true},
	{"2006-01-02T15:04:05.999999999", false},
	{"2006-01-02T15:04Z07:00", true},
	{"2006-01-02T15:04", false},
	{"2006-01-02", false},
}

// ParseTime parses an ISO 8601 time as Python writes it, as a UTC
// instant; a time without offset is taken as UTC.
func ParseTime(s string) (time.Time, error) {
	v, err := parseDatetime(s)
	return v.Time.UTC(), err
}

// parseDatetime parses an ISO 8601 time as a datetime value that keeps its
// offset, or is naive when it has none.
func parseDatetime(s string) (engine.Value, error) {
	in := strings.TrimSpace(s)
	if len(in) > 10 && in[10] == ' ' {
		in = in[:10] + "T" + in[11:]
	}
	for _, l := range timeLayouts {
		t, err := time.Parse(l.layout, in)
		switch {
		case err != nil:
		case !l.zoned:
			return engine.NaiveTime(t), nil
		default:
			if _, off := t.Zone(); off <= -86400 || off >= 86400 {
				return engine.Value{}, fmt.Errorf("%s has an offset of a day or more", quote(s))
			}
			return engine.ZonedTime(t), nil
		}
	}
	return engine.Value{}, fmt.Errorf("%s is not an ISO 8601 time", quote(s))
}

// Format renders v in the string form Python's client reads back.
func Format(v engine.Value) string {
	switch v.Type {
	case engine.TypeNull:
		return ""
	case engine.TypeBool:
		if v.Bool {
			return "true"
		}
		return "false"
	case engine.TypeInt:
		return v.IntText()
	case engine.TypeFloat:
		return FormatFloat(v.Float)
	case engine.TypeString:
		return v.Str
	case engine.TypeTime:
		return FormatDatetime(v)
	case engine.TypeStringSet:
		return FormatStringSet(v.Set)
	}
	return v.String()
}

// FormatDatetime renders a datetime value as Python's isoformat: its
// offset as given ("+02:00", "+05:30:15"; none when naive), microseconds
// when there are any (nanoseconds when finer, which Python cannot hold).
func FormatDatetime(v engine.Value) string {
	t := v.Time
	var b []byte
	switch ns := t.Nanosecond(); {
	case ns == 0:
		b = t.AppendFormat(nil, "2006-01-02T15:04:05")
	case ns%1000 == 0:
		b = t.AppendFormat(nil, "2006-01-02T15:04:05.000000")
	default:
		b = t.AppendFormat(nil, "2006-01-02T15:04:05.000000000")
	}
	if v.Naive {
		return string(b)
	}
	off := v.TimeOffset()
	sign := byte('+')
	if off < 0 {
		sign, off = '-', -off
	}
	b = append(b, sign)
	b = fmt.Appendf(b, "%02d:%02d", off/3600, off/60%60)
	if off%60 != 0 {
		b = fmt.Appendf(b, ":%02d", off%60)
	}
	return string(b)
}

// FormatStringSet renders a set as the client's json.dumps(sorted(set)):
// ", " between items, and every character outside printable ASCII
// escaped (ensure_ascii): \" \\ \n \r \t \b \f, \u00XX for other controls
// and DEL, \uXXXX beyond, a surrogate pair beyond the BMP.
func FormatStringSet(items []string) string {
	b := []byte{'['}
	for i, s := range items {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(b, '"')
		for _, r := range s {
			switch {
			case r == '"' || r == '\\':
				b = append(b, '\\', byte(r))
			case r == '\n':
				b = append(b, `\n`...)
			case r == '\r':
				b = append(b, `\r`...)
			case r == '\t':
				b = append(b, `\t`...)
			case r == '\b':
				b = append(b, `\b`...)
			case r == '\f':
				b = append(b, `\f`...)
			case r >= 0x20 && r < 0x7f:
				b = append(b, byte(r))
			case r > 0xffff:
				r1, r2 := utf16.EncodeRune(r)
				b = fmt.Appendf(b, `\u%04x\u%04x`, r1, r2)
			default:
				b = fmt.Appendf(b, `\u%04x`, r)
			}
		}
		b = append(b, '"')
	}
	return string(append(b, ']'))
}

// FormatFloat is Python's repr of a float: the shortest digits that read
// back exactly, positional for exponents -4 to 15 (with ".0" when
// integral), scientific beyond ("1e-05", "1.5e+16").
func FormatFloat(f float64) string {
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

// FormatTime renders t as Python's isoformat of an aware UTC datetime:
// microseconds when there are any (nanoseconds when finer), "+00:00".
func FormatTime(t time.Time) string {
	t = t.UTC()
	switch ns := t.Nanosecond(); {
	case ns == 0:
		return t.Format("2006-01-02T15:04:05+00:00")
	case ns%1000 == 0:
		return t.Format("2006-01-02T15:04:05.000000+00:00")
	}
	return t.Format("2006-01-02T15:04:05.000000000+00:00")
}
