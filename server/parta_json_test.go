package server

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
)

// The expected outputs below are what CPython 3's json.dumps and
// datetime.isoformat print for the same values.

func TestPartAFloatsAsPython(t *testing.T) {
	for _, tc := range []struct {
		f    float64
		want string
	}{
		{1.0, `1.0`},
		{0.0001, `0.0001`},
		{1e-05, `1e-05`},
		{1e+16, `1e+16`},
		{1234567890123456.0, `1234567890123456.0`},
		{1.2345678901234568e+16, `1.2345678901234568e+16`},
		{math.Copysign(0, -1), `-0.0`},
		{0.0, `0.0`},
		{1.5e+300, `1.5e+300`},
		{5e-324, `5e-324`},
		{0.1, `0.1`},
		{100.0, `100.0`},
		{123456789.123, `123456789.123`},
		{-2.5e-07, `-2.5e-07`},
		{1e+21, `1e+21`},
		{1e+22, `1e+22`},
		{9999999999999998.0, `9999999999999998.0`},
		{0.30000000000000004, `0.30000000000000004`},
		{1.7976931348623157e+308, `1.7976931348623157e+308`},
		{-0.0001, `-0.0001`},
		{1.23e-18, `1.23e-18`},
		{9007199254740992.0, `9007199254740992.0`},
		{3.14159, `3.14159`},
		{math.NaN(), `"NaN"`},
		{math.Inf(1), `"Infinity"`},
		{math.Inf(-1), `"-Infinity"`},
	} {
		require.Equal(t, tc.want, string(paFloat(nil, tc.f)), "%v", tc.f)
	}
	// Every finite float round-trips through its text.
	rng := rand.New(rand.NewPCG(3, 4))
	for range 100000 {
		f := math.Float64frombits(rng.Uint64())
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		var back float64
		require.NoError(t, json.Unmarshal(paFloat(nil, f), &back))
		require.Equal(t, math.Float64bits(f), math.Float64bits(back), "%v", f)
	}
}

func TestPartAStringsAsPython(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain", `"plain"`},
		{"quote\" back\\ slash", `"quote\" back\\ slash"`},
		{"ctl \x00\x01\x08\x0c\n\r\t\x1f\x7f", `"ctl \u0000\u0001\b\f\n\r\t\u001f\u007f"`},
		{"é✓😀", `"\u00e9\u2713\ud83d\ude00"`},
		{"<>&", `"<>&"`},
		{"\u2028\u2029", `"\u2028\u2029"`},
		{"", `""`},
		{"bad \xff utf8", `"bad \ufffd utf8"`},
	} {
		require.Equal(t, tc.want, string(paString(nil, tc.in)), "%q", tc.in)
	}
	// Any valid UTF-8 string decodes back to itself, and the output is ASCII.
	rng := rand.New(rand.NewPCG(5, 6))
	for range 20000 {
		var sb strings.Builder
		for range rng.IntN(12) {
			switch rng.IntN(4) {
			case 0:
				sb.WriteByte(byte(rng.IntN(128)))
			case 1:
				sb.WriteRune(rune(rng.IntN(0x800)))
			case 2:
				sb.WriteRune(rune(rng.IntN(0xd800)))
			default:
				sb.WriteRune(rune(0x10000 + rng.IntN(0x100000)))
			}
		}
		s := sb.String()
		if !utf8.ValidString(s) {
			continue
		}
		out := paString(nil, s)
		for _, c := range out {
			require.True(t, c >= ' ' && c <= '~', "non-ASCII byte in %q", out)
		}
		var back string
		require.NoError(t, json.Unmarshal(out, &back), "%q", out)
		require.Equal(t, s, back)
	}
}

func TestPartATimesAsPython(t *testing.T) {
	var m paTimes
	for _, tc := range []struct {
		ms   int64
		want string
	}{
		{1700000000123, `"2023-11-14T22:13:20.123000+00:00"`},
		{1700000000000, `"2023-11-14T22:13:20+00:00"`},
		{1700000000999, `"2023-11-14T22:13:20.999000+00:00"`},
		{1700000000999, `"2023-11-14T22:13:20.999000+00:00"`},
		{1, `"1970-01-01T00:00:00.001000+00:00"`},
		{-1, `"1969-12-31T23:59:59.999000+00:00"`},
		{1700000001005, `"2023-11-14T22:13:21.005000+00:00"`},
	} {
		require.Equal(t, tc.want, string(m.append(nil, tc.ms)), "%d", tc.ms)
		require.Equal(t, tc.want, `"`+paISO(time.UnixMilli(tc.ms))+`"`, "%d", tc.ms)
	}
	loc := time.FixedZone("X", 5*3600)
	require.Equal(t, "2026-01-02T03:04:05.000006+00:00", paISO(time.Date(2026, 1, 2, 8, 4, 5, 6789, loc)))
}

func TestPartAConfigValues(t *testing.T) {
	for _, tc := range []struct {
		v    engine.Value
		want string
	}{
		{engine.Null(), `null`},
		{engine.Bool(true), `true`},
		{engine.Int(-42), `-42`},
		{engine.Float(2), `2.0`},
		{engine.Float(math.NaN()), `"NaN"`},
		{engine.String("x\ny"), `"x\ny"`},
		{engine.Time(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)), `"2026-01-02T03:04:05+00:00"`},
		{engine.StringSet("b", "a", "c"), `["a", "b", "c"]`},
		{engine.Value{Type: engine.TypeStringSet, Set: []string{"z", "y"}}, `["y", "z"]`},
		{engine.StringSet(), `[]`},
	} {
		require.Equal(t, tc.want, string(paValue(nil, tc.v)))
	}
}
