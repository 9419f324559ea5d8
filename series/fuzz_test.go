package series

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// floatsFrom reads little-endian float64 patterns from data (bit-exact, so
// the fuzzer reaches every NaN payload).
func floatsFrom(data []byte) []float64 {
	out := make([]float64, len(data)/8)
	for i := range out {
		out[i] = math.Float64frombits(binary.LittleEndian.Uint64(data[8*i:]))
	}
	return out
}

func checkFloatDecoder(t *testing.T, data []byte, n int,
	app func([]byte, []float64) []byte, dec func([]byte, int, []float64) ([]float64, []byte, error)) {
	// Arbitrary bytes: an error, or n points and a suffix of the input.
	got, rest, err := dec(data, n, []float64{7})
	if err != nil {
		if !errors.Is(err, ErrCorrupt) || len(got) != 1 {
			t.Fatalf("error %v, dst len %d", err, len(got))
		}
	} else if len(got) != n+1 || !bytes.HasSuffix(data, rest) {
		t.Fatalf("decoded %d points of %d, rest %d of %d bytes", len(got)-1, n, len(rest), len(data))
	}
	// Round trip of the bytes read as float64s.
	vs := floatsFrom(data)
	b := app(nil, vs)
	back, rest, err := dec(b, len(vs), nil)
	if err != nil || len(rest) != 0 || !bitsEqual(back, vs) {
		t.Fatalf("round trip of %v: %v, rest %d", vs, err, len(rest))
	}
}

func FuzzDecodeSteps(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, n uint16) {
		checkFloatDecoder(t, data, int(n), AppendSteps, DecodeSteps)
	})
}

func FuzzDecodeValues(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, n uint16) {
		checkFloatDecoder(t, data, int(n), AppendValues, DecodeValues)
	})
}

func FuzzDecodeTimes(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, n uint16) {
		got, rest, err := DecodeTimes(data, int(n), []int64{7})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) || len(got) != 1 {
				t.Fatalf("error %v, dst len %d", err, len(got))
			}
		} else if len(got) != int(n)+1 || !bytes.HasSuffix(data, rest) {
			t.Fatalf("decoded %d of %d", len(got)-1, n)
		}
		ts := make([]int64, len(data)/8)
		for i := range ts {
			ts[i] = int64(binary.LittleEndian.Uint64(data[8*i:]))
		}
		back, rest, err := DecodeTimes(AppendTimes(nil, ts), len(ts), nil)
		if err != nil || len(rest) != 0 || !slices.Equal(back, ts) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

func FuzzDecodeMetricChunk(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		var c MetricColumns
		if err := DecodeMetricChunk(data, &c); err != nil {
			if !errors.Is(err, ErrCorrupt) || c.Len() != 0 || len(c.Values) != 0 || len(c.TimesMs) != 0 {
				t.Fatalf("error %v with %d points left in dst", err, c.Len())
			}
		} else {
			if len(c.Values) != c.Len() || len(c.TimesMs) != c.Len() {
				t.Fatal("columns differ in length")
			}
			// What decodes re-encodes to something that decodes the same.
			var again MetricColumns
			if err := DecodeMetricChunk(AppendMetricChunk(nil, &c), &again); err != nil ||
				!bitsEqual(again.Steps, c.Steps) || !bitsEqual(again.Values, c.Values) || !slices.Equal(again.TimesMs, c.TimesMs) {
				t.Fatalf("re-encode: %v", err)
			}
		}
		// Round trip: the bytes as (step, value, time) triples.
		vs := floatsFrom(data)
		in := MetricColumns{}
		for i := 0; i+2 < len(vs); i += 3 {
			in.Append(vs[i], vs[i+1], int64(math.Float64bits(vs[i+2])))
		}
		var out MetricColumns
		if err := DecodeMetricChunk(AppendMetricChunk(nil, &in), &out); err != nil ||
			!bitsEqual(out.Steps, in.Steps) || !bitsEqual(out.Values, in.Values) || !slices.Equal(out.TimesMs, in.TimesMs) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

func FuzzDecodeStringChunk(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		var c StringColumns
		if err := DecodeStringChunk(data, &c); err != nil {
			if !errors.Is(err, ErrCorrupt) || c.Len() != 0 || len(c.Values) != 0 {
				t.Fatalf("error %v with %d points left in dst", err, c.Len())
			}
		} else if len(c.Values) != c.Len() || len(c.TimesMs) != c.Len() {
			t.Fatal("columns differ in length")
		}
		// Round trip: cut the bytes into strings at every 0x00.
		in := StringColumns{}
		for i, s := range bytes.Split(data, []byte{0}) {
			in.Append(float64(i%7)*1.5, string(s), int64(i)*13)
		}
		var out StringColumns
		if err := DecodeStringChunk(AppendStringChunk(nil, &in), &out); err != nil ||
			!slices.Equal(out.Values, in.Values) || !bitsEqual(out.Steps, in.Steps) || !slices.Equal(out.TimesMs, in.TimesMs) {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// TestWriteFuzzCorpus regenerates testdata/fuzz/ with valid encodings of the
// edge cases: GOODSEED_WRITE_FUZZ_CORPUS=1 go test ./series -run WriteFuzzCorpus
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("GOODSEED_WRITE_FUZZ_CORPUS") == "" {
		t.Skip("set GOODSEED_WRITE_FUZZ_CORPUS=1 to regenerate testdata/fuzz")
	}
	write := func(fuzz, name string, args ...any) {
		var buf bytes.Buffer
		buf.WriteString("go test fuzz v1\n")
		for _, a := range args {
			switch v := a.(type) {
			case []byte:
				fmt.Fprintf(&buf, "[]byte(%q)\n", v)
			case uint16:
				fmt.Fprintf(&buf, "uint16(%d)\n", v)
			}
		}
		dir := filepath.Join("testdata", "fuzz", fuzz)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range floatCases {
		n := uint16(len(tc.vs))
		write("FuzzDecodeSteps", tc.name, AppendSteps(nil, tc.vs), n)
		write("FuzzDecodeValues", tc.name, AppendValues(nil, tc.vs), n)
		c := &MetricColumns{}
		for i, v := range tc.vs {
			c.Append(float64(i), v, 1767225600000+10*int64(i))
		}
		write("FuzzDecodeMetricChunk", tc.name, AppendMetricChunk(nil, c))
	}
	// Larger columns that exercise every encoding.
	acc, random, lr := make([]float64, 600), make([]float64, 600), make([]float64, 600)
	for i := range acc {
		acc[i] = float64(float32(float64(900+i%7) / 1000))
		random[i] = math.Float64frombits(0x4000000000000000 ^ uint64(i)*0x9E3779B97F4A7C15>>2)
		lr[i] = 1e-3 * math.Cos(float64(i)/600)
	}
	for name, vs := range map[string][]float64{"dict": acc, "split": random, "smooth": lr} {
		write("FuzzDecodeValues", name, AppendValues(nil, vs), uint16(len(vs)))
	}
	for name, ts := range map[string][]int64{
		"empty":     nil,
		"regular":   {0, 10, 20, 30, 40, 50},
		"jitter":    {1767225600000, 1767225600009, 1767225600020, 1767225600031, 1767225600040},
		"backwards": {5, 4, 3, -100, 1 << 40},
		"extremes":  {math.MinInt64, math.MaxInt64, 0, -1, math.MinInt64},
	} {
		write("FuzzDecodeTimes", name, AppendTimes(nil, ts), uint16(len(ts)))
	}
	for name, vs := range map[string][]string{
		"empty": nil, "one": {"loss=0.5"}, "blanks": {"", ""}, "binary": {"\xff\x00", "ok", "ünï"},
	} {
		c := &StringColumns{}
		for i, v := range vs {
			c.Append(float64(i), v, int64(i))
		}
		write("FuzzDecodeStringChunk", name, AppendStringChunk(nil, c))
	}
}
