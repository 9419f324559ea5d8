package pyform

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
)

func TestParse(t *testing.T) {
	ts := func(s string) engine.Value {
		tm, err := time.Parse(time.RFC3339Nano, s)
		require.NoError(t, err)
		return engine.Time(tm)
	}
	for _, tc := range []struct {
		tag, in string
		want    engine.Value
	}{
		{"null", "", engine.Null()}, {"null", "None", engine.Null()}, {"null", "null", engine.Null()},
		{"bool", "True", engine.Bool(true)}, {"bool", "False", engine.Bool(false)},
		{"bool", "true", engine.Bool(true)}, {"bool", "false", engine.Bool(false)}, {"bool", "TRUE", engine.Bool(true)},
		{"int", "0", engine.Int(0)}, {"int", "-42", engine.Int(-42)}, {"int", "+7", engine.Int(7)},
		{"int", "9223372036854775807", engine.Int(math.MaxInt64)},
		// Python's ints have no bound: past int64 kept exactly, as text.
		{"int", "9223372036854775808", engine.Value{Type: engine.TypeInt, Str: "9223372036854775808"}},
		{"int", "-1180591620717411303424", engine.Value{Type: engine.TypeInt, Str: "-1180591620717411303424"}},
		{"float", "0.1", engine.Float(0.1)}, {"float", "1e-05", engine.Float(1e-5)}, {"float", "1.0", engine.Float(1)},
		{"float", "-0.0", engine.Float(math.Copysign(0, -1))}, {"float", "inf", engine.Float(math.Inf(1))},
		{"float", "-inf", engine.Float(math.Inf(-1))}, {"float", "Infinity", engine.Float(math.Inf(1))},
		{"float", "1e999", engine.Float(math.Inf(1))}, {"float", "42", engine.Float(42)},
		{"str", "", engine.String("")}, {"str", "héllo\n", engine.String("héllo\n")},
		{"datetime", "2024-01-02T03:04:05.123456+00:00", ts("2024-01-02T03:04:05.123456Z")},
		{"datetime", "2024-01-02T03:04:05+00:00", ts("2024-01-02T03:04:05Z")},
		{"datetime", "2024-01-02T03:04:05Z", ts("2024-01-02T03:04:05Z")},
		{"datetime", "2024-01-02T03:04:05", engine.NaiveTime(ts("2024-01-02T03:04:05Z").Time)},
		{"datetime", "2024-01-02 03:04:05.5", engine.NaiveTime(ts("2024-01-02T03:04:05.5Z").Time)},
		{"datetime", "2024-01-02T03:04:05-05:30", engine.ZonedTime(time.Date(2024, 1, 2, 3, 4, 5, 0, time.FixedZone("", -5*3600-1800)))},
		{"datetime", "2024-01-02T03:04:05.123456789+01:00", engine.ZonedTime(time.Date(2024, 1, 2, 3, 4, 5, 123456789, time.FixedZone("", 3600)))},
		{"datetime", "2024-01-02", engine.NaiveTime(ts("2024-01-02T00:00:00Z").Time)},
		{"string_set", `[]`, engine.StringSet()}, {"string_set", `["b", "a", "b"]`, engine.StringSet("a", "b")},
		{"string_set", `["\u00e9"]`, engine.StringSet("é")},
	} {
		got, err := Parse(tc.tag, tc.in)
		require.NoError(t, err, "%s %q", tc.tag, tc.in)
		require.True(t, tc.want.Equal(got), "%s %q: want %v, got %v", tc.tag, tc.in, tc.want, got)
	}
	nan, err := Parse("float", "nan")
	require.NoError(t, err)
	require.True(t, math.IsNaN(nan.Float))

	for _, tc := range [][2]string{
		{"null", "x"}, {"null", "0"}, {"bool", "1"}, {"bool", "yes"}, {"bool", ""},
		{"int", ""}, {"int", "1.0"}, {"int", "1e3"}, {"int", "0x10"}, {"int", "09223372036854775808"}, {"int", "+9223372036854775808"}, {"int", " 1"},
		{"float", ""}, {"float", "one"}, {"float", "1,5"},
		{"datetime", ""}, {"datetime", "now"}, {"datetime", "2024-13-01T00:00:00"}, {"datetime", "01/02/2024"},
		{"string_set", ""}, {"string_set", "a"}, {"string_set", `[1]`}, {"string_set", `{"a": 1}`}, {"string_set", `["a"`},
		{"list", "[]"}, {"", "x"}, {"Int", "1"},
	} {
		_, err := Parse(tc[0], tc[1])
		require.Error(t, err, "%s %q", tc[0], tc[1])
	}
}

// TestFormatFloat checks Python's repr(float) on values whose repr is
// known from CPython, and that every repr reads back exactly.
func TestFormatFloat(t *testing.T) {
	for f, want := range map[float64]string{
		0.1: "0.1", 1: "1.0", 100: "100.0", 2.5: "2.5", -2.5: "-2.5", 1e-5: "1e-05", 1.5e-7: "1.5e-07",
		0.0001: "0.0001", 0.00012: "0.00012", 1e15: "1000000000000000.0", 1e16: "1e+16", 1.5e16: "1.5e+16",
		123456789.123: "123456789.123", 5e-324: "5e-324", math.MaxFloat64: "1.7976931348623157e+308",
		0.30000000000000004: "0.30000000000000004", 1e22: "1e+22", 9999999999999998: "9999999999999998.0",
		math.Inf(1): "inf", math.Inf(-1): "-inf", 0: "0.0",
	} {
		require.Equal(t, want, FormatFloat(f), "%v", f)
	}
	require.Equal(t, "-0.0", FormatFloat(math.Copysign(0, -1)))
	require.Equal(t, "nan", FormatFloat(math.NaN()))
	rng := rand.New(rand.NewPCG(3, 4))
	for range 10000 {
		f := math.Float64frombits(rng.Uint64())
		if math.IsNaN(f) {
			continue
		}
		back, err := strconv.ParseFloat(FormatFloat(f), 64)
		require.NoError(t, err)
		require.Equal(t, math.Float64bits(f), math.Float64bits(back), "%v", f)
	}
}

func TestFormat(t *testing.T) {
	tm := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		v    engine.Value
		want string
	}{
		{engine.Null(), ""}, {engine.Bool(true), "true"}, {engine.Bool(false), "false"},
		{engine.Int(-3), "-3"}, {engine.Float(0.5), "0.5"}, {engine.Float(math.NaN()), "nan"},
		{engine.String("a \"b\""), "a \"b\""},
		{engine.Time(tm), "2024-01-02T03:04:05+00:00"},
		{engine.Time(tm.Add(123456 * time.Microsecond)), "2024-01-02T03:04:05.123456+00:00"},
		{engine.Time(tm.Add(1)), "2024-01-02T03:04:05.000000001+00:00"},
		{engine.ZonedTime(time.Date(2024, 1, 2, 3, 4, 5, 0, time.FixedZone("", 2*3600))), "2024-01-02T03:04:05+02:00"},
		{engine.ZonedTime(time.Date(2024, 1, 2, 3, 4, 5, 5000, time.FixedZone("", -(5*3600+30*60+15)))), "2024-01-02T03:04:05.000005-05:30:15"},
		{engine.NaiveTime(tm), "2024-01-02T03:04:05"},
		{engine.StringSet(), "[]"}, {engine.StringSet("b", "a", "<é>"), `["<\u00e9>", "a", "b"]`},
		{engine.StringSet(`q"`, "\n", "\\", "\x00\x7f", "😀", "\u2028"), `["\u0000\u007f", "\n", "\\", "q\"", "\u2028", "\ud83d\ude00"]`},
	} {
		require.Equal(t, tc.want, Format(tc.v))
		// And it parses back to the same value.
		back, err := Parse(tc.v.Type.String(), tc.want)
		require.NoError(t, err, tc.want)
		require.True(t, tc.v.Equal(back), "%s: %v", tc.want, back)
	}
}
