package series

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestMetricChunkRoundTrip(t *testing.T) {
	for _, tc := range floatCases {
		t.Run(tc.name, func(t *testing.T) {
			c := &MetricColumns{}
			for i, v := range tc.vs {
				c.Append(tc.vs[len(tc.vs)-1-i], v, int64(i)*-7+math.MaxInt64/2)
			}
			b := AppendMetricChunk(nil, c)
			dst := &MetricColumns{}
			dst.Append(1, 2, 3)
			if err := DecodeMetricChunk(b, dst); err != nil {
				t.Fatal(err)
			}
			if !bitsEqual(dst.Steps[1:], c.Steps) || !bitsEqual(dst.Values[1:], c.Values) || !slices.Equal(dst.TimesMs[1:], c.TimesMs) {
				t.Fatalf("got %+v, want %+v", dst, c)
			}
			// Every truncation is an error and leaves dst as it was.
			for cut := 0; cut < len(b); cut++ {
				if err := DecodeMetricChunk(b[:cut], dst); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("truncated at %d of %d: %v", cut, len(b), err)
				}
				if dst.Len() != c.Len()+1 || len(dst.Values) != dst.Len() || len(dst.TimesMs) != dst.Len() {
					t.Fatalf("a failed decode changed dst")
				}
			}
			if err := DecodeMetricChunk(append(b, 0), dst); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("trailing byte: %v", err)
			}
		})
	}
}

func TestMetricChunkRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	var dst MetricColumns
	for it := 0; it < 500; it++ {
		n := r.IntN(600)
		c := &MetricColumns{Steps: randomFloats(r, n), Values: randomFloats(r, n), TimesMs: make([]int64, n)}
		for i := range c.TimesMs {
			c.TimesMs[i] = int64(r.Uint64())
		}
		dst.Reset()
		if err := DecodeMetricChunk(AppendMetricChunk(nil, c), &dst); err != nil {
			t.Fatal(err)
		}
		if !bitsEqual(dst.Steps, c.Steps) || !bitsEqual(dst.Values, c.Values) || !slices.Equal(dst.TimesMs, c.TimesMs) {
			t.Fatalf("iteration %d differs", it)
		}
	}
}

func TestStringChunkRoundTrip(t *testing.T) {
	cases := map[string][]string{
		"empty":   nil,
		"one":     {"hello"},
		"blanks":  {"", "", ""},
		"mixed":   {"epoch 1", "", "ünïcödé ✓", string([]byte{0xff, 0xfe}), "a\x00b"},
		"long":    {string(make([]byte, 70000)), "x"},
		"repeats": {"same", "same", "same"},
	}
	for name, vs := range cases {
		t.Run(name, func(t *testing.T) {
			c := &StringColumns{}
			for i, v := range vs {
				c.Append(float64(i)*0.5, v, int64(1000+i))
			}
			b := AppendStringChunk(nil, c)
			dst := &StringColumns{}
			dst.Append(-1, "keep", -1)
			if err := DecodeStringChunk(b, dst); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(dst.Values[1:], c.Values) || !slices.Equal(dst.Steps[1:], c.Steps) || !slices.Equal(dst.TimesMs[1:], c.TimesMs) {
				t.Fatalf("got %q", dst.Values)
			}
			for cut := 0; cut < len(b); cut++ {
				if err := DecodeStringChunk(b[:cut], dst); !errors.Is(err, ErrCorrupt) {
					t.Fatalf("truncated at %d: %v", cut, err)
				}
				if dst.Len() != len(vs)+1 || len(dst.Values) != dst.Len() {
					t.Fatal("a failed decode changed dst")
				}
			}
			if err := DecodeStringChunk(append(b, 'x'), dst); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("trailing byte: %v", err)
			}
		})
	}
}

func TestChunkRejectsAbsurdCounts(t *testing.T) {
	// A count above MaxChunkPoints, and a count the bytes cannot hold.
	big := []byte{0xff, 0xff, 0xff, 0xff, 0x0f}
	if err := DecodeMetricChunk(big, &MetricColumns{}); !errors.Is(err, ErrCorrupt) {
		t.Fatal(err)
	}
	if err := DecodeStringChunk([]byte{0x80, 0x80, 0x04, 1, 0, 1, 0}, &StringColumns{}); !errors.Is(err, ErrCorrupt) {
		t.Fatal(err)
	}
}

func TestEncodeAllocations(t *testing.T) {
	c := &MetricColumns{}
	for i := 0; i < 4096; i++ {
		c.Append(float64(i), float64(float32(math.Sin(float64(i)))), int64(i)*10)
	}
	buf := make([]byte, 0, 1<<16)
	var dst MetricColumns
	AppendMetricChunk(buf, c)
	allocs := testing.AllocsPerRun(50, func() {
		b := AppendMetricChunk(buf[:0], c)
		dst.Reset()
		if err := DecodeMetricChunk(b, &dst); err != nil {
			t.Fatal(err)
		}
	})
	if !raceEnabled && allocs > 2 {
		t.Errorf("encode+decode of a 4096-point chunk allocates %.1f times", allocs)
	}
}
