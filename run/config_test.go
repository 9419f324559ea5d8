package run

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goodseed/goodseed-go/engine"
)

// flattenLeaves runs flatten and collects its leaves. It fails the test if
// flatten errs or emits one path twice.
func flattenLeaves(t *testing.T, path string, value any) map[string]engine.Value {
	t.Helper()
	got := map[string]engine.Value{}
	var dups []string
	err := flatten(path, value, 0, func(p string, v engine.Value) {
		if _, ok := got[p]; ok {
			dups = append(dups, p)
		}
		got[p] = v
	})
	require.NoError(t, err)
	require.Empty(t, dups, "paths emitted more than once")
	return got
}

// requireLeaves compares leaves with Value.Equal (bit-exact for floats).
func requireLeaves(t *testing.T, want, got map[string]engine.Value) {
	t.Helper()
	require.ElementsMatch(t, sortedKeys(want), sortedKeys(got), "paths")
	for p, w := range want {
		require.True(t, w.Equal(got[p]), "path %q: want %s %#v, got %s %#v", p, w.Type, w, got[p].Type, got[p])
	}
}

func sortedKeys(m map[string]engine.Value) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

type leaf = map[string]engine.Value

// Types for the flatten tests. Their names start with flat so they do not
// collide with other tests of the package.
type (
	flatMyFloat  float64
	flatMyString string
	flatMyBool   bool
	flatMyInt    int16
	flatMyUint   uint32

	// flatMode is an enum with a String method.
	flatMode int

	// flatLevel is a TextMarshaler that is not a container.
	flatLevel uint8

	// flatBadText fails to marshal.
	flatBadText int

	// flatByte is a named byte type.
	flatByte uint8
)

func (m flatMode) String() string {
	switch m {
	case 0:
		return "train"
	case 1:
		return "eval"
	}
	return fmt.Sprintf("mode(%d)", int(m))
}

func (l flatLevel) MarshalText() ([]byte, error) { return []byte(fmt.Sprintf("level-%d", l)), nil }

// String must lose to MarshalText.
func (l flatLevel) String() string { return "stringer" }

func (flatBadText) MarshalText() ([]byte, error) { return nil, errors.New("boom") }

func TestFlattenLeaves(t *testing.T) {
	loc := time.FixedZone("UTC+3", 3*3600)
	when := time.Date(2024, 3, 1, 15, 4, 5, 123456789, loc)
	i := 42
	f32 := float32(0.1)

	cases := []struct {
		name string
		in   any
		want engine.Value
	}{
		{"nil", nil, engine.Null()},
		{"true", true, engine.Bool(true)},
		{"false", false, engine.Bool(false)},
		{"int", -3, engine.Int(-3)},
		{"int8", int8(-128), engine.Int(-128)},
		{"int16", int16(math.MaxInt16), engine.Int(math.MaxInt16)},
		{"int32", int32(math.MinInt32), engine.Int(math.MinInt32)},
		{"int64 min", int64(math.MinInt64), engine.Int(math.MinInt64)},
		{"int64 max", int64(math.MaxInt64), engine.Int(math.MaxInt64)},
		{"uint", uint(7), engine.Int(7)},
		{"uint8", uint8(255), engine.Int(255)},
		{"uint16", uint16(math.MaxUint16), engine.Int(math.MaxUint16)},
		{"uint32", uint32(math.MaxUint32), engine.Int(math.MaxUint32)},
		{"uint64 small", uint64(9), engine.Int(9)},
		{"uint64 int64 max", uint64(math.MaxInt64), engine.Int(math.MaxInt64)},
		{"uint64 int64 max+1", uint64(math.MaxInt64) + 1, engine.String("9223372036854775808")},
		{"uint64 max", uint64(math.MaxUint64), engine.String("18446744073709551615")},
		{"uintptr", uintptr(5), engine.Int(5)},
		{"float32 widened", f32, engine.Float(float64(f32))},
		{"float32 +Inf", float32(math.Inf(1)), engine.Float(math.Inf(1))},
		{"float64", 0.1, engine.Float(0.1)},
		{"float64 +Inf", math.Inf(1), engine.Float(math.Inf(1))},
		{"float64 -Inf", math.Inf(-1), engine.Float(math.Inf(-1))},
		{"float64 -0", math.Copysign(0, -1), engine.Float(math.Copysign(0, -1))},
		{"float64 max", math.MaxFloat64, engine.Float(math.MaxFloat64)},
		{"float64 subnormal", math.SmallestNonzeroFloat64, engine.Float(math.SmallestNonzeroFloat64)},
		{"string", "héllo", engine.String("héllo")},
		{"empty string", "", engine.String("")},
		{"time", when, engine.Time(when)},
		{"string set", StringSet{"b", "a", "b", "c"}, engine.StringSet("a", "b", "c")},
		{"empty string set", StringSet{}, engine.StringSet()},
		{"engine value int", engine.Int(5), engine.Int(5)},
		{"engine value set", engine.StringSet("y", "x"), engine.StringSet("x", "y")},
		{"engine value null", engine.Null(), engine.Null()},
		// Named types go through reflection.
		{"named float", flatMyFloat(2.5), engine.Float(2.5)},
		{"named string", flatMyString("s"), engine.String("s")},
		{"named bool", flatMyBool(true), engine.Bool(true)},
		{"named int16", flatMyInt(-7), engine.Int(-7)},
		{"named uint32", flatMyUint(7), engine.Int(7)},
		// Pointers are followed, nil is null.
		{"nil pointer", (*int)(nil), engine.Null()},
		{"pointer", &i, engine.Int(42)},
		{"pointer to pointer", func() any { p := &i; return &p }(), engine.Int(42)},
		{"pointer to time", &when, engine.Time(when)},
		{"pointer to string set", &StringSet{"z", "z"}, engine.StringSet("z")},
		{"pointer to engine value", func() any { v := engine.Bool(true); return &v }(), engine.Bool(true)},
		// String forms.
		{"duration", 1500 * time.Millisecond, engine.String("1.5s")},
		{"pointer to duration", func() any { d := 2 * time.Minute; return &d }(), engine.String("2m0s")},
		{"enum stringer", flatMode(1), engine.String("eval")},
		{"enum stringer unknown", flatMode(9), engine.String("mode(9)")},
		{"text marshaler before stringer", flatLevel(3), engine.String("level-3")},
		{"complex128", complex(1, -2), engine.String("(1-2i)")},
		{"complex64", complex64(complex(0.5, 1)), engine.String("(0.5+1i)")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			requireLeaves(t, leaf{"p": tc.want}, flattenLeaves(t, "p", tc.in))
		})
	}
}

func TestFlattenFloatBits(t *testing.T) {
	for _, bits := range []uint64{
		math.Float64bits(math.NaN()),
		0x7ff8000000000001, // quiet NaN with a payload
		0xfff8000000000000, // negative NaN
		0x7ff0000000000001, // signalling NaN
		math.Float64bits(math.Copysign(0, -1)),
		math.Float64bits(math.Inf(1)),
		math.Float64bits(math.Inf(-1)),
	} {
		t.Run(fmt.Sprintf("%016x", bits), func(t *testing.T) {
			f := math.Float64frombits(bits)
			for _, in := range []any{f, flatMyFloat(f), &f, []float64{f}, map[string]any{"x": f}} {
				var got []engine.Value
				require.NoError(t, flatten("p", in, 0, func(_ string, v engine.Value) { got = append(got, v) }))
				require.Len(t, got, 1)
				require.Equal(t, engine.TypeFloat, got[0].Type)
				require.Equal(t, bits, math.Float64bits(got[0].Float), "input %T", in)
			}
		})
	}
	// A float32 is widened, not reparsed from its decimal form.
	got := flattenLeaves(t, "p", float32(0.1))
	require.Equal(t, math.Float64bits(float64(float32(0.1))), math.Float64bits(got["p"].Float))
	require.NotEqual(t, math.Float64bits(0.1), math.Float64bits(got["p"].Float))
	// -0 stays -0.
	got = flattenLeaves(t, "p", math.Copysign(0, -1))
	require.True(t, math.Signbit(got["p"].Float))
}

func TestFlattenTimeIsUTC(t *testing.T) {
	loc := time.FixedZone("X", -5*3600)
	when := time.Date(2023, 12, 31, 22, 0, 0, 1, loc)
	for _, in := range []any{when, &when, map[string]any{"t": when}, []time.Time{when}} {
		var got []engine.Value
		require.NoError(t, flatten("p", in, 0, func(_ string, v engine.Value) { got = append(got, v) }))
		require.Len(t, got, 1)
		require.Equal(t, engine.TypeTime, got[0].Type)
		require.Same(t, time.UTC, got[0].Time.Location(), "input %T", in)
		require.True(t, got[0].Time.Equal(when))
		require.Equal(t, 1, got[0].Time.Nanosecond())
	}
}

func TestFlattenContainers(t *testing.T) {
	cases := []struct {
		name string
		path string
		in   any
		want leaf
	}{
		{
			name: "nested map",
			path: "params",
			in:   map[string]any{"lr": 0.1, "opt": map[string]any{"name": "adam"}},
			want: leaf{"params/lr": engine.Float(0.1), "params/opt/name": engine.String("adam")},
		},
		{
			name: "typed map",
			path: "p",
			in:   map[string]float32{"a": 0.5, "b": 2},
			want: leaf{"p/a": engine.Float(0.5), "p/b": engine.Float(2)},
		},
		{
			name: "empty path puts keys at top level",
			path: "",
			in:   map[string]any{"a": 1, "b": map[string]any{"c": true}},
			want: leaf{"a": engine.Int(1), "b/c": engine.Bool(true)},
		},
		{
			name: "empty path with slice",
			path: "",
			in:   []string{"x", "y"},
			want: leaf{"0": engine.String("x"), "1": engine.String("y")},
		},
		{
			name: "slice",
			path: "p",
			in:   []int{10, 20},
			want: leaf{"p/0": engine.Int(10), "p/1": engine.Int(20)},
		},
		{
			name: "slice of any",
			path: "p",
			in:   []any{1, "a", nil, false, 2.5},
			want: leaf{
				"p/0": engine.Int(1), "p/1": engine.String("a"), "p/2": engine.Null(),
				"p/3": engine.Bool(false), "p/4": engine.Float(2.5),
			},
		},
		{
			name: "plain string slice is not a set",
			path: "tags",
			in:   []string{"b", "a", "b"},
			want: leaf{"tags/0": engine.String("b"), "tags/1": engine.String("a"), "tags/2": engine.String("b")},
		},
		{
			name: "slice of more than ten",
			path: "p",
			in:   []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11},
			want: func() leaf {
				l := leaf{}
				for i := range 12 {
					l[fmt.Sprintf("p/%d", i)] = engine.Int(int64(i))
				}
				return l
			}(),
		},
		{
			name: "nested slices",
			path: "p",
			in:   [][]int{{1}, {2, 3}},
			want: leaf{"p/0/0": engine.Int(1), "p/1/0": engine.Int(2), "p/1/1": engine.Int(3)},
		},
		{
			name: "slice of maps",
			path: "layers",
			in: []map[string]any{
				{"units": 64, "act": "relu"},
				{"units": 10, "extra": []any{map[string]any{"k": "v"}, 1.5}},
			},
			want: leaf{
				"layers/0/act":       engine.String("relu"),
				"layers/0/units":     engine.Int(64),
				"layers/1/units":     engine.Int(10),
				"layers/1/extra/0/k": engine.String("v"),
				"layers/1/extra/1":   engine.Float(1.5),
			},
		},
		{
			name: "array",
			path: "betas",
			in:   [2]float64{0.9, 0.999},
			want: leaf{"betas/0": engine.Float(0.9), "betas/1": engine.Float(0.999)},
		},
		{
			name: "array of strings",
			path: "p",
			in:   [3]string{"a", "", "c"},
			want: leaf{"p/0": engine.String("a"), "p/1": engine.String(""), "p/2": engine.String("c")},
		},
		{
			name: "pointer to array",
			path: "p",
			in:   &[1]int{7},
			want: leaf{"p/0": engine.Int(7)},
		},
		{
			name: "bytes valid utf8",
			path: "p",
			in:   []byte("héllo"),
			want: leaf{"p": engine.String("héllo")},
		},
		{
			name: "bytes invalid utf8",
			path: "p",
			in:   []byte{0xff, 0x00, 0xab},
			want: leaf{"p": engine.String("ff00ab")},
		},
		{
			name: "byte array",
			path: "p",
			in:   [3]byte{'a', 'b', 'c'},
			want: leaf{"p": engine.String("abc")},
		},
		{
			name: "byte array invalid utf8",
			path: "p",
			in:   [2]byte{0xc3, 0x28},
			want: leaf{"p": engine.String("c328")},
		},
		{
			name: "json raw message",
			path: "p",
			in:   json.RawMessage(`{"a":1}`),
			want: leaf{"p": engine.String(`{"a":1}`)},
		},
		{
			name: "bytes inside a map",
			path: "p",
			in:   map[string]any{"b": []byte{0xff, 0xfe}},
			want: leaf{"p/b": engine.String("fffe")},
		},
		{
			name: "int keys formatted with fmt",
			path: "p",
			in:   map[int]string{1: "a", 10: "b", 2: "c", -1: "d"},
			want: leaf{"p/1": engine.String("a"), "p/10": engine.String("b"), "p/2": engine.String("c"), "p/-1": engine.String("d")},
		},
		{
			name: "bool and float keys",
			path: "p",
			in:   map[any]int{true: 1, 1.5: 2},
			want: leaf{"p/true": engine.Int(1), "p/1.5": engine.Int(2)},
		},
		{
			name: "stringer keys",
			path: "p",
			in:   map[flatMode]int{0: 5, 1: 6},
			want: leaf{"p/train": engine.Int(5), "p/eval": engine.Int(6)},
		},
		{
			name: "keys trimmed of slashes",
			path: "p",
			in:   map[string]int{"/a": 1, "b/": 2, "/c/": 3, "//d//": 4},
			want: leaf{"p/a": engine.Int(1), "p/b": engine.Int(2), "p/c": engine.Int(3), "p/d": engine.Int(4)},
		},
		{
			name: "key with inner slash nests",
			path: "p",
			in:   map[string]int{"x/y": 1},
			want: leaf{"p/x/y": engine.Int(1)},
		},
		{
			name: "empty key is the parent path",
			path: "p",
			in:   map[string]int{"": 1},
			want: leaf{"p": engine.Int(1)},
		},
		{
			name: "empty map",
			path: "p",
			in:   map[string]any{},
			want: leaf{},
		},
		{
			name: "empty slice",
			path: "p",
			in:   []int{},
			want: leaf{},
		},
		{
			name: "nil slice",
			path: "p",
			in:   []string(nil),
			want: leaf{},
		},
		{
			name: "empty nested containers vanish",
			path: "p",
			in:   map[string]any{"a": map[string]any{}, "b": []any{}, "c": 1},
			want: leaf{"p/c": engine.Int(1)},
		},
		{
			name: "nil map",
			path: "p",
			in:   map[string]int(nil),
			want: leaf{},
		},
		{
			name: "empty array",
			path: "p",
			in:   [0]int{},
			want: leaf{},
		},
		{
			name: "map of leaves of every kind",
			path: "m",
			in: map[string]any{
				"set":  StringSet{"b", "a"},
				"val":  engine.Float(1),
				"time": time.Unix(0, 0).In(time.FixedZone("Y", 60)),
				"u64":  uint64(math.MaxUint64),
				"nil":  nil,
				"dur":  time.Second,
			},
			want: leaf{
				"m/set":  engine.StringSet("a", "b"),
				"m/val":  engine.Float(1),
				"m/time": engine.Time(time.Unix(0, 0)),
				"m/u64":  engine.String("18446744073709551615"),
				"m/nil":  engine.Null(),
				"m/dur":  engine.String("1s"),
			},
		},
		{
			name: "20 levels of maps",
			path: "d",
			in: func() any {
				var v any = "bottom"
				for range 20 {
					v = map[string]any{"x": v}
				}
				return v
			}(),
			want: leaf{"d" + strings.Repeat("/x", 20): engine.String("bottom")},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			requireLeaves(t, tc.want, flattenLeaves(t, tc.path, tc.in))
		})
	}
}

// A map is visited in sorted key order, whatever Go's iteration order.
func TestFlattenMapOrder(t *testing.T) {
	m := map[string]int{}
	var want []string
	for i := range 50 {
		k := fmt.Sprintf("k%02d", i)
		m[k] = i
		want = append(want, "p/"+k)
	}
	for range 5 {
		var got []string
		require.NoError(t, flatten("p", m, 0, func(p string, _ engine.Value) { got = append(got, p) }))
		require.Equal(t, want, got)
	}
}

type flatTagged struct {
	Plain      int
	Tagged     int    `goodseed:"gs_name" json:"json_name"`
	JSONOnly   string `json:"json_only"`
	SkipJSON   int    `json:"-"`
	SkipGS     int    `goodseed:"-" json:"would_be"`
	Omit       int    `json:"omit_me,omitempty"`
	OptsOnly   int    `json:",omitempty"`
	GSOptsOnly int    `goodseed:",omitempty" json:"from_json"`
	Other      int    `yaml:"ignored"`
	unexported int
	hidden     string
}

type flatBase struct {
	ID     int
	Seed   int64         `json:"seed"`
	Warmup time.Duration `json:"warmup"`
	When   time.Time     `json:"when"`
}

type FlatExportedBase struct {
	Host string `json:"host"`
}

type flatOuterValue struct {
	flatBase
	LR float64 `json:"lr"`
}

type flatOuterPtr struct {
	*FlatExportedBase
	N int
}

type flatOuterTagged struct {
	FlatExportedBase `json:"base"`
	N                int
}

type flatOuterGSTagged struct {
	*FlatExportedBase `goodseed:"gs_base" json:"json_base"`
	N                 int
}

type flatEmbedsNonStruct struct {
	time.Duration
	flatMode // unexported non-struct embedded: skipped
	N        int
}

type flatWithPointers struct {
	Next  *flatWithPointers `json:"next"`
	Count *int              `json:"count"`
	Any   any               `json:"any"`
	Str   fmt.Stringer      `json:"str"`
	Map   map[string]any    `json:"map"`
	Slice []int             `json:"slice"`
}

func TestFlattenStructs(t *testing.T) {
	when := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	seven := 7
	cases := []struct {
		name string
		in   any
		want leaf
	}{
		{
			name: "field names and tags",
			in: flatTagged{
				Plain: 1, Tagged: 2, JSONOnly: "j", SkipJSON: 3, SkipGS: 4, Omit: 0,
				OptsOnly: 5, GSOptsOnly: 6, Other: 7, unexported: 8, hidden: "h",
			},
			want: leaf{
				"p/Plain":     engine.Int(1),
				"p/gs_name":   engine.Int(2),
				"p/json_only": engine.String("j"),
				"p/omit_me":   engine.Int(0), // omitempty is ignored: zero is kept
				"p/OptsOnly":  engine.Int(5),
				"p/from_json": engine.Int(6),
				"p/Other":     engine.Int(7),
			},
		},
		{
			name: "pointer to struct",
			in:   &flatTagged{Plain: 9},
			want: leaf{
				"p/Plain": engine.Int(9), "p/gs_name": engine.Int(0), "p/json_only": engine.String(""),
				"p/omit_me": engine.Int(0), "p/OptsOnly": engine.Int(0), "p/from_json": engine.Int(0),
				"p/Other": engine.Int(0),
			},
		},
		{
			name: "nil pointer to struct",
			in:   (*flatTagged)(nil),
			want: leaf{"p": engine.Null()},
		},
		{
			name: "embedded unexported struct flattens into parent",
			in:   flatOuterValue{flatBase: flatBase{ID: 1, Seed: 2, Warmup: time.Second, When: when}, LR: 0.5},
			want: leaf{
				"p/ID":     engine.Int(1),
				"p/seed":   engine.Int(2),
				"p/warmup": engine.String("1s"),
				"p/when":   engine.Time(when),
				"p/lr":     engine.Float(0.5),
			},
		},
		{
			name: "embedded pointer flattens into parent",
			in:   flatOuterPtr{FlatExportedBase: &FlatExportedBase{Host: "gpu1"}, N: 3},
			want: leaf{"p/host": engine.String("gpu1"), "p/N": engine.Int(3)},
		},
		{
			name: "embedded nil pointer skipped",
			in:   flatOuterPtr{N: 3},
			want: leaf{"p/N": engine.Int(3)},
		},
		{
			name: "embedded struct with json tag nests",
			in:   flatOuterTagged{FlatExportedBase: FlatExportedBase{Host: "h"}, N: 1},
			want: leaf{"p/base/host": engine.String("h"), "p/N": engine.Int(1)},
		},
		{
			name: "embedded pointer with goodseed tag nests",
			in:   flatOuterGSTagged{FlatExportedBase: &FlatExportedBase{Host: "h"}, N: 1},
			want: leaf{"p/gs_base/host": engine.String("h"), "p/N": engine.Int(1)},
		},
		{
			name: "embedded nil pointer with tag is null",
			in:   flatOuterGSTagged{N: 1},
			want: leaf{"p/gs_base": engine.Null(), "p/N": engine.Int(1)},
		},
		{
			name: "embedded non-struct",
			in:   flatEmbedsNonStruct{Duration: time.Minute, flatMode: 1, N: 2},
			want: leaf{"p/Duration": engine.String("1m0s"), "p/N": engine.Int(2)},
		},
		{
			name: "pointers and interfaces",
			in: flatWithPointers{
				Next:  &flatWithPointers{Count: &seven, Slice: []int{}},
				Count: nil,
				Any:   map[string]any{"k": []any{"v"}},
				Str:   flatMode(0),
				Map:   nil,
				Slice: []int{4},
			},
			want: leaf{
				"p/next/next":  engine.Null(),
				"p/next/count": engine.Int(7),
				"p/next/any":   engine.Null(),
				"p/next/str":   engine.Null(),
				"p/count":      engine.Null(),
				"p/any/k/0":    engine.String("v"),
				"p/str":        engine.String("train"),
				"p/slice/0":    engine.Int(4),
			},
		},
		{
			name: "struct in a map in a slice",
			in:   []any{map[string]any{"s": FlatExportedBase{Host: "x"}}},
			want: leaf{"p/0/s/host": engine.String("x")},
		},
		{
			name: "empty struct",
			in:   struct{}{},
			want: leaf{},
		},
		{
			name: "only unexported fields",
			in:   struct{ a, b int }{1, 2},
			want: leaf{},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			requireLeaves(t, tc.want, flattenLeaves(t, "p", tc.in))
		})
	}
}

func TestFlattenTextMarshaler(t *testing.T) {
	cases := []struct {
		name string
		in   any
		want string
	}{
		{"named uint", flatLevel(2), "level-2"},
		{"pointer to named uint", func() any { l := flatLevel(4); return &l }(), "level-4"},
		{"net.IP v4", net.ParseIP("127.0.0.1").To4(), "127.0.0.1"},
		{"net.IP v16 form", net.ParseIP("10.1.2.3"), "10.1.2.3"},
		{"net.IP v6", net.ParseIP("2001:db8::1"), "2001:db8::1"},
		{"netip.Addr", netip.MustParseAddr("192.168.0.1"), "192.168.0.1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			requireLeaves(t, leaf{"p": engine.String(tc.want)}, flattenLeaves(t, "p", tc.in))
		})
	}
}

func TestFlattenErrors(t *testing.T) {
	t.Run("MarshalText error", func(t *testing.T) {
		for _, in := range []any{
			flatBadText(1),
			map[string]any{"a": map[string]any{"bad": flatBadText(2)}},
			struct{ X *flatBadText }{X: new(flatBadText)},
		} {
			err := flatten("p", in, 0, func(string, engine.Value) {})
			require.ErrorIs(t, err, ErrInvalidValue, "input %#v", in)
			require.ErrorContains(t, err, "boom")
		}
		err := flatten("p", map[string]any{"a": map[string]any{"bad": flatBadText(2)}}, 0, func(string, engine.Value) {})
		require.ErrorContains(t, err, "p/a/bad", "the error names the path")
	})

	t.Run("self-containing map", func(t *testing.T) {
		m := map[string]any{"x": 1}
		m["self"] = m
		n := 0
		err := flatten("p", m, 0, func(string, engine.Value) { n++ })
		require.ErrorIs(t, err, ErrInvalidValue)
		require.Less(t, n, 1000, "a cycle must not emit without bound")
	})

	t.Run("self-containing slice", func(t *testing.T) {
		s := []any{nil}
		s[0] = s
		err := flatten("p", s, 0, func(string, engine.Value) {})
		require.ErrorIs(t, err, ErrInvalidValue)
	})

	t.Run("self-referencing pointer struct", func(t *testing.T) {
		n := &flatWithPointers{}
		n.Next = n
		err := flatten("p", n, 0, func(string, engine.Value) {})
		require.ErrorIs(t, err, ErrInvalidValue)
	})

	t.Run("cycle through two maps", func(t *testing.T) {
		a, b := map[string]any{}, map[string]any{}
		a["b"], b["a"] = b, a
		err := flatten("", a, 0, func(string, engine.Value) {})
		require.ErrorIs(t, err, ErrInvalidValue)
	})

	t.Run("too deep but acyclic", func(t *testing.T) {
		var v any = 1
		for range maxFlattenDepth + 1 {
			v = []any{v}
		}
		err := flatten("p", v, 0, func(string, engine.Value) {})
		require.ErrorIs(t, err, ErrInvalidValue)
	})
}

// FlatLoop embeds a pointer to itself: an embedded struct is flattened
// into its parent, so a cycle through embedding must be caught too.
type FlatLoop struct {
	*FlatLoop
	X int
}

const flatChildEnv = "GOODSEED_TEST_FLATTEN_EMBEDDED_CYCLE"

// A stack overflow is fatal and would take the whole test binary down, so
// the cycle is flattened in a child process.
func TestFlattenEmbeddedCycle(t *testing.T) {
	if os.Getenv(flatChildEnv) == "1" {
		debug.SetMaxStack(64 << 20) // overflow fast
		l := &FlatLoop{X: 1}
		l.FlatLoop = l
		err := flatten("p", l, 0, func(string, engine.Value) {})
		if !errors.Is(err, ErrInvalidValue) {
			fmt.Fprintf(os.Stderr, "flatten of an embedded cycle: err = %v, want ErrInvalidValue\n", err)
			os.Exit(3)
		}
		fmt.Fprintln(os.Stderr, "EMBEDDED-CYCLE-OK")
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFlattenEmbeddedCycle$", "-test.count=1")
	cmd.Env = append(os.Environ(), flatChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	tail := string(out)
	if len(tail) > 2000 {
		tail = tail[:2000]
	}
	require.NoError(t, err, "child flattening an embedded self-pointer failed:\n%s", tail)
	require.Contains(t, string(out), "EMBEDDED-CYCLE-OK")
}

// A named byte type is a byte slice all the same: one value, no panic.
func TestFlattenNamedByteSlice(t *testing.T) {
	var got map[string]engine.Value
	require.NotPanics(t, func() { got = flattenLeaves(t, "p", []flatByte{'h', 'i'}) })
	requireLeaves(t, leaf{"p": engine.String("hi")}, got)
	require.NotPanics(t, func() { got = flattenLeaves(t, "p", [2]flatByte{0xff, 0x01}) })
	requireLeaves(t, leaf{"p": engine.String("ff01")}, got)
}

// flatOptimizer and flatTrainConfig are a training script's flags, like an
// argparse Namespace logged whole.
type flatOptimizer struct {
	Name        string     `json:"name"`
	LR          float64    `json:"lr"`
	Betas       [2]float64 `json:"betas"`
	WeightDecay float64    `json:"weight_decay,omitempty"`
	Nesterov    bool       `json:"nesterov"`
}

type flatTrainConfig struct {
	Model     string            `json:"model"`
	Epochs    int               `json:"epochs"`
	BatchSize int               `json:"batch_size"`
	Layers    []int             `json:"layers"`
	Dropout   float32           `json:"dropout"`
	Optimizer flatOptimizer     `json:"optimizer"`
	Scheduler *string           `json:"scheduler"`
	Warmup    time.Duration     `json:"warmup"`
	Tags      StringSet         `json:"tags"`
	Seed      uint64            `goodseed:"seed" json:"random_seed"`
	DataDir   string            `json:"-"`
	Env       map[string]string `json:"env"`
	Debug     bool
	verbose   bool
}

func TestFlattenTrainConfig(t *testing.T) {
	cfg := flatTrainConfig{
		Model:     "resnet50",
		Epochs:    90,
		BatchSize: 256,
		Layers:    []int{64, 128, 256},
		Dropout:   0.1,
		Optimizer: flatOptimizer{Name: "adamw", LR: 3e-4, Betas: [2]float64{0.9, 0.999}},
		Warmup:    500 * time.Millisecond,
		Tags:      StringSet{"baseline", "imagenet", "baseline"},
		Seed:      math.MaxUint64,
		DataDir:   "/secret/data",
		Env:       map[string]string{"CUDA_VISIBLE_DEVICES": "0,1"},
		Debug:     true,
		verbose:   true,
	}
	want := leaf{
		"args/model":                    engine.String("resnet50"),
		"args/epochs":                   engine.Int(90),
		"args/batch_size":               engine.Int(256),
		"args/layers/0":                 engine.Int(64),
		"args/layers/1":                 engine.Int(128),
		"args/layers/2":                 engine.Int(256),
		"args/dropout":                  engine.Float(float64(float32(0.1))),
		"args/optimizer/name":           engine.String("adamw"),
		"args/optimizer/lr":             engine.Float(3e-4),
		"args/optimizer/betas/0":        engine.Float(0.9),
		"args/optimizer/betas/1":        engine.Float(0.999),
		"args/optimizer/weight_decay":   engine.Float(0),
		"args/optimizer/nesterov":       engine.Bool(false),
		"args/scheduler":                engine.Null(),
		"args/warmup":                   engine.String("500ms"),
		"args/tags":                     engine.StringSet("baseline", "imagenet"),
		"args/seed":                     engine.String("18446744073709551615"),
		"args/env/CUDA_VISIBLE_DEVICES": engine.String("0,1"),
		"args/Debug":                    engine.Bool(true),
	}
	requireLeaves(t, want, flattenLeaves(t, "args", cfg))
	// The same through a pointer, and at the top level.
	requireLeaves(t, want, flattenLeaves(t, "args", &cfg))
	top := flattenLeaves(t, "", cfg)
	require.Len(t, top, len(want))
	for p, v := range want {
		require.True(t, v.Equal(top[strings.TrimPrefix(p, "args/")]), "top-level %q", p)
	}
}

// jsonType reports whether v is a type encoding/json can decode into any.
func jsonType(v engine.Value) bool {
	switch v.Type {
	case engine.TypeNull, engine.TypeBool, engine.TypeFloat, engine.TypeString:
		return true
	}
	return false
}

func FuzzFlattenJSON(f *testing.F) {
	for _, s := range []string{
		`null`,
		`1.5`,
		`"x"`,
		`{}`,
		`[]`,
		`[1,2,[3,[4]]]`,
		`{"lr":0.1,"opt":{"name":"adam","betas":[0.9,0.999]},"layers":[64,128]}`,
		`{"/a/":{"":true},"b/c":null,"/":"root"}`,
		`[{"a":null},{"b":[]},{"c":{}}]`,
		`{"deep":[[[[[[[[[[{"x":1}]]]]]]]]]]}`,
		`{"a//b":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			t.Skip()
		}
		err := flatten("cfg", v, 0, func(p string, val engine.Value) {
			if p != "cfg" && !strings.HasPrefix(p, "cfg/") {
				t.Errorf("path %q is not under cfg", p)
			}
			if strings.Contains(p, "//") {
				t.Errorf("path %q has an empty segment", p)
			}
			if strings.HasSuffix(p, "/") {
				t.Errorf("path %q ends with '/'", p)
			}
			if !jsonType(val) {
				t.Errorf("path %q: type %s cannot come from JSON", p, val.Type)
			}
		})
		if err != nil {
			require.ErrorIs(t, err, ErrInvalidValue) // only nesting beyond the limit
		}
	})
}
