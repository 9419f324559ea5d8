package series

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"unsafe"
)

// ErrCorrupt marks every decoding failure; test for it with errors.Is.
var ErrCorrupt = errors.New("series: corrupt encoding")

// MaxChunkPoints is the most points one chunk (and one column) may hold.
// Encoders panic above it (split the chunk); decoders reject larger counts
// before allocating, because a perfectly regular column encodes in a few
// bytes whatever its length, so the input size alone cannot bound it.
const MaxChunkPoints = 1 << 20

// Encoding identifies how one column is stored; it is the column's first byte.
type Encoding uint8

// Column encodings. Frozen: these values are on disk.
const (
	// EncInt: integral values (steps, integral float values with |v| <= 2^53
	// and not -0, timestamps) through the integer codec.
	EncInt Encoding = 1
	// EncFloat32XOR: float32 patterns (every value narrows bit-exactly) through
	// Gorilla XOR with 5-bit window fields.
	EncFloat32XOR Encoding = 2
	// EncFloat64XOR: float64 patterns through Gorilla XOR with 6-bit fields.
	EncFloat64XOR Encoding = 3
	// EncFloat32Bits: float32 patterns read as integers, through the integer codec.
	EncFloat32Bits Encoding = 4
	// EncFloat64Bits: float64 patterns read as integers, through the integer codec.
	EncFloat64Bits Encoding = 5
	// EncDict: a dictionary of at most 256 distinct patterns (itself a float
	// column, never a dictionary) and one integer-codec index per point.
	EncDict Encoding = 6
	// EncFloat64Split: sign and exponent (exp<<1 | sign) and the 52-bit
	// mantissas as two integer-codec streams; for noise-like float64 data.
	EncFloat64Split Encoding = 7
)

func (e Encoding) String() string {
	switch e {
	case EncInt:
		return "int"
	case EncFloat32XOR:
		return "float32-xor"
	case EncFloat64XOR:
		return "float64-xor"
	case EncFloat32Bits:
		return "float32-bits"
	case EncFloat64Bits:
		return "float64-bits"
	case EncDict:
		return "dict"
	case EncFloat64Split:
		return "float64-split"
	}
	return fmt.Sprintf("Encoding(%d)", uint8(e))
}

// ColumnEncoding reports the encoding tag at the start of an encoded column.
func ColumnEncoding(src []byte) (Encoding, error) {
	if len(src) == 0 {
		return 0, fmt.Errorf("%w: empty column", ErrCorrupt)
	}
	e := Encoding(src[0])
	if e < EncInt || e > EncFloat64Split {
		return e, fmt.Errorf("%w: unknown column encoding %d", ErrCorrupt, src[0])
	}
	return e, nil
}

// MetricColumns holds metric points column-wise. Steps and values are
// float64; TimesMs are Unix milliseconds. The three slices have equal length.
type MetricColumns struct {
	Steps   []float64
	Values  []float64
	TimesMs []int64
}

// Len returns the number of points.
func (c *MetricColumns) Len() int { return len(c.Steps) }

// Reset empties c and keeps its capacity.
func (c *MetricColumns) Reset() {
	c.Steps, c.Values, c.TimesMs = c.Steps[:0], c.Values[:0], c.TimesMs[:0]
}

// Append adds one point.
func (c *MetricColumns) Append(step, value float64, timeMs int64) {
	c.Steps = append(c.Steps, step)
	c.Values = append(c.Values, value)
	c.TimesMs = append(c.TimesMs, timeMs)
}

// StringColumns holds string points column-wise; the slices have equal length.
type StringColumns struct {
	Steps   []float64
	Values  []string
	TimesMs []int64
}

// Len returns the number of points.
func (c *StringColumns) Len() int { return len(c.Steps) }

// Reset empties c and keeps its capacity.
func (c *StringColumns) Reset() {
	c.Steps, c.Values, c.TimesMs = c.Steps[:0], c.Values[:0], c.TimesMs[:0]
}

// Append adds one point.
func (c *StringColumns) Append(step float64, value string, timeMs int64) {
	c.Steps = append(c.Steps, step)
	c.Values = append(c.Values, value)
	c.TimesMs = append(c.TimesMs, timeMs)
}

// AppendSteps appends the encoded steps column. Steps use the same chooser as
// values: integral steps go through the integer codec (a constant stride costs
// zero bits per point), others through the cheaper of XOR and bit-pattern
// integers.
func AppendSteps(dst []byte, steps []float64) []byte { return appendFloatCol(dst, steps) }

// DecodeSteps appends n steps decoded from src to dst and returns the rest of src.
func DecodeSteps(src []byte, n int, dst []float64) ([]float64, []byte, error) {
	return decodeFloatCol(src, n, dst)
}

// AppendValues appends the encoded values column, bit-exact for every float64
// (NaN payloads, ±Inf, -0, subnormals). See the package doc for the chooser.
func AppendValues(dst []byte, values []float64) []byte { return appendFloatCol(dst, values) }

// DecodeValues appends n values decoded from src to dst and returns the rest of src.
func DecodeValues(src []byte, n int, dst []float64) ([]float64, []byte, error) {
	return decodeFloatCol(src, n, dst)
}

// AppendTimes appends the encoded timestamps column (integer codec; regular
// timestamps with ±1 ms jitter cost about 2 bits per point).
func AppendTimes(dst []byte, times []int64) []byte {
	checkLen(len(times))
	dst = append(dst, byte(EncInt))
	xs := i64view(times)
	if len(xs) < 2 {
		return appendInts(dst, xs, nil)
	}
	p := planInts(xs)
	return appendInts(dst, xs, &p)
}

// DecodeTimes appends n timestamps decoded from src to dst and returns the rest of src.
func DecodeTimes(src []byte, n int, dst []int64) ([]int64, []byte, error) {
	e, err := checkColumn(src, n)
	if err != nil {
		return dst, nil, err
	}
	if e != EncInt {
		return dst, nil, fmt.Errorf("%w: timestamps encoded as %v", ErrCorrupt, e)
	}
	src = src[1:]
	if n == 0 {
		return dst, src, nil
	}
	h, rest, err := parseInts(src, n)
	if err != nil {
		return dst, nil, err
	}
	base := len(dst)
	dst = slices.Grow(dst, n)[:base+n]
	rest, err = h.decode(rest, i64view(dst[base:]))
	if err != nil {
		return dst[:base], nil, err
	}
	return dst, rest, nil
}

func checkLen(n int) {
	if n > MaxChunkPoints {
		panic(fmt.Sprintf("series: %d points in one chunk, more than MaxChunkPoints", n))
	}
}

func checkColumn(src []byte, n int) (Encoding, error) {
	if n < 0 || n > MaxChunkPoints {
		return 0, fmt.Errorf("%w: point count %d out of range", ErrCorrupt, n)
	}
	return ColumnEncoding(src)
}

const maxExactInt = 1 << 53

var scratchPool = sync.Pool{New: func() any { return new([]uint64) }}

func getScratch(n int) *[]uint64 {
	p := scratchPool.Get().(*[]uint64)
	*p = slices.Grow((*p)[:0], n)[:n]
	return p
}

// classify reports whether every value is an integer the integer codec can
// carry exactly, and whether every value narrows to float32 bit-exactly.
// While they all narrow, it stores their float32 bits in narrowed (len(vs)
// long), which the float32 encodings then use as they are.
func classify(vs []float64, narrowed []uint64) (integral, narrow bool) {
	integral, narrow = true, true
	narrowed = narrowed[:len(vs)]
	for i, v := range vs {
		if integral && !(v >= -maxExactInt && v <= maxExactInt && float64(int64(v)) == v && (v != 0 || !math.Signbit(v))) {
			integral = false
		}
		if narrow {
			var f uint32
			f, narrow = narrow64(math.Float64bits(v))
			narrowed[i] = uint64(f)
		}
		if !integral && !narrow {
			return
		}
	}
	return
}

func appendFloatCol(dst []byte, vs []float64) []byte {
	return appendFloatColOpt(dst, vs, true)
}

// appendFloatCol encodes vs with the cheapest of the applicable encodings
// (exact sizes, computed before writing):
//
//   - all integral (|v| <= 2^53, no -0): EncInt;
//   - else all narrow to float32: EncFloat32XOR or EncFloat32Bits;
//   - else EncFloat64XOR or EncFloat64Bits, and EncFloat64Split when XOR
//     needs more than splitMinBits bits a point (noise-like data);
//   - and, in every case, EncDict when the column holds at most
//     min(maxDictSize, n/2) distinct patterns.
func appendFloatColOpt(dst []byte, vs []float64, allowDict bool) []byte {
	n := len(vs)
	checkLen(n)
	if n == 0 {
		return append(dst, byte(EncInt))
	}
	start := len(dst)
	sp := getScratch(n)
	defer scratchPool.Put(sp)
	xs := *sp
	integral, narrow := classify(vs, xs)
	var (
		enc  Encoding
		size int
		plan intPlan
		xp   xorParams
	)
	switch {
	case integral:
		for i, v := range vs {
			xs[i] = uint64(int64(v))
		}
		enc = EncInt
		if n >= 2 {
			plan = planInts(xs)
		}
		size = plan.encodedSize(xs)
	case narrow: // classify left the float32 bits in xs
		xp = xor32
		enc, size, plan = cheaperOfXORAndInts(xs, xp, EncFloat32XOR, EncFloat32Bits)
	default:
		xs = f64view(vs)
		xp = xor64
		enc, size, plan = cheaperOfXORAndInts(xs, xp, EncFloat64XOR, EncFloat64Bits)
		if n >= 2 && size*8 > splitMinBits*n {
			dst = appendSplit(append(dst, byte(EncFloat64Split)), xs)
			if len(dst)-start-1 < size {
				return dst
			}
			dst = dst[:start]
		}
	}
	if allowDict && n >= minDictPoints {
		dst = appendDict(dst, vs, size+1)
		if len(dst) > start {
			return dst
		}
	}
	dst = append(dst, byte(enc))
	switch enc {
	case EncInt, EncFloat32Bits, EncFloat64Bits:
		dst = appendInts(dst, xs, &plan)
	default:
		dst = appendXOR(dst, xs, xp)
	}
	return dst
}

// cheaperOfXORAndInts returns the smaller of XOR and the integer codec for xs.
func cheaperOfXORAndInts(xs []uint64, xp xorParams, xorEnc, intEnc Encoding) (Encoding, int, intPlan) {
	xorBytes := (xorSizeBits(xs, xp) + 7) / 8
	if len(xs) < 2 {
		return xorEnc, xorBytes, intPlan{}
	}
	p := planInts(xs)
	if s := p.encodedSize(xs); s < xorBytes {
		return intEnc, s, p
	}
	return xorEnc, xorBytes, p
}

func decodeFloatCol(src []byte, n int, dst []float64) ([]float64, []byte, error) {
	return decodeFloatColOpt(src, n, dst, true)
}

func decodeFloatColOpt(src []byte, n int, dst []float64, allowDict bool) ([]float64, []byte, error) {
	e, err := checkColumn(src, n)
	if err != nil {
		return dst, nil, err
	}
	src = src[1:]
	if n == 0 {
		return dst, src, nil
	}
	base := len(dst)
	switch e {
	case EncDict:
		if !allowDict {
			return dst, nil, fmt.Errorf("%w: nested dictionary", ErrCorrupt)
		}
		return decodeDict(src, n, dst)
	case EncFloat64Split:
		return decodeSplit(src, n, dst)
	case EncInt, EncFloat32Bits, EncFloat64Bits:
		h, rest, err := parseInts(src, n)
		if err != nil {
			return dst, nil, err
		}
		dst = slices.Grow(dst, n)[:base+n]
		out := f64view(dst[base:])
		rest, err = h.decode(rest, out)
		if err != nil {
			return dst[:base], nil, err
		}
		switch e {
		case EncInt:
			for i, u := range out {
				dst[base+i] = float64(int64(u))
			}
		case EncFloat32Bits:
			for i, u := range out {
				out[i] = widen32(uint32(u))
			}
		}
		return dst, rest, nil
	default:
		xp, widen := xor64, false
		if e == EncFloat32XOR {
			xp, widen = xor32, true
		}
		if err := checkXOR(src, n, xp); err != nil {
			return dst, nil, err
		}
		dst = slices.Grow(dst, n)[:base+n]
		rest, err := decodeXOR(src, f64view(dst[base:]), xp, widen)
		if err != nil {
			return dst[:base], nil, err
		}
		return dst, rest, nil
	}
}

// f64view and i64view reinterpret a slice's memory as uint64 patterns (same
// size and alignment), so codecs work in place without copies.
func f64view(f []float64) []uint64 {
	if len(f) == 0 {
		return nil
	}
	return unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(f))), len(f))
}

func u64asF64(u []uint64) []float64 {
	if len(u) == 0 {
		return nil
	}
	return unsafe.Slice((*float64)(unsafe.Pointer(unsafe.SliceData(u))), len(u))
}

func i64view(f []int64) []uint64 {
	if len(f) == 0 {
		return nil
	}
	return unsafe.Slice((*uint64)(unsafe.Pointer(unsafe.SliceData(f))), len(f))
}
