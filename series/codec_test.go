package series

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

func bitsEqual(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}

func f64s(bs ...uint64) []float64 {
	out := make([]float64, len(bs))
	for i, b := range bs {
		out[i] = math.Float64frombits(b)
	}
	return out
}

var (
	negZero   = math.Copysign(0, -1)
	sNaN      = math.Float64frombits(0x7FF0000000000001)
	qNaNf32   = math.Float64frombits(0x7FF8000020000000) // a payload float32 can carry
	nanNeg    = math.Float64frombits(0xFFF8000000000000)
	subnormal = math.Float64frombits(1)
	f32Sub    = float64(math.Float32frombits(1)) // smallest float32 subnormal
)

// floatCases are edge cases for both float columns.
var floatCases = []struct {
	name string
	vs   []float64
	want Encoding // 0: do not check
}{
	{"empty", nil, 0},
	{"one", []float64{42}, EncInt},
	{"one-nan", []float64{math.NaN()}, 0},
	{"regular", []float64{0, 1, 2, 3, 4, 5, 6, 7}, EncInt},
	{"negative-stride", []float64{10, 7, 4, 1, -2, -5}, EncInt},
	{"half-steps", []float64{0, 0.5, 1, 1.5, 2, 2.5}, 0},
	{"shuffled", []float64{5, 3, 9, 0, 1, 1, 7, 3}, EncInt},
	{"huge", []float64{1 << 53, -(1 << 53), 1<<53 - 1, 0, 1 << 52}, EncInt},
	{"beyond-2p53", []float64{1 << 54, 1<<54 + 4, 1 << 60}, 0},
	{"inf", []float64{math.Inf(1), math.Inf(-1), 0, math.Inf(1)}, 0},
	{"neg-zero", []float64{0, negZero, 0, negZero}, 0},
	{"nan-payloads", []float64{math.NaN(), sNaN, nanNeg, f64s(0x7FF4000000000000)[0], f64s(0x7FFFFFFFFFFFFFFF)[0], qNaNf32}, 0},
	{"subnormals", []float64{subnormal, -subnormal, math.SmallestNonzeroFloat64 * 3, f32Sub, -f32Sub}, 0},
	{"extremes", []float64{math.MaxFloat64, -math.MaxFloat64, math.SmallestNonzeroFloat64, 1e-300, 1e300}, 0},
	{"float32", []float64{float64(float32(0.1)), float64(float32(0.25)), float64(float32(1e-40)), qNaNf32, negZero, math.Inf(1)}, 0},
	{"constant", []float64{0.3, 0.3, 0.3, 0.3}, 0},
	{"mixed", []float64{1, 2.5, math.NaN(), -0.0, 1e308, 3}, 0},
}

func TestFloatColumnRoundTrip(t *testing.T) {
	for _, tc := range floatCases {
		t.Run(tc.name, func(t *testing.T) {
			for _, enc := range []struct {
				name string
				app  func([]byte, []float64) []byte
				dec  func([]byte, int, []float64) ([]float64, []byte, error)
			}{{"steps", AppendSteps, DecodeSteps}, {"values", AppendValues, DecodeValues}} {
				prefix := []byte{0xAA}
				b := enc.app(prefix, tc.vs)
				b = append(b, 0xBB) // a trailing byte the decoder must hand back
				if tc.want != 0 && len(tc.vs) > 0 {
					if got, _ := ColumnEncoding(b[1:]); got != tc.want {
						t.Errorf("%s: encoding %v, want %v", enc.name, got, tc.want)
					}
				}
				dst := []float64{-1}
				got, rest, err := enc.dec(b[1:], len(tc.vs), dst)
				if err != nil {
					t.Fatalf("%s: decode: %v", enc.name, err)
				}
				if !bitsEqual(got[1:], tc.vs) || got[0] != -1 {
					t.Fatalf("%s: got %v, want %v", enc.name, got[1:], tc.vs)
				}
				if len(rest) != 1 || rest[0] != 0xBB {
					t.Fatalf("%s: rest %x", enc.name, rest)
				}
			}
		})
	}
}

func TestTimesRoundTrip(t *testing.T) {
	cases := map[string][]int64{
		"empty":     nil,
		"one":       {1767225600000},
		"regular":   {0, 10, 20, 30, 40},
		"jitter":    {1000, 1009, 1020, 1031, 1040, 1049, 1061},
		"backwards": {1000, 990, 980, 2000, 5, -7},
		"extremes":  {math.MinInt64, math.MaxInt64, 0, math.MinInt64, -1, math.MaxInt64, math.MaxInt64},
		"equal":     {5, 5, 5, 5},
	}
	for name, ts := range cases {
		t.Run(name, func(t *testing.T) {
			b := AppendTimes(nil, ts)
			got, rest, err := DecodeTimes(b, len(ts), nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(rest) != 0 || len(got) != len(ts) {
				t.Fatalf("rest %d, len %d", len(rest), len(got))
			}
			for i := range ts {
				if got[i] != ts[i] {
					t.Fatalf("point %d: %d, want %d", i, got[i], ts[i])
				}
			}
		})
	}
}

func TestRegularCostsNothing(t *testing.T) {
	steps := make([]float64, 4096)
	ts := make([]int64, 4096)
	for i := range steps {
		steps[i] = float64(1000 + 2*i)
		ts[i] = 1767225600000 + 10*int64(i)
	}
	if b := AppendSteps(nil, steps); len(b) > 8 {
		t.Errorf("regular steps take %d bytes for 4096 points", len(b))
	}
	if b := AppendTimes(nil, ts); len(b) > 12 {
		t.Errorf("regular times take %d bytes for 4096 points", len(b))
	}
	// ±1 ms jitter as a random walk: at most ~2 bits a point.
	r := rand.New(rand.NewPCG(1, 2))
	for i := 1; i < len(ts); i++ {
		ts[i] = ts[i-1] + 9 + int64(r.IntN(3))
	}
	if b := AppendTimes(nil, ts); len(b) > 4096*2/8+16 {
		t.Errorf("jittered times take %d bytes for 4096 points", len(b))
	}
	// Steps with rare irregularities still cost about a bit a point or less.
	for i := range steps {
		steps[i] = float64(i)
		if i%100 == 99 {
			steps[i] += 3
		}
	}
	if b := AppendSteps(nil, steps); len(b) > 4096/8+100 {
		t.Errorf("near-regular steps take %d bytes", len(b))
	}
}

func TestNarrowWiden(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 1_000_000; i++ {
		f := r.Uint32()
		if i < 1000 {
			f = uint32(i) | uint32(i&1)<<31 // subnormals and zeros
		}
		x := math.Float32frombits(f)
		w := widen32(f)
		if x == x && w != math.Float64bits(float64(x)) { // hardware agrees off NaN
			t.Fatalf("widen32(%#x) = %#x, want %#x", f, w, math.Float64bits(float64(x)))
		}
		back, ok := narrow64(w)
		if !ok || back != f {
			t.Fatalf("narrow64(widen32(%#x)) = %#x %v", f, back, ok)
		}
	}
	for _, b := range []uint64{0x7FF8000000000001, 1, 0x3FF0000000000001, math.Float64bits(1e300), math.Float64bits(1e-50)} {
		if _, ok := narrow64(b); ok {
			t.Errorf("narrow64(%#x) should fail", b)
		}
	}
}

func randomFloats(r *rand.Rand, n int) []float64 {
	vs := make([]float64, n)
	mode := r.IntN(6)
	for i := range vs {
		switch mode {
		case 0:
			vs[i] = math.Float64frombits(r.Uint64())
		case 1:
			vs[i] = float64(r.IntN(1000) - 500)
		case 2:
			vs[i] = float64(float32(r.NormFloat64()))
		case 3:
			vs[i] = float64(i) * 0.25
		case 4:
			vs[i] = float64(int64(r.Uint64()>>11) - 1<<52)
		default:
			vs[i] = [...]float64{math.NaN(), math.Inf(1), negZero, 0, 1, subnormal}[r.IntN(6)]
		}
	}
	return vs
}

func TestFloatColumnRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for it := 0; it < 2000; it++ {
		vs := randomFloats(r, r.IntN(300))
		b := AppendValues(nil, vs)
		got, rest, err := DecodeValues(b, len(vs), nil)
		if err != nil || len(rest) != 0 || !bitsEqual(got, vs) {
			t.Fatalf("iteration %d: err %v, rest %d, equal %v", it, err, len(rest), bitsEqual(got, vs))
		}
	}
}

func TestTimesRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for it := 0; it < 2000; it++ {
		ts := make([]int64, r.IntN(300))
		scale := r.IntN(64)
		for i := range ts {
			ts[i] = int64(r.Uint64() >> scale)
			if r.IntN(2) == 0 {
				ts[i] = -ts[i]
			}
		}
		b := AppendTimes(nil, ts)
		got, rest, err := DecodeTimes(b, len(ts), nil)
		if err != nil || len(rest) != 0 || len(got) != len(ts) {
			t.Fatalf("iteration %d: %v", it, err)
		}
		for i := range ts {
			if got[i] != ts[i] {
				t.Fatalf("iteration %d point %d", it, i)
			}
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	vs := []float64{1, 2, 3, 4}
	b := AppendValues(nil, vs)
	if _, _, err := DecodeValues(b, -1, nil); !errors.Is(err, ErrCorrupt) {
		t.Errorf("negative n: %v", err)
	}
	if _, _, err := DecodeValues(b, MaxChunkPoints+1, nil); !errors.Is(err, ErrCorrupt) {
		t.Errorf("huge n: %v", err)
	}
	if _, _, err := DecodeValues(nil, 1, nil); !errors.Is(err, ErrCorrupt) {
		t.Errorf("empty input: %v", err)
	}
	if _, _, err := DecodeValues([]byte{99}, 1, nil); !errors.Is(err, ErrCorrupt) {
		t.Errorf("unknown tag: %v", err)
	}
	x := AppendValues(nil, []float64{0.1, 0.7, 1e-3, 5.5})
	for cut := 1; cut < len(x); cut++ {
		if _, _, err := DecodeValues(x[:cut], 4, nil); !errors.Is(err, ErrCorrupt) {
			t.Errorf("truncated at %d: %v", cut, err)
		}
	}
	if _, _, err := DecodeTimes(AppendValues(nil, []float64{0.5, 1}), 2, nil); !errors.Is(err, ErrCorrupt) {
		t.Errorf("times with float tag: %v", err)
	}
}
