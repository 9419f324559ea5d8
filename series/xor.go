package series

import (
	"fmt"
	"math/bits"
)

// The XOR codec is Gorilla's float compression, on 64-bit patterns or on
// 32-bit float32 patterns. Layout: the first pattern raw (64 or 32 bits), then
// per point, x = pattern XOR previous pattern:
//
//	0                                   x == 0 (value repeated)
//	10 <sig bits>                       x fits the current window: sig bits at trail
//	11 <lead:f> <sig-1:f> <sig bits>    new window: lead zeros, sig meaningful bits
//
// where f is 6 bits for 64-bit patterns and 5 for 32-bit ones (so lead and
// sig are never clamped). The encoder reuses the window only while that is
// not more than 2f bits dearer than opening a snug one.

type xorParams struct {
	width     uint // 64 or 32
	fieldBits uint // 6 or 5
}

var (
	xor64 = xorParams{64, 6}
	xor32 = xorParams{32, 5}
)

// appendXOR encodes xs (patterns in the low p.width bits).
func appendXOR(dst []byte, xs []uint64, p xorParams) []byte {
	if len(xs) == 0 {
		return dst
	}
	w := newBitWriter(dst)
	prev := xs[0]
	w.write(prev, p.width)
	skew := 64 - p.width
	var prevLead, prevTrail, prevSig uint
	for _, v := range xs[1:] {
		x := v ^ prev
		prev = v
		if x == 0 {
			w.write(0, 1)
			continue
		}
		lead := uint(bits.LeadingZeros64(x)) - skew
		trail := uint(bits.TrailingZeros64(x))
		sig := p.width - lead - trail
		if prevSig > 0 && lead >= prevLead && trail >= prevTrail && prevSig <= sig+2*p.fieldBits {
			w.write(0b10, 2)
			w.write(x>>prevTrail, prevSig)
			continue
		}
		w.write(0b11, 2)
		w.write(uint64(lead)<<p.fieldBits|uint64(sig-1), 2*p.fieldBits)
		w.write(x>>trail, sig)
		prevLead, prevTrail, prevSig = lead, trail, sig
	}
	return w.finish()
}

// xorSizeBits returns the exact bit length appendXOR would produce.
func xorSizeBits(xs []uint64, p xorParams) int {
	if len(xs) == 0 {
		return 0
	}
	total := p.width
	prev := xs[0]
	skew := 64 - p.width
	var prevLead, prevTrail, prevSig uint
	for _, v := range xs[1:] {
		x := v ^ prev
		prev = v
		if x == 0 {
			total++
			continue
		}
		lead := uint(bits.LeadingZeros64(x)) - skew
		trail := uint(bits.TrailingZeros64(x))
		sig := p.width - lead - trail
		if prevSig > 0 && lead >= prevLead && trail >= prevTrail && prevSig <= sig+2*p.fieldBits {
			total += 2 + prevSig
			continue
		}
		total += 2 + 2*p.fieldBits + sig
		prevLead, prevTrail, prevSig = lead, trail, sig
	}
	return int(total)
}

// checkXOR validates that n points may fit in src (each takes at least one bit).
func checkXOR(src []byte, n int, p xorParams) error {
	if n > 0 && uint64(n-1)+uint64(p.width) > 8*uint64(len(src)) {
		return fmt.Errorf("%w: %d points cannot fit in %d bytes", ErrCorrupt, n, len(src))
	}
	return nil
}

// decodeXOR fills out (len n >= 1, checked by checkXOR). With widen set, the
// 32-bit patterns are widened to float64 patterns on output.
func decodeXOR(src []byte, out []uint64, p xorParams, widen bool) ([]byte, error) {
	r := newBitReader(src)
	v := r.read(p.width)
	emit := func(i int) {
		if widen {
			out[i] = widen32(uint32(v))
		} else {
			out[i] = v
		}
	}
	emit(0)
	var trail, sig uint
	mask := uint64(1)<<p.fieldBits - 1
	for i := 1; i < len(out); i++ {
		switch r.peek(2) {
		case 0, 1:
			r.skip(1)
		case 2:
			r.skip(2)
			if sig == 0 {
				return nil, fmt.Errorf("%w: xor window reused before it was set", ErrCorrupt)
			}
			v ^= r.read(sig) << trail
		default:
			r.skip(2)
			f := r.read(2 * p.fieldBits)
			lead := uint(f >> p.fieldBits)
			sig = uint(f&mask) + 1
			if lead+sig > p.width {
				return nil, fmt.Errorf("%w: xor window %d+%d exceeds %d bits", ErrCorrupt, lead, sig, p.width)
			}
			trail = p.width - lead - sig
			v ^= r.read(sig) << trail
		}
		emit(i)
	}
	if r.overrun {
		return nil, fmt.Errorf("%w: xor stream truncated", ErrCorrupt)
	}
	return src[r.consumed():], nil
}
