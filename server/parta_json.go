package server

import (
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/goodseed/goodseed-go/engine"
	"github.com/goodseed/goodseed-go/internal/pyform"
)

// Part A writes its JSON by hand, byte for byte as the Python server's
// json.dumps does with its defaults, so a frontend sees the same bytes from
// either server:
//
//   - separators ", " and ": ";
//   - floats as Python's repr: shortest round-trip digits, "1.0" for an
//     integral value, exponent form ("1e-05", "1e+16") when the decimal
//     exponent is below -4 or above 16; NaN and infinities as the strings
//     "NaN", "Infinity" and "-Infinity" (http-api.md: JSON has none);
//   - strings ASCII-only: everything outside ' '..'~' escaped, \uXXXX in
//     lower-case hex with surrogate pairs beyond the BMP;
//   - timestamps as datetime.isoformat() of an aware UTC time:
//     2006-01-02T15:04:05.123000+00:00, without the fraction when it is
//     zero.
//
// By hand also because a metrics response may hold millions of points, and
// appending them with strconv costs a fraction of what reflection does.

// paISO renders t as Python's isoformat of the UTC time, to the
// microsecond.
func paISO(t time.Time) string { return string(paAppendISO(nil, t)) }

func paAppendISO(b []byte, t time.Time) []byte {
	t = t.UTC()
	if y := t.Year(); y < 1 || y > 9999 {
		// Python's datetime cannot hold it; RFC 3339 is the nearest.
		return t.AppendFormat(b, time.RFC3339Nano)
	}
	b = t.AppendFormat(b, "2006-01-02T15:04:05")
	if us := t.Nanosecond() / 1000; us != 0 {
		b = append(b, '.')
		b = paPadded(b, us, 6)
	}
	return append(b, "+00:00"...)
}

func paPadded(b []byte, v, width int) []byte {
	var d [9]byte
	for i := width - 1; i >= 0; i-- {
		d[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, d[:width]...)
}

// paFloat appends f as Python's json.dumps writes a float, with NaN and
// the infinities as strings.
func paFloat(b []byte, f float64) []byte {
	switch {
	case f != f:
		return append(b, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(b, `"-Infinity"`...)
	}
	if f == 0 {
		if math.Signbit(f) {
			return append(b, "-0.0"...)
		}
		return append(b, "0.0"...)
	}
	// The shortest digits and the decimal exponent: d.ddde±XX.
	var scratch [32]byte
	e := strconv.AppendFloat(scratch[:0], f, 'e', -1, 64)
	i := len(e) - 1
	for e[i] != 'e' {
		i--
	}
	exp, _ := strconv.Atoi(string(e[i+1:]))
	if decpt := exp + 1; decpt <= -4 || decpt > 16 {
		return append(b, e...) // Go pads the exponent to two digits, as Python does
	}
	n := len(b)
	b = strconv.AppendFloat(b, f, 'f', -1, 64)
	if slices.Index(b[n:], '.') < 0 {
		b = append(b, ".0"...)
	}
	return b
}

const paHex = "0123456789abcdef"

func paU(b []byte, r rune) []byte {
	return append(b, '\\', 'u', paHex[r>>12&0xf], paHex[r>>8&0xf], paHex[r>>4&0xf], paHex[r&0xf])
}

// paString appends s as a JSON string, ASCII only, as Python's
// json.dumps(ensure_ascii=True). Invalid UTF-8 (the engine stores none)
// becomes U+FFFD.
func paString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= ' ' && c <= '~' && c != '"' && c != '\\' {
			i++
			continue
		}
		b = append(b, s[start:i]...)
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = paU(b, rune(c))
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r > 0xffff {
			r -= 0x10000
			b = paU(b, 0xd800+(r>>10))
			b = paU(b, 0xdc00+(r&0x3ff))
		} else {
			b = paU(b, r) // U+FFFD for invalid UTF-8
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// paStrings appends a JSON array of strings ([] for none).
func paStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = paString(b, s)
	}
	return append(b, ']')
}

// paNullable appends s, or null when it is empty.
func paNullable(b []byte, s string) []byte {
	if s == "" {
		return append(b, "null"...)
	}
	return paString(b, s)
}

// paBool appends true or false.
func paBool(b []byte, v bool) []byte { return strconv.AppendBool(b, v) }

// paTimes formats Unix-millisecond timestamps as paAppendISO does, reusing
// the date and time of day of the previous call when it is in the same
// second: consecutive points almost always are.
type paTimes struct {
	sec    int64
	valid  bool
	prefix []byte // "2006-01-02T15:04:05"
}

// append appends the quoted timestamp of ms.
func (m *paTimes) append(b []byte, ms int64) []byte {
	sec, frac := ms/1000, ms%1000
	if frac < 0 {
		sec, frac = sec-1, frac+1000
	}
	if !m.valid || sec != m.sec {
		t := time.Unix(sec, 0).UTC()
		if y := t.Year(); y < 1 || y > 9999 {
			return append(paAppendISO(append(b, '"'), time.UnixMilli(ms)), '"')
		}
		m.prefix = t.AppendFormat(m.prefix[:0], "2006-01-02T15:04:05")
		m.sec, m.valid = sec, true
	}
	b = append(b, '"')
	b = append(b, m.prefix...)
	if frac != 0 {
		b = append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10), '0', '0', '0')
	}
	return append(b, `+00:00"`...)
}

// paValue appends a config value, typed: null, bool, number (NaN and
// infinities as strings), string, datetime as an ISO string, string set as
// a sorted array.
func paValue(b []byte, v engine.Value) []byte {
	switch v.Type {
	case engine.TypeNull:
		return append(b, "null"...)
	case engine.TypeBool:
		return paBool(b, v.Bool)
	case engine.TypeInt:
		return append(b, v.IntText()...)
	case engine.TypeFloat:
		return paFloat(b, v.Float)
	case engine.TypeString:
		return paString(b, v.Str)
	case engine.TypeTime:
		if v.Naive || v.TimeOffset() != 0 {
			return paString(b, pyform.FormatDatetime(v)) // as the client stored it
		}
		return paString(b, paISO(v.Time))
	case engine.TypeStringSet:
		set := v.Set
		if !slices.IsSorted(set) {
			set = slices.Sorted(slices.Values(set))
		}
		return paStrings(b, set)
	}
	// A type this build does not know: its text form.
	return paString(b, v.String())
}
