package series

import "math/bits"

// The float32 encodings store a float64 as the 32-bit pattern of the float32
// that widens back to exactly the same 64 bits. Widening is done with integer
// operations, not the FPU, so NaN payloads (including signalling NaNs) survive
// unchanged on every platform: a float64 NaN is narrowable when the low 29 bits
// of its payload are zero, and it comes back with the same sign and payload.

const (
	f64MantBits  = 52
	f32MantBits  = 23
	mantDropBits = f64MantBits - f32MantBits // 29
)

// narrow64 returns the float32 pattern whose widening is exactly b, if any.
func narrow64(b uint64) (uint32, bool) {
	sign := uint32(b>>63) << 31
	exp := int((b >> f64MantBits) & 0x7ff)
	mant := b & (1<<f64MantBits - 1)
	switch {
	case exp == 0x7ff: // Inf and NaN
		if mant&(1<<mantDropBits-1) != 0 {
			return 0, false
		}
		return sign | 0xff<<f32MantBits | uint32(mant>>mantDropBits), true
	case exp == 0:
		if mant != 0 { // float64 subnormals are far below float32's range
			return 0, false
		}
		return sign, true // ±0
	}
	e := exp - 1023
	switch {
	case e >= -126 && e <= 127:
		if mant&(1<<mantDropBits-1) != 0 {
			return 0, false
		}
		return sign | uint32(e+127)<<f32MantBits | uint32(mant>>mantDropBits), true
	case e >= -149 && e < -126: // a float32 subnormal
		full := mant | 1<<f64MantBits
		shift := uint(mantDropBits + (-126 - e)) // 30..52
		if full&(1<<shift-1) != 0 {
			return 0, false
		}
		return sign | uint32(full>>shift), true
	}
	return 0, false
}

// widen32 returns the float64 pattern of the float32 pattern f, exactly.
func widen32(f uint32) uint64 {
	sign := uint64(f>>31) << 63
	exp := (f >> f32MantBits) & 0xff
	mant := uint64(f & (1<<f32MantBits - 1))
	switch exp {
	case 0xff:
		return sign | 0x7ff<<f64MantBits | mant<<mantDropBits
	case 0:
		if mant == 0 {
			return sign
		}
		// Subnormal: value = mant × 2^-149; normalise.
		l := uint(bits.Len64(mant)) // 1..23
		e := -149 + int(l) - 1
		m := (mant << (f64MantBits + 1 - l)) & (1<<f64MantBits - 1)
		return sign | uint64(e+1023)<<f64MantBits | m
	}
	return sign | uint64(int(exp)-127+1023)<<f64MantBits | mant<<mantDropBits
}
